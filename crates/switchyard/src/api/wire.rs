//! OpenAI request bodies as switchyard reads them.
//!
//! Unknown fields are ignored (SillyTavern and the SDKs send many we do not use). Only what
//! makes a request meaningless is refused, with a 422 that names the field.

use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use crate::shaping::{ChatMessage, Sampling};

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<WireMessage>,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub stream: bool,
    #[serde(flatten)]
    pub sampling: WireSampling,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: Option<Value>,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub stream: bool,
    #[serde(flatten)]
    pub sampling: WireSampling,
}

#[derive(Debug, Deserialize, Default)]
pub struct WireSampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u64>,
}

impl From<&WireSampling> for Sampling {
    fn from(s: &WireSampling) -> Self {
        Sampling {
            temperature: s.temperature,
            top_p: s.top_p,
            max_tokens: s.max_tokens,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Value,
    pub name: Option<String>,
    /// The STMP patcher's alias of `name`.
    #[serde(rename = "irp-next")]
    pub irp_next: Option<String>,
}

/// `stream: null` means false.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// Parses a body as JSON (any value), with a 422 for anything else.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::unprocessable(format!("The request body is not valid JSON: {e}."), None)
    })
}

/// Reads a request out of parsed JSON, turning serde's complaint into a 422 that names the
/// place.
pub fn from_json<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = if path == "." {
            format!("Invalid request body: {inner}.")
        } else {
            format!("Invalid request body at `{path}`: {inner}.")
        };
        ApiError::unprocessable(msg, None)
    })
}

/// Parses a body straight into a request type.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_json(&parse_json(body)?)
}

impl ChatRequest {
    /// Checks and converts the messages.
    pub fn chat_messages(&self) -> Result<Vec<ChatMessage>, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::unprocessable(
                "`messages` must contain at least one message.",
                Some("messages"),
            ));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(ChatMessage {
                    role: m.role.trim().to_ascii_lowercase(),
                    content: content_text(&m.content, i)?,
                    name: m.name.clone().or_else(|| m.irp_next.clone()),
                })
            })
            .collect()
    }
}

/// A message's text: a string, or the text parts of a content array. Images and other parts
/// cannot be typed into a chat box, so they are refused rather than silently dropped.
fn content_text(content: &Value, index: usize) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for part in parts {
                match (part["type"].as_str(), part["text"].as_str()) {
                    (Some("text"), Some(text)) => out.push(text),
                    (kind, _) => {
                        return Err(ApiError::unprocessable(
                            format!(
                                "`messages[{index}].content` has a `{}` part; only text parts are supported.",
                                kind.unwrap_or("untyped")
                            ),
                            Some("messages"),
                        ));
                    }
                }
            }
            Ok(out.join("\n"))
        }
        _ => Err(ApiError::unprocessable(
            format!("`messages[{index}].content` must be a string or a list of text parts."),
            Some("messages"),
        )),
    }
}

impl CompletionRequest {
    /// The single prompt string, with the reference's errors for other shapes.
    pub fn prompt_text(&self) -> Result<String, ApiError> {
        match &self.prompt {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    return Err(ApiError::unprocessable(
                        "`prompt` must not be empty.",
                        Some("prompt"),
                    ));
                }
                if !items.iter().all(Value::is_string) {
                    return Err(ApiError::unprocessable(
                        "Only string prompts are currently supported for `/v1/completions`.",
                        Some("prompt"),
                    ));
                }
                if items.len() > 1 {
                    let mut e = ApiError::bad_request(
                        "Only a single prompt is currently supported for `/v1/completions`.",
                    );
                    e.param = Some("prompt");
                    return Err(e);
                }
                Ok(items[0].as_str().unwrap_or_default().to_owned())
            }
            Some(_) | None => Err(ApiError::unprocessable(
                "`prompt` must be a string or a list of strings.",
                Some("prompt"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_bodies_ignore_unknown_fields_and_accept_text_parts() {
        let req: ChatRequest = parse(
            br#"{"model":"glm-chat","messages":[{"role":"User","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"irp-next":"Al"}],
                "stream":null,"logit_bias":{"12":-1},"presence_penalty":0}"#,
        )
        .unwrap();
        let msgs = req.chat_messages().unwrap();
        assert_eq!(msgs[0].role, "user");
        assert_eq!(msgs[0].content, "a\nb");
        assert_eq!(msgs[0].name.as_deref(), Some("Al"));
        assert!(!req.stream);
    }

    #[test]
    fn meaningless_bodies_get_422_naming_the_field() {
        let e = parse::<ChatRequest>(b"{").unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.starts_with("The request body is not valid JSON"));
        let e = parse::<ChatRequest>(br#"{"messages":"hi"}"#).unwrap_err();
        assert!(e.message.contains("`messages`"), "{}", e.message);
        let e = parse::<ChatRequest>(br#"{"messages":[]}"#)
            .unwrap()
            .chat_messages()
            .unwrap_err();
        assert_eq!(e.message, "`messages` must contain at least one message.");
        let e = parse::<ChatRequest>(
            br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#,
        )
        .unwrap()
        .chat_messages()
        .unwrap_err();
        assert!(e.message.contains("`image_url` part"), "{}", e.message);
    }

    #[test]
    fn completion_prompts_follow_the_reference_rules() {
        let p = |body: &str| {
            parse::<CompletionRequest>(body.as_bytes())
                .unwrap()
                .prompt_text()
        };
        assert_eq!(p(r#"{"prompt":"x"}"#).unwrap(), "x");
        assert_eq!(p(r#"{"prompt":["x"]}"#).unwrap(), "x");
        let e = p(r#"{"prompt":[]}"#).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (422, "`prompt` must not be empty.")
        );
        let e = p(r#"{"prompt":["a","b"]}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "Only a single prompt is currently supported for `/v1/completions`."
        );
        let e = p(r#"{"prompt":[1]}"#).unwrap_err();
        assert_eq!(e.status, 422);
        let e = p(r#"{"prompt":5}"#).unwrap_err();
        assert_eq!(e.message, "`prompt` must be a string or a list of strings.");
    }
}
