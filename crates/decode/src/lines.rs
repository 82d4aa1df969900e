//! Incremental line splitting for SSE bodies.
//!
//! The network cuts a body anywhere, also inside a multi-byte UTF-8 sequence. Lines are split on
//! the byte `\n`, which never occurs inside a UTF-8 sequence, so a line is only decoded once it is
//! complete and a cut character is never seen half. A trailing `\r` is trimmed.
//!
//! [`LineDecoder`] is the whole [`Decode`] glue of a line-based format around its per-line
//! [`LineState`]: the GLM, Qwen and MiMo decoders are each one `LineDecoder`.

use crate::{Decode, Report, StreamEvent};

/// What a line-based format keeps between lines; a [`LineDecoder`] drives it.
pub trait LineState: Default {
    /// What the format's [`Report`] waits for before it calls a body complete.
    const END_MARKER: &'static str;
    /// Handles one complete line.
    fn line(&mut self, line: &str, out: &mut Vec<StreamEvent>);
    /// The body ended (after its last line).
    fn end(&mut self, out: &mut Vec<StreamEvent>);
    fn report(&self) -> &Report;
    fn report_mut(&mut self) -> &mut Report;
}

/// A restartable decoder for a line-based format: splits the bytes into lines for its state.
#[derive(Debug)]
pub struct LineDecoder<S> {
    /// Cuts the body into lines; owns the unterminated tail between `feed` calls.
    lines: LineSplitter,
    /// What has been decoded and sent so far.
    state: S,
}

impl<S: LineState> LineDecoder<S> {
    pub fn new() -> Self {
        let mut state = S::default();
        *state.report_mut() = Report::new(S::END_MARKER);
        Self {
            lines: LineSplitter::new(),
            state,
        }
    }
}

impl<S> LineDecoder<S> {
    /// The state so far, for the format's own tests.
    #[cfg(test)]
    pub(crate) fn state(&self) -> &S {
        &self.state
    }
}

impl<S: LineState> Default for LineDecoder<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: LineState> Decode for LineDecoder<S> {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        let state = &mut self.state;
        self.lines.feed(bytes, |line| state.line(line, out));
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.state.report_mut().finishing(self.lines.partial());
        let state = &mut self.state;
        self.lines.finish(|line| state.line(line, out));
        self.state.end(out);
        self.state.report_mut().finished();
    }

    fn report(&self) -> &Report {
        self.state.report()
    }
}

/// Buffers bytes until a full line is present.
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// Bytes of the line that has started but not yet ended.
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and calls `on_line` for every line they complete.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_line: impl FnMut(&str)) {
        while let Some(pos) = bytes.iter().position(|b| *b == b'\n') {
            let (head, rest) = bytes.split_at(pos);
            bytes = &rest[1..];
            if self.partial.is_empty() {
                emit(head, &mut on_line);
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                emit(&line, &mut on_line);
            }
        }
        self.partial.extend_from_slice(bytes);
    }

    /// The bytes of a line that has started but not ended yet.
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// Flushes the last line when the body ended without a newline.
    pub fn finish(&mut self, mut on_line: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            emit(&line, &mut on_line);
        }
    }
}

fn emit(line: &[u8], on_line: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    on_line(&String::from_utf8_lossy(line));
}

/// One line of a body that should be SSE, as a decoder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseLine<'a> {
    /// A `data:` line's payload.
    Data(&'a str),
    /// An `event:` line's name.
    Event(&'a str),
    /// A blank separator, a comment, or an `id:` / `retry:` line.
    Other,
    /// A line that is no SSE field: a refused request's bare JSON, an HTML error page...
    Bare(&'a str),
}

impl SseLine<'_> {
    pub fn of(line: &str) -> SseLine<'_> {
        if let Some(payload) = sse_data(line) {
            return SseLine::Data(payload);
        }
        if let Some(name) = line.strip_prefix("event:") {
            return SseLine::Event(name.trim());
        }
        let field = line.split_once(':').map_or(line, |(field, _)| field);
        if line.is_empty() || matches!(field, "" | "id" | "retry") {
            SseLine::Other
        } else {
            SseLine::Bare(line)
        }
    }
}

/// The `event:` name of a named-event SSE body as it is read: a name holds for the `data:`
/// lines up to the blank line that ends the event, and data without a name is a `message`, as
/// the SSE format says.
#[derive(Debug, Default, Clone)]
pub struct NamedSse {
    event: Option<String>,
}

/// One payload line of a named-event body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedLine<'a> {
    /// The name of the event it belongs to (`message` when none was named).
    pub event: String,
    /// The `data:` line's payload, or the whole line when it was no SSE field.
    pub payload: &'a str,
    /// False for a line that was no SSE field (a refused request's bare JSON, an HTML page).
    pub is_data: bool,
}

impl NamedSse {
    /// Reads one line: a payload comes back with its event's name; blank lines, comments and
    /// `event:` lines only move the state and give `None`.
    pub fn line<'a>(&mut self, line: &'a str) -> Option<NamedLine<'a>> {
        let (payload, is_data) = match SseLine::of(line) {
            SseLine::Other => {
                if line.is_empty() {
                    self.event = None;
                }
                return None;
            }
            SseLine::Event(name) => {
                self.event = Some(name.to_owned());
                return None;
            }
            SseLine::Data(payload) => (payload, true),
            SseLine::Bare(line) => (line, false),
        };
        let event = self.event.clone().unwrap_or_else(|| "message".to_owned());
        Some(NamedLine {
            event,
            payload,
            is_data,
        })
    }
}

/// The payload of an SSE `data:` line (one optional space after the colon removed), or `None`
/// for any other line (`event:`, `id:`, comments, blank separators).
pub fn sse_data(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("data:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(pieces: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        for piece in pieces {
            splitter.feed(piece, |l| lines.push(l.to_owned()));
        }
        splitter.finish(|l| lines.push(l.to_owned()));
        lines
    }

    #[test]
    fn splits_lines_and_trims_cr() {
        assert_eq!(split_all(&[b"a\r\nb\n\nc"]), vec!["a", "b", "", "c"]);
    }

    #[test]
    fn a_utf8_character_cut_by_the_network_is_reassembled() {
        let text = "é€😀\n".as_bytes();
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(split_all(&[a, b]), vec!["é€😀"], "cut at {cut}");
        }
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(SseLine::of("data: [DONE]"), SseLine::Data("[DONE]"));
        assert_eq!(SseLine::of("event: ready"), SseLine::Event("ready"));
        for other in ["", ": keep-alive", "id: 3", "retry: 1000"] {
            assert_eq!(SseLine::of(other), SseLine::Other, "{other:?}");
        }
        for bare in ["{\"detail\":\"x\"}", "<html>", "oops: no"] {
            assert_eq!(SseLine::of(bare), SseLine::Bare(bare), "{bare:?}");
        }
    }

    #[test]
    fn event_names_last_until_the_blank_line() {
        let mut sse = NamedSse::default();
        let lines = [
            "data: a",
            "event: usage",
            ": note",
            "data: b",
            "data: c",
            "",
            "data: d",
            "{\"x\":1}",
        ];
        let got: Vec<(String, &str, bool)> = (lines.iter())
            .filter_map(|l| sse.line(l))
            .map(|n| (n.event, n.payload, n.is_data))
            .collect();
        let named = |e: &str, p, d| (e.to_owned(), p, d);
        assert_eq!(
            got,
            vec![
                named("message", "a", true),
                named("usage", "b", true),
                named("usage", "c", true),
                named("message", "d", true),
                named("message", "{\"x\":1}", false),
            ]
        );
    }

    #[test]
    fn data_lines_are_recognised() {
        assert_eq!(sse_data("data: {\"a\":1}"), Some("{\"a\":1}"));
        assert_eq!(sse_data("data:x"), Some("x"));
        assert_eq!(sse_data("event: ready"), None);
        assert_eq!(sse_data(""), None);
    }
}
