//! Xiaomi MiMo (aistudio.xiaomimimo.com): site defaults, page scripts and stream endpoint.
//!
//! The app (`/#/c`, a chat at `/#/chat/<id>`) is driven through its `data-track-id` hooks
//! (`hooks.js`): a new chat, the model picker (MiMo-V2.5-Pro / MiMo-V2.5), the web search
//! toggle, the chat box and `home_send_btn`. First-run modals are dismissed on the way: the
//! announcement, the cookie banner ("Decline all"), and the user agreement (checkbox, then
//! confirm). A "Log in" entry or the Xiaomi Account login (`account.xiaomi.com`, where the
//! site redirects a signed-out visitor) is the signed-out state. On that login, with a saved
//! account, `signin.js` fills the account and password and presses "Sign in", and the site's
//! callback brings the page back signed in (cookies `userId` and `xiaomichatbot_ph`); a page
//! that only shows "Log in" is signed in by hand.
//!
//! The answer streams from `POST /open-apis/bot/chat?…` as named SSE events (`message`,
//! `usage`, `sensitive_query`, `finish`), decoded by `switchyard_decode::mimo`. MiMo has **no
//! thinking toggle**: the model's thinking arrives inline in `<think>` tags, and the behavior
//! mode only decides whether it is forwarded (`-chat` drops it, `-reasoner` and `-auto` follow
//! `send_thinking`). `sensitive_query` (the site's content filter) becomes a blocked-content
//! error; the site's own token counts (`usage`) reach the client as the OpenAI contract says.
//!
//! Defaults as the reference: the tee capture (the reference is CDP-only here), answers can take
//! long to start (150 s), no system field; `reasoning_effort` follows the generic rule and the
//! shared macros apply. The reference's per-provider proxy (for the site's geoblock) is not in
//! this build: the lanes' browser has no per-context proxy yet.

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{
    DriverSpec, ProviderSpec, RequestSwitches, Scripts, SignInForm, SiteDefaults, SiteOptions,
};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Mimo,
    site: SiteDefaults {
        base_url: "https://aistudio.xiaomimimo.com",
        first_chunk_timeout_secs: 150,
        idle_timeout_secs: 75,
        capture: CaptureMode::Tee,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &["MiMo-V2.5-Pro", "MiMo-V2.5"],
        default_model: Some("MiMo-V2.5-Pro"),
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: false,
    },
    classify: classify_http,
    driver: Some(DriverSpec {
        stream_paths: &["/open-apis/bot/chat"],
        scripts: Scripts {
            hooks: include_str!("hooks.js"),
            ready: include_str!("ready.js"),
            prepare: include_str!("prepare.js"),
            send: include_str!("send.js"),
            stop: include_str!("stop.js"),
        },
        replay: true,
        decoder: || Box::new(switchyard_decode::mimo::MimoDecoder::new()),
        nudge: None,
        // The form is on the Xiaomi Account page the app redirects a signed-out visitor to.
        sign_in: Some(SignInForm {
            script: include_str!("signin.js"),
            page: None,
            flow: None,
        }),
    }),
};
