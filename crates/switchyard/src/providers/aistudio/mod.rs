//! Google AI Studio (aistudio.google.com): site defaults, `reasoning_effort` mapping, its own
//! macros, page scripts and stream endpoint.
//!
//! Answers can take long to start (180 s); leading system messages go to its System
//! Instructions (`button.system-instructions-card`: a `switchyard-<hex>` title, the text, wait
//! for `div.saving-status.visible`, close with `[data-test-close-button]`).
//!
//! Per request (`prepare.js`, hooks in `hooks.js`, provider-wire-formats §8): a new temporary
//! chat is the start URL `/prompts/new_chat?incognito=true` again (through the app's router);
//! the model through `button.model-selector-card` → `[data-test-id='model-carousel-in-selector']`
//! → family "All" → `button[id='model-carousel-row-models/<id>']` (read back from
//! `span[data-test-id='model-name']`); Gemini 2.5 is paid on the site ([`SiteOptions::paid_models`])
//! and refused before queueing, as the reference does without "Assume Paid Model Access"
//! (`assume_paid_model_access`). A redirect that drops `incognito=true` gets it added back. Once
//! per page every safety filter (`div.safety-settings button` → `div.run-safety-settings
//! input[type=range]`) goes to its minimum. The Thinking Level
//! (`mat-select[aria-label='Thinking Level'|'Thinking Effort']` → `div[role=listbox] mat-option`):
//! thinking off (`-chat`, `[[r0]]`, `-auto` without thinking) is the model's lowest level; a
//! named suffix picks that level or the nearest above it the model has (3.1 Pro starts at Low);
//! a tier `rN` (N ≥ 1) picks level `round((N-1)·(n-1)/3)` of the model's n levels; otherwise
//! High, the site's default. The request's `temperature` and `top_p`
//! (`div[data-test-id='temperatureSliderContainer'] input`, the input under
//! `div[mattooltip='Probability threshold for top-p sampling']`) and `max_tokens`
//! (`input[aria-label='Maximum output tokens']`, after "Expand or collapse advanced settings")
//! are set only when the request has them (a model without the setting is noted once); the
//! switches "Grounding with Google Search" and "Browse the url context" follow `search` and
//! `[[url]]` (state from `mdc-switch--selected|checked` or `aria-checked`; a disabled switch, as
//! Gemma's forced Search, is noted). Run is `button[mattooltipclass='run-button-tooltip']` (or
//! `[data-test-id='run-button-tooltip'] button`, `button[name='run-button']`), which says Stop
//! while a run streams.
//!
//! The answer streams from `POST …/$rpc/google.internal.alkali.applications.makersuite.v1.
//! MakerSuiteService/GenerateContent` (a Google API host on the site; only the path is
//! matched), decoded by `switchyard_decode::aistudio`. Replay is the reference's default; tee
//! also works. With `humanize_mouse` (on, the reference's default) the composer and Run are
//! clicked by the pointer (`send.js` answers their boxes). Blocked-Response Handling
//! (`blocked_response_handling`, [`Nudge`]): a blocked or empty answer the client saw nothing
//! of gets its turn replaced with `.` (hover, `button.toggle-edit-button`, the value setter,
//! Ctrl+Enter: `nudge.js`) and `Continue.` sent, up to three times. Not done: CAARS (the
//! "savior" model prelude), Preflight, Regenerate, the ToS and copyright dialogs, clearing
//! `aistudio_all_system_instructions`, and Gemini 2.5's thinking-budget toggles.
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
use std::time::Duration;

use super::signin::GOOGLE_STEP;
use super::spec::{
    DriverSpec, Nudge, ProviderSpec, RequestSwitches, Scripts, SignInFlow, SignInForm,
    SiteDefaults, SiteOptions,
};
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
        options: SiteOptions {
            paid_models: &[
                "Gemini 2.5 Pro",
                "Gemini 2.5 Flash",
                "Gemini 2.5 Flash Lite",
            ],
            live_models: false,
            humanize_mouse: Some(true),
            ..SiteOptions::NONE
        },
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: MACROS,
        system_field: true,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: Some(DriverSpec {
        stream_paths: &[STREAM_PATH],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: true,
        decoder: || Box::new(switchyard_decode::aistudio::AiStudioDecoder::new()),
        nudge: Some(Nudge {
            script: include_str!("nudge.js"),
            replacement: ".",
            text: "Continue.",
            most: 3,
        }),
        // AI Studio redirects a signed-out visitor to Google's sign-in; the Auto Login Redirect Timeout is 15 s.
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: None,
            flow: Some(SignInFlow {
                name: "Google",
                step: GOOGLE_STEP,
                popup: false,
                timeout: Duration::from_secs(45),
                return_timeout: Duration::from_secs(15),
                placeholder_domain: Some("notanemail.notanemail"),
            }),
        }),
    }),
};

/// The completion request's path (on the site a Google API host; only the path is matched).
const STREAM_PATH: &str =
    "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent";

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
