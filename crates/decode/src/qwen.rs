//! QwenLM's stream format (chat.qwen.ai `POST /api/v2/chat/completions?chat_id=…`): SSE
//! `data:` events shaped like OpenAI chunks.
//!
//! Each event carries `choices[0].delta` with `role`, `content`, `phase`, `status` and `extra`,
//! and may carry a top-level `usage` (`input_tokens`, `output_tokens`, `total_tokens`,
//! `input_tokens_details.cached_tokens`). By `phase`:
//!
//! - `thinking_summary`: Qwen shows summaries, not raw chain-of-thought. Each event re-sends the
//!   whole summary so far in `extra.summary_title.content` and `extra.summary_thought.content`
//!   (each a string or a list of strings, **cumulative**). The sections are rebuilt as
//!   `title\nthought` joined by blank lines, and only the suffix the client has not seen is
//!   forwarded as reasoning.
//! - `web_search`: search progress and results; never forwarded.
//! - `answer`: `content` is the next piece of the answer; `status: "finished"` ends it.
//!
//! Events without a phase continue the previous one. The opening `{"response.created":…}`
//! event has no `choices` and is skipped. Usage re-sent unchanged is not repeated.
//!
//! Failures come as an `error` object (`code`, `details`), in an SSE event or as the bare JSON
//! body of a refused request (`{"success":false,"data":{"code":…,"details":…}}`). Content the
//! site blocks (`data_inspection_failed`) gives [`BLOCKED`], a rate limit [`RATE_LIMITED`];
//! both keep the site's own words in parentheses.
//!
//! A phase or event shape the decoder does not know is skipped and reported ([`crate::Report`]).

use serde_json::{Map, Value};

use crate::glm::missing_suffix;
use crate::lines::{LineDecoder, LineState, SseLine};
use crate::{FinishReason, Report, StreamEvent, Usage};

/// The error shown when Qwen blocks the request or the reply (`data_inspection_failed`).
/// Its words are the ones the reference's clients match to stop retrying.
pub const BLOCKED: &str = "Qwen censored this request (data_inspection_failed): the site blocked the content. Rephrase it.";

/// The error shown when Qwen refuses a request for its rate limit.
pub const RATE_LIMITED: &str =
    "Qwen rate limit hit: the site refused the request. Try again later.";

/// The error shown when the body ended without a single event.
pub const EMPTY_STREAM: &str = "Qwen returned an empty stream. Try again.";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "Qwen's end marker (`phase` answer with `status` finished)";

/// Words in an error code or text that mean "blocked content".
const BLOCKED_HINTS: [&str; 3] = ["data_inspection_failed", "inappropriate", "censored"];

/// Words in an error code or text that mean "rate limit".
const RATE_HINTS: [&str; 5] = [
    "ratelimited",
    "rate limit",
    "too many requests",
    "429",
    "limit reached",
];

/// Decodes one Qwen completion response body.
pub type QwenDecoder = LineDecoder<Message>;

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
    Answer,
    ThinkingSummary,
    WebSearch,
    Unknown,
}

impl Phase {
    fn parse(phase: &str) -> Phase {
        match phase {
            "answer" => Phase::Answer,
            "thinking_summary" => Phase::ThinkingSummary,
            "web_search" => Phase::WebSearch,
            _ => Phase::Unknown,
        }
    }
}

/// The decoding state of one response (opaque; the decoder is [`QwenDecoder`]).
#[derive(Debug, Default)]
pub struct Message {
    /// Whether any `data:` line held JSON; without one the body counts as empty.
    saw_event: bool,
    /// Set when the answer finished or failed; later lines are ignored.
    ended: bool,
    /// The phase of the last delta that named one.
    phase: Phase,
    /// All reasoning sent so far, to align the next cumulative summary with.
    reasoning_sent: String,
    /// The last usage sent, so an unchanged re-send is not repeated.
    usage_sent: Option<Usage>,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
}

impl Message {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        if self.ended {
            return;
        }
        let (payload, is_data) = match SseLine::of(line) {
            SseLine::Data("" | "[DONE]") | SseLine::Other => return,
            SseLine::Event(name) => return self.report.unknown(format!("event:{name}"), out),
            SseLine::Data(payload) => (payload, true),
            // A refused request is answered with one bare JSON object instead of SSE.
            SseLine::Bare(line) => (line, false),
        };
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(payload) else {
            self.report.malformed(line);
            return;
        };
        self.saw_event |= is_data;
        if let Some(error) = find_error(&event) {
            out.push(StreamEvent::Error(error_message(error)));
            self.ended = true;
            self.report.end();
            return;
        }
        if !is_data {
            return self
                .report
                .unknown("bare JSON without an error".into(), out);
        }
        let delta = event
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
            .and_then(|choice| choice.get("delta"))
            .and_then(Value::as_object);
        if let Some(delta) = delta {
            self.apply(delta, out);
        }
        if let Some(Value::Object(usage)) = event.get("usage") {
            self.send_usage(parse_usage(usage), out);
        }
        if self.ended {
            out.push(StreamEvent::Finished(FinishReason::Stop));
        } else if delta.is_none() && !event.contains_key("usage") {
            let kind = match event.keys().next() {
                Some(key) if key == "response.created" => return,
                Some(key) => format!("event without choices:{key}"),
                None => "empty event".to_owned(),
            };
            self.report.unknown(kind, out);
        }
    }

    fn apply(&mut self, delta: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if let Some(phase) = delta.get("phase").and_then(Value::as_str) {
            self.phase = Phase::parse(phase);
            if self.phase == Phase::Unknown {
                self.report.unknown(format!("phase:{phase}"), out);
            }
        }
        match self.phase {
            Phase::ThinkingSummary => {
                if let Some(extra) = delta.get("extra").and_then(Value::as_object) {
                    let full = summary(extra);
                    let missing = missing_suffix(&self.reasoning_sent, &full).to_owned();
                    if !missing.is_empty() {
                        self.reasoning_sent.push_str(&missing);
                        out.push(StreamEvent::Reasoning(missing));
                    }
                }
            }
            Phase::Answer => {
                if let Some(content) = delta.get("content").and_then(Value::as_str)
                    && !content.is_empty()
                {
                    out.push(StreamEvent::Text(content.to_owned()));
                }
                if delta.get("status").and_then(Value::as_str) == Some("finished") {
                    // `Finished` goes out after this event's usage.
                    self.ended = true;
                    self.report.end();
                }
            }
            Phase::WebSearch | Phase::Unknown => {}
        }
    }

    fn send_usage(&mut self, usage: Usage, out: &mut Vec<StreamEvent>) {
        if self.usage_sent.as_ref() != Some(&usage) {
            self.usage_sent = Some(usage.clone());
            out.push(StreamEvent::Usage(usage));
        }
    }

    fn end_of_body(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.ended && !self.saw_event {
            out.push(StreamEvent::Error(EMPTY_STREAM.to_owned()));
        }
        self.ended = true;
    }
}

/// The whole summary so far: `title\nthought` sections joined by blank lines.
fn summary(extra: &Map<String, Value>) -> String {
    let parts = |key: &str| -> Vec<String> {
        match extra.get(key).and_then(|field| field.get("content")) {
            Some(Value::String(text)) => vec![text.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().unwrap_or_default().to_owned())
                .collect(),
            _ => Vec::new(),
        }
    };
    let titles = parts("summary_title");
    let thoughts = parts("summary_thought");
    let sections = titles.len().max(thoughts.len());
    (0..sections)
        .map(|i| {
            [titles.get(i), thoughts.get(i)]
                .into_iter()
                .flatten()
                .map(|part| part.trim())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|section| !section.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The `error` of an event, or of a refused request's `{"success":false,"data":{…}}` body.
fn find_error(event: &Map<String, Value>) -> Option<&Value> {
    if let Some(error) = event.get("error").filter(|error| is_present(error)) {
        return Some(error);
    }
    if event.get("success").and_then(Value::as_bool) == Some(false) {
        return Some(
            event
                .get("data")
                .filter(|d| is_present(d))
                .unwrap_or(&Value::Null),
        );
    }
    None
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

/// The user-facing message for an error.
fn error_message(error: &Value) -> String {
    let (code, detail) = match error {
        Value::String(text) => (String::new(), text.trim().to_owned()),
        Value::Object(fields) => {
            let code = match fields.get("code") {
                Some(Value::String(code)) => code.trim().to_owned(),
                Some(Value::Number(code)) => code.to_string(),
                _ => String::new(),
            };
            let detail = ["details", "detail", "message", "msg"]
                .iter()
                .filter_map(|key| fields.get(*key).and_then(Value::as_str))
                .map(str::trim)
                .find(|text| !text.is_empty())
                .unwrap_or("");
            (code, detail.to_owned())
        }
        Value::Null => (String::new(), String::new()),
        other => (String::new(), other.to_string()),
    };
    let words = format!("{code} {detail}").to_lowercase();
    let with_detail = |base: &str| match detail.as_str() {
        "" => base.to_owned(),
        detail => format!("{base} ({detail})"),
    };
    if BLOCKED_HINTS.iter().any(|hint| words.contains(hint)) {
        return with_detail(BLOCKED);
    }
    if RATE_HINTS.iter().any(|hint| words.contains(hint)) {
        return with_detail(RATE_LIMITED);
    }
    match (detail.as_str(), code.as_str()) {
        ("", "") => "Qwen: the site reported an error.".to_owned(),
        ("", code) => format!("Qwen: {code}"),
        (detail, _) => format!("Qwen: {detail}"),
    }
}

fn parse_usage(usage: &Map<String, Value>) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let prompt_tokens = count("input_tokens")
        .or_else(|| count("prompt_tokens"))
        .unwrap_or(0);
    let completion_tokens = count("output_tokens")
        .or_else(|| count("completion_tokens"))
        .unwrap_or(0);
    let total_tokens = match count("total_tokens") {
        Some(total) if total > 0 => total,
        _ => prompt_tokens.saturating_add(completion_tokens),
    };
    let cached_tokens = ["input_tokens_details", "prompt_tokens_details"]
        .iter()
        .find_map(|key| usage.get(*key))
        .and_then(|details| details.get("cached_tokens"))
        .and_then(Value::as_u64);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens,
        cached_tokens,
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

    fn usage(prompt: u64, completion: u64, total: u64) -> StreamEvent {
        StreamEvent::Usage(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: total,
            cached_tokens: None,
        })
    }

    const STOP: StreamEvent = StreamEvent::Finished(FinishReason::Stop);

    fn check(body: &str, expected: &[StreamEvent]) {
        let events = decode_all(QwenDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// The reference's reconstructed example.
    const EXAMPLE: &str = r#"data: {"response.created":{"chat_id":"c1","response_id":"r1"}}
data: {"choices":[{"delta":{"role":"assistant","phase":"thinking_summary","extra":{"summary_title":{"content":["Planning"]},"summary_thought":{"content":["Greet back."]}}}}]}
data: {"choices":[{"delta":{"role":"assistant","content":"Hi","phase":"answer","status":"typing"}}]}
data: {"choices":[{"delta":{"role":"assistant","content":" there!","phase":"answer","status":"typing"}}],"usage":{"input_tokens":900,"output_tokens":5,"total_tokens":905}}
data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"answer","status":"finished"}}]}
"#;

    /// A summary that grows across events, as strings and then as a list with a second
    /// section; search results between; usage re-sent unchanged.
    const GROWING: &str = r#"data: {"choices":[{"delta":{"role":"assistant","phase":"thinking_summary","extra":{"summary_title":{"content":"Plan"},"summary_thought":{"content":"The user"}}}}]}
data: {"choices":[{"delta":{"phase":"thinking_summary","extra":{"summary_title":{"content":"Plan"},"summary_thought":{"content":"The user greets ü😀."}}}}]}
data: {"choices":[{"delta":{"phase":"web_search","content":"","extra":{"web_search_info":[{"url":"https://example.com","title":"Secret result"}]}}}]}
data: {"choices":[{"delta":{"phase":"thinking_summary","extra":{"summary_title":{"content":["Plan","Answer"]},"summary_thought":{"content":["The user greets ü😀.","Say hi."]}}}}]}
data: {"choices":[{"delta":{"phase":"thinking_summary","status":"finished","extra":{"summary_title":{"content":["Plan","Answer"]},"summary_thought":{"content":["The user greets ü😀.","Say hi."]}}}}],"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}
data: {"choices":[{"delta":{"phase":"answer","content":"你好","status":"typing"}}],"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}
data: {"choices":[{"delta":{"content":"！"}}],"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5,"input_tokens_details":{"cached_tokens":1}}}
data: {"choices":[{"delta":{"phase":"answer","content":"","status":"finished"}}]}
data: {"choices":[{"delta":{"phase":"answer","content":"ignored"}}]}
"#;

    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        vec![
            (
                EXAMPLE,
                vec![
                    reasoning("Planning\nGreet back."),
                    text("Hi there!"),
                    usage(900, 5, 905),
                    STOP,
                ],
            ),
            (
                GROWING,
                vec![
                    reasoning("Plan\nThe user greets ü😀.\n\nAnswer\nSay hi."),
                    usage(3, 1, 4),
                    text("你好"),
                    text("！"),
                    StreamEvent::Usage(Usage {
                        prompt_tokens: 3,
                        completion_tokens: 2,
                        total_tokens: 5,
                        cached_tokens: Some(1),
                    }),
                    STOP,
                ],
            ),
        ]
    }

    #[test]
    fn every_sample_decodes_to_its_expected_events() {
        for (body, expected) in samples() {
            let mut expected = expected;
            expected = coalesce(&expected);
            check(body, &expected);
        }
    }

    #[test]
    fn any_split_gives_the_same_events() {
        for (body, expected) in samples() {
            crate::testing::check_every_split(QwenDecoder::new, body, &coalesce(&expected));
        }
    }

    #[test]
    fn only_the_new_suffix_of_a_summary_is_sent() {
        let events = decode_all(QwenDecoder::new(), GROWING.as_bytes());
        let pieces: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Reasoning(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            pieces,
            ["Plan\nThe user", " greets ü😀.", "\n\nAnswer\nSay hi."]
        );
    }

    #[test]
    fn search_payloads_never_reach_the_text() {
        let events = decode_all(QwenDecoder::new(), GROWING.as_bytes());
        let all = format!("{events:?}");
        assert!(!all.contains("Secret result"), "{all}");
        assert!(!all.contains("example.com"), "{all}");
    }

    #[test]
    fn blocked_content_and_rate_limits_get_their_messages() {
        check(
            r#"data: {"choices":[{"delta":{"phase":"answer","content":"Part"}}]}
data: {"error":{"code":"data_inspection_failed","details":"Input data may contain inappropriate content."}}
data: {"choices":[{"delta":{"phase":"answer","content":" ignored"}}]}
"#,
            &[
                text("Part"),
                error(&format!(
                    "{BLOCKED} (Input data may contain inappropriate content.)"
                )),
            ],
        );
        check(
            r#"{"success":false,"request_id":"x","data":{"code":"RateLimited","details":"You have reached the rate limit. Please wait."}}"#,
            &[error(&format!(
                "{RATE_LIMITED} (You have reached the rate limit. Please wait.)"
            ))],
        );
        check(
            r#"data: {"error":{"code":"Bad_Request","details":"The chat is in progress!"}}
"#,
            &[error("Qwen: The chat is in progress!")],
        );
        check(
            r#"{"success":false}"#,
            &[error("Qwen: the site reported an error.")],
        );
        assert!(BLOCKED.to_lowercase().contains("qwen censored"));
        assert!(RATE_LIMITED.to_lowercase().contains("rate limit"));
    }

    #[test]
    fn a_body_without_events_is_the_empty_stream_error() {
        for body in ["", ": keep-alive\n\n", "data: [DONE]\n", "data: {\"choi"] {
            check(body, &[error(EMPTY_STREAM)]);
        }
    }

    #[test]
    fn unknown_phases_and_shapes_are_skipped_and_reported() {
        let body = r#"event: hello
data: {"choices":[{"delta":{"phase":"answer","content":"Hi"}}]}
data: {"choices":[{"delta":{"phase":"plan","content":"secret"}}]}
data: {"choices":[{"delta":{"content":"more secret"}}]}
data: {"title":"x"}
data: {oops
data: {"choices":[{"delta":{"phase":"answer","content":"!","status":"finished"}}]}
"#;
        let unknown = |kind: &str| StreamEvent::Unknown(kind.to_owned());
        check(
            body,
            &[
                unknown("event:hello"),
                text("Hi"),
                unknown("phase:plan"),
                unknown("event without choices:title"),
                text("!"),
                STOP,
            ],
        );
        let mut decoder = QwenDecoder::new();
        let _ = decode_all(&mut decoder, body.as_bytes());
        let report = decoder.report();
        assert_eq!(report.malformed, 1);
        assert!(report.ended);
    }

    #[test]
    fn a_body_cut_before_finished_is_truncated() {
        let cut = EXAMPLE.find("\"status\":\"finished\"").unwrap_or(0);
        let mut decoder = QwenDecoder::new();
        let mut events = Vec::new();
        decoder.feed(&EXAMPLE.as_bytes()[..cut], &mut events);
        decoder.finish(&mut events);
        let problem = decoder.report().problem().unwrap_or_default();
        assert!(
            problem.starts_with("truncated: the body ends inside a line"),
            "{problem}"
        );
        assert!(problem.ends_with(END_MARKER), "{problem}");
        let mut decoder = QwenDecoder::new();
        let _ = decode_all(&mut decoder, EXAMPLE.as_bytes());
        assert_eq!(decoder.report().problem(), None);
    }

    #[test]
    fn finish_twice_adds_nothing() {
        let mut decoder = QwenDecoder::new();
        let mut events = Vec::new();
        decoder.finish(&mut events);
        decoder.finish(&mut events);
        assert_eq!(events, [error(EMPTY_STREAM)]);
    }
}
