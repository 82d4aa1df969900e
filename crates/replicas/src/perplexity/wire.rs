//! The Perplexity ask stream: SSE with `event:` lines; answer blocks built from JSON Patches.
//!
//! For answer pieces `A0`, `A1`, …, with thinking and search on:
//! ```text
//! event: message
//! data: {"backend_uuid":…,"status":"PENDING","blocks":[{"intended_usage":"pro_search_steps","plan_block":{"goals":[{"description":"<reasoning>"}],"progress":"IN_PROGRESS"}}]}
//!
//! event: message
//! data: {"status":"PENDING","blocks":[{"intended_usage":"web_results","web_result_block":{"web_results":[…]}}]}
//!
//! event: message
//! data: {"blocks":[{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"replace","path":"","value":{"chunks":["A0"],"answer":""}}]}}]}
//!
//! event: message
//! data: {"blocks":[{"intended_usage":"sources_answer_mode",…},{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"add","path":"/chunks/-","value":"A1"}]}}]}
//!
//! event: message
//! data: {"status":"COMPLETED","final_sse_message":true,"blocks":[{"intended_usage":"ask_text","markdown_block":{"answer":"A0A1…","chunks":["A0","A1",…]}},{"intended_usage":"web_results",…}]}
//!
//! event: end_of_stream
//! data: {}
//! ```
//! The first answer piece replaces the whole block (`path ""`), later ones append
//! (`/chunks/-`), and the final message re-sends the whole block, so a decoder must rebuild the
//! block and forward only what is new. With thinking on, the reasoning text is a plan block's
//! goal: Perplexity keeps its thinking in its plan steps, which never reach a client. With
//! search on, web results come first and a sources block rides along with the second piece
//! (and in the final message); their shapes beyond `intended_usage` are this replica's choice.
//! `replica:fault=empty` answers 200 with no events; `replica:fault=rate_limit` is answered
//! before the stream starts (HTTP 429, see the module root). JSON is written through `serde_json`
//! values (keys in alphabetical order), so bodies are stable byte for byte.

use serde_json::{Value, json};

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The web results Perplexity mixes into the stream with search on; a decoder must drop them.
pub(crate) const WEB_RESULT: &str = "Replica web result (never forwarded)";

/// One `message` event with `data`.
fn message(data: &Value) -> String {
    format!("event: message\ndata: {data}\n\n")
}

fn ask_text_patch(op: &str, path: &str, value: Value) -> Value {
    json!({"intended_usage": "ask_text", "diff_block": {"field": "markdown_block",
        "patches": [{"op": op, "path": path, "value": value}]}})
}

fn web_results() -> Value {
    json!({"intended_usage": "web_results", "web_result_block": {"web_results": [
        {"name": WEB_RESULT, "url": "https://search.example/r", "snippet": WEB_RESULT}]}})
}

fn sources() -> Value {
    json!({"intended_usage": "sources_answer_mode", "sources_mode_block": {"rows": [
        {"web_result": {"name": WEB_RESULT, "url": "https://search.example/r"}}]}})
}

/// The body for one request: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan, backend_uuid: &str) -> Script {
    if plan.fault == Some(Fault::Empty) {
        return Script {
            steps: Vec::new(),
            hold_after: None,
        };
    }
    let search = subject.search;
    let mut steps = Vec::new();
    let opening = if subject.thinking {
        let reasoning = answer::reasoning(subject.prompt, search);
        json!({"intended_usage": "pro_search_steps", "plan_block": {
            "goals": [{"description": reasoning}], "progress": "IN_PROGRESS"}})
    } else {
        json!({"intended_usage": "plan", "plan_block": {"goals": [], "progress": "IN_PROGRESS"}})
    };
    steps.push(Step::fixed(message(&json!({
        "backend_uuid": backend_uuid, "status": "PENDING", "blocks": [opening]
    }))));
    if search {
        steps.push(Step::fixed(message(
            &json!({"status": "PENDING", "blocks": [web_results()]}),
        )));
    }
    let first_answer = steps.len();
    let pieces = answer::answer_pieces(subject, plan.chunks, plan.stamp);
    // The final message re-sends every piece as rendered, so each step records its text.
    let rendered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for (i, piece) in pieces.into_iter().enumerate() {
        let rendered = std::sync::Arc::clone(&rendered);
        steps.push(Step::answer(move || {
            let text = piece.render();
            rendered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(text.clone());
            let block = if i == 0 {
                ask_text_patch("replace", "", json!({"chunks": [text], "answer": ""}))
            } else {
                ask_text_patch("add", "/chunks/-", json!(text))
            };
            let blocks = if i == 1 && search {
                vec![sources(), block]
            } else {
                vec![block]
            };
            message(&json!({ "blocks": blocks }))
        }));
    }
    steps.push(Step::later(move || {
        let chunks = rendered.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut blocks = vec![json!({"intended_usage": "ask_text", "markdown_block": {
            "answer": chunks.concat(), "chunks": chunks}})];
        if search {
            blocks.push(web_results());
        }
        message(&json!({"status": "COMPLETED", "final_sse_message": true, "blocks": blocks}))
    }));
    steps.push(Step::fixed("event: end_of_stream\ndata: {}\n\n".to_owned()));
    let hold_after = match plan.fault {
        // Up to the first answer piece (the echo line).
        Some(Fault::Stall) => Some(first_answer + 1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
