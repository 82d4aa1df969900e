//! The `GenerateContent` answer: the XSSI guard, then one outer array of events.
//!
//! ```text
//! )]}'
//! [[[[[[[null,"R0",null,null,null,null,null,null,null,null,null,null,1]],"model"]]]]   thoughts
//! ,[[[[[[null,"R1",…,1]],"model"]]]]
//! ,[[[[[[null,"R2",…,1]],"model"]]]]
//! ,[[[[[[null,"A0"]],"model"]]]]                     answer pieces
//! ,[[[[[[null,"A1"]],"model"],null,…,<grounding>]]]  search / URL context metadata (index 8)
//! ,[[[[[[null,"A2"]],"model"]]]]
//! ,[null,null,[<prompt>,<candidates>,<total>]]       usage
//! ]]
//! ```
//! An event nests event → candidates → candidate → content `[parts, "model"]` → parts → part;
//! a part is `[null, text]`, a thought has `1` at index 12 (provider-wire-formats §8.4). The
//! grounding metadata at candidate index 8 (search results, URL-context sources) is this
//! replica's choice; a decoder must drop it. Thoughts come only when the run thinks.
//!
//! Faults: `rate_limit` answers HTTP 200 with one event carrying Google's quota error
//! ([`QUOTA_TEXT`]); `blocked` one answer piece, then a candidate whose finish message says
//! "Content blocked" ([`BLOCKED_TEXT`]); `empty` a body without a single byte. A run that
//! `replica:blocks=N` blocks ([`blocked_run`]) has only the blocked candidate, no text.

use serde_json::{Value, json};

use crate::answer::{self, Subject};
use crate::faults::{Fault, Plan};
use crate::stream::{Script, Step};

/// The grounding source the stream carries with search on; a decoder must drop it.
pub(crate) const SEARCH_RESULT_URL: &str = "https://search.example/aistudio-result";

/// Google's words when the quota is used up.
pub(crate) const QUOTA_TEXT: &str =
    "Resource has been exhausted (e.g. check quota). You have reached your rate limit.";

/// The finish message of a blocked candidate.
pub(crate) const BLOCKED_TEXT: &str =
    "Content blocked: the model could not generate output for this prompt.";

/// One event with one part.
fn event(text: &str, thought: bool, grounding: Option<Value>) -> String {
    let mut part = vec![Value::Null, Value::String(text.to_owned())];
    if thought {
        part.resize(12, Value::Null);
        part.push(json!(1));
    }
    let mut candidate = vec![json!([[part], "model"])];
    if let Some(grounding) = grounding {
        candidate.resize(8, Value::Null);
        candidate.push(grounding);
    }
    json!([[candidate]]).to_string()
}

fn grounding(search: bool, url_context: bool) -> Option<Value> {
    let mut sources = Vec::new();
    if search {
        sources.push(json!(["web", [SEARCH_RESULT_URL, "Replica search result"]]));
    }
    if url_context {
        sources.push(json!([
            "url_context",
            ["https://url.example/page", "Fetched page"]
        ]));
    }
    (!sources.is_empty()).then(|| json!([sources]))
}

/// A run the content filter blocks before any text (`replica:blocks=N`): only the blocked
/// candidate's finish message.
pub(crate) fn blocked_run() -> Script {
    let blocked = json!([[[null, 8, null, null, BLOCKED_TEXT]]]).to_string();
    Script {
        steps: vec![
            Step::fixed(")]}'\n[[".to_owned()),
            Step::fixed(blocked),
            Step::fixed("\n]]".to_owned()),
        ],
        hold_after: None,
    }
}

/// The body for one run: the normal stream or a fault shape.
pub(crate) fn script(subject: &Subject<'_>, plan: &Plan, url_context: bool) -> Script {
    let open = || Step::fixed(")]}'\n[[".to_owned());
    let close = || Step::fixed("\n]]".to_owned());
    match plan.fault {
        Some(Fault::Empty) => {
            return Script {
                steps: Vec::new(),
                hold_after: None,
            };
        }
        Some(Fault::RateLimit) => {
            let error = json!([null, null, null, [8, QUOTA_TEXT]]).to_string();
            return Script {
                steps: vec![open(), Step::fixed(error), close()],
                hold_after: None,
            };
        }
        Some(Fault::Blocked) => {
            let blocked = json!([[[null, 8, null, null, BLOCKED_TEXT]]]).to_string();
            return Script {
                steps: vec![
                    open(),
                    Step::fixed(event("I can", false, None)),
                    Step::fixed(format!("\n,{blocked}")),
                    close(),
                ],
                hold_after: None,
            };
        }
        _ => {}
    }
    let mut steps = vec![open()];
    let mut sep = "";
    if subject.thinking {
        for piece in answer::reasoning_pieces(subject.prompt, subject.search) {
            steps.push(Step::fixed(format!("{sep}{}", event(&piece, true, None))));
            sep = "\n,";
        }
    }
    let first_answer = steps.len();
    let mut grounding = grounding(subject.search, url_context);
    for (i, piece) in answer::answer_pieces(subject, plan.chunks, plan.stamp)
        .into_iter()
        .enumerate()
    {
        // The grounding rides on the second answer piece (the first when there is one).
        let meta = if i == 1 || plan.chunks < 2 {
            grounding.take()
        } else {
            None
        };
        let sep = if i == 0 { sep } else { "\n," };
        steps.push(Step::answer(move || {
            format!("{sep}{}", event(&piece.render(), false, meta))
        }));
    }
    let words = subject.prompt.split_whitespace().count();
    steps.push(Step::fixed(format!(
        "\n,{}",
        json!([null, null, [words, plan.chunks, words + plan.chunks]])
    )));
    steps.push(close());
    let hold_after = match plan.fault {
        // Up to the first answer piece (the echo line).
        Some(Fault::Stall) => Some(first_answer + 1),
        Some(Fault::SlowFirst) => Some(0),
        _ => None,
    };
    Script { steps, hold_after }
}
