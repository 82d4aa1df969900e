//! Lanes: starting them on Chromium, running them, stopping them.
//!
//! [`plan::LanePlan`] decides which lanes exist. [`start`] launches the browser(s), opens every
//! lane's page concurrently, drops lanes that fail (with a log line saying why) and announces the
//! rest to the scheduler. Each lane then runs in its own task ([`lane::Lane::run`]), which owns
//! its page.
//!
//! Dummy lanes (`[dummy] lanes = N`) have no page: [`dummy::run`] plays a scripted answer for
//! each job, behind the same inbox and scheduler protocol. No browser starts for them.
//!
//! In `context` isolation all lanes share one Chromium, each in its own browser context. In
//! `process` isolation each lane has its own Chromium and persistent profile directory. With
//! `browser.endpoints` no Chromium is launched: each lane gets a context on one of the remote
//! browsers, spread by free capacity (`host::RemotePool`).

pub mod board;
mod breaker;
mod dummy;
mod host;
mod lane;
pub mod plan;
pub mod purge;
mod relay;
pub mod rotation;
pub(crate) mod session;
mod signin;
pub mod supervisor;
mod unknown;
pub mod warm;

pub(crate) use relay::empty_reply;

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::accounts::Pool;
use crate::browser::{Chromium, LaunchOptions, find_chromium};
use crate::config::{Config, Isolation};
use crate::ids::LaneId;
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
    /// Every running lane: its spec, the token that retires it, its task.
    running: Vec<Running>,
    /// Tasks of lanes a reload removed, still finishing their request.
    retired: Vec<tokio::task::JoinHandle<()>>,
    shared_browser: Option<Arc<SharedBrowser>>,
    /// `browser.endpoints`: the remote browsers (never closed; only disconnected).
    remote: Option<Arc<RemotePool>>,
    scheduler: Scheduler,
    /// How lanes launch and open (fixed at start: reload refuses to change them).
    launch: LaunchOptions,
    isolation: Isolation,
    data_dir: std::path::PathBuf,
    artifacts: Arc<crate::artifacts::Settings>,
    /// The saved accounts: which lane holds which (see `crate::accounts::Pool`).
    pub accounts: Arc<Pool>,
    /// The start plan's account caps: a reload never adds a lane above them.
    caps: Vec<(ProviderKind, u32)>,
}

/// One running lane.
struct Running {
    spec: LaneSpec,
    retire: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Lanes {
    /// The shared browser's pid (`context` isolation); a new one after a relaunch.
    pub fn shared_browser_pid(&self) -> Option<u32> {
        self.shared_browser.as_ref().and_then(|b| b.current().pid())
    }

    /// The running lanes (not those a reload removed), in start order.
    pub fn specs(&self) -> Vec<LaneSpec> {
        self.running.iter().map(|r| r.spec.clone()).collect()
    }

    /// Stops every lane (closing pages and browsers) and waits for them.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        join_all(self.running.into_iter().map(|r| r.task)).await;
        join_all(self.retired).await;
        if let Some(browser) = self.shared_browser {
            browser.current().close().await;
        }
        if let Some(pool) = self.remote {
            pool.disconnect().await;
        }
    }

    /// Opens the lanes of `specs` (concurrently) with `config`'s provider settings and hands
    /// each one that opened to the scheduler. A lane that fails shows as `failed` with the
    /// reason; the result lists each lane's outcome.
    pub async fn add(
        &mut self,
        config: &Config,
        specs: &[LaneSpec],
    ) -> Vec<(LaneSpec, Result<(), String>)> {
        let (specs, dummies): (Vec<LaneSpec>, Vec<LaneSpec>) = specs
            .iter()
            .cloned()
            .partition(|s| s.provider.runs_in_browser());
        let mut outcomes = self.add_in_browser(config, &specs).await;
        // Dummy lanes come after the sites' (the plan's order), on the board and in routing.
        outcomes.extend(self.add_dummies(&dummies));
        outcomes
    }

    /// [`Lanes::add`] for lanes that are pages in Chromium.
    async fn add_in_browser(
        &mut self,
        config: &Config,
        specs: &[LaneSpec],
    ) -> Vec<(LaneSpec, Result<(), String>)> {
        let mut outcomes = Vec::new();
        if specs.is_empty() {
            return outcomes;
        }
        if self.shared_browser.is_none()
            && self.remote.is_none()
            && self.isolation == Isolation::Context
        {
            // The gateway started with dummy lanes only; a reload now adds site lanes.
            match SharedBrowser::launch(self.launch.clone()).await {
                Ok(browser) => self.shared_browser = Some(browser),
                Err(e) => {
                    warn!("cannot launch Chromium for the new lanes: {e}");
                    for spec in specs {
                        outcomes.push((spec.clone(), Err(format!("{}: {e}", spec.label))));
                    }
                    return outcomes;
                }
            }
        }
        let board = self.board.clone();
        let specs: Vec<LaneSpec> = specs
            .iter()
            .filter(|spec| {
                let cap = self.caps.iter().find(|(k, _)| *k == spec.provider);
                let over = cap.is_some_and(|&(_, n)| spec.index > n);
                if over {
                    warn!(lane = %spec.id, "{}: not started: the saved accounts allow only {} lane(s) (accounts change with a restart)", spec.label, cap.map_or(0, |c| c.1));
                }
                !over
            })
            .cloned()
            .collect();
        let specs = specs.as_slice();
        for spec in specs {
            board.insert(LaneRecord {
                proxy: config
                    .provider(spec.provider)
                    .proxy
                    .as_ref()
                    .map(ToString::to_string),
                ..LaneRecord::new(
                    spec.id.clone(),
                    spec.label.clone(),
                    spec.provider.prefix(),
                    LaneState::Starting,
                )
            });
        }
        // Accounts are handed out one lane at a time in plan order, so the pinned one lands on
        // the provider's first lane.
        let mut profiles = Vec::new();
        for spec in specs {
            let held = (spec.backed || config.accounts.auto_login)
                .then(|| self.accounts.assign(&spec.id, spec.provider))
                .flatten();
            if spec.backed && held.is_none() && self.accounts.has_store() {
                warn!(lane = %spec.id, "{}: no free saved account; it starts as a manual lane", spec.label);
            }
            info!(
                lane = %spec.id,
                "{}: startup profile -> {}{}",
                spec.label,
                held.as_ref().map_or("manual", |h| h.email.as_str()),
                if held.as_ref().is_some_and(|h| h.pinned) { " [PINNED]" } else { "" }
            );
            board.set_account(&spec.id, held.as_ref().map(|h| h.email.as_str()));
            // `process` isolation: the account's own profile (`manual` lanes one per lane).
            profiles.push(match &held {
                Some(h) => h.profile.clone(),
                None => format!("lane-{}", spec.index),
            });
        }
        let opened = join_all(specs.iter().zip(profiles).map(|(spec, profile)| {
            let settings = config.provider(spec.provider).clone();
            let accounts = self.accounts.clone();
            let artifacts = self.artifacts.clone();
            let shared = self.shared_browser.clone();
            let remote = self.remote.clone();
            let opts = LaunchOptions {
                user_data_dir: Some(
                    self.data_dir
                        .join("profiles")
                        .join(spec.provider.storage_key())
                        .join(profile),
                ),
                proxy: settings.proxy.clone(),
                ..self.launch.clone()
            };
            let board = board.clone();
            async move {
                let began = Instant::now();
                info!(lane = %spec.id, "{}: starting", spec.label);
                let result = match (shared, remote) {
                    (Some(shared), _) => {
                        let browser = shared.current();
                        board.set_browser(&spec.id, &browser);
                        let host = BrowserHost::Shared(shared);
                        Lane::open(spec.clone(), settings, browser, host, artifacts, accounts.clone())
                            .await
                    }
                    (None, Some(pool)) => {
                        let host = BrowserHost::Remote(pool);
                        reopen(spec, &settings, &host, &artifacts, &board, &accounts).await
                    }
                    (None, None) => {
                        open_with_own_browser(spec, settings, &opts, &board, artifacts, accounts.clone())
                            .await
                    }
                };
                match &result {
                    Ok(_) => info!(
                        lane = %spec.id,
                        "{}: ready in {:.2}s", spec.label, began.elapsed().as_secs_f64()
                    ),
                    Err(e) => {
                        warn!(lane = %spec.id, "{} failed to start and will be disabled: {e}", spec.label);
                        board.set_state(&spec.id, LaneState::Failed(e.clone()));
                        accounts.release(&spec.id);
                    }
                }
                result.map_err(|e| format!("{}: {e}", spec.label))
            }
        }))
        .await;
        for (spec, result) in specs.iter().zip(opened) {
            match result {
                Ok(lane) => {
                    if !self.providers.contains(&spec.provider) {
                        self.providers.push(spec.provider);
                    }
                    let retire = CancellationToken::new();
                    let task = crate::tasks::spawn(
                        "lane",
                        keep_lane(
                            lane,
                            self.scheduler.clone(),
                            board.clone(),
                            self.shutdown.clone(),
                            retire.clone(),
                        ),
                    );
                    self.running.push(Running {
                        spec: spec.clone(),
                        retire,
                        task,
                    });
                    outcomes.push((spec.clone(), Ok(())));
                }
                Err(e) => outcomes.push((spec.clone(), Err(e))),
            }
        }
        outcomes
    }

    /// Starts dummy lanes: no page to open, so each is ready at once.
    fn add_dummies(&mut self, specs: &[LaneSpec]) -> Vec<(LaneSpec, Result<(), String>)> {
        let mut outcomes = Vec::new();
        for spec in specs {
            self.board.insert(LaneRecord::new(
                spec.id.clone(),
                spec.label.clone(),
                spec.provider.prefix(),
                LaneState::Starting,
            ));
            if !self.providers.contains(&spec.provider) {
                self.providers.push(spec.provider);
            }
            let retire = CancellationToken::new();
            let task = crate::tasks::spawn(
                "dummy-lane",
                dummy::run(
                    spec.clone(),
                    self.scheduler.clone(),
                    self.board.clone(),
                    self.shutdown.clone(),
                    retire.clone(),
                ),
            );
            self.running.push(Running {
                spec: spec.clone(),
                retire,
                task,
            });
            outcomes.push((spec.clone(), Ok(())));
        }
        outcomes
    }

    /// Removes lanes (a config reload): the scheduler stops dispatching to each at once, a
    /// request it runs finishes, then its supervisor hands back its inbox, closes its page and
    /// the lane disappears from the board. A `failed` lane (never started) just goes.
    /// Returns without waiting for running requests.
    pub async fn retire(&mut self, ids: &[LaneId], reason: &str) {
        for id in ids {
            match self.running.iter().position(|r| &r.spec.id == id) {
                Some(at) => {
                    let lane = self.running.remove(at);
                    self.scheduler.retire(id.clone(), reason.to_owned()).await;
                    self.accounts.release(id);
                    lane.retire.cancel();
                    self.retired.push(lane.task);
                }
                None => self.board.remove(id),
            }
        }
        self.providers = Vec::new();
        for r in &self.running {
            if !self.providers.contains(&r.spec.provider) {
                self.providers.push(r.spec.provider);
            }
        }
        self.retired.retain(|t| !t.is_finished());
    }

    /// Removes the board rows of lanes that failed to start, except those in `keep`.
    pub fn forget_failed(&self, keep: &[LaneId]) {
        for row in self.board.snapshot() {
            if matches!(row.state, LaneState::Failed(_)) && !keep.contains(&row.id) {
                self.board.remove(&row.id);
            }
        }
    }

    /// Whether a lane with this id is still stopping after a reload removed it.
    pub fn stopping(&self, id: &LaneId) -> bool {
        self.board
            .snapshot()
            .iter()
            .any(|r| &r.id == id && matches!(r.state, LaneState::Stopping(_)))
    }
}

/// Starts the planned lanes. Fails only if no lane at all could start.
pub async fn start(
    config: &Config,
    plan: &LanePlan,
    scheduler: &Scheduler,
    accounts: Arc<Pool>,
) -> Result<Lanes, String> {
    // Dummy lanes need no browser: with only those, Chromium is neither looked for nor started.
    let browser_lanes = plan.lanes.iter().any(|l| l.provider.runs_in_browser());
    let remote = (!config.browser.endpoints.is_empty())
        .then(|| RemotePool::new(&config.browser.endpoints, config.browser.cdp_timeout));
    // Remote browsers need no Chromium on this machine.
    let executable = match remote {
        Some(_) => std::path::PathBuf::new(),
        None if browser_lanes => find_chromium(config.browser.executable.as_deref())?,
        None => find_chromium(config.browser.executable.as_deref()).unwrap_or_default(),
    };
    let board = scheduler.board().clone();
    let labels: Vec<&str> = plan.lanes.iter().map(|l| l.label.as_str()).collect();
    info!("Starting lanes: {}", labels.join(", "));

    let launch = LaunchOptions {
        executable,
        headless: config.browser.headless,
        user_data_dir: None,
        cdp_timeout: config.browser.cdp_timeout,
        no_sandbox: config.browser.no_sandbox,
        extra_flags: config.browser.extra_flags.clone(),
        // Each lane's own (`process` isolation); the shared browser has none.
        proxy: None,
    };
    let shared_browser = match (config.browser.isolation, &remote) {
        (Isolation::Context, None) if browser_lanes => {
            Some(SharedBrowser::launch(launch.clone()).await?)
        }
        _ => None,
    };
    let mut lanes = Lanes {
        board,
        providers: Vec::new(),
        shutdown: CancellationToken::new(),
        running: Vec::new(),
        retired: Vec::new(),
        shared_browser,
        remote,
        scheduler: scheduler.clone(),
        launch,
        isolation: config.browser.isolation,
        data_dir: config.data_dir.clone(),
        artifacts: Arc::new(crate::artifacts::Settings {
            capture: config.capture.clone(),
            failures: config.failures.clone(),
        }),
        accounts,
        caps: plan.caps.clone(),
    };
    let outcomes = lanes.add(config, &plan.lanes).await;
    let failures: Vec<String> = outcomes.into_iter().filter_map(|(_, r)| r.err()).collect();
    if lanes.running.is_empty() {
        if let Some(browser) = &lanes.shared_browser {
            browser.current().close().await;
        }
        if let Some(pool) = &lanes.remote {
            pool.disconnect().await;
        }
        return Err(format!(
            "no provider lanes started. {}",
            failures.join("; ")
        ));
    }
    if failures.is_empty() {
        info!("All {} lane(s) started.", lanes.running.len());
    } else {
        warn!(
            "{}/{} lane(s) started. Disabled failed lane(s): {}",
            lanes.running.len(),
            plan.lanes.len(),
            failures.join("; ")
        );
    }
    Ok(lanes)
}

/// Runs a lane's supervisor until shutdown. If the supervisor itself panics (it has already
/// taken the lane offline), the lane is opened again from scratch, with backoff, and a new
/// supervisor runs it.
async fn keep_lane(
    lane: Lane,
    scheduler: Scheduler,
    board: Board,
    shutdown: CancellationToken,
    retire: CancellationToken,
) {
    use futures::FutureExt;
    let spec = lane.spec.clone();
    let settings = lane.settings.clone();
    let host = lane.host.clone();
    let artifacts = lane.artifacts.clone();
    let accounts = lane.accounts.clone();
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
            retire.clone(),
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
                _ = retire.cancelled() => {
                    supervisor::forget(&scheduler, &board, &spec.id).await;
                    return;
                }
                () = tokio::time::sleep(supervisor::backoff(attempt)) => {}
            }
            match reopen(&spec, &settings, &host, &artifacts, &board, &accounts).await {
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
    accounts: &Arc<Pool>,
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
        accounts.clone(),
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
    accounts: Arc<Pool>,
) -> Result<Lane, String> {
    let browser = Chromium::launch(opts).await.map_err(|e| e.to_string())?;
    board.set_browser(&spec.id, &browser);
    let host = BrowserHost::Own(opts.clone());
    match Lane::open(
        spec.clone(),
        settings,
        browser.clone(),
        host,
        artifacts,
        accounts,
    )
    .await
    {
        Ok(lane) => Ok(lane),
        Err(e) => {
            browser.close().await;
            Err(e)
        }
    }
}
