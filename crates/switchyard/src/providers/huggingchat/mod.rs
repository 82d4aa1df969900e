//! HuggingChat (huggingface.co/chat): site defaults and `reasoning_effort` mapping; no driver in
//! this build yet, so it runs in Dry Run Mode only.
//!
//! Its model list is read live after login, so there are no default labels, and the default
//! setting ("Current HuggingChat selection") leaves the site's choice alone. It only tees,
//! answers can take long to start (150 s), and leading system messages go to its system prompt.
//!
//! `reasoning_effort` ([`thinking_effort`]): ``/`auto` → no effort (Chat);
//! `none`/`off`/`false`/`0`/`no`/`disable`/`disabled` → `default` (Chat);
//! `minimum`/`min`/`minimal` → `low`; `low`, `medium`, `high` kept, `med` → `medium`;
//! `max`/`maximum`/`xhigh`/`x-high`/`extra-high` → `high`; anything else passes through as
//! normalised (`extra-highest` too). Reasoner unless the result is none or `default`. The effort
//! goes to the page as the request's Thinking Effort (with thinking on exactly when the mode is
//! Reasoner), unless the request's own `huggingchat_thinking_effort` is set, which wins (the
//! caller's check).

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::{Mode, ProviderKind};
use crate::shaping::effort::{self, EffortOverride};

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::HuggingChat,
    site: SiteDefaults {
        base_url: "https://huggingface.co/chat",
        first_chunk_timeout_secs: 150,
        idle_timeout_secs: 75,
        capture: CaptureMode::Tee,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[],
        default_model: None,
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: &[],
        system_field: true,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: None,
};

/// The Thinking Effort for a normalised effort, or `None` to leave it alone.
pub fn thinking_effort(effort: &str) -> Option<String> {
    let mapped = match effort {
        "" | "auto" => return None,
        "none" | "off" | "false" | "0" | "no" | "disable" | "disabled" => "default",
        "minimum" | "min" | "minimal" => "low",
        "med" => "medium",
        "max" | "maximum" | "xhigh" | "x-high" | "extra-high" => "high",
        other => other,
    };
    Some(mapped.to_owned())
}

fn effort_override(effort: &str) -> EffortOverride {
    let mapped = thinking_effort(effort);
    EffortOverride {
        mode: match mapped.as_deref() {
            None | Some("default") => Mode::Chat,
            Some(_) => Mode::Reasoner,
        },
        thinking_effort: mapped,
        ..effort::generic(effort)
    }
}
