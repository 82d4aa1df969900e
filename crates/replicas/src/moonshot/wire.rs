//! The Kimi completion stream: Connect streaming envelopes with the JSON codec.
//!
//! Each event is one envelope, `[flags][4-byte big-endian length][JSON]`; the stream ends with
//! the end-of-stream trailer (flags `0x02`, `{}`). For reasoning pieces `R0..R2` and answer
//! pieces `A0`, `A1`, … (thinking at a level above Standard, search on), the payloads are:
//! ```text
//! {"op":"set","eventOffset":1,"chat":{"id":"<chat>","name":"New chat"}}
//! {"op":"set","mask":"message","eventOffset":2,"message":{"id":"<reply>","role":"assistant","status":"MESSAGE_STATUS_GENERATING"}}
//! (a length-0 envelope)
//! {"op":"set","mask":"block.think","eventOffset":3,"block":{"id":"0_0","think":{"content":"R0"}}}
//! {"op":"set","mask":"block.search","eventOffset":4,"block":{"id":"0_s","search":{…}}}
//! {"op":"append","mask":"block.think.content",…,"block":{"id":"0_0","think":{"content":"R1"}}}
//! {"eventOffset":…,"heartbeat":{}}
//! {"op":"append","mask":"block.think.content",…,"block":{"id":"0_0","think":{"content":"R2"}}}
//! {"op":"set","mask":"block.text",…,"block":{"id":"0_1","text":{"content":"A0"}}}
//! {"op":"append","mask":"block.text.content",…,"block":{"id":"0_1","text":{"content":"A1"}}}
//! {"op":"set","mask":"message.status",…,"message":{"id":"<reply>","status":"MESSAGE_STATUS_COMPLETED"}}
//! {"eventOffset":…,"done":{}}
//! trailer (flags 0x02): {}
//! ```
//! The `block.search` payload's shape is this replica's choice: the reference only says the
//! decoder keeps to the think and text masks. Faults: `rate_limit` answers the site's
//! "Too many people are chatting with Kimi right now." as the reply's text, `blocked` a
//! `TYPE_CONTENT_FILTER` notification, `empty` a body without a single envelope.

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The search payload mixed into the stream with search on; a decoder must drop it.
pub(crate) const SEARCH_RESULTS: &str = r#"{"query":"replica search","results":[{"title":"Replica result","url":"https://search.example/r","snippet":"What the replica found."}]}"#;

/// The site's words when it is at capacity.
pub(crate) const AT_CAPACITY: &str =
    "Too many people are chatting with Kimi right now. Please try again later.";

/// One envelope.
pub(crate) fn envelope(flags: u8, payload: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload.as_bytes());
    out
}

fn frame(payload: String) -> Step {
    Step::bytes(envelope(0, &payload))
}

fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A block event: `part` is `think` or `text`.
fn block(op: &str, mask: &str, offset: usize, id: &str, part: &str, content: &str) -> String {
    format!(
        "{{\"op\":\"{op}\",\"mask\":\"{mask}\",\"eventOffset\":{offset},\"block\":{{\"id\":\"{id}\",\"{part}\":{{\"content\":{}}}}}}}",
        json_str(content)
    )
}

/// The body for one request: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan, chat: &str, reply: &str) -> Script {
    let trailer = || Step::bytes(envelope(0x02, "{}"));
    let mut steps = vec![
        frame(format!(
            "{{\"op\":\"set\",\"eventOffset\":1,\"chat\":{{\"id\":\"{chat}\",\"name\":\"New chat\"}}}}"
        )),
        frame(format!(
            "{{\"op\":\"set\",\"mask\":\"message\",\"eventOffset\":2,\"message\":{{\"id\":\"{reply}\",\"role\":\"assistant\",\"status\":\"MESSAGE_STATUS_GENERATING\"}}}}"
        )),
    ];
    match plan.fault {
        Some(Fault::Empty) => {
            return Script {
                steps: Vec::new(),
                hold_after: None,
            };
        }
        Some(Fault::RateLimit) => {
            steps.push(frame(block(
                "set",
                "block.text",
                3,
                "0_1",
                "text",
                AT_CAPACITY,
            )));
            steps.push(frame(format!(
                "{{\"op\":\"set\",\"mask\":\"message.status\",\"eventOffset\":4,\"message\":{{\"id\":\"{reply}\",\"status\":\"MESSAGE_STATUS_COMPLETED\"}}}}"
            )));
            steps.push(trailer());
            return Script {
                steps,
                hold_after: None,
            };
        }
        Some(Fault::Blocked) => {
            steps.push(frame(
                r#"{"eventOffset":3,"notification":{"type":"TYPE_CONTENT_FILTER","message":"This content may violate our usage policies."}}"#.to_owned(),
            ));
            steps.push(trailer());
            return Script {
                steps,
                hold_after: None,
            };
        }
        _ => {}
    }
    // A length-0 envelope, which a decoder skips.
    steps.push(Step::bytes(envelope(0, "")));
    let mut offset = 3;
    let mut next = || {
        offset += 1;
        offset - 1
    };
    if subject.thinking {
        let [r0, r1, r2] = answer::reasoning_pieces(subject.prompt, subject.search);
        steps.push(frame(block(
            "set",
            "block.think",
            next(),
            "0_0",
            "think",
            &r0,
        )));
        if subject.search {
            steps.push(frame(format!(
                "{{\"op\":\"set\",\"mask\":\"block.search\",\"eventOffset\":{},\"block\":{{\"id\":\"0_s\",\"search\":{SEARCH_RESULTS}}}}}",
                next()
            )));
        }
        steps.push(frame(block(
            "append",
            "block.think.content",
            next(),
            "0_0",
            "think",
            &r1,
        )));
        steps.push(frame(format!(
            "{{\"eventOffset\":{},\"heartbeat\":{{}}}}",
            next()
        )));
        steps.push(frame(block(
            "append",
            "block.think.content",
            next(),
            "0_0",
            "think",
            &r2,
        )));
    } else if subject.search {
        steps.push(frame(format!(
            "{{\"op\":\"set\",\"mask\":\"block.search\",\"eventOffset\":{},\"block\":{{\"id\":\"0_s\",\"search\":{SEARCH_RESULTS}}}}}",
            next()
        )));
    }
    let first_answer = steps.len();
    for (i, piece) in answer::answer_pieces(subject, plan.chunks, plan.stamp)
        .into_iter()
        .enumerate()
    {
        let at = next();
        steps.push(Step::answer_bytes(move || {
            let (op, mask) = if i == 0 {
                ("set", "block.text")
            } else {
                ("append", "block.text.content")
            };
            envelope(0, &block(op, mask, at, "0_1", "text", &piece.render()))
        }));
    }
    steps.push(frame(format!(
        "{{\"op\":\"set\",\"mask\":\"message.status\",\"eventOffset\":{},\"message\":{{\"id\":\"{reply}\",\"status\":\"MESSAGE_STATUS_COMPLETED\"}}}}",
        next()
    )));
    steps.push(frame(format!(
        "{{\"eventOffset\":{},\"done\":{{}}}}",
        next()
    )));
    steps.push(trailer());
    let hold_after = match plan.fault {
        // Up to the first answer piece (the echo line).
        Some(Fault::Stall) => Some(first_answer + 1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
