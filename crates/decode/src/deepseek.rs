//! DeepSeek's stream format: SSE `data:` lines carrying path/operation/value patches.
//!
//! The site builds its answer as a list of *fragments* (`THINK`, `RESPONSE`, `SEARCH`, ...) and
//! streams small JSON patches against it:
//!
//! - `{"v":{"response":{"fragments":[...], ...}}}`: the opening snapshot. Its fragments already
//!   carry the first words, so they count as appended (skipping them cuts the reply's start).
//! - `{"p":"response/fragments","o":"APPEND","v":[{"type":"RESPONSE","content":"Hi"}]}`: new
//!   fragments.
//! - `{"p":"response/fragments/-1/content","o":"APPEND","v":" there"}`: more text for fragment
//!   `i` (negative indexes count from the end).
//! - `{"v":" again"}`: no path, so more text for the fragment the last path pointed at.
//! - `{"p":"response","o":"BATCH","v":[{"p":"status","v":"FINISHED"}, ...]}`: several patches
//!   whose paths are relative to the batch path.
//! - `{"p":"response/status","v":"FINISHED"}` (or `CONTENT_FILTER`): the end of the answer.
//!
//! `THINK` fragments are reasoning, `SEARCH`/`TOOL_SEARCH` fragments are dropped, every other
//! type is answer text. Error objects the site puts in the stream become [`StreamEvent::Error`].
//! Once the answer has ended or failed, later lines are ignored: after a content filter the site
//! streams a canned refusal that must not reach the client.
//!
//! What the decoder does not know is reported ([`crate::Report`]): an `event:` name, an
//! operation, a fragment type (still sent as text), a response field or a status it has no rule
//! for, text for a fragment that does not exist, an object that is no patch.

use serde_json::{Map, Value};

use crate::lines::{LineSplitter, SseLine};
use crate::{Decode, FinishReason, Report, StreamEvent};

/// The error shown when DeepSeek refuses another regeneration of the same message.
pub const REGENERATION_LIMIT: &str = "DeepSeek: regeneration limit reached. Request aborted.";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "DeepSeek's end marker (`response/status` FINISHED or CONTENT_FILTER)";

/// `event:` names the site sends; their `data:` lines are decoded like any other.
const EVENTS: [&str; 4] = ["ready", "update_session", "title", "close"];

/// The patch operations; a patch without one sets or appends by its path.
const OPERATIONS: [&str; 3] = ["APPEND", "SET", "BATCH"];

/// Fragment types with a rule (any other is sent as text, and reported).
const FRAGMENT_TYPES: [&str; 5] = [
    "THINK",
    "RESPONSE",
    "SEARCH",
    "TOOL_SEARCH",
    "TEMPLATE_RESPONSE",
];

/// Response fields the answer does not depend on.
const IGNORED_FIELDS: [&str; 10] = [
    "quasi_status",
    "accumulated_token_usage",
    "has_pending_fragment",
    "auto_continue",
    "search_status",
    "search_results",
    "message_id",
    "parent_id",
    "inserted_at",
    "conversation_mode",
];

/// Fragment fields the answer does not depend on.
const IGNORED_FRAGMENT_FIELDS: [&str; 5] = ["status", "elapsed_secs", "results", "id", "type"];

/// Keys of the objects the site sends outside the patches (the `ready` ids, session updates,
/// the `close` event's settings, the API envelope `{"code":0,"msg":"","data":..}`).
const NON_PATCH_KEYS: [&str; 8] = [
    "request_message_id",
    "response_message_id",
    "updated_at",
    "click_behavior",
    "auto_resume",
    "code",
    "msg",
    "data",
];

/// Decodes one DeepSeek completion (or regeneration) response body.
#[derive(Debug)]
pub struct DeepSeekDecoder {
    /// Cuts the body into lines; owns the unterminated tail between `feed` calls.
    lines: LineSplitter,
    /// The answer the patches have built so far.
    answer: Answer,
}

impl DeepSeekDecoder {
    pub fn new() -> Self {
        Self {
            lines: LineSplitter::new(),
            answer: Answer {
                report: Report::new(END_MARKER),
                ..Answer::default()
            },
        }
    }
}

impl Default for DeepSeekDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decode for DeepSeekDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        let answer = &mut self.answer;
        self.lines.feed(bytes, |line| answer.on_line(line, out));
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.answer.report.finishing(self.lines.partial());
        let answer = &mut self.answer;
        self.lines.finish(|line| answer.on_line(line, out));
        self.answer.report.finished();
    }

    fn report(&self) -> &Report {
        &self.answer.report
    }

    fn reply_id(&self) -> Option<&str> {
        self.answer.reply_id.as_deref()
    }
}

/// Where a fragment's text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Reasoning,
    Text,
    /// Search results and other payloads the client never sees.
    Dropped,
}

impl Channel {
    fn of_type(kind: &str) -> Channel {
        match kind {
            "THINK" => Channel::Reasoning,
            "RESPONSE" => Channel::Text,
            "SEARCH" | "TOOL_SEARCH" => Channel::Dropped,
            _ => Channel::Text,
        }
    }
}

/// One fragment of the answer, as far as it has been streamed.
#[derive(Debug)]
struct Fragment {
    channel: Channel,
    /// Everything appended so far; a `SET` may only extend it, never take text back.
    content: String,
}

/// The patch state of one response.
#[derive(Debug, Default)]
struct Answer {
    /// Every fragment opened so far; indexes match the site's `fragments/<i>` paths.
    fragments: Vec<Fragment>,
    /// The fragment a path-less `{"v":"..."}` continues: the one the last path pointed at.
    active: Option<usize>,
    /// Set when the answer finished or failed; later lines are ignored.
    ended: bool,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
    /// The reply's message id (`response_message_id` of the `ready` event), which the site's
    /// `stop_stream` needs.
    reply_id: Option<String>,
}

impl Answer {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        if self.ended {
            return;
        }
        // A refused request is answered with one bare JSON object instead of SSE: look at it
        // for an error only.
        let (payload, is_data) = match SseLine::of(line) {
            SseLine::Data("" | "[DONE]") | SseLine::Other => return,
            SseLine::Event(name) => {
                if !EVENTS.contains(&name) {
                    self.report.unknown(format!("event:{name}"), out);
                }
                return;
            }
            SseLine::Data(payload) => (payload, true),
            SseLine::Bare(line) => (line, false),
        };
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(payload) else {
            self.report.malformed(line);
            return;
        };
        if let Some(message) = error_message(&event) {
            self.fail(message, out);
        } else if is_data {
            self.apply_event(&event, out);
        }
    }

    fn apply_event(&mut self, event: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if let Some(id) = event.get("response_message_id").and_then(id_text) {
            self.reply_id = Some(id);
        }
        let Some(value) = event.get("v") else {
            if !event
                .keys()
                .all(|key| NON_PATCH_KEYS.contains(&key.as_str()))
            {
                let keys: Vec<&str> = event.keys().map(String::as_str).collect();
                self.report
                    .unknown(format!("object:{{{}}}", keys.join(",")), out);
            }
            return;
        };
        let op = event.get("o").and_then(Value::as_str);
        match (event.get("p").and_then(Value::as_str), value) {
            (Some(path), _) => self.apply(normalize(path), op, value, out),
            (None, Value::String(text)) => match self.active {
                Some(i) => self.append(i, text, out),
                None => self.report.unknown("text before any fragment".into(), out),
            },
            (None, Value::Object(snapshot)) => match snapshot.get("response") {
                Some(Value::Object(response)) => self.snapshot(response, out),
                _ => {
                    let keys: Vec<&str> = snapshot.keys().map(String::as_str).collect();
                    self.report
                        .unknown(format!("value:{{{}}}", keys.join(",")), out);
                }
            },
            (None, other) => self
                .report
                .unknown(format!("value:{}", json_type(other)), out),
        }
    }

    /// Applies one patch; `path` is relative to `response`.
    fn apply(&mut self, path: &str, op: Option<&str>, value: &Value, out: &mut Vec<StreamEvent>) {
        if let Some(op) = op.filter(|op| !OPERATIONS.contains(op)) {
            // Applied like a path-only patch, as before the report existed.
            self.report.unknown(format!("op:{op}"), out);
        }
        if op == Some("BATCH") {
            let Value::Array(patches) = value else {
                return;
            };
            for patch in patches {
                let Value::Object(patch) = patch else {
                    continue;
                };
                let Some(value) = patch.get("v") else {
                    continue;
                };
                if self.ended {
                    return;
                }
                let relative = patch.get("p").and_then(Value::as_str).unwrap_or("");
                let op = patch.get("o").and_then(Value::as_str);
                self.apply(&join(path, relative), op, value, out);
            }
            return;
        }
        match path {
            "" => {
                if let Value::Object(response) = value {
                    self.snapshot(response, out);
                }
            }
            "status" => self.status(value, out),
            "finish_reason" => {
                if value.as_str() == Some("regeneration_limit") {
                    self.fail(REGENERATION_LIMIT.to_owned(), out);
                }
            }
            "fragments" => match (op, value) {
                (None | Some("APPEND"), Value::Array(list)) => self.open_fragments(list, out),
                _ => self.report.unknown(
                    format!("fragments:{} {}", op.unwrap_or("-"), json_type(value)),
                    out,
                ),
            },
            _ => {
                let Some(rest) = path.strip_prefix("fragments/") else {
                    let field = path.split('/').next().unwrap_or(path);
                    if !IGNORED_FIELDS.contains(&field) {
                        self.report.unknown(format!("path:{path}"), out);
                    }
                    return;
                };
                let (index, field) = rest.split_once('/').unwrap_or((rest, ""));
                let Some(i) = self.resolve(index) else {
                    self.report
                        .unknown("path:fragments/<no such index>".into(), out);
                    return;
                };
                // Any fragment path (also `status` or `elapsed_secs`) makes it the active one.
                self.active = Some(i);
                match (field, value) {
                    ("content", Value::String(text)) => {
                        if op == Some("SET") {
                            self.set(i, text, out);
                        } else {
                            self.append(i, text, out);
                        }
                    }
                    (field, _) if IGNORED_FRAGMENT_FIELDS.contains(&field) => {}
                    (field, value) => self.report.unknown(
                        format!("path:fragments/*/{field} {}", json_type(value)),
                        out,
                    ),
                }
            }
        }
    }

    /// A whole `response` object: its fragments count as appended.
    fn snapshot(&mut self, response: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if let Some(Value::Array(list)) = response.get("fragments") {
            self.open_fragments(list, out);
        }
        if response.get("finish_reason").and_then(Value::as_str) == Some("regeneration_limit") {
            self.fail(REGENERATION_LIMIT.to_owned(), out);
        }
        if let Some(status) = response.get("status") {
            self.status(status, out);
        }
    }

    fn open_fragments(&mut self, list: &[Value], out: &mut Vec<StreamEvent>) {
        for fragment in list {
            let Value::Object(fragment) = fragment else {
                continue;
            };
            let kind = fragment.get("type").and_then(Value::as_str).unwrap_or("");
            let content = fragment
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or("");
            if kind.eq_ignore_ascii_case("error") {
                self.fail(error_text(content), out);
                return;
            }
            if !FRAGMENT_TYPES.contains(&kind) {
                self.report.unknown(format!("fragment:{kind}"), out);
            }
            self.fragments.push(Fragment {
                channel: Channel::of_type(kind),
                content: String::new(),
            });
            let i = self.fragments.len() - 1;
            self.active = Some(i);
            self.append(i, content, out);
        }
    }

    fn append(&mut self, i: usize, text: &str, out: &mut Vec<StreamEvent>) {
        let Some(fragment) = self.fragments.get_mut(i) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        fragment.content.push_str(text);
        match fragment.channel {
            Channel::Reasoning => out.push(StreamEvent::Reasoning(text.to_owned())),
            Channel::Text => out.push(StreamEvent::Text(text.to_owned())),
            Channel::Dropped => {}
        }
    }

    /// Replaces a fragment's content. Text already sent cannot be taken back, so only a value
    /// that extends the current content has an effect.
    fn set(&mut self, i: usize, text: &str, out: &mut Vec<StreamEvent>) {
        let Some(fragment) = self.fragments.get(i) else {
            return;
        };
        if let Some(more) = text.strip_prefix(fragment.content.as_str()) {
            let more = more.to_owned();
            self.append(i, &more, out);
        }
    }

    fn status(&mut self, status: &Value, out: &mut Vec<StreamEvent>) {
        let reason = match status.as_str() {
            Some("FINISHED") => FinishReason::Stop,
            Some("CONTENT_FILTER") => FinishReason::ContentFilter,
            Some("WIP") => return,
            Some(other) => return self.report.unknown(format!("status:{other}"), out),
            None => {
                return self
                    .report
                    .unknown(format!("status:{}", json_type(status)), out);
            }
        };
        out.push(StreamEvent::Finished(reason));
        self.ended = true;
        self.report.end();
    }

    fn fail(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error(message));
        self.ended = true;
        self.report.end();
    }

    /// The absolute index of `fragments/<index>`, if that fragment exists.
    fn resolve(&self, index: &str) -> Option<usize> {
        let index: i64 = index.parse().ok()?;
        let len = i64::try_from(self.fragments.len()).ok()?;
        let absolute = if index < 0 { len + index } else { index };
        if (0..len).contains(&absolute) {
            usize::try_from(absolute).ok()
        } else {
            None
        }
    }
}

/// The JSON type of a value, for naming an unknown kind.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A path relative to `response`: `response/status` and `status` are the same field.
fn normalize(path: &str) -> &str {
    match path.strip_prefix("response/") {
        Some(rest) => rest,
        None if path == "response" => "",
        None => path,
    }
}

/// A message id as the site sends it (a number; a string is taken as it is).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The path of a patch inside a batch: relative to the batch path unless it is already
/// absolute (starts at `response` or `fragments`).
fn join(base: &str, relative: &str) -> String {
    let absolute = ["response", "fragments"]
        .iter()
        .any(|root| relative == *root || relative.starts_with(&format!("{root}/")));
    if absolute || base.is_empty() {
        normalize(relative).to_owned()
    } else if relative.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{relative}")
    }
}

/// The user-facing message for an error object the site put in the stream, if `event` is one.
fn error_message(event: &Map<String, Value>) -> Option<String> {
    if event.get("finish_reason").and_then(Value::as_str) == Some("regeneration_limit") {
        return Some(REGENERATION_LIMIT.to_owned());
    }
    if event.get("type").and_then(Value::as_str) == Some("error") {
        return Some(error_text(first_text(
            event,
            &["content", "msg", "message"],
        )));
    }
    match event.get("error") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => return Some(error_text(text)),
        Some(Value::Object(error)) => {
            return Some(error_text(first_text(
                error,
                &["message", "msg", "content"],
            )));
        }
        Some(other) => return Some(error_text(&other.to_string())),
    }
    // The API envelope `{"code":..,"msg":..,"data":{"biz_code":..,"biz_msg":..}}`; patches never
    // carry it, so it is only read from objects without a value.
    if event.contains_key("v") {
        return None;
    }
    if event.get("code").is_some_and(is_nonzero) {
        let text = first_text(event, &["msg", "message"]);
        return Some(match (text, event.get("code")) {
            ("", Some(Value::String(code))) => format!("DeepSeek: error code {code}"),
            ("", Some(code)) => format!("DeepSeek: error code {code}"),
            (text, _) => error_text(text),
        });
    }
    let data = event.get("data").and_then(Value::as_object)?;
    if data.get("biz_code").is_some_and(is_nonzero) {
        return Some(error_text(first_text(data, &["biz_msg", "msg"])));
    }
    None
}

fn error_text(detail: &str) -> String {
    let detail = detail.trim();
    if detail.to_ascii_lowercase().contains("regeneration limit") {
        REGENERATION_LIMIT.to_owned()
    } else if detail.is_empty() {
        "DeepSeek: the site reported an error.".to_owned()
    } else {
        format!("DeepSeek: {detail}")
    }
}

/// The first non-empty string among `keys`, or `""`.
fn first_text<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> &'a str {
    keys.iter()
        .filter_map(|key| object.get(*key).and_then(Value::as_str))
        .find(|text| !text.trim().is_empty())
        .unwrap_or("")
}

fn is_nonzero(code: &Value) -> bool {
    match code {
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let events = decode_all(DeepSeekDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// §2.5's reconstructed example, thinking on.
    const EXAMPLE: &str = r#"event: ready
data: {"request_message_id":1,"response_message_id":2}
data: {"v":{"response":{"message_id":2,"fragments":[{"id":1,"type":"THINK","content":"Let me"}],"status":"WIP"}}}
data: {"p":"response/fragments/-1/content","o":"APPEND","v":" think"}
data: {"v":" about it."}
data: {"p":"response/fragments","o":"APPEND","v":[{"id":2,"type":"RESPONSE","content":"Hello"}]}
data: {"v":"! How can I help?"}
data: {"p":"response","o":"BATCH","v":[{"p":"fragments/-1/status","v":"FINISHED"},{"p":"quasi_status","v":"FINISHED"}]}
data: {"p":"response/status","o":"SET","v":"FINISHED"}
event: close
"#;

    const THINKING_OFF: &str = "data: {\"v\":{\"response\":{\"fragments\":[{\"type\":\"RESPONSE\",\"content\":\"Héllo\"}],\"status\":\"WIP\"}}}\r\n\
data: {\"p\":\"response/fragments/-1/content\",\"o\":\"APPEND\",\"v\":\" wörld \u{1F600}\"}\r\n\
data: {\"v\":\"!\"}\r\n\
data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"FINISHED\"}\r\n\
data: [DONE]\r\n";

    const SEARCH: &str = r#"data: {"v":{"response":{"fragments":[{"type":"SEARCH","content":"query: rust"}],"status":"WIP"}}}
data: {"v":" more search"}
data: {"p":"response/fragments","o":"APPEND","v":[{"type":"TOOL_SEARCH","content":"{\"results\":[1]}","results":[{"url":"https://x"}]}]}
data: {"p":"response/fragments/-1/content","o":"APPEND","v":"tool text"}
data: {"v":" continued"}
data: {"p":"response/fragments","o":"APPEND","v":[{"type":"THINK","content":"Found it."}]}
data: {"p":"response/fragments","o":"APPEND","v":[{"type":"RESPONSE","content":"Rust is"}]}
data: {"v":" a language."}
data: {"p":"response/status","v":"FINISHED"}
"#;

    const BATCH: &str = r#"data: {"v":{"response":{"fragments":[],"status":"WIP"}}}
data: {"p":"response","o":"BATCH","v":[{"p":"fragments","o":"APPEND","v":[{"type":"THINK","content":"Hm"}]},{"p":"fragments/-1/content","v":"m."}]}
data: {"p":"response/fragments/-1","o":"BATCH","v":[{"p":"content","v":" Ok"},{"p":"fragments/-1/content","v":"."},{"p":"elapsed_secs","v":1.5}]}
data: {"p":"response","o":"BATCH","v":[{"p":"response/fragments","o":"APPEND","v":[{"type":"RESPONSE","content":"Yes"}]},{"p":"status","v":"FINISHED"},{"p":"fragments/-1/content","v":" ignored"}]}
data: {"v":" also ignored"}
"#;

    const FILTERED: &str = r#"data: {"v":{"response":{"fragments":[{"type":"RESPONSE","content":"The answer is"}],"status":"WIP"}}}
data: {"p":"response/status","o":"SET","v":"CONTENT_FILTER"}
data: {"p":"response/fragments","o":"APPEND","v":[{"type":"TEMPLATE_RESPONSE","content":"Sorry, that's beyond my current scope."}]}
"#;

    /// Every sample with its expected coalesced events, written out literally.
    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        vec![
            (
                EXAMPLE,
                vec![
                    reasoning("Let me think about it."),
                    text("Hello! How can I help?"),
                    STOP,
                ],
            ),
            (THINKING_OFF, vec![text("Héllo wörld 😀!"), STOP]),
            (
                SEARCH,
                vec![reasoning("Found it."), text("Rust is a language."), STOP],
            ),
            (BATCH, vec![reasoning("Hmm. Ok."), text("Yes"), STOP]),
            (
                FILTERED,
                vec![
                    text("The answer is"),
                    StreamEvent::Finished(FinishReason::ContentFilter),
                ],
            ),
        ]
    }

    #[test]
    fn reference_example_keeps_the_opening_snapshot() {
        check(
            EXAMPLE,
            &[
                reasoning("Let me think about it."),
                text("Hello! How can I help?"),
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
            crate::testing::check_every_split(DeepSeekDecoder::new, body, &expected);
        }
    }

    #[test]
    fn emitted_deltas_add_up_to_the_assembled_fragments() {
        let mut decoder = DeepSeekDecoder::new();
        let mut events = Vec::new();
        decoder.feed(EXAMPLE.as_bytes(), &mut events);
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
        let assembled = |channel| {
            let fragments = decoder.answer.fragments.iter();
            fragments
                .filter(|f| f.channel == channel)
                .map(|f| f.content.as_str())
                .collect::<String>()
        };
        assert_eq!(sent_reasoning, "Let me think about it.");
        assert_eq!(sent_text, "Hello! How can I help?");
        assert_eq!(assembled(Channel::Reasoning), sent_reasoning);
        assert_eq!(assembled(Channel::Text), sent_text);
    }

    #[test]
    fn indexes_target_fragments_and_move_the_active_one() {
        check(
            r#"data: {"v":{"response":{"fragments":[{"type":"THINK","content":"a"},{"type":"RESPONSE","content":"b"}]}}}
data: {"v":"c"}
data: {"p":"response/fragments/0/content","o":"APPEND","v":"d"}
data: {"v":"e"}
data: {"p":"response/fragments/-1/status","v":"WIP"}
data: {"v":"f"}
data: {"p":"response/fragments/7/content","v":"out of range"}
data: {"p":"response/fragments/-2/content","o":"SET","v":"ade!"}
data: {"p":"response/fragments/-2/content","o":"SET","v":"rewritten"}
"#,
            &[
                reasoning("a"),
                text("bc"),
                reasoning("de"),
                text("f"),
                StreamEvent::Unknown("path:fragments/<no such index>".into()),
                reasoning("!"),
            ],
        );
    }

    #[test]
    fn fragment_status_does_not_end_the_answer() {
        check(
            r#"data: {"v":{"response":{"fragments":[{"type":"RESPONSE","content":"x"}]}}}
data: {"p":"response/fragments/-1/status","o":"SET","v":"FINISHED"}
data: {"p":"response/quasi_status","v":"FINISHED"}
data: {"v":"y"}
"#,
            &[text("xy")],
        );
    }

    #[test]
    fn lines_that_are_not_patches_are_skipped_and_reported() {
        let body = "event: ready\n: comment\ndata: [DONE]\ndata: not json\ndata: 42\n\
data: {\"request_message_id\":1,\"response_message_id\":2}\n\
data: {\"v\":\"no fragment yet\"}\n\
data: {\"v\":{\"response\":{\"fragments\":[{\"type\":\"RESPONSE\",\"content\":\"\"}]}}}\n\
data: {\"v\":\"ok\"}\nid: 3\nevent: surprise\ndata: {\"p\":\"response/fragments/-1/content\",\"o\":\"PREPEND\",\"v\":\"!\"}\n\
data: {\"p\":\"response/fragments\",\"o\":\"APPEND\",\"v\":[{\"type\":\"MAP\",\"content\":\"m\"}]}\n\
data: {\"p\":\"response/mood\",\"v\":\"happy\"}\ndata: {\"p\":\"response/status\",\"v\":\"PAUSED\"}\n";
        let unknown = |kind: &str| StreamEvent::Unknown(kind.to_owned());
        check(
            body,
            &[
                unknown("text before any fragment"),
                text("ok"),
                unknown("event:surprise"),
                unknown("op:PREPEND"),
                text("!"),
                unknown("fragment:MAP"),
                text("m"),
                unknown("path:mood"),
                unknown("status:PAUSED"),
            ],
        );
        let mut decoder = DeepSeekDecoder::new();
        decode_all_into(&mut decoder, body);
        let report = decoder.report();
        assert_eq!(report.malformed, 2);
        assert_eq!(
            report.first_malformed,
            Some((4, "data: not json".to_owned()))
        );
        assert_eq!(report.unknown.len(), 6);
        assert!(!report.ended);
        let problem = report.problem().unwrap_or_default();
        assert!(
            problem.contains("truncated: the body ends without DeepSeek's end marker"),
            "{problem}"
        );
        assert!(
            problem.contains("line 4 does not hold a JSON object (1 more like it)"),
            "{problem}"
        );
    }

    #[test]
    fn a_whole_body_has_no_problem_and_a_cut_one_names_the_cut_line() {
        let mut decoder = DeepSeekDecoder::new();
        decode_all_into(&mut decoder, EXAMPLE);
        assert_eq!(decoder.report().problem(), None);
        let cut = EXAMPLE.find("! How").unwrap_or(0);
        let mut decoder = DeepSeekDecoder::new();
        decode_all_into(&mut decoder, &EXAMPLE[..cut]);
        let report = decoder.report();
        assert_eq!(
            report.malformed, 0,
            "the cut line is not counted as malformed"
        );
        assert_eq!(report.cut_line.as_deref(), Some("data: {\"v\":\""));
        assert_eq!(
            report.problem().unwrap_or_default(),
            "truncated: the body ends inside a line (`data: {\"v\":\"`), without DeepSeek's end \
             marker (`response/status` FINISHED or CONTENT_FILTER)"
        );
    }

    fn decode_all_into(decoder: &mut DeepSeekDecoder, body: &str) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        decoder.feed(body.as_bytes(), &mut events);
        decoder.finish(&mut events);
        events
    }

    #[test]
    fn the_reply_id_comes_from_the_ready_event() {
        let mut decoder = DeepSeekDecoder::new();
        let mut events = Vec::new();
        assert_eq!(decoder.reply_id(), None);
        decoder.feed(
            b"event: ready\ndata: {\"request_message_id\":3,\"response_mess",
            &mut events,
        );
        assert_eq!(decoder.reply_id(), None);
        decoder.feed(b"age_id\":4}\n\n", &mut events);
        assert_eq!(decoder.reply_id(), Some("4"));
        assert!(events.is_empty());
    }

    #[test]
    fn finish_flushes_an_unterminated_last_line_once() {
        let mut decoder = DeepSeekDecoder::new();
        let mut events = Vec::new();
        decoder.feed(
            br#"data: {"v":{"response":{"fragments":[{"type":"RESPONSE","content":"end"}]}}}"#,
            &mut events,
        );
        assert_eq!(events, []);
        decoder.finish(&mut events);
        decoder.finish(&mut events);
        assert_eq!(events, [text("end")]);
    }

    #[test]
    fn regeneration_limit_is_an_error_and_cuts_the_stream() {
        for line in [
            r#"{"finish_reason":"regeneration_limit"}"#,
            r#"{"type":"error","content":"You have reached the Regeneration Limit."}"#,
            r#"{"p":"response/finish_reason","v":"regeneration_limit"}"#,
            r#"{"p":"response/fragments","o":"APPEND","v":[{"type":"ERROR","content":"regeneration limit reached"}]}"#,
        ] {
            let body = format!(
                "data: {{\"v\":{{\"response\":{{\"fragments\":[{{\"type\":\"RESPONSE\",\"content\":\"Hi\"}}]}}}}}}\n\
data: {line}\ndata: {{\"v\":\" lost\"}}\n"
            );
            check(&body, &[text("Hi"), error(REGENERATION_LIMIT)]);
        }
    }

    #[test]
    fn other_errors_name_the_provider() {
        check(
            "data: {\"type\":\"error\",\"content\":\"Server busy, please try again later.\"}\n",
            &[error("DeepSeek: Server busy, please try again later.")],
        );
        check(
            "data: {\"code\":40003,\"msg\":\"INVALID_TOKEN\",\"data\":null}\n",
            &[error("DeepSeek: INVALID_TOKEN")],
        );
        check(
            "data: {\"code\":\"500\"}\n",
            &[error("DeepSeek: error code 500")],
        );
        check(
            "data: {\"code\":0,\"msg\":\"\",\"data\":{\"biz_code\":3,\"biz_msg\":\"PoW failed\"}}\n",
            &[error("DeepSeek: PoW failed")],
        );
        check(
            "data: {\"error\":{\"message\":\"rate limited\"}}\n",
            &[error("DeepSeek: rate limited")],
        );
        // A refused request answered with plain JSON instead of SSE.
        check(
            "{\"code\":40002,\"msg\":\"Missing Token\",\"data\":null}",
            &[error("DeepSeek: Missing Token")],
        );
        // A successful envelope is not an error.
        check(
            "data: {\"code\":0,\"msg\":\"\",\"data\":{\"biz_code\":0}}\n",
            &[],
        );
    }
}
