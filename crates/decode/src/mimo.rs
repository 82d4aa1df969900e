//! Xiaomi MiMo's stream format: SSE with named events.
//!
//! The completion request (`POST /open-apis/bot/chat?…`) answers with `event:` / `data:` pairs:
//!
//! - `message`: `{"type":"text","content":"…"}`, a piece of the reply. The model's thinking
//!   arrives inline, wrapped in `<think>` … `</think>`; a tag may be cut across events, so text
//!   that may be the start of a tag is held back until the next piece shows what it is. Every
//!   `\u0000` in the content is stripped. Other `type`s carry no answer text: `search` (web
//!   search payloads) is dropped silently, anything else is skipped and reported.
//! - `usage`: the site's token counts, `promptTokens` / `completionTokens` / `totalTokens`, or
//!   a `nativeUsage` object (`prompt_tokens`… or the camel-case names).
//! - `sensitive_query`: the site's content filter refused the prompt; a blocked-content error
//!   ([`BLOCKED`]) that ends the answer.
//! - `finish`: the answer is complete.
//!
//! A `data:` line without an `event:` line is a `message`, as SSE defines. An `event:` name the
//! decoder does not know is skipped and reported ([`crate::Report`]). A refused request may be
//! answered with one bare JSON object (`{"code":…,"msg":"…"}`) instead of SSE; its message becomes
//! the error.

use serde_json::{Map, Value};

use crate::lines::{LineDecoder, LineState, NamedLine, NamedSse};
use crate::think::{Piece, ThinkSplitter};
use crate::{FinishReason, Report, StreamEvent, Usage};

/// The error shown when MiMo's content filter refused the request (`event: sensitive_query`).
pub const BLOCKED: &str = "Xiaomi MiMo blocked this request: its provider-side sensitive query \
                           filter refused the content. Rephrase the prompt and try again.";

/// The error shown when the body ended without a single event.
pub const EMPTY_STREAM: &str = "Xiaomi MiMo returned an empty stream. Try again.";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "Xiaomi MiMo's end marker (`event: finish`)";

/// Decodes one Xiaomi MiMo completion response body.
pub type MimoDecoder = LineDecoder<State>;

impl LineState for State {
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

/// The decoding state of one response (opaque; the decoder is [`MimoDecoder`]).
#[derive(Debug, Default)]
pub struct State {
    /// The name of the event being read.
    sse: NamedSse,
    /// Whether any event carried JSON; without one the body counts as empty.
    saw_event: bool,
    /// Set when the answer finished or failed; later lines are ignored.
    ended: bool,
    /// Splits the content into thinking and answer text.
    think: ThinkSplitter,
    /// Whether any answer text was sent (the answer's leading line breaks are markup).
    answer_started: bool,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
}

impl State {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        let Some(NamedLine {
            event: name,
            payload,
            is_data,
        }) = self.sse.line(line)
        else {
            return;
        };
        if self.ended {
            return;
        }
        if is_data && name == "finish" {
            // Its payload is not needed (and not always JSON).
            self.saw_event = true;
            return self.finish(out);
        }
        let Ok(Value::Object(data)) = serde_json::from_str::<Value>(payload) else {
            if is_data && payload == "[DONE]" {
                return;
            }
            self.report.malformed(line);
            return;
        };
        if !is_data {
            return self.bare(&data, out);
        }
        self.saw_event = true;
        match name.as_str() {
            "message" => self.message(&data, out),
            "usage" => out.push(StreamEvent::Usage(parse_usage(&data))),
            "sensitive_query" => self.fail(BLOCKED.to_owned(), out),
            other => self.report.unknown(format!("event:{other}"), out),
        }
    }

    fn message(&mut self, data: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let kind = data.get("type").and_then(Value::as_str).unwrap_or("text");
        match kind {
            "text" => {
                if let Some(content) = data.get("content").and_then(Value::as_str) {
                    let content = content.replace('\u{0}', "");
                    let pieces = self.think.push(&content);
                    self.send(pieces, out);
                }
            }
            // Web search payloads: never answer text.
            "search" => {}
            other => self.report.unknown(format!("type:{other}"), out),
        }
    }

    /// A bare JSON line: a refused request's error, or something unknown.
    fn bare(&mut self, data: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let message = ["msg", "message", "detail", "error"]
            .iter()
            .find_map(|key| data.get(*key).and_then(Value::as_str))
            .filter(|m| !m.trim().is_empty());
        let failed = data
            .get("code")
            .is_some_and(|code| code.as_i64() != Some(0) && !code.is_null());
        match message {
            Some(message) if failed || data.contains_key("error") => {
                self.fail(format!("Xiaomi MiMo: {}", message.trim()), out)
            }
            _ => self
                .report
                .unknown("bare JSON without an error".into(), out),
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.flush(out);
        out.push(StreamEvent::Finished(FinishReason::Stop));
        self.ended = true;
        self.report.end();
    }

    fn fail(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        self.flush(out);
        out.push(StreamEvent::Error(message));
        self.ended = true;
        self.report.end();
    }

    fn end_of_body(&mut self, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.flush(out);
        if !self.saw_event {
            out.push(StreamEvent::Error(EMPTY_STREAM.to_owned()));
        }
        self.ended = true;
    }

    /// Sends what the think splitter still held back: it was no tag after all.
    fn flush(&mut self, out: &mut Vec<StreamEvent>) {
        let pieces = self.think.flush();
        self.send(pieces, out);
    }

    fn send(&mut self, pieces: Vec<Piece>, out: &mut Vec<StreamEvent>) {
        for piece in pieces {
            match piece {
                Piece::Reasoning(text) => {
                    if !text.is_empty() {
                        out.push(StreamEvent::Reasoning(text));
                    }
                }
                Piece::Text(text) => {
                    // The answer follows `</think>` after a line break; that break is markup.
                    let text = if self.answer_started {
                        text.as_str()
                    } else {
                        text.trim_start_matches(['\n', '\r'])
                    };
                    if !text.is_empty() {
                        self.answer_started = true;
                        out.push(StreamEvent::Text(text.to_owned()));
                    }
                }
            }
        }
    }
}

/// The site's counts: camel-case at the top, else in `nativeUsage` (either spelling); a missing
/// total is the sum.
fn parse_usage(data: &Map<String, Value>) -> Usage {
    let native = data.get("nativeUsage").and_then(Value::as_object);
    let count = |camel: &str, snake: &str| -> u64 {
        [data, native.unwrap_or(data)]
            .into_iter()
            .flat_map(|map| [map.get(camel), map.get(snake)])
            .flatten()
            .find_map(Value::as_u64)
            .unwrap_or(0)
    };
    let prompt_tokens = count("promptTokens", "prompt_tokens");
    let completion_tokens = count("completionTokens", "completion_tokens");
    let total = count("totalTokens", "total_tokens");
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: if total == 0 {
            prompt_tokens + completion_tokens
        } else {
            total
        },
        cached_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decode;
    use crate::{coalesce, decode_all};

    const STOP: StreamEvent = StreamEvent::Finished(FinishReason::Stop);

    fn text(s: &str) -> StreamEvent {
        StreamEvent::Text(s.to_owned())
    }
    fn reasoning(s: &str) -> StreamEvent {
        StreamEvent::Reasoning(s.to_owned())
    }
    fn error(s: &str) -> StreamEvent {
        StreamEvent::Error(s.to_owned())
    }

    fn check(body: &str, expected: &[StreamEvent]) {
        let events = decode_all(MimoDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// Thinking cut mid-tag, a NUL, a search payload, usage, finish.
    const THINKING: &str = "event: message\n\
data: {\"type\":\"text\",\"content\":\"\\u0000\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\"<thi\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\"nk>Let me think ü\"}\n\n\
event: message\n\
data: {\"type\":\"search\",\"content\":\"{\\\"results\\\":[1]}\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\" more.</th\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\"ink>\\n\\nHello\\u0000 😀\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\" <b>world</b> <thin\"}\n\n\
event: usage\n\
data: {\"promptTokens\":12,\"completionTokens\":5,\"totalTokens\":17}\n\n\
event: finish\n\
data: {\"content\":\"[DONE]\"}\n\n";

    /// No thinking; `nativeUsage`; data lines without an event name are messages.
    const PLAIN: &str = "data: {\"type\":\"text\",\"content\":\"Just text\"}\n\n\
event: usage\n\
data: {\"nativeUsage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n\
event: finish\n\
data: [DONE]\n\n";

    /// The filter fires after some text.
    const SENSITIVE: &str = "event: message\n\
data: {\"type\":\"text\",\"content\":\"<think>Hmm\"}\n\n\
event: sensitive_query\n\
data: {\"content\":\"sensitive\"}\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\"ignored\"}\n\n";

    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        vec![
            (
                THINKING,
                vec![
                    reasoning("Let me think ü more."),
                    text("Hello 😀 <b>world</b> "),
                    StreamEvent::Usage(Usage {
                        prompt_tokens: 12,
                        completion_tokens: 5,
                        total_tokens: 17,
                        cached_tokens: None,
                    }),
                    // Held back as a possible `<think>` until the end showed it was text.
                    text("<thin"),
                    STOP,
                ],
            ),
            (
                PLAIN,
                vec![
                    text("Just text"),
                    StreamEvent::Usage(Usage {
                        prompt_tokens: 3,
                        completion_tokens: 2,
                        total_tokens: 5,
                        cached_tokens: None,
                    }),
                    STOP,
                ],
            ),
            (SENSITIVE, vec![reasoning("Hmm"), error(BLOCKED)]),
        ]
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
            crate::testing::check_every_split(MimoDecoder::new, body, &expected);
        }
    }

    #[test]
    fn a_blocked_request_ends_the_report_cleanly() {
        let mut decoder = MimoDecoder::new();
        let _ = decode_all(&mut decoder, SENSITIVE.as_bytes());
        assert!(decoder.report().ended);
        assert_eq!(decoder.report().problem(), None);
    }

    #[test]
    fn a_refused_request_answered_with_bare_json_is_an_error() {
        check(
            r#"{"code":429,"msg":"Too many requests, please try again later"}"#,
            &[error(
                "Xiaomi MiMo: Too many requests, please try again later",
            )],
        );
        // Bare JSON that reports no failure is skipped and reported; the body is then empty.
        let mut decoder = MimoDecoder::new();
        let events = decode_all(&mut decoder, br#"{"code":0,"msg":"ok"}"#);
        assert_eq!(
            events,
            [
                StreamEvent::Unknown("bare JSON without an error".into()),
                error(EMPTY_STREAM)
            ]
        );
    }

    #[test]
    fn unknown_events_and_types_are_skipped_and_reported() {
        let body = "event: title\n\
data: {\"title\":\"Greeting\"}\n\n\
event: message\n\
data: {\"type\":\"image\",\"content\":\"x\"}\n\n\
event: message\n\
data: {\"type\":\"image\",\"content\":\"y\"}\n\n\
event: message\n\
data: {oops\n\n\
event: message\n\
data: {\"type\":\"text\",\"content\":\"Hi\"}\n\n\
event: finish\n\
data: {}\n\n";
        let mut decoder = MimoDecoder::new();
        let events = decode_all(&mut decoder, body.as_bytes());
        assert_eq!(
            coalesce(&events),
            [
                StreamEvent::Unknown("event:title".into()),
                StreamEvent::Unknown("type:image".into()),
                text("Hi"),
                STOP
            ]
        );
        let report = decoder.report();
        assert_eq!(report.unknown.get("type:image"), Some(&2));
        assert_eq!(report.malformed, 1);
        assert_eq!(
            report.problem().unwrap_or_default(),
            "malformed: line 11 does not hold a JSON object: `data: {oops`"
        );
    }

    #[test]
    fn a_body_cut_before_finish_is_truncated_and_keeps_its_text() {
        let cut = THINKING.find("event: usage").unwrap_or(0) + 4;
        let mut decoder = MimoDecoder::new();
        let events = decode_all(&mut decoder, &THINKING.as_bytes()[..cut]);
        // The held `<thin` is plain text after all.
        assert_eq!(
            coalesce(&events),
            [
                reasoning("Let me think ü more."),
                text("Hello 😀 <b>world</b> <thin")
            ]
        );
        assert_eq!(
            decoder.report().problem().unwrap_or_default(),
            "truncated: the body ends inside a line (`even`), without Xiaomi MiMo's end marker \
             (`event: finish`)"
        );
    }

    #[test]
    fn a_body_without_events_is_the_empty_stream_error() {
        for body in ["", ": ping\n\n", "event: message\n"] {
            check(body, &[error(EMPTY_STREAM)]);
        }
    }

    #[test]
    fn finish_twice_adds_nothing() {
        let mut decoder = MimoDecoder::new();
        let mut events = Vec::new();
        decoder.finish(&mut events);
        decoder.finish(&mut events);
        assert_eq!(events, [error(EMPTY_STREAM)]);
    }
}
