//! HuggingChat (huggingface.co/chat): site defaults, `reasoning_effort` mapping, page scripts
//! and stream endpoint.
//!
//! The app is driven through the hooks the reference uses (`hooks.js`): the chat box
//! `textarea[placeholder='Ask anything']`, "New Chat", `button[aria-label='Send message']` and
//! `button[aria-label='Stop generating']`. Signed out: a sign-in form, a "Start chatting" gate
//! or a "Sign in" link instead of the chat box. With a saved account (a username or an email)
//! the lane opens `/chat/login`, which the site sends on to the Hugging Face login, and
//! `signin.js` fills `input[name=username]` and `input[name=password]` and presses "Login".
//! That form is posted by the browser and answered with a new page, so the script posts it the
//! same way itself (the form's fields to its action, following the redirect) to read a refusal
//! off the answer, then goes where the site sent it.
//!
//! Per request (`prepare.js`): a new chat; then, when the model, the inference provider or the
//! system prompt must change (and once per tab, to read the model list), the model settings
//! behind the composer's "Model:" link (`a[href*='/settings/chat/']`): the live model list is
//! read from its `button[data-model-id]`s and kept for the tab (sessionStorage), the model is
//! picked by id or basename (one the site does not serve is [`super::DriverError::ModelUnavailable`],
//! a 400; the list goes to the driver, which keeps it for routing:
//! [`super::SiteOptions::live_models`]),
//! the inference provider from `button[aria-label='Select inference provider']` (items
//! `[data-value]`; `auto` leaves it), the custom system prompt set to the request's system text
//! (or emptied), and `button[name='Activate model']` pressed, confirmed by the settings
//! heading. Then the thinking effort ("Select thinking effort", shown as "Effort: X"): the
//! request's own `huggingchat_thinking_effort` (on `-chat` too), else `default` (off) with
//! thinking off and the mapped effort or `auto` with it on; and web search as
//! the Web Search (Exa) MCP server (attachment menu → second submenu; off through "Disable
//! all MCP servers"). The prompt goes in through the shared path.
//!
//! The answer streams from `POST /chat/conversation/<id>` (the capture path
//! `/chat/conversation/*`: one segment, so the create call `POST /chat/conversation` and
//! `/stop-generating` never match) as JSON updates one per line, decoded by
//! `switchyard_decode::huggingchat`. The reference only tees this site, so only the tee capture
//! is offered. Credits used up ("Upgrade Required", HTTP 402) is a quota failure with its own
//! text ([`classify`]).
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
use super::failure::{FailureKind, SiteFailure, classify_http};
use super::spec::{
    DriverSpec, ProviderSpec, RequestSwitches, Scripts, SignInForm, SiteDefaults, SiteOptions,
};
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
        options: SiteOptions {
            live_models: true,
            username_sign_in: true,
            ..SiteOptions::NONE
        },
    },
    requests: RequestSwitches {
        effort: effort_override,
        macros: &[],
        system_field: true,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify,
    driver: Some(DriverSpec {
        stream_paths: &["/chat/conversation/*"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: false,
        decoder: || Box::new(switchyard_decode::huggingchat::HuggingChatDecoder::new()),
        nudge: None,
        // `/chat/login` sends the browser on to the Hugging Face login page.
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: Some("/login"),
            flow: None,
        }),
    }),
};

/// What the site says when the account's credits are used up (free accounts get $0.10 a month,
/// PRO $2): HTTP 402, and the page shows "Upgrade Required".
const UPGRADE_REQUIRED: &str = "Upgrade Required: the HuggingChat account's monthly credits \
                                are used up (free $0.10, PRO $2 a month). Wait for the next \
                                month, or add lanes with other accounts";

/// The shared reading, and credits used up (HTTP 402, or the site's credits text) as a quota
/// failure that says "Upgrade Required".
fn classify(status: i64, body: &[u8]) -> SiteFailure {
    let mut failure = classify_http(status, body);
    let lower = failure.detail.to_lowercase();
    if status == 402 || lower.contains("upgrade required") || lower.contains("included credits") {
        failure.kind = FailureKind::QuotaExhausted;
        failure.detail = match failure.detail.as_str() {
            "" => format!("{UPGRADE_REQUIRED}."),
            site => format!("{UPGRADE_REQUIRED} ({site})."),
        };
    }
    failure
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_used_up_is_a_quota_failure_that_says_upgrade_required() {
        let body = br#"{"message":"You have exceeded your monthly included credits."}"#;
        let failure = classify(402, body);
        assert_eq!(failure.kind, FailureKind::QuotaExhausted);
        assert!(
            failure.detail.starts_with("Upgrade Required: "),
            "{}",
            failure.detail
        );
        assert!(
            failure
                .detail
                .ends_with("(You have exceeded your monthly included credits.).")
        );
        assert_eq!(classify(402, b"").kind, FailureKind::QuotaExhausted);
        let limit = switchyard_decode::huggingchat::RATE_LIMITED.as_bytes();
        assert_eq!(classify(200, limit).kind, FailureKind::RateLimited);
        assert_eq!(classify(401, b"{}").kind, FailureKind::SignInLost);
    }
}
