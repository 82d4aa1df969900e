//! Google AI Studio's stream format: the XSSI guard, then nested JSON+protobuf arrays.
//!
//! The completion request (`POST …/$rpc/google.internal.alkali.applications.makersuite.v1.
//! MakerSuiteService/GenerateContent`) answers with an optional XSSI guard `)]}'` (whitespace
//! around it allowed), then **one outer JSON array** whose first element is the array of
//! events. The body grows one event at a time, so the events are read incrementally: a
//! byte-level scanner (depth, string, escape) cuts out each complete element of the events array
//! and parses it alone; nothing waits for the whole body.
//!
//! An event nests event → candidates → candidate → content `[parts, role]` → parts → part, so
//! the first part is at `[0][0][0][0][0]`. In a part array, **index 1 is the text** and
//! **index 12 == 1 marks a thought** (reasoning). Every part of the first candidate's parts is
//! read (the site sends one); a part without a string at index 1 is skipped and reported.
//! Everything else (role, usage `[prompt, candidates, total]`, safety ratings, grounding and
//! URL-context metadata) is never answer text and is dropped.
//!
//! The answer ends when the outer array closes (with the replay capture that is the body's end):
//! `finish_reason: stop` if any answer text came, else [`NO_TEXT`]. Errors: any string of an
//! event **other than the part texts** (answer text that mentions a quota is no error) that
//! says rate limit / too many requests / 429 / quota / limit reached gives [`RATE_LIMITED`];
//! one that says content blocked / could not generate output / prohibited use policy gives
//! [`BLOCKED`]. Later elements of the outer array and a body that is one bare JSON object
//! (a refused request) are read for the same words; a bare object's `error.message` is shown
//! otherwise. An HTTP 429 is the lane's to classify.

use serde_json::Value;

use crate::{FinishReason, Report, StreamEvent};

/// The error shown when the answer ended without any answer text.
pub const NO_TEXT: &str = "Google AI Studio returned no assistant text: the response ended \
                           without an answer part. Try again, or open the chat on the site.";

/// The error shown when the site refused the request for its rate limit or quota.
pub const RATE_LIMITED: &str = "Google AI Studio rate limit hit: the site refused the request \
                                (too many requests). Try again later, or use another account.";

/// The error shown when the site blocked the content (hard censorship).
pub const BLOCKED: &str = "Google AI Studio blocked this response: content blocked (the model \
                           could not generate output under its prohibited use policy). Rephrase \
                           the prompt and try again.";

/// The XSSI guard that may open the body.
pub const GUARD: &[u8] = b")]}'";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "Google AI Studio's end (the closing `]` of the outer array)";

/// Words in a site string that mean "rate limit", lowercase.
const RATE_HINTS: [&str; 5] = [
    "rate limit",
    "too many requests",
    "429",
    "quota",
    "limit reached",
];

/// Words in a site string that mean "blocked", lowercase.
const BLOCK_HINTS: [&str; 3] = [
    "content blocked",
    "could not generate output",
    "prohibited use policy",
];

/// The largest element kept while it is cut out; a longer one is dropped as malformed.
const MAX_ELEMENT: usize = 8 * 1024 * 1024;

/// Index of the thought flag in a part array.
const THOUGHT_INDEX: usize = 12;

/// What the element being cut out is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    /// An element of the events array.
    Event,
    /// A later element of the outer array.
    Trailer,
    /// The whole body is one JSON object.
    Bare,
}

/// An element being cut out: its kind, the depth it opened at, its bytes so far.
#[derive(Debug)]
struct Capture {
    kind: Element,
    base: u32,
    bytes: Vec<u8>,
}

/// Decodes one AI Studio `GenerateContent` response body.
#[derive(Debug)]
pub struct AiStudioDecoder {
    /// Bytes of the guard matched so far (0..=4), before the outer value starts.
    guard: usize,
    /// Whether the outer value started (its first `[` or `{` was read).
    started: bool,
    /// Whether the outer value closed.
    closed: bool,
    /// Nesting depth of the scanner (1 inside the outer array).
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Index of the current element of the outer array.
    outer_index: usize,
    /// Whether the scanner is inside the events array (depth 2 and deeper).
    in_events: bool,
    /// The element being cut out.
    capture: Option<Capture>,
    /// Whether junk before the outer value was counted already.
    junk_seen: bool,
    /// Whether any answer text was yielded.
    texted: bool,
    /// Set when the answer finished or failed; later elements yield nothing.
    ended: bool,
    report: Report,
}

impl Default for AiStudioDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl AiStudioDecoder {
    pub fn new() -> AiStudioDecoder {
        AiStudioDecoder {
            guard: 0,
            started: false,
            closed: false,
            depth: 0,
            in_string: false,
            escape: false,
            outer_index: 0,
            in_events: false,
            capture: None,
            junk_seen: false,
            texted: false,
            ended: false,
            report: Report::new(END_MARKER),
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<StreamEvent>) {
        if !self.started {
            return self.prelude(b, out);
        }
        if self.closed {
            if !b.is_ascii_whitespace() {
                self.junk(b, out);
            }
            return;
        }
        if let Some(capture) = &mut self.capture {
            capture.bytes.push(b);
            if capture.bytes.len() > MAX_ELEMENT {
                let start = String::from_utf8_lossy(&capture.bytes[..64]).into_owned();
                self.capture = None;
                self.report.line();
                self.report.malformed(&start);
            }
        }
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return;
        }
        match b {
            b'"' => self.in_string = true,
            b'[' | b'{' => self.open(b),
            b']' | b'}' => self.close(out),
            b',' if self.depth == 1 => self.outer_index += 1,
            _ => {}
        }
    }

    /// Before the outer value: whitespace, the guard, then `[` or `{`.
    fn prelude(&mut self, b: u8, out: &mut Vec<StreamEvent>) {
        if b.is_ascii_whitespace() && (self.guard == 0 || self.guard == GUARD.len()) {
            return;
        }
        if self.guard < GUARD.len() && b == GUARD[self.guard] {
            self.guard += 1;
            return;
        }
        if b == b'[' || b == b'{' {
            self.started = true;
            self.byte(b, out);
            return;
        }
        self.guard = 0;
        self.junk(b, out);
    }

    /// A byte outside any value: counted once as a malformed line.
    fn junk(&mut self, b: u8, _out: &mut Vec<StreamEvent>) {
        if !self.junk_seen {
            self.junk_seen = true;
            self.report.line();
            self.report.malformed(&String::from_utf8_lossy(&[b]));
        }
    }

    fn open(&mut self, b: u8) {
        let start = match self.depth {
            0 if b == b'{' => Some(Element::Bare),
            1 if self.outer_index == 0 && b == b'[' => {
                self.in_events = true;
                None
            }
            1 => Some(Element::Trailer),
            2 if self.in_events => Some(Element::Event),
            _ => None,
        };
        if let Some(kind) = start
            && self.capture.is_none()
        {
            self.capture = Some(Capture {
                kind,
                base: self.depth,
                bytes: vec![b],
            });
        }
        self.depth += 1;
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if self.depth == 0 {
            return;
        }
        self.depth -= 1;
        if self.capture.as_ref().is_some_and(|c| c.base == self.depth)
            && let Some(capture) = self.capture.take()
        {
            self.element(capture, out);
        }
        if self.depth == 1 && self.in_events {
            self.in_events = false;
        }
        if self.depth == 0 {
            self.closed = true;
            if !self.ended {
                if self.texted {
                    out.push(StreamEvent::Finished(FinishReason::Stop));
                    self.end();
                } else {
                    self.fail(NO_TEXT.to_owned(), out);
                }
            }
        }
    }

    fn element(&mut self, capture: Capture, out: &mut Vec<StreamEvent>) {
        self.report.line();
        let Ok(value) = serde_json::from_slice::<Value>(&capture.bytes) else {
            self.report
                .malformed(&String::from_utf8_lossy(&capture.bytes));
            return;
        };
        if self.ended {
            return;
        }
        match capture.kind {
            Element::Event => self.event(value, out),
            Element::Trailer => {
                if let Some(message) = hinted_error(&value) {
                    self.fail(message, out);
                }
            }
            Element::Bare => {
                let message = hinted_error(&value).unwrap_or_else(|| site_error(&value));
                self.fail(message, out);
            }
        }
    }

    fn event(&mut self, mut value: Value, out: &mut Vec<StreamEvent>) {
        let parts = value
            .get_mut(0)
            .and_then(|candidates| candidates.get_mut(0))
            .and_then(|candidate| candidate.get_mut(0))
            .and_then(|content| content.get_mut(0))
            .and_then(Value::as_array_mut);
        if let Some(parts) = parts {
            for part in parts.iter_mut() {
                let thought = part.get(THOUGHT_INDEX).and_then(Value::as_i64) == Some(1);
                // The part texts are taken out, so the error words are looked for elsewhere only.
                let text = match part.get_mut(1) {
                    Some(slot @ Value::String(_)) => match slot.take() {
                        Value::String(text) => Some(text),
                        _ => None,
                    },
                    _ => None,
                };
                match text {
                    Some(text) if text.is_empty() => {}
                    Some(text) if thought => out.push(StreamEvent::Reasoning(text)),
                    Some(text) => {
                        self.texted = true;
                        out.push(StreamEvent::Text(text));
                    }
                    None => self.report.unknown("part without text".to_owned(), out),
                }
            }
        }
        if let Some(message) = hinted_error(&value) {
            self.fail(message, out);
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.report.end();
    }

    fn fail(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error(message));
        self.end();
    }
}

impl crate::Decode for AiStudioDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        for &b in bytes {
            self.byte(b, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let _ = out;
        let tail = self
            .capture
            .as_ref()
            .map(|c| c.bytes.clone())
            .unwrap_or_default();
        self.report.finishing(&tail);
        self.report.finished();
    }

    fn report(&self) -> &Report {
        &self.report
    }
}

/// The error for rate-limit or censorship words in any string of `value`.
fn hinted_error(value: &Value) -> Option<String> {
    let mut found = None;
    walk_strings(value, &mut |s| {
        if found.is_some() {
            return;
        }
        let lower = s.to_lowercase();
        if RATE_HINTS.iter().any(|h| lower.contains(h)) {
            found = Some(RATE_LIMITED.to_owned());
        } else if BLOCK_HINTS.iter().any(|h| lower.contains(h)) {
            found = Some(BLOCKED.to_owned());
        }
    });
    found
}

fn walk_strings(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, visit)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, visit)),
        _ => {}
    }
}

/// The client's text for a refused request's JSON object.
fn site_error(value: &Value) -> String {
    let message = value
        .get("error")
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(Value::as_str)
        .or_else(|| value.get("message").and_then(Value::as_str))
        .unwrap_or("")
        .trim();
    if message.is_empty() {
        "Google AI Studio refused the request without a message. Try again.".to_owned()
    } else {
        format!("Google AI Studio: {message}")
    }
}

/// One event as the site sends it: the parts of one candidate, `(text, thought)` each, and the
/// `model` role (for tests, samples and the replica).
pub fn event(parts: &[(&str, bool)]) -> Value {
    let parts: Vec<Value> = parts
        .iter()
        .map(|(text, thought)| {
            let mut part = vec![Value::Null, Value::String((*text).to_owned())];
            if *thought {
                part.resize(THOUGHT_INDEX, Value::Null);
                part.push(Value::from(1));
            }
            Value::Array(part)
        })
        .collect();
    Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::Array(
        vec![Value::Array(parts), Value::String("model".to_owned())],
    )])])])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_every_split;
    use crate::{Decode, decode_all};

    const REFERENCE: &str = ")]}'\n[[\n[[[[[[null,\"**Planning a reply**\",null,null,null,null,null,null,null,null,null,null,1]],\"model\"]]]]\n,[[[[[[null,\"Hello\"]],\"model\"]]]]\n,[[[[[[null,\" there!\"]],\"model\"]]],null,[812,7,819]]\n]]";

    #[test]
    fn the_reference_shape_decodes_at_every_split() {
        check_every_split(
            AiStudioDecoder::new,
            REFERENCE,
            &[
                StreamEvent::Reasoning("**Planning a reply**".into()),
                StreamEvent::Text("Hello there!".into()),
                StreamEvent::Finished(FinishReason::Stop),
            ],
        );
        let mut d = AiStudioDecoder::new();
        decode_all(&mut d, REFERENCE.as_bytes());
        assert_eq!(d.report().problem(), None);
    }

    #[test]
    fn events_come_before_the_body_ends() {
        let mut d = AiStudioDecoder::new();
        let mut out = Vec::new();
        d.feed(b")]}'\n[[[[[[[[null,\"Hi\"]],\"model\"]]]]", &mut out);
        assert_eq!(out, [StreamEvent::Text("Hi".into())]);
        d.feed(b",[[[[[[null,\" \\\"q\\\" ]\"]]", &mut out);
        assert_eq!(out.len(), 1, "an event cut inside a string waits");
        d.feed(b",\"model\"]]]]]]", &mut out);
        assert_eq!(
            out,
            [
                StreamEvent::Text("Hi".into()),
                StreamEvent::Text(" \"q\" ]".into()),
                StreamEvent::Finished(FinishReason::Stop)
            ]
        );
    }

    #[test]
    fn the_guard_is_optional_and_a_body_cut_inside_a_nested_array_is_truncated() {
        let body = "[[[[[[[[null,\"a\"]],\"model\"]]]],[[[[[[null,\"b";
        let mut d = AiStudioDecoder::new();
        assert_eq!(
            decode_all(&mut d, body.as_bytes()),
            [StreamEvent::Text("a".into())]
        );
        let problem = d.report().problem().unwrap_or_default();
        assert!(
            problem.starts_with("truncated: the body ends inside"),
            "{problem}"
        );
    }

    #[test]
    fn rate_limits_and_blocks_are_errors_but_answer_words_are_not() {
        let body = "[[[[[[[[null,\"Your quota of 429 apples\"]],\"model\"]]]]]]";
        assert_eq!(
            decode_all(AiStudioDecoder::new(), body.as_bytes()),
            [
                StreamEvent::Text("Your quota of 429 apples".into()),
                StreamEvent::Finished(FinishReason::Stop)
            ]
        );
        let body = "[[[null,null,null,[8,\"Resource exhausted: quota exceeded\"]]]]";
        assert_eq!(
            decode_all(AiStudioDecoder::new(), body.as_bytes()),
            [StreamEvent::Error(RATE_LIMITED.into())]
        );
        let body = "[[[[[[[[null,\"a\"]],\"model\"],null,\"Content blocked\"]]]]]";
        assert_eq!(
            decode_all(AiStudioDecoder::new(), body.as_bytes()),
            [
                StreamEvent::Text("a".into()),
                StreamEvent::Error(BLOCKED.into())
            ]
        );
        assert_eq!(
            decode_all(AiStudioDecoder::new(), b"[[],[\"Too many requests\"]]"),
            [StreamEvent::Error(RATE_LIMITED.into())]
        );
        assert_eq!(
            decode_all(
                AiStudioDecoder::new(),
                br#")]}' {"error":{"code":403,"message":"The caller does not have permission"}}"#
            ),
            [StreamEvent::Error(
                "Google AI Studio: The caller does not have permission".into()
            )]
        );
    }

    #[test]
    fn no_text_and_junk() {
        let mut d = AiStudioDecoder::new();
        assert_eq!(
            decode_all(&mut d, b")]}'\n[[]]"),
            [StreamEvent::Error(NO_TEXT.into())]
        );
        assert_eq!(d.report().problem(), None);
        let mut d = AiStudioDecoder::new();
        decode_all(&mut d, b"<html>[[[[[[[[null,\"a\"]],\"model\"]]]]]]");
        assert_eq!(d.report().malformed, 1);
        let mut d = AiStudioDecoder::new();
        decode_all(
            &mut d,
            b"[[[[[[[[null,\"a\"]],\"model\"]]]],[[[[x]]]],[[[[[[null,\"b\"]],\"model\"]]]]]]",
        );
        assert_eq!(d.report().malformed, 1);
    }

    #[test]
    fn the_event_helper_writes_the_site_shape() {
        let value = event(&[("t", true)]);
        let text = serde_json::to_string(&value).unwrap_or_default();
        assert_eq!(
            text,
            r#"[[[[[[null,"t",null,null,null,null,null,null,null,null,null,null,1]],"model"]]]]"#
        );
    }
}
