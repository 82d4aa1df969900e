//! The GLM Chat completion stream: SSE events `{"type":"chat:completion","data":{…}}`.
//!
//! With thinking and search on, for answer pieces `A0`, `A1`, … and reasoning pieces `R0..R2`:
//! ```text
//! data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\" done=\"false\">\n> R0"}}
//! data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"R1"}}
//! data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"R2"}}
//! data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":"<glm_block view=\"\">{…search…}</glm_block>"}}
//! data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"<details type=\"reasoning\" done=\"true\" duration=\"1\">\n> R0R1R2\n</details>\nA0"}}
//! data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"A1"}}
//! data: {"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":…,"completion_tokens":…,"total_tokens":…}}}
//! data: {"type":"chat:completion","data":{"phase":"done","done":true}}
//! ```
//! (each event ends with a blank line). With thinking off the first answer piece is a plain
//! `delta_content`. Usage: `prompt_tokens` = prompt characters / 4, `completion_tokens` = the
//! number of content events (reasoning pieces + answer pieces).
//! JSON is written by hand so key order matches the site byte for byte.

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The tool-call payload GLM streams for a web search; a decoder must drop it.
pub(crate) const SEARCH_BLOCK: &str =
    r#"<glm_block view="">{"type":"mcp","data":{"metadata":{"name":"search"}}}</glm_block>"#;

/// A JSON string literal for `text`.
fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// One SSE event wrapping `data_json` (the inner `data` object).
fn event(data_json: &str) -> String {
    format!("data: {{\"type\":\"chat:completion\",\"data\":{data_json}}}\n\n")
}

fn phase_field(phase: &str, field: &str, content: &str) -> String {
    event(&format!(
        "{{\"phase\":\"{phase}\",\"{field}\":{}}}",
        json_str(content)
    ))
}

/// The `MODEL_CONCURRENCY_LIMIT` event sent for `replica:fault=rate_limit`.
fn capacity_error() -> String {
    event(
        r#"{"error":{"code":"MODEL_CONCURRENCY_LIMIT","detail":"The model is currently at capacity, please switch to another model."}}"#,
    )
}

/// The body for one request: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan) -> Script {
    match plan.fault {
        Some(Fault::RateLimit) => {
            return Script {
                steps: vec![Step::fixed(capacity_error())],
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

    let mut steps = Vec::new();
    let mut content_events = 0usize;
    let reasoning = subject
        .thinking
        .then(|| answer::reasoning_pieces(subject.prompt, subject.search));
    if let Some(pieces) = &reasoning {
        for (i, piece) in pieces.iter().enumerate() {
            let text = if i == 0 {
                format!("<details type=\"reasoning\" done=\"false\">\n> {piece}")
            } else {
                piece.clone()
            };
            steps.push(Step::fixed(phase_field("thinking", "delta_content", &text)));
            content_events += 1;
        }
    }
    if subject.search {
        steps.push(Step::fixed(phase_field(
            "tool_call",
            "edit_content",
            SEARCH_BLOCK,
        )));
    }

    let pieces = answer::answer_pieces(subject, plan.chunks, plan.stamp);
    content_events += pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let opening = match (&reasoning, i) {
            (Some(r), 0) => Some(format!(
                "<details type=\"reasoning\" done=\"true\" duration=\"1\">\n> {}\n</details>\n",
                r.concat()
            )),
            _ => None,
        };
        steps.push(Step::answer(move || match opening {
            Some(details) => phase_field("answer", "edit_content", &(details + &piece.render())),
            None => phase_field("answer", "delta_content", &piece.render()),
        }));
    }

    let prompt_tokens = subject.prompt.chars().count() / 4;
    steps.push(Step::fixed(event(&format!(
        "{{\"phase\":\"other\",\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"completion_tokens\":{content_events},\"total_tokens\":{}}}}}",
        prompt_tokens + content_events
    ))));
    steps.push(Step::fixed(event(r#"{"phase":"done","done":true}"#)));

    let hold_after = match plan.fault {
        Some(Fault::Stall) => Some(1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
