//! Moonshot / Kimi (www.kimi.ai): site defaults, `reasoning_effort` mapping, page scripts and
//! stream endpoint.
//!
//! Page (`hooks.js`): the editor `div.chat-input-editor[contenteditable]`, the one composer
//! control `div.send-button-container` (class `disabled` while empty; it turns into Stop while
//! an answer streams, so Stop is that control once its look differs from Send's), the model
//! picker `div.current-model` (`span.name`) with its options `[data-testid="model-option"]`
//! and the effort submenu `[data-testid="model-effort-item"]` → `[role="menuitemradio"]`
//! Standard / High / Max (Instant: Standard / High). Signed out is the login modal
//! (`div.login-modal-content`) or a user name (`span.user-name`) reading "Log In", held for
//! 1.8 s: the lane then fails to start with a sign-in error. The first-run notice
//! (`div.content.common-notice-dialog`) is dismissed by its `button.kimi-button.plain`.
//!
//! Before each new chat (at most every 15 s) the memory guardrail reads the account's
//! `GetUserSetting` and, if `memory.useSemanticMemory` or `useEpisodicMemory` is on, turns
//! both off with one `UpdateUserSetting` (`update_mask`
//! `memory.useSemanticMemory,memory.useEpisodicMemory`), then reads again. A new chat is the
//! site's "New Chat" link, `/?chat_enter_method=new_chat`.
//!
//! Models (real-model IDs with `api.universal_model_names`): Kimi K3 (the default), Kimi K3
//! Swarm, K2.8 and Instant, IDs `kimi-k3-*`, `kimi-k3-swarm-*`, `k2-8-*`, `instant-*`. Every
//! model thinks; "thinking off" is the level **Standard**: `-chat` sets Standard (and forwards
//! no thinking), `-reasoner` sets High (the reference's configured level, Standard bumped to
//! High), or Max when `reasoning_effort` asks for the most ([`effort_override`]). Search is
//! the "Internet off" switch (on) or the toolkit's search item (on / off).
//!
//! The answer streams from `POST /apiv2/kimi.gateway.chat.v1.ChatService/Chat` (also
//! `RegenerateMessage`) as Connect envelopes, decoded by `switchyard_decode::moonshot`; the
//! request body is itself a binary envelope, which the replay capture forwards byte for byte.
//! The decoder's reply id is the chat's id (the stream's first event), which `stop.js` needs
//! with the replay capture, when the page never read the stream.
//!
//! Failures: the shared reading ([`classify_http`]), plus HTTP 503 and the site's "Too many
//! people are chatting with Kimi right now" as rate limited (at capacity), and the content
//! filter's answer as blocked content.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::{FailureKind, SiteFailure, classify_http};
use std::time::Duration;

use super::signin::GOOGLE_STEP;
use super::spec::{
    DriverSpec, ProviderSpec, RequestSwitches, Scripts, SignInFlow, SignInForm, SiteDefaults,
    SiteOptions,
};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort::{self, DeepThinkEffort, EffortOverride};

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Moonshot,
    site: SiteDefaults {
        base_url: "https://www.kimi.ai",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 75,
        capture: CaptureMode::Replay,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &["Kimi K3", "Kimi K3 Swarm", "K2.8", "Instant"],
        default_model: Some("Kimi K3"),
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify,
    driver: Some(DriverSpec {
        stream_paths: &[
            "/apiv2/kimi.gateway.chat.v1.ChatService/Chat",
            "/apiv2/kimi.gateway.chat.v1.ChatService/RegenerateMessage",
        ],
        replay: true,
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        decoder: || Box::new(switchyard_decode::moonshot::MoonshotDecoder::new()),
        nudge: None,
        // Kimi signs in with Google only, in a popup its login modal opens (≤45 s, then ≤20 s for the page to show the account).
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: None,
            flow: Some(SignInFlow {
                name: "Google",
                step: GOOGLE_STEP,
                popup: true,
                timeout: Duration::from_secs(45),
                return_timeout: Duration::from_secs(20),
                placeholder_domain: Some("notanemail.notanemail"),
            }),
        }),
    }),
};

/// Efforts that ask for the most thinking; they pick Max (as GLM's Deep Think reads them).
const MAX_EFFORTS: [&str; 6] = [
    "max",
    "maximum",
    "xhigh",
    "x-high",
    "extra-high",
    "extra-highest",
];

/// The generic mode, plus the effort level when thinking is on: Max for the highest efforts,
/// else High (Standard is thinking off).
fn effort_override(effort: &str) -> EffortOverride {
    let level = effort::enables_reasoning(effort).then(|| {
        if MAX_EFFORTS.contains(&effort) {
            DeepThinkEffort::Max
        } else {
            DeepThinkEffort::High
        }
    });
    EffortOverride {
        deep_think: level,
        ..effort::generic(effort)
    }
}

/// Kimi's words for being at capacity, lowercase.
const CAPACITY_TEXTS: [&str; 2] = [
    "too many people are chatting with kimi",
    "kimi is at capacity",
];
/// Kimi's words for content its filter refused, lowercase.
const BLOCKED_TEXTS: [&str; 1] = ["kimi blocked this request"];

/// The shared reading, with Kimi's capacity answers (and HTTP 503) as rate limited and its
/// content filter as blocked content.
fn classify(status: i64, body: &[u8]) -> SiteFailure {
    let mut failure = classify_http(status, body);
    let lower = String::from_utf8_lossy(body).to_lowercase();
    if status == 503 || CAPACITY_TEXTS.iter().any(|t| lower.contains(t)) {
        failure.kind = FailureKind::RateLimited;
    } else if BLOCKED_TEXTS.iter().any(|t| lower.contains(t)) {
        failure.kind = FailureKind::ContentBlocked;
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_the_content_filter_are_typed() {
        use switchyard_decode::moonshot::{BLOCKED, RATE_LIMITED};
        assert_eq!(
            classify(200, RATE_LIMITED.as_bytes()).kind,
            FailureKind::RateLimited
        );
        assert_eq!(
            classify(200, b"Too many people are chatting with Kimi right now.").kind,
            FailureKind::RateLimited
        );
        assert_eq!(classify(503, b"").kind, FailureKind::RateLimited);
        assert_eq!(classify(429, b"{}").kind, FailureKind::RateLimited);
        assert_eq!(
            classify(200, BLOCKED.as_bytes()).kind,
            FailureKind::ContentBlocked
        );
        assert_eq!(classify(401, b"{}").kind, FailureKind::SignInLost);
        assert_eq!(classify(500, b"oops").kind, FailureKind::Other);
    }

    #[test]
    fn reasoning_effort_picks_the_level() {
        assert_eq!(
            effort_override("max").deep_think,
            Some(DeepThinkEffort::Max)
        );
        assert_eq!(
            effort_override("high").deep_think,
            Some(DeepThinkEffort::High)
        );
        assert_eq!(
            effort_override("medium").deep_think,
            Some(DeepThinkEffort::High)
        );
        assert_eq!(effort_override("low").deep_think, None);
        assert_eq!(effort_override("none").deep_think, None);
    }
}
