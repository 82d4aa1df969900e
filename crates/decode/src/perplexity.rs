//! Perplexity's stream format: SSE with `event:` lines, answer blocks rebuilt from JSON Patches.
//!
//! The ask request (`POST /rest/sse/perplexity_ask`) answers with `event:` / `data:` pairs. Each
//! `message` payload is a JSON object whose `blocks[]` each name an `intended_usage`:
//!
//! - `ask_text`, or numbered `ask_text_<n>_markdown`: the answer. A block carries a whole
//!   `markdown_block` {`answer`, `chunks[]`}, or a `diff_block` {`field: "markdown_block"`,
//!   `patches[]`}: JSON Patch operations (`add`, `replace`, `remove`) on that block, with the
//!   paths the site uses (`""` the whole block, `/answer`, `/chunks/<i>`, `/chunks/-` to append;
//!   any JSON Pointer is applied). The text of a block is its chunks joined, or its `answer`
//!   when that is longer. The answer is `ask_text` if the stream has one, else the numbered
//!   blocks in order joined by blank lines. It is rebuilt after every payload and only the
//!   suffix not yet sent is forwarded (GLM's `missing_suffix` alignment).
//! - Anything else (web results, sources, plans and their reasoning steps, media): never answer
//!   text, and dropped. The usages Perplexity is known to send are dropped silently
//!   ([`NON_ANSWER_USAGES`]); another one is dropped and reported. Perplexity's thinking lives
//!   in those plan blocks, so no thinking is ever forwarded.
//!
//! The answer ends with `event: end_of_stream` or `event: final_sse_message`, `data: [DONE]`, or
//! a payload with `final_sse_message: true` or `status: "COMPLETED"` (its blocks are read
//! first). An answer that ends without any answer text is an error ([`NO_TEXT`]); a body without
//! a single event is [`EMPTY_STREAM`]. A payload with `status: "FAILED"` or an `error` /
//! `error_code`, or a refused request's bare JSON (`{"detail":…}`), is an error; rate-limit
//! words in it give [`RATE_LIMITED`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::glm::missing_suffix;
use crate::lines::{LineDecoder, LineState, NamedLine, NamedSse};
use crate::{FinishReason, Report, StreamEvent};

/// The error shown when the answer ended without any answer text.
pub const NO_TEXT: &str = "Perplexity returned no assistant text: the thread ended without an \
                           answer block. Try again, or open the thread on the site.";

/// The error shown when the site refused the request for its rate limit.
pub const RATE_LIMITED: &str = "Perplexity rate limit hit: the site refused the request (free accounts are heavily \
     rate-limited). Try again later.";

/// The error shown when the body ended without a single event.
pub const EMPTY_STREAM: &str = "Perplexity returned an empty stream. Try again.";

/// What ends an answer, for a report's message.
const END_MARKER: &str =
    "Perplexity's end marker (`end_of_stream`, `final_sse_message` or `status` COMPLETED)";

/// The block usages that carry no answer text and are dropped without a report.
pub const NON_ANSWER_USAGES: [&str; 12] = [
    "web_results",
    "sources_answer_mode",
    "plan",
    "pro_search_steps",
    "reasoning_plan",
    "media_items",
    "image_answer_mode",
    "video_answer_mode",
    "knowledge_cards",
    "answer_tabs",
    "related_queries",
    "entity_list",
];

/// Words in an error that mean "rate limit", lowercase.
const RATE_HINTS: [&str; 4] = ["rate limit", "rate_limit", "too many requests", "429"];

/// Decodes one Perplexity ask response body.
pub type PerplexityDecoder = LineDecoder<Thread>;

impl LineState for Thread {
    const END_MARKER: &'static str = END_MARKER;

    fn line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.on_line(line, out);
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.end_of_body(out);
    }

    fn report(&self) -> &Report {
        &self.report
    }

    fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }
}

/// The decoding state of one response (opaque; the decoder is [`PerplexityDecoder`]).
#[derive(Debug, Default)]
pub struct Thread {
    /// The name of the event being read.
    sse: NamedSse,
    /// Whether any event arrived; without one the body counts as empty.
    saw_event: bool,
    /// Set when the answer finished or failed; later lines are ignored.
    ended: bool,
    /// The `ask_text` block as rebuilt so far (`Null` until the stream has one).
    main: Value,
    /// The numbered `ask_text_<n>_markdown` blocks as rebuilt so far, by `n`.
    numbered: BTreeMap<u64, Value>,
    /// All answer text sent so far, to align the next rebuilt answer with.
    sent: String,
    /// Unknown kinds, bad lines, and whether the end marker came.
    report: Report,
}

impl Thread {
    fn on_line(&mut self, line: &str, out: &mut Vec<StreamEvent>) {
        self.report.line();
        let Some(NamedLine {
            event: name,
            payload,
            is_data,
        }) = self.sse.line(line)
        else {
            return;
        };
        if self.ended {
            return;
        }
        if is_data {
            self.saw_event = true;
            if name == "end_of_stream" || payload.trim() == "[DONE]" {
                return self.finish(out);
            }
        }
        let Ok(Value::Object(data)) = serde_json::from_str::<Value>(payload) else {
            self.report.malformed(line);
            return;
        };
        if let Some(message) = error_in(&data) {
            return self.fail(message, out);
        }
        if !is_data {
            return self
                .report
                .unknown("bare JSON without an error".into(), out);
        }
        match name.as_str() {
            "message" | "final_sse_message" => {}
            other => return self.report.unknown(format!("event:{other}"), out),
        }
        if let Some(Value::Array(blocks)) = data.get("blocks") {
            for block in blocks {
                self.block(block, out);
            }
            self.send_new_text(out);
        }
        let completed = data.get("status").and_then(Value::as_str) == Some("COMPLETED");
        let last = data.get("final_sse_message").and_then(Value::as_bool) == Some(true);
        if completed || last || name == "final_sse_message" {
            self.finish(out);
        }
    }

    /// Applies one block of a payload.
    fn block(&mut self, block: &Value, out: &mut Vec<StreamEvent>) {
        let Some(usage) = block.get("intended_usage").and_then(Value::as_str) else {
            return self
                .report
                .unknown("block without intended_usage".into(), out);
        };
        let slot = if usage == "ask_text" {
            &mut self.main
        } else if let Some(n) = numbered(usage) {
            self.numbered.entry(n).or_insert(Value::Null)
        } else {
            if !NON_ANSWER_USAGES.contains(&usage) {
                self.report.unknown(format!("intended_usage:{usage}"), out);
            }
            return;
        };
        if let Some(whole) = block.get("markdown_block") {
            *slot = whole.clone();
        }
        let Some(diff) = block.get("diff_block") else {
            return;
        };
        let field = diff.get("field").and_then(Value::as_str).unwrap_or("");
        if field != "markdown_block" {
            return self
                .report
                .unknown(format!("diff_block field:{field}"), out);
        }
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        let patches = diff.get("patches").and_then(Value::as_array);
        for patch in patches.into_iter().flatten() {
            if let Err(kind) = apply_patch(slot, patch) {
                self.report.unknown(kind, out);
            }
        }
    }

    /// Sends the part of the rebuilt answer the client has not seen.
    fn send_new_text(&mut self, out: &mut Vec<StreamEvent>) {
        let full = self.answer();
        let missing = missing_suffix(&self.sent, &full).to_owned();
        if !missing.is_empty() {
            self.sent.push_str(&missing);
            out.push(StreamEvent::Text(missing));
        }
    }

    /// The whole answer as the blocks hold it now.
    fn answer(&self) -> String {
        if !self.main.is_null() {
            return block_text(&self.main);
        }
        self.numbered
            .values()
            .map(block_text)
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.ended = true;
        self.report.end();
        if self.sent.is_empty() {
            out.push(StreamEvent::Error(NO_TEXT.to_owned()));
        } else {
            out.push(StreamEvent::Finished(FinishReason::Stop));
        }
    }

    fn fail(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error(message));
        self.ended = true;
        self.report.end();
    }

    fn end_of_body(&mut self, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.saw_event {
            out.push(StreamEvent::Error(EMPTY_STREAM.to_owned()));
        } else if self.sent.is_empty() {
            out.push(StreamEvent::Error(NO_TEXT.to_owned()));
        }
    }
}

/// `n` of a numbered answer block's usage `ask_text_<n>_markdown`.
fn numbered(usage: &str) -> Option<u64> {
    usage
        .strip_prefix("ask_text_")?
        .strip_suffix("_markdown")?
        .parse()
        .ok()
}

/// The text of one answer block: its chunks joined, or its `answer` if that is longer.
fn block_text(block: &Value) -> String {
    let chunks: String = block
        .get("chunks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match block.get("answer").and_then(Value::as_str) {
        Some(answer) if answer.len() > chunks.len() => answer.to_owned(),
        _ => chunks,
    }
}

/// Applies one JSON Patch operation (`add`, `replace`, `remove`) to `target` (RFC 6902, but a
/// `replace` of an object member that is missing sets it). An operation or a path that does not
/// apply is an `Err` naming the unknown kind (the patch is skipped). Hand-written: the site uses
/// three operations on a handful of paths, which does not call for a JSON Patch crate.
fn apply_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let op = patch.get("op").and_then(Value::as_str).unwrap_or("");
    let path = patch.get("path").and_then(Value::as_str).unwrap_or("");
    let value = patch.get("value").cloned().unwrap_or(Value::Null);
    if !matches!(op, "add" | "replace" | "remove") {
        return Err(format!("patch op:{op}"));
    }
    let unapplied = || format!("patch {op} on a missing path:{}", path_shape(path));
    if path.is_empty() {
        *target = if op == "remove" {
            Value::Object(Map::new())
        } else {
            value
        };
        return Ok(());
    }
    let Some(tokens) = path.strip_prefix('/') else {
        return Err(unapplied());
    };
    let tokens: Vec<String> = tokens
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        return Err(unapplied());
    };
    let mut node = target;
    for token in parents {
        node = match node {
            Value::Object(map) => map.get_mut(token.as_str()),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(unapplied)?;
    }
    match node {
        Value::Object(map) => match op {
            "remove" => map.remove(last.as_str()).map(drop).ok_or_else(unapplied),
            // `replace` of a member the block lacks sets it, as the site means it.
            _ => {
                map.insert(last.clone(), value);
                Ok(())
            }
        },
        Value::Array(items) => {
            let index = if last == "-" {
                Some(items.len())
            } else {
                last.parse::<usize>().ok()
            };
            match (op, index) {
                ("add", Some(i)) if i <= items.len() => {
                    items.insert(i, value);
                    Ok(())
                }
                ("replace", Some(i)) if i < items.len() => {
                    items[i] = value;
                    Ok(())
                }
                ("remove", Some(i)) if i < items.len() => {
                    items.remove(i);
                    Ok(())
                }
                _ => Err(unapplied()),
            }
        }
        _ => Err(unapplied()),
    }
}

/// A path with its indices as `<i>`, so a report counts one kind per shape.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|t| {
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                "<i>"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The user-facing message of a payload that reports a failure, or `None`.
fn error_in(data: &Map<String, Value>) -> Option<String> {
    let failed = data.get("status").and_then(Value::as_str) == Some("FAILED");
    let error = ["error", "error_code", "detail"]
        .iter()
        .filter_map(|key| data.get(*key))
        .find(|v| !matches!(v, Value::Null | Value::Bool(false)));
    if !failed && error.is_none() {
        return None;
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Object(fields) => ["message", "detail", "msg", "code"]
            .iter()
            .find_map(|key| fields.get(*key).and_then(Value::as_str))
            .unwrap_or("")
            .trim()
            .to_owned(),
        other => other.to_string(),
    };
    let mut detail: Vec<String> = ["error_code", "error", "detail", "text", "message"]
        .iter()
        .filter_map(|key| data.get(*key))
        .map(text)
        .filter(|t| !t.is_empty())
        .collect();
    detail.dedup();
    let detail = detail.join(": ");
    if RATE_HINTS
        .iter()
        .any(|hint| detail.to_lowercase().contains(hint))
    {
        return Some(format!("{RATE_LIMITED} ({detail})"));
    }
    Some(match detail.as_str() {
        "" => "Perplexity: the site reported an error.".to_owned(),
        detail => format!("Perplexity: {detail}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decode;
    use crate::{coalesce, decode_all};

    const STOP: StreamEvent = StreamEvent::Finished(FinishReason::Stop);

    fn text(s: &str) -> StreamEvent {
        StreamEvent::Text(s.to_owned())
    }
    fn error(s: &str) -> StreamEvent {
        StreamEvent::Error(s.to_owned())
    }

    fn check(body: &str, expected: &[StreamEvent]) {
        let events = decode_all(PerplexityDecoder::new(), body.as_bytes());
        assert_eq!(coalesce(&events), expected, "body:\n{body}");
    }

    /// The reference's reconstructed example.
    const EXAMPLE: &str = r#"event: message
data: {"status":"PENDING","blocks":[{"intended_usage":"web_results","web_result_block":{"web_results":[]}}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"replace","path":"","value":{"chunks":["Hello"],"answer":""}}]}}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"add","path":"/chunks/-","value":", world."}]}}]}

event: message
data: {"status":"COMPLETED","final_sse_message":true,"blocks":[{"intended_usage":"ask_text","markdown_block":{"answer":"Hello, world.","chunks":["Hello",", world."]}}]}

event: end_of_stream
data: {}

"#;

    /// Numbered blocks, a plan with reasoning and sources between, a chunk replaced and one
    /// removed, `answer` longer than the chunks, the end by `event: end_of_stream` alone.
    const NUMBERED: &str = r#"event: message
data: {"blocks":[{"intended_usage":"pro_search_steps","plan_block":{"goals":[{"description":"Think ü hard"}]}}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text_0_markdown","markdown_block":{"chunks":["Part ","one"]}}]}

event: message
data: {"blocks":[{"intended_usage":"sources_answer_mode","sources_block":{"rows":[{"url":"https://x.example"}]}},{"intended_usage":"ask_text_1_markdown","diff_block":{"field":"markdown_block","patches":[{"op":"add","path":"/chunks","value":["Part two 😀"]}]}}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text_1_markdown","diff_block":{"field":"markdown_block","patches":[{"op":"add","path":"/chunks/-","value":" more"},{"op":"add","path":"/chunks/-","value":" junk"},{"op":"remove","path":"/chunks/2"}]}}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text_1_markdown","diff_block":{"field":"markdown_block","patches":[{"op":"replace","path":"/answer","value":"Part two 😀 more, done."}]}}]}

event: end_of_stream
data: {}
"#;

    fn samples() -> Vec<(&'static str, Vec<StreamEvent>)> {
        vec![
            (EXAMPLE, vec![text("Hello, world."), STOP]),
            (
                NUMBERED,
                vec![text("Part one\n\nPart two 😀 more, done."), STOP],
            ),
            (
                "event: message\ndata: {\"status\":\"COMPLETED\",\"blocks\":[]}\n",
                vec![error(NO_TEXT)],
            ),
            (
                r#"{"detail":"Too many requests, slow down"}"#,
                vec![error(&format!(
                    "{RATE_LIMITED} (Too many requests, slow down)"
                ))],
            ),
            ("", vec![error(EMPTY_STREAM)]),
        ]
    }

    #[test]
    fn every_sample_decodes_to_its_expected_events() {
        for (body, expected) in samples() {
            check(body, &expected);
        }
    }

    #[test]
    fn any_split_gives_the_same_events() {
        for (body, expected) in samples() {
            crate::testing::check_every_split(PerplexityDecoder::new, body, &expected);
        }
    }

    #[test]
    fn a_whole_block_replace_sends_only_the_new_suffix() {
        let body = r#"data: {"blocks":[{"intended_usage":"ask_text","markdown_block":{"chunks":["One"]}}]}
data: {"blocks":[{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"replace","path":"","value":{"chunks":["One"," two"]}}]}}]}
data: {"final_sse_message":true}
"#;
        let events = decode_all(PerplexityDecoder::new(), body.as_bytes());
        assert_eq!(events, [text("One"), text(" two"), STOP]);
    }

    #[test]
    fn unknown_kinds_are_reported_once_and_skipped() {
        let body = r#"event: message
data: {"blocks":[{"intended_usage":"mystery_block","x":1},{"intended_usage":"mystery_block"}]}

event: message
data: {"blocks":[{"intended_usage":"ask_text","diff_block":{"field":"markdown_block","patches":[{"op":"move","path":"/chunks/0","from":"/x"},{"op":"replace","path":"/chunks/9","value":"x"}]}}]}

event: ping
data: {}

event: message
data: {"blocks":[{"intended_usage":"ask_text","markdown_block":{"chunks":["ok"]}}],"status":"COMPLETED"}
"#;
        let mut decoder = PerplexityDecoder::new();
        let events = decode_all(&mut decoder, body.as_bytes());
        let unknown: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Unknown(kind) => Some(kind.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            unknown,
            [
                "intended_usage:mystery_block",
                "patch op:move",
                "patch replace on a missing path:/chunks/<i>",
                "event:ping"
            ]
        );
        assert_eq!(decoder.report().unknown["intended_usage:mystery_block"], 2);
        assert_eq!(coalesce(&events).last(), Some(&STOP));
        assert_eq!(decoder.report().problem(), None);
    }

    #[test]
    fn a_failed_thread_is_an_error_and_a_rate_limit_says_so() {
        check(
            "event: message\ndata: {\"status\":\"FAILED\",\"error_code\":\"RATE_LIMITED\",\"text\":\"Rate limit exceeded\"}\n",
            &[error(&format!(
                "{RATE_LIMITED} (RATE_LIMITED: Rate limit exceeded)"
            ))],
        );
        check(
            "data: {\"status\":\"FAILED\",\"text\":\"Something broke\"}\n",
            &[error("Perplexity: Something broke")],
        );
    }

    #[test]
    fn a_body_cut_before_its_end_keeps_its_text_and_says_truncated() {
        let cut = &EXAMPLE[..EXAMPLE
            .find("event: message\ndata: {\"status\":\"COMPLETED")
            .unwrap()];
        let mut decoder = PerplexityDecoder::new();
        let events = decode_all(&mut decoder, cut.as_bytes());
        assert_eq!(coalesce(&events), [text("Hello, world.")]);
        assert!(decoder.report().problem().unwrap().starts_with("truncated"));
    }
}
