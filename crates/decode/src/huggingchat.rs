//! HuggingChat's stream format: concatenated JSON objects, one message update each.
//!
//! The message request (`POST /chat/conversation/<id>`) answers with a body of JSON objects one
//! after another, not SSE. The site writes one per line, but nothing in the format needs the
//! line breaks: the decoder reads objects as they complete, whatever whitespace (or none) lies
//! between them, and an object spread over several lines is read once its last line came.
//!
//! - `{"type":"stream","token":"…"}`: the next piece of the reply. The site pads tokens with
//!   `\u0000`, which is stripped. A reasoning model's thinking arrives inline between `<think>`
//!   and `</think>`, the tags possibly cut across tokens (the shared `think` splitter).
//! - `{"type":"finalAnswer","text":"…"}`: the whole reply once more; used only when nothing
//!   streamed (its text is split at the tags the same way). It is the last update the site
//!   sends, so it ends the answer (the end marker a report waits for); a body that ends without
//!   it still keeps its text.
//! - `{"type":"status","status":"…","message":"…"}`: `started`, `keepAlive`, `finished` and
//!   the like are dropped; a status whose words name a limit or quota is the rate-limit error
//!   ([`RATE_LIMITED`]), `status: "error"` the site's error.
//! - any object with an `error` key: the site's error (rate-limit words give
//!   [`RATE_LIMITED`]).
//! - the other updates (`title`, `webSearch`, `tool`, `file`, `reasoning`, `routerMetadata`)
//!   never carry answer text and are dropped silently; a `type` not in that list is dropped
//!   and reported.
//!
//! An answer that ends without any text or thinking is [`NO_TEXT`]; a body without a single
//! object is [`EMPTY_STREAM`].

use serde_json::{Map, Value};

use crate::lines::{LineDecoder, LineState};
use crate::think::{Piece, ThinkSplitter};
use crate::{FinishReason, Report, StreamEvent};

/// The error shown when the answer ended without any text.
pub const NO_TEXT: &str = "HuggingChat returned no assistant text: the conversation ended \
                           without an answer. Try again, or open the conversation on the site.";

/// The error shown when the site refused the request for its rate limit or quota.
pub const RATE_LIMITED: &str = "HuggingChat rate limit hit: the site refused the message. Try \
                                again later, or add lanes with other accounts.";

/// The error shown when the body ended without a single object.
pub const EMPTY_STREAM: &str = "HuggingChat returned an empty stream. Try again.";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "HuggingChat's end marker (a `finalAnswer` update)";

/// Update types that carry no answer text, dropped without a report.
pub const NON_ANSWER_TYPES: [&str; 6] = [
    "title",
    "webSearch",
    "tool",
    "file",
    "reasoning",
    "routerMetadata",
];

/// Statuses that say nothing about the answer, dropped without a report.
const QUIET_STATUSES: [&str; 5] = ["started", "keepAlive", "finished", "pong", "title"];

/// Words that make a status or an error the rate limit, lowercase.
const LIMIT_HINTS: [&str; 3] = ["limit", "quota", "too many"];

/// The most bytes one object may take before it counts as malformed (an object that never
/// ends must not grow without bound).
const MAX_OBJECT_BYTES: usize = 4 << 20;

/// Decodes one HuggingChat message response body.
pub type HuggingChatDecoder = LineDecoder<State>;

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

/// The decoding state of one response (opaque; the decoder is [`HuggingChatDecoder`]).
#[derive(Debug, Default)]
pub struct State {
    /// The start of an object that has not ended yet (lines joined by `\n`).
    pending: String,
    /// Whether any object was read; without one the body counts as empty.
    saw_object: bool,
    /// Whether any text or thinking was sent (then `finalAnswer` is not needed).
    streamed: bool,
    /// Set when the answer finished or failed; later objects are ignored.
    ended: bool,
    /// Splits the tokens into thinking and answer text.
    think: ThinkSplitter,
    /// Whether any answer text was sent (the answer's leading line breaks are markup).
    answer_started: bool,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
}

impl State {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        if self.ended || (self.pending.is_empty() && line.trim().is_empty()) {
            return;
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        let buffer = std::mem::take(&mut self.pending);
        let mut objects = Vec::new();
        let mut stream = serde_json::Deserializer::from_str(&buffer).into_iter::<Value>();
        loop {
            match stream.next() {
                None => break,
                Some(Ok(value)) => objects.push(value),
                Some(Err(e)) if e.is_eof() => {
                    let rest = &buffer[stream.byte_offset()..];
                    if rest.len() > MAX_OBJECT_BYTES {
                        self.report.malformed(line);
                    } else {
                        self.pending = rest.to_owned();
                    }
                    break;
                }
                Some(Err(_)) => {
                    self.report.malformed(line);
                    break;
                }
            }
        }
        for object in objects {
            if self.ended {
                return;
            }
            match object {
                Value::Object(update) => self.update(&update, out),
                _ => self.report.malformed(line),
            }
        }
    }

    fn update(&mut self, update: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        self.saw_object = true;
        let kind = update.get("type").and_then(Value::as_str);
        if update.contains_key("error") && kind != Some("stream") {
            let message = error_message(update);
            return self.fail(site_error(&message), out);
        }
        match kind {
            Some("stream") => {
                if let Some(token) = update.get("token").and_then(Value::as_str) {
                    self.push(token, out);
                }
            }
            Some("finalAnswer") => {
                if !self.streamed
                    && let Some(text) = update.get("text").and_then(Value::as_str)
                {
                    self.push(text, out);
                }
                self.finish(out);
            }
            Some("status") => self.status(update, out),
            Some(other) if NON_ANSWER_TYPES.contains(&other) => {}
            Some(other) => self.report.unknown(format!("type:{other}"), out),
            None => self.report.unknown("object without a type".into(), out),
        }
    }

    fn status(&mut self, update: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let status = update.get("status").and_then(Value::as_str).unwrap_or("");
        let message = update.get("message").and_then(Value::as_str).unwrap_or("");
        let words = format!("{status} {message}").to_lowercase();
        if LIMIT_HINTS.iter().any(|hint| words.contains(hint)) {
            return self.fail(with_detail(RATE_LIMITED, message), out);
        }
        if status == "error" {
            let detail = if message.trim().is_empty() {
                "the site reported an error"
            } else {
                message.trim()
            };
            return self.fail(format!("HuggingChat: {detail}"), out);
        }
        if !QUIET_STATUSES.contains(&status) {
            self.report.unknown(format!("status:{status}"), out);
        }
    }

    /// A token (or the final answer's text): NULs stripped, then split at the think tags.
    fn push(&mut self, token: &str, out: &mut Vec<StreamEvent>) {
        let token = token.replace('\u{0}', "");
        let pieces = self.think.push(&token);
        self.send(pieces, out);
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.flush(out);
        self.ended = true;
        self.report.end();
        out.push(if self.streamed {
            StreamEvent::Finished(FinishReason::Stop)
        } else {
            StreamEvent::Error(NO_TEXT.to_owned())
        });
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
        self.ended = true;
        if !self.saw_object {
            out.push(StreamEvent::Error(EMPTY_STREAM.to_owned()));
        } else if !self.streamed {
            out.push(StreamEvent::Error(NO_TEXT.to_owned()));
        }
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
                        self.streamed = true;
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
                        self.streamed = true;
                        out.push(StreamEvent::Text(text.to_owned()));
                    }
                }
            }
        }
    }
}

/// The words of an error object: its `error` (a string, or an object's `message`), else its
/// `message`.
fn error_message(update: &Map<String, Value>) -> String {
    let from_error = match update.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    from_error
        .or_else(|| {
            update
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The client's text for the site's error `message`.
fn site_error(message: &str) -> String {
    let lower = message.to_lowercase();
    if LIMIT_HINTS.iter().any(|hint| lower.contains(hint)) {
        with_detail(RATE_LIMITED, message)
    } else if message.is_empty() {
        "HuggingChat: the site reported an error without a message. Try again.".to_owned()
    } else {
        format!("HuggingChat: {message}")
    }
}

/// `text`, with the site's own words after it when it gave some.
fn with_detail(text: &str, detail: &str) -> String {
    match detail.trim() {
        "" => text.to_owned(),
        detail => format!("{text} ({detail})"),
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
        let events = decode_all(HuggingChatDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// The reference's example: thinking cut inside a tag, NUL padding, a final answer that
    /// repeats the stream and is not sent again.
    const THINKING: &str = "{\"type\":\"status\",\"status\":\"started\"}\n\
{\"type\":\"routerMetadata\",\"route\":\"x\",\"model\":\"m\"}\n\
{\"type\":\"stream\",\"token\":\"<thi\"}\n\
{\"type\":\"stream\",\"token\":\"nk>The user ü\"}\n\
{\"type\":\"stream\",\"token\":\" greets.</th\"}\n\
{\"type\":\"stream\",\"token\":\"ink>\\n\\nHello\"}\n\
{\"type\":\"stream\",\"token\":\"!\\u0000\\u0000\\u0000\"}\n\
{\"type\":\"title\",\"title\":\"Greeting\"}\n\
{\"type\":\"finalAnswer\",\"text\":\"<think>The user ü greets.</think>Hello!\",\"interrupted\":false}\n";

    /// No newlines between objects, one spread over two lines, and nothing streamed: the
    /// final answer is the reply.
    const FINAL_ONLY: &str = "{\"type\":\"status\",\"status\":\"started\"}{\"type\":\"webSearch\",\"x\":1}\n\
{\"type\":\"finalAnswer\",\n\"text\":\"Only 😀 final\"}";

    /// A rate-limit status after the start.
    const LIMIT: &str = "{\"type\":\"status\",\"status\":\"started\"}\n\
{\"type\":\"status\",\"status\":\"error\",\"message\":\"You have reached your usage limit. Try again later.\"}\n\
{\"type\":\"stream\",\"token\":\"ignored\"}\n";

    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        vec![
            (
                THINKING,
                vec![reasoning("The user ü greets."), text("Hello!"), STOP],
            ),
            (FINAL_ONLY, vec![text("Only 😀 final"), STOP]),
            (
                LIMIT,
                vec![error(&format!(
                    "{RATE_LIMITED} (You have reached your usage limit. Try again later.)"
                ))],
            ),
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
            crate::testing::check_every_split(HuggingChatDecoder::new, body, &expected);
        }
    }

    #[test]
    fn error_objects_are_errors_and_limits_say_so() {
        check(
            "{\"error\":\"Model is overloaded\"}\n",
            &[error("HuggingChat: Model is overloaded")],
        );
        check(
            "{\"message\":\"You exceeded your quota\",\"error\":true}\n",
            &[error(&format!("{RATE_LIMITED} (You exceeded your quota)"))],
        );
        check(
            "{\"type\":\"status\",\"status\":\"error\"}\n",
            &[error("HuggingChat: the site reported an error")],
        );
    }

    #[test]
    fn an_answer_without_text_is_an_error() {
        check(
            "{\"type\":\"status\",\"status\":\"started\"}\n{\"type\":\"finalAnswer\",\"text\":\"\"}\n",
            &[error(NO_TEXT)],
        );
        check(
            "{\"type\":\"status\",\"status\":\"started\"}\n",
            &[error(NO_TEXT)],
        );
        for body in ["", "\n\n", "  \n"] {
            check(body, &[error(EMPTY_STREAM)]);
        }
    }

    #[test]
    fn unknown_types_and_bad_lines_are_skipped_and_reported() {
        let body = "{\"type\":\"image\",\"x\":1}\n\
{\"type\":\"image\",\"x\":2}\n\
<html>oops</html>\n\
{\"type\":\"status\",\"status\":\"thinking\"}\n\
[1,2]\n\
{\"type\":\"stream\",\"token\":\"Hi\"}\n\
{\"type\":\"finalAnswer\",\"text\":\"Hi\"}\n";
        let mut decoder = HuggingChatDecoder::new();
        let events = decode_all(&mut decoder, body.as_bytes());
        assert_eq!(
            coalesce(&events),
            [
                StreamEvent::Unknown("type:image".into()),
                StreamEvent::Unknown("status:thinking".into()),
                text("Hi"),
                STOP
            ]
        );
        let report = decoder.report();
        assert_eq!(report.unknown.get("type:image"), Some(&2));
        assert_eq!(report.malformed, 2);
        assert_eq!(
            report.problem().unwrap_or_default(),
            "malformed: line 3 does not hold a JSON object (1 more like it): `<html>oops</html>`"
        );
    }

    #[test]
    fn a_body_cut_before_the_final_answer_keeps_its_text_and_says_truncated() {
        let cut = THINKING.find("{\"type\":\"finalAnswer\"").unwrap_or(0) + 10;
        let mut decoder = HuggingChatDecoder::new();
        let events = decode_all(&mut decoder, &THINKING.as_bytes()[..cut]);
        assert_eq!(
            coalesce(&events),
            [reasoning("The user ü greets."), text("Hello!")]
        );
        assert!(
            decoder
                .report()
                .problem()
                .unwrap_or_default()
                .starts_with("truncated: the body ends inside a line")
        );
    }

    #[test]
    fn a_held_tag_start_is_text_at_the_end() {
        check(
            "{\"type\":\"stream\",\"token\":\"a <thi\"}\n",
            &[text("a <thi")],
        );
    }
}
