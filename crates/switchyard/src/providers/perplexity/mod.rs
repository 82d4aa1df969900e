//! Perplexity (www.perplexity.ai): site defaults only; no driver in this build yet, so it runs in
//! Dry Run Mode only. It only tees (no replay), answers may pause long (idle timeout 600 s),
//! leading system messages go to its Space instructions, and `reasoning_effort` follows the
//! generic rule.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Perplexity,
    site: SiteDefaults {
        base_url: "https://www.perplexity.ai",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 600,
        capture: CaptureMode::Tee,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[
            "Best (Auto)",
            "Sonar 2",
            "GPT-5.4",
            "GPT-5.5",
            "Gemini 3.1 Pro",
            "Claude Sonnet 4.6",
            "Claude Opus 4.7",
            "Kimi K2.6",
            "Nemotron 3 Super",
        ],
        default_model: Some("Best (Auto)"),
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: true,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: None,
};
