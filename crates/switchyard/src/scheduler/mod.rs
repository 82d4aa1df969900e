//! The request queue: admission, the three queue modes, lane choice and cancellation.
//!
//! One owner task ([`run`]) holds the queue state ([`core::Core`]) and is reached through the
//! cloneable [`Scheduler`] handle. Lanes announce themselves with [`Scheduler::lane_up`] (giving
//! the inbox their jobs arrive on) and report [`Scheduler::finished`] after each request; the
//! API submits and cancels.
//!
//! Architecture Invariant: the scheduler never touches a page or chromiumoxide. It knows lanes
//! only as ids, provider kinds and inboxes.

#[cfg(test)]
mod chaos;
pub mod core;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ids::{LaneId, RequestId};
use crate::lanes::board::Board;
use crate::models::ProviderKind;
use crate::providers::StreamEvent;
use crate::shaping::ShapedRequest;
pub use core::{Concurrency, JobMeta, QUEUE_CAPACITY, Rejection, Snapshot};

/// Room in the scheduler's command channel before senders wait.
const COMMAND_CAPACITY: usize = 1024;

/// Room for events between a lane and the client connection. A slow client slows its own lane's
/// relay, never another lane.
pub const EVENT_CAPACITY: usize = 256;

/// One request as a lane receives it.
#[derive(Debug)]
pub struct Job {
    pub id: RequestId,
    pub request: Arc<ShapedRequest>,
    /// Where the lane sends the answer. The API holds the receiver; the lane drops the sender
    /// after the last event.
    pub events: mpsc::Sender<StreamEvent>,
    /// Cancelled when the client goes away; the lane then stops the generation in the page.
    pub cancel: CancellationToken,
    /// Set, before `cancel`, when someone other than the client stopped the request (the
    /// request controls, shutdown): the message its client gets as an error event.
    pub reason: StopReason,
    /// Set by the lane, before it sends the error event, with what kind of failure it was: the
    /// status a non-streaming client gets depends on it.
    pub failure: FailureNote,
    /// The provider's stream timeouts as configured when the request arrived (a config reload
    /// applies to the next request without restarting the lane).
    pub timeouts: Timeouts,
    /// Set by the scheduler on admission: until when the request may wait for a lane, and the
    /// configured wait. A request a recovering lane hands back keeps it.
    pub queue_deadline: Option<(Instant, Duration)>,
    /// Set by the lane when it takes the job: where the request's lane time starts (the
    /// overhead metric, `api::stats`).
    pub clock: LaneClock,
}

/// When a lane took a job. Every clone is the same cell; the first mark wins.
#[derive(Debug, Clone, Default)]
pub struct LaneClock(Arc<OnceLock<std::time::Instant>>);

impl LaneClock {
    /// The lane takes the job now.
    pub fn take(&self) {
        let _ = self.0.set(std::time::Instant::now());
    }

    /// When a lane took the job, if one did.
    pub fn taken(&self) -> Option<std::time::Instant> {
        self.0.get().copied()
    }
}

/// A provider's stream timeouts, for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Error if the site sends nothing for this long after Send.
    pub first_chunk: Duration,
    /// Error if the stream pauses this long.
    pub idle: Duration,
}

/// What kind of failure ended a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The site said to slow down (rate limit, quota, at capacity): 429.
    RateLimited,
    /// The site went silent past a timeout: 504.
    Timeout,
    /// The site's content filter refused the request: 400, as OpenAI answers a content-policy
    /// refusal (sending it again will not help).
    Blocked,
    /// The site does not serve the model the request selects (found only in the page, before
    /// the site's list was known): 400 `model_not_found`.
    ModelNotFound,
    /// The site answered with a failure of another kind: 502.
    Site,
    /// The gateway's side failed (page, browser, lane): 500.
    Gateway,
}

/// The [`FailureClass`] of a request, set once by its lane. Every clone is the same cell.
#[derive(Debug, Clone, Default)]
pub struct FailureNote(Arc<OnceLock<FailureClass>>);

impl FailureNote {
    /// Records the class unless one is already set.
    pub fn set(&self, class: FailureClass) {
        let _ = self.0.set(class);
    }

    pub fn get(&self) -> Option<FailureClass> {
        self.0.get().copied()
    }
}

/// Why a request was stopped by someone other than its client: the text its client sees.
/// The first reason set wins. Cheap to clone; every clone is the same cell.
#[derive(Debug, Clone, Default)]
pub struct StopReason(Arc<OnceLock<String>>);

impl StopReason {
    /// Records the reason unless one is already set.
    pub fn set(&self, message: impl Into<String>) {
        let _ = self.0.set(message.into());
    }

    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The reference's in-stream messages for requests stopped through the controls.
pub mod messages {
    /// A queued request removed because its client went away.
    pub const CANCELLED: &str = "Request cancelled.";
    /// Every running request stopped (`POST /api/queue/stop`).
    pub const ABORTED_FROM_UI: &str = "Request aborted from UI.";
    /// Every pending request removed (`POST /api/queue/clear`).
    pub const QUEUE_CLEARED: &str = "Request queue cleared from UI.";

    /// One request cancelled (`POST /api/requests/{id}/cancel`).
    pub fn cancelled_from_ui(id: &super::RequestId) -> String {
        format!("Request {id} cancelled from UI.")
    }
}

/// What a request control found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlOutcome {
    /// The request was queued and is now removed.
    Removed,
    /// The request was running; its lane is stopping it in the page.
    Stopping,
    /// No such request is queued or running.
    NotFound,
}

enum Command {
    Submit {
        provider: ProviderKind,
        meta: JobMeta,
        job: Job,
        reply: oneshot::Sender<Result<(), Rejection>>,
        /// How long the job may wait for a lane.
        queue_timeout: Option<Duration>,
    },
    /// The lane's request is over; `ack` answers once the job it frees the lane for (if any)
    /// is in the lane's inbox.
    Finished {
        lane: LaneId,
        ack: oneshot::Sender<()>,
    },
    Cancel(RequestId),
    LaneUp {
        lane: LaneId,
        provider: ProviderKind,
        inbox: mpsc::Sender<Job>,
    },
    LaneRecovering {
        lane: LaneId,
        reason: String,
        ack: oneshot::Sender<()>,
    },
    Requeue {
        lane: LaneId,
        job: Job,
    },
    LaneOffline {
        lane: LaneId,
        reason: String,
    },
    /// A config reload removes the lane: it is not picked again. Replies once applied.
    Retire {
        lane: LaneId,
        reason: String,
        ack: oneshot::Sender<()>,
    },
    /// A retired lane has stopped; forget it.
    Remove(LaneId),
    /// A config reload changed the queue's concurrency.
    SetConcurrency(Concurrency),
    Snapshot(oneshot::Sender<Snapshot>),
    /// A request control: one request, stopped or removed with its reason.
    Control {
        id: RequestId,
        reply: oneshot::Sender<ControlOutcome>,
    },
    /// Stops every running request with `reason`; replies with their ids.
    StopRunning {
        reason: String,
        reply: oneshot::Sender<Vec<RequestId>>,
    },
    /// Removes every pending request, failing it with `reason`; replies with their ids.
    ClearPending {
        reason: String,
        reply: oneshot::Sender<Vec<RequestId>>,
    },
    /// A queued request's place: (1-based position, requests waiting in the same line).
    Position {
        id: RequestId,
        reply: oneshot::Sender<Option<(usize, usize)>>,
    },
    /// Shutdown: refuse new requests and fail the pending ones with `reason`.
    Close {
        reason: String,
        reply: oneshot::Sender<()>,
    },
    /// Replies once no request is running.
    WhenIdle(oneshot::Sender<()>),
}

/// A handle to the scheduler task. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::Sender<Command>,
    board: Board,
}

/// The scheduler task has stopped (the gateway is shutting down).
#[derive(Debug)]
pub struct SchedulerGone;

impl Scheduler {
    /// Starts the scheduler task. It is the one writer of each lane's state on `board`.
    pub fn spawn(concurrency: Concurrency, board: Board) -> Scheduler {
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        crate::tasks::spawn("scheduler", run(concurrency, rx, board.clone()));
        Scheduler { tx, board }
    }

    /// The lane board the scheduler keeps in step with its lane states.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Admits a job into its provider's queue.
    pub async fn submit(
        &self,
        provider: ProviderKind,
        meta: JobMeta,
        job: Job,
    ) -> Result<Result<(), Rejection>, SchedulerGone> {
        self.submit_within(provider, meta, job, None).await
    }

    /// Admits a job that fails with a clear message if it waits in the queue longer than
    /// `queue_timeout` (`providers.<p>.queue_timeout_secs`).
    pub async fn submit_within(
        &self,
        provider: ProviderKind,
        meta: JobMeta,
        job: Job,
        queue_timeout: Option<Duration>,
    ) -> Result<Result<(), Rejection>, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Submit {
            provider,
            meta,
            job,
            reply,
            queue_timeout,
        })
        .await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    /// `POST /api/requests/{id}/cancel`: a queued request is removed, a running one stopped in
    /// the page; its client gets `Request <id> cancelled from UI.`.
    pub async fn cancel_from_ui(&self, id: RequestId) -> Result<ControlOutcome, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Control { id, reply }).await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    /// Stops every running request; their clients get `reason`.
    pub async fn stop_running(&self, reason: &str) -> Result<Vec<RequestId>, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        let reason = reason.to_owned();
        self.send(Command::StopRunning { reason, reply }).await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    /// Removes every pending request; their clients get `reason`.
    pub async fn clear_pending(&self, reason: &str) -> Result<Vec<RequestId>, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        let reason = reason.to_owned();
        self.send(Command::ClearPending { reason, reply }).await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    /// Where a queued request stands: `(position, of)`, both counting the requests that wait
    /// for the same lanes; `None` once it runs (or is gone).
    pub async fn position(&self, id: RequestId) -> Option<(usize, usize)> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Position { id, reply }).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Shutdown's first step: new requests are refused (as "shutting down") and the pending
    /// ones fail with `reason`. Running requests go on.
    pub async fn close(&self, reason: &str) {
        let (reply, rx) = oneshot::channel();
        let reason = reason.to_owned();
        if self.send(Command::Close { reason, reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Resolves once no request is running (at once if none is).
    pub async fn idle(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::WhenIdle(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Removes a queued request; a running one is stopped by its lane through the job's token.
    pub async fn cancel(&self, id: RequestId) {
        let _ = self.send(Command::Cancel(id)).await;
    }

    /// Like [`Scheduler::cancel`], for `Drop` impls that cannot await.
    pub fn cancel_soon(&self, id: RequestId) {
        if self.tx.try_send(Command::Cancel(id.clone())).is_err() {
            let tx = self.tx.clone();
            crate::tasks::spawn("cancel", async move {
                let _ = tx.send(Command::Cancel(id)).await;
            });
        }
    }

    /// The lane's request is over. Returns once the scheduler has applied it: a job it hands
    /// the lane at once is then in the lane's inbox (the lane looks there before it prepares
    /// its next chat, `lanes::warm`).
    pub async fn finished(&self, lane: LaneId) {
        let (ack, rx) = oneshot::channel();
        if self.send(Command::Finished { lane, ack }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The lane is ready (at start, or back after recovering) and takes jobs on `inbox`.
    pub async fn lane_up(&self, lane: LaneId, provider: ProviderKind, inbox: mpsc::Sender<Job>) {
        let _ = self
            .send(Command::LaneUp {
                lane,
                provider,
                inbox,
            })
            .await;
    }

    /// The lane is recovering and is not picked until [`Scheduler::lane_up`]. Returns once the
    /// scheduler has applied it: every job dispatched to the lane is then in its inbox, and the
    /// lane hands those back with [`Scheduler::requeue`].
    pub async fn lane_recovering(&self, lane: LaneId, reason: String) {
        let (ack, rx) = oneshot::channel();
        if self
            .send(Command::LaneRecovering { lane, reason, ack })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Gives back a job a recovering lane was dispatched but never started; it keeps its place
    /// in its provider's queue.
    pub async fn requeue(&self, lane: LaneId, job: Job) {
        if let Err(mpsc::error::SendError(Command::Requeue { job, .. })) =
            self.tx.send(Command::Requeue { lane, job }).await
        {
            fail(
                job,
                "switchyard is shutting down; the request was not started.",
            );
        }
    }

    /// Takes the lane out of service with the reason (shown on `/api/lanes`).
    pub async fn lane_offline(&self, lane: LaneId, reason: String) {
        let _ = self.send(Command::LaneOffline { lane, reason }).await;
    }

    /// [`Scheduler::lane_offline`] for `Drop` impls (a lane task that ends unexpectedly).
    pub fn lane_offline_soon(&self, lane: LaneId, reason: String) {
        let cmd = Command::LaneOffline { lane, reason };
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.tx.try_send(cmd) {
            let tx = self.tx.clone();
            crate::tasks::spawn("lane-offline", async move {
                let _ = tx.send(cmd).await;
            });
        }
    }

    /// A config reload removes the lane: from now on it is never picked; a request it runs
    /// goes on. If it was its provider's last lane, the provider's queued requests fail with
    /// `reason`. Returns once applied.
    pub async fn retire(&self, lane: LaneId, reason: String) {
        let (ack, rx) = oneshot::channel();
        if self
            .send(Command::Retire { lane, reason, ack })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// A retired lane has stopped (after handing back its inbox with
    /// [`Scheduler::requeue`]): the scheduler forgets it.
    pub async fn remove(&self, lane: LaneId) {
        let _ = self.send(Command::Remove(lane)).await;
    }

    /// A config reload changed how requests share the lanes: running requests go on, the
    /// next dispatch follows `concurrency`.
    pub async fn set_concurrency(&self, concurrency: Concurrency) {
        let _ = self.send(Command::SetConcurrency(concurrency)).await;
    }

    pub async fn snapshot(&self) -> Result<Snapshot, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Snapshot(reply)).await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    async fn send(&self, cmd: Command) -> Result<(), SchedulerGone> {
        self.tx.send(cmd).await.map_err(|_| SchedulerGone)
    }
}

/// What the owner task keeps besides the core: lane inboxes, the running requests' controls,
/// queue deadlines and idle waiters.
#[derive(Default)]
struct Books {
    inboxes: HashMap<LaneId, mpsc::Sender<Job>>,
    /// Per busy lane: its request, and the token and reason to stop it with.
    running: HashMap<LaneId, (RequestId, CancellationToken, StopReason)>,
    /// Queued requests with a queue timeout, by deadline (the `u64` breaks ties).
    deadlines: BTreeMap<(Instant, u64), (RequestId, ProviderKind, Duration)>,
    next_deadline: u64,
    /// Set by shutdown: new requests are refused.
    closed: bool,
    /// Waiting for no request to run.
    idle_waiters: Vec<oneshot::Sender<()>>,
    /// Answered once the current command's dispatches are delivered.
    delivered: Vec<oneshot::Sender<()>>,
}

impl Books {
    /// Fails the queued request `id` if it still waits at `at`.
    fn watch_deadline(
        &mut self,
        at: Instant,
        id: RequestId,
        provider: ProviderKind,
        after: Duration,
    ) {
        self.next_deadline += 1;
        self.deadlines
            .insert((at, self.next_deadline), (id, provider, after));
    }
}

/// The owner task: applies commands to the core, delivers its dispatches, and publishes the
/// lane states to the board.
async fn run(concurrency: Concurrency, mut rx: mpsc::Receiver<Command>, board: Board) {
    let mut core: core::Core<Job> = core::Core::new(concurrency);
    let mut books = Books::default();
    loop {
        let next_deadline = books.deadlines.keys().next().map(|(at, _)| *at);
        let cmd = tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(cmd) => cmd,
                None => break,
            },
            // A queued request waited too long; the branch only exists while one waits.
            () = async {
                match next_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                expire(&mut core, &mut books);
                continue;
            }
        };
        let lanes_changed = !matches!(
            cmd,
            Command::Snapshot(_) | Command::Position { .. } | Command::WhenIdle(_)
        );
        let dispatches = apply(&mut core, &mut books, cmd);
        for d in dispatches {
            deliver(&mut core, &mut books, d);
        }
        for ack in books.delivered.drain(..) {
            let _ = ack.send(());
        }
        if lanes_changed {
            board.sync(core.lane_refs());
        }
        if core.running() == 0 {
            for waiter in books.idle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

/// Fails the queued requests whose queue timeout has passed.
fn expire(core: &mut core::Core<Job>, books: &mut Books) {
    let now = Instant::now();
    while let Some(entry) = books.deadlines.first_entry() {
        if entry.key().0 > now {
            break;
        }
        let (id, provider, waited) = entry.remove();
        if let core::Cancelled::Dequeued(job) = core.cancel(&id) {
            warn!(request = %id, "failing a queued request: it waited past its provider's queue timeout");
            fail(
                job,
                &format!(
                    "The request waited {}s in the {provider} queue without a free lane \
                     (providers.{}.queue_timeout_secs); try again later, or add lanes.",
                    waited.as_secs(),
                    provider.prefix()
                ),
            );
        }
    }
}

/// Applies one command; returns the dispatches it made possible.
fn apply(core: &mut core::Core<Job>, books: &mut Books, cmd: Command) -> Vec<core::Dispatch<Job>> {
    match cmd {
        Command::Submit {
            provider,
            meta,
            job,
            reply,
            queue_timeout,
        } => {
            if books.closed {
                // Dropping the reply tells the API the gateway is shutting down.
                drop(reply);
                return Vec::new();
            }
            let id = job.id.clone();
            let mut job = job;
            job.queue_deadline = queue_timeout.map(|after| (Instant::now() + after, after));
            let deadline = job.queue_deadline;
            match core.submit(id.clone(), provider, meta, job) {
                Ok(d) => {
                    let _ = reply.send(Ok(()));
                    if let Some((at, after)) = deadline {
                        books.watch_deadline(at, id, provider, after);
                    }
                    d
                }
                Err((rejection, _job)) => {
                    let _ = reply.send(Err(rejection));
                    Vec::new()
                }
            }
        }
        Command::Finished { lane, ack } => {
            books.running.remove(&lane);
            books.delivered.push(ack);
            core.finished(&lane)
        }
        Command::Cancel(id) => {
            match core.cancel(&id) {
                core::Cancelled::Dequeued(job) => {
                    info!(request = %id, "removed a queued request: the client went away");
                    fail(job, messages::CANCELLED);
                }
                core::Cancelled::Running(lane) => {
                    info!(request = %id, %lane, "stopping a running request: the client went away");
                }
                core::Cancelled::NotFound => {}
            }
            Vec::new()
        }
        Command::LaneUp {
            lane,
            provider,
            inbox,
        } => {
            books.inboxes.insert(lane.clone(), inbox);
            core.lane_up(lane, provider)
        }
        Command::LaneRecovering { lane, reason, ack } => {
            books.running.remove(&lane);
            let d = core.lane_recovering(&lane, &reason);
            let _ = ack.send(());
            d
        }
        Command::Requeue { lane, job } => {
            let id = job.id.clone();
            let deadline = job.queue_deadline;
            let provider = job.request.provider;
            match core.requeue(&lane, &id, job) {
                Ok(d) => {
                    info!(request = %id, %lane, "a recovering lane handed back a request; it waits for the next free lane");
                    // It keeps its original queue deadline (a passed one fails it at once,
                    // unless this very requeue dispatched it again).
                    if let Some((at, after)) = deadline {
                        if !d.iter().any(|d| d.id == id) {
                            books.watch_deadline(at, id, provider, after);
                        }
                    }
                    d
                }
                Err(job) => {
                    warn!(request = %id, %lane, "a lane handed back a request the queue did not know; failing it");
                    fail(
                        job,
                        &format!("Lane {lane} could not run the request. Try again."),
                    );
                    Vec::new()
                }
            }
        }
        Command::LaneOffline { lane, reason } => {
            books.running.remove(&lane);
            offline(core, &lane, &reason)
        }
        Command::Retire { lane, reason, ack } => {
            info!(%lane, "the lane is being removed: {reason}");
            let orphans = core.retire(&lane, &reason);
            fail_orphans(books, orphans, &lane, &reason);
            let _ = ack.send(());
            Vec::new()
        }
        Command::SetConcurrency(concurrency) => {
            info!("the queue now runs {concurrency:?} (config reload)");
            core.set_concurrency(concurrency)
        }
        Command::Remove(lane) => {
            books.running.remove(&lane);
            books.inboxes.remove(&lane);
            let (d, orphans) = core.remove(&lane);
            fail_orphans(books, orphans, &lane, "removed by a config reload");
            d
        }
        Command::Snapshot(reply) => {
            let _ = reply.send(core.snapshot());
            Vec::new()
        }
        Command::Control { id, reply } => {
            let message = messages::cancelled_from_ui(&id);
            let outcome = match core.cancel(&id) {
                core::Cancelled::Dequeued(job) => {
                    info!(request = %id, "removed a queued request: cancelled through the API");
                    fail(job, &message);
                    ControlOutcome::Removed
                }
                core::Cancelled::Running(lane) => {
                    info!(request = %id, %lane, "stopping a running request: cancelled through the API");
                    match books.running.get(&lane) {
                        Some((_, token, reason)) => {
                            reason.set(message);
                            token.cancel();
                            ControlOutcome::Stopping
                        }
                        None => ControlOutcome::NotFound,
                    }
                }
                core::Cancelled::NotFound => ControlOutcome::NotFound,
            };
            let _ = reply.send(outcome);
            Vec::new()
        }
        Command::StopRunning { reason, reply } => {
            let mut ids = Vec::new();
            for (lane, (id, token, why)) in &books.running {
                info!(request = %id, %lane, "stopping a running request: {reason}");
                why.set(reason.clone());
                token.cancel();
                ids.push(id.clone());
            }
            let _ = reply.send(ids);
            Vec::new()
        }
        Command::ClearPending { reason, reply } => {
            let ids = clear(core, books, &reason);
            let _ = reply.send(ids);
            Vec::new()
        }
        Command::Position { id, reply } => {
            let _ = reply.send(core.position(&id));
            Vec::new()
        }
        Command::Close { reason, reply } => {
            books.closed = true;
            clear(core, books, &reason);
            let _ = reply.send(());
            Vec::new()
        }
        Command::WhenIdle(reply) => {
            books.idle_waiters.push(reply);
            Vec::new()
        }
    }
}

/// Removes every pending request, failing each with `reason`.
fn clear(core: &mut core::Core<Job>, books: &mut Books, reason: &str) -> Vec<RequestId> {
    let mut ids = Vec::new();
    for (id, job) in core.clear() {
        info!(request = %id, "removed a queued request: {reason}");
        job.reason.set(reason);
        fail(job, reason);
        ids.push(id);
    }
    books.deadlines.retain(|_, (id, _, _)| !ids.contains(id));
    ids
}

/// Fails the queued requests of a provider whose last lane a reload removed.
fn fail_orphans(books: &mut Books, orphans: Vec<(RequestId, Job)>, lane: &LaneId, reason: &str) {
    for (id, job) in orphans {
        warn!(request = %id, %lane, "failing a queued request: its provider has no lane left");
        let provider = job.request.provider;
        books.deadlines.retain(|_, (d, _, _)| d != &id);
        fail(
            job,
            &format!(
                "No {provider} lane is left: {lane} was {reason}. Check the config and /api/lanes."
            ),
        );
    }
}

/// Takes a lane offline; a provider left without lanes fails its queued requests.
fn offline(core: &mut core::Core<Job>, lane: &LaneId, reason: &str) -> Vec<core::Dispatch<Job>> {
    warn!(%lane, %reason, "the lane is offline");
    let (dispatches, orphans) = core.lane_offline(lane, reason);
    for (id, job) in orphans {
        warn!(request = %id, %lane, "failing a queued request: its provider has no lane left");
        let provider = job.request.provider;
        fail(
            job,
            &format!(
                "No {provider} lane is available: {lane} is offline ({reason}). See /api/lanes."
            ),
        );
    }
    dispatches
}

/// Hands a dispatched job to its lane. A lane whose inbox is gone is taken offline and the job
/// goes back to its queue.
fn deliver(core: &mut core::Core<Job>, books: &mut Books, d: core::Dispatch<Job>) {
    let mut pending = vec![d];
    while let Some(d) = pending.pop() {
        books.deadlines.retain(|_, (id, _, _)| id != &d.id);
        let control = (d.id.clone(), d.job.cancel.clone(), d.job.reason.clone());
        let refused = match books.inboxes.get(&d.lane) {
            None => d.job,
            Some(inbox) => match inbox.try_send(d.job) {
                Ok(()) => {
                    books.running.insert(d.lane, control);
                    continue;
                }
                Err(
                    mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job),
                ) => job,
            },
        };
        warn!(lane = %d.lane, request = %d.id, "the lane's inbox refused a job; the lane is offline and the job goes back to the queue");
        books.inboxes.remove(&d.lane);
        books.running.remove(&d.lane);
        pending.extend(core.lane_recovering(&d.lane, "its task ended"));
        match core.requeue(&d.lane, &d.id, refused) {
            Ok(more) => pending.extend(more),
            Err(job) => fail(job, &format!("Lane {} is not running.", d.lane)),
        }
        pending.extend(offline(core, &d.lane, "its task ended"));
    }
}

fn fail(job: Job, message: &str) {
    let _ = job.events.try_send(StreamEvent::Error(message.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ProviderModels;
    use crate::models::RoutingTable;
    use crate::shaping::format::FormatSettings;
    use crate::shaping::{RequestOptions, Sampling, ShapingSettings};

    fn job(id: &str) -> (Job, mpsc::Receiver<StreamEvent>) {
        let format = FormatSettings::default();
        let settings = ShapingSettings {
            thinking: false,
            send_thinking: true,
            search: false,
            system_field: true,
            model: None,
            format: &format,
        };
        let choice = RoutingTable::new(
            [ProviderModels::with_labels(ProviderKind::DeepSeek, &[])],
            false,
        )
        .unwrap()
        .route("deepseek-chat")
        .unwrap();
        let options = RequestOptions {
            client_model: "deepseek-chat",
            sampling: Sampling::default(),
            effort: None,
            fields: Default::default(),
        };
        let request = crate::shaping::shape_text("hi", &choice, &settings, options);
        let (events, rx) = mpsc::channel(8);
        let job = Job {
            id: RequestId(id.to_owned()),
            request: Arc::new(request),
            events,
            cancel: CancellationToken::new(),
            reason: StopReason::default(),
            failure: FailureNote::default(),
            timeouts: Timeouts {
                first_chunk: Duration::from_secs(45),
                idle: Duration::from_secs(75),
            },
            queue_deadline: None,
            clock: LaneClock::default(),
        };
        (job, rx)
    }

    fn meta() -> JobMeta {
        JobMeta {
            model: "deepseek-chat".into(),
            stream: true,
            kind: "chat",
            queued_at: 0,
            key_name: None,
        }
    }

    #[tokio::test]
    async fn a_requeued_request_keeps_its_original_queue_deadline() {
        let scheduler = Scheduler::spawn(Concurrency::PerLane, Board::default());
        let lane = LaneId("deepseek:1".into());
        let (inbox, mut lane_inbox) = mpsc::channel(4);
        scheduler
            .lane_up(lane.clone(), ProviderKind::DeepSeek, inbox)
            .await;
        let (job, mut events) = job("r1");
        let admitted = scheduler
            .submit_within(
                ProviderKind::DeepSeek,
                meta(),
                job,
                Some(Duration::from_secs(1)),
            )
            .await;
        assert!(matches!(admitted, Ok(Ok(()))));
        // The lane got it, then went recovering before starting it, and hands it back.
        let job = tokio::time::timeout(Duration::from_secs(5), lane_inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(job.queue_deadline.is_some());
        scheduler
            .lane_recovering(lane.clone(), "the page crashed".into())
            .await;
        scheduler.requeue(lane.clone(), job).await;
        // The lane never comes back: the request fails at its original deadline, not never.
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the requeued request still times out")
            .unwrap();
        let StreamEvent::Error(msg) = event else {
            panic!("an error event, got {event:?}");
        };
        assert!(msg.contains("queue_timeout_secs"), "{msg}");
        let snap = scheduler.snapshot().await.unwrap();
        assert!(snap.pending.is_empty(), "{snap:?}");
    }
}
