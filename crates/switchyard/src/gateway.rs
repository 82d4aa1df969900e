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
use crate::scheduler::Scheduler;

/// A running gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub board: Board,
    pub plan: LanePlan,
    /// The running lanes; none in Dry Run Mode.
    lanes: Option<Lanes>,
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
    /// Binds the port, starts the lanes and serves the API.
    pub async fn start(config: Config) -> Result<Gateway, String> {
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

        let plan = LanePlan::from_config(&config);
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
        let scheduler = Scheduler::spawn(plan.concurrency);
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
            let lanes = lanes::start(&config, &plan, &scheduler).await?;
            let providers = lanes.providers.clone();
            (Some(lanes), providers)
        };
        let routing = RoutingTable::new(
            providers.iter().map(|p| ProviderModels {
                provider: *p,
                real_model_labels: config.provider(*p).models.clone(),
            }),
            config.api.universal_model_names,
        );
        let Some(routing) = routing else {
            if let Some(lanes) = lanes {
                lanes.shutdown().await;
            }
            return Err("no provider is running".to_owned());
        };
        if plan.parallel && !routing.is_parallel() {
            info!("Only one provider runs; model IDs follow the single-provider rules.");
        }

        let board = lanes.as_ref().map(|l| l.board.clone()).unwrap_or_default();
        let grace = config.server.shutdown_grace;
        let state = Arc::new(AppState {
            config: Arc::new(config),
            routing,
            scheduler: scheduler.clone(),
            board: board.clone(),
            dry_run: Default::default(),
            guard,
        });
        let stop_server = CancellationToken::new();
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
            lanes,
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
        self.lanes.as_ref().and_then(|l| l.shared_browser_pid())
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
        if let Some(lanes) = self.lanes {
            lanes.shutdown().await;
        }
        // Streams still open end when their lanes are gone; don't wait on slow clients forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}
