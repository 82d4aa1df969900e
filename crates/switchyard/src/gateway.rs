//! Assembling a running gateway: listener, scheduler, lanes, routing table, HTTP server.
//!
//! [`Gateway::start`] does every fallible step in order and undoes what it started if a later
//! step fails: the port is bound first (a busy port fails before any browser starts), then the
//! lanes start, then the server.
//!
//! [`Gateway::shutdown`] is the graceful stop (SIGINT and SIGTERM alike): stop accepting, fail
//! what is still queued, let running answers finish within `server.shutdown_grace_secs`, then
//! stop the rest in their pages (their clients get an error event and `[DONE]`), close pages
//! and browsers so profiles are flushed, and remove throwaway profiles.
//!
//! [`Reloader::reload`] (`POST /api/config/reload`, SIGHUP) reads the file again and applies the
//! difference (see [`crate::reload`]): lanes added, removed or kept, settings swapped in for the
//! next request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{self, AppState};
use crate::config::Config;
use crate::lanes::board::Board;
use crate::lanes::plan::LanePlan;
use crate::lanes::{self, Lanes};
use crate::models::{ProviderKind, ProviderModels, RoutingTable};
use crate::reload::{Changes, Live, Refused, Source, plan_reload};
use crate::scheduler::Scheduler;

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub board: Board,
    /// The lane plan at start (a reload may have changed the lanes since; `board` shows them).
    pub plan: LanePlan,
    /// The running lanes and the config they run with; reloads go through it.
    pub reloader: Arc<Reloader>,
    stop_server: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    /// To close the queue and wait for the running answers at shutdown.
    scheduler: Scheduler,
    /// `server.shutdown_grace_secs`.
    grace: Duration,
}

/// What a request still queued at shutdown gets.
const SHUTDOWN_QUEUED: &str = "switchyard is shutting down; the request was not started.";

impl Gateway {
    /// Binds the port, starts the lanes and serves the API. A reload has no file to re-read.
    pub async fn start(config: Config) -> Result<Gateway, String> {
        Self::start_from(config, None).await
    }

    /// [`Gateway::start`] for a configuration read from `source`, which a reload
    /// (`POST /api/config/reload`, SIGHUP) reads again.
    pub async fn start_from(config: Config, source: Option<Source>) -> Result<Gateway, String> {
        // Who may call is settled first: an unprotected LAN address is refused before anything runs.
        let guard = Arc::new(api::guard::Guard::from_config(&config)?);
        let addr = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "Port {} is already in use. Stop the other program or set server.port.",
                    addr.port()
                )
            } else {
                format!("cannot listen on {addr}: {e}")
            }
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;

        // Saved accounts decide how many full-parallel lanes there are (a dry run starts none).
        let accounts = Arc::new(if config.api.dry_run {
            crate::accounts::Pool::from_store(None, false)
        } else {
            crate::accounts::Pool::open(&config.accounts)
        });
        // Without any saved-accounts store, full-parallel instances start as manual lanes
        // (sites that need no sign-in, such as the replicas); with one, the accounts cap them.
        let plan = if config.api.dry_run || !accounts.has_store() {
            let plan = LanePlan::from_config(&config);
            if !config.api.dry_run && plan.lanes.iter().any(|l| l.backed) {
                info!(
                    "Full Parallelization: no saved accounts ({} does not exist), so every \
                     instance starts as a manual lane; `switchyard accounts add` gives each its \
                     own account",
                    config.accounts.store.display()
                );
            }
            plan
        } else {
            LanePlan::with_accounts(&config, &|k| accounts.selectable(k))
        };
        for note in &plan.notes {
            warn!("{note}");
        }
        if plan.parallel {
            info!(
                "Starting Providers in Parallel runtime ({:?} queue) for: {}",
                plan.concurrency,
                plan.lanes
                    .iter()
                    .map(|l| l.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let scheduler = Scheduler::spawn(plan.concurrency, Board::default());
        let (lanes, providers) = if config.api.dry_run {
            info!(
                "Dry Run Mode: no browser starts; every request is answered 418 and its shaped \
                 prompt is shown in the log and at GET /api/dry-run/last."
            );
            let mut providers: Vec<ProviderKind> = Vec::new();
            for lane in &plan.lanes {
                if !providers.contains(&lane.provider) {
                    providers.push(lane.provider);
                }
            }
            (None, providers)
        } else {
            let lanes = lanes::start(&config, &plan, &scheduler, accounts.clone()).await?;
            let providers = lanes.providers.clone();
            (Some(lanes), providers)
        };
        let routing = routing_for(&config, &providers);
        let Some(routing) = routing else {
            if let Some(lanes) = lanes {
                lanes.shutdown().await;
            }
            return Err("no provider is running".to_owned());
        };
        if plan.parallel && !routing.is_parallel() {
            info!("Only one provider runs; model IDs follow the single-provider rules.");
        }

        let board = scheduler.board().clone();
        let grace = config.server.shutdown_grace;
        let live = Arc::new(Live::new(config, routing));
        let reloader = Arc::new(Reloader {
            live: live.clone(),
            source: std::sync::Mutex::new(source),
            scheduler: scheduler.clone(),
            lanes: tokio::sync::Mutex::new(lanes),
        });
        let stop_server = CancellationToken::new();
        let state = Arc::new(AppState {
            live,
            reloader: reloader.clone(),
            scheduler: scheduler.clone(),
            board: board.clone(),
            dry_run: Default::default(),
            guard,
            stats: Default::default(),
            recent: Default::default(),
            shutdown: stop_server.clone(),
            live_views: Default::default(),
        });
        let stop = stop_server.clone();
        let server = crate::tasks::spawn("http-server", async move {
            let served = axum::serve(listener, api::app(state))
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                warn!(cause = %e, "the HTTP server stopped with an error");
            }
        });
        info!("Server running at http://{addr}");
        Ok(Gateway {
            addr,
            board,
            plan,
            reloader,
            stop_server,
            server,
            scheduler,
            grace,
        })
    }

    /// `http://host:port`, for clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared browser's pid (`context` isolation).
    pub fn browser_pid(&self) -> Option<u32> {
        // Only a reload holds the lock for long; the pid is unknown while one runs.
        let lanes = self.reloader.lanes.try_lock().ok()?;
        lanes.as_ref().and_then(|l| l.shared_browser_pid())
    }

    /// Reads the configuration again and applies it; see [`Reloader::reload`].
    pub async fn reload(&self) -> Result<Changes, Refused> {
        self.reloader.reload().await
    }

    /// Stops gracefully: no new connections or requests, queued requests fail, running
    /// answers get the grace period, then every lane stops (a running answer is stopped in the
    /// page and its client gets an error event) and the browsers close.
    pub async fn shutdown(self) {
        self.stop_server.cancel();
        self.scheduler.close(SHUTDOWN_QUEUED).await;
        if tokio::time::timeout(self.grace, self.scheduler.idle())
            .await
            .is_err()
        {
            warn!(
                "Answers still running after {}s (server.shutdown_grace_secs); stopping them.",
                self.grace.as_secs()
            );
        }
        let lanes = self.reloader.lanes.lock().await.take();
        if let Some(lanes) = lanes {
            lanes.shutdown().await;
        }
        // Streams still open end when their lanes are gone; don't wait on slow clients forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// The routing table for the providers that run (with the live model lists read so far).
pub(crate) fn routing_for(config: &Config, providers: &[ProviderKind]) -> Option<RoutingTable> {
    RoutingTable::new(
        providers.iter().map(|p| ProviderModels {
            provider: *p,
            real_model_labels: crate::providers::model_labels(*p, &config.provider(*p).models),
        }),
        config.api.universal_model_names,
    )
}

/// The running lanes and the configuration they run with, changed only by a reload.
pub struct Reloader {
    pub(crate) live: Arc<Live>,
    /// Where the configuration came from; `None`: started from a value, nothing to re-read.
    /// The dashboard replaces it when it applies settings in memory (no file to write).
    pub(crate) source: std::sync::Mutex<Option<Source>>,
    scheduler: Scheduler,
    /// The lanes (none in Dry Run Mode). The lock also makes reloads one at a time.
    pub(crate) lanes: tokio::sync::Mutex<Option<Lanes>>,
}

impl Reloader {
    /// Reads the configuration again and applies the difference: removed lanes stop taking
    /// requests at once (a running one finishes), added lanes start, kept lanes are not
    /// touched, and the new settings apply to the next request. A file with an error, or a
    /// change only a restart can apply, changes nothing. Logs what happened.
    pub async fn reload(&self) -> Result<Changes, Refused> {
        let result = self.apply().await;
        match &result {
            Ok(changes) => info!("Config reloaded: {}", changes.summary()),
            Err(e) => warn!("Config reload refused; the running config stays: {e}"),
        }
        result
    }

    async fn apply(&self) -> Result<Changes, Refused> {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(source) = source else {
            return Err(Refused::Conflict(
                "this gateway was not started from a config file, so there is nothing to \
                 re-read"
                    .to_owned(),
            ));
        };
        let mut new = source.load().map_err(|e| Refused::Invalid(e.0))?;
        let mut lanes = self.lanes.lock().await;
        let old = self.live.config();
        // Not a config key: it stays as the command line set it.
        new.fault_injection = old.fault_injection;
        let running = match lanes.as_ref() {
            Some(l) => l.specs(),
            None => LanePlan::from_config(&old).lanes,
        };
        let plan = plan_reload(&old, &running, &new)?;
        if let Some(l) = lanes.as_ref() {
            if let Some(busy) = plan.add.iter().find(|a| l.stopping(&a.id)) {
                return Err(Refused::Conflict(format!(
                    "lane {} is still stopping after the last reload removed it; reload again \
                     once it is gone from /api/lanes",
                    busy.id
                )));
            }
        }
        for note in &LanePlan::from_config(&new).notes {
            warn!("{note}");
        }
        let mut changes = Changes {
            lanes_removed: plan.remove.clone(),
            lanes_kept: plan.keep.clone(),
            settings_applied: plan.settings.clone(),
            ..Changes::default()
        };
        let Some(lanes) = lanes.as_mut() else {
            // Dry Run Mode: no lanes, only the providers the plan names.
            let mut providers: Vec<ProviderKind> = Vec::new();
            for lane in LanePlan::from_config(&new).lanes {
                if !providers.contains(&lane.provider) {
                    providers.push(lane.provider);
                }
            }
            let routing = routing_for(&new, &providers).ok_or_else(|| {
                Refused::Conflict("the new configuration runs no provider".to_owned())
            })?;
            changes.lanes_added = plan.add.iter().map(|l| l.id.clone()).collect();
            self.live.swap(new, routing);
            return Ok(changes);
        };
        if LanePlan::from_config(&old).concurrency != plan.concurrency {
            self.scheduler.set_concurrency(plan.concurrency).await;
        }
        if !plan.remove.is_empty() {
            info!(
                "Config reload: removing lane(s) {} (each finishes its running request first)",
                ids(&plan.remove)
            );
            lanes
                .retire(&plan.remove, "removed by a config reload")
                .await;
        }
        // A lane that failed to start and is not in the new plan is gone from the board; one
        // that is in it is started again (it is in `plan.add`).
        let planned: Vec<crate::ids::LaneId> = LanePlan::from_config(&new)
            .lanes
            .into_iter()
            .map(|l| l.id)
            .collect();
        lanes.forget_failed(&planned);
        // Kept lanes read the new settings from their next request on.
        let routing = routing_for(&new, &lanes.providers)
            .unwrap_or_else(|| RoutingTable::clone(&self.live.routing()));
        self.live.swap(new.clone(), routing);
        if !plan.add.is_empty() {
            info!(
                "Config reload: starting lane(s) {}",
                plan.add
                    .iter()
                    .map(|l| l.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (spec, result) in lanes.add(&new, &plan.add).await {
                match result {
                    Ok(()) => changes.lanes_added.push(spec.id),
                    Err(e) => changes.lanes_failed.push((spec.id, e)),
                }
            }
            if let Some(routing) = routing_for(&new, &lanes.providers) {
                self.live.swap(new, routing);
            }
        }
        Ok(changes)
    }
}

fn ids(v: &[crate::ids::LaneId]) -> String {
    v.iter()
        .map(|l| l.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
