//! Turning neutral stream events into OpenAI chunks and SSE frames.
//!
//! [`Chunks`] keeps the little state a response needs: whether a `<think>` block is open (with
//! inline reasoning) and the ids to stamp on every chunk. [`Frames`] orders a streamed
//! response's frames around it: the role chunk, a chunk per piece, then the finish chunk, the
//! usage chunk and `[DONE]`. Every frame is `data: <json>\n\n`; JSON has U+2028 / U+2029
//! escaped, because SillyTavern's line splitter treats them as line ends.
//!
//! The gateway's streamed responses and `switchyard decode` both go through [`Frames`], so the
//! command prints byte for byte what a client receives (with the fixed id and time
//! [`Chunks::new`] is given).

use bytes::Bytes;
use serde_json::{Value, json};

use super::limits::{Gate, Limits};
use crate::config::ReasoningFormat;
use crate::providers::{FinishReason, StreamEvent, Usage};
use crate::shaping::RequestKind;

/// The last frame of every stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Serialises a value for an SSE `data:` line.
pub fn to_json(value: &Value) -> String {
    let text = value.to_string();
    if text.contains(['\u{2028}', '\u{2029}']) {
        text.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        text
    }
}

pub fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {}\n\n", to_json(value)))
}

/// An SSE comment (`: text`), which clients skip: SillyTavern and the OpenAI SDKs read only
/// `data:` lines. Line breaks in `text` are flattened so it stays one comment.
pub fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {}\n\n", text.replace(['\r', '\n'], " ")))
}

/// The OpenAI usage object for a site's counts.
pub fn usage_json(usage: &Usage) -> Value {
    let total = if usage.total_tokens == 0 {
        usage.prompt_tokens + usage.completion_tokens
    } else {
        usage.total_tokens
    };
    let mut v = json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": total,
    });
    if let Some(cached) = usage.cached_tokens {
        v["prompt_tokens_details"] = json!({ "cached_tokens": cached });
    }
    v
}

/// Chunk builder for one response.
pub struct Chunks {
    id: String,
    created: u64,
    model: String,
    kind: RequestKind,
    format: ReasoningFormat,
    /// A `<think>` block was opened in the content and not yet closed.
    think_open: bool,
}

impl Chunks {
    pub fn new(
        request_id: &str,
        created: u64,
        model: &str,
        kind: RequestKind,
        format: ReasoningFormat,
    ) -> Chunks {
        let prefix = match kind {
            RequestKind::Chat => "chatcmpl",
            RequestKind::Text => "cmpl",
        };
        Chunks {
            id: format!("{prefix}-{request_id}"),
            created,
            model: model.to_owned(),
            kind,
            // Text completions have no reasoning field: thinking goes inline.
            format: match kind {
                RequestKind::Chat => format,
                RequestKind::Text => ReasoningFormat::ThinkTags,
            },
            think_open: false,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model string as the client sent it.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn kind(&self) -> RequestKind {
        self.kind
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        match self.kind {
            RequestKind::Chat => json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }),
            RequestKind::Text => json!({
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [{
                    "text": delta.get("content").and_then(Value::as_str).unwrap_or(""),
                    "index": 0,
                    "logprobs": null,
                    "finish_reason": finish,
                }],
            }),
        }
    }

    /// The opening chunk with the assistant role (chat only; empty content, so the first
    /// character of the content is whatever the answer starts with).
    pub fn opening(&self) -> Option<Bytes> {
        match self.kind {
            RequestKind::Chat => Some(frame(
                &self.chunk(json!({"role": "assistant", "content": ""}), None),
            )),
            RequestKind::Text => None,
        }
    }

    /// The delta for a text or reasoning piece, as `(content, reasoning_content)`; with inline
    /// reasoning, opens and closes the `<think>` block as the answer moves between them.
    pub fn split(&mut self, event: &StreamEvent) -> (String, String) {
        match (event, self.format) {
            (StreamEvent::Reasoning(t), ReasoningFormat::ReasoningContent) => {
                (String::new(), t.clone())
            }
            (StreamEvent::Reasoning(t), ReasoningFormat::ThinkTags) => {
                if self.think_open {
                    (t.clone(), String::new())
                } else {
                    self.think_open = true;
                    (format!("<think>{t}"), String::new())
                }
            }
            (StreamEvent::Text(t), _) => {
                if self.think_open {
                    self.think_open = false;
                    (format!("</think>{t}"), String::new())
                } else {
                    (t.clone(), String::new())
                }
            }
            _ => (String::new(), String::new()),
        }
    }

    /// The frame for a text or reasoning event.
    pub fn piece(&mut self, event: &StreamEvent) -> Option<Bytes> {
        let (content, reasoning) = self.split(event);
        if content.is_empty() && reasoning.is_empty() {
            return None;
        }
        let delta = if reasoning.is_empty() {
            json!({ "content": content })
        } else {
            json!({ "reasoning_content": reasoning })
        };
        Some(frame(&self.chunk(delta, None)))
    }

    /// Closes an open `<think>` block (an answer that ended inside its thinking).
    pub fn close_think(&mut self) -> Option<String> {
        if self.think_open {
            self.think_open = false;
            Some("</think>".to_owned())
        } else {
            None
        }
    }

    /// The final chunk with the finish reason (closing a `<think>` block left open).
    pub fn finish(&mut self, reason: FinishReason) -> Bytes {
        let content = self.close_think();
        let delta = match content {
            Some(c) => json!({ "content": c }),
            None => json!({}),
        };
        frame(&self.chunk(delta, Some(reason.as_str())))
    }

    /// A usage-only chunk (`choices: []`); text completions drop it, as the reference does.
    pub fn usage(&self, usage: &Usage) -> Option<Bytes> {
        match self.kind {
            RequestKind::Chat => Some(frame(&json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(usage),
            }))),
            RequestKind::Text => None,
        }
    }

    /// A mid-stream error event.
    pub fn error(message: &str) -> Bytes {
        frame(&json!({
            "error": {"message": message, "type": "internal_error", "param": null, "code": null}
        }))
    }
}

/// The frames of one streamed response, event by event.
///
/// The role chunk opens the stream; each text or reasoning piece is one chunk, after the
/// request's own limits ([`Gate`]: `stop`, `max_tokens`); usage is held until the end.
/// `Finished`, or a cut by the gate, closes the stream with the finish chunk, the usage chunk
/// when the client asked for one, and `[DONE]`; `Error` with the text held back, the error event
/// and `[DONE]`. Events after the close and `Unknown` events yield nothing.
pub struct Frames {
    chunks: Chunks,
    gate: Gate,
    /// The site's own counts, when it sent any.
    site_usage: Option<Usage>,
    /// `stream_options.include_usage`.
    include_usage: bool,
    /// Estimates the tokens of what was typed into the site; called only if usage is needed.
    prompt_tokens: PromptTokens,
    over: bool,
}

impl Frames {
    /// Frames with no limits and no usage chunk (a client that asked for neither).
    pub fn new(chunks: Chunks) -> Frames {
        Frames {
            chunks,
            gate: Gate::new(Limits::default()).without_usage(),
            site_usage: None,
            include_usage: false,
            prompt_tokens: Box::new(|| 0),
            over: false,
        }
    }

    /// Applies the request's limits, asks for the usage chunk, and sets the prompt estimate.
    pub fn with(
        mut self,
        limits: Limits,
        include_usage: bool,
        prompt_tokens: PromptTokens,
    ) -> Frames {
        self.gate = if include_usage {
            Gate::new(limits)
        } else {
            Gate::new(limits).without_usage()
        };
        self.include_usage = include_usage;
        self.prompt_tokens = prompt_tokens;
        self
    }

    /// The first frame, before any event (chat only).
    pub fn opening(&self) -> Option<Bytes> {
        self.chunks.opening()
    }

    /// Appends the frames for `event` to `out`. Returns the finish reason when the request's
    /// own limits cut the answer here: the caller then stops the site.
    pub fn event(
        &mut self,
        event: &StreamEvent,
        out: &mut impl Extend<Bytes>,
    ) -> Option<FinishReason> {
        if self.over {
            return None;
        }
        let mut passed = Vec::new();
        match event {
            StreamEvent::Usage(usage) => self.site_usage = Some(usage.clone()),
            StreamEvent::Error(message) => {
                self.gate.flush(&mut passed);
                self.deliver(passed, out);
                out.extend([Chunks::error(message), Bytes::from_static(DONE.as_bytes())]);
                self.over = true;
            }
            StreamEvent::Unknown(_) | StreamEvent::Notice(_) => {}
            StreamEvent::Text(_) | StreamEvent::Reasoning(_) | StreamEvent::Finished(_) => {
                let cut = self.gate.push(event.clone(), &mut passed);
                self.deliver(passed, out);
                if let Some(reason) = cut {
                    self.close(reason, out);
                    return Some(reason);
                }
            }
        }
        None
    }

    fn deliver(&mut self, events: Vec<StreamEvent>, out: &mut impl Extend<Bytes>) {
        for event in events {
            match event {
                StreamEvent::Finished(reason) => self.close(reason, out),
                piece => out.extend(self.chunks.piece(&piece)),
            }
        }
    }

    fn close(&mut self, reason: FinishReason, out: &mut impl Extend<Bytes>) {
        if self.over {
            return;
        }
        out.extend([self.chunks.finish(reason)]);
        if self.include_usage {
            out.extend(self.chunks.usage(&self.usage()));
        }
        out.extend([Bytes::from_static(DONE.as_bytes())]);
        self.over = true;
    }

    /// The site's counts when it gave real ones; otherwise the estimate (`api::tokens`).
    pub fn usage(&self) -> Usage {
        estimate_usage(
            self.site_usage.as_ref(),
            &self.prompt_tokens,
            self.gate.completion_tokens(),
        )
    }

    /// Whether the stream has ended (`[DONE]` was produced).
    pub fn is_over(&self) -> bool {
        self.over
    }
}

/// Counts the prompt's tokens when asked (tokenizing a long chat costs, so only when needed).
pub type PromptTokens = Box<dyn Fn() -> u64 + Send + Sync>;

/// The site's counts if it reported any non-zero one, else an estimate from the tokens of the
/// prompt and of the relayed answer and thinking.
pub fn estimate_usage(
    site: Option<&Usage>,
    prompt_tokens: &PromptTokens,
    completion_tokens: u64,
) -> Usage {
    match site {
        Some(u) if u.prompt_tokens + u.completion_tokens + u.total_tokens > 0 => u.clone(),
        _ => {
            let prompt_tokens = prompt_tokens();
            Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens + completion_tokens,
                cached_tokens: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn contents(chunks: &mut Chunks, events: &[StreamEvent]) -> Vec<(String, String)> {
        events.iter().map(|e| chunks.split(e)).collect()
    }

    #[test]
    fn inline_reasoning_opens_and_closes_think_tags() {
        let mut c = Chunks::new("r", 1, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        let got = contents(
            &mut c,
            &[
                StreamEvent::Reasoning("a".into()),
                StreamEvent::Reasoning("b".into()),
                StreamEvent::Text("X".into()),
                StreamEvent::Text("Y".into()),
            ],
        );
        let content: String = got.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(content, "<think>ab</think>XY");
    }

    #[test]
    fn reasoning_content_keeps_thinking_out_of_the_content() {
        let mut c = Chunks::new(
            "r",
            1,
            "m",
            RequestKind::Chat,
            ReasoningFormat::ReasoningContent,
        );
        let got = contents(
            &mut c,
            &[
                StreamEvent::Reasoning("a".into()),
                StreamEvent::Text("X".into()),
            ],
        );
        assert_eq!(got, vec![("".into(), "a".into()), ("X".into(), "".into())]);
        let frame = text(&c.piece(&StreamEvent::Reasoning("z".into())).unwrap());
        assert!(
            frame.contains(r#""delta":{"reasoning_content":"z"}"#),
            "{frame}"
        );
    }

    #[test]
    fn an_answer_ending_in_thought_closes_the_tag_in_the_final_chunk() {
        let mut c = Chunks::new("r", 1, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        c.split(&StreamEvent::Reasoning("a".into()));
        let last = text(&c.finish(FinishReason::Stop));
        assert!(last.contains(r#""delta":{"content":"</think>"}"#), "{last}");
        assert!(last.contains(r#""finish_reason":"stop""#), "{last}");
    }

    #[test]
    fn frames_escape_line_separators_and_end_with_a_blank_line() {
        let mut c = Chunks::new(
            "r",
            7,
            "glm-chat",
            RequestKind::Chat,
            ReasoningFormat::ThinkTags,
        );
        let f = text(
            &c.piece(&StreamEvent::Text("a\u{2028}b\u{2029}".into()))
                .unwrap(),
        );
        assert!(f.starts_with("data: {"));
        assert!(f.ends_with("}\n\n"));
        assert!(f.contains(r"a\u2028b\u2029"), "{f}");
        assert!(!f.contains('\u{2028}'));
        let v: Value = serde_json::from_str(f.trim_start_matches("data: ").trim()).unwrap();
        assert_eq!(v["choices"][0]["delta"]["content"], "a\u{2028}b\u{2029}");
        assert_eq!(v["model"], "glm-chat");
        assert_eq!(v["id"], "chatcmpl-r");
    }

    #[test]
    fn the_opening_chunk_has_the_role_and_no_leading_content() {
        let c = Chunks::new("r", 7, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        let f = text(&c.opening().unwrap());
        assert!(
            f.contains(r#""delta":{"content":"","role":"assistant"}"#)
                || f.contains(r#""delta":{"role":"assistant","content":""}"#),
            "{f}"
        );
    }

    #[test]
    fn text_completions_use_their_own_chunk_shape_and_drop_usage() {
        let mut c = Chunks::new(
            "r",
            7,
            "m",
            RequestKind::Text,
            ReasoningFormat::ReasoningContent,
        );
        assert!(c.opening().is_none());
        let f = text(&c.piece(&StreamEvent::Reasoning("t".into())).unwrap());
        assert!(f.contains(r#""text":"<think>t""#), "{f}");
        assert!(f.contains(r#""object":"text_completion""#), "{f}");
        assert!(c.usage(&Usage::default()).is_none());
    }

    #[test]
    fn frames_end_with_finish_usage_and_done_and_nothing_after() {
        let chunks = Chunks::new(
            "decode",
            0,
            "m",
            RequestKind::Chat,
            ReasoningFormat::ThinkTags,
        );
        let mut frames = Frames::new(chunks).with(Limits::default(), true, Box::new(|| 0));
        let mut out: Vec<Bytes> = frames.opening().into_iter().collect();
        for event in [
            StreamEvent::Reasoning("r".into()),
            StreamEvent::Unknown("phase:x".into()),
            StreamEvent::Usage(Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
                total_tokens: 3,
                cached_tokens: None,
            }),
            StreamEvent::Text("t".into()),
            StreamEvent::Finished(FinishReason::Stop),
            StreamEvent::Text("late".into()),
        ] {
            assert!(!frames.is_over() || event == StreamEvent::Text("late".into()));
            frames.event(&event, &mut out);
        }
        assert!(frames.is_over());
        let out: Vec<String> = out.iter().map(text).collect();
        assert_eq!(out.len(), 6, "{out:?}");
        assert!(out[0].contains(r#""role":"assistant""#));
        assert!(out[1].contains(r#""content":"<think>r""#));
        assert!(out[2].contains(r#""content":"</think>t""#));
        assert!(out[3].contains(r#""finish_reason":"stop""#));
        assert!(out[4].contains(r#""total_tokens":3"#));
        assert_eq!(out[5], DONE);
        assert!(out[1].contains(r#""id":"chatcmpl-decode""#), "{}", out[1]);
        assert!(out[1].contains(r#""created":0"#), "{}", out[1]);
    }

    #[test]
    fn no_usage_chunk_unless_asked_and_a_cut_closes_the_stream() {
        let chunks = || Chunks::new("r", 0, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        let site = StreamEvent::Usage(Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            cached_tokens: None,
        });
        let mut frames = Frames::new(chunks());
        let mut out = Vec::new();
        for event in [
            site.clone(),
            StreamEvent::Text("a".into()),
            StreamEvent::Finished(FinishReason::Stop),
        ] {
            frames.event(&event, &mut out);
        }
        assert!(
            out.iter().map(text).all(|f| !f.contains("usage")),
            "{out:?}"
        );

        let limits = Limits {
            stops: vec!["STOP".into()],
            max_tokens: None,
        };
        let mut frames = Frames::new(chunks()).with(limits, true, Box::new(|| 7));
        let mut out = Vec::new();
        assert_eq!(
            frames.event(&StreamEvent::Text("hello ST".into()), &mut out),
            None
        );
        let cut = frames.event(&StreamEvent::Text("OP more".into()), &mut out);
        assert_eq!(cut, Some(FinishReason::Stop));
        assert!(frames.is_over());
        let out: Vec<String> = out.iter().map(text).collect();
        let content: String = (out.iter())
            .filter_map(|f| f.strip_prefix("data: "))
            .filter_map(|f| serde_json::from_str::<Value>(f.trim()).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(content, "hello ", "{out:?}");
        let usage = out
            .iter()
            .find(|f| f.contains("usage"))
            .expect("usage chunk");
        assert!(usage.contains(r#""prompt_tokens":7"#), "{usage}");
        assert_eq!(out.last().unwrap(), DONE);
    }

    #[test]
    fn an_error_closes_the_frames_with_done() {
        let chunks = Chunks::new("r", 0, "m", RequestKind::Chat, ReasoningFormat::ThinkTags);
        let mut frames = Frames::new(chunks);
        let mut out = Vec::new();
        frames.event(&StreamEvent::Error("GLM Chat: busy".into()), &mut out);
        frames.event(&StreamEvent::Finished(FinishReason::Stop), &mut out);
        let out: Vec<String> = out.iter().map(text).collect();
        assert_eq!(out.len(), 2);
        assert!(out[0].contains(r#""message":"GLM Chat: busy""#));
        assert_eq!(out[1], DONE);
    }

    #[test]
    fn usage_totals_fall_back_to_the_sum() {
        let u = Usage {
            prompt_tokens: 3,
            completion_tokens: 4,
            total_tokens: 0,
            cached_tokens: Some(1),
        };
        let v = usage_json(&u);
        assert_eq!(v["total_tokens"], 7);
        assert_eq!(v["prompt_tokens_details"]["cached_tokens"], 1);
    }
}
