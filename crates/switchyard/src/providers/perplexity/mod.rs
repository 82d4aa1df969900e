//! Perplexity (www.perplexity.ai): site defaults, page scripts and stream endpoint.
//!
//! The app is driven through the hooks the reference uses (`hooks.js`): the composer, a
//! contenteditable rich-text editor (`div[contenteditable=true]`, one `<p>` per line), the
//! request-mode button (`aria-haspopup=menu`), "Add files or tools" with its sources, and
//! `button[aria-label='Submit']`; Stop is `button[aria-label*=Stop|Cancel|Interrupt]`.
//! Sign-in is read from the site's session API (`GET /api/auth/session`, in the page): signed in
//! when its `user` is an object; `user.subscription_tier` (`free`, `pro`, `max`) decides whether
//! the model and thinking controls exist. `ready.js` keeps the tier for the page.
//!
//! Signing in is by an emailed code, so a saved account has no password and a lane cannot sign
//! in by itself: `switchyard login --provider perplexity --account EMAIL` runs the code flow
//! (`signin_start.js`: "Sign In", `input[placeholder='Enter your email']`, the button whose
//! first span is "Continue with email", until `h2` "Check your email"; `signin_code.js`: the
//! code the user types on the terminal into `input[aria-label='Digit N of 6']`, then
//! "Continue"), and the session is kept as every lane's is. A lane whose session is gone fails
//! with the `switchyard login` command to run.
//!
//! Per request (`prepare.js`): a new thread ("New Thread"); on a paid tier the model
//! (`button[aria-label='Model']`, rows `div[role=menuitemradio]`, a locked row's wrapper lacks
//! the class `rounded-lg`) and the Thinking switch (`div[role=menuitemcheckbox]`; forced on and
//! disabled for the models that always think); a free account skips both, and the lane says so
//! once per page in its log. The request mode is set to **Search**, as the reference does
//! before every send; web search is the **Web** source (under "Connectors and sources"), set to
//! the request's search switch both ways (the reference only ever turns it on). The prompt goes
//! in through the shared path (typed, or set in one step when long: one `<p>` per line).
//!
//! The answer streams from `POST /rest/sse/perplexity_ask` as SSE, decoded by
//! `switchyard_decode::perplexity`: only the `ask_text` blocks are answer text; sources, web
//! results and plans never reach the client, and neither does Perplexity's thinking, which
//! lives in its plan steps (`-reasoner` turns Thinking on where the account has it). The
//! reference only tees this site, so only the tee capture is offered. Answers may pause long
//! (idle timeout 600 s).
//!
//! Spaces mode is the site's system field: with `system_field` on (the default) and leading
//! system messages in the request, the thread is opened in the account's Space "switchyard"
//! (found under "Spaces", or created there), whose answer instructions are first set to the
//! system text when they differ (`textarea[aria-label='Input for editing Space answer
//! instructions']`, Save). The site holds at most 8000 characters there
//! (`system_field_limit`), so shaping leaves longer system text in the prompt, as it does with
//! `system_field = false`; a request without system text asks outside the Space. File mode is
//! not offered.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{
    CodeSignIn, DriverSpec, ProviderSpec, RequestSwitches, Scripts, SiteDefaults, SiteOptions,
};
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
        options: SiteOptions {
            passwordless_sign_in: true,
            code_sign_in: Some(CodeSignIn {
                start: include_str!("signin_start.js"),
                enter: include_str!("signin_code.js"),
            }),
            ..SiteOptions::NONE
        },
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: true,
        system_field_limit: Some(8000),
        thinking_toggle: true,
    },
    classify: classify_http,
    driver: Some(DriverSpec {
        stream_paths: &["/rest/sse/perplexity_ask"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: false,
        decoder: || Box::new(switchyard_decode::perplexity::PerplexityDecoder::new()),
        nudge: None,
        sign_in: None,
    }),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::FailureKind;

    #[test]
    fn the_sites_failures_read_as_their_kinds() {
        let limit = switchyard_decode::perplexity::RATE_LIMITED.as_bytes();
        assert_eq!(classify_http(200, limit).kind, FailureKind::RateLimited);
        let body = br#"{"detail":"Too many requests. Please slow down and try again later."}"#;
        assert_eq!(classify_http(429, body).kind, FailureKind::RateLimited);
        assert_eq!(
            classify_http(401, br#"{"detail":"Unauthorized"}"#).kind,
            FailureKind::SignInLost
        );
        let none = switchyard_decode::perplexity::NO_TEXT.as_bytes();
        assert_eq!(classify_http(200, none).kind, FailureKind::Other);
    }
}
