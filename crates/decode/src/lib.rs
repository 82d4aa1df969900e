//! Pure decoders for the stream formats of the provider chat sites.
//!
//! A lane captures the raw bytes of the site's own streamed HTTP response and hands them, in the
//! pieces the network delivered, to the provider's decoder. The decoder turns them into neutral
//! [`StreamEvent`]s: reasoning text, answer text, usage, the end of the answer, or a site error.
//!
//! # Layout
//! - [`lines`]: incremental UTF-8 + line splitting shared by every SSE-based format.
//! - [`deepseek`]: DeepSeek's path/operation/value patch stream.
//! - [`glm`]: GLM Chat's `chat:completion` event stream.
//!
//! Architecture Invariant: nothing here does IO, spawns tasks or reads the clock. A decoder is a
//! plain state machine: bytes in, events out. Feeding the same bytes split at any byte offsets
//! yields the same events (concatenated), so a frame or a UTF-8 sequence cut by the network is never
//! an error; the decoder keeps the tail and waits for more.

pub mod deepseek;
pub mod glm;
pub mod lines;

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
