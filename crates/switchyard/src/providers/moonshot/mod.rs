//! Moonshot / Kimi (www.kimi.ai): site defaults only; no driver in this build yet, so it runs in
//! Dry Run Mode only. No model picker (no real-model IDs), no system field; `reasoning_effort`
//! follows the generic rule.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Moonshot,
    site: SiteDefaults {
        base_url: "https://www.kimi.ai",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[],
        default_model: None,
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: None,
};
