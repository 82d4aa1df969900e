//! Google AI Studio (aistudio.google.com): site defaults, `reasoning_effort` mapping and its own
//! macros; no driver in this build yet, so it runs in Dry Run Mode only.
//!
//! Answers can take long to start (180 s); leading system messages go to its System
//! Instructions.
//!
//! `reasoning_effort` ([`thinking_level`]): the model's thinking suffix is dropped. ``, `auto`,
//! `none`, `off`, `false`, `0`, `no`, `disable`, `disabled` → Chat with no level; anything else →
//! Reasoner with a level: `minimum`/`min`/`minimal` → Minimal, `low` → Low, `medium`/`med` →
//! Medium, `high`/`max`/`maximum`/`xhigh`/`x-high`/`extra-high`/`extra-highest` and every
//! unknown value → High. So `low` still means reasoning here.
//!
//! Macros ([`MACROS`], laid over the shared set as its driver merges them): `think` on,
//! `nothink`/`no_think` off; `r0` thinking off **and** tier 0 (lowest level, as the `-r0` suffix
//! means); `r1`…`r4` a Thinking Level tier only (thinking itself follows the mode and other
//! macros, as in the reference); `url`, `urlcontext`, `url_context` / `nourl`, `no_url`,
//! `no-url` URL Context on / off; `nocaars`, `nocars` CAARS off; and the shared `search` and
//! `file` families.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::{Mode, ProviderKind, ThinkingLevel, ThinkingOverride, ThinkingTier};
use crate::shaping::effort::{self, EffortOverride};
use crate::shaping::macros::{Effect, MacroTable, THINK_OFF, THINK_ON, URL_OFF, URL_ON};

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::AiStudio,
    site: SiteDefaults {
        base_url: "https://aistudio.google.com",
        first_chunk_timeout_secs: 180,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[
            "Gemini 3.5 Flash",
            "Gemini 3.1 Pro",
            "Gemini 3.1 Flash Lite",
            "Gemini 3 Flash",
            "Gemini 2.5 Pro",
            "Gemini 2.5 Flash",
            "Gemini 2.5 Flash Lite",
            "Gemma 4 26B-A4B",
            "Gemma 4 31B",
        ],
        default_model: Some("Gemini 3.1 Pro"),
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: MACROS,
        system_field: true,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: None,
};

/// AI Studio's own macros, looked up before the shared set.
pub const MACROS: MacroTable = &[
    ("think", THINK_ON),
    ("nothink", THINK_OFF),
    ("no_think", THINK_OFF),
    (
        "r0",
        &[Effect::Thinking(false), Effect::Tier(ThinkingTier::R0)],
    ),
    ("r1", &[Effect::Tier(ThinkingTier::R1)]),
    ("r2", &[Effect::Tier(ThinkingTier::R2)]),
    ("r3", &[Effect::Tier(ThinkingTier::R3)]),
    ("r4", &[Effect::Tier(ThinkingTier::R4)]),
    ("url", URL_ON),
    ("urlcontext", URL_ON),
    ("url_context", URL_ON),
    ("nourl", URL_OFF),
    ("no_url", URL_OFF),
    ("no-url", URL_OFF),
    ("nocaars", &[Effect::Caars(false)]),
    ("nocars", &[Effect::Caars(false)]),
];

/// Normalised efforts that mean "no reasoning" here, where `low` and `minimal` are real levels.
const OFF: [&str; 9] = [
    "", "auto", "none", "off", "false", "0", "no", "disable", "disabled",
];

/// The Thinking Level for a normalised effort, or `None` for "no reasoning".
pub fn thinking_level(effort: &str) -> Option<ThinkingLevel> {
    if OFF.contains(&effort) {
        return None;
    }
    Some(match effort {
        "minimum" | "min" | "minimal" => ThinkingLevel::Minimal,
        "low" => ThinkingLevel::Low,
        "medium" | "med" => ThinkingLevel::Medium,
        _ => ThinkingLevel::High,
    })
}

fn effort_override(effort: &str) -> EffortOverride {
    let level = thinking_level(effort);
    EffortOverride {
        mode: if level.is_some() {
            Mode::Reasoner
        } else {
            Mode::Chat
        },
        thinking: level.map(ThinkingOverride::Level),
        replaces_thinking_level: true,
        ..effort::generic(effort)
    }
}
