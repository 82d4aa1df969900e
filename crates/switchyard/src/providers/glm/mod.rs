//! GLM Chat (chat.z.ai): site defaults, `reasoning_effort` mapping, page scripts and stream
//! endpoint.
//!
//! Deep Think is set through its effort menu (GLM-5.2 and newer) or the classic switch; web
//! search is the unlabeled toggle before it. The answer streams from `/api/v2/chat/completions`
//! (older builds: `/api/chat/completions`) as `chat:completion` SSE events, decoded by
//! `switchyard_decode::glm`.
//!
//! `reasoning_effort`: the generic mode, plus a Deep Think effort ([`deep_think`]) when the
//! effort is not disabled: `max`/`maximum`/`xhigh`/`x-high`/`extra-high`/`extra-highest` → Max,
//! anything else → High (only GLM-5.2 shows this menu).

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{
    DriverSpec, ProviderSpec, RequestSwitches, Scripts, SignInForm, SiteDefaults, SiteOptions,
};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort::{self, DeepThinkEffort, EffortOverride};

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Glm,
    site: SiteDefaults {
        base_url: "https://chat.z.ai",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[
            "GLM-5.2",
            "GLM-5.1",
            "GLM-5-Turbo",
            "GLM-5V-Turbo",
            "GLM-4.7",
        ],
        default_model: Some("GLM-5.2"),
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: Some(DriverSpec {
        stream_paths: &["/api/v2/chat/completions", "/api/chat/completions"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: true,
        decoder: || Box::new(switchyard_decode::glm::GlmDecoder::new()),
        nudge: None,
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: Some("/auth"),
            flow: None,
        }),
    }),
};

/// Efforts that ask for the most thinking; they map to Max.
const MAX_EFFORTS: [&str; 6] = [
    "max",
    "maximum",
    "xhigh",
    "x-high",
    "extra-high",
    "extra-highest",
];

/// The Deep Think effort for a normalised effort, or `None` when it is disabled.
pub fn deep_think(effort: &str) -> Option<DeepThinkEffort> {
    if !effort::enables_reasoning(effort) {
        return None;
    }
    Some(if MAX_EFFORTS.contains(&effort) {
        DeepThinkEffort::Max
    } else {
        DeepThinkEffort::High
    })
}

fn effort_override(effort: &str) -> EffortOverride {
    EffortOverride {
        deep_think: deep_think(effort),
        ..effort::generic(effort)
    }
}
