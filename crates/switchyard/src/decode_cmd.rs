//! `switchyard decode`: a captured response body through its provider's decoder, printed as the
//! SSE a client would receive.
//!
//! The body is fed to the decoder the lane would use, in one piece; its events then pass the
//! lane's rules (thinking dropped when not sent, an answer that finishes empty is an error) and
//! the gateway's own frame builder ([`Frames`]), with a fixed id (`chatcmpl-decode`) and
//! `created` 0 so the output is reproducible. `--events` prints the decoder's own events instead,
//! as JSON lines.
//!
//! A body the decoder cannot call whole (no end marker: truncated; a line that does not decode:
//! malformed) still prints what decoded, without the closing frames the gateway would add, and
//! the command fails with the reason. Unknown kinds the decoder skipped are listed on stderr.

use bytes::Bytes;

use crate::api::limits::Limits;
use crate::api::sse::{Chunks, Frames};
use crate::config::ReasoningFormat;
use crate::lanes::empty_reply;
use crate::models::ProviderKind;
use crate::providers::{self, StreamEvent};
use crate::shaping::RequestKind;

/// The id every decoded chunk carries (`chatcmpl-` + this).
pub const REQUEST_ID: &str = "decode";

/// How to decode and print one body.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub provider: ProviderKind,
    /// The `model` of every chunk; the provider's `-auto` ID when `None`.
    pub model: Option<String>,
    pub reasoning_format: ReasoningFormat,
    /// Whether thinking is sent at all (`--no-thinking` turns it off, as `send_thinking = false`
    /// or a `-chat` ID does).
    pub send_thinking: bool,
    /// Print the decoder's events as JSON lines instead of SSE.
    pub events: bool,
    /// End with the usage chunk, as for a client that sent `stream_options.include_usage`.
    pub include_usage: bool,
}

/// What decoding one body gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// For stdout: SSE frames, or JSON lines with `--events`.
    pub output: Vec<u8>,
    /// For stderr, one message a line: unknown kinds, then the problem if any.
    pub notes: Vec<String>,
    /// Whether the body was whole and well-formed.
    pub ok: bool,
}

/// The provider a user named (a model prefix, display name or alias), if this build can decode it.
pub fn provider(name: &str) -> Result<ProviderKind, String> {
    let Some(kind) = ProviderKind::from_name(name) else {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.prefix()).collect();
        return Err(format!(
            "unknown provider `{name}`; use a model prefix ({}) or a provider's display name or alias",
            known.join(", ")
        ));
    };
    if providers::spec(kind).implemented() {
        return Ok(kind);
    }
    let built: Vec<&str> = providers::implemented().map(|k| k.prefix()).collect();
    Err(format!(
        "{kind} has no decoder in this build yet; decodable: {}",
        built.join(", ")
    ))
}

/// Decodes `body` as `options.provider`'s site sent it.
pub fn decode(options: &DecodeOptions, body: &[u8]) -> Decoded {
    let Some(mut decoder) = providers::spec(options.provider).decoder() else {
        return Decoded {
            output: Vec::new(),
            notes: vec![format!("{} has no decoder in this build", options.provider)],
            ok: false,
        };
    };
    let mut events = Vec::new();
    decoder.feed(body, &mut events);
    decoder.finish(&mut events);
    let output = if options.events {
        json_lines(&events)
    } else {
        sse(options, &events)
    };
    let report = decoder.report();
    let mut notes: Vec<String> = report
        .unknown
        .iter()
        .map(|(kind, count)| {
            let times = match count {
                1 => "once".to_owned(),
                n => format!("{n} times"),
            };
            format!("skipped `{kind}`, which the decoder does not know ({times})")
        })
        .collect();
    let problem = report.problem();
    if let Some(problem) = &problem {
        let shown = if options.events {
            "the events decoded before it are printed"
        } else {
            "the chunks decoded before it are printed, without the finish chunk and [DONE]"
        };
        notes.push(format!("{problem} ({shown})"));
    }
    Decoded {
        output,
        notes,
        ok: problem.is_none(),
    }
}

/// The decoder's events, one JSON object a line.
fn json_lines(events: &[StreamEvent]) -> Vec<u8> {
    let mut out = String::new();
    for event in events {
        match serde_json::to_string(event) {
            Ok(line) => out.push_str(&line),
            Err(e) => out.push_str(&format!("{{\"unprintable\":\"{e}\"}}")),
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// The SSE a client would receive, after the lane's rules.
fn sse(options: &DecodeOptions, events: &[StreamEvent]) -> Vec<u8> {
    let provider = options.provider;
    let model = match &options.model {
        Some(model) => model.clone(),
        None => format!("{}-auto", provider.prefix()),
    };
    let chunks = Chunks::new(
        REQUEST_ID,
        0,
        &model,
        RequestKind::Chat,
        options.reasoning_format,
    );
    let mut frames =
        Frames::new(chunks).with(Limits::default(), options.include_usage, Box::new(|| 0));
    let mut out: Vec<Bytes> = frames.opening().into_iter().collect();
    let mut answered = false;
    for event in events {
        let empty;
        let event = match event {
            StreamEvent::Reasoning(_) if !options.send_thinking => continue,
            StreamEvent::Text(_) | StreamEvent::Reasoning(_) => {
                answered = true;
                event
            }
            StreamEvent::Finished(_) if !answered => {
                empty = StreamEvent::Error(empty_reply(provider.display_name()));
                &empty
            }
            _ => event,
        };
        frames.event(event, &mut out);
    }
    out.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(provider: ProviderKind) -> DecodeOptions {
        DecodeOptions {
            provider,
            model: None,
            reasoning_format: ReasoningFormat::ThinkTags,
            send_thinking: true,
            events: false,
            include_usage: false,
        }
    }

    const GLM: &str = r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\">\n> Hm."}}
data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Hi"}}
data: {"type":"chat:completion","data":{"phase":"done","done":true}}
"#;

    fn text(decoded: &Decoded) -> String {
        String::from_utf8(decoded.output.clone()).unwrap_or_default()
    }

    #[test]
    fn providers_are_found_by_any_alias() {
        assert_eq!(provider("z.ai"), Ok(ProviderKind::Glm));
        assert_eq!(provider(" GLM "), Ok(ProviderKind::Glm));
        assert_eq!(provider("deepseek"), Ok(ProviderKind::DeepSeek));
        let err = provider("gpt").unwrap_err();
        assert!(err.contains("unknown provider `gpt`"), "{err}");
        assert!(err.contains("deepseek, glm, moonshot"), "{err}");
        assert_eq!(provider("kimi"), Ok(ProviderKind::Moonshot));
        assert_eq!(provider("hf"), Ok(ProviderKind::HuggingChat));
        assert_eq!(provider("ai studio"), Ok(ProviderKind::AiStudio));
    }

    #[test]
    fn a_whole_body_prints_the_client_stream() {
        let decoded = decode(&options(ProviderKind::Glm), GLM.as_bytes());
        assert!(decoded.ok, "{decoded:?}");
        assert_eq!(decoded.notes, Vec::<String>::new());
        let out = text(&decoded);
        assert!(out.contains(r#""model":"glm-auto""#), "{out}");
        assert!(out.contains(r#""content":"<think>Hm.""#), "{out}");
        assert!(out.contains(r#""content":"</think>Hi""#), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    }

    #[test]
    fn thinking_can_go_to_reasoning_content_or_be_dropped() {
        let mut opts = options(ProviderKind::Glm);
        opts.reasoning_format = ReasoningFormat::ReasoningContent;
        let out = text(&decode(&opts, GLM.as_bytes()));
        assert!(out.contains(r#""reasoning_content":"Hm.""#), "{out}");
        assert!(!out.contains("<think>"), "{out}");
        opts.send_thinking = false;
        opts.model = Some("glm-chat".into());
        let out = text(&decode(&opts, GLM.as_bytes()));
        assert!(!out.contains("Hm."), "{out}");
        assert!(out.contains(r#""model":"glm-chat""#), "{out}");
    }

    #[test]
    fn an_answer_with_only_thinking_dropped_is_the_empty_reply_error() {
        let mut opts = options(ProviderKind::Glm);
        opts.send_thinking = false;
        let body = GLM.replace(r#""delta_content":"Hi""#, r#""delta_content":"""#);
        let decoded = decode(&opts, body.as_bytes());
        let out = text(&decoded);
        assert!(out.contains("an empty reply"), "{out}");
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        assert!(decoded.ok, "the body itself was whole");
    }

    #[test]
    fn a_cut_body_prints_the_decoded_part_and_fails() {
        let cut = GLM.find(r#""phase":"done""#).unwrap_or(0);
        let decoded = decode(&options(ProviderKind::Glm), &GLM.as_bytes()[..cut]);
        assert!(!decoded.ok);
        let out = text(&decoded);
        assert!(out.contains("</think>Hi"), "{out}");
        assert!(!out.contains("[DONE]"), "{out}");
        assert_eq!(decoded.notes.len(), 1, "{:?}", decoded.notes);
        assert!(
            decoded.notes[0].starts_with("truncated: "),
            "{:?}",
            decoded.notes
        );
    }

    #[test]
    fn events_are_json_lines_and_unknown_kinds_are_noted() {
        let body = GLM.replace(r#""phase":"answer""#, r#""phase":"plan""#);
        let mut opts = options(ProviderKind::Glm);
        opts.events = true;
        let decoded = decode(&opts, body.as_bytes());
        assert_eq!(
            text(&decoded),
            "{\"kind\":\"reasoning\",\"value\":\"Hm.\"}\n\
             {\"kind\":\"unknown\",\"value\":\"phase:plan\"}\n\
             {\"kind\":\"finished\",\"value\":\"stop\"}\n"
        );
        assert_eq!(
            decoded.notes,
            ["skipped `phase:plan`, which the decoder does not know (once)"]
        );
        assert!(decoded.ok);
    }
}
