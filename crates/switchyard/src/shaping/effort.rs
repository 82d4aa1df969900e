//! `reasoning_effort`: how a client's effort value becomes this request's mode and thinking
//! overrides (behavior-spec §2.3, §3.6).
//!
//! Used only when `api.accept_reasoning_effort` is on and the routed provider is in its list;
//! that check, and echoing the client's own model string in every chunk, are the caller's. For
//! those providers the effort **replaces** the mode the model ID asked for, and a request
//! without one means "no reasoning" (SillyTavern sends nothing for "Auto").
//!
//! # Rules
//! - **Which value** ([`requested_effort`]): a top-level `reasoning_effort` wins whenever the
//!   field is present, even as `null`; otherwise `reasoning.effort` when `reasoning` is an
//!   object; otherwise none.
//! - **Normalising** ([`normalize_effort`]): none or `null` → ``; `true` → `high`, `false` →
//!   `off`; anything else as text (strings as written, numbers and other JSON as compact JSON):
//!   trimmed, lowercased, each run of whitespace, `_` and `-` → one `-`, dashes trimmed off both
//!   ends. `" Extra_High "` → `extra-high`.
//! - **Mapping**: each provider's spec names its mapping (`providers::spec::RequestSwitches`);
//!   [`effort_override`] looks it up. Most use the **generic** rule ([`generic`]): the disabled
//!   set [`DISABLED_EFFORTS`] (`low` and `minimal` included) → [`Mode::Chat`], anything else →
//!   [`Mode::Reasoner`]. Providers with a thinking level, a thinking effort or a Deep Think menu
//!   map the effort onto it in their own folder (`providers/<p>/mod.rs`).
//!
//! Pure: depends on `serde_json` values, the `models` vocabulary and the static provider specs.

use serde_json::Value;

use crate::models::{Mode, ProviderKind, ThinkingOverride};

/// Normalised efforts that mean "no reasoning" for the generic rule.
pub const DISABLED_EFFORTS: [&str; 13] = [
    "", "auto", "none", "off", "false", "0", "no", "disable", "disabled", "minimum", "min",
    "minimal", "low",
];

/// A per-request Deep Think effort, for sites whose Deep Think has an effort menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeepThinkEffort {
    /// "High" in the Deep Think menu.
    High,
    /// "Max" in the Deep Think menu.
    Max,
}

/// What a request's effort does on one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffortOverride {
    /// Replaces the mode of the routed model ID (never [`Mode::Auto`]).
    pub mode: Mode,
    /// Whether the effort replaces the model ID's Thinking Level suffix (with [`Self::thinking`],
    /// where `None` clears it). When `false` the suffix is left alone.
    pub replaces_thinking_level: bool,
    /// The Thinking Level the effort selects, for sites with levels.
    pub thinking: Option<ThinkingOverride>,
    /// The Thinking Effort for the page (`default`, `low`, `medium`, `high` or a passed-through
    /// value), for sites with such a setting; `None` leaves the setting alone.
    pub thinking_effort: Option<String>,
    /// The Deep Think effort, for sites with a Deep Think menu; `None` leaves it alone.
    pub deep_think: Option<DeepThinkEffort>,
}

/// Picks the effort value from a raw request body: `reasoning_effort` when the field is
/// present at all (a `null` counts and means none), else `reasoning.effort`.
pub fn requested_effort(request: &Value) -> Option<&Value> {
    let body = request.as_object()?;
    if let Some(top) = body.get("reasoning_effort") {
        return Some(top);
    }
    body.get("reasoning")?.as_object()?.get("effort")
}

/// Normalises an effort value (see the module docs); none and `null` give ``.
pub fn normalize_effort(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => return String::new(),
        Some(Value::Bool(true)) => return "high".to_owned(),
        Some(Value::Bool(false)) => return "off".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    for c in text.trim().to_lowercase().chars() {
        if c.is_whitespace() || c == '_' || c == '-' {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_matches('-').to_owned()
}

/// The generic rule: whether a normalised effort asks for reasoning.
pub fn enables_reasoning(effort: &str) -> bool {
    !DISABLED_EFFORTS.contains(&effort)
}

/// The generic mapping: the mode only ([`enables_reasoning`]), nothing else set.
pub fn generic(effort: &str) -> EffortOverride {
    EffortOverride {
        mode: if enables_reasoning(effort) {
            Mode::Reasoner
        } else {
            Mode::Chat
        },
        replaces_thinking_level: false,
        thinking: None,
        thinking_effort: None,
        deep_think: None,
    }
}

/// What the effort `value` (from [`requested_effort`]; `None` when the request has none) does
/// on `provider`, by the provider's own mapping.
pub fn effort_override(provider: ProviderKind, value: Option<&Value>) -> EffortOverride {
    let effort = normalize_effort(value);
    (crate::providers::spec(provider).requests.effort)(&effort)
}

#[cfg(test)]
mod tests {
    use super::DeepThinkEffort::{High as DtHigh, Max as DtMax};
    use super::*;
    use crate::models::Mode::{Chat, Reasoner};
    use crate::models::ThinkingLevel;
    use crate::models::ThinkingLevel::{High, Low, Medium, Minimal};
    use serde_json::json;

    #[test]
    fn normalising() {
        let table: Vec<(Option<Value>, &str)> = vec![
            (None, ""),
            (Some(json!(null)), ""),
            (Some(json!(true)), "high"),
            (Some(json!(false)), "off"),
            (Some(json!("")), ""),
            (Some(json!("   ")), ""),
            (Some(json!("High")), "high"),
            (Some(json!("  MEDIUM ")), "medium"),
            (Some(json!("x high")), "x-high"),
            (Some(json!("X_High")), "x-high"),
            (Some(json!("extra  _ high")), "extra-high"),
            (Some(json!("extra - high")), "extra-high"),
            (Some(json!("extra--highest")), "extra-highest"),
            (Some(json!("x\t\nhigh")), "x-high"),
            (Some(json!("__low__")), "low"),
            (Some(json!("-medium-")), "medium"),
            (Some(json!("Ünïcode Ä")), "ünïcode-ä"),
            (Some(json!(0)), "0"),
            (Some(json!(1)), "1"),
            (Some(json!(2.5)), "2.5"),
            (Some(json!(["High"])), "[\"high\"]"),
            (Some(json!({"level": "x"})), "{\"level\":\"x\"}"),
        ];
        for (value, expected) in table {
            assert_eq!(normalize_effort(value.as_ref()), expected, "{value:?}");
        }
    }

    #[test]
    fn which_field_counts() {
        let table: Vec<(Value, Option<Value>)> = vec![
            (
                json!({"reasoning_effort": "high", "reasoning": {"effort": "low"}}),
                Some(json!("high")),
            ),
            // An explicit null still wins over the nested field.
            (
                json!({"reasoning_effort": null, "reasoning": {"effort": "high"}}),
                Some(json!(null)),
            ),
            (
                json!({"reasoning_effort": false, "reasoning": {"effort": "high"}}),
                Some(json!(false)),
            ),
            (
                json!({"reasoning": {"effort": "medium"}}),
                Some(json!("medium")),
            ),
            (json!({"reasoning": {"effort": null}}), Some(json!(null))),
            (json!({"reasoning": {"summary": "auto"}}), None),
            (json!({"reasoning": "high"}), None),
            (json!({"reasoning": null}), None),
            (json!({"model": "deepseek-auto"}), None),
            (json!("reasoning_effort"), None),
        ];
        for (request, expected) in table {
            assert_eq!(requested_effort(&request), expected.as_ref(), "{request}");
        }
        // The explicit null then means "no reasoning".
        let request = json!({"reasoning_effort": null, "reasoning": {"effort": "high"}});
        assert_eq!(
            effort_override(ProviderKind::DeepSeek, requested_effort(&request)).mode,
            Chat
        );
    }

    /// One row per effort value:
    /// (value, generic mode, AI Studio (mode, level), HuggingChat (mode, effort), GLM effort).
    type Row = (
        Option<Value>,
        Mode,
        (Mode, Option<ThinkingLevel>),
        (Mode, Option<&'static str>),
        Option<DeepThinkEffort>,
    );

    fn rows() -> Vec<Row> {
        vec![
            (None, Chat, (Chat, None), (Chat, None), None),
            (Some(json!(null)), Chat, (Chat, None), (Chat, None), None),
            (Some(json!("")), Chat, (Chat, None), (Chat, None), None),
            (Some(json!("auto")), Chat, (Chat, None), (Chat, None), None),
            (
                Some(json!("none")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("off")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("false")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!(false)),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("0")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!(0)),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("no")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("disable")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("Disabled")),
                Chat,
                (Chat, None),
                (Chat, Some("default")),
                None,
            ),
            (
                Some(json!("minimum")),
                Chat,
                (Reasoner, Some(Minimal)),
                (Reasoner, Some("low")),
                None,
            ),
            (
                Some(json!("min")),
                Chat,
                (Reasoner, Some(Minimal)),
                (Reasoner, Some("low")),
                None,
            ),
            (
                Some(json!("minimal")),
                Chat,
                (Reasoner, Some(Minimal)),
                (Reasoner, Some("low")),
                None,
            ),
            (
                Some(json!("low")),
                Chat,
                (Reasoner, Some(Low)),
                (Reasoner, Some("low")),
                None,
            ),
            (
                Some(json!("medium")),
                Reasoner,
                (Reasoner, Some(Medium)),
                (Reasoner, Some("medium")),
                Some(DtHigh),
            ),
            (
                Some(json!("med")),
                Reasoner,
                (Reasoner, Some(Medium)),
                (Reasoner, Some("medium")),
                Some(DtHigh),
            ),
            (
                Some(json!("high")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtHigh),
            ),
            (
                Some(json!(true)),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtHigh),
            ),
            (
                Some(json!("max")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("maximum")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("xhigh")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("x-high")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("X High")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("extra-high")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("high")),
                Some(DtMax),
            ),
            (
                Some(json!("extra_highest")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("extra-highest")),
                Some(DtMax),
            ),
            (
                Some(json!("default")),
                Reasoner,
                (Reasoner, Some(High)),
                (Chat, Some("default")),
                Some(DtHigh),
            ),
            (
                Some(json!("Banana Split")),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("banana-split")),
                Some(DtHigh),
            ),
            (
                Some(json!(1)),
                Reasoner,
                (Reasoner, Some(High)),
                (Reasoner, Some("1")),
                Some(DtHigh),
            ),
        ]
    }

    #[test]
    fn generic_providers() {
        for (value, mode, ..) in rows() {
            for provider in [
                ProviderKind::DeepSeek,
                ProviderKind::Qwen,
                ProviderKind::Perplexity,
                ProviderKind::Mimo,
            ] {
                assert_eq!(
                    effort_override(provider, value.as_ref()),
                    EffortOverride {
                        mode,
                        replaces_thinking_level: false,
                        thinking: None,
                        thinking_effort: None,
                        deep_think: None,
                    },
                    "{provider} {value:?}"
                );
            }
        }
    }

    #[test]
    fn ai_studio() {
        for (value, _, (mode, level), ..) in rows() {
            assert_eq!(
                effort_override(ProviderKind::AiStudio, value.as_ref()),
                EffortOverride {
                    mode,
                    replaces_thinking_level: true,
                    thinking: level.map(ThinkingOverride::Level),
                    thinking_effort: None,
                    deep_think: None,
                },
                "{value:?}"
            );
        }
    }

    #[test]
    fn huggingchat() {
        for (value, _, _, (mode, effort), _) in rows() {
            assert_eq!(
                effort_override(ProviderKind::HuggingChat, value.as_ref()),
                EffortOverride {
                    mode,
                    replaces_thinking_level: false,
                    thinking: None,
                    thinking_effort: effort.map(str::to_owned),
                    deep_think: None,
                },
                "{value:?}"
            );
        }
    }

    #[test]
    fn glm_and_moonshot() {
        // GLM's Deep Think effort and Kimi's thinking level map the same way (High or Max).
        for provider in [ProviderKind::Glm, ProviderKind::Moonshot] {
            for (value, mode, _, _, deep_think) in rows() {
                assert_eq!(
                    effort_override(provider, value.as_ref()),
                    EffortOverride {
                        mode,
                        replaces_thinking_level: false,
                        thinking: None,
                        thinking_effort: None,
                        deep_think,
                    },
                    "{provider} {value:?}"
                );
            }
        }
    }

    #[test]
    fn the_tables_cover_every_provider() {
        // A new provider must be placed in one of the rules above.
        for provider in ProviderKind::ALL {
            let outcome = effort_override(provider, Some(&json!("max")));
            assert_eq!(outcome.mode, Reasoner, "{provider}");
        }
        assert_eq!(DISABLED_EFFORTS.len(), 13);
        assert!(
            DISABLED_EFFORTS
                .iter()
                .all(|effort| !enables_reasoning(effort))
        );
    }
}
