//! [`ProviderSpec`]: everything the gateway knows of one provider beyond its catalog entry.
//!
//! Each provider folder defines one `SPEC` value; [`super`] lists them. Config reads
//! the site defaults from it, shaping reads the request switches the site honours, and a lane
//! reads its driver part. Nothing outside `providers/` matches on a provider to learn these.

use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort::EffortOverride;
use crate::shaping::macros::MacroTable;
use switchyard_decode::Decode;

use super::failure::SiteFailure;

/// One provider: site defaults, the request switches it honours, its failure texts, and its
/// driver when this build has one.
#[derive(Debug)]
pub struct ProviderSpec {
    /// The catalog entry this spec belongs to.
    pub kind: ProviderKind,
    /// What a configuration file leaves unset.
    pub site: SiteDefaults,
    /// How the request switches map onto the site.
    pub requests: RequestSwitches,
    /// Reads the site's own failure answer (HTTP status and body) as a typed failure.
    pub classify: fn(status: i64, body: &[u8]) -> SiteFailure,
    /// The page driver and decoder; `None` while the provider runs only in Dry Run Mode.
    pub driver: Option<DriverSpec>,
}

/// The reference's settings for a provider, used where the configuration file is silent.
#[derive(Debug)]
pub struct SiteDefaults {
    /// The real site's origin, without a trailing slash.
    pub base_url: &'static str,
    /// Seconds to wait for the first piece of an answer.
    pub first_chunk_timeout_secs: u64,
    /// Seconds to wait between two pieces of an answer.
    pub idle_timeout_secs: u64,
    /// How a lane reads the site's stream.
    pub capture: CaptureMode,
    /// The longest prompt (with the system field) a request may send, in characters; a longer
    /// one is a 413 before it is queued. The reference names no limit for any site; this is
    /// switchyard's default (above the 200,000-character chats the lanes are tested with).
    pub max_prompt_chars: usize,
    /// How the site takes the prompt as a file (`[[file]]`, and a prompt over
    /// `max_prompt_chars`), when its driver can; `None`: typed always, and too long is a 413.
    pub file_upload: Option<FileUpload>,
    /// The labels of the site's model picker (behavior-spec §8.12), in the site's order.
    /// Running drivers may report the labels they really see; this list is the default.
    pub models: &'static [&'static str],
    /// The label selected by default, or `None` when there is no picker or the default keeps
    /// the site's own selection. Always one of [`SiteDefaults::models`].
    pub default_model: Option<&'static str>,
    /// The site-specific settings the reference has for this site.
    pub options: SiteOptions,
}

/// Settings the reference has for one site only (each empty where the site has none); the
/// config refuses a key the site does not have.
#[derive(Debug)]
pub struct SiteOptions {
    /// Model labels the site serves only to paid accounts: refused with a 400 before queueing
    /// unless `assume_paid_model_access` (the reference's "Assume Paid Model Access").
    pub paid_models: &'static [&'static str],
    /// The driver reads the site's model list live (after sign-in) and reports it
    /// ([`super::live_models`]); a model not on it is a 400 before queueing.
    pub live_models: bool,
    /// The default of `humanize_mouse` (the reference's "Humanize Mouse Movements"), where the
    /// driver's Send can use the pointer; `None`: the site has no such setting.
    pub humanize_mouse: Option<bool>,
    /// The site signs in with an emailed code, so a saved account has no password.
    pub passwordless_sign_in: bool,
    /// The site's sign-in takes a username as well as an email address.
    pub username_sign_in: bool,
    /// The page scripts of a sign-in by an emailed code (with `passwordless_sign_in`), which
    /// `switchyard login` runs; `None`: none.
    pub code_sign_in: Option<CodeSignIn>,
}

/// A sign-in by an emailed code: `start` types `ARGS.email` and asks the site for the code,
/// answering `{state: "sent"}`, `{state: "refused", message}` or `{state: "no_form"}`; `enter`
/// types `ARGS.code`, answering `{state: "refused", message}` for a wrong code, or leaving the
/// page on success (the ready check decides).
#[derive(Debug)]
pub struct CodeSignIn {
    pub start: &'static str,
    pub enter: &'static str,
}

impl SiteOptions {
    /// A site with none of these settings.
    pub const NONE: SiteOptions = SiteOptions {
        paid_models: &[],
        live_models: false,
        humanize_mouse: None,
        passwordless_sign_in: false,
        username_sign_in: false,
        code_sign_in: None,
    };
}

/// The site's send-as-file mode: the prompt goes as an uploaded `prompt.txt` (reference:
/// provider-wire-formats §2.2 and §3.2). The page hook `file_input` is the site's
/// `input[type=file]`.
#[derive(Debug)]
pub struct FileUpload {
    /// Text typed beside the file (GLM and Kimi refuse a file alone; DeepSeek takes one).
    pub filler: &'static str,
    /// Whether the Expert model type has the upload (DeepSeek's has not).
    pub in_expert_mode: bool,
}

impl FileUpload {
    /// Whether a request with these toggles can send its prompt as a file.
    pub fn applies(&self, toggles: &crate::shaping::Toggles) -> bool {
        self.in_expert_mode || !toggles.expert
    }
}

/// Which request switches the site honours, and how.
#[derive(Debug)]
pub struct RequestSwitches {
    /// Maps a normalised `reasoning_effort` (`shaping::effort::normalize_effort`) to this
    /// request's overrides. Most sites use `shaping::effort::generic`.
    pub effort: fn(effort: &str) -> EffortOverride,
    /// The site's own macros, looked up before the shared set (`shaping::macros`).
    pub macros: MacroTable,
    /// Whether the site has a system-prompt field that leading system messages can go to
    /// (behavior-spec §8.6).
    pub system_field: bool,
    /// The most characters the system field holds, if the site has a limit. Longer system
    /// text is left in the prompt, where it fits (a site's instructions box of 8000, say).
    pub system_field_limit: Option<usize>,
    /// Whether the site has a thinking toggle. Without one the model thinks whatever the mode,
    /// and the mode only decides whether the thinking is forwarded: `-chat` drops it,
    /// `-reasoner` always forwards it, `-auto` follows `send_thinking` (behavior-spec §2.6).
    pub thinking_toggle: bool,
}

/// The driver part of a provider: page scripts, stream endpoints and decoder.
#[derive(Debug)]
pub struct DriverSpec {
    /// URL paths of the completion request a lane captures.
    pub stream_paths: &'static [&'static str],
    /// The page scripts the driver runs.
    pub scripts: Scripts,
    /// Whether the replay capture is offered. Without it only `tee` is (the reference reads
    /// the site only by teeing), and a configured `capture = "replay"` is refused at start.
    pub replay: bool,
    /// A fresh decoder for one response body (`switchyard_decode`).
    pub decoder: fn() -> Box<dyn Decode + Send>,
    /// The reference's Blocked-Response Handling, where the site has it: what to do when an
    /// answer comes back blocked or empty before any of it reached the client.
    pub nudge: Option<Nudge>,
    /// Automatic sign-in with a saved account, where the reference fills the site's form
    /// (behavior-spec §7.4); `None`: the site is signed in by hand (`switchyard login`).
    pub sign_in: Option<SignInForm>,
}

/// A site's sign-in form: the script that fills and submits it with `email` and `password`
/// (answering `{state: "refused", message}` or `{state: "no_form"}`, or leaving the page on
/// success), and the page it runs on.
///
/// A site that signs in through an identity provider's pages ([`SignInForm::flow`], Google's)
/// has a script that opens them instead: it answers `{state: "popup", rect}` (the box of the
/// control that opens them in a popup, which the driver clicks with the pointer) or `{state:
/// "flow"}` (the lane's page already shows them).
#[derive(Debug)]
pub struct SignInForm {
    pub script: &'static str,
    /// A path under the base URL to open first; `None`: the page the site redirected to.
    pub page: Option<&'static str>,
    /// The identity provider's pages the sign-in goes through; `None`: the site's own form.
    pub flow: Option<SignInFlow>,
}

/// A sign-in through an identity provider's pages (Google's: identifier, password, consent),
/// which the driver walks one page at a time with [`SignInFlow::step`] (see
/// `providers::signin`).
#[derive(Debug)]
pub struct SignInFlow {
    /// The identity provider, as messages name it ("Google").
    pub name: &'static str,
    /// The script run on each of its pages: does that page's step (fill and submit, press
    /// the consent button) and answers `{state: "refused" | "manual" | "other", message}`
    /// when the flow cannot go on or the page is not one of its own; a step that submits
    /// ends with the page (the script's context ends).
    pub step: &'static str,
    /// The pages open in a popup (Kimi's "Continue with Google"); `false`: in the lane's page.
    pub popup: bool,
    /// How long the identity provider's pages may take, every step together.
    pub timeout: std::time::Duration,
    /// How long the site may take after the last step to show the account signed in, else
    /// the sign-in needs a person (AI Studio's Auto Login Redirect Timeout, 15 s).
    pub return_timeout: std::time::Duration,
    /// The domain of placeholder addresses (`notanemail.notanemail`), refused before trying.
    pub placeholder_domain: Option<&'static str>,
}

/// Blocked-Response Handling (provider-wire-formats §8.5): the blocked turn is replaced by
/// [`Nudge::replacement`] and [`Nudge::text`] is sent as a new user message, at most
/// [`Nudge::most`] times; then the block is the request's clear error.
#[derive(Debug)]
pub struct Nudge {
    /// The page script that replaces the blocked turn and focuses the empty composer.
    pub script: &'static str,
    /// The text that replaces the blocked turn.
    pub replacement: &'static str,
    /// The new user message.
    pub text: &'static str,
    /// The most nudges one request gets.
    pub most: u32,
}

/// The page scripts of one driver (`ready.js`, `prepare.js`, `send.js`, `stop.js`), and its hook
/// table (`hooks.js`), which every script (and `switchyard doctor`) starts with.
#[derive(Debug)]
pub struct Scripts {
    /// Defines `HOOKS`: every page hook with the ways to find it, preferred way first.
    pub hooks: &'static str,
    pub ready: &'static str,
    pub prepare: &'static str,
    pub send: &'static str,
    pub stop: &'static str,
}

impl ProviderSpec {
    /// Whether this build can run the provider in a lane (it has a driver and a replica).
    pub fn implemented(&self) -> bool {
        self.driver.is_some()
    }

    /// A fresh decoder for one of the site's response bodies, if this build has one.
    pub fn decoder(&self) -> Option<Box<dyn Decode + Send>> {
        self.driver.as_ref().map(|d| (d.decoder)())
    }
}
