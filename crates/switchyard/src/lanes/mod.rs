//! Lanes: starting them on Chromium, running them, stopping them.
//!
//! [`plan::LanePlan`] decides which lanes exist. [`start`] launches the browser(s), opens every
//! lane's page concurrently, drops lanes that fail (with a log line saying why) and announces the
//! rest to the scheduler. Each lane then runs in its own task ([`lane::Lane::run`]), which owns
//! its page.
//!
//! In `context` isolation all lanes share one Chromium, each in its own browser context. In
//! `process` isolation each lane has its own Chromium and persistent profile directory. With
//! `browser.endpoints` no Chromium is launched: each lane gets a context on one of the remote
//! browsers, spread by free capacity (`host::RemotePool`).

pub mod board;
mod breaker;
mod host;
mod lane;
pub mod plan;
mod relay;
pub mod supervisor;
mod unknown;

pub(crate) use relay::empty_reply;

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::browser::{Chromium, LaunchOptions, find_chromium};
use crate::config::{Config, Isolation};
use crate::models::ProviderKind;
use crate::scheduler::Scheduler;
use board::{Board, LaneRecord, LaneState};
use host::{BrowserHost, RemotePool, SharedBrowser};
use lane::Lane;
use plan::{LanePlan, LaneSpec};
use supervisor::Supervisor;

/// Jobs a lane's inbox holds. The scheduler only dispatches to a free lane, so one is enough;
/// the slack absorbs a dispatch racing a `finished` report.
const INBOX_CAPACITY: usize = 4;
/// Fault injections a lane's control channel holds.
const CONTROL_CAPACITY: usize = 8;

/// The running lanes.
pub struct Lanes {
    pub board: Board,
    /// Distinct providers with at least one started lane, in lane order.
    pub providers: Vec<ProviderKind>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared_browser: Option<Arc<SharedBrowser>>,
    /// `browser.endpoints`: the remote browsers (never closed; only disconnected).
    remote: Option<Arc<RemotePool>>,
}

impl Lanes {
    /// The shared browser's pid (`context` isolation); a new one after a relaunch.
    pub fn shared_browser_pid(&self) -> Option<u32> {
        self.shared_browser.as_ref().and_then(|b| b.current().pid())
    }

    /// Stops every lane (closing pages and browsers) and waits for them.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        join_all(self.tasks).await;
        if let Some(browser) = self.shared_browser {
            browser.current().close().await;
        }
        if let Some(pool) = self.remote {
            pool.disconnect().await;
        }
    }
}

/// Starts the planned lanes. Fails only if no lane at all could start.
pub async fn start(
    config: &Config,
    plan: &LanePlan,
    scheduler: &Scheduler,
) -> Result<Lanes, String> {
    let remote = (!config.browser.endpoints.is_empty())
        .then(|| RemotePool::new(&config.browser.endpoints, config.browser.cdp_timeout));
    // Remote browsers need no Chromium on this machine.
    let executable = match remote {
        Some(_) => std::path::PathBuf::new(),
        None => find_chromium(config.browser.executable.as_deref())?,
    };
    let board = scheduler.board().clone();
    for spec in &plan.lanes {
        board.insert(LaneRecord {
            id: spec.id.clone(),
            label: spec.label.clone(),
            provider: spec.provider.prefix(),
            state: LaneState::Starting,
            browser_pid: None,
            endpoint: None,
            proxy: config
                .provider(spec.provider)
                .proxy
                .as_ref()
                .map(ToString::to_string),
            current_request: None,
            requests_served: 0,
            restarts: 0,
            last_error: None,
            last_failure_bundle: None,
        });
    }
    let labels: Vec<&str> = plan.lanes.iter().map(|l| l.label.as_str()).collect();
    info!("Starting lanes: {}", labels.join(", "));

    let launch = |user_data_dir, proxy| LaunchOptions {
        executable: executable.clone(),
        headless: config.browser.headless,
        user_data_dir,
        cdp_timeout: config.browser.cdp_timeout,
        no_sandbox: config.browser.no_sandbox,
        proxy,
    };
    let shared_browser = match (config.browser.isolation, &remote) {
        (_, Some(_)) => None,
        (Isolation::Context, None) => Some(SharedBrowser::launch(launch(None, None)).await?),
        (Isolation::Process, None) => None,
    };

    let artifacts = Arc::new(crate::artifacts::Settings {
        capture: config.capture.clone(),
        failures: config.failures.clone(),
    });
    let opened = join_all(plan.lanes.iter().map(|spec| {
        let settings = config.provider(spec.provider).clone();
        let artifacts = artifacts.clone();
        let shared = shared_browser.clone();
        let remote = remote.clone();
        let opts = launch(
            Some(
                config
                    .data_dir
                    .join("profiles")
                    .join(spec.provider.storage_key())
                    .join(format!("lane-{}", spec.index)),
            ),
            settings.proxy.clone(),
        );
        let board = board.clone();
        async move {
            let began = Instant::now();
            info!(lane = %spec.id, "{}: starting", spec.label);
            let result = match (shared, remote) {
                (Some(shared), _) => {
                    let browser = shared.current();
                    board.set_browser(&spec.id, &browser);
                    let host = BrowserHost::Shared(shared);
                    Lane::open(spec.clone(), settings, browser, host, artifacts).await
                }
                (None, Some(pool)) => {
                    let host = BrowserHost::Remote(pool);
                    reopen(spec, &settings, &host, &artifacts, &board).await
                }
                (None, None) => open_with_own_browser(spec, settings, &opts, &board, artifacts).await,
            };
            match &result {
                Ok(_) => info!(
                    lane = %spec.id,
                    "{}: ready in {:.2}s", spec.label, began.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    warn!(lane = %spec.id, "{} failed to start and will be disabled: {e}", spec.label);
                    board.set_state(&spec.id, LaneState::Failed(e.clone()));
                }
            }
            result.map_err(|e| format!("{}: {e}", spec.label))
        }
    }))
    .await;

    let mut lanes = Vec::new();
    let mut failures = Vec::new();
    for result in opened {
        match result {
            Ok(lane) => lanes.push(lane),
            Err(e) => failures.push(e),
        }
    }
    if lanes.is_empty() {
        if let Some(browser) = &shared_browser {
            browser.current().close().await;
        }
        if let Some(pool) = &remote {
            pool.disconnect().await;
        }
        return Err(format!(
            "no provider lanes started. {}",
            failures.join("; ")
        ));
    }
    if failures.is_empty() {
        info!("All {} lane(s) started.", lanes.len());
    } else {
        warn!(
            "{}/{} lane(s) started. Disabled failed lane(s): {}",
            lanes.len(),
            plan.lanes.len(),
            failures.join("; ")
        );
    }

    let shutdown = CancellationToken::new();
    let mut providers = Vec::new();
    let mut tasks = Vec::new();
    for lane in lanes {
        if !providers.contains(&lane.spec.provider) {
            providers.push(lane.spec.provider);
        }
        tasks.push(crate::tasks::spawn(
            "lane",
            keep_lane(lane, scheduler.clone(), board.clone(), shutdown.clone()),
        ));
    }
    Ok(Lanes {
        board,
        providers,
        shutdown,
        tasks,
        shared_browser,
        remote,
    })
}

/// Runs a lane's supervisor until shutdown. If the supervisor itself panics (it has already
/// taken the lane offline), the lane is opened again from scratch, with backoff, and a new
/// supervisor runs it.
async fn keep_lane(lane: Lane, scheduler: Scheduler, board: Board, shutdown: CancellationToken) {
    use futures::FutureExt;
    let spec = lane.spec.clone();
    let settings = lane.settings.clone();
    let host = lane.host.clone();
    let artifacts = lane.artifacts.clone();
    let mut lane = lane;
    loop {
        let (control_tx, control) = mpsc::channel(CONTROL_CAPACITY);
        board.set_control(&spec.id, control_tx);
        let run = Supervisor::new(
            lane,
            control,
            scheduler.clone(),
            board.clone(),
            shutdown.clone(),
        )
        .run();
        if std::panic::AssertUnwindSafe(run)
            .catch_unwind()
            .await
            .is_ok()
        {
            return;
        }
        tracing::error!(lane = %spec.id, "the lane's supervisor panicked (a bug); opening the lane again");
        let mut attempt = 1;
        lane = loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                () = tokio::time::sleep(supervisor::backoff(attempt)) => {}
            }
            match reopen(&spec, &settings, &host, &artifacts, &board).await {
                Ok(lane) => {
                    board.restarted(&spec.id);
                    info!(lane = %spec.id, "{} is open again", spec.label);
                    break lane;
                }
                Err(e) => {
                    warn!(lane = %spec.id, attempt, cause = %e, "{} could not be opened again", spec.label);
                    board.set_failure(&spec.id, &format!("reopening failed: {e}"), None);
                    attempt += 1;
                }
            }
        };
    }
}

/// Opens a lane from scratch on a live browser from its host.
async fn reopen(
    spec: &LaneSpec,
    settings: &crate::config::ProviderConfig,
    host: &BrowserHost,
    artifacts: &Arc<crate::artifacts::Settings>,
    board: &Board,
) -> Result<Lane, String> {
    let browser = match host {
        BrowserHost::Shared(shared) => {
            let current = shared.current();
            if current.is_closed() {
                shared.replace(&current).await?
            } else {
                current
            }
        }
        BrowserHost::Own(opts) => Chromium::launch(opts).await.map_err(|e| e.to_string())?,
        BrowserHost::Remote(pool) => pool.acquire(&spec.id).await?,
    };
    board.set_browser(&spec.id, &browser);
    let opened = Lane::open(
        spec.clone(),
        settings.clone(),
        browser.clone(),
        host.clone(),
        artifacts.clone(),
    )
    .await;
    if opened.is_err() {
        if host.owns_browser() {
            browser.close().await;
        }
        host.release(&spec.id);
    }
    opened
}

/// `process` isolation: launches the lane's own Chromium on its profile, then opens the lane.
async fn open_with_own_browser(
    spec: &LaneSpec,
    settings: crate::config::ProviderConfig,
    opts: &LaunchOptions,
    board: &Board,
    artifacts: Arc<crate::artifacts::Settings>,
) -> Result<Lane, String> {
    let browser = Chromium::launch(opts).await.map_err(|e| e.to_string())?;
    board.set_browser(&spec.id, &browser);
    let host = BrowserHost::Own(opts.clone());
    match Lane::open(spec.clone(), settings, browser.clone(), host, artifacts).await {
        Ok(lane) => Ok(lane),
        Err(e) => {
            browser.close().await;
            Err(e)
        }
    }
}
