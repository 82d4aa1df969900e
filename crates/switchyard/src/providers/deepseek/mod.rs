//! DeepSeek (chat.deepseek.com): site defaults, page scripts and stream endpoint.
//!
//! The model type picker selects Instant or Expert (`deepseek-expert-*` IDs); the DeepThink and
//! Search toggles follow the request. The answer streams from `/api/v0/chat/completion` as
//! DeepSeek's path/operation/value patch stream, decoded by `switchyard_decode::deepseek`.
//! There is no model picker (no real-model IDs) and no system field; `reasoning_effort` follows
//! the generic rule.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{
    DriverSpec, FileUpload, ProviderSpec, RequestSwitches, Scripts, SignInForm, SiteDefaults,
    SiteOptions,
};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::DeepSeek,
    site: SiteDefaults {
        base_url: "https://chat.deepseek.com",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        // `prompt.txt` on `input[type=file]`; a file alone is a message; not in Expert mode.
        file_upload: Some(FileUpload {
            filler: "",
            in_expert_mode: false,
        }),
        models: &[],
        default_model: None,
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: Some(DriverSpec {
        // The completion request (and the regenerate request, for later reuse support).
        stream_paths: &["/api/v0/chat/completion", "/api/v0/chat/regenerate"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: true,
        decoder: || Box::new(switchyard_decode::deepseek::DeepSeekDecoder::new()),
        nudge: None,
        // The form is on the page the site redirects a signed-out visitor to.
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: None,
            flow: None,
        }),
    }),
};
