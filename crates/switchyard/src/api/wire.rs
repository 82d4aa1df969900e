//! OpenAI request bodies as switchyard reads them.
//!
//! Unknown fields are ignored (SillyTavern and the SDKs send many we do not use). Only what
//! makes a request meaningless is refused, with a 422 that names the field.

use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::limits::{Limits, MAX_STOPS};
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

/// The generation parameters switchyard reads, and the ones it must refuse rather than ignore.
#[derive(Debug, Deserialize, Default)]
pub struct WireSampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u64>,
    /// The newer name of `max_tokens`; wins when both are set.
    pub max_completion_tokens: Option<u64>,
    /// A string or up to four strings.
    #[serde(default)]
    pub stop: Value,
    /// `include_usage` asks for the usage chunk at the end of a stream.
    #[serde(default)]
    pub stream_options: Value,
    /// How many choices; a web chat gives exactly one.
    pub n: Option<u64>,
    /// Kept as sent: only `tool_choice` says whether a tool call is demanded.
    #[serde(default)]
    pub tools: Value,
    #[serde(default)]
    pub tool_choice: Value,
    #[serde(default)]
    pub response_format: Value,
}

impl WireSampling {
    /// Refuses, with OpenAI's 400, what a web chat cannot honour and what OpenAI itself refuses:
    /// `n` other than 1, `temperature` outside 0–2, `top_p` outside 0–1, a demanded tool call,
    /// a JSON schema. Everything else is accepted (and ignored where no site can apply it).
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(n) = self.n.filter(|n| *n != 1) {
            return Err(ApiError::invalid_param(
                "n",
                format!(
                    "`n` = {n} is not supported: a web chat gives one answer per request, so \
                     only `n: 1` is possible."
                ),
            ));
        }
        if self.token_limit() == Some(0) {
            let param = if self.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            let mut e = ApiError::invalid_param(
                param,
                format!(
                    "Invalid '{param}': integer below minimum value. Expected a value >= 1, but \
                     got 0 instead."
                ),
            );
            e.code = Some("integer_below_min_value");
            return Err(e);
        }
        self.stops()?;
        range("temperature", self.temperature, 2.0)?;
        range("top_p", self.top_p, 1.0)?;
        let demanded = match &self.tool_choice {
            Value::String(s) => s == "required",
            Value::Object(_) => true,
            _ => false,
        };
        if demanded && !self.tools.is_null() {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "`tool_choice` demands a tool call, which a web chat cannot guarantee; use \
                 `\"auto\"` or `\"none\"`, or leave it out.",
            ));
        }
        if self.response_format["type"] == "json_schema" {
            return Err(ApiError::invalid_param(
                "response_format",
                "`response_format` of type `json_schema` cannot be guaranteed by a web chat; \
                 ask for JSON in the prompt instead.",
            ));
        }
        Ok(())
    }
}

impl WireSampling {
    /// `max_completion_tokens`, else `max_tokens`.
    pub fn token_limit(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// The stop sequences (empty strings dropped), or OpenAI's 400 for a bad `stop`.
    pub fn stops(&self) -> Result<Vec<String>, ApiError> {
        let bad = |msg: String| Err(ApiError::invalid_param("stop", msg));
        let list = match &self.stop {
            Value::Null => return Ok(Vec::new()),
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => {
                if items.len() > MAX_STOPS {
                    return bad(format!(
                        "Invalid 'stop': array too long. Expected an array with maximum length \
                         {MAX_STOPS}, but got an array with length {} instead.",
                        items.len()
                    ));
                }
                let mut out = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) => out.push(s.to_owned()),
                        None => return bad("`stop` must be a string or a list of strings.".into()),
                    }
                }
                out
            }
            _ => return bad("`stop` must be a string or a list of strings.".into()),
        };
        Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
    }

    /// The limits the gateway enforces on the answer.
    pub fn limits(&self) -> Limits {
        Limits {
            stops: self.stops().unwrap_or_default(),
            max_tokens: self.token_limit(),
        }
    }

    /// Whether a stream should end with a usage chunk (`stream_options.include_usage`).
    pub fn include_usage(&self) -> bool {
        self.stream_options["include_usage"] == true
    }
}

/// OpenAI's check of a number in `0..=max`, with its texts.
fn range(param: &'static str, value: Option<f64>, max: f64) -> Result<(), ApiError> {
    let Some(v) = value else { return Ok(()) };
    let (what, code) = if v.is_nan() || v > max {
        (
            format!("decimal above maximum value. Expected a value <= {max}"),
            "decimal_above_max_value",
        )
    } else if v < 0.0 {
        (
            "decimal below minimum value. Expected a value >= 0".to_owned(),
            "decimal_below_min_value",
        )
    } else {
        return Ok(());
    };
    let mut e = ApiError::invalid_param(
        param,
        format!("Invalid '{param}': {what}, but got {v} instead."),
    );
    e.code = Some(code);
    Err(e)
}

/// The message roles OpenAI defines; `developer` is its newer name for `system`.
pub const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

impl From<&WireSampling> for Sampling {
    fn from(s: &WireSampling) -> Self {
        Sampling {
            temperature: s.temperature,
            top_p: s.top_p,
            max_tokens: s.token_limit(),
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
        self.sampling.validate()?;
        if self.messages.is_empty() {
            return Err(ApiError::invalid_param(
                "messages",
                "`messages` must contain at least one message.",
            ));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let role = m.role.trim().to_ascii_lowercase();
                if !ROLES.contains(&role.as_str()) {
                    return Err(ApiError::invalid_param(
                        "messages",
                        format!(
                            "`messages[{i}].role` is `{}`; allowed roles are {}.",
                            m.role,
                            ROLES.map(|r| format!("`{r}`")).join(", ")
                        ),
                    ));
                }
                if m.content.is_null() && matches!(role.as_str(), "user" | "system" | "developer") {
                    return Err(ApiError::invalid_param(
                        "messages",
                        format!("`messages[{i}].content` is null; a {role} message needs text."),
                    ));
                }
                Ok(ChatMessage {
                    content: content_text(&m.content, i)?,
                    name: m.name.clone().or_else(|| m.irp_next.clone()),
                    role,
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
        self.sampling.validate()?;
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
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "`messages` must contain at least one message.");
        let e = parse::<ChatRequest>(
            br#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#,
        )
        .unwrap()
        .chat_messages()
        .unwrap_err();
        assert!(e.message.contains("`image_url` part"), "{}", e.message);
    }

    fn chat_error(body: &str) -> ApiError {
        parse::<ChatRequest>(body.as_bytes())
            .unwrap()
            .chat_messages()
            .unwrap_err()
    }

    const HI: &str = r#""messages":[{"role":"user","content":"hi"}]"#;

    #[test]
    fn what_a_web_chat_cannot_honour_is_a_400_naming_the_parameter() {
        let e = chat_error(&format!(r#"{{{HI},"n":3}}"#));
        assert_eq!((e.status.as_u16(), e.param), (400, Some("n")));
        assert!(e.message.contains("only `n: 1`"), "{}", e.message);
        let e = chat_error(&format!(r#"{{{HI},"temperature":5}}"#));
        assert_eq!(
            e.message,
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."
        );
        assert_eq!(e.code, Some("decimal_above_max_value"));
        let e = chat_error(&format!(r#"{{{HI},"top_p":-0.5}}"#));
        assert_eq!(e.param, Some("top_p"));
        assert_eq!(e.code, Some("decimal_below_min_value"));
        let tools = r#""tools":[{"type":"function","function":{"name":"f"}}]"#;
        let e = chat_error(&format!(r#"{{{HI},{tools},"tool_choice":"required"}}"#));
        assert_eq!(e.param, Some("tool_choice"));
        let e = chat_error(&format!(
            r#"{{{HI},{tools},"tool_choice":{{"type":"function","function":{{"name":"f"}}}}}}"#
        ));
        assert_eq!(e.param, Some("tool_choice"));
        let e = chat_error(&format!(
            r#"{{{HI},"response_format":{{"type":"json_schema","json_schema":{{}}}}}}"#
        ));
        assert_eq!(e.param, Some("response_format"));
        for ok in [
            r#""n":1,"temperature":2,"top_p":0"#,
            r#""n":null,"temperature":null"#,
            r#""tools":[],"tool_choice":"auto","response_format":{"type":"json_object"}"#,
        ] {
            let req: ChatRequest = parse(format!("{{{HI},{ok}}}").as_bytes()).unwrap();
            assert!(req.chat_messages().is_ok(), "{ok}");
        }
        let e = chat_error(&format!(r#"{{{HI},"max_tokens":0}}"#));
        assert_eq!(e.param, Some("max_tokens"));
        let e = chat_error(&format!(r#"{{{HI},"stop":["a","b","c","d","e"]}}"#));
        assert_eq!(e.param, Some("stop"));
        assert!(e.message.contains("maximum length 4"), "{}", e.message);
        let e = chat_error(&format!(r#"{{{HI},"stop":[1]}}"#));
        assert_eq!(e.param, Some("stop"));
        let req: ChatRequest = parse(
            format!(r#"{{{HI},"stop":["x",""],"max_tokens":9,"max_completion_tokens":5,"stream_options":{{"include_usage":true}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            req.sampling.limits(),
            Limits {
                stops: vec!["x".into()],
                max_tokens: Some(5)
            }
        );
        assert!(req.sampling.include_usage());
        let e = parse::<CompletionRequest>(br#"{"prompt":"x","n":2}"#)
            .unwrap()
            .prompt_text()
            .unwrap_err();
        assert_eq!(e.param, Some("n"));
    }

    #[test]
    fn unknown_roles_and_null_content_are_400s() {
        let e = chat_error(r#"{"messages":[{"role":"narrator","content":"x"}]}"#);
        assert_eq!(e.status, 400);
        assert!(
            e.message
                .starts_with("`messages[0].role` is `narrator`; allowed roles are `system`"),
            "{}",
            e.message
        );
        let e = chat_error(r#"{"messages":[{"role":"user","content":null}]}"#);
        assert_eq!(
            e.message,
            "`messages[0].content` is null; a user message needs text."
        );
        let e = chat_error(r#"{"messages":[{"role":"System"}]}"#);
        assert_eq!(e.status, 400);
        let ok: ChatRequest = parse(
            br#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null},{"role":"Developer","content":"d"}]}"#,
        )
        .unwrap();
        let msgs = ok.chat_messages().unwrap();
        assert_eq!(msgs[1].content, "");
        assert_eq!(msgs[2].role, "developer");
    }

    mod hostile {
        //! Bad input never hurts: random bytes, mutated good bodies and random JSON of the
        //! right shape go through everything the handlers do before shaping, 10,000 cases each;
        //! the answer is always a request or a 4xx, never a panic.

        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        const GOOD: &str = r#"{"model":"glm-chat","stream":true,"temperature":0.7,"max_tokens":300,"stop":["\nUser:"],"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"Be Aria."},{"role":"user","name":"Sam","content":[{"type":"text","text":"Hi 🙂"}]},{"role":"assistant","content":"<think>x</think>Hello"}]}"#;

        fn config() -> Config {
            Config {
                cases: 10_000,
                failure_persistence: None,
                ..Config::default()
            }
        }

        /// Everything `chat` does with a body before shaping, with each refusal's status.
        fn handle(body: &[u8]) -> Result<(), u16> {
            let req: ChatRequest = parse(body).map_err(|e| e.status.as_u16())?;
            req.chat_messages().map_err(|e| e.status.as_u16())?;
            let _ = (req.sampling.limits(), req.sampling.include_usage());
            let text: CompletionRequest = parse(body).map_err(|e| e.status.as_u16())?;
            text.prompt_text()
                .map(|_| ())
                .map_err(|e| e.status.as_u16())
        }

        fn refused_politely(outcome: Result<(), u16>) -> bool {
            match outcome {
                Ok(()) => true,
                Err(status) => (400..500).contains(&status),
            }
        }

        /// A JSON scalar or a short list of them.
        fn shallow() -> impl Strategy<Value = Value> {
            prop_oneof![
                4 => leaf(),
                1 => prop::collection::vec(leaf(), 0..5).prop_map(Value::from),
            ]
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(
                    |f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                ),
                "[a-z <>\\[\\]]{0,8}".prop_map(Value::from),
            ]
        }

        /// Any JSON value, a few levels deep.
        fn json() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("role".to_owned()),
                            Just("content".to_owned()),
                            Just("type".to_owned()),
                            Just("text".to_owned()),
                            Just("name".to_owned()),
                            ".{0,6}".prop_map(String::from),
                        ],
                        inner,
                        0..5,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn random_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
                prop_assert!(refused_politely(handle(&body)));
            }

            #[test]
            fn mutated_good_bodies(edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, any::<u8>()), 1..6)) {
                let mut body = GOOD.as_bytes().to_vec();
                for (at, op, byte) in edits {
                    let i = at.index(body.len().max(1)).min(body.len());
                    match op {
                        0 if i < body.len() => { body.remove(i); }
                        1 => body.insert(i, byte),
                        2 if i < body.len() => body[i] = byte,
                        _ => body.truncate(i),
                    }
                }
                prop_assert!(refused_politely(handle(&body)));
            }

            #[test]
            fn random_json_in_every_field(
                messages in json(),
                fields in prop::collection::vec(shallow(), 7),
            ) {
                let keys = ["model", "stop", "temperature", "n", "tools", "tool_choice", "prompt"];
                let mut body = serde_json::json!({ "messages": messages });
                for (key, value) in keys.iter().zip(fields) {
                    body[*key] = value;
                }
                prop_assert!(refused_politely(handle(body.to_string().as_bytes())));
            }
        }

        #[test]
        fn the_good_body_is_accepted_and_deep_nesting_refused() {
            let req: ChatRequest = parse(GOOD.as_bytes()).unwrap();
            assert_eq!(req.chat_messages().unwrap().len(), 3);
            let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
            let body = format!(r#"{{"messages":{deep}}}"#);
            assert_eq!(handle(body.as_bytes()), Err(422));
        }
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
