//! Moonshot / Kimi's stream format: Connect streaming envelopes with the JSON codec.
//!
//! The completion request (`POST /apiv2/kimi.gateway.chat.v1.ChatService/Chat`) answers with
//! binary envelopes, not lines: `[1 flag byte][4-byte big-endian length][JSON payload]`, one
//! after another. A length-0 envelope is skipped; a length above 8 MiB cannot be an envelope
//! (the stream lost its place), so one byte is dropped and the header read again. A payload is
//! read as the JSON between its first `{` and its last `}`.
//!
//! An envelope with flag `0x02` is the end-of-stream trailer: `{}` ends the stream, and a
//! trailer carrying `error` (`{"error":{"code":…,"message":…}}`) is a site error. The other
//! envelopes are events:
//!
//! - `op` `set` / `append` with `mask` `block.think` or `block.think.content`: thinking text in
//!   `block.think.content`; `block.text` or `block.text.content`: answer text in
//!   `block.text.content`. An `append` adds its content; a `set` replaces the block's content,
//!   so only what extends the text already sent for that block id is forwarded.
//! - `mask` `message.status` with `message.status` `MESSAGE_STATUS_COMPLETED`, and any event
//!   with a `done` key: the answer is complete.
//! - `heartbeat`: skipped. `chat` and `message` (the chat's and the reply's ids, a status that
//!   is not the end): skipped. `block.search*` / `block.tool*` (web search payloads): dropped.
//! - `notification` {`type`, `message`}: `TYPE_MODEL_DEGRADE` (the site answers with a weaker
//!   model) yields one [`StreamEvent::Notice`] per body for the log; a type that names a content
//!   filter, or a message "beyond my current scope", is blocked content ([`BLOCKED`]).
//!
//! "Too many people are chatting with Kimi right now", wherever it comes (a notification, the
//! answer text, the trailer's error), is the site's rate limit ([`RATE_LIMITED`]). A body that is
//! one bare JSON object instead of envelopes (a refused request) gives its message as the error.
//! The reply id ([`crate::Decode::reply_id`]) is the chat's id from the first event: Kimi's stop
//! names the chat.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::{FinishReason, Report, StreamEvent};

/// The error shown when Kimi's content filter refused the request.
pub const BLOCKED: &str = "Kimi blocked this request: its content filter refused the content. \
                           Rephrase the prompt and try again.";

/// The error shown when Kimi is at capacity ("Too many people are chatting with Kimi right now").
pub const RATE_LIMITED: &str = "Kimi is at capacity: too many people are chatting with Kimi \
                                right now (rate limited). Try again later, or add lanes with \
                                other accounts.";

/// The site's own words for being at capacity, lowercase.
const CAPACITY_TEXT: &str = "too many people are chatting with kimi right now";

/// The notice for a model downgrade.
pub const DEGRADED: &str = "Kimi answered with a weaker model than the one picked \
                            (TYPE_MODEL_DEGRADE)";

/// What ends an answer, for a report's message.
const END_MARKER: &str = "Kimi's end marker (`message.status` MESSAGE_STATUS_COMPLETED, `done` \
                          or the end-of-stream trailer)";

/// Envelope header size: flags and length.
const HEADER: usize = 5;
/// The largest payload an envelope may carry.
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;
/// The end-of-stream flag.
const END_STREAM: u8 = 0x02;
/// How much of a body that never held an envelope is kept, to read it as a bare JSON error.
const BARE_KEEP: usize = 64 * 1024;

/// Decodes one Kimi completion response body.
#[derive(Debug)]
pub struct MoonshotDecoder {
    /// Bytes not yet consumed (a partial envelope).
    buf: Vec<u8>,
    /// The body's bytes while no envelope has decoded yet (for a bare JSON error).
    bare: Option<Vec<u8>>,
    /// Set when the answer finished or failed; later envelopes are ignored.
    ended: bool,
    /// Text sent so far per block id (a `set` re-sends the block's content).
    blocks: HashMap<String, String>,
    /// Whether the degrade notice was yielded.
    degraded: bool,
    /// The chat's id, from the stream's first event ([`crate::Decode::reply_id`]).
    chat_id: Option<String>,
    /// Unknown kinds, bad payloads, and whether the end marker came.
    report: Report,
}

impl Default for MoonshotDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl MoonshotDecoder {
    pub fn new() -> MoonshotDecoder {
        MoonshotDecoder {
            buf: Vec::new(),
            bare: Some(Vec::new()),
            ended: false,
            blocks: HashMap::new(),
            degraded: false,
            chat_id: None,
            report: Report::new(END_MARKER),
        }
    }

    fn envelopes(&mut self, out: &mut Vec<StreamEvent>) {
        let mut at = 0;
        while self.buf.len() - at >= HEADER {
            let flags = self.buf[at];
            let len = u32::from_be_bytes([
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
                self.buf[at + 4],
            ]) as usize;
            if len > MAX_PAYLOAD {
                // Lost our place: drop one byte and read a header again.
                at += 1;
                continue;
            }
            if self.buf.len() - at < HEADER + len {
                break;
            }
            let start = at + HEADER;
            at = start + len;
            if len == 0 {
                continue;
            }
            self.bare = None;
            let payload = self.buf[start..at].to_vec();
            self.envelope(flags, &payload, out);
        }
        self.buf.drain(..at);
    }

    fn envelope(&mut self, flags: u8, payload: &[u8], out: &mut Vec<StreamEvent>) {
        self.report.line();
        let text = String::from_utf8_lossy(payload);
        let Some(data) = outer_object(&text) else {
            self.report.malformed(&text);
            return;
        };
        if self.ended {
            return;
        }
        if flags & END_STREAM != 0 {
            return self.trailer(&data, out);
        }
        self.event(&data, out);
    }

    fn trailer(&mut self, data: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        match data.get("error") {
            Some(error) if !error.is_null() => {
                let message = error_message(error);
                self.fail(site_error(&message), out);
            }
            _ => self.complete(out),
        }
    }

    fn event(&mut self, data: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        if self.chat_id.is_none()
            && let Some(id) = data
                .get("chat")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str)
        {
            self.chat_id = Some(id.to_owned());
        }
        if data.contains_key("done") {
            return self.complete(out);
        }
        if let Some(note) = data.get("notification").and_then(Value::as_object) {
            return self.notification(note, out);
        }
        if data.contains_key("heartbeat") {
            return;
        }
        let mask = data.get("mask").and_then(Value::as_str).unwrap_or("");
        let op = data.get("op").and_then(Value::as_str).unwrap_or("");
        if !mask.is_empty() && !matches!(op, "set" | "append") {
            return self.report.unknown(format!("op:{op}"), out);
        }
        match mask {
            "block.think" | "block.think.content" => self.block(data, "think", op, out),
            "block.text" | "block.text.content" => self.block(data, "text", op, out),
            "message.status" => {
                let status = data
                    .get("message")
                    .and_then(|m| m.get("status"))
                    .and_then(Value::as_str);
                if status == Some("MESSAGE_STATUS_COMPLETED") {
                    self.complete(out);
                }
            }
            // The chat's and the reply's ids, and a reply that is still generating.
            "" | "chat" | "message" => {}
            // Web search and tool payloads: never answer text.
            m if m.starts_with("block.search") || m.starts_with("block.tool") => {}
            other => self.report.unknown(format!("mask:{other}"), out),
        }
    }

    fn block(
        &mut self,
        data: &Map<String, Value>,
        part: &str,
        op: &str,
        out: &mut Vec<StreamEvent>,
    ) {
        let block = data.get("block");
        let Some(content) = block
            .and_then(|b| b.get(part))
            .and_then(|p| p.get("content"))
            .and_then(Value::as_str)
        else {
            return;
        };
        let id = block
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let sent = self.blocks.entry(format!("{part}:{id}")).or_default();
        let delta = if op == "set" {
            // The block's whole content: forward what extends the text already sent.
            match content.strip_prefix(sent.as_str()) {
                Some(rest) => rest.to_owned(),
                None if sent.is_empty() => content.to_owned(),
                None => String::new(),
            }
        } else {
            content.to_owned()
        };
        if delta.is_empty() {
            return;
        }
        sent.push_str(&delta);
        if part == "text" && delta.to_lowercase().contains(CAPACITY_TEXT) {
            return self.fail(RATE_LIMITED.to_owned(), out);
        }
        out.push(if part == "think" {
            StreamEvent::Reasoning(delta)
        } else {
            StreamEvent::Text(delta)
        });
    }

    fn notification(&mut self, note: &Map<String, Value>, out: &mut Vec<StreamEvent>) {
        let kind = note.get("type").and_then(Value::as_str).unwrap_or("");
        let message = note.get("message").and_then(Value::as_str).unwrap_or("");
        let (kind_l, message_l) = (kind.to_lowercase(), message.to_lowercase());
        if message_l.contains(CAPACITY_TEXT) {
            return self.fail(RATE_LIMITED.to_owned(), out);
        }
        if (kind_l.contains("content") && kind_l.contains("filter"))
            || message_l.contains("beyond my current scope")
        {
            return self.fail(BLOCKED.to_owned(), out);
        }
        if kind == "TYPE_MODEL_DEGRADE" {
            if !self.degraded {
                self.degraded = true;
                out.push(StreamEvent::Notice(DEGRADED.to_owned()));
            }
            return;
        }
        self.report.unknown(format!("notification:{kind}"), out);
    }

    fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Finished(FinishReason::Stop));
        self.ended = true;
        self.report.end();
    }

    fn fail(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error(message));
        self.ended = true;
        self.report.end();
    }
}

impl crate::Decode for MoonshotDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        if let Some(bare) = &mut self.bare {
            if bare.len() + bytes.len() <= BARE_KEEP {
                bare.extend_from_slice(bytes);
            } else {
                self.bare = None;
            }
        }
        self.buf.extend_from_slice(bytes);
        self.envelopes(out);
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.ended
            && let Some(bare) = self.bare.take()
        {
            // No envelope at all: a refused request may answer with one JSON object.
            let text = String::from_utf8_lossy(&bare);
            if let Ok(Value::Object(data)) = serde_json::from_str::<Value>(text.trim()) {
                let message = error_message(&Value::Object(data));
                if !message.is_empty() {
                    self.fail(site_error(&message), out);
                }
            }
        }
        self.report.finishing(&[]);
        self.report.finished();
    }

    fn report(&self) -> &Report {
        &self.report
    }

    /// The chat's id: Kimi's stop names the chat, not the reply.
    fn reply_id(&self) -> Option<&str> {
        self.chat_id.as_deref()
    }
}

/// The JSON object between the first `{` and the last `}` of `text`.
fn outer_object(text: &str) -> Option<Map<String, Value>> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    if end < start {
        return None;
    }
    match serde_json::from_str::<Value>(&text[start..=end]) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The message of an error value: a string, or an object's `message` (else its `code`).
fn error_message(error: &Value) -> String {
    let pick = |v: &Value| {
        ["message", "msg", "detail", "code", "error"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
    };
    match error {
        Value::String(s) => s.trim().to_owned(),
        Value::Object(o) => o
            .get("error")
            .and_then(|e| match e {
                Value::String(s) => Some(s.clone()),
                other => pick(other),
            })
            .or_else(|| pick(error))
            .unwrap_or_default()
            .trim()
            .to_owned(),
        _ => String::new(),
    }
}

/// The client's text for a site error message.
fn site_error(message: &str) -> String {
    if message.to_lowercase().contains(CAPACITY_TEXT) {
        RATE_LIMITED.to_owned()
    } else if message.is_empty() {
        "Kimi ended the stream with an error.".to_owned()
    } else {
        format!("Kimi: {message}")
    }
}

/// One envelope: flags, big-endian length, payload (for tests and samples).
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decode, coalesce, decode_all};

    fn body(frames: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            out.extend(envelope(0, f.as_bytes()));
        }
        out
    }

    fn every_split(bytes: &[u8], expected: &[StreamEvent]) {
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            let mut d = MoonshotDecoder::new();
            let mut events = Vec::new();
            d.feed(a, &mut events);
            d.feed(b, &mut events);
            d.finish(&mut events);
            assert_eq!(coalesce(&events), expected, "cut at {cut}");
            assert!(events.iter().all(|e| !matches!(
                e,
                StreamEvent::Text(s) | StreamEvent::Reasoning(s) if s.is_empty()
            )));
        }
    }

    #[test]
    fn the_reference_frames_decode_at_every_split() {
        let mut bytes = body(&[
            r#"{"op":"set","eventOffset":1,"chat":{"id":"chat-1","name":"New chat"}}"#,
            r#"{"op":"set","mask":"message","eventOffset":2,"message":{"id":"m2","role":"assistant","status":"MESSAGE_STATUS_GENERATING"}}"#,
            r#"{"op":"set","mask":"block.think","eventOffset":3,"block":{"id":"0_0","think":{"content":"The user"}}}"#,
            r#"{"op":"append","mask":"block.think.content","eventOffset":4,"block":{"id":"0_0","think":{"content":" asks hi."}}}"#,
            r#"{"eventOffset":5,"heartbeat":{}}"#,
            "",
            r#"{"op":"append","mask":"block.text.content","eventOffset":6,"block":{"id":"0_1","text":{"content":"Hello!"}}}"#,
            r#"{"op":"set","mask":"message.status","eventOffset":7,"message":{"id":"m2","status":"MESSAGE_STATUS_COMPLETED"}}"#,
            r#"{"eventOffset":8,"done":{}}"#,
        ]);
        bytes.extend(envelope(END_STREAM, b"{}"));
        let expected = [
            StreamEvent::Reasoning("The user asks hi.".into()),
            StreamEvent::Text("Hello!".into()),
            StreamEvent::Finished(FinishReason::Stop),
        ];
        every_split(&bytes, &expected);
        let mut d = MoonshotDecoder::new();
        decode_all(&mut d, &bytes);
        assert_eq!(d.report().problem(), None);
        assert_eq!(d.reply_id(), Some("chat-1"));
    }

    #[test]
    fn a_set_re_sends_the_block_and_only_the_new_part_is_forwarded() {
        let bytes = body(&[
            r#"{"op":"set","mask":"block.text","block":{"id":"1","text":{"content":"Hel"}}}"#,
            r#"{"op":"set","mask":"block.text","block":{"id":"1","text":{"content":"Hello"}}}"#,
            r#"{"op":"append","mask":"block.text.content","block":{"id":"1","text":{"content":"!"}}}"#,
            r#"{"done":{}}"#,
        ]);
        assert_eq!(
            coalesce(&decode_all(MoonshotDecoder::new(), &bytes)),
            [
                StreamEvent::Text("Hello!".into()),
                StreamEvent::Finished(FinishReason::Stop)
            ]
        );
    }

    #[test]
    fn trailers_errors_and_notifications() {
        let mut bytes = body(&[
            r#"{"op":"append","mask":"block.text.content","block":{"id":"1","text":{"content":"a"}}}"#,
        ]);
        bytes.extend(envelope(
            END_STREAM,
            br#"{"error":{"code":"internal","message":"boom"}}"#,
        ));
        assert_eq!(
            decode_all(MoonshotDecoder::new(), &bytes),
            [
                StreamEvent::Text("a".into()),
                StreamEvent::Error("Kimi: boom".into())
            ]
        );
        let degrade = r#"{"notification":{"type":"TYPE_MODEL_DEGRADE","message":"K2.8"}}"#;
        let bytes = body(&[degrade, degrade, r#"{"done":{}}"#]);
        assert_eq!(
            decode_all(MoonshotDecoder::new(), &bytes),
            [
                StreamEvent::Notice(DEGRADED.into()),
                StreamEvent::Finished(FinishReason::Stop)
            ]
        );
        let bytes = body(&[r#"{"notification":{"type":"TYPE_CONTENT_FILTER","message":"x"}}"#]);
        assert_eq!(
            decode_all(MoonshotDecoder::new(), &bytes),
            [StreamEvent::Error(BLOCKED.into())]
        );
        let bytes = body(&[
            r#"{"op":"append","mask":"block.text.content","block":{"id":"1","text":{"content":"Too many people are chatting with Kimi right now."}}}"#,
        ]);
        assert_eq!(
            decode_all(MoonshotDecoder::new(), &bytes),
            [StreamEvent::Error(RATE_LIMITED.into())]
        );
        assert_eq!(
            decode_all(
                MoonshotDecoder::new(),
                br#"{"code":"unauthenticated","message":"please log in"}"#
            ),
            [StreamEvent::Error("Kimi: please log in".into())]
        );
    }

    #[test]
    fn an_oversized_length_resyncs_by_one_byte() {
        let mut bytes = vec![0x00, 0xff, 0xff, 0xff, 0xff];
        bytes.extend(envelope(END_STREAM, b"{}"));
        assert_eq!(
            decode_all(MoonshotDecoder::new(), &bytes),
            [StreamEvent::Finished(FinishReason::Stop)]
        );
    }

    #[test]
    fn a_cut_body_is_truncated_and_junk_is_malformed() {
        let bytes = body(&[
            r#"{"op":"append","mask":"block.text.content","block":{"id":"1","text":{"content":"a"}}}"#,
        ]);
        let mut d = MoonshotDecoder::new();
        decode_all(&mut d, &bytes[..bytes.len() - 3]);
        assert!(d.report().problem().unwrap().starts_with("truncated"));
        let mut d = MoonshotDecoder::new();
        let mut bytes = envelope(0, b"not json");
        bytes.extend(body(&[r#"{"done":{}}"#]));
        decode_all(&mut d, &bytes);
        assert_eq!(d.report().malformed, 1);
    }
}
