//! Lanes: starting them on Chromium, running them, stopping them.
//!
//! [`plan::LanePlan`] decides which lanes exist. [`start`] launches the browser(s), opens every
//! lane's page concurrently, drops lanes that fail (with a log line saying why) and announces the
//! rest to the scheduler. Each lane then runs in its own task ([`lane::Lane::run`]), which owns
//! its page.
//!
//! In `context` isolation all lanes share one Chromium, each in its own browser context. In
//! `process` isolation each lane has its own Chromium and persistent profile directory.

pub mod board;
mod lane;
pub mod plan;
mod relay;
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
use lane::Lane;
use plan::{LanePlan, LaneSpec};

/// Jobs a lane's inbox holds. The scheduler only dispatches to a free lane, so one is enough;
/// the slack absorbs a dispatch racing a `finished` report.
const INBOX_CAPACITY: usize = 4;

/// The running lanes.
pub struct Lanes {
    pub board: Board,
    /// Distinct providers with at least one started lane, in lane order.
    pub providers: Vec<ProviderKind>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared_browser: Option<Arc<Chromium>>,
}

impl Lanes {
    /// The shared browser's pid (`context` isolation).
    pub fn shared_browser_pid(&self) -> Option<u32> {
        self.shared_browser.as_ref().and_then(|b| b.pid())
    }

    /// Stops every lane (closing pages and browsers) and waits for them.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        join_all(self.tasks).await;
        if let Some(browser) = self.shared_browser {
            browser.close().await;
        }
    }
}

/// Starts the planned lanes. Fails only if no lane at all could start.
pub async fn start(
    config: &Config,
    plan: &LanePlan,
    scheduler: &Scheduler,
) -> Result<Lanes, String> {
    let executable = find_chromium(config.browser.executable.as_deref())?;
    let board = Board::default();
    for spec in &plan.lanes {
        board.insert(LaneRecord {
            id: spec.id.clone(),
            label: spec.label.clone(),
            provider: spec.provider.prefix(),
            state: LaneState::Starting,
            browser_pid: None,
            current_request: None,
            requests_served: 0,
            last_error: None,
            last_failure_bundle: None,
        });
    }
    let labels: Vec<&str> = plan.lanes.iter().map(|l| l.label.as_str()).collect();
    info!("Starting lanes: {}", labels.join(", "));

    let launch = |user_data_dir| LaunchOptions {
        executable: executable.clone(),
        headless: config.browser.headless,
        user_data_dir,
        cdp_timeout: config.browser.cdp_timeout,
        no_sandbox: config.browser.no_sandbox,
    };
    let shared_browser = match config.browser.isolation {
        Isolation::Context => Some(
            Chromium::launch(&launch(None))
                .await
                .map_err(|e| e.to_string())?,
        ),
        Isolation::Process => None,
    };

    let artifacts = Arc::new(crate::artifacts::Settings {
        capture: config.capture.clone(),
        failures: config.failures.clone(),
    });
    let opened = join_all(plan.lanes.iter().map(|spec| {
        let settings = config.provider(spec.provider).clone();
        let artifacts = artifacts.clone();
        let shared = shared_browser.clone();
        let opts = launch(Some(
            config
                .data_dir
                .join("profiles")
                .join(spec.provider.storage_key())
                .join(format!("lane-{}", spec.index)),
        ));
        let board = board.clone();
        async move {
            let began = Instant::now();
            info!(lane = %spec.id, "{}: starting", spec.label);
            let result = match shared {
                Some(browser) => {
                    board.set_pid(&spec.id, browser.pid());
                    Lane::open(spec.clone(), settings, browser, false, artifacts).await
                }
                None => open_with_own_browser(spec, settings, &opts, &board, artifacts).await,
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
            browser.close().await;
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
        let (inbox_tx, inbox) = mpsc::channel(INBOX_CAPACITY);
        scheduler
            .lane_up(lane.spec.id.clone(), lane.spec.provider, inbox_tx)
            .await;
        tasks.push(crate::tasks::spawn(
            "lane",
            lane.run(inbox, scheduler.clone(), board.clone(), shutdown.clone()),
        ));
    }
    Ok(Lanes {
        board,
        providers,
        shutdown,
        tasks,
        shared_browser,
    })
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
    board.set_pid(&spec.id, browser.pid());
    match Lane::open(spec.clone(), settings, browser.clone(), true, artifacts).await {
        Ok(lane) => Ok(lane),
        Err(e) => {
            browser.close().await;
            Err(e)
        }
    }
}
