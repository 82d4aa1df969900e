//! The HuggingChat message stream: JSON objects one after another, one per line (not SSE).
//!
//! For reasoning pieces `R0..R2` and answer pieces `A0`, `A1`, …, with thinking and search on:
//! ```text
//! {"status":"started","type":"status"}
//! {"model":"<model>","route":"replica","type":"routerMetadata"}
//! {"subtype":"call","type":"tool",…}          (search only: the Exa MCP call and its result)
//! {"token":"<thi","type":"stream"}
//! {"token":"nk>R0","type":"stream"}
//! {"token":"R1","type":"stream"}
//! {"token":"R2</thi","type":"stream"}
//! {"token":"nk>\n\nA0","type":"stream"}
//! {"token":"A1\u0000\u0000\u0000","type":"stream"}
//! {"title":"…","type":"title"}
//! {"interrupted":false,"text":"<think>R0R1R2</think>\n\nA0A1…","type":"finalAnswer"}
//! ```
//! Both think tags are cut across two tokens and tokens after the first answer piece are padded
//! with `\u0000`, so a decoder must reassemble tags and strip NULs; the final answer repeats
//! the whole reply and must not be forwarded again. The tool and title payloads' shapes
//! beyond `type` are this replica's choice. `replica:fault=rate_limit` answers a `status`
//! `error` with the site's "too many messages" text; `replica:fault=empty` a 200 body with no
//! objects. JSON is written through `serde_json` values (keys in alphabetical order), so bodies
//! are stable byte for byte.

use serde_json::{Value, json};

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The search result HuggingChat's Exa tool returns with search on; a decoder must drop it.
pub(crate) const SEARCH_RESULT: &str = "Replica Exa result (never forwarded)";

/// The site's rate-limit text (chat-ui's).
pub(crate) const RATE_LIMIT_TEXT: &str = "You are sending too many messages. Try again later.";

fn line(update: &Value) -> String {
    format!("{update}\n")
}

fn token(text: &str) -> String {
    line(&json!({"type": "stream", "token": text}))
}

/// The body for one request: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan) -> Script {
    let started = line(&json!({"type": "status", "status": "started"}));
    match plan.fault {
        Some(Fault::Empty) => {
            return Script {
                steps: Vec::new(),
                hold_after: None,
            };
        }
        Some(Fault::RateLimit) => {
            return Script {
                steps: vec![
                    Step::fixed(started),
                    Step::fixed(line(
                        &json!({"type": "status", "status": "error", "message": RATE_LIMIT_TEXT}),
                    )),
                ],
                hold_after: None,
            };
        }
        _ => {}
    }
    let mut steps = vec![
        Step::fixed(started),
        Step::fixed(line(
            &json!({"type": "routerMetadata", "route": "replica", "model": subject.model}),
        )),
    ];
    if subject.search {
        steps.push(Step::fixed(line(
            &json!({"type": "tool", "subtype": "call", "uuid": "exa-1",
            "call": {"name": "web_search_exa", "parameters": {"query": "replica"}}}),
        )));
        steps.push(Step::fixed(line(
            &json!({"type": "tool", "subtype": "result", "uuid": "exa-1",
            "result": {"status": "success", "outputs": [{"text": SEARCH_RESULT}]}}),
        )));
    }
    let mut head = String::new();
    let reasoning = subject
        .thinking
        .then(|| answer::reasoning_pieces(subject.prompt, subject.search));
    if let Some([r0, r1, r2]) = &reasoning {
        steps.push(Step::fixed(token("<thi")));
        steps.push(Step::fixed(token(&format!("nk>{r0}"))));
        steps.push(Step::fixed(token(r1)));
        steps.push(Step::fixed(token(&format!("{r2}</thi"))));
        head = format!("<think>{r0}{r1}{r2}</think>\n\n");
    }
    let first_answer = steps.len();
    let pieces = answer::answer_pieces(subject, plan.chunks, plan.stamp);
    let rendered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let thought = reasoning.is_some();
    for (i, piece) in pieces.into_iter().enumerate() {
        let rendered = std::sync::Arc::clone(&rendered);
        steps.push(Step::answer(move || {
            let text = piece.render();
            rendered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(text.clone());
            match i {
                0 if thought => token(&format!("nk>\n\n{text}")),
                0 => token(&text),
                _ => token(&format!("{text}\u{0}\u{0}\u{0}")),
            }
        }));
    }
    steps.push(Step::fixed(line(
        &json!({"type": "title", "title": "Replica conversation"}),
    )));
    steps.push(Step::later(move || {
        let text = rendered.lock().unwrap_or_else(|e| e.into_inner()).concat();
        line(&json!({"type": "finalAnswer", "text": format!("{head}{text}"), "interrupted": false}))
    }));
    let hold_after = match plan.fault {
        // Up to the first answer piece (the echo line).
        Some(Fault::Stall) => Some(first_answer + 1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
