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

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
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
}

enum Command {
    Submit {
        provider: ProviderKind,
        meta: JobMeta,
        job: Job,
        reply: oneshot::Sender<Result<(), Rejection>>,
    },
    Finished(LaneId),
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
    Snapshot(oneshot::Sender<Snapshot>),
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
        let (reply, rx) = oneshot::channel();
        self.send(Command::Submit {
            provider,
            meta,
            job,
            reply,
        })
        .await?;
        rx.await.map_err(|_| SchedulerGone)
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

    pub async fn finished(&self, lane: LaneId) {
        let _ = self.send(Command::Finished(lane)).await;
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
        if let Err(tokio::sync::mpsc::error::SendError(Command::Requeue { job, .. })) =
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

    pub async fn snapshot(&self) -> Result<Snapshot, SchedulerGone> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Snapshot(reply)).await?;
        rx.await.map_err(|_| SchedulerGone)
    }

    async fn send(&self, cmd: Command) -> Result<(), SchedulerGone> {
        self.tx.send(cmd).await.map_err(|_| SchedulerGone)
    }
}

/// The owner task: applies commands to the core, delivers its dispatches, and publishes the
/// lane states to the board.
async fn run(concurrency: Concurrency, mut rx: mpsc::Receiver<Command>, board: Board) {
    let mut core: core::Core<Job> = core::Core::new(concurrency);
    let mut inboxes: HashMap<LaneId, mpsc::Sender<Job>> = HashMap::new();
    while let Some(cmd) = rx.recv().await {
        let lanes_changed = !matches!(cmd, Command::Snapshot(_) | Command::Cancel(_));
        let dispatches = match cmd {
            Command::Submit {
                provider,
                meta,
                job,
                reply,
            } => match core.submit(job.id.clone(), provider, meta, job) {
                Ok(d) => {
                    let _ = reply.send(Ok(()));
                    d
                }
                Err((rejection, _job)) => {
                    let _ = reply.send(Err(rejection));
                    Vec::new()
                }
            },
            Command::Finished(lane) => core.finished(&lane),
            Command::Cancel(id) => {
                match core.cancel(&id) {
                    core::Cancelled::Dequeued(job) => {
                        info!(request = %id, "removed a queued request: the client went away");
                        fail(job, "Request cancelled.");
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
                inboxes.insert(lane.clone(), inbox);
                core.lane_up(lane, provider)
            }
            Command::LaneRecovering { lane, reason, ack } => {
                let d = core.lane_recovering(&lane, &reason);
                let _ = ack.send(());
                d
            }
            Command::Requeue { lane, job } => {
                let id = job.id.clone();
                match core.requeue(&lane, &id, job) {
                    Ok(d) => {
                        info!(request = %id, %lane, "a recovering lane handed back a request; it waits for the next free lane");
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
            Command::LaneOffline { lane, reason } => offline(&mut core, &lane, &reason),
            Command::Snapshot(reply) => {
                let _ = reply.send(core.snapshot());
                Vec::new()
            }
        };
        for d in dispatches {
            deliver(&mut core, &mut inboxes, d);
        }
        if lanes_changed {
            board.sync(&core.snapshot().lanes);
        }
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
fn deliver(
    core: &mut core::Core<Job>,
    inboxes: &mut HashMap<LaneId, mpsc::Sender<Job>>,
    d: core::Dispatch<Job>,
) {
    let mut pending = vec![d];
    while let Some(d) = pending.pop() {
        let refused = match inboxes.get(&d.lane) {
            None => d.job,
            Some(inbox) => match inbox.try_send(d.job) {
                Ok(()) => continue,
                Err(
                    mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job),
                ) => job,
            },
        };
        warn!(lane = %d.lane, request = %d.id, "the lane's inbox refused a job; the lane is offline and the job goes back to the queue");
        inboxes.remove(&d.lane);
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
