//! `switchyard demo`: the gateway on local replicas of every implemented provider.
//!
//! Starts each replica site on a free loopback port, then the gateway pointed at them in
//! `full_parallel_lanes` with two lanes per provider, Send Thinking on everywhere (so
//! `-reasoner` IDs stream their thinking). A `--config FILE` is laid over the demo's settings,
//! so any key can be tried against the replicas.

use std::path::PathBuf;

use switchyard_replicas::{Knobs, ReplicaServer, Site};
use tracing::info;

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
        // A reload reads the file again and lays it over the same demo settings.
        let source = Source {
            base: Some(config::parse_table(
                &demo_toml(opts, &replicas),
                "demo settings",
            )?),
            file: opts.config.clone(),
        };
        let mut config = source.load()?;
        config.fault_injection = opts.fault_injection;
        let gateway = Gateway::start_from(config, Some(source)).await?;
        Ok(Demo { gateway, replicas })
    }

    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        for (_, r) in self.replicas {
            r.shutdown().await;
        }
    }
}

/// The demo's own settings as TOML, so a user file can be merged over them key by key. Its sites
/// are replicas with no account behind them, so it asks for no API key even when the data
/// folder holds some (a `--config` with `auth.require_key = true` turns them on).
fn demo_toml(opts: &DemoOptions, replicas: &[(ProviderKind, ReplicaServer)]) -> String {
    let mut toml = format!(
        "provider = \"{}\"\n[runtime]\nproviders_in_parallel = true\nmode = \"{}\"\n\
         [server]\nport = {}\n[auth]\nrequire_key = false\n",
        replicas.first().map_or("deepseek", |(k, _)| k.prefix()),
        opts.mode.as_str(),
        opts.port
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
