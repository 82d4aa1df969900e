//! Hot reload: `POST /api/config/reload` and SIGHUP re-read the configuration file and apply
//! the difference without a restart.
//!
//! [`Live`] is the configuration and routing table the API reads per request; a reload swaps
//! both at once (a read takes a lock for one `Arc` clone, never across an await). What a reload
//! does with each difference ([`plan_reload`], pure):
//!
//! - lanes whose id and provider settings did not change are **kept** (page, browser, running
//!   request untouched); lanes the new plan adds are **started** through the same path as at
//!   start-up; lanes it drops are **removed** (the scheduler stops picking them at once, a
//!   running request finishes, then the lane closes; a provider left with no lane fails its
//!   queued requests with a message saying so);
//! - settings read per request (toggle defaults, timeouts, queue timeouts, formatting, model
//!   lists, `api.*` that shape answers) apply to the next request;
//! - settings that need a restart (`server.*`, `browser.*`, `data_dir`, `[auth]`, `[accounts]`, `[capture]`,
//!   `[failures]`, `api.max_body_bytes`, `api.dry_run`, `api.cors_origins`, a running
//!   provider's `base_url`, `capture`, `proxy`, `hide_while_streaming` or `refresh_every`) refuse the whole reload with the list of them:
//!   nothing is half-applied. The queue's concurrency (serial in `provider_lanes` or with a
//!   single lane, else per lane) follows the new plan; running requests go on.
//!
//! A file that does not parse or validate is refused with its error; the old config stays.
//! Sections are compared by their `Debug` text, which every config type has.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::config::{self, Config, ConfigError};
use crate::ids::LaneId;
use crate::lanes::plan::{LanePlan, LaneSpec};
use crate::models::{ProviderKind, RoutingTable};

/// The configuration and routing table requests read, swapped whole by a reload.
pub struct Live {
    current: RwLock<(Arc<Config>, Arc<RoutingTable>)>,
    /// The live model lists' generation the routing table was built with
    /// ([`crate::providers::live_models_generation`]).
    live: std::sync::atomic::AtomicU64,
}

impl Live {
    pub fn new(config: Config, routing: RoutingTable) -> Live {
        Live {
            current: RwLock::new((Arc::new(config), Arc::new(routing))),
            live: std::sync::atomic::AtomicU64::new(crate::providers::live_models_generation()),
        }
    }

    /// The configuration now.
    pub fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// The routing table now. A site's live model list that changed since the table was
    /// built (a lane read it) builds it again first.
    pub fn routing(&self) -> Arc<RoutingTable> {
        use std::sync::atomic::Ordering;
        let generation = crate::providers::live_models_generation();
        if self.live.swap(generation, Ordering::SeqCst) != generation {
            let (config, routing) = self
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(fresh) = crate::gateway::routing_for(&config, routing.providers()) {
                let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                // Unless a reload swapped in a new configuration meanwhile.
                if Arc::ptr_eq(&current.0, &config) {
                    current.1 = Arc::new(fresh);
                }
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Makes `config` and `routing` the ones the next request reads.
    pub fn swap(&self, config: Config, routing: RoutingTable) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) =
            (Arc::new(config), Arc::new(routing));
    }
}

/// Where the configuration came from, to read it again.
#[derive(Debug, Clone)]
pub struct Source {
    /// Settings under the file (the demo's own), if any.
    pub base: Option<toml::Table>,
    /// The file, if the gateway was started from one.
    pub file: Option<PathBuf>,
}

impl Source {
    /// A plain configuration file.
    pub fn file(path: PathBuf) -> Source {
        Source {
            base: None,
            file: Some(path),
        }
    }

    /// Reads and validates the configuration again (the base with the file laid over it).
    pub fn load(&self) -> Result<Config, ConfigError> {
        let (table, name) = self.table()?;
        Config::from_table(table, &name)
    }

    /// The settings as one TOML table (the base with the file laid over it), unvalidated, and
    /// the name errors use for it.
    pub fn table(&self) -> Result<(toml::Table, String), ConfigError> {
        let mut table = self.base.clone().unwrap_or_default();
        let mut name = "defaults".to_owned();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("{}: cannot read the file: {e}", path.display()))
            })?;
            name = path.display().to_string();
            config::merge_tables(&mut table, config::parse_table(&text, &name)?);
            if self.base.is_some() {
                name = format!("{name} (over the demo settings)");
            }
        } else if self.base.is_some() {
            name = "demo settings".to_owned();
        }
        Ok((table, name))
    }
}

/// What a reload changed, as its answer and log say.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Changes {
    /// Lanes started (their ids).
    pub lanes_added: Vec<LaneId>,
    /// Lanes that failed to start (id and reason); they show as `failed` on `/api/lanes`.
    pub lanes_failed: Vec<(LaneId, String)>,
    /// Lanes removed (they finish their running request first).
    pub lanes_removed: Vec<LaneId>,
    /// Lanes left as they were.
    pub lanes_kept: Vec<LaneId>,
    /// Settings that changed and apply to the next request.
    pub settings_applied: Vec<String>,
}

impl Changes {
    /// One log line.
    pub fn summary(&self) -> String {
        let ids = |v: &[LaneId]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter()
                    .map(|l| l.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut s = format!(
            "lanes added: {}; removed: {}; kept: {}; settings applied: {}",
            ids(&self.lanes_added),
            ids(&self.lanes_removed),
            ids(&self.lanes_kept),
            if self.settings_applied.is_empty() {
                "none".to_owned()
            } else {
                self.settings_applied.join(", ")
            }
        );
        if !self.lanes_failed.is_empty() {
            let failed: Vec<String> = self
                .lanes_failed
                .iter()
                .map(|(id, why)| format!("{id} ({why})"))
                .collect();
            s.push_str(&format!("; failed to start: {}", failed.join(", ")));
        }
        s
    }
}

/// Why a reload was refused; the old configuration stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The file does not parse or validate (HTTP 400).
    Invalid(String),
    /// These settings changed and only a restart can apply them (HTTP 409).
    NeedsRestart(Vec<String>),
    /// A reload cannot be applied now (HTTP 409), e.g. a lane it would start again is still
    /// stopping from the last one.
    Conflict(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Invalid(e) => write!(f, "the new configuration is invalid: {e}"),
            Refused::NeedsRestart(keys) => write!(
                f,
                "these settings need a restart, which a reload cannot do: {}; nothing was \
                 applied (restart switchyard, or reload with them unchanged)",
                keys.join(", ")
            ),
            Refused::Conflict(why) => write!(f, "{why}"),
        }
    }
}

/// What a reload will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadPlan {
    pub add: Vec<LaneSpec>,
    pub remove: Vec<LaneId>,
    pub keep: Vec<LaneId>,
    pub settings: Vec<String>,
    /// The queue's concurrency under the new plan (serial, or per lane).
    pub concurrency: crate::scheduler::Concurrency,
}

/// Compares the running configuration and lanes with a new configuration (pure).
/// `running` are the lanes now running (started or failed), `new` the validated new config.
pub fn plan_reload(
    old: &Config,
    running: &[LaneSpec],
    new: &Config,
) -> Result<ReloadPlan, Refused> {
    let new_plan = LanePlan::from_config(new);
    let mut restart = restart_keys(old, new);
    // A running provider's page depends on these: its lanes would have to be opened again.
    let mut providers: Vec<ProviderKind> = running.iter().map(|l| l.provider).collect();
    providers.dedup();
    for kind in providers {
        let (a, b) = (old.provider(kind), new.provider(kind));
        let p = kind.prefix();
        if a.base_url != b.base_url {
            restart.push(format!("providers.{p}.base_url"));
        }
        if a.capture != b.capture {
            restart.push(format!("providers.{p}.capture"));
        }
        // The lane's browser context (or own browser) was created with it.
        if a.proxy != b.proxy {
            restart.push(format!("providers.{p}.proxy"));
        }
        // The lane's page capture was started with it.
        if a.hide_while_streaming != b.hide_while_streaming {
            restart.push(format!("providers.{p}.hide_while_streaming"));
        }
        // The lane holds the settings it was opened with.
        if a.refresh_every != b.refresh_every {
            restart.push(format!("providers.{p}.refresh_every"));
        }
    }
    if !restart.is_empty() {
        return Err(Refused::NeedsRestart(restart));
    }

    let same = |a: &LaneSpec, b: &LaneSpec| a.id == b.id && a.provider == b.provider;
    let keep: Vec<LaneId> = running
        .iter()
        .filter(|l| new_plan.lanes.iter().any(|n| same(l, n)))
        .map(|l| l.id.clone())
        .collect();
    let remove = running
        .iter()
        .filter(|l| !keep.contains(&l.id))
        .map(|l| l.id.clone())
        .collect();
    let add = new_plan
        .lanes
        .iter()
        .filter(|n| !running.iter().any(|l| same(l, n)))
        .cloned()
        .collect();
    Ok(ReloadPlan {
        add,
        remove,
        keep,
        settings: applied_keys(old, new),
        concurrency: new_plan.concurrency,
    })
}

/// `Debug` text, to compare config values of any type.
fn text(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}")
}

/// The changed settings that only a restart applies.
fn restart_keys(old: &Config, new: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    let mut check = |key: &str, a: String, b: String| {
        if a != b {
            keys.push(key.to_owned());
        }
    };
    check("server", text(&old.server), text(&new.server));
    check("browser", text(&old.browser), text(&new.browser));
    check("data_dir", text(&old.data_dir), text(&new.data_dir));
    check("auth", text(&old.auth), text(&new.auth));
    check("accounts", text(&old.accounts), text(&new.accounts));
    check("capture", text(&old.capture), text(&new.capture));
    check("failures", text(&old.failures), text(&new.failures));
    check(
        "api.max_body_bytes",
        text(&old.api.max_body_bytes),
        text(&new.api.max_body_bytes),
    );
    check(
        "api.dry_run",
        text(&old.api.dry_run),
        text(&new.api.dry_run),
    );
    check(
        "api.cors_origins",
        text(&old.api.cors_origins),
        text(&new.api.cors_origins),
    );
    keys
}

/// The changed settings that apply to the next request (lane changes aside).
fn applied_keys(old: &Config, new: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    let mut check = |key: String, a: String, b: String| {
        if a != b {
            keys.push(key);
        }
    };
    check("provider".into(), text(&old.provider), text(&new.provider));
    check(
        "runtime".into(),
        text(&(old.runtime.providers_in_parallel, old.runtime.mode)),
        text(&(new.runtime.providers_in_parallel, new.runtime.mode)),
    );
    let (a, b) = (&old.api, &new.api);
    check(
        "api.reasoning_format".into(),
        text(&a.reasoning_format),
        text(&b.reasoning_format),
    );
    check(
        "api.universal_model_names".into(),
        text(&a.universal_model_names),
        text(&b.universal_model_names),
    );
    check(
        "api.accept_reasoning_effort".into(),
        text(&(a.accept_reasoning_effort, &a.reasoning_effort_providers)),
        text(&(b.accept_reasoning_effort, &b.reasoning_effort_providers)),
    );
    check(
        "api.partial_answers".into(),
        text(&a.partial_answers),
        text(&b.partial_answers),
    );
    check(
        "formatting".into(),
        text(&old.formatting),
        text(&new.formatting),
    );
    // The dummy lanes follow the plan's lane diff like any provider's.
    check("dummy".into(), text(&old.dummy), text(&new.dummy));
    check(
        "dashboard.screencast".into(),
        text(&old.dashboard.screencast),
        text(&new.dashboard.screencast),
    );
    for kind in ProviderKind::ALL {
        let (a, b) = (old.provider(kind), new.provider(kind));
        let p = kind.prefix();
        let fields: [(&str, String, String); 15] = [
            ("enabled", text(&a.enabled), text(&b.enabled)),
            ("instances", text(&a.instances), text(&b.instances)),
            ("base_url", text(&a.base_url), text(&b.base_url)),
            ("capture", text(&a.capture), text(&b.capture)),
            ("thinking", text(&a.thinking), text(&b.thinking)),
            (
                "send_thinking",
                text(&a.send_thinking),
                text(&b.send_thinking),
            ),
            ("search", text(&a.search), text(&b.search)),
            (
                "first_chunk_timeout_secs",
                text(&a.first_chunk_timeout),
                text(&b.first_chunk_timeout),
            ),
            (
                "idle_timeout_secs",
                text(&a.idle_timeout),
                text(&b.idle_timeout),
            ),
            (
                "queue_timeout_secs",
                text(&a.queue_timeout),
                text(&b.queue_timeout),
            ),
            ("system_field", text(&a.system_field), text(&b.system_field)),
            ("model", text(&a.model), text(&b.model)),
            ("models", text(&a.models), text(&b.models)),
            ("formatting", text(&a.formatting), text(&b.formatting)),
            (
                "max_prompt_chars",
                text(&a.max_prompt_chars),
                text(&b.max_prompt_chars),
            ),
        ];
        for (field, x, y) in fields {
            // A provider's formatting follows the global table; list it once, there.
            if field == "formatting" && text(&old.formatting) != text(&new.formatting) {
                continue;
            }
            check(format!("providers.{p}.{field}"), x, y);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
                        [providers.glm]\nenabled = true\n";

    fn config(extra: &str) -> Config {
        let mut table = config::parse_table(BASE, "base").unwrap();
        config::merge_tables(&mut table, config::parse_table(extra, "extra").unwrap());
        Config::from_table(table, "t").unwrap()
    }

    fn ids(v: &[LaneId]) -> Vec<&str> {
        v.iter().map(|l| l.0.as_str()).collect()
    }

    #[test]
    fn a_lane_count_change_adds_and_removes_only_that_providers_lanes() {
        let old = config("[providers.glm]\ninstances = 2\n");
        let running = LanePlan::from_config(&old).lanes;
        let new = config("[providers.deepseek]\ninstances = 2\n");
        let plan = plan_reload(&old, &running, &new).unwrap();
        assert_eq!(ids(&plan.keep), vec!["deepseek:1", "glm_chat:1"]);
        assert_eq!(ids(&plan.remove), vec!["glm_chat:2"]);
        let added: Vec<_> = plan.add.iter().map(|l| l.id.0.as_str()).collect();
        assert_eq!(added, vec!["deepseek:2"]);
        assert_eq!(
            plan.settings,
            vec!["providers.deepseek.instances", "providers.glm.instances"]
        );
    }

    #[test]
    fn per_request_settings_apply_without_touching_lanes() {
        let old = config("");
        let running = LanePlan::from_config(&old).lanes;
        let new = config(
            "[api]\npartial_answers = \"keep\"\n[formatting]\npreset = \"XML-Like - Name\"\n\
             [providers.glm]\nidle_timeout_secs = 5\nthinking = true\n",
        );
        let plan = plan_reload(&old, &running, &new).unwrap();
        assert!(plan.add.is_empty() && plan.remove.is_empty());
        assert_eq!(plan.keep.len(), 2);
        assert_eq!(
            plan.settings,
            vec![
                "api.partial_answers",
                "formatting",
                "providers.glm.thinking",
                "providers.glm.idle_timeout_secs"
            ]
        );
    }

    #[test]
    fn restart_only_settings_refuse_the_whole_reload() {
        let old = config("");
        let running = LanePlan::from_config(&old).lanes;
        let new = config(
            "[server]\nport = 9999\n[browser]\nisolation = \"process\"\n\
             [providers.glm]\nbase_url = \"http://127.0.0.1:1\"\ninstances = 3\n",
        );
        let Err(Refused::NeedsRestart(keys)) = plan_reload(&old, &running, &new) else {
            panic!("a port change must be refused");
        };
        assert_eq!(keys, vec!["server", "browser", "providers.glm.base_url"]);
        // The queue's concurrency follows the plan: one generation at a time in provider_lanes.
        let serial = config("[runtime]\nmode = \"provider_lanes\"\n");
        let plan = plan_reload(&old, &running, &serial).unwrap();
        assert_eq!(plan.concurrency, crate::scheduler::Concurrency::Serial);
        assert_eq!(plan.keep.len(), 2);
        // A base URL of a provider that does not run is only a setting.
        let qwen = config("[providers.qwen]\nbase_url = \"http://127.0.0.1:1\"\n");
        assert!(plan_reload(&old, &running, &qwen).is_ok());
        // The lanes' pages were opened with these.
        let pages = config(
            "[providers.glm]\nhide_while_streaming = false\n[providers.deepseek]\nrefresh_every = 0\n",
        );
        let Err(Refused::NeedsRestart(keys)) = plan_reload(&old, &running, &pages) else {
            panic!("page settings must be refused");
        };
        assert_eq!(
            keys,
            vec![
                "providers.deepseek.refresh_every",
                "providers.glm.hide_while_streaming"
            ]
        );
    }

    #[test]
    fn disabling_a_provider_removes_its_lanes_and_keeps_the_rest() {
        let old = config("[providers.glm]\ninstances = 2\n");
        let running = LanePlan::from_config(&old).lanes;
        let new = config(
            "[providers.glm]\nenabled = false\ninstances = 2\n[providers.deepseek]\ninstances = 2\n",
        );
        let plan = plan_reload(&old, &running, &new).unwrap();
        assert_eq!(ids(&plan.keep), vec!["deepseek:1"]);
        assert_eq!(ids(&plan.remove), vec!["glm_chat:1", "glm_chat:2"]);
        assert_eq!(plan.add.len(), 1);
    }
}
