//! The configuration file exactly as written: every field optional, unknown keys rejected.
//!
//! These structs are only a parsing target. [`super::Config::from_raw`] turns them into the
//! validated [`super::Config`], filling defaults and checking ranges.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The current provider: always runs, and is the only one when parallel runs are off.
    pub provider: Option<String>,
    /// Where persistent browser profiles (`isolation = "process"`) and failure bundles live.
    pub data_dir: Option<String>,
    pub runtime: Option<RawRuntime>,
    pub server: Option<RawServer>,
    pub browser: Option<RawBrowser>,
    pub api: Option<RawApi>,
    pub formatting: Option<RawFormatting>,
    pub providers: Option<RawProviders>,
    pub capture: Option<RawCaptureFiles>,
    pub failures: Option<RawFailures>,
    pub auth: Option<RawAuth>,
    pub accounts: Option<RawAccounts>,
    pub dummy: Option<RawDummy>,
    pub dashboard: Option<RawDashboard>,
}

/// `[dashboard]`: the web dashboard at `/`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    pub screencast: Option<bool>,
}

/// `[dummy]`: lanes of the dummy provider (no browser; for tests and load runs).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDummy {
    pub lanes: Option<i64>,
    pub only: Option<bool>,
}

/// `[accounts]`: saved accounts (see `crate::accounts`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccounts {
    pub key_file: Option<String>,
    pub prefer_least_used: Option<bool>,
    pub auto_login: Option<bool>,
    pub retry_with_another_account: Option<bool>,
}

/// `[auth]`: API keys (see `crate::keys`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Unset: keys are required when the key file holds at least one.
    pub require_key: Option<bool>,
    pub keys_file: Option<String>,
    pub admin_routes: Option<super::AdminRoutes>,
}

/// `[capture]`: capture files of every request's raw site body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaptureFiles {
    pub dir: Option<String>,
}

/// `[failures]`: failure bundles.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailures {
    pub dir: Option<String>,
    pub keep: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    pub providers_in_parallel: Option<bool>,
    pub mode: Option<super::QueueMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub allow_open: Option<bool>,
    pub hostnames: Option<Vec<String>>,
    pub ip_allowlist: Option<Vec<String>>,
    pub shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrowser {
    pub executable: Option<String>,
    pub headless: Option<bool>,
    pub isolation: Option<super::Isolation>,
    pub cdp_timeout_secs: Option<u64>,
    pub no_sandbox: Option<bool>,
    pub extra_flags: Option<Vec<String>>,
    /// Already running Chromiums: URL strings or `{ url, max_lanes }` tables (checked in
    /// `super::net`, which words the errors).
    pub endpoints: Option<Vec<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub reasoning_format: Option<super::ReasoningFormat>,
    pub universal_model_names: Option<bool>,
    pub accept_reasoning_effort: Option<bool>,
    pub accept_reasoning_effort_providers: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub partial_answers: Option<super::PartialAnswers>,
    pub cors_origins: Option<Vec<String>>,
}

/// How chat messages become one prompt; globally, or per provider over the global table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFormatting {
    pub preset: Option<String>,
    pub template: Option<String>,
    pub divider: Option<String>,
    pub apply_formatting: Option<bool>,
    pub enable_msg_objects: Option<bool>,
    pub enable_ir2: Option<bool>,
    pub enable_classic_irp: Option<bool>,
    pub injection_position: Option<RawInjectionPosition>,
    pub injection_content: Option<String>,
    pub strip_history_thinking: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawInjectionPosition {
    #[serde(alias = "Before")]
    Before,
    #[serde(alias = "After")]
    After,
}

/// One table per provider, keyed by the provider's model prefix (`[providers.<prefix>]`); keys
/// that name no provider are refused in [`super::Config::from_raw`].
pub type RawProviders = std::collections::BTreeMap<String, RawProvider>;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub enabled: Option<bool>,
    pub instances: Option<i64>,
    pub base_url: Option<String>,
    pub thinking: Option<bool>,
    pub send_thinking: Option<bool>,
    pub search: Option<bool>,
    pub first_chunk_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub queue_timeout_secs: Option<u64>,
    pub max_prompt_chars: Option<u64>,
    pub system_field: Option<bool>,
    pub capture: Option<super::CaptureMode>,
    pub model: Option<String>,
    pub models: Option<Vec<String>>,
    pub formatting: Option<RawFormatting>,
    pub proxy: Option<String>,
    pub assume_paid_model_access: Option<bool>,
    pub humanize_mouse: Option<bool>,
    pub blocked_response_handling: Option<bool>,
    pub hide_while_streaming: Option<bool>,
    pub refresh_every: Option<u64>,
}
