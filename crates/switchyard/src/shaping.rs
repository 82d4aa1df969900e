//! Request shaping: from an OpenAI request to the one prompt and the switches a site takes.
//!
//! Front-ends send a whole chat; the web apps take one prompt. This module turns the chat
//! messages, the routed model choice and the provider's settings into a [`ShapedRequest`], which
//! is all a driver ever sees. Drivers never parse chat messages.
//!
//! The formatting here is the reference's default: every message becomes `{{name}}: {{content}}`
//! (names `User` / `Character` unless messages carry their own), joined with newlines.
//!
//! Architecture Invariant: shaping is pure. No IO, no clock, no config reads beyond its
//! arguments, so every rule is a table test.

use crate::config::ProviderConfig;
use crate::models::{Mode, ModelChoice, ProviderKind};

/// One chat message after the API checked its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    pub name: Option<String>,
}

/// Whether the client used chat or text completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Chat,
    Text,
}

/// Sampling values from the request; only sites with such controls apply them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u64>,
}

/// The site switches for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toggles {
    /// DeepThink / Deep Think / thinking mode.
    pub thinking: bool,
    /// Web search.
    pub search: bool,
    /// DeepSeek's Expert model type (the `deepseek-expert-*` IDs).
    pub expert: bool,
}

/// Everything a driver needs for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapedRequest {
    pub provider: ProviderKind,
    /// The model string exactly as the client sent it; echoed in every chunk.
    pub client_model: String,
    pub kind: RequestKind,
    /// The text typed into the site's composer.
    pub prompt: String,
    /// Text for a site's own system field, when it has one (none of the current drivers).
    pub system: Option<String>,
    pub toggles: Toggles,
    /// Whether thinking text is forwarded to the client.
    pub send_thinking: bool,
    /// The site model to pick for this request (real-model IDs), if any.
    pub real_model: Option<String>,
    pub sampling: Sampling,
}

/// The default user name when messages carry none.
pub const DEFAULT_USER_NAME: &str = "User";
/// The default character (assistant) name when messages carry none.
pub const DEFAULT_CHAR_NAME: &str = "Character";

/// Shapes a chat request.
pub fn shape_chat(
    messages: &[ChatMessage],
    choice: &ModelChoice,
    settings: &ProviderConfig,
    client_model: &str,
    sampling: Sampling,
) -> ShapedRequest {
    ShapedRequest {
        prompt: format_messages(messages),
        kind: RequestKind::Chat,
        ..base(choice, settings, client_model, sampling)
    }
}

/// Shapes a text completion: the raw prompt goes through unchanged.
pub fn shape_text(
    prompt: &str,
    choice: &ModelChoice,
    settings: &ProviderConfig,
    client_model: &str,
    sampling: Sampling,
) -> ShapedRequest {
    ShapedRequest {
        prompt: prompt.to_owned(),
        kind: RequestKind::Text,
        ..base(choice, settings, client_model, sampling)
    }
}

fn base(
    choice: &ModelChoice,
    settings: &ProviderConfig,
    client_model: &str,
    sampling: Sampling,
) -> ShapedRequest {
    // `-chat` forces thinking and its forwarding off; `-reasoner` forces thinking on and leaves
    // forwarding to the setting; `-auto` follows the settings.
    let (thinking, send_thinking) = match choice.mode {
        Mode::Auto => (settings.thinking, settings.send_thinking),
        Mode::Chat => (false, false),
        Mode::Reasoner => (true, settings.send_thinking),
    };
    ShapedRequest {
        provider: choice.provider,
        client_model: client_model.to_owned(),
        kind: RequestKind::Chat,
        prompt: String::new(),
        system: None,
        toggles: Toggles {
            thinking,
            search: settings.search,
            expert: choice.expert,
        },
        send_thinking,
        real_model: choice.real_model.clone(),
        sampling,
    }
}

/// Formats messages with the default template `{{name}}: {{content}}`, joined by newlines.
///
/// Names: a `user` message uses its own `name`, else the user name; an `assistant` message the
/// character name; any other role is `System`. The user and character names are the last
/// `name` seen on a message of that role, else `User` / `Character`.
pub fn format_messages(messages: &[ChatMessage]) -> String {
    let last_name = |role: &str| {
        messages
            .iter()
            .rev()
            .filter(|m| m.role == role)
            .find_map(|m| m.name.as_deref().filter(|n| !n.trim().is_empty()))
    };
    let user = last_name("user").unwrap_or(DEFAULT_USER_NAME);
    let character = last_name("assistant").unwrap_or(DEFAULT_CHAR_NAME);
    messages
        .iter()
        .map(|m| {
            let name = match m.role.as_str() {
                "user" => m
                    .name
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or(user),
                "assistant" => character,
                _ => "System",
            };
            format!("{name}: {}", m.content)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(role: &str, content: &str, name: Option<&str>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            name: name.map(Into::into),
        }
    }

    fn settings(thinking: bool, send: bool) -> ProviderConfig {
        ProviderConfig {
            enabled: true,
            instances: 1,
            base_url: "http://x".into(),
            thinking,
            send_thinking: send,
            search: true,
            first_chunk_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        }
    }

    fn choice(mode: Mode) -> ModelChoice {
        ModelChoice {
            provider: ProviderKind::DeepSeek,
            mode,
            expert: false,
            universal: false,
            real_model: None,
            thinking_level: None,
        }
    }

    #[test]
    fn default_template_uses_default_names() {
        let prompt = format_messages(&[
            msg("system", "Be brief.", None),
            msg("user", "Hi", None),
            msg("assistant", "Hello!", None),
            msg("user", "Bye", None),
        ]);
        assert_eq!(
            prompt,
            "System: Be brief.\nUser: Hi\nCharacter: Hello!\nUser: Bye"
        );
    }

    #[test]
    fn message_names_replace_the_defaults() {
        let prompt = format_messages(&[
            msg("user", "Hi", Some("Alice")),
            msg("assistant", "Hello!", Some("Bob")),
            msg("user", "x", None),
        ]);
        assert_eq!(prompt, "Alice: Hi\nBob: Hello!\nAlice: x");
    }

    #[test]
    fn modes_set_thinking_and_forwarding() {
        let s = settings(false, true);
        let table = [
            (Mode::Auto, false, true),
            (Mode::Chat, false, false),
            (Mode::Reasoner, true, true),
        ];
        for (mode, thinking, send) in table {
            let r = shape_chat(&[], &choice(mode), &s, "m", Sampling::default());
            assert_eq!(
                (r.toggles.thinking, r.send_thinking),
                (thinking, send),
                "{mode:?}"
            );
            assert!(r.toggles.search);
        }
        let r = shape_chat(
            &[],
            &choice(Mode::Reasoner),
            &settings(false, false),
            "m",
            Sampling::default(),
        );
        assert_eq!((r.toggles.thinking, r.send_thinking), (true, false));
    }

    #[test]
    fn text_completions_keep_the_raw_prompt() {
        let r = shape_text(
            "raw\nprompt",
            &choice(Mode::Chat),
            &settings(false, true),
            "deepseek-chat",
            Sampling::default(),
        );
        assert_eq!(r.prompt, "raw\nprompt");
        assert_eq!(r.kind, RequestKind::Text);
        assert_eq!(r.client_model, "deepseek-chat");
    }
}
