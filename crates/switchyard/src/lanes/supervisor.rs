//! A lane's supervisor: the one task that owns the lane, runs its requests, and brings it back
//! when it breaks.
//!
//! The lane's state machine (the scheduler holds the state, the board shows it):
//!
//! ```text
//! starting ─▶ ready ⇄ busy
//!               ▲ │
//!               │ ▼ renderer crash · browser death · page step failed or timed out ·
//!               │   stalled stream · job task panicked · watchdog ping unanswered
//!             recovering ── reload page ▶ new context ▶ relaunch browser (with backoff)
//!               │ ▲
//!               ▼ │ after 5 failed attempts, or the breaker trips (cool-down, half-open probe)
//!             offline (with the reason)
//! ```
//!
//! Each request runs in a task of its own, so a panic in the relay, a driver or a decoder ends
//! only that request: its client gets an error event naming the lane, then `[DONE]`, and the
//! lane recovers. While recovering, the lane is never picked; the jobs the scheduler had already
//! put in its inbox go back to the queue in their place; the provider's other requests wait (or
//! run on a sibling lane).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::board::Board;
use super::breaker::{Breaker, Policy, Verdict};
use super::lane::Lane;
use super::relay::{Cause, Outcome};
use crate::metrics;
use crate::providers::StreamEvent;
use crate::scheduler::{Job, Scheduler};

/// How often an idle lane checks that its page still answers.
const WATCHDOG_INTERVAL: Duration = Duration::from_secs(10);
/// How long the watchdog's ping may take.
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause between failed recovery attempts; doubled after each, up to
/// [`BACKOFF_CAP`].
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Failed recovery attempts in a row after which the lane shows as offline (it keeps trying).
const OFFLINE_AFTER: u32 = 5;

/// The pause before recovery attempt `attempt` (0 is the first, which starts at once).
pub fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    BACKOFF_FIRST
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(BACKOFF_CAP)
}

/// A fault to inject (`--enable-fault-injection`), sent to the lane's supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Crash the page's renderer (`Page.crash`).
    Crash,
    /// SIGKILL the lane's browser (the shared one in `context` isolation).
    KillBrowser,
    /// Panic inside the lane's next request task.
    Panic,
    /// Panic in the lane's supervisor itself (the lane is reopened from scratch).
    PanicSupervisor,
    /// Hang the page's renderer in an endless script (the watchdog finds it).
    Hang,
    /// Not a fault: move the lane to a spare saved account and restart it there (`POST
    /// /api/lanes/{id}/switch-account`, always on). Carried out only while the lane is idle.
    SwitchAccount,
}

/// A fault request and where its answer goes.
pub struct Control {
    pub fault: Fault,
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// What woke an idle lane.
enum Next {
    Job(Job),
    /// Switch Account by hand; the answer goes to the reply.
    Switch(oneshot::Sender<Result<String, String>>),
    Broken(Cause, String),
    Shutdown,
    /// A config reload removed the lane.
    Retire,
}

/// One recovery step, lightest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Reload,
    NewContext,
    Relaunch,
}

impl Step {
    /// The step's name in `/metrics` (`switchyard_lane_restarts_total{step}`).
    fn name(self) -> &'static str {
        match self {
            Step::Reload => "reload",
            Step::NewContext => "new_context",
            Step::Relaunch => "relaunch",
        }
    }

    /// What the step did; `remote`: the lane lives on `browser.endpoints`, where a relaunch
    /// attaches to a live endpoint instead.
    fn words(self, remote: bool) -> &'static str {
        match self {
            Step::Reload => "reloaded its page",
            Step::NewContext => "opened a new browser context",
            Step::Relaunch if remote => "attached to a remote browser again",
            Step::Relaunch => "relaunched its browser",
        }
    }

    /// The step for attempt `attempt` (0-based) of a recovery.
    fn pick(attempt: u32, cause: Cause, browser_closed: bool, owns_browser: bool) -> Step {
        if browser_closed || cause == Cause::Browser {
            Step::Relaunch
        } else if attempt == 0 && cause != Cause::Hung {
            Step::Reload
        } else if attempt >= 3 && owns_browser {
            Step::Relaunch
        } else {
            Step::NewContext
        }
    }
}

/// Tells the scheduler the lane is offline if the supervisor ends without saying so (a panic).
struct Goodbye {
    scheduler: Scheduler,
    lane: crate::ids::LaneId,
    armed: bool,
}

impl Drop for Goodbye {
    fn drop(&mut self) {
        if self.armed {
            error!(lane = %self.lane, "the lane's supervisor ended unexpectedly; the lane is offline");
            self.scheduler.lane_offline_soon(
                self.lane.clone(),
                "its supervisor ended unexpectedly (a bug; see the log)".to_owned(),
            );
        }
    }
}

/// The supervisor of one lane.
pub struct Supervisor {
    lane: Arc<Lane>,
    inbox: mpsc::Receiver<Job>,
    /// The inbox's sender, given to the scheduler each time the lane is ready.
    inbox_tx: mpsc::Sender<Job>,
    control: mpsc::Receiver<Control>,
    scheduler: Scheduler,
    board: Board,
    shutdown: CancellationToken,
    /// Cancelled when a config reload removes the lane: it stops once its request is done.
    retire: CancellationToken,
    breaker: Breaker,
    /// The page's crash counter; refreshed when recovery replaces the page.
    crashes: watch::Receiver<u64>,
    /// Fault injection: the next request's task panics.
    panic_next: bool,
    /// A job taken from the inbox while the lane prepared its next chat; it runs once the
    /// preparation is done, or goes back to the queue with the inbox's jobs.
    held: Option<Job>,
}

impl Supervisor {
    pub fn new(
        lane: Lane,
        control: mpsc::Receiver<Control>,
        scheduler: Scheduler,
        board: Board,
        shutdown: CancellationToken,
        retire: CancellationToken,
    ) -> Supervisor {
        let (inbox_tx, inbox) = mpsc::channel(super::INBOX_CAPACITY);
        let mut crashes = lane.capture.crashes();
        crashes.mark_unchanged();
        Supervisor {
            lane: Arc::new(lane),
            inbox,
            inbox_tx,
            control,
            scheduler,
            board,
            shutdown,
            retire,
            breaker: Breaker::new(Policy::default()),
            crashes,
            panic_next: false,
            held: None,
        }
    }

    /// Announces the lane ready and runs it until shutdown.
    pub async fn run(mut self) {
        let id = self.lane.spec.id.clone();
        let mut goodbye = Goodbye {
            scheduler: self.scheduler.clone(),
            lane: id.clone(),
            armed: true,
        };
        self.announce().await;
        loop {
            let keep_going = match self.idle().await {
                Next::Shutdown | Next::Retire => false,
                Next::Job(job) => self.serve(job).await,
                Next::Switch(reply) => self.switch_by_hand(reply).await,
                Next::Broken(cause, why) => self.recover(cause, why).await,
            };
            if !keep_going {
                break;
            }
        }
        goodbye.armed = false;
        if self.retire.is_cancelled() && !self.shutdown.is_cancelled() {
            self.step_aside("removed by a config reload".to_owned())
                .await;
        }
        // Anything still in the inbox goes back to the queue (shutdown fails it there).
        self.inbox.close();
        if let Some(job) = self.held.take() {
            self.scheduler.requeue(id.clone(), job).await;
        }
        while let Ok(job) = self.inbox.try_recv() {
            self.scheduler.requeue(id.clone(), job).await;
        }
        match Arc::try_unwrap(self.lane) {
            Ok(lane) => lane.close().await,
            Err(lane) => {
                warn!(lane = %id, "the lane's page is still in use at shutdown; leaving it to the browser");
                // A lane's own browser still closes gracefully: dropped, it would be killed
                // before writing its profile (the account's cookies), and a restart would find
                // the profile signed out or still held by the old process.
                if lane.host.owns_browser() {
                    lane.browser.close().await;
                }
            }
        }
        if self.retire.is_cancelled() && !self.shutdown.is_cancelled() {
            forget(&self.scheduler, &self.board, &id).await;
        }
    }

    async fn announce(&self) {
        let spec = &self.lane.spec;
        // The page may be a new one after a recovery; the live view follows it.
        self.board.set_screen(&spec.id, self.lane.tab.screen());
        self.scheduler
            .lane_up(spec.id.clone(), spec.provider, self.inbox_tx.clone())
            .await;
    }

    /// Waits for a job, a fault, or shutdown; answers fault injections meanwhile. First, while
    /// idle, the lane prepares its next chat (`super::warm`): a job that arrives meanwhile is
    /// taken and waits for it; a preparation that fails breaks the lane (it recovers, and the
    /// waiting job goes back to the queue). Then, when one is due and nothing waits, the lane
    /// purges its page's memory, or reloads the page once it served `refresh_every` requests
    /// (`super::purge`), with the same rules.
    async fn idle(&mut self) -> Next {
        let lane = self.lane.clone();
        let id = lane.spec.id.clone();
        // A job the scheduler handed over with the end of the last one (a queue) is in the
        // inbox already: it prepares its own chat, in one script with its own settings.
        let calm = !(self.shutdown.is_cancelled()
            || self.retire.is_cancelled()
            || self.crashes.has_changed().unwrap_or(true));
        if calm {
            if let Ok(job) = self.inbox.try_recv() {
                return Next::Job(job);
            }
        }
        let setup = lane.warm.to_prepare();
        let preparing = setup.is_some();
        if preparing {
            self.board
                .set_next_chat(&id, super::warm::NextChat::Preparing);
        }
        // After the next chat, the network records the last requests left (`super::purge`):
        // off the next request's way, unless one is already waiting.
        let records = lane.purge.records_kept();
        let tidying = preparing || records;
        let prep = async {
            if !tidying {
                return std::future::pending().await;
            }
            if preparing {
                lane.prepare_next().await?;
            }
            if records {
                (lane.forget_network_records().await).map_err(|e| {
                    format!("could not clear the page's network records while idle: {e}")
                })?;
            }
            Ok::<(), String>(())
        };
        tokio::pin!(prep);
        let mut prepared = !tidying;
        if prepared {
            self.board.set_next_chat(&id, lane.warm.shown());
        }
        // The purge in flight, if any: started only while idle with nothing waiting.
        let mut purging: Option<
            futures::future::BoxFuture<'static, Result<super::purge::Tidy, String>>,
        > = None;
        loop {
            let watchdog = tokio::time::sleep(WATCHDOG_INTERVAL);
            let purge_due = lane.purge.due_after();
            let may_purge = prepared && purging.is_none() && self.held.is_none();
            let purge_timer = tokio::time::sleep(purge_due.unwrap_or(WATCHDOG_INTERVAL));
            let settled = prepared && purging.is_none();
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Next::Shutdown,
                _ = self.retire.cancelled() => return Next::Retire,
                _ = lane.browser.closed() => {
                    return Next::Broken(Cause::Browser, "the browser went away".to_owned());
                }
                changed = self.crashes.changed() => {
                    self.crashes.mark_unchanged();
                    let why = if changed.is_ok() {
                        "the page crashed"
                    } else {
                        "the page's task ended"
                    };
                    return Next::Broken(Cause::Page, why.to_owned());
                }
                done = &mut prep, if !prepared => {
                    prepared = true;
                    self.board.set_next_chat(&id, lane.warm.shown());
                    if let Err(why) = done {
                        warn!(lane = %id, cause = %why, "{}: getting the page ready for the next request failed; the lane recovers", lane.spec.label);
                        lane.note(&why);
                        self.board.set_failure(&id, &why, None);
                        return Next::Broken(Cause::Page, why);
                    }
                    if let Some(job) = self.held.take() {
                        return Next::Job(job);
                    }
                }
                Some(done) = futures::future::OptionFuture::from(purging.as_mut()), if purging.is_some() => {
                    purging = None;
                    match done {
                        Ok(super::purge::Tidy::Collect) => self.board.purged(&id),
                        Ok(super::purge::Tidy::Reload) => {
                            // A new document, showing a new chat the next request sets up.
                            self.board.set_next_chat(&id, lane.warm.shown());
                            self.board.refreshed(&id);
                        }
                        Err(why) => {
                            warn!(lane = %id, cause = %why, "{}: the idle purge of its page failed; the lane recovers", lane.spec.label);
                            lane.note(&why);
                            self.board.set_failure(&id, &why, None);
                            return Next::Broken(Cause::Hung, why);
                        }
                    }
                    if let Some(job) = self.held.take() {
                        return Next::Job(job);
                    }
                }
                Some(c) = self.control.recv() => {
                    if matches!(c.fault, Fault::SwitchAccount) && settled {
                        return Next::Switch(c.reply);
                    }
                    inject(&lane, c, &mut self.panic_next).await;
                }
                job = self.inbox.recv(), if self.held.is_none() => match job {
                    Some(job) if settled => return Next::Job(job),
                    Some(job) => {
                        // Its lane time starts now: the wait for the preparation (or the
                        // purge) is the lane's.
                        job.clock.take();
                        self.held = Some(job);
                    }
                    None => return Next::Shutdown,
                },
                // Biased: a job in the inbox is taken above before a purge can start.
                () = purge_timer, if may_purge && purge_due.is_some() => {
                    let lane = lane.clone();
                    purging = Some(Box::pin(async move { lane.purge_or_refresh().await }));
                }
                () = watchdog, if settled => {
                    if let Err(e) = lane.tab.eval("the watchdog's ping", "1", WATCHDOG_TIMEOUT).await {
                        return Next::Broken(Cause::Hung, format!("the page stopped answering ({e})"));
                    }
                }
            }
        }
    }

    /// Runs one job in a task of its own, then decides what the lane does next.
    async fn serve(&mut self, job: Job) -> bool {
        job.clock.take();
        let lane = self.lane.clone();
        let id = lane.spec.id.clone();
        if job.cancel.is_cancelled() {
            // Cancelled while the job waited in the inbox: by its client (gone), or by the
            // request controls or shutdown, whose reason its client hears.
            if let Some(why) = job.reason.get() {
                let _ = job.events.send(StreamEvent::Error(why.to_owned())).await;
            }
            drop(job);
            self.scheduler.finished(id).await;
            return true;
        }
        // The request takes the page's chat, prepared or not.
        self.board.set_next_chat(&id, super::warm::NextChat::None);
        // The supervisor's own handle on the client: a panicking job still gets its error.
        let events = job.events.clone();
        let mut job = job;
        let mut lane = lane;
        let mut first = true;
        let outcome = loop {
            // Retry With Another Account: only a first attempt on a lane with an account.
            lane.attempt
                .begin(first && lane.accounts.retries() && lane.accounts.held(&id).is_some());
            let (outcome, back) = self.attempt(&lane, job).await;
            match (outcome, back) {
                (Outcome::Failed(msg, super::relay::Cause::Account), Some(again)) => {
                    drop(lane);
                    match self.switch_account(&msg).await {
                        Ok(()) => {
                            lane = self.lane.clone();
                            job = again;
                            first = false;
                        }
                        Err(Some(broken)) => {
                            // The lane did not come back on its new account: the client hears
                            // the first failure, the lane recovers as after a broken page.
                            let _ = again.events.send(StreamEvent::Error(msg)).await;
                            drop(again);
                            drop(events);
                            return self.recover(Cause::Page, broken).await;
                        }
                        Err(None) => {
                            // No spare account: the client hears the first failure and the
                            // lane stays offline; its siblings keep serving.
                            let _ = again.events.send(StreamEvent::Error(msg)).await;
                            drop(again);
                            drop(events);
                            return self.offline_for_good().await;
                        }
                    }
                }
                (outcome, _) => break outcome,
            }
        };
        drop(events);
        // Recovery needs the lane to itself.
        drop(lane);
        if self.shutdown.is_cancelled() {
            self.scheduler.finished(id).await;
            return false;
        }
        let verdict = match &outcome {
            Outcome::Completed => self.breaker.record(Instant::now(), true),
            Outcome::Failed(_, Cause::Request) | Outcome::Cancelled { .. } => Verdict::Serving,
            // A failed retry on a new account is the site's answer like any other.
            Outcome::Failed(..) => self.breaker.record(Instant::now(), false),
        };
        match (verdict, outcome) {
            (Verdict::Tripped { cooldown, reason }, outcome) => {
                let last = match outcome {
                    Outcome::Failed(msg, _) => msg,
                    _ => String::new(),
                };
                self.bench(cooldown, format!("{reason}; the last: {last}"))
                    .await
            }
            (Verdict::Serving, Outcome::Failed(msg, cause)) if cause.needs_recovery() => {
                self.recover(cause, msg).await
            }
            (Verdict::Serving, _) => {
                self.scheduler.finished(id).await;
                true
            }
        }
    }

    /// Runs one attempt of a job in a task of its own; gives the job back unless the task
    /// panicked (the panic's error has reached the client then).
    async fn attempt(&mut self, lane: &Arc<Lane>, job: Job) -> (Outcome, Option<Job>) {
        let id = lane.spec.id.clone();
        let events = job.events.clone();
        let (done, outcome) = oneshot::channel();
        let panic_now = std::mem::take(&mut self.panic_next);
        let task = {
            let lane = lane.clone();
            let board = self.board.clone();
            let shutdown = self.shutdown.clone();
            crate::tasks::spawn("lane-request", async move {
                if panic_now {
                    injected_panic();
                }
                let outcome = lane.handle(&job, &board, &shutdown).await;
                let _ = done.send((outcome, job));
            })
        };
        tokio::pin!(task);
        loop {
            tokio::select! {
                _ = &mut task => break,
                Some(c) = self.control.recv() => inject(lane, c, &mut self.panic_next).await,
            }
        }
        match outcome.await {
            Ok((outcome, job)) => (outcome, Some(job)),
            Err(_) => {
                let msg = format!(
                    "{} ({}): the lane hit an internal error (a bug; see the log) and is restarting. Try again.",
                    lane.spec.provider, lane.spec.label
                );
                error!(lane = %id, "the request's task panicked; failing the request and recovering the lane");
                let _ = events.send(StreamEvent::Error(msg.clone())).await;
                self.board.set_failure(&id, &msg, None);
                (Outcome::Failed(msg, Cause::Page), None)
            }
        }
    }

    /// Moves the lane to a spare account and restarts it there (`super::rotation`). `Err(None)`:
    /// no account is free; `Err(Some(why))`: the restart failed.
    async fn switch_account(&mut self, reason: &str) -> Result<(), Option<String>> {
        let board = self.board.clone();
        let Some(lane) = Arc::get_mut(&mut self.lane) else {
            let why = "the lane's page is still in use; cannot switch accounts (a bug)";
            error!(lane = %self.lane.spec.id, "{why}");
            return Err(Some(why.to_owned()));
        };
        let result = super::rotation::switch(lane, &board, reason).await;
        self.crashes = lane.capture.crashes();
        self.crashes.mark_unchanged();
        match result {
            Ok(_) => Ok(()),
            Err(super::rotation::SwitchError::NoSpare) => Err(None),
            Err(super::rotation::SwitchError::Restart(e)) => {
                let why = format!("restarting on the new account failed: {e}");
                warn!(lane = %lane.spec.id, "{why}");
                board.set_failure(&lane.spec.id, &why, None);
                Err(Some(why))
            }
        }
    }

    /// Switch Account by hand (behavior-spec §7.5: the same rotation). With no spare the lane
    /// keeps its account and serves on; a lane that does not come back recovers.
    async fn switch_by_hand(&mut self, reply: oneshot::Sender<Result<String, String>>) -> bool {
        let id = self.lane.spec.id.clone();
        if !self.lane.accounts.has_spare(&id, self.lane.spec.provider) {
            let _ = reply.send(Err(format!(
                "no spare saved account for {id}: every other selectable {} account is held by \
                 another lane (or there is none); `switchyard accounts add` one and restart",
                self.lane.spec.provider
            )));
            return true;
        }
        self.step_aside("switching accounts by hand".to_owned())
            .await;
        match self.switch_account("a manual Switch Account").await {
            Ok(()) => {
                let email = self
                    .lane
                    .accounts
                    .held(&id)
                    .map(|h| h.email)
                    .unwrap_or_default();
                let _ = reply.send(Ok(email));
                self.announce().await;
                true
            }
            Err(None) => {
                let _ = reply.send(Err(super::rotation::NO_SPARE.to_owned()));
                self.offline_for_good().await
            }
            Err(Some(why)) => {
                let _ = reply.send(Err(why.clone()));
                self.recover(Cause::Page, why).await
            }
        }
    }

    /// No spare account: the lane goes offline until the next restart (its inbox goes back to
    /// the queue) and its supervisor ends, closing the page.
    async fn offline_for_good(&mut self) -> bool {
        let id = self.lane.spec.id.clone();
        self.step_aside(super::rotation::NO_SPARE.to_owned()).await;
        self.scheduler
            .lane_offline(id, super::rotation::NO_SPARE.to_owned())
            .await;
        false
    }

    /// Tells the scheduler the lane is recovering, then hands back what sat in its inbox.
    async fn step_aside(&mut self, reason: String) {
        let id = self.lane.spec.id.clone();
        self.scheduler.lane_recovering(id.clone(), reason).await;
        // The scheduler has applied it: nothing more arrives until the lane is up again.
        if let Some(job) = self.held.take() {
            self.scheduler.requeue(id.clone(), job).await;
        }
        while let Ok(job) = self.inbox.try_recv() {
            self.scheduler.requeue(id.clone(), job).await;
        }
    }

    /// Brings the lane back: reload, new context, relaunch, with backoff. Returns `false` on
    /// shutdown.
    async fn recover(&mut self, cause: Cause, why: String) -> bool {
        let id = self.lane.spec.id.clone();
        let label = self.lane.spec.label.clone();
        warn!(lane = %id, cause = %why, "{label} is recovering");
        let provider = self.lane.spec.provider;
        metrics::lane_crashed(
            provider,
            match cause {
                Cause::Page => "page",
                Cause::Hung => "hung",
                Cause::Browser => "browser",
                Cause::Site | Cause::Request | Cause::Account => "site",
            },
        );
        self.lane.note(format!("recovering: {why}"));
        self.step_aside(why.clone()).await;
        let began = Instant::now();
        let mut attempt = 0u32;
        loop {
            let pause = backoff(attempt);
            if !pause.is_zero() {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return false,
                    _ = self.retire.cancelled() => return false,
                    () = tokio::time::sleep(pause) => {}
                }
            }
            let step = Step::pick(
                attempt,
                cause,
                self.lane.browser.is_closed(),
                self.lane.host.owns_browser(),
            );
            let shutdown = self.shutdown.clone();
            let result = tokio::select! {
                _ = shutdown.cancelled() => return false,
                r = self.apply(step) => r,
            };
            match result {
                Ok(()) => {
                    self.board.restarted(&id);
                    metrics::lane_recovery_attempt(provider, true);
                    metrics::lane_restarted(provider, step.name());
                    let remote = self.lane.browser.endpoint();
                    let words = step.words(remote.is_some());
                    info!(
                        lane = %id, endpoint = remote.unwrap_or("-"),
                        "{label} is back: it {words} in {:.2}s", began.elapsed().as_secs_f64()
                    );
                    self.lane.note(format!("back: {words}"));
                    self.announce().await;
                    return true;
                }
                Err(e) => {
                    metrics::lane_recovery_attempt(provider, false);
                    attempt += 1;
                    let next = backoff(attempt);
                    warn!(
                        lane = %id, attempt, cause = %e,
                        "{label} did not recover ({:?}); trying again in {:.2}s", step, next.as_secs_f64()
                    );
                    self.board
                        .set_failure(&id, &format!("recovery failed: {e}"), None);
                    if attempt == OFFLINE_AFTER {
                        self.scheduler
                            .lane_offline(
                                id.clone(),
                                format!(
                                    "could not recover after {attempt} attempts ({why}): {e}; \
                                     retrying every {}s",
                                    BACKOFF_CAP.as_secs()
                                ),
                            )
                            .await;
                    }
                }
            }
        }
    }

    /// The breaker tripped: offline for the cool-down, then a probe (the page brought back and
    /// one request). Returns `false` on shutdown.
    async fn bench(&mut self, mut cooldown: Duration, reason: String) -> bool {
        let id = self.lane.spec.id.clone();
        let label = self.lane.spec.label.clone();
        warn!(lane = %id, %reason, "{label} is benched for {}s", cooldown.as_secs());
        self.step_aside(format!("benched: {reason}")).await;
        loop {
            self.scheduler
                .lane_offline(
                    id.clone(),
                    format!(
                        "benched by its breaker: {reason}; probing again in {}s",
                        cooldown.as_secs()
                    ),
                )
                .await;
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = self.retire.cancelled() => return false,
                () = tokio::time::sleep(cooldown) => {}
            }
            self.breaker.half_open();
            let step = if self.lane.browser.is_closed() {
                Step::Relaunch
            } else {
                Step::Reload
            };
            let shutdown = self.shutdown.clone();
            let result = tokio::select! {
                _ = shutdown.cancelled() => return false,
                r = self.apply(step) => r,
            };
            match result {
                Ok(()) => {
                    info!(lane = %id, "{label} is half-open: its next request is the probe");
                    self.board.restarted(&id);
                    metrics::lane_recovery_attempt(self.lane.spec.provider, true);
                    metrics::lane_restarted(self.lane.spec.provider, step.name());
                    self.announce().await;
                    return true;
                }
                Err(e) => {
                    metrics::lane_recovery_attempt(self.lane.spec.provider, false);
                    cooldown = self.breaker.probe_failed();
                    warn!(lane = %id, cause = %e, "{label}'s probe failed; benched for {}s", cooldown.as_secs());
                    self.board
                        .set_failure(&id, &format!("probe failed: {e}"), None);
                }
            }
        }
    }

    /// Runs one recovery step on the lane.
    async fn apply(&mut self, step: Step) -> Result<(), String> {
        let Some(lane) = Arc::get_mut(&mut self.lane) else {
            return Err("the lane's page is still in use (a bug)".to_owned());
        };
        let result = match step {
            Step::Reload => lane.reload().await,
            Step::NewContext => lane.new_context().await,
            Step::Relaunch => lane.relaunch(&self.board).await,
        };
        // A crash during the reload itself shows up on the new counter.
        self.crashes = lane.capture.crashes();
        self.crashes.mark_unchanged();
        result
    }
}

/// A lane a config reload removed has stopped: the scheduler and the board forget it.
pub(super) async fn forget(scheduler: &Scheduler, board: &Board, id: &crate::ids::LaneId) {
    scheduler.remove(id.clone()).await;
    board.remove(id);
    info!(lane = %id, "the lane is stopped and removed (config reload)");
}

/// Carries out a fault injection.
async fn inject(lane: &Lane, control: Control, panic_next: &mut bool) {
    let id = &lane.spec.id;
    warn!(lane = %id, fault = ?control.fault, "fault injection");
    let result = match control.fault {
        Fault::Crash => lane
            .tab
            .crash()
            .await
            .map(|()| format!("crashed the renderer of {id}"))
            .map_err(|e| e.to_string()),
        Fault::KillBrowser => {
            let pid = lane
                .browser
                .pid()
                .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
            lane.browser
                .kill()
                .await
                .map(|()| format!("killed the browser of {id} (pid {pid})"))
                .map_err(|e| e.to_string())
        }
        Fault::Hang => lane
            .tab
            .hang()
            .await
            .map(|()| format!("the renderer of {id} runs an endless script"))
            .map_err(|e| e.to_string()),
        Fault::Panic => {
            *panic_next = true;
            Ok(format!("the next request on {id} panics"))
        }
        Fault::SwitchAccount => Err(format!(
            "{id} is running a request; switch its account once it is ready again"
        )),
        Fault::PanicSupervisor => {
            let _ = control
                .reply
                .send(Ok(format!("the supervisor of {id} panics now")));
            injected_panic();
            return;
        }
    };
    let _ = control.reply.send(result);
}

#[expect(
    clippy::panic,
    reason = "fault injection: a panic on purpose, to test recovery"
)]
fn injected_panic() {
    panic!("fault injection: a panic on purpose");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_once_doubles_and_is_capped() {
        let ms: Vec<u128> = (0..10).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(ms[..5], [0, 250, 500, 1000, 2000]);
        assert_eq!(backoff(40), BACKOFF_CAP);
    }

    #[test]
    fn recovery_escalates_from_reload_to_new_context_to_relaunch() {
        let steps: Vec<Step> = (0..5)
            .map(|a| Step::pick(a, Cause::Page, false, true))
            .collect();
        assert_eq!(
            steps,
            [
                Step::Reload,
                Step::NewContext,
                Step::NewContext,
                Step::Relaunch,
                Step::Relaunch
            ]
        );
        // A shared browser is not relaunched for one lane's page.
        assert_eq!(Step::pick(4, Cause::Page, false, false), Step::NewContext);
        // A renderer that stopped answering would not reload: a new context at once.
        assert_eq!(Step::pick(0, Cause::Hung, false, true), Step::NewContext);
        // A dead browser is relaunched at once.
        assert_eq!(Step::pick(0, Cause::Page, true, false), Step::Relaunch);
        assert_eq!(Step::pick(0, Cause::Browser, false, true), Step::Relaunch);
    }
}
