//! QwenLM (chat.qwen.ai): site defaults only; no driver in this build yet, so it runs in Dry Run
//! Mode only. The spec names only the picker's default, `Qwen3.5-Plus`, of a long list; no
//! system field; `reasoning_effort` follows the generic rule. Answers can take long to start
//! (first-chunk timeout 150 s).

use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Qwen,
    site: SiteDefaults {
        base_url: "https://chat.qwen.ai",
        first_chunk_timeout_secs: 150,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        models: &["Qwen3.5-Plus"],
        default_model: Some("Qwen3.5-Plus"),
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: None,
};
