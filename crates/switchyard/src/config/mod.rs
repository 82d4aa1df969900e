//! Configuration: one TOML file (`switchyard.toml`, or `--config PATH`), validated at start.
//!
//! Parsing goes through [`raw::RawConfig`], where every struct denies unknown fields, and
//! `serde_path_to_error` keeps the key path, so a typo is reported as
//! `switchyard.toml: runtime.mode: unknown variant ...`. [`Config::from_raw`] then fills defaults
//! and checks ranges. Every error names the file, the key and what is allowed.
//!
//! Files can be laid over each other at the TOML level ([`merge_tables`]): `switchyard demo
//! --config FILE` lays the user's file over the demo's own settings before validation.

mod accounts;
mod artifacts;
mod net;
pub mod raw;
mod security;

use std::{collections::BTreeMap, fmt, net::IpAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use crate::models::ProviderKind;
use crate::providers;
use crate::shaping::format::{FormatSettings, InjectionPosition, Preset};
use raw::{RawConfig, RawFormatting, RawInjectionPosition};

pub use accounts::AccountsConfig;
pub use artifacts::{CaptureFiles, Failures};
pub use net::{Endpoint, ProxyUrl, shown_url};
pub use security::{Access, AdminRoutes, AuthConfig, IpAllowlist};

/// The largest `instances` value a provider accepts (the reference's limit).
pub const MAX_INSTANCES: u32 = 32;

/// How requests share the lanes. The variant docs say what each mode does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueMode {
    /// One lane per provider, all warm, but one generation at a time across the whole gateway,
    /// in strict global arrival order.
    ProviderLanes,
    /// One lane per provider; each lane runs one request at a time and different lanes overlap.
    ConcurrentProviderLanes,
    /// `instances` lanes per provider; a request waits in its provider's queue and the first free
    /// lane of that provider takes it (never-used lanes first, then least recently used).
    FullParallelLanes,
}

impl QueueMode {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueMode::ProviderLanes => "provider_lanes",
            QueueMode::ConcurrentProviderLanes => "concurrent_provider_lanes",
            QueueMode::FullParallelLanes => "full_parallel_lanes",
        }
    }
}

/// How lanes are separated inside Chromium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// One Chromium; each lane gets its own (ephemeral) browser context and page.
    Context,
    /// One Chromium per lane with its own persistent user-data-dir under `data_dir`.
    Process,
}

/// How a lane gets the site's streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Chromium sends the request; the lane reads a copy of the body from Chromium's network
    /// layer (`Network.streamResourceContent`). The page is untouched and renders live.
    Tee,
    /// The request is paused in Chromium and sent by switchyard with the page's headers and
    /// cookies; the body is read directly (lowest latency) and handed to the page at the end.
    Replay,
}

/// How thinking text reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningFormat {
    /// Inline in `delta.content`, wrapped in `<think>` … `</think>` (the reference's way).
    ThinkTags,
    /// In `delta.reasoning_content` / `message.reasoning_content`.
    ReasoningContent,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub provider: ProviderKind,
    pub data_dir: PathBuf,
    pub runtime: RuntimeConfig,
    pub server: ServerConfig,
    pub browser: BrowserConfig,
    pub api: ApiConfig,
    /// The global formatting settings (each provider's effective ones are in its settings).
    pub formatting: FormatSettings,
    /// Settings of every provider, including those that do not run.
    pub providers: BTreeMap<ProviderKind, ProviderConfig>,
    /// `[capture]`: raw site bodies saved per request (off by default).
    pub capture: CaptureFiles,
    /// `[failures]`: failure bundles.
    pub failures: Failures,
    /// `[auth]`: API keys.
    pub auth: AuthConfig,
    /// `[accounts]`: the saved accounts' store and choice.
    pub accounts: AccountsConfig,
    /// The fault-injection endpoints (`POST /api/lanes/{id}/crash`, …). Not a config key: only
    /// `--enable-fault-injection` on `serve` or `demo` (or a test) turns them on.
    pub fault_injection: bool,
    /// `[dummy]`: the dummy provider's lanes (off unless `lanes` is set).
    pub dummy: DummyConfig,
    /// `[dashboard]`: the web dashboard at `/`.
    pub dashboard: DashboardConfig,
}

/// `[dashboard]`: the web dashboard's settings (read per request; a reload applies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardConfig {
    /// Whether a lane's live view (a throttled screencast of its page) may be opened; even
    /// when on, it is refused while the lane runs a request or requests wait in the queue.
    pub screencast: bool,
}

/// `[dummy]`: lanes of the dummy provider, which answer by model ID (`dummy-instant`,
/// `dummy-slow`, `dummy-flaky`, `dummy-error`) with no browser and no site behind them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DummyConfig {
    /// How many dummy lanes run (in every queue mode); 0: none, and no dummy ID is listed or
    /// routed.
    pub lanes: u32,
    /// Run only the dummy lanes: no site lane, no browser (load runs, fast tests).
    pub only: bool,
}

/// The most dummy lanes (`dummy.lanes`).
pub const MAX_DUMMY_LANES: u32 = 1024;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub providers_in_parallel: bool,
    pub mode: QueueMode,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The allowlist, the `Host` names and the open-bind override.
    pub access: Access,
    /// On SIGTERM/SIGINT, how long running answers may go on before they are stopped.
    pub shutdown_grace: Duration,
}

/// The default of `server.shutdown_grace_secs`.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// The default of `providers.<p>.queue_timeout_secs`: ten minutes.
pub const DEFAULT_QUEUE_TIMEOUT_SECS: u64 = 600;
/// The default of `providers.<p>.refresh_every`: a page is reloaded while idle after this many
/// requests (`lanes::purge` says why).
pub const DEFAULT_REFRESH_EVERY: u32 = 250;

#[derive(Debug, Clone)]
pub struct BrowserConfig {
    pub executable: Option<PathBuf>,
    pub headless: bool,
    pub isolation: Isolation,
    /// Upper bound for any single CDP call that has no longer bound of its own.
    pub cdp_timeout: Duration,
    /// Start Chromium with `--no-sandbox` even when not running as root.
    pub no_sandbox: bool,
    /// `browser.extra_flags`: Chromium switches added to every launch, each `--name` or
    /// `--name=value` (checked by [`chromium_flag`]).
    pub extra_flags: Vec<String>,
    /// `browser.endpoints`: attach the lanes to these running Chromiums instead of launching
    /// one (empty: launch).
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub reasoning_format: ReasoningFormat,
    pub universal_model_names: bool,
    /// Honour the request's `reasoning_effort` / `reasoning.effort` ...
    pub accept_reasoning_effort: bool,
    /// ... for these providers.
    pub reasoning_effort_providers: Vec<ProviderKind>,
    /// Answer every request 418 and show its shaped prompt instead; no browser starts.
    pub dry_run: bool,
    /// The largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// What a non-streaming client gets when the answer broke off after some text.
    pub partial_answers: PartialAnswers,
    /// Browser origins whose pages may call the API (`*` for any); others get 403.
    pub cors_origins: Vec<String>,
}

/// The default request body limit: long roleplay chats are big, but not this big.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What a non-streaming request whose answer failed after some text gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialAnswers {
    /// An error status with the site's reason (502, 429 for a rate limit, 504 for a
    /// timeout): a truncated answer never looks complete.
    #[default]
    Error,
    /// The partial text with `finish_reason: "length"` (closest to the reference tool).
    Keep,
}

impl ApiConfig {
    /// Whether a request's effort counts for this provider.
    pub fn accepts_effort(&self, provider: ProviderKind) -> bool {
        self.accept_reasoning_effort && self.reasoning_effort_providers.contains(&provider)
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub enabled: bool,
    pub instances: u32,
    /// The site's origin, without a trailing slash.
    pub base_url: String,
    /// Thinking for `-auto` IDs.
    pub thinking: bool,
    /// Forward the thinking text to the client (`-chat` never does).
    pub send_thinking: bool,
    pub search: bool,
    pub first_chunk_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long a request may wait in the queue for a lane before it fails.
    pub queue_timeout: Duration,
    /// The longest prompt a request may send (characters, with the system field); longer is
    /// a 413 before it is queued.
    pub max_prompt_chars: usize,
    /// Leading system messages go to the site's own system field (where it has one).
    pub system_field: bool,
    pub capture: CaptureMode,
    /// The site model every request selects unless its real-model ID names another.
    pub model: Option<String>,
    /// The labels of the site's model picker, for real-model IDs (Universal Model Names).
    pub models: Vec<String>,
    /// The formatting for this provider: the global table with this provider's keys over it.
    pub formatting: FormatSettings,
    /// `proxy`: the lane's browser context (or browser) and its replay go through it.
    pub proxy: Option<ProxyUrl>,
    /// `assume_paid_model_access`: the site's paid models are allowed (the account pays).
    pub assume_paid_model_access: bool,
    /// `humanize_mouse`: Send moves the pointer to the control and presses it there.
    pub humanize_mouse: bool,
    /// `blocked_response_handling`: a blocked or empty answer gets the site's nudges.
    pub blocked_response_handling: bool,
    /// `hide_while_streaming`: with the tee capture in a headless browser, the page's window is
    /// minimized while an answer streams (it paints nothing meanwhile).
    pub hide_while_streaming: bool,
    /// `refresh_every`: after this many requests on one page, the idle lane reloads it
    /// (`lanes::purge`); 0 never does.
    pub refresh_every: u32,
}

impl ProviderConfig {
    /// What request shaping reads of these settings.
    pub fn shaping(&self) -> crate::shaping::ShapingSettings<'_> {
        crate::shaping::ShapingSettings {
            thinking: self.thinking,
            send_thinking: self.send_thinking,
            search: self.search,
            system_field: self.system_field,
            model: self.model.as_deref(),
            format: &self.formatting,
        }
    }
}

/// A configuration error, ready to print: file, key, what is allowed.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.0
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read the file: {e}", path.display())))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `source` names it in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Config, ConfigError> {
        let table = parse_table(text, source)?;
        Self::from_table(table, source)
    }

    /// Validates an already parsed (and possibly merged) TOML table.
    pub fn from_table(table: toml::Table, source: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let msg = inner.message().trim().to_owned();
                if path == "." || path.is_empty() {
                    ConfigError(format!("{source}: {msg}"))
                } else {
                    ConfigError(format!("{source}: {path}: {msg}"))
                }
            })?;
        Self::from_raw(raw, source)
    }

    /// Fills defaults and checks values.
    pub fn from_raw(raw: RawConfig, source: &str) -> Result<Config, ConfigError> {
        let bad = |key: &str, msg: String| ConfigError(format!("{source}: {key}: {msg}"));

        let provider = match raw.provider.as_deref() {
            None => providers::DEFAULT_PROVIDER,
            Some(name) => ProviderKind::from_name(name).ok_or_else(|| {
                bad(
                    "provider",
                    format!(
                        "unknown provider `{name}`; expected one of {}",
                        provider_names()
                    ),
                )
            })?,
        };

        let runtime = raw.runtime.unwrap_or_default();
        let runtime = RuntimeConfig {
            providers_in_parallel: runtime.providers_in_parallel.unwrap_or(false),
            mode: runtime.mode.unwrap_or(QueueMode::ProviderLanes),
        };

        let server = raw.server.unwrap_or_default();
        let host_text = server
            .host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let host: IpAddr = host_text.parse().map_err(|_| {
            bad(
                "server.host",
                format!("`{host_text}` is not an IP address (use 127.0.0.1, 0.0.0.0 or ::1)"),
            )
        })?;
        let grace = server
            .shutdown_grace_secs
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
        if grace > 3600 {
            return Err(bad(
                "server.shutdown_grace_secs",
                format!("{grace} is out of range; allowed 0..=3600"),
            ));
        }
        let server = ServerConfig {
            host,
            port: server.port.unwrap_or(7777),
            access: security::access(&server, &bad)?,
            shutdown_grace: Duration::from_secs(grace),
        };

        let browser = raw.browser.unwrap_or_default();
        let cdp_secs = browser.cdp_timeout_secs.unwrap_or(10);
        if cdp_secs == 0 || cdp_secs > 600 {
            return Err(bad(
                "browser.cdp_timeout_secs",
                format!("{cdp_secs} is out of range; allowed 1..=600"),
            ));
        }
        let endpoints = net::endpoints(browser.endpoints.as_deref(), &bad)?;
        if !endpoints.is_empty() && browser.isolation == Some(Isolation::Process) {
            return Err(bad(
                "browser.isolation",
                "`process` launches a Chromium per lane, which browser.endpoints replaces;                  remove one of the two (lanes on endpoints get a browser context each)"
                    .to_owned(),
            ));
        }
        let extra_flags = (browser.extra_flags.unwrap_or_default().into_iter())
            .map(|flag| {
                chromium_flag(&flag)
                    .map(|()| flag)
                    .map_err(|msg| bad("browser.extra_flags", msg))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let browser = BrowserConfig {
            executable: browser.executable.map(PathBuf::from),
            headless: browser.headless.unwrap_or(true),
            isolation: browser.isolation.unwrap_or(Isolation::Context),
            cdp_timeout: Duration::from_secs(cdp_secs),
            no_sandbox: browser.no_sandbox.unwrap_or(false),
            extra_flags,
            endpoints,
        };

        let api = raw.api.unwrap_or_default();
        let reasoning_effort_providers = match &api.accept_reasoning_effort_providers {
            None => ProviderKind::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    ProviderKind::from_name(name).ok_or_else(|| {
                        bad(
                            "api.accept_reasoning_effort_providers",
                            format!(
                                "unknown provider `{name}`; expected some of {}",
                                provider_names()
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let api = ApiConfig {
            reasoning_format: api.reasoning_format.unwrap_or(ReasoningFormat::ThinkTags),
            universal_model_names: api.universal_model_names.unwrap_or(false),
            accept_reasoning_effort: api.accept_reasoning_effort.unwrap_or(false),
            reasoning_effort_providers,
            dry_run: api.dry_run.unwrap_or(false),
            max_body_bytes: match api.max_body_bytes {
                None => DEFAULT_MAX_BODY_BYTES,
                Some(n) if (1024..=1 << 30).contains(&n) => n as usize,
                Some(n) => {
                    return Err(bad(
                        "api.max_body_bytes",
                        format!("{n} is out of range; allowed 1024..=1073741824"),
                    ));
                }
            },
            partial_answers: api.partial_answers.unwrap_or_default(),
            cors_origins: security::cors_origins(api.cors_origins.as_deref(), &bad)?,
        };
        let formatting = lay_formatting(
            raw.formatting.as_ref(),
            FormatSettings::default(),
            "formatting",
            &bad,
        )?;

        let dry_run = api.dry_run;
        let mut providers = BTreeMap::new();
        let mut raw_providers = raw.providers.unwrap_or_default();
        if let Some(unknown) = raw_providers
            .keys()
            .find(|key| !ProviderKind::ALL.iter().any(|k| k.prefix() == key.as_str()))
        {
            return Err(bad(
                &format!("providers.{unknown}"),
                format!(
                    "unknown field `{unknown}`, expected one of {}",
                    provider_names()
                ),
            ));
        }
        for kind in ProviderKind::ALL {
            let spec = crate::providers::spec(kind);
            let defaults = &spec.site;
            let raw = raw_providers.remove(kind.prefix()).unwrap_or_default();
            let key = |field: &str| format!("providers.{}.{field}", kind.prefix());
            let instances = raw.instances.unwrap_or(1);
            if !(1..=i64::from(MAX_INSTANCES)).contains(&instances) {
                return Err(bad(
                    &key("instances"),
                    format!("{instances} is out of range; allowed 1..={MAX_INSTANCES}"),
                ));
            }
            let base_url = raw
                .base_url
                .unwrap_or_else(|| defaults.base_url.to_owned())
                .trim_end_matches('/')
                .to_owned();
            if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
                || base_url.len() <= "https://".len()
            {
                return Err(bad(
                    &key("base_url"),
                    format!("`{base_url}` is not an http(s) URL such as https://chat.example.com"),
                ));
            }
            let first = raw
                .first_chunk_timeout_secs
                .unwrap_or(defaults.first_chunk_timeout_secs);
            let idle = raw.idle_timeout_secs.unwrap_or(defaults.idle_timeout_secs);
            for (field, value) in [
                ("first_chunk_timeout_secs", first),
                ("idle_timeout_secs", idle),
            ] {
                if value == 0 || value > 3600 {
                    return Err(bad(
                        &key(field),
                        format!("{value} is out of range; allowed 1..=3600"),
                    ));
                }
            }
            let queue = raw.queue_timeout_secs.unwrap_or(DEFAULT_QUEUE_TIMEOUT_SECS);
            if queue == 0 || queue > 86_400 {
                return Err(bad(
                    &key("queue_timeout_secs"),
                    format!("{queue} is out of range; allowed 1..=86400"),
                ));
            }
            let max_prompt = raw
                .max_prompt_chars
                .unwrap_or(defaults.max_prompt_chars as u64);
            if !(1000..=100_000_000).contains(&max_prompt) {
                return Err(bad(
                    &key("max_prompt_chars"),
                    format!("{max_prompt} is out of range; allowed 1000..=100000000"),
                ));
            }
            let refresh_every = raw.refresh_every.unwrap_or(DEFAULT_REFRESH_EVERY.into());
            if refresh_every > 1_000_000 {
                return Err(bad(
                    &key("refresh_every"),
                    format!("{refresh_every} is out of range; allowed 0..=1000000 (0: never)"),
                ));
            }
            let enabled = raw.enabled.unwrap_or(false);
            let runs = enabled || kind == provider;
            // Dry Run Mode starts no browser, so it can shape requests for any provider.
            if runs && !spec.implemented() && !dry_run {
                let what = if kind == provider {
                    "provider".to_owned()
                } else {
                    key("enabled")
                };
                return Err(bad(
                    &what,
                    format!(
                        "{kind} is not implemented in this build yet; implemented providers: {}",
                        implemented_names()
                    ),
                ));
            }
            let capture = raw.capture.unwrap_or(defaults.capture);
            if capture == CaptureMode::Replay && spec.driver.as_ref().is_some_and(|d| !d.replay) {
                return Err(bad(
                    &key("capture"),
                    format!(
                        "{kind} offers only the tee capture (the reference reads this site \
                         only by teeing); remove the key or set \"tee\""
                    ),
                ));
            }
            let models = raw
                .models
                .clone()
                .unwrap_or_else(|| defaults.models.iter().map(|l| (*l).to_owned()).collect());
            if models.iter().any(|m| m.trim().is_empty()) {
                return Err(bad(
                    &key("models"),
                    "model labels must not be empty".to_owned(),
                ));
            }
            let model = match raw.model.clone() {
                Some(m) if m.trim().is_empty() => {
                    return Err(bad(&key("model"), "must not be empty".to_owned()));
                }
                Some(m) => Some(m),
                None => defaults.default_model.map(str::to_owned),
            };
            let proxy = match raw.proxy.as_deref() {
                None | Some("") => None,
                Some(text) => Some(ProxyUrl::parse(text, &key("proxy"), &bad)?),
            };
            let capture = raw.capture.unwrap_or(defaults.capture);
            if capture == CaptureMode::Replay
                && proxy.as_ref().is_some_and(|p| p.credentials().is_some())
            {
                return Err(bad(
                    &key("capture"),
                    "`replay` cannot be used with a proxy that has a user and password: Chromium \
                     answers the proxy's sign-in for every request of the page, and a replayed \
                     request would go around it; set capture = \"tee\" for this provider"
                        .to_owned(),
                ));
            }
            // Settings only some sites have: set on another site, they are an error.
            let options = &spec.site.options;
            let only_where = |field: &str, has: bool| {
                if has {
                    Ok(())
                } else {
                    Err(bad(
                        &key(field),
                        format!("{kind} has no such setting; remove the key"),
                    ))
                }
            };
            if raw.assume_paid_model_access.is_some() {
                only_where("assume_paid_model_access", !options.paid_models.is_empty())?;
            }
            if raw.humanize_mouse.is_some() {
                only_where("humanize_mouse", options.humanize_mouse.is_some())?;
            }
            let nudges = spec.driver.as_ref().is_some_and(|d| d.nudge.is_some());
            if raw.blocked_response_handling.is_some() {
                only_where("blocked_response_handling", nudges)?;
            }
            let provider_formatting = lay_formatting(
                raw.formatting.as_ref(),
                formatting.clone(),
                &key("formatting"),
                &bad,
            )?;
            providers.insert(
                kind,
                ProviderConfig {
                    enabled,
                    instances: instances as u32,
                    base_url,
                    thinking: raw.thinking.unwrap_or(false),
                    send_thinking: raw.send_thinking.unwrap_or(true),
                    search: raw.search.unwrap_or(false),
                    first_chunk_timeout: Duration::from_secs(first),
                    idle_timeout: Duration::from_secs(idle),
                    queue_timeout: Duration::from_secs(queue),
                    max_prompt_chars: max_prompt as usize,
                    system_field: raw.system_field.unwrap_or(true),
                    capture,
                    model,
                    models,
                    formatting: provider_formatting,
                    proxy,
                    assume_paid_model_access: raw.assume_paid_model_access.unwrap_or(false),
                    humanize_mouse: raw
                        .humanize_mouse
                        .unwrap_or(options.humanize_mouse.unwrap_or(false)),
                    blocked_response_handling: raw.blocked_response_handling.unwrap_or(nudges),
                    hide_while_streaming: raw.hide_while_streaming.unwrap_or(true),
                    refresh_every: refresh_every as u32,
                },
            );
        }

        let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| "switchyard-data".to_owned()));
        let capture = artifacts::capture_files(raw.capture, &bad)?;
        let failures = artifacts::failures(raw.failures, &data_dir, &bad)?;
        let auth = security::auth(raw.auth, &data_dir)?;
        let accounts = accounts::accounts(raw.accounts, &data_dir, &bad)?;
        let dummy = dummy_config(raw.dummy, &bad)?;
        Ok(Config {
            auth,
            accounts,
            provider,
            data_dir,
            capture,
            failures,
            runtime,
            server,
            browser,
            api,
            formatting,
            providers,
            fault_injection: false,
            dummy,
            dashboard: DashboardConfig {
                screencast: raw
                    .dashboard
                    .as_ref()
                    .and_then(|d| d.screencast)
                    .unwrap_or(true),
            },
        })
    }

    /// The settings of one provider.
    pub fn provider(&self, kind: ProviderKind) -> &ProviderConfig {
        // Every kind is inserted by `from_raw`; the fallback is never taken.
        self.providers.get(&kind).unwrap_or(&FALLBACK_PROVIDER)
    }
}

static FALLBACK_PROVIDER: std::sync::LazyLock<ProviderConfig> =
    std::sync::LazyLock::new(|| ProviderConfig {
        enabled: false,
        instances: 1,
        base_url: String::new(),
        thinking: false,
        send_thinking: true,
        search: false,
        first_chunk_timeout: Duration::from_secs(45),
        idle_timeout: Duration::from_secs(75),
        queue_timeout: Duration::from_secs(DEFAULT_QUEUE_TIMEOUT_SECS),
        max_prompt_chars: providers::DEFAULT_MAX_PROMPT_CHARS,
        system_field: true,
        capture: CaptureMode::Tee,
        model: None,
        models: Vec::new(),
        formatting: FormatSettings::default(),
        proxy: None,
        assume_paid_model_access: false,
        humanize_mouse: false,
        blocked_response_handling: false,
        hide_while_streaming: true,
        refresh_every: DEFAULT_REFRESH_EVERY,
    });

/// Checks `[dummy]`.
fn dummy_config(
    raw: Option<raw::RawDummy>,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<DummyConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let lanes = raw.lanes.unwrap_or(0);
    if !(0..=i64::from(MAX_DUMMY_LANES)).contains(&lanes) {
        return Err(bad(
            "dummy.lanes",
            format!("{lanes} is out of range; allowed 0..={MAX_DUMMY_LANES} (0: no dummy lanes)"),
        ));
    }
    let only = raw.only.unwrap_or(false);
    if only && lanes == 0 {
        return Err(bad(
            "dummy.only",
            "runs only the dummy lanes, but dummy.lanes is 0; set dummy.lanes = N".to_owned(),
        ));
    }
    Ok(DummyConfig {
        lanes: lanes as u32,
        only,
    })
}

/// Lays a formatting table over `base`, checking the preset.
fn lay_formatting(
    raw: Option<&RawFormatting>,
    base: FormatSettings,
    table: &str,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<FormatSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(base);
    };
    let preset = match &raw.preset {
        None => base.preset,
        Some(label) => parse_preset(label).ok_or_else(|| {
            bad(
                &format!("{table}.preset"),
                format!(
                    "unknown preset `{label}`; expected one of {}",
                    Preset::ALL
                        .iter()
                        .map(|p| format!("`{}`", p.label()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    Ok(FormatSettings {
        preset,
        template: raw.template.clone().unwrap_or(base.template),
        divider: raw.divider.clone().unwrap_or(base.divider),
        apply_formatting: raw.apply_formatting.unwrap_or(base.apply_formatting),
        enable_msg_objects: raw.enable_msg_objects.unwrap_or(base.enable_msg_objects),
        enable_ir2: raw.enable_ir2.unwrap_or(base.enable_ir2),
        enable_classic_irp: raw.enable_classic_irp.unwrap_or(base.enable_classic_irp),
        injection_position: match raw.injection_position {
            None => base.injection_position,
            Some(RawInjectionPosition::Before) => InjectionPosition::Before,
            Some(RawInjectionPosition::After) => InjectionPosition::After,
        },
        injection_content: raw
            .injection_content
            .clone()
            .unwrap_or(base.injection_content),
        strip_history_thinking: raw
            .strip_history_thinking
            .unwrap_or(base.strip_history_thinking),
    })
}

/// A preset by its label (`Classic - Name`), an older label, or a slug (`classic_name`).
fn parse_preset(label: &str) -> Option<Preset> {
    let slug = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    Preset::from_label(label).or_else(|| {
        Preset::ALL
            .into_iter()
            .find(|p| slug(p.label()) == slug(label))
    })
}

/// Chromium switches switchyard sets itself, with the setting that controls each.
const OWN_CHROMIUM_FLAGS: &[(&str, &str)] = &[
    (
        "remote-debugging-port",
        "switchyard picks the DevTools port",
    ),
    (
        "remote-debugging-pipe",
        "switchyard speaks CDP over the DevTools port",
    ),
    (
        "remote-debugging-address",
        "the DevTools port stays on 127.0.0.1",
    ),
    ("user-data-dir", "use data_dir (profiles) instead"),
    ("headless", "use browser.headless instead"),
    ("no-sandbox", "use browser.no_sandbox instead"),
    ("proxy-server", "use providers.<p>.proxy instead"),
    ("proxy-bypass-list", "use providers.<p>.proxy instead"),
];

/// Checks one `browser.extra_flags` entry: `--name` or `--name=value`, the name of letters,
/// digits, `-` and `_`, not a switch switchyard sets itself.
fn chromium_flag(flag: &str) -> Result<(), String> {
    let Some(body) = flag.strip_prefix("--") else {
        return Err(format!(
            "`{flag}` is not a Chromium switch; write it as `--name` or `--name=value`"
        ));
    };
    let name = body.split_once('=').map_or(body, |(name, _)| name);
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || !name.chars().all(valid) || flag.contains('\0') {
        return Err(format!(
            "`{flag}` is not a Chromium switch; write it as `--name` or `--name=value` (one \
             switch per entry)"
        ));
    }
    match OWN_CHROMIUM_FLAGS.iter().find(|(own, _)| *own == name) {
        Some((_, instead)) => Err(format!("`--{name}` is set by switchyard: {instead}")),
        None => Ok(()),
    }
}

fn provider_names() -> String {
    ProviderKind::ALL
        .iter()
        .map(|k| format!("`{}`", k.prefix()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn implemented_names() -> String {
    providers::implemented()
        .map(|k| k.prefix())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses TOML text into a table, with the file name in the error.
pub fn parse_table(text: &str, source: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError(format!("{source}: not valid TOML: {}", e.message().trim())))
}

/// Lays `top` over `base`: tables merge key by key, any other value in `top` replaces.
pub fn merge_tables(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(into)), toml::Value::Table(from)) => merge_tables(into, from),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_toml_str(text, "switchyard.toml")
            .unwrap_err()
            .0
    }

    #[test]
    fn a_site_read_only_by_teeing_refuses_the_replay_capture() {
        assert_eq!(
            err("provider = \"perplexity\"\n[providers.perplexity]\ncapture = \"replay\"\n"),
            "switchyard.toml: providers.perplexity.capture: Perplexity offers only the tee \
             capture (the reference reads this site only by teeing); remove the key or set \"tee\""
        );
        let c = Config::from_toml_str("[providers.perplexity]\ncapture = \"tee\"\n", "x.toml");
        assert!(c.is_ok());
    }

    #[test]
    fn site_only_settings_default_as_the_reference_and_are_refused_elsewhere() {
        let c = Config::from_toml_str("", "x.toml").unwrap();
        let studio = c.provider(ProviderKind::AiStudio);
        assert!(studio.humanize_mouse && studio.blocked_response_handling);
        assert!(!studio.assume_paid_model_access);
        let glm = c.provider(ProviderKind::Glm);
        assert!(!glm.humanize_mouse && !glm.blocked_response_handling);
        let c = Config::from_toml_str(
            "[providers.aistudio]\nhumanize_mouse = false\nblocked_response_handling = false\n\
             assume_paid_model_access = true\n",
            "x.toml",
        )
        .unwrap();
        let studio = c.provider(ProviderKind::AiStudio);
        assert!(!studio.humanize_mouse && !studio.blocked_response_handling);
        assert!(studio.assume_paid_model_access);
        for key in [
            "humanize_mouse",
            "blocked_response_handling",
            "assume_paid_model_access",
        ] {
            assert_eq!(
                err(&format!("[providers.glm]\n{key} = true\n")),
                format!(
                    "switchyard.toml: providers.glm.{key}: GLM Chat has no such setting; \
                     remove the key"
                )
            );
        }
    }

    #[test]
    fn defaults_follow_the_reference() {
        let c = Config::from_toml_str("", "x.toml").unwrap();
        assert_eq!(c.provider, ProviderKind::DeepSeek);
        assert_eq!(c.server.port, 7777);
        assert_eq!(c.server.host.to_string(), "127.0.0.1");
        assert_eq!(c.server.shutdown_grace, Duration::from_secs(10));
        assert_eq!(c.runtime.mode, QueueMode::ProviderLanes);
        assert!(!c.runtime.providers_in_parallel);
        assert_eq!(c.browser.isolation, Isolation::Context);
        let ds = c.provider(ProviderKind::DeepSeek);
        assert_eq!(ds.base_url, "https://chat.deepseek.com");
        assert_eq!(ds.first_chunk_timeout, Duration::from_secs(45));
        assert_eq!(ds.capture, CaptureMode::Replay);
        assert_eq!(
            c.provider(ProviderKind::Perplexity).capture,
            CaptureMode::Tee
        );
        assert_eq!(ds.idle_timeout, Duration::from_secs(75));
        assert_eq!(ds.queue_timeout, Duration::from_secs(600));
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_key() {
        let e = err("[runtime]\nmod = \"x\"\n");
        assert_eq!(
            e,
            "switchyard.toml: runtime.mod: unknown field `mod`, expected \
             `providers_in_parallel` or `mode`"
        );
        let e = err("[providers.deepseek]\ninstance = 2\n");
        assert!(
            e.contains("providers.deepseek.instance: unknown field `instance`"),
            "{e}"
        );
        let e = err("[providers.chatgpt]\n");
        assert!(
            e.contains("providers.chatgpt: unknown field `chatgpt`"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let e = err("[runtime]\nmode = \"fast\"\n");
        assert!(e.contains("runtime.mode"), "{e}");
        assert!(e.contains("full_parallel_lanes"), "{e}");
        let e = err("[providers.glm]\ninstances = 33\n");
        assert_eq!(
            e,
            "switchyard.toml: providers.glm.instances: 33 is out of range; allowed 1..=32"
        );
        let e = err("[providers.glm]\ninstances = 0\n");
        assert!(e.contains("allowed 1..=32"), "{e}");
        let e = err("[browser]\nisolation = \"tab\"\n");
        assert!(
            e.contains("browser.isolation") && e.contains("`process`"),
            "{e}"
        );
        let e = err("provider = \"chatgpt\"\n");
        assert!(e.contains("provider: unknown provider `chatgpt`"), "{e}");
        let e = err("[server]\nport = 70000\n");
        assert!(e.contains("server.port"), "{e}");
        let e = err("[providers.glm]\nbase_url = \"ftp://x\"\n");
        assert!(e.contains("providers.glm.base_url"), "{e}");
        let e = err("[server]\nhost = \"localhost:1\"\n");
        assert!(e.contains("server.host"), "{e}");
        let e = err("[server]\nshutdown_grace_secs = 4000\n");
        assert!(
            e.contains("server.shutdown_grace_secs: 4000 is out of range; allowed 0..=3600"),
            "{e}"
        );
        let e = err("[providers.deepseek]\nqueue_timeout_secs = 0\n");
        assert!(
            e.contains("providers.deepseek.queue_timeout_secs: 0 is out of range"),
            "{e}"
        );
        let e = err("[providers.qwen]\nrefresh_every = 2000000\n");
        assert!(
            e.contains(
                "providers.qwen.refresh_every: 2000000 is out of range; allowed 0..=1000000"
            ),
            "{e}"
        );
        let e = err("not toml at all = = \n");
        assert!(e.starts_with("switchyard.toml: not valid TOML"), "{e}");
    }

    #[test]
    fn browser_extra_flags_are_switches_and_not_switchyards_own() {
        let c = Config::from_toml_str(
            "[browser]\nextra_flags = [\"--renderer-process-limit=2\", \"--js-flags=--lite-mode --max-semi-space-size=1\", \"--disable-features=PaintHolding\"]\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.browser.extra_flags.len(), 3);
        assert!(
            Config::from_toml_str("", "x")
                .unwrap()
                .browser
                .extra_flags
                .is_empty()
        );
        let e = err("[browser]\nextra_flags = [\"single-process\"]\n");
        assert!(
            e.contains("browser.extra_flags: `single-process` is not a Chromium switch"),
            "{e}"
        );
        let e = err("[browser]\nextra_flags = [\"--a --b\"]\n");
        assert!(e.contains("one switch per entry"), "{e}");
        let e = err("[browser]\nextra_flags = [\"--\"]\n");
        assert!(e.contains("is not a Chromium switch"), "{e}");
        let e = err("[browser]\nextra_flags = [\"--user-data-dir=/tmp/x\"]\n");
        assert!(
            e.contains("`--user-data-dir` is set by switchyard: use data_dir"),
            "{e}"
        );
        let e = err("[browser]\nextra_flags = [\"--no-sandbox\"]\n");
        assert!(e.contains("browser.no_sandbox"), "{e}");
    }

    #[test]
    fn providers_accept_aliases_and_refuse_unimplemented_ones() {
        let c = Config::from_toml_str("provider = \"Z.ai\"\n", "x").unwrap();
        assert_eq!(c.provider, ProviderKind::Glm);
        // Every site of the reference has a driver now, so none is refused as unimplemented.
        let c = Config::from_toml_str("[providers.aistudio]\nenabled = true\n", "x").unwrap();
        assert!(c.provider(ProviderKind::AiStudio).enabled);
        let e = err("[providers.dummy]\nenabled = true\n");
        assert!(e.contains("unknown field `dummy`"), "{e}");
    }

    #[test]
    fn formatting_is_global_with_per_provider_keys_laid_over_it() {
        let c = Config::from_toml_str(
            "[formatting]\npreset = \"divided_role\"\ninjection_content = \"Be {{char}}.\"\n\
             [providers.glm.formatting]\npreset = \"Custom\"\ntemplate = \"{{name}} > {{content}}\"\n\
             injection_position = \"after\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.formatting.preset, Preset::DividedRole);
        let ds = &c.provider(ProviderKind::DeepSeek).formatting;
        assert_eq!(ds.preset, Preset::DividedRole);
        assert_eq!(ds.injection_content, "Be {{char}}.");
        let glm = &c.provider(ProviderKind::Glm).formatting;
        assert_eq!(glm.preset, Preset::Custom);
        assert_eq!(glm.template, "{{name}} > {{content}}");
        assert_eq!(glm.injection_position, InjectionPosition::After);
        assert_eq!(
            glm.injection_content, "Be {{char}}.",
            "unset keys come from the global table"
        );
        let e = err("[formatting]\npreset = \"Fancy\"\n");
        assert!(
            e.starts_with("switchyard.toml: formatting.preset: unknown preset `Fancy`"),
            "{e}"
        );
        assert!(e.contains("`Multiline XML-Like - Name`"), "{e}");
        let e = err("[providers.glm.formatting]\ninjection_position = \"middle\"\n");
        assert!(
            e.contains("providers.glm.formatting.injection_position"),
            "{e}"
        );
    }

    #[test]
    fn effort_providers_and_site_models_are_checked() {
        let c = Config::from_toml_str(
            "[api]\naccept_reasoning_effort = true\naccept_reasoning_effort_providers = [\"glm\", \"Z.ai\"]\n",
            "x",
        )
        .unwrap();
        assert!(c.api.accepts_effort(ProviderKind::Glm));
        assert!(!c.api.accepts_effort(ProviderKind::DeepSeek));
        let all = Config::from_toml_str("[api]\naccept_reasoning_effort = true\n", "x").unwrap();
        assert!(all.api.accepts_effort(ProviderKind::DeepSeek));
        let e = err("[api]\naccept_reasoning_effort_providers = [\"gpt\"]\n");
        assert!(
            e.contains("api.accept_reasoning_effort_providers: unknown provider `gpt`"),
            "{e}"
        );
        let d = Config::from_toml_str("", "x").unwrap();
        assert_eq!(
            d.provider(ProviderKind::Glm).model.as_deref(),
            Some("GLM-5.2")
        );
        assert_eq!(d.provider(ProviderKind::DeepSeek).model, None);
        let e = err("[providers.glm]\nmodel = \"\"\n");
        assert!(e.contains("providers.glm.model: must not be empty"), "{e}");
    }

    #[test]
    fn proxies_and_endpoints_are_checked() {
        let c = Config::from_toml_str(
            "[providers.mimo]\nproxy = \"http://u:p@127.0.0.1:3128\"\n\
             [browser]\nendpoints = [\"http://10.0.0.5:9222\", { url = \"ws://h:1/x\", max_lanes = 2 }]\n",
            "x",
        )
        .unwrap();
        let proxy = c.provider(ProviderKind::Mimo).proxy.as_ref().unwrap();
        assert_eq!(proxy.server(), "http://127.0.0.1:3128");
        assert_eq!(c.provider(ProviderKind::Glm).proxy, None);
        assert_eq!(c.browser.endpoints.len(), 2);
        assert!(
            !format!("{c:?}").contains("u:p@"),
            "Debug hides the password"
        );
        let e = err("[providers.glm]\nproxy = \"http://u:secret@h:1\"\n");
        assert!(
            e.contains(
                "providers.glm.capture: `replay` cannot be used with a proxy that has a user"
            ),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        let e = err("[providers.mimo]\nproxy = \"gopher://h:1\"\n");
        assert!(
            e.contains("providers.mimo.proxy: `gopher://h:1` has a scheme"),
            "{e}"
        );
        let e = err("[browser]\nisolation = \"process\"\nendpoints = [\"ws://h:1\"]\n");
        assert!(e.contains("browser.isolation: `process`"), "{e}");
    }

    #[test]
    fn merging_lays_the_top_file_over_the_base() {
        let mut base = parse_table(
            "[runtime]\nmode = \"full_parallel_lanes\"\nproviders_in_parallel = true\n[providers.glm]\ninstances = 2\n",
            "base",
        )
        .unwrap();
        let top = parse_table(
            "[providers.glm]\nsearch = true\n[server]\nport = 9\n",
            "top",
        )
        .unwrap();
        merge_tables(&mut base, top);
        let c = Config::from_table(base, "merged").unwrap();
        assert_eq!(c.runtime.mode, QueueMode::FullParallelLanes);
        assert_eq!(c.provider(ProviderKind::Glm).instances, 2);
        assert!(c.provider(ProviderKind::Glm).search);
        assert_eq!(c.server.port, 9);
    }
}
