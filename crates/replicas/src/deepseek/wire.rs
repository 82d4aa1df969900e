//! The DeepSeek completion stream: SSE carrying path/operation/value patches.
//!
//! ```text
//! event: ready
//! data: {"request_message_id":1,"response_message_id":2}
//!
//! data: {"v":{"response":{"message_id":2,"fragments":[{"id":1,"type":"THINK","content":"…"}],"status":"WIP"}}}
//! data: {"p":"response/fragments/-1/content","o":"APPEND","v":"…"}     second piece of a fragment
//! data: {"v":"…"}                                                      later pieces
//! data: {"p":"response/fragments","o":"APPEND","v":[{"id":2,"type":"RESPONSE","content":"…"}]}
//! data: {"p":"response","o":"BATCH","v":[{"p":"fragments/-1/status","v":"FINISHED"},{"p":"quasi_status","v":"FINISHED"}]}
//! data: {"p":"response/status","o":"SET","v":"FINISHED"}
//! event: close
//! data: {"click_behavior":"none","auto_resume":false}
//! ```
//! (every event ends with a blank line). Fragments, in order: `THINK` (3 reasoning pieces, when
//! thinking is on), `SEARCH` (one piece, when search is on), `RESPONSE` (the answer pieces).
//! JSON is written by hand so key order matches the site byte for byte.

use crate::answer::{self, Piece, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// What the `SEARCH` fragment says; a decoder must drop it.
pub(crate) const SEARCH_CONTENT: &str = "search results for the prompt";

/// The message ids of one exchange: the user's message and the reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageIds {
    pub request: u64,
    pub response: u64,
}

impl MessageIds {
    /// Ids following `parent` (the previous reply in the chat, if any).
    pub(crate) fn after(parent: Option<u64>) -> MessageIds {
        let request = parent.unwrap_or(0) + 1;
        MessageIds {
            request,
            response: request + 1,
        }
    }
}

/// A JSON string literal for `text`.
fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn data(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn ready(ids: MessageIds) -> Step {
    Step::fixed(format!(
        "event: ready\ndata: {{\"request_message_id\":{},\"response_message_id\":{}}}\n\n",
        ids.request, ids.response
    ))
}

fn snapshot(ids: MessageIds, fragments_json: &str) -> String {
    data(&format!(
        "{{\"v\":{{\"response\":{{\"message_id\":{},\"fragments\":[{fragments_json}],\"status\":\"WIP\"}}}}}}",
        ids.response
    ))
}

fn fragment_json(id: usize, kind: &str, content: &str) -> String {
    format!(
        "{{\"id\":{id},\"type\":\"{kind}\",\"content\":{}}}",
        json_str(content)
    )
}

fn finished() -> String {
    data(r#"{"p":"response/status","o":"SET","v":"FINISHED"}"#)
}

fn close() -> Step {
    Step::fixed(
        "event: close\ndata: {\"click_behavior\":\"none\",\"auto_resume\":false}\n\n".into(),
    )
}

/// The event that carries piece `index` of fragment `fragment` (0-based) with `content`.
fn piece_event(
    ids: MessageIds,
    fragment: usize,
    kind: &str,
    index: usize,
    content: &str,
) -> String {
    match (fragment, index) {
        (0, 0) => snapshot(ids, &fragment_json(1, kind, content)),
        (_, 0) => data(&format!(
            "{{\"p\":\"response/fragments\",\"o\":\"APPEND\",\"v\":[{}]}}",
            fragment_json(fragment + 1, kind, content)
        )),
        (_, 1) => data(&format!(
            "{{\"p\":\"response/fragments/-1/content\",\"o\":\"APPEND\",\"v\":{}}}",
            json_str(content)
        )),
        _ => data(&format!("{{\"v\":{}}}", json_str(content))),
    }
}

/// The body for one request: the normal stream, or the `empty` / `stall` / `slow_first` shapes.
/// (`rate_limit` never reaches here: it is a plain 429.)
pub(crate) fn script(subject: &Subject<'_>, ids: MessageIds, plan: &Plan) -> Script {
    if plan.fault == Some(Fault::Empty) {
        return Script {
            steps: vec![
                ready(ids),
                Step::fixed(snapshot(ids, "")),
                Step::fixed(finished()),
                close(),
            ],
            hold_after: None,
        };
    }

    let mut fragments: Vec<(&'static str, Vec<Piece>)> = Vec::new();
    if subject.thinking {
        let pieces = answer::reasoning_pieces(subject.prompt, subject.search);
        fragments.push(("THINK", pieces.into_iter().map(Piece::Text).collect()));
    }
    if subject.search {
        fragments.push(("SEARCH", vec![Piece::Text(SEARCH_CONTENT.into())]));
    }
    fragments.push((
        "RESPONSE",
        answer::answer_pieces(subject, plan.chunks, plan.stamp),
    ));

    let mut steps = vec![ready(ids)];
    for (f, (kind, pieces)) in fragments.into_iter().enumerate() {
        for (i, piece) in pieces.into_iter().enumerate() {
            steps.push(if kind == "RESPONSE" {
                Step::answer(move || piece_event(ids, f, kind, i, &piece.render()))
            } else {
                Step::fixed(piece_event(ids, f, kind, i, &piece.render()))
            });
        }
    }
    steps.push(Step::fixed(data(
        r#"{"p":"response","o":"BATCH","v":[{"p":"fragments/-1/status","v":"FINISHED"},{"p":"quasi_status","v":"FINISHED"}]}"#,
    )));
    steps.push(Step::fixed(finished()));
    steps.push(close());

    let hold_after = match plan.fault {
        // `ready` and the opening snapshot, then silence.
        Some(Fault::Stall) => Some(2),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
