//! Request shaping: from an OpenAI request to the one prompt and the switches a site takes.
//!
//! Front-ends send a whole chat; the web apps take one prompt. This module turns the chat
//! messages (or a text completion's raw prompt), the routed model choice, the request's
//! `reasoning_effort` and the provider's settings into a [`ShapedRequest`], which is all a driver
//! ever sees. Drivers never parse chat messages.
//!
//! The order of the rules, each overriding the one before:
//! 1. the model ID's mode (`-auto` follows the provider settings, `-chat` thinking off and not
//!    forwarded, `-reasoner` thinking on);
//! 2. `reasoning_effort` (only when accepted for this provider): it replaces the mode, and sets
//!    the site's Deep Think effort, thinking effort or thinking level, by the provider's own
//!    mapping (its spec in `providers/<p>/`);
//! 3. the macros of the last user message (`[[nothink]]`, `[[search]]`, …), read and removed.
//!
//! Then the messages are formatted ([`format`]); leading system messages go to the site's own
//! system field when the provider has one and it is switched on.
//!
//! # Layout
//! - [`format`]: templates, presets, names, injection, the system-field split.
//! - [`macros`]: per-message macros.
//! - [`effort`]: `reasoning_effort` normalisation and the generic mapping.
//!
//! Architecture Invariant: shaping is pure. No IO, no clock, no config reads beyond its
//! arguments (and the static provider specs), so every rule is a table test. It never matches
//! on a provider: what a site honours comes from its spec.

pub mod effort;
pub mod format;
pub mod history;
pub mod macros;

use crate::models::{Mode, ModelChoice, ProviderKind, ThinkingOverride};
pub use effort::{DeepThinkEffort, EffortOverride};
pub use format::FormatSettings;

/// One chat message after the API checked its shape: role lowercased, `irp-next` folded into
/// `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str, name: Option<&str>) -> ChatMessage {
        ChatMessage {
            role: role.to_owned(),
            content: content.to_owned(),
            name: name.map(str::to_owned),
        }
    }
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
    /// The Expert model type (the `*-expert-*` IDs).
    pub expert: bool,
    /// Upload the prompt as a `.txt` file instead of typing it (`[[file]]`).
    pub send_as_file: bool,
    /// URL Context (`[[url]]`), where the site has it.
    pub url_context: bool,
}

/// Everything a driver needs for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapedRequest {
    pub provider: ProviderKind,
    /// The model string exactly as the client sent it; echoed in every chunk.
    pub client_model: String,
    pub kind: RequestKind,
    /// The effective mode after `reasoning_effort`.
    pub mode: Mode,
    /// The text typed into the site's composer.
    pub prompt: String,
    /// Text for the site's own system field, when it has one and it is used.
    pub system: Option<String>,
    pub toggles: Toggles,
    /// Whether thinking text is forwarded to the client.
    pub send_thinking: bool,
    /// The site model to select: the one a real-model ID names, else the configured one; `None`
    /// for sites without a model picker.
    pub real_model: Option<String>,
    /// The Deep Think effort for this request, where the site has a Deep Think menu.
    pub deep_think_effort: Option<DeepThinkEffort>,
    /// The Thinking Effort for this request, where the site has that setting.
    pub thinking_effort: Option<String>,
    /// The inference provider that serves this request's model, where the site lets one be
    /// picked (`None`: leave the site's choice).
    pub inference_provider: Option<String>,
    /// The Thinking Level (suffix, effort or `[[rN]]` macro), where the site has levels.
    pub thinking_level: Option<ThinkingOverride>,
    pub sampling: Sampling,
}

/// The provider settings shaping reads.
#[derive(Debug, Clone, Copy)]
pub struct ShapingSettings<'a> {
    /// Thinking for `-auto` IDs.
    pub thinking: bool,
    /// Forward thinking text.
    pub send_thinking: bool,
    pub search: bool,
    /// Move leading system messages to the site's own system field (when it has one).
    pub system_field: bool,
    /// The site model selected when the model ID names none.
    pub model: Option<&'a str>,
    pub format: &'a FormatSettings,
}

/// What the client asked for besides the messages.
#[derive(Debug, Clone, Copy)]
pub struct RequestOptions<'a> {
    pub client_model: &'a str,
    pub sampling: Sampling,
    /// The `reasoning_effort` outcome, when efforts are accepted for this provider.
    pub effort: Option<&'a EffortOverride>,
    /// The request's own fields for the site's controls, used where the site has them.
    pub fields: SiteFields<'a>,
}

/// Settings a request names for one site's own controls, beside the OpenAI fields
/// (behavior-spec §2.3): `inference_provider` (or `<prefix>_inference_provider`, which wins)
/// and `<prefix>_thinking_effort`, which wins over the effort `reasoning_effort` mapped to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteFields<'a> {
    pub inference_provider: Option<&'a str>,
    pub thinking_effort: Option<&'a str>,
}

/// Shapes a chat request.
pub fn shape_chat(
    mut messages: Vec<ChatMessage>,
    choice: &ModelChoice,
    settings: &ShapingSettings<'_>,
    options: RequestOptions<'_>,
) -> ShapedRequest {
    let overrides = macros::strip_chat_macros(choice.provider, &mut messages);
    if settings.format.strip_history_thinking {
        history::strip_thinking(&mut messages);
    }
    let mut shaped = base(choice, settings, options, overrides);
    let switches = &crate::providers::spec(choice.provider).requests;
    let split = (settings.system_field && switches.system_field)
        .then(|| format::format_for_system_field(&messages, settings.format))
        .filter(|split| {
            // System text longer than the field holds stays in the prompt.
            switches
                .system_field_limit
                .is_none_or(|limit| split.system.chars().count() <= limit)
        });
    match split {
        Some(split) => {
            shaped.prompt = split.prompt;
            shaped.system = Some(split.system).filter(|s| !s.is_empty());
        }
        None => shaped.prompt = format::format_chat(&messages, settings.format),
    }
    shaped
}

/// Shapes a text completion: the raw prompt goes through unchanged but for its macros (the
/// last one wins); no template, names, injection or system field.
pub fn shape_text(
    prompt: &str,
    choice: &ModelChoice,
    settings: &ShapingSettings<'_>,
    options: RequestOptions<'_>,
) -> ShapedRequest {
    let (prompt, overrides) = macros::extract_macros(choice.provider, prompt);
    ShapedRequest {
        prompt,
        kind: RequestKind::Text,
        ..base(choice, settings, options, overrides)
    }
}

fn base(
    choice: &ModelChoice,
    settings: &ShapingSettings<'_>,
    options: RequestOptions<'_>,
    overrides: macros::MacroOverrides,
) -> ShapedRequest {
    let mode = options.effort.map_or(choice.mode, |e| e.mode);
    let (mut thinking, send_thinking) = match mode {
        Mode::Auto => (settings.thinking, settings.send_thinking),
        Mode::Chat => (false, false),
        // Without a thinking toggle, `-reasoner` is the way to ask for the thinking.
        Mode::Reasoner => (
            true,
            settings.send_thinking
                || !crate::providers::spec(choice.provider)
                    .requests
                    .thinking_toggle,
        ),
    };
    if let Some(on) = overrides.thinking {
        thinking = on;
    }
    let thinking_level = overrides
        .tier
        .map(ThinkingOverride::Tier)
        .or(match options.effort {
            // An effort that maps to levels replaces the ID's suffix, also with "none".
            Some(e) if e.replaces_thinking_level => e.thinking,
            _ => choice.thinking_level,
        });
    ShapedRequest {
        provider: choice.provider,
        client_model: options.client_model.to_owned(),
        kind: RequestKind::Chat,
        mode,
        prompt: String::new(),
        system: None,
        toggles: Toggles {
            thinking,
            search: overrides.search.unwrap_or(settings.search),
            expert: choice.expert,
            send_as_file: overrides.send_as_file.unwrap_or(false),
            url_context: overrides.url_context.unwrap_or(false),
        },
        send_thinking,
        real_model: choice
            .real_model
            .clone()
            .or_else(|| settings.model.map(str::to_owned)),
        deep_think_effort: options.effort.and_then(|e| e.deep_think),
        thinking_effort: options
            .fields
            .thinking_effort
            .map(str::to_owned)
            // The effort `reasoning_effort` mapped to goes only with thinking on (a macro may
            // have turned it off); the request's own field holds either way.
            .or_else(|| {
                options
                    .effort
                    .filter(|_| thinking)
                    .and_then(|e| e.thinking_effort.clone())
            }),
        inference_provider: options.fields.inference_provider.map(str::to_owned),
        thinking_level,
        sampling: options.sampling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ProviderModels, RoutingTable};
    use serde_json::json;

    fn msg(role: &str, content: &str, name: Option<&str>) -> ChatMessage {
        ChatMessage::new(role, content, name)
    }

    fn settings(format: &FormatSettings) -> ShapingSettings<'_> {
        ShapingSettings {
            thinking: false,
            send_thinking: true,
            search: false,
            system_field: true,
            model: None,
            format,
        }
    }

    fn route(model: &str) -> ModelChoice {
        RoutingTable::new(
            [
                ProviderKind::DeepSeek,
                ProviderKind::Glm,
                ProviderKind::AiStudio,
                ProviderKind::Perplexity,
                ProviderKind::HuggingChat,
            ]
            .map(|k| ProviderModels::with_labels(k, crate::providers::spec(k).site.models)),
            false,
        )
        .unwrap()
        .route(model)
        .unwrap()
    }

    fn opts(model: &str) -> RequestOptions<'_> {
        RequestOptions {
            client_model: model,
            sampling: Sampling::default(),
            effort: None,
            fields: SiteFields::default(),
        }
    }

    #[test]
    fn earlier_thinking_is_stripped_unless_turned_off() {
        let chat = || {
            vec![
                msg("user", "Hi", Some("Sam")),
                msg("assistant", "<think>be kind</think>Hello", Some("Aria")),
                msg("user", "Bye", Some("Sam")),
            ]
        };
        let on = FormatSettings::default();
        let r = shape_chat(
            chat(),
            &route("deepseek-reasoner"),
            &settings(&on),
            opts("m"),
        );
        assert_eq!(r.prompt, "Sam: Hi\nAria: Hello\nSam: Bye");
        let off = FormatSettings {
            strip_history_thinking: false,
            ..FormatSettings::default()
        };
        let r = shape_chat(
            chat(),
            &route("deepseek-reasoner"),
            &settings(&off),
            opts("m"),
        );
        assert_eq!(
            r.prompt,
            "Sam: Hi\nAria: <think>be kind</think>Hello\nSam: Bye"
        );
    }

    #[test]
    fn modes_set_thinking_and_forwarding() {
        let f = FormatSettings::default();
        let table = [
            ("deepseek-auto", false, true),
            ("deepseek-chat", false, false),
            ("deepseek-reasoner", true, true),
        ];
        for (model, thinking, send) in table {
            let r = shape_chat(
                vec![msg("user", "x", None)],
                &route(model),
                &settings(&f),
                opts(model),
            );
            assert_eq!(
                (r.toggles.thinking, r.send_thinking),
                (thinking, send),
                "{model}"
            );
        }
    }

    #[test]
    fn without_a_thinking_toggle_reasoner_always_forwards_the_thinking() {
        let f = FormatSettings::default();
        let quiet = ShapingSettings {
            send_thinking: false,
            ..settings(&f)
        };
        let table = RoutingTable::new(
            [ProviderKind::DeepSeek, ProviderKind::Mimo]
                .map(|k| ProviderModels::with_labels(k, crate::providers::spec(k).site.models)),
            false,
        )
        .unwrap();
        // (model, forwarded with send_thinking off)
        for (model, send) in [
            ("mimo-auto", false),
            ("mimo-chat", false),
            ("mimo-reasoner", true),
            ("deepseek-reasoner", false),
        ] {
            let r = shape_chat(
                vec![msg("user", "x", None)],
                &table.route(model).unwrap(),
                &quiet,
                opts(model),
            );
            assert_eq!(r.send_thinking, send, "{model}");
        }
    }

    #[test]
    fn a_sillytavern_chat_is_formatted_and_its_macros_applied() {
        let f = FormatSettings::default();
        let messages = vec![
            msg("system", "You are Aria, a ship's AI.", None),
            msg("system", "[Example Chat]", None),
            msg("system", "Status?", Some("example_user")),
            msg("system", "All systems nominal.", Some("example_assistant")),
            msg("assistant", "Welcome aboard.", Some("Aria")),
            msg(
                "user",
                "Search the logs [[search]] please [[nothink]]",
                Some("Sam"),
            ),
        ];
        let r = shape_chat(
            messages,
            &route("deepseek-reasoner"),
            &settings(&f),
            opts("deepseek-reasoner"),
        );
        assert_eq!(
            r.prompt,
            "System: You are Aria, a ship's AI.\nSystem: [Example Chat]\nSystem: Status?\n\
             System: All systems nominal.\nAria: Welcome aboard.\nSam: Search the logs please"
        );
        assert!(!r.toggles.thinking, "[[nothink]] beats -reasoner");
        assert!(r.toggles.search, "[[search]] beats the setting");
        assert_eq!(r.system, None, "DeepSeek has no system field");
    }

    #[test]
    fn reasoning_effort_replaces_the_mode_and_sets_glm_deep_think() {
        let f = FormatSettings::default();
        let effort = effort::effort_override(ProviderKind::Glm, Some(&json!("xhigh")));
        let r = shape_chat(
            vec![msg("user", "x", None)],
            &route("glm-chat"),
            &settings(&f),
            RequestOptions {
                effort: Some(&effort),
                ..opts("glm-chat")
            },
        );
        assert_eq!(r.mode, Mode::Reasoner);
        assert!(r.toggles.thinking);
        assert_eq!(r.deep_think_effort, Some(DeepThinkEffort::Max));
        assert_eq!(
            r.client_model, "glm-chat",
            "the client's own model string is kept"
        );
        // A missing effort means no reasoning.
        let none = effort::effort_override(ProviderKind::Glm, None);
        let r = shape_chat(
            vec![msg("user", "x", None)],
            &route("glm-reasoner"),
            &settings(&f),
            RequestOptions {
                effort: Some(&none),
                ..opts("glm-reasoner")
            },
        );
        assert_eq!((r.mode, r.toggles.thinking), (Mode::Chat, false));
    }

    #[test]
    fn a_requests_own_site_fields_reach_the_driver_and_its_thinking_effort_wins() {
        let f = FormatSettings::default();
        let effort = effort::effort_override(ProviderKind::HuggingChat, Some(&json!("min")));
        let shaped = |fields| {
            shape_chat(
                vec![msg("user", "x", None)],
                &route("huggingchat-chat"),
                &settings(&f),
                RequestOptions {
                    effort: Some(&effort),
                    fields,
                    ..opts("huggingchat-chat")
                },
            )
        };
        let r = shaped(SiteFields::default());
        assert_eq!(r.mode, Mode::Reasoner);
        assert_eq!(r.thinking_effort.as_deref(), Some("low"));
        assert_eq!(r.inference_provider, None);
        let r = shaped(SiteFields {
            inference_provider: Some("novita"),
            thinking_effort: Some("high"),
        });
        assert_eq!(r.thinking_effort.as_deref(), Some("high"));
        assert_eq!(r.inference_provider.as_deref(), Some("novita"));
    }

    #[test]
    fn leading_system_messages_go_to_a_system_field_where_there_is_one() {
        let f = FormatSettings::default();
        let messages = || vec![msg("system", "Be brief.", None), msg("user", "Hi", None)];
        let r = shape_chat(
            messages(),
            &route("aistudio-chat"),
            &settings(&f),
            opts("m"),
        );
        assert_eq!(r.system.as_deref(), Some("Be brief."));
        assert_eq!(r.prompt, "User: Hi");
        let off = ShapingSettings {
            system_field: false,
            ..settings(&f)
        };
        let r = shape_chat(messages(), &route("aistudio-chat"), &off, opts("m"));
        assert_eq!(r.system, None);
        assert_eq!(r.prompt, "System: Be brief.\nUser: Hi");
    }

    #[test]
    fn system_text_longer_than_the_field_holds_stays_in_the_prompt() {
        let f = FormatSettings::default();
        let limit = crate::providers::spec(ProviderKind::Perplexity)
            .requests
            .system_field_limit
            .unwrap();
        for (len, in_field) in [(limit, true), (limit + 1, false)] {
            let system = "s".repeat(len);
            let chat = vec![msg("system", &system, None), msg("user", "Hi", None)];
            let r = shape_chat(chat, &route("perplexity-chat"), &settings(&f), opts("m"));
            if in_field {
                assert_eq!(
                    (r.system.as_deref(), r.prompt.as_str()),
                    (Some(system.as_str()), "User: Hi")
                );
            } else {
                assert_eq!(r.system, None);
                assert_eq!(r.prompt, format!("System: {system}\nUser: Hi"));
            }
        }
    }

    #[test]
    fn aistudio_suffixes_and_macro_tiers_set_the_thinking_level() {
        let f = FormatSettings::default();
        let r = shape_chat(
            vec![msg("user", "x", None)],
            &route("aistudio-reasoner-high"),
            &settings(&f),
            opts("m"),
        );
        assert_eq!(
            r.thinking_level,
            Some(ThinkingOverride::Level(crate::models::ThinkingLevel::High))
        );
        let r = shape_chat(
            vec![msg("user", "x [[r2]]", None)],
            &route("aistudio-reasoner-high"),
            &settings(&f),
            opts("m"),
        );
        assert_eq!(
            r.thinking_level,
            Some(ThinkingOverride::Tier(crate::models::ThinkingTier::R2))
        );
        assert_eq!(r.prompt, "User: x");
    }

    #[test]
    fn text_completions_keep_the_raw_prompt_minus_macros() {
        let f = FormatSettings::default();
        let r = shape_text(
            "raw\nprompt [[think]] [[nothink]]",
            &route("deepseek-reasoner"),
            &settings(&f),
            opts("deepseek-reasoner"),
        );
        assert_eq!(r.prompt, "raw\nprompt");
        assert_eq!(r.kind, RequestKind::Text);
        assert!(!r.toggles.thinking, "the last macro wins");
    }
}
