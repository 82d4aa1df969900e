//! QwenLM (chat.qwen.ai): site defaults, page scripts and stream endpoint.
//!
//! The spec names only the picker's default, `Qwen3.5-Plus`, of a long list (the list shows a
//! few models until "Expand more models"; names compare by their NFKC letters and digits). No
//! system field; `reasoning_effort` follows the generic rule. Answers can take long to start
//! (first-chunk timeout 150 s).
//!
//! Page: sign-in is the `/auth` page with its email and password form (the session is an
//! `HttpOnly` cookie `token`, which a page script cannot read, so the page tells). With a saved
//! account the lane opens `/auth` and `signin.js` fills `.qwenchat-auth-pc-input-items` (its
//! first non-password input, the email, and the password) and presses
//! `button.qwenchat-auth-pc-submit-button`; the site's toast is a refused sign-in. A first-run
//! dialog is closed. Before each new chat (at most every 15 s) the account guardrails the
//! reference applies are forced off through the site's own settings endpoints, one
//! `POST /api/v2/users/user/settings/update` per key: `ui.largeTextAsFile` (else a long prompt
//! becomes an attachment), `ui.splitLargeChunks`, `memory.enable_memory`,
//! `memory.enable_history_memory`. Thinking is the select's **Thinking** (on) or **Fast** (off);
//! web search is the mode menu's "Web Search", turned off by the mode's close mark. Send only
//! appears once the chat box holds text; Stop is the `stop-button` in its place.
//!
//! The answer streams from `POST /api/v2/chat/completions?chat_id=…` as SSE, decoded by
//! `switchyard_decode::qwen`. The page's request carries Alibaba's anti-bot headers `bx-ua`,
//! `bx-umidtoken` and `bx-v`; the replay capture copies the page's headers once each, as the
//! site requires. The site's token counts arrive in the stream (`usage`), and reach the client
//! as the OpenAI contract says.
//!
//! Failures: the shared reading ([`classify_http`]), plus Qwen's content filter code
//! `data_inspection_failed` (and "Qwen censored …", the decoder's wording of it) as blocked
//! content.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::{FailureKind, SiteFailure, classify_http};
use super::spec::{
    DriverSpec, ProviderSpec, RequestSwitches, Scripts, SignInForm, SiteDefaults, SiteOptions,
};
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
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &["Qwen3.5-Plus"],
        default_model: Some("Qwen3.5-Plus"),
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify,
    driver: Some(DriverSpec {
        stream_paths: &["/api/v2/chat/completions"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: true,
        decoder: || Box::new(switchyard_decode::qwen::QwenDecoder::new()),
        nudge: None,
        // The reference goes to /auth (where the site also sends a visitor without `token`).
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: Some("/auth"),
            flow: None,
        }),
    }),
};

/// Qwen's words for content its filter blocked, lowercase.
const BLOCKED_TEXTS: [&str; 2] = ["data_inspection_failed", "qwen censored"];

/// The shared reading, with Qwen's content-filter answers as blocked content.
fn classify(status: i64, body: &[u8]) -> SiteFailure {
    let mut failure = classify_http(status, body);
    let lower = String::from_utf8_lossy(body).to_lowercase();
    if failure.kind == FailureKind::Other && BLOCKED_TEXTS.iter().any(|t| lower.contains(t)) {
        failure.kind = FailureKind::ContentBlocked;
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_filter_is_blocked_content() {
        let body = br#"{"success":false,"data":{"code":"data_inspection_failed","details":"Input data may contain inappropriate content."}}"#;
        assert_eq!(classify(400, body).kind, FailureKind::ContentBlocked);
        let text = switchyard_decode::qwen::BLOCKED.as_bytes();
        assert_eq!(classify(200, text).kind, FailureKind::ContentBlocked);
        let limit = switchyard_decode::qwen::RATE_LIMITED.as_bytes();
        assert_eq!(classify(200, limit).kind, FailureKind::RateLimited);
        assert_eq!(classify(429, b"{}").kind, FailureKind::RateLimited);
        assert_eq!(classify(500, b"oops").kind, FailureKind::Other);
    }
}
