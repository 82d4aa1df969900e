//! The Xiaomi MiMo completion stream: SSE with named events.
//!
//! For reasoning pieces `R0..R2` and answer pieces `A0`, `A1`, …, with search on:
//! ```text
//! event: message
//! data: {"type":"text","content":"\u0000"}
//!
//! event: message
//! data: {"type":"text","content":"<thi"}
//!
//! event: message
//! data: {"type":"text","content":"nk>R0"}
//!
//! event: message
//! data: {"type":"search","content":"{…search results…}"}
//!
//! event: message
//! data: {"type":"text","content":"R1"}
//!
//! event: message
//! data: {"type":"text","content":"R2</thi"}
//!
//! event: message
//! data: {"type":"text","content":"nk>\n\nA0"}
//!
//! event: message
//! data: {"type":"text","content":"A1"}
//!
//! event: usage
//! data: {"promptTokens":…,"completionTokens":…,"totalTokens":…}
//!
//! event: finish
//! data: {"content":"[DONE]"}
//! ```
//! The site always thinks (it has no thinking toggle), so every reply opens with `<think>`; both
//! tags are cut across two events, and a `\u0000` opens the stream, so a decoder must reassemble
//! tags and strip NULs. The `search` payload (only with search on) is this replica's choice of
//! shape: the reference only says the decoder filters non-text payloads. Usage:
//! `promptTokens` = prompt characters / 4, `completionTokens` = the number of content events.
//! `replica:fault=blocked` answers one `sensitive_query` event (the site's content filter);
//! `replica:fault=rate_limit` is answered before the stream starts (HTTP 429, see the module
//! root). JSON is written by hand so key order is stable byte for byte.

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The search payload MiMo mixes into the stream with search on; a decoder must drop it.
pub(crate) const SEARCH_PAYLOAD: &str = r#"{"query":"replica search","results":[{"title":"Replica result","url":"https://search.example/r"}]}"#;

/// A JSON string literal for `text`.
fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// One named SSE event.
fn event(name: &str, data_json: &str) -> String {
    format!("event: {name}\ndata: {data_json}\n\n")
}

/// A `message` event of `type` carrying `content`.
fn message(kind: &str, content: &str) -> String {
    event(
        "message",
        &format!("{{\"type\":\"{kind}\",\"content\":{}}}", json_str(content)),
    )
}

/// The body for one request: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan) -> Script {
    match plan.fault {
        Some(Fault::Blocked) => {
            return Script {
                steps: vec![
                    Step::fixed(message("text", "\u{0}")),
                    Step::fixed(event("sensitive_query", r#"{"content":"sensitive query"}"#)),
                ],
                hold_after: None,
            };
        }
        Some(Fault::Empty) => {
            return Script {
                steps: Vec::new(),
                hold_after: None,
            };
        }
        _ => {}
    }

    let mut steps = vec![Step::fixed(message("text", "\u{0}"))];
    let mut content_events = 0usize;
    let reasoning = subject
        .thinking
        .then(|| answer::reasoning_pieces(subject.prompt, subject.search));
    if let Some([r0, r1, r2]) = &reasoning {
        steps.push(Step::fixed(message("text", "<thi")));
        steps.push(Step::fixed(message("text", &format!("nk>{r0}"))));
        if subject.search {
            steps.push(Step::fixed(message("search", SEARCH_PAYLOAD)));
        }
        steps.push(Step::fixed(message("text", r1)));
        steps.push(Step::fixed(message("text", &format!("{r2}</thi"))));
        content_events += 3;
    } else if subject.search {
        steps.push(Step::fixed(message("search", SEARCH_PAYLOAD)));
    }

    let first_answer = steps.len();
    let pieces = answer::answer_pieces(subject, plan.chunks, plan.stamp);
    content_events += pieces.len();
    let thought = reasoning.is_some();
    for (i, piece) in pieces.into_iter().enumerate() {
        steps.push(Step::answer(move || {
            let text = piece.render();
            if thought && i == 0 {
                message("text", &format!("nk>\n\n{text}"))
            } else {
                message("text", &text)
            }
        }));
    }

    let prompt_tokens = subject.prompt.chars().count() / 4;
    steps.push(Step::fixed(event(
        "usage",
        &format!(
            "{{\"promptTokens\":{prompt_tokens},\"completionTokens\":{content_events},\"totalTokens\":{}}}",
            prompt_tokens + content_events
        ),
    )));
    steps.push(Step::fixed(event("finish", r#"{"content":"[DONE]"}"#)));

    let hold_after = match plan.fault {
        // Up to the first answer piece (the echo line).
        Some(Fault::Stall) => Some(first_answer + 1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
