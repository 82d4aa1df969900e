//! The QwenLM completion stream: SSE events shaped like OpenAI chunks, with a `phase`.
//!
//! With thinking and search on, for answer pieces `A0`, `A1`, … (each event ends with a blank
//! line):
//! ```text
//! data: {"response.created":{"chat_id":"<chat>","parent_id":null,"response_id":"<id>"}}
//! data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"web_search","status":"typing","extra":{"web_search_info":[]}}}]}
//! data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"web_search","status":"finished","extra":{"web_search_info":[{"url":"https://…","title":"…","snippet":"…"}]}}}]}
//! data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"thinking_summary","extra":{"summary_title":{"content":["<reasoning>"]},"summary_thought":{"content":["T0"]}},"status":"typing"}}]}
//! data: … the same with "T0T1", then "T0T1T2", then once more with "status":"finished"
//! data: {"choices":[{"delta":{"role":"assistant","content":"A0","phase":"answer","status":"typing"}}]}
//! data: {"choices":[{"delta":{"role":"assistant","content":"A1","phase":"answer","status":"typing"}}]}
//! data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"answer","status":"finished"}}],"usage":{"input_tokens":…,"output_tokens":…,"total_tokens":…}}
//! ```
//! The summary is **cumulative**: every event re-sends the title and the whole thought so far,
//! so a decoder must forward only the new suffix. `<reasoning>` is the shared reply's reasoning
//! text, the thought [`THOUGHT`]; a client sees `<reasoning>\n<THOUGHT>`. Usage:
//! `input_tokens` = prompt characters / 4, `output_tokens` = summary events + answer pieces.
//! JSON is written by hand so key order matches the site.

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The summary thought every thinking reply grows to, in three cumulative pieces.
pub(crate) const THOUGHT: &str = "Answer with an echo of the prompt.";

/// A string of a search result a decoder must drop (it never reaches a client).
const SEARCH_RESULT: &str = "SEARCH-RESULT replica weather page";

/// The site's reply to a request its content filter blocks (`replica:fault=blocked`).
pub(crate) const BLOCKED_EVENT: &str = r#"{"error":{"code":"data_inspection_failed","details":"Input data may contain inappropriate content."}}"#;

/// A JSON string literal for `text`.
fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn event(json: &str) -> String {
    format!("data: {json}\n\n")
}

fn delta(fields: &str) -> String {
    event(&format!(
        "{{\"choices\":[{{\"delta\":{{\"role\":\"assistant\",{fields}}}}}]}}"
    ))
}

fn summary(title: &str, thought: &str, status: &str) -> String {
    delta(&format!(
        "\"content\":\"\",\"phase\":\"thinking_summary\",\"extra\":{{\"summary_title\":{{\"content\":[{}]}},\"summary_thought\":{{\"content\":[{}]}}}},\"status\":\"{status}\"",
        json_str(title),
        json_str(thought)
    ))
}

/// The body for one request: the normal stream or a fault shape. `chat` and `response` are the
/// ids the opening event names.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan, chat: &str, response: &str) -> Script {
    match plan.fault {
        Some(Fault::Blocked) => {
            return Script {
                steps: vec![Step::fixed(event(BLOCKED_EVENT))],
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
    let mut steps = vec![Step::fixed(event(&format!(
        "{{\"response.created\":{{\"chat_id\":{},\"parent_id\":null,\"response_id\":{}}}}}",
        json_str(chat),
        json_str(response)
    )))];
    let mut output_events = 0usize;
    if subject.search {
        steps.push(Step::fixed(delta(
            "\"content\":\"\",\"phase\":\"web_search\",\"status\":\"typing\",\"extra\":{\"web_search_info\":[]}",
        )));
        steps.push(Step::fixed(delta(&format!(
            "\"content\":\"\",\"phase\":\"web_search\",\"status\":\"finished\",\"extra\":{{\"web_search_info\":[{{\"url\":\"https://weather.example.com/today\",\"title\":{},\"snippet\":\"sunny\"}}]}}",
            json_str(SEARCH_RESULT)
        ))));
    }
    if subject.thinking {
        let title = answer::reasoning(subject.prompt, subject.search);
        let chars: Vec<char> = THOUGHT.chars().collect();
        let third = chars.len() / 3;
        for end in [third, 2 * third, chars.len()] {
            let thought: String = chars[..end].iter().collect();
            steps.push(Step::fixed(summary(&title, &thought, "typing")));
            output_events += 1;
        }
        steps.push(Step::fixed(summary(&title, THOUGHT, "finished")));
    }
    let pieces = answer::answer_pieces(subject, plan.chunks, plan.stamp);
    output_events += pieces.len();
    for piece in pieces {
        steps.push(Step::answer(move || {
            delta(&format!(
                "\"content\":{},\"phase\":\"answer\",\"status\":\"typing\"",
                json_str(&piece.render())
            ))
        }));
    }
    let input_tokens = subject.prompt.chars().count() / 4;
    steps.push(Step::fixed(event(&format!(
        "{{\"choices\":[{{\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"phase\":\"answer\",\"status\":\"finished\"}}}}],\"usage\":{{\"input_tokens\":{input_tokens},\"output_tokens\":{output_events},\"total_tokens\":{}}}}}",
        input_tokens + output_events
    ))));
    let hold_after = match plan.fault {
        Some(Fault::Stall) => Some(2),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
