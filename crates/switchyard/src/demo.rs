//! `switchyard demo`: the gateway on local replicas of every implemented provider.
//!
//! Starts each replica site on a free loopback port, then the gateway pointed at them in
//! `full_parallel_lanes` with two lanes per provider, Send Thinking on everywhere (so
//! `-reasoner` IDs stream their thinking). A `--config FILE` is laid over the demo's settings,
//! so any key can be tried against the replicas.
//!
//! Saved accounts: every replica whose provider fills its sign-in form
//! ([`crate::providers::Driver::fills_sign_in`]) gets demo accounts registered
//! ([`ReplicaServer::add_account`], as many as the lanes, at least two), and the demo writes them
//! into an account store of its own, with `accounts.auto_login` on, so the lanes sign in through
//! the replicas' forms by themselves. The demo's data folder is a fresh temporary one
//! (`<tmp>/switchyard-demo-<pid>-<n>/data`) unless `--config` names a `data_dir`; the store's
//! key is a random key file beside that folder, never inside it (`accounts.key_file`). Both the
//! key and the seeded store are removed when the demo stops. A `--config` that names its own
//! `accounts.key_file`, or a data folder that already holds a store, keeps those accounts:
//! the demo then seeds nothing and the replicas stay open (no sign-in asked).

use std::path::{Path, PathBuf};

use switchyard_replicas::{Knobs, ReplicaServer, Site};
use tracing::{info, warn};

use crate::config::{self, QueueMode};
use crate::gateway::Gateway;
use crate::models::ProviderKind;
use crate::reload::Source;

/// The provider the bench's 1-lane setup and makespan runs use (its 8-lane setup takes every
/// provider of [`replica_site`]). Kept with the replica map so the bench names no provider itself.
pub const BENCH_PRIMARY: ProviderKind = ProviderKind::DeepSeek;

/// The replica site standing in for a provider, if there is one.
pub fn replica_site(kind: ProviderKind) -> Option<Site> {
    match kind {
        ProviderKind::DeepSeek => Some(Site::DeepSeek),
        ProviderKind::Glm => Some(Site::Glm),
        ProviderKind::Qwen => Some(Site::Qwen),
        ProviderKind::Mimo => Some(Site::Mimo),
        ProviderKind::Moonshot => Some(Site::Moonshot),
        ProviderKind::Perplexity => Some(Site::Perplexity),
        ProviderKind::AiStudio => Some(Site::AiStudio),
        ProviderKind::HuggingChat => Some(Site::HuggingChat),
        _ => None,
    }
}

/// Demo settings from the command line.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub mode: QueueMode,
    pub lanes_per_provider: u32,
    pub port: u16,
    pub chunk_delay_ms: u64,
    pub chunks: usize,
    pub config: Option<PathBuf>,
    /// Serve the fault-injection endpoints (`--enable-fault-injection`).
    pub fault_injection: bool,
    /// Dummy lanes beside the replicas' (`--dummy-lanes N`, `[dummy] lanes`); 0: none.
    pub dummy_lanes: u32,
}

/// The replicas and the gateway of a running demo.
pub struct Demo {
    pub gateway: Gateway,
    pub replicas: Vec<(ProviderKind, ReplicaServer)>,
    /// The accounts the demo registered on its replicas and saved: (provider, email).
    pub seeded: Vec<(ProviderKind, String)>,
    /// The data folder the demo runs with.
    pub data_dir: PathBuf,
    /// The demo's temporary folder (its key file, and its data folder unless `--config`
    /// named one) and the store it seeded, removed at shutdown.
    scratch: Scratch,
}

/// What the demo made on disk for itself.
struct Scratch {
    dir: PathBuf,
    /// The seeded store (a store the demo did not write is never removed).
    store: Option<PathBuf>,
}

impl Scratch {
    /// A fresh private folder under the system's temp folder.
    fn create() -> Result<Scratch, String> {
        use std::os::unix::fs::DirBuilderExt;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-demo-{}-{n}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create the demo's folder {}: {e}", dir.display()))?;
        Ok(Scratch { dir, store: None })
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("accounts.key")
    }

    /// Removes the key, the seeded store and the temporary folder (what is left of it: a
    /// `--config` data folder elsewhere is kept).
    fn remove(&self) {
        if let Some(store) = &self.store {
            for path in [store.clone(), store.with_extension("enc.lock")] {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(
                    "could not remove the demo's folder {}: {e}",
                    self.dir.display()
                );
            }
        }
    }
}

impl Demo {
    /// Starts replicas and gateway.
    pub async fn start(opts: &DemoOptions) -> Result<Demo, String> {
        let knobs = Knobs {
            chunks: opts.chunks.max(1),
            delay_ms: opts.chunk_delay_ms,
            ..Knobs::default()
        };
        let mut replicas = Vec::new();
        for kind in ProviderKind::ALL {
            if let Some(site) = replica_site(kind) {
                let server = ReplicaServer::start(site, knobs)
                    .await
                    .map_err(|e| format!("cannot start the {kind} replica: {e}"))?;
                info!("{kind} replica at {}", server.base_url());
                replicas.push((kind, server));
            }
        }
        let mut scratch = Scratch::create()?;
        // A reload reads the file again and lays it over the same demo settings.
        let source = Source {
            base: Some(config::parse_table(
                &demo_toml(opts, &replicas, &scratch),
                "demo settings",
            )?),
            file: opts.config.clone(),
        };
        let mut config = match source.load() {
            Ok(config) => config,
            Err(e) => {
                scratch.remove();
                return Err(e.to_string());
            }
        };
        config.fault_injection = opts.fault_injection;
        let seeded = match seed_accounts(opts, &config, &replicas, &scratch.key_file()) {
            Ok(seeded) => seeded,
            Err(e) => {
                scratch.remove();
                return Err(e);
            }
        };
        if !seeded.is_empty() {
            scratch.store = Some(config.accounts.store.clone());
        }
        let data_dir = config.data_dir.clone();
        match Gateway::start_from(config, Some(source)).await {
            Ok(gateway) => Ok(Demo {
                gateway,
                replicas,
                seeded,
                data_dir,
                scratch,
            }),
            Err(e) => {
                scratch.remove();
                Err(e)
            }
        }
    }

    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        for (_, r) in self.replicas {
            r.shutdown().await;
        }
        self.scratch.remove();
    }
}

/// The demo's accounts of each replica whose provider fills its sign-in form.
fn demo_emails(kind: ProviderKind, lanes: u32) -> Vec<String> {
    (1..=lanes.max(2))
        .map(|n| format!("demo{n}@{}.replica.test", kind.prefix()))
        .collect()
}

/// Registers demo accounts on the replicas and saves them in the demo's own store, when the
/// settings point at the demo's key file and the data folder holds no store yet (else the
/// user's accounts stay as they are and nothing is seeded). Returns what was seeded.
fn seed_accounts(
    opts: &DemoOptions,
    config: &config::Config,
    replicas: &[(ProviderKind, ReplicaServer)],
    key_file: &Path,
) -> Result<Vec<(ProviderKind, String)>, String> {
    use crate::accounts::{Keys, Secret, Store};
    if config.accounts.key_file.as_deref() != Some(key_file) {
        info!("the demo uses the configured accounts.key_file, so it seeds no replica accounts");
        return Ok(Vec::new());
    }
    if Store::exists(&config.accounts.store) {
        info!(
            "{} exists, so the demo keeps those saved accounts and seeds no replica accounts",
            config.accounts.store.display()
        );
        return Ok(Vec::new());
    }
    let forms: Vec<&(ProviderKind, ReplicaServer)> = replicas
        .iter()
        .filter(|(kind, _)| crate::providers::Driver::of(*kind).is_some_and(|d| d.fills_sign_in()))
        .collect();
    if forms.is_empty() {
        return Ok(Vec::new());
    }
    write_key_file(key_file)?;
    let keys = Keys::new(None, Some(key_file.to_owned()));
    let mut store =
        Store::open(&config.accounts.store, &keys).map_err(|e| format!("demo accounts: {e}"))?;
    let mut seeded = Vec::new();
    for (kind, replica) in forms {
        for email in demo_emails(*kind, opts.lanes_per_provider) {
            let password = format!("demo-{:016x}", fastrand::u64(..));
            replica.add_account(&email, &password);
            store
                .add(*kind, &email, Some(Secret::new(password)))
                .map_err(|e| format!("demo accounts: {e}"))?;
            seeded.push((*kind, email));
        }
    }
    store.save().map_err(|e| format!("demo accounts: {e}"))?;
    info!(
        "the demo saved {} replica accounts in {} (key {}, removed when the demo stops); its \
         lanes sign in by themselves",
        seeded.len(),
        config.accounts.store.display(),
        key_file.display()
    );
    Ok(seeded)
}

/// Writes 32 random bytes (hex) to `path`, readable by the owner only.
fn write_key_file(path: &Path) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("cannot make the demo's store key: {e}"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(hex.as_bytes()))
        .map_err(|e| format!("cannot write the demo's store key {}: {e}", path.display()))
}

/// The demo's own settings as TOML, so a user file can be merged over them key by key. Its sites
/// are replicas with no real account behind them, so it asks for no API key even when the data
/// folder holds some (a `--config` with `auth.require_key = true` turns them on). Its data
/// folder and store key are in its temporary folder.
fn demo_toml(
    opts: &DemoOptions,
    replicas: &[(ProviderKind, ReplicaServer)],
    scratch: &Scratch,
) -> String {
    let mut toml = format!(
        "provider = \"{}\"\ndata_dir = {}\n[runtime]\nproviders_in_parallel = true\nmode = \"{}\"\n\
         [server]\nport = {}\n[auth]\nrequire_key = false\n\
         [accounts]\nkey_file = {}\nauto_login = true\n",
        replicas.first().map_or("deepseek", |(k, _)| k.prefix()),
        toml_string(&scratch.dir.join("data")),
        opts.mode.as_str(),
        opts.port,
        toml_string(&scratch.key_file()),
    );
    if opts.dummy_lanes > 0 {
        toml.push_str(&format!("[dummy]\nlanes = {}\n", opts.dummy_lanes));
    }
    for (kind, server) in replicas {
        toml.push_str(&format!(
            "[providers.{}]\nenabled = true\ninstances = {}\nbase_url = \"{}\"\nsend_thinking = true\n",
            kind.prefix(),
            opts.lanes_per_provider,
            server.base_url()
        ));
    }
    toml
}

/// A path as a TOML string (quoted and escaped).
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    let mut signals = crate::signals::Signals::listen();
    let mut hangups = crate::signals::Hangups::listen();
    let demo = Demo::start(&opts).await?;
    print_banner(&demo);
    let signal =
        crate::signals::serve_until_stopped(&mut signals, &mut hangups, &demo.gateway).await;
    signals.exit_on_second();
    println!("\n{signal}: stopping the demo (a second signal exits at once)...");
    demo.shutdown().await;
    Ok(())
}

fn print_banner(demo: &Demo) {
    let base = format!("{}/v1", demo.gateway.base_url());
    let ids: Vec<String> = demo
        .replicas
        .iter()
        .flat_map(|(kind, _)| {
            ["auto", "chat", "reasoner"]
                .iter()
                .map(move |m| format!("{}-{m}", kind.prefix()))
        })
        .collect();
    println!();
    println!(
        "switchyard demo is running on local replicas of: {}",
        demo.replicas
            .iter()
            .map(|(k, _)| k.display_name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  OpenAI base URL : {base}");
    println!(
        "  model IDs       : {} (also deepseek-expert-*)",
        ids.join(", ")
    );
    let dummies = demo
        .gateway
        .plan
        .lanes
        .iter()
        .filter(|l| !l.provider.runs_in_browser())
        .count();
    if dummies > 0 {
        println!(
            "  dummy lanes     : {dummies} (no browser): {}",
            crate::models::legacy_ids(ProviderKind::Dummy)
                .iter()
                .map(|b| b.id)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "  replica sites   : {}",
        demo.replicas
            .iter()
            .map(|(k, r)| format!("{}={}", k.prefix(), r.base_url()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !demo.seeded.is_empty() {
        let mut kinds: Vec<ProviderKind> = demo.seeded.iter().map(|(k, _)| *k).collect();
        kinds.dedup();
        println!(
            "  saved accounts  : {} replica accounts of {} (the lanes sign in by themselves)",
            demo.seeded.len(),
            kinds
                .iter()
                .map(|k| k.display_name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("  data folder     : {}", demo.data_dir.display());
    println!(
        "  lanes           : {}/api/lanes    queue: {}/api/queue",
        demo.gateway.base_url(),
        demo.gateway.base_url()
    );
    println!();
    println!("Try it:");
    println!(
        "  curl -N {base}/chat/completions -H 'Content-Type: application/json' \\\n    -d '{{\"model\":\"deepseek-reasoner\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'"
    );
    println!();
    println!("Press Ctrl-C to stop.");
}
