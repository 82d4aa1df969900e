//! GLM Chat's stream format: SSE `data:` events of type `chat:completion`.
//!
//! Each event carries an object `data` with a `phase` (`thinking`, `answer`, `tool_call`,
//! `other`, `done`) and some of:
//!
//! - `delta_content`: new text. While thinking it is the site's HTML rendering of the
//!   reasoning: a `<details type="reasoning" …>` wrapper (sometimes with a `<summary>`) whose
//!   lines are markdown quotes (`> `). All of that is removed here.
//! - `edit_content`: a patch that re-sends a larger part of the message. The first answer patch
//!   re-sends the whole reasoning, closed by `</details>`, plus the first answer words; only
//!   what the client has not seen yet is forwarded. A patch may begin in the middle of the
//!   opening tag (`true" duration="5" …>`).
//! - `usage`, `done` and `error`.
//!
//! `<glm_block …>…</glm_block>` spans (search and tool payloads) are removed from all text,
//! also when they are cut across events. Text that may be a cut tag or quote marker is held
//! back until the next piece shows what it is.
//!
//! An event `type` or `phase` the decoder does not know is skipped and reported
//! ([`crate::Report`]), as is an `event:` line (the site sends none).

use serde_json::{Map, Value};

use crate::lines::{LineDecoder, LineState, SseLine};
use crate::{FinishReason, Report, StreamEvent, Usage};

/// The error shown when GLM refuses the request because the model is busy.
pub const CAPACITY: &str = "GLM Chat is currently at capacity. Try again later or switch models.";

/// The error shown when the body ended without a single event.
pub const EMPTY_STREAM: &str =
    "GLM Chat returned an empty stream (the site's \"Error code 20001\"). Try again.";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "GLM Chat's end marker (`phase` done with `done: true`)";

/// Words in an error that mean "busy", besides the code `MODEL_CONCURRENCY_LIMIT`.
const CAPACITY_HINTS: [&str; 4] = [
    "model_concurrency_limit",
    "currently at capacity",
    "peak hours",
    "switch to another model",
];

const OPEN_DETAILS: &str = "<details";
const CLOSE_DETAILS: &str = "</details>";

/// Fallbacks for aligning a re-sent text with what was already sent (see [`missing_suffix`]).
const ANCHOR_CHARS: usize = 200;
const OVERLAP_BYTES: usize = 500;
const REEMIT_CHARS: usize = 800;

/// Decodes one GLM Chat completion response body.
pub type GlmDecoder = LineDecoder<Message>;

impl LineState for Message {
    const END_MARKER: &'static str = END_MARKER;

    fn line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.on_line(line, out);
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.end_of_body(out);
    }

    fn report(&self) -> &Report {
        &self.report
    }

    fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    Thinking,
    Answer,
    ToolCall,
    Other,
    Done,
    Unknown,
}

impl Phase {
    fn parse(phase: &str) -> Phase {
        match phase {
            "thinking" => Phase::Thinking,
            "answer" => Phase::Answer,
            "tool_call" => Phase::ToolCall,
            "other" => Phase::Other,
            "done" => Phase::Done,
            _ => Phase::Unknown,
        }
    }
}

/// The decoding state of one response (opaque; the decoder is [`GlmDecoder`]).
#[derive(Debug, Default)]
pub struct Message {
    /// Whether any `data:` line held JSON; without one the body counts as empty.
    saw_event: bool,
    /// Set when the answer finished or failed; later lines are ignored.
    ended: bool,
    /// The phase of the last event that named one (events without a phase continue it).
    phase: Phase,
    /// Whether the answer phase has begun; the reasoning is closed from then on.
    in_answer: bool,
    /// Cleans streamed reasoning deltas.
    reasoning: ReasoningCleaner,
    /// All reasoning sent so far, to align re-sent reasoning with.
    reasoning_sent: String,
    /// Removes `<glm_block>` spans from answer-side text (answer, tool calls, other).
    answer_blocks: SpanFilter,
    /// All answer text sent so far, to align re-sent answers with.
    answer_sent: String,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
}

impl Message {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        if self.ended {
            return;
        }
        // A refused request may be answered with one bare JSON object instead of SSE.
        let (payload, is_data) = match SseLine::of(line) {
            SseLine::Data("" | "[DONE]") | SseLine::Other => return,
            SseLine::Event(name) => return self.report.unknown(format!("event:{name}"), out),
            SseLine::Data(payload) => (payload, true),
            SseLine::Bare(line) => (line, false),
        };
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(payload) else {
            self.report.malformed(line);
            return;
        };
        self.saw_event |= is_data;
        let kind = event.get("type").and_then(Value::as_str);
        let completion = kind.is_some_and(|kind| kind.starts_with("chat:completion"));
        let data = event
            .get("data")
            .and_then(Value::as_object)
            .filter(|_| completion);
        let error = [
            data.and_then(|data| data.get("error")),
            event.get("error"),
            event.get("detail").filter(|_| !is_data),
        ]
        .into_iter()
        .flatten()
        .find(|error| is_present(error));
        if let Some(error) = error {
            out.push(StreamEvent::Error(error_message(error)));
            self.ended = true;
            self.report.end();
        } else if !is_data {
            self.report
                .unknown("bare JSON without an error".into(), out);
        } else if let Some(data) = data {
            self.apply(data, out);
        } else if completion {
            self.report.unknown("data:not an object".into(), out);
        } else {
            self.report
                .unknown(format!("type:{}", kind.unwrap_or("<none>")), out);
        }
    }

    fn apply(&mut self, data: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if let Some(phase) = data.get("phase").and_then(Value::as_str) {
            self.phase = Phase::parse(phase);
            if self.phase == Phase::Unknown {
                self.report.unknown(format!("phase:{phase}"), out);
            }
        }
        if self.phase == Phase::Answer && !self.in_answer {
            self.close_reasoning(out);
            self.in_answer = true;
        }
        if let Some(delta) = data.get("delta_content").and_then(Value::as_str) {
            self.delta(delta, out);
        }
        if let Some(edit) = data.get("edit_content").and_then(Value::as_str) {
            self.edit(edit, out);
        }
        if let Some(Value::Object(usage)) = data.get("usage") {
            out.push(StreamEvent::Usage(parse_usage(usage)));
        }
        if self.phase == Phase::Done && data.get("done").and_then(Value::as_bool) == Some(true) {
            self.close_reasoning(out);
            self.flush_answer(out);
            out.push(StreamEvent::Finished(FinishReason::Stop));
            self.ended = true;
            self.report.end();
        }
    }

    fn delta(&mut self, delta: &str, out: &mut Vec<StreamEvent>) {
        match self.phase {
            Phase::Thinking => {
                let clean = self.reasoning.push(delta);
                self.send_reasoning(&clean, out);
            }
            Phase::Answer | Phase::Other => {
                let clean = self.answer_blocks.push(delta);
                self.send_text(&clean, out);
            }
            Phase::ToolCall => {
                // Filtered even when dropped, so a block cut here is still removed later.
                let clean = self.answer_blocks.push(delta);
                if self.in_answer {
                    self.send_text(&clean, out);
                }
            }
            Phase::Done | Phase::Unknown => {}
        }
    }

    fn edit(&mut self, edit: &str, out: &mut Vec<StreamEvent>) {
        if let Some(at) = edit.rfind(CLOSE_DETAILS) {
            // The whole reasoning, then the answer from its start.
            let full = clean_reasoning(&edit[..at]);
            let missing = missing_suffix(&self.reasoning_sent, &full).to_owned();
            self.send_reasoning(&missing, out);
            // The re-sent reasoning supersedes whatever the stream cleaner still held.
            self.reasoning = self.reasoning.restart();
            let answer = edit[at + CLOSE_DETAILS.len()..].trim_start_matches(['\n', '\r']);
            self.edit_answer(answer, out);
        } else if self.phase == Phase::Thinking {
            let full = clean_reasoning(edit);
            let missing = missing_suffix(&self.reasoning_sent, &full).to_owned();
            self.send_reasoning(&missing, out);
        } else {
            self.edit_answer(edit, out);
        }
    }

    /// Answer text from a patch: a re-send in `answer`, a tail in `other` and `tool_call`.
    fn edit_answer(&mut self, edit: &str, out: &mut Vec<StreamEvent>) {
        let clean = self.answer_blocks.push(edit);
        match self.phase {
            Phase::Thinking | Phase::Answer => {
                let missing = missing_suffix(&self.answer_sent, &clean).to_owned();
                self.send_text(&missing, out);
            }
            Phase::Other => self.send_text(&clean, out),
            Phase::ToolCall if self.in_answer => self.send_text(&clean, out),
            Phase::ToolCall | Phase::Done | Phase::Unknown => {}
        }
    }

    fn close_reasoning(&mut self, out: &mut Vec<StreamEvent>) {
        let tail = self.reasoning.flush();
        self.send_reasoning(&tail, out);
        self.reasoning = self.reasoning.restart();
    }

    fn flush_answer(&mut self, out: &mut Vec<StreamEvent>) {
        let tail = self.answer_blocks.flush();
        if self.in_answer || self.phase == Phase::Other {
            self.send_text(&tail, out);
        }
    }

    fn end_of_body(&mut self, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.close_reasoning(out);
        self.flush_answer(out);
        if !self.saw_event {
            out.push(StreamEvent::Error(EMPTY_STREAM.to_owned()));
        }
        self.ended = true;
    }

    fn send_reasoning(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.reasoning_sent.push_str(text);
            out.push(StreamEvent::Reasoning(text.to_owned()));
        }
    }

    fn send_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        // The answer follows `</details>` on a new line; that break is markup, not text.
        let text = if self.answer_sent.is_empty() {
            text.trim_start_matches(['\n', '\r'])
        } else {
            text
        };
        if !text.is_empty() {
            self.answer_sent.push_str(text);
            out.push(StreamEvent::Text(text.to_owned()));
        }
    }
}

/// Removes `open … close` spans from a text that arrives in pieces.
#[derive(Debug)]
struct SpanFilter {
    open: &'static str,
    close: &'static str,
    /// Whether the last piece ended inside a span.
    inside: bool,
    /// A tail that may be the start of a cut tag, kept until the next piece.
    held: String,
}

impl SpanFilter {
    fn new(open: &'static str, close: &'static str) -> Self {
        Self {
            open,
            close,
            inside: false,
            held: String::new(),
        }
    }

    fn push(&mut self, piece: &str) -> String {
        let mut text = std::mem::take(&mut self.held);
        text.push_str(piece);
        let mut out = String::new();
        let mut rest = text.as_str();
        loop {
            let tag = if self.inside { self.close } else { self.open };
            if let Some(at) = rest.find(tag) {
                if !self.inside {
                    out.push_str(&rest[..at]);
                }
                rest = &rest[at + tag.len()..];
                self.inside = !self.inside;
                continue;
            }
            // Tags are ASCII, so the cut falls on a character boundary.
            let (body, tail) = rest.split_at(rest.len() - cut_tag_len(rest, tag));
            if !self.inside {
                out.push_str(body);
            }
            self.held = tail.to_owned();
            return out;
        }
    }

    /// The held tail as plain text (it was not a tag after all), unless inside a span.
    fn flush(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        if self.inside { String::new() } else { held }
    }
}

impl Default for SpanFilter {
    fn default() -> Self {
        Self::new("<glm_block", "</glm_block>")
    }
}

/// The length of the longest end of `text` that is a proper start of the ASCII `tag`.
fn cut_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&len| text.ends_with(&tag[..len]))
        .unwrap_or(0)
}

/// Turns the site's reasoning markup into plain reasoning text, piece by piece.
#[derive(Debug)]
struct ReasoningCleaner {
    blocks: SpanFilter,
    summary: SpanFilter,
    quotes: Unquote,
}

impl Default for ReasoningCleaner {
    fn default() -> Self {
        Self {
            blocks: SpanFilter::default(),
            summary: SpanFilter::new("<summary", "</summary>"),
            quotes: Unquote::default(),
        }
    }
}

impl ReasoningCleaner {
    fn push(&mut self, piece: &str) -> String {
        let piece = self.blocks.push(piece);
        let piece = self.summary.push(&piece);
        self.quotes.push(&piece)
    }

    /// Whatever was held back, at the end of the reasoning.
    fn flush(&mut self) -> String {
        let mut piece = self.blocks.flush();
        piece = self.summary.push(&piece);
        piece.push_str(&self.summary.flush());
        let mut out = self.quotes.push(&piece);
        out.push_str(&self.quotes.flush());
        out
    }

    /// A fresh cleaner for a later reasoning segment, which starts on a new line.
    fn restart(&self) -> Self {
        let mut fresh = Self::default();
        fresh.quotes.started = self.quotes.started;
        fresh
    }
}

/// Cleans a complete piece of re-sent reasoning (an edit), which may begin inside the
/// opening tag.
fn clean_reasoning(markup: &str) -> String {
    let markup = match markup.split_once('>') {
        Some((tag_rest, after)) if is_cut_tag(tag_rest) => after,
        _ => markup,
    };
    let mut cleaner = ReasoningCleaner::default();
    let mut out = cleaner.push(markup);
    out.push_str(&cleaner.flush());
    out
}

/// Whether `text`, found before the first `>`, is the rest of a cut tag (`true" duration="5"`).
fn is_cut_tag(text: &str) -> bool {
    text.contains('"') && !text.contains(['\n', '<'])
}

/// Removes the `<details …>` wrapper and the `> ` quote marker that starts each line.
///
/// Newlines are held back until more text follows, so the reasoning neither starts nor ends
/// with the wrapper's line breaks.
#[derive(Debug)]
struct Unquote {
    /// Text that may be a cut tag or a cut quote marker.
    pending: String,
    /// Inside `<details …`, up to its `>`.
    in_open_tag: bool,
    /// At the start of a line, where a `>` is the site's quote marker.
    line_start: bool,
    /// Line breaks seen but not yet sent.
    newlines: usize,
    /// Whether any text was sent; leading line breaks are dropped.
    started: bool,
}

impl Default for Unquote {
    fn default() -> Self {
        Self {
            pending: String::new(),
            in_open_tag: false,
            line_start: true,
            newlines: 0,
            started: false,
        }
    }
}

impl Unquote {
    fn push(&mut self, piece: &str) -> String {
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(piece);
        let mut out = String::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            if self.in_open_tag {
                let at = rest.find('>');
                rest = at.map_or("", |at| &rest[at + 1..]);
                self.in_open_tag = at.is_none();
                self.line_start = true;
            } else if let Some(after) = rest.strip_prefix('\n') {
                self.newlines += 1;
                self.line_start = true;
                rest = after;
            } else if self.line_start && rest.starts_with('>') {
                if rest == ">" {
                    break; // Maybe "> " cut in two.
                }
                rest = rest[1..].strip_prefix(' ').unwrap_or(&rest[1..]);
                self.line_start = false;
            } else if let Some(after) = rest.strip_prefix(OPEN_DETAILS) {
                self.in_open_tag = true;
                rest = after;
            } else if let Some(after) = rest.strip_prefix(CLOSE_DETAILS) {
                self.newlines = 0;
                rest = after;
            } else if OPEN_DETAILS.starts_with(rest) || CLOSE_DETAILS.starts_with(rest) {
                break; // A cut tag.
            } else {
                // Plain text up to the next line break or tag (a lone `<` is text).
                let first = rest.chars().next().map_or(1, char::len_utf8);
                let end = rest[first..]
                    .find(['\n', '<'])
                    .map_or(rest.len(), |at| at + first);
                self.emit(&rest[..end], &mut out);
                rest = &rest[end..];
                self.line_start = false;
            }
        }
        self.pending = rest.to_owned();
        out
    }

    /// Sends a held cut tag as text; a held quote marker and trailing line breaks are dropped.
    fn flush(&mut self) -> String {
        let pending = std::mem::take(&mut self.pending);
        let mut out = String::new();
        if !(self.line_start && pending == ">") {
            self.emit(&pending, &mut out);
        }
        self.newlines = 0;
        out
    }

    fn emit(&mut self, text: &str, out: &mut String) {
        if text.is_empty() {
            return;
        }
        if self.started {
            out.extend(std::iter::repeat_n('\n', self.newlines));
        }
        self.newlines = 0;
        self.started = true;
        out.push_str(text);
    }
}

/// The part of `full` (a re-send of text the client has partly seen) that `sent` lacks.
///
/// Tried in order: `full` extends `sent`; `full` is already contained at an end of `sent`;
/// the last occurrence of `sent`, then of its last [`ANCHOR_CHARS`] characters, in `full`; an
/// overlap of up to [`OVERLAP_BYTES`] between the end of `sent` and the start of `full`. If
/// nothing aligns, a short `full` is new text and a long one is dropped as a stale re-send.
pub(crate) fn missing_suffix<'a>(sent: &str, full: &'a str) -> &'a str {
    if let Some(rest) = full.strip_prefix(sent) {
        return rest;
    }
    if sent.starts_with(full) || sent.ends_with(full) {
        return "";
    }
    let anchor_start = sent
        .char_indices()
        .rev()
        .nth(ANCHOR_CHARS - 1)
        .map_or(0, |(at, _)| at);
    for anchor in [sent, &sent[anchor_start..]] {
        if let Some(at) = full.rfind(anchor) {
            return &full[at + anchor.len()..];
        }
    }
    let overlap = (1..=full.len().min(OVERLAP_BYTES))
        .rev()
        .find(|&len| full.is_char_boundary(len) && sent.ends_with(&full[..len]));
    match overlap {
        Some(len) => &full[len..],
        None if full.chars().count() <= REEMIT_CHARS => full,
        None => "",
    }
}

fn parse_usage(usage: &Map<String, Value>) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let prompt_tokens = count("prompt_tokens").unwrap_or(0);
    let completion_tokens = count("completion_tokens").unwrap_or(0);
    let total_tokens = match count("total_tokens") {
        Some(total) if total > 0 => total,
        _ => prompt_tokens.saturating_add(completion_tokens),
    };
    let cached_tokens = usage
        .get("prompt_tokens_details")
        .and_then(|details| details.get("cached_tokens"))
        .and_then(Value::as_u64);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens,
        cached_tokens,
    }
}

/// Whether an `error` field holds an error (`null`, `false`, `""` and `{}` do not).
fn is_present(error: &Value) -> bool {
    match error {
        Value::Null | Value::Bool(false) => false,
        Value::String(text) => !text.trim().is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        _ => true,
    }
}

/// The user-facing message for an `error` field.
fn error_message(error: &Value) -> String {
    let (code, detail) = match error {
        Value::String(text) => (String::new(), text.trim().to_owned()),
        Value::Object(fields) => {
            let code = match fields.get("code") {
                Some(Value::String(code)) => code.trim().to_owned(),
                Some(Value::Number(code)) => code.to_string(),
                _ => String::new(),
            };
            let detail = ["detail", "message", "msg"]
                .iter()
                .filter_map(|key| fields.get(*key).and_then(Value::as_str))
                .map(str::trim)
                .find(|text| !text.is_empty())
                .unwrap_or("");
            (code, detail.to_owned())
        }
        other => (String::new(), other.to_string()),
    };
    let words = format!("{code} {detail}").to_lowercase();
    if code.eq_ignore_ascii_case("MODEL_CONCURRENCY_LIMIT")
        || CAPACITY_HINTS.iter().any(|hint| words.contains(hint))
    {
        return match detail.as_str() {
            "" => CAPACITY.to_owned(),
            detail => format!("{CAPACITY} ({detail})"),
        };
    }
    match (detail.as_str(), code.as_str()) {
        ("", "") => "GLM Chat: the site reported an error.".to_owned(),
        ("", code) => format!("GLM Chat: {code}"),
        (detail, _) => format!("GLM Chat: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decode;
    use crate::{coalesce, decode_all};

    fn reasoning(text: &str) -> StreamEvent {
        StreamEvent::Reasoning(text.to_owned())
    }

    fn text(text: &str) -> StreamEvent {
        StreamEvent::Text(text.to_owned())
    }

    fn error(message: &str) -> StreamEvent {
        StreamEvent::Error(message.to_owned())
    }

    const STOP: StreamEvent = StreamEvent::Finished(FinishReason::Stop);

    /// Decodes `body` in one piece and compares the coalesced events.
    fn check(body: &str, expected: &[StreamEvent]) {
        let events = decode_all(GlmDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// §3.4's reconstructed example.
    const EXAMPLE: &str = r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\" done=\"false\">\n> The user"}}
data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":" wants a greeting."}}
data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"<details type=\"reasoning\" done=\"true\" duration=\"2\">\n> The user wants a greeting.\n</details>\nHi"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" there!"}}
data: {"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":812,"completion_tokens":40,"total_tokens":852}}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    /// The answer patch starts inside the opening tag and completes the reasoning; a quote
    /// marker is cut across two deltas.
    const MID_TAG: &str = r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\" done=\"false\">\n<summary>Thinking…</summary>\n> First line.\n"}}
data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":">"}}
data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":" Second"}}
data: {"type":"chat:completion","data":{"phase":"answer","edit_index":30,"edit_content":"true\" duration=\"5\" view=\"\">\n<summary>Thought for 5 seconds</summary>\n> First line.\n> Second line.\n</details>\n\nAnswer"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" ü😀."}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    /// Thinking off, with a search block cut across three tool-call patches (and inside its
    /// closing tag) and another inside two answer deltas.
    const BLOCKS: &str = r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Let me search."}}
data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":"<glm_block view=\"\">{\"type\": \"mcp\", \"data\": {\"name\": \"search\""}}
data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":", \"result\": \"x\"}}</glm_bl"}}
data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":"ock>\n\n"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Found <b>it</b>: a<glm_"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"block>hidden"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"</glm_block>b."}}
data: {"type":"chat:completion","data":{"phase":"other","edit_content":" Sources: 2."}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    /// A tool call while thinking is not answer text; the body ends without `done`.
    const TOOL_BEFORE_ANSWER: &str = r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\">\n> Need to search.\n"}}
data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":"<glm_block view=\"\">{\"q\":1}</glm_block>Searching…"}}
data: {"type":"chat:completion","data":{"phase":"tool_call","delta_content":"stray tool text"}}
data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"> Got results.\n</details>\n"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"\nDone."}}
"#;

    /// The reasoning only arrives in a patch that starts inside the opening tag.
    const CUT_TAG_ONLY: &str = r#"data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"true\" duration=\"1\">\n> Quick thought.\n</details>\nOk"}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    /// The shape other z.ai clients see: the quote marker ends the first delta, the patch
    /// starts mid-tag and ends with `</details>`, empty fields abound.
    const CJK: &str = r#"data: {"type":"chat:completion","data":{"delta_content":"<details type=\"reasoning\" done=\"false\">\n> ","phase":"thinking"}}
data: {"type":"chat:completion","data":{"delta_content":"用户在打招呼","phase":"thinking"}}
data: {"type":"chat:completion","data":{"edit_index":52,"edit_content":"true\" duration=\"3\" view=\"\" last_tool_call_name=\"\">\n<summary>Thought for 3 seconds</summary>\n> 用户在打招呼。\n</details>\n","phase":"answer"}}
data: {"type":"chat:completion","data":{"delta_content":"你好","phase":"answer"}}
data: {"type":"chat:completion","data":{"delta_content":"！","phase":"answer"}}
data: {"type":"chat:completion","data":{"phase":"other","edit_index":90,"edit_content":"","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0}}}}
data: {"type":"chat:completion","data":{"phase":"done","done":true,"delta_content":"","error":null}}
"#;

    /// The answer is re-sent by a later patch: only the new words go out.
    const RESEND: &str = r#"data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"<details type=\"reasoning\" done=\"true\">\n> Short.\n</details>\nHi"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" there!"}}
data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"e=\"1\">\n> Short.\n</details>\nHi there! More."}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    /// Every sample with its expected coalesced events, written out literally.
    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        let usage = Usage {
            prompt_tokens: 812,
            completion_tokens: 40,
            total_tokens: 852,
            cached_tokens: None,
        };
        vec![
            (
                EXAMPLE,
                vec![
                    reasoning("The user wants a greeting."),
                    text("Hi there!"),
                    StreamEvent::Usage(usage),
                    STOP,
                ],
            ),
            (
                MID_TAG,
                vec![
                    reasoning("First line.\nSecond line."),
                    text("Answer ü😀."),
                    STOP,
                ],
            ),
            (
                BLOCKS,
                vec![
                    text("Let me search.\n\nFound <b>it</b>: ab. Sources: 2."),
                    STOP,
                ],
            ),
            (
                TOOL_BEFORE_ANSWER,
                vec![reasoning("Need to search.\nGot results."), text("Done.")],
            ),
            (
                CUT_TAG_ONLY,
                vec![reasoning("Quick thought."), text("Ok"), STOP],
            ),
            (
                CJK,
                vec![
                    reasoning("用户在打招呼。"),
                    text("你好！"),
                    StreamEvent::Usage(Usage {
                        prompt_tokens: 3,
                        completion_tokens: 4,
                        total_tokens: 7,
                        cached_tokens: Some(0),
                    }),
                    STOP,
                ],
            ),
            (
                RESEND,
                vec![reasoning("Short."), text("Hi there! More."), STOP],
            ),
        ]
    }

    #[test]
    fn reference_example() {
        check(
            EXAMPLE,
            &[
                reasoning("The user wants a greeting."),
                text("Hi there!"),
                StreamEvent::Usage(Usage {
                    prompt_tokens: 812,
                    completion_tokens: 40,
                    total_tokens: 852,
                    cached_tokens: None,
                }),
                STOP,
            ],
        );
    }

    #[test]
    fn every_sample_decodes_to_its_expected_events() {
        for (body, expected) in samples() {
            check(body, &expected);
        }
    }

    #[test]
    fn any_split_gives_the_same_events() {
        for (body, expected) in samples() {
            crate::testing::check_every_split(GlmDecoder::new, body, &expected);
        }
    }

    #[test]
    fn emitted_deltas_add_up_to_the_final_text() {
        let mut decoder = GlmDecoder::new();
        let mut events = Vec::new();
        decoder.feed(MID_TAG.as_bytes(), &mut events);
        decoder.finish(&mut events);
        let mut sent_text = String::new();
        let mut sent_reasoning = String::new();
        for event in &events {
            match event {
                StreamEvent::Text(s) => sent_text.push_str(s),
                StreamEvent::Reasoning(s) => sent_reasoning.push_str(s),
                _ => {}
            }
        }
        // The site's final reasoning is the one its last patch carries.
        let final_reasoning = clean_reasoning(
            "<details type=\"reasoning\" done=\"true\" duration=\"5\" view=\"\">\n\
             <summary>Thought for 5 seconds</summary>\n> First line.\n> Second line.\n",
        );
        assert_eq!(final_reasoning, "First line.\nSecond line.");
        assert_eq!(sent_reasoning, final_reasoning);
        assert_eq!(sent_text, "Answer ü😀.");
        assert_eq!(decoder.state().answer_sent, sent_text);
        assert_eq!(decoder.state().reasoning_sent, sent_reasoning);
    }

    #[test]
    fn quote_markers_are_removed_at_every_line_start() {
        let thinking = |delta: &str| {
            let event = serde_json::json!({
                "type": "chat:completion",
                "data": {"phase": "thinking", "delta_content": delta},
            });
            format!("data: {event}\n")
        };
        let body = [
            "<details type=\"reasoning\">\n> a\n>\n> b",
            "\n",
            "> c > d <e",
            "\n</det",
            "ails>\n",
        ]
        .map(thinking)
        .concat();
        check(&body, &[reasoning("a\n\nb\nc > d <e")]);
        // Without the wrapper the first line is quoted too; a cut `<` stays text.
        let body = ["> x <", "y <"].map(thinking).concat();
        check(&body, &[reasoning("x <y <")]);
        // A second wrapped segment is set off by one blank line.
        let body = [
            "<details>\n> one\n</details>\n",
            "<details>\n> two\n</details>",
        ]
        .map(thinking)
        .concat();
        check(&body, &[reasoning("one\n\ntwo")]);
    }

    #[test]
    fn usage_counts_cached_tokens_and_sums_a_missing_total() {
        check(
            r#"data: {"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}}
"#,
            &[StreamEvent::Usage(Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15,
                cached_tokens: Some(4),
            })],
        );
        check(
            r#"data: {"type":"chat:completion","data":{"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":0}}}
"#,
            &[StreamEvent::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 2,
                total_tokens: 9,
                cached_tokens: None,
            })],
        );
    }

    #[test]
    fn capacity_errors_get_the_capacity_message() {
        check(
            r#"data: {"type":"chat:completion","data":{"error":{"code":"MODEL_CONCURRENCY_LIMIT","detail":"Too many requests"}}}
"#,
            &[error(
                "GLM Chat is currently at capacity. Try again later or switch models. \
                 (Too many requests)",
            )],
        );
        check(
            r#"data: {"type":"chat:completion","data":{"phase":"other","error":{"code":429,"detail":"It is peak hours, please switch to another model."}}}
"#,
            &[error(
                "GLM Chat is currently at capacity. Try again later or switch models. \
                 (It is peak hours, please switch to another model.)",
            )],
        );
        check(
            r#"data: {"type":"chat:completion","data":{"error":"model_concurrency_limit"}}
"#,
            &[error(
                "GLM Chat is currently at capacity. Try again later or switch models. \
                 (model_concurrency_limit)",
            )],
        );
    }

    #[test]
    fn other_errors_name_the_site_and_end_the_stream() {
        check(
            r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Partial","error":null}}
data: {"type":"chat:completion","data":{"error":{"code":"SENSITIVE","detail":"Content violates policy"}}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" ignored"}}
"#,
            &[text("Partial"), error("GLM Chat: Content violates policy")],
        );
        check(
            r#"data: {"type":"chat:completion","data":{"error":{"code":"RISK_CONTROL_BLOCKED"}}}
"#,
            &[error("GLM Chat: RISK_CONTROL_BLOCKED")],
        );
        // A refused request answered with plain JSON instead of SSE.
        check(
            r#"{"detail":"Not authenticated"}"#,
            &[error("GLM Chat: Not authenticated")],
        );
    }

    #[test]
    fn a_body_without_events_is_the_empty_stream_error() {
        for body in [
            "",
            ": keep-alive\n\n",
            "data: [DONE]\n",
            r#"data: {"type":"chat:completion","data":{"phase":"answ"#,
        ] {
            check(body, &[error(EMPTY_STREAM)]);
        }
        // One complete event is enough, even without a final newline or `done`.
        check(
            r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"x"}}"#,
            &[text("x")],
        );
    }

    #[test]
    fn unknown_types_and_phases_are_skipped_and_reported() {
        let body = r#"event: hello
data: {"type":"chat:title","data":{"title":"Greeting"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Hi"}}
data: {"type":"chat:completion","data":{"phase":"plan","delta_content":"secret plan"}}
data: {"type":"chat:completion","data":{"delta_content":"more plan"}}
data: {"type":"chat:completion","data":{"phase":"plan","delta_content":"and more"}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"!"}}
data: {oops
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;
        let unknown = |kind: &str| StreamEvent::Unknown(kind.to_owned());
        check(
            body,
            &[
                unknown("event:hello"),
                unknown("type:chat:title"),
                text("Hi"),
                unknown("phase:plan"),
                text("!"),
                STOP,
            ],
        );
        let mut decoder = GlmDecoder::new();
        let mut events = Vec::new();
        decoder.feed(body.as_bytes(), &mut events);
        decoder.finish(&mut events);
        let report = decoder.report();
        assert_eq!(report.unknown.get("phase:plan"), Some(&2));
        assert_eq!(report.malformed, 1);
        assert!(report.ended);
        assert_eq!(
            report.problem().unwrap_or_default(),
            "malformed: line 8 does not hold a JSON object: `data: {oops`"
        );
    }

    #[test]
    fn a_body_cut_before_done_is_truncated() {
        let cut = EXAMPLE.find("\"phase\":\"done\"").unwrap_or(0);
        let mut decoder = GlmDecoder::new();
        let mut events = Vec::new();
        decoder.feed(&EXAMPLE.as_bytes()[..cut], &mut events);
        decoder.finish(&mut events);
        assert_eq!(
            decoder.report().problem().unwrap_or_default(),
            "truncated: the body ends inside a line (`data: {\"type\":\"chat:completion\",\"data\":{`), \
             without GLM Chat's end marker (`phase` done with `done: true`)"
        );
        let mut decoder = GlmDecoder::new();
        let _ = decode_all(&mut decoder, EXAMPLE.as_bytes());
        assert_eq!(decoder.report().problem(), None);
    }

    #[test]
    fn finish_twice_adds_nothing() {
        let mut decoder = GlmDecoder::new();
        let mut events = Vec::new();
        decoder.finish(&mut events);
        decoder.finish(&mut events);
        assert_eq!(events, [error(EMPTY_STREAM)]);
    }

    #[test]
    fn missing_suffix_aligns_resent_text() {
        let long = "x".repeat(900);
        let anchored = format!("{}tail", "a".repeat(300));
        let cases: [(&str, &str, &str); 8] = [
            ("", "all new", "all new"),
            ("Hello", "Hello world", " world"),
            ("Hello world", "Hello", ""),
            ("abc", "zzabc!", "!"),
            (&anchored, &format!("{}tail more", "a".repeat(250)), " more"),
            ("the end of it", "of it, and more", ", and more"),
            ("unrelated", "short new text", "short new text"),
            ("unrelated", &long, ""),
        ];
        for (sent, full, missing) in cases {
            assert_eq!(missing_suffix(sent, full), missing, "sent {sent:?}");
        }
    }
}
