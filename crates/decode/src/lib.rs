//! Pure decoders for the stream formats of the provider chat sites.
//!
//! A lane captures the raw bytes of the site's own streamed HTTP response and hands them, in the
//! pieces the network delivered, to the provider's decoder. The decoder turns them into neutral
//! [`StreamEvent`]s: reasoning text, answer text, usage, the end of the answer, or a site error.
//!
//! # Layout
//! - [`aistudio`]: Google AI Studio's XSSI-guarded nested JSON+protobuf arrays, read incrementally.
//! - [`lines`]: incremental UTF-8 + line splitting shared by every SSE-based format.
//! - [`deepseek`]: DeepSeek's path/operation/value patch stream.
//! - [`glm`]: GLM Chat's `chat:completion` event stream.
//! - [`huggingchat`]: HuggingChat's concatenated JSON message updates, thinking inline.
//! - [`mimo`]: Xiaomi MiMo's named SSE events, thinking inline in `<think>` tags.
//! - [`moonshot`]: Moonshot / Kimi's Connect streaming envelopes (binary framing, JSON events).
//! - [`perplexity`]: Perplexity's `event:` SSE, answer blocks rebuilt from JSON Patches.
//! - [`qwen`]: QwenLM's OpenAI-like `choices[0].delta` event stream with cumulative summaries.
//!
//! Architecture Invariant: nothing here does IO, spawns tasks or reads the clock. A decoder is a
//! plain state machine: bytes in, events out. Feeding the same bytes split at any byte offsets
//! yields the same events (concatenated), so a frame or a UTF-8 sequence cut by the network is never
//! an error; the decoder keeps the tail and waits for more.
//!
//! Decoders are total: an event kind, patch operation or fragment type a decoder does not know
//! is skipped, but never silently. Its first occurrence in a body yields
//! [`StreamEvent::Unknown`] (the lane logs it) and [`Decode::report`] counts every occurrence,
//! with the lines that did not parse and whether the body reached the site's end marker.

pub mod aistudio;
pub mod deepseek;
pub mod glm;
pub mod huggingchat;
pub mod lines;
pub mod mimo;
pub mod moonshot;
pub mod perplexity;
pub mod qwen;
mod think;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One thing a provider said, in provider-neutral terms.
///
/// Text pieces are deltas: the concatenation of every `Text` is the answer, the concatenation of
/// every `Reasoning` is the thinking. Decoders never emit empty strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A piece of the model's thinking.
    Reasoning(String),
    /// A piece of the answer.
    Text(String),
    /// Token counts reported by the site (sent to the client as a usage chunk).
    Usage(Usage),
    /// The site marked the answer complete.
    Finished(FinishReason),
    /// The site reported a failure inside its stream (capacity, filter, limit...).
    /// The message is ready to show to a user and names the provider.
    Error(String),
    /// The site sent something this decoder does not know (`phase:search`, `op:DELETE`,
    /// `fragment:MAP`); it was skipped. Yielded once per kind and body, for the log; clients
    /// never see it. [`Report::unknown`] has the counts.
    Unknown(String),
    /// The site said something worth a log line that is no part of the answer (Kimi's model
    /// downgrade). Yielded once per kind and body; clients never see it.
    Notice(String),
}

/// Why an answer ended, in OpenAI's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// Token counts as the site reported them; missing counts are zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Cached prompt tokens when the site reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
}

/// A restartable decoder for one response body.
///
/// One decoder value decodes exactly one response; make a new one per request.
pub trait Decode {
    /// Feeds the next bytes of the body, appending any complete events to `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>);

    /// Signals the end of the body (the connection finished), flushing a final unterminated
    /// line if the format allows one.
    fn finish(&mut self, out: &mut Vec<StreamEvent>);

    /// What the decoder noticed besides its events so far; complete after [`Decode::finish`].
    fn report(&self) -> &Report;

    /// The site's id of the reply this body streams, once the body named it (DeepSeek's
    /// `response_message_id` from the opening `ready` event). A site's stop endpoint may need
    /// it, and with the replay capture the page never reads the stream, so only the decoder
    /// knows it. `None` for formats that carry no such id, or before it came.
    fn reply_id(&self) -> Option<&str> {
        None
    }
}

/// A borrowed decoder decodes too, so [`decode_all`] can leave the report readable.
impl<D: Decode + ?Sized> Decode for &mut D {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        (**self).feed(bytes, out);
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        (**self).finish(out);
    }

    fn report(&self) -> &Report {
        (**self).report()
    }

    fn reply_id(&self) -> Option<&str> {
        (**self).reply_id()
    }
}

/// What a decoder noticed about one body besides its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every kind the decoder skipped because it does not know it, with its occurrences.
    pub unknown: BTreeMap<String, u64>,
    /// `data:` lines (or a bare body line) that should hold a JSON object and did not.
    pub malformed: u64,
    /// The first of them: its line number (1-based) and its start.
    pub first_malformed: Option<(u64, String)>,
    /// Whether the site's end marker, or an error the site reported, was decoded.
    pub ended: bool,
    /// After `finish`, for a body that did not end: the start of the last line, which the
    /// body left unterminated (a frame cut off).
    pub cut_line: Option<String>,
    /// What ends an answer in this format, for [`Report::problem`].
    end_marker: &'static str,
    /// Lines seen so far, for [`Report::first_malformed`].
    lines: u64,
    /// Set while `finish` flushes the unterminated last line: a cut line is not malformed.
    finishing: bool,
}

/// How much of a bad line a report keeps.
const EXCERPT_CHARS: usize = 120;

impl Report {
    /// A report for a format whose answers end with `end_marker` (worded for a message:
    /// "DeepSeek's end marker (`response/status` FINISHED)").
    pub fn new(end_marker: &'static str) -> Report {
        Report {
            end_marker,
            ..Report::default()
        }
    }

    /// Counts an unknown kind, pushing [`StreamEvent::Unknown`] on its first occurrence.
    pub fn unknown(&mut self, kind: String, out: &mut Vec<StreamEvent>) {
        match self.unknown.get_mut(&kind) {
            Some(count) => *count += 1,
            None => {
                self.unknown.insert(kind.clone(), 1);
                out.push(StreamEvent::Unknown(kind));
            }
        }
    }

    /// Notes one more line of the body.
    pub fn line(&mut self) {
        self.lines += 1;
    }

    /// Counts the current line as one that should have held a JSON object.
    pub fn malformed(&mut self, line: &str) {
        if self.finishing {
            return;
        }
        self.malformed += 1;
        if self.first_malformed.is_none() {
            self.first_malformed = Some((self.lines, excerpt(line)));
        }
    }

    /// The site's end marker (or an error it reported) was decoded.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Call before `finish` flushes `tail`, the body's unterminated last line.
    pub fn finishing(&mut self, tail: &[u8]) {
        self.finishing = true;
        if !tail.is_empty() {
            self.cut_line = Some(excerpt(&String::from_utf8_lossy(tail)));
        }
    }

    /// Call once `finish` has flushed the last line.
    pub fn finished(&mut self) {
        self.finishing = false;
        if self.ended {
            self.cut_line = None;
        }
    }

    /// Why the body is not a whole, well-formed answer, or `None` if it is.
    pub fn problem(&self) -> Option<String> {
        let mut problems = Vec::new();
        if !self.ended {
            let marker = self.end_marker;
            problems.push(match &self.cut_line {
                Some(line) => {
                    format!("truncated: the body ends inside a line (`{line}`), without {marker}")
                }
                None => format!("truncated: the body ends without {marker}"),
            });
        }
        if let Some((line, text)) = &self.first_malformed {
            let more = match self.malformed {
                1 => String::new(),
                n => format!(" ({} more like it)", n - 1),
            };
            problems.push(format!(
                "malformed: line {line} does not hold a JSON object{more}: `{text}`"
            ));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

/// The start of a line, for a message.
fn excerpt(line: &str) -> String {
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// Decodes a whole body in one go. Handy for tests and for replaying recorded samples.
pub fn decode_all<D: Decode>(mut decoder: D, body: &[u8]) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    decoder.feed(body, &mut out);
    decoder.finish(&mut out);
    out
}

/// Joins adjacent text and adjacent reasoning events, so tests can compare the decoded meaning of
/// a stream without caring how the network happened to cut it.
pub fn coalesce(events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::new();
    for event in events {
        match (out.last_mut(), event) {
            (Some(StreamEvent::Text(acc)), StreamEvent::Text(more))
            | (Some(StreamEvent::Reasoning(acc)), StreamEvent::Reasoning(more)) => {
                acc.push_str(more)
            }
            _ => out.push(event.clone()),
        }
    }
    out
}

/// Test helpers shared by the decoders' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Decode, StreamEvent, coalesce};

    /// Checks that `body`, cut at every byte offset and also fed byte by byte, decodes to
    /// `expected` (coalesced) and never yields an empty delta.
    pub fn check_every_split<D: Decode>(new: impl Fn() -> D, body: &str, expected: &[StreamEvent]) {
        let bytes = body.as_bytes();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let mut decoder = new();
            let mut events = Vec::new();
            decoder.feed(a, &mut events);
            decoder.feed(b, &mut events);
            decoder.finish(&mut events);
            assert_eq!(coalesce(&events), expected, "cut at {cut} of:\n{body}");
        }
        let mut decoder = new();
        let mut events = Vec::new();
        for byte in bytes {
            decoder.feed(std::slice::from_ref(byte), &mut events);
        }
        decoder.finish(&mut events);
        assert_eq!(coalesce(&events), expected, "byte by byte:\n{body}");
        assert!(
            events.iter().all(|e| !matches!(
                e,
                StreamEvent::Text(s) | StreamEvent::Reasoning(s) if s.is_empty()
            )),
            "empty delta in {events:?}"
        );
    }
}
