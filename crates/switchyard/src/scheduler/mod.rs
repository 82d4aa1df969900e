//! The request queue: admission, the three queue modes, lane choice and cancellation.
//!
//! One owner task ([`run`]) holds the queue state ([`core::Core`]) and is reached through the
//! cloneable [`Scheduler`] handle. Lanes announce themselves with [`Scheduler::lane_up`] (giving
//! the inbox their jobs arrive on) and report [`Scheduler::finished`] after each request; the
//! API submits and cancels.
//!
//! Architecture Invariant: the scheduler never touches a page or chromiumoxide. It knows lanes
//! only as ids, provider kinds and inboxes.

pub mod core;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ids::{LaneId, RequestId};
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
    LaneDown(LaneId),
    Snapshot(oneshot::Sender<Snapshot>),
}

/// A handle to the scheduler task. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::Sender<Command>,
}

/// The scheduler task has stopped (the gateway is shutting down).
#[derive(Debug)]
pub struct SchedulerGone;

impl Scheduler {
    /// Starts the scheduler task.
    pub fn spawn(concurrency: Concurrency) -> Scheduler {
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        crate::tasks::spawn("scheduler", run(concurrency, rx));
        Scheduler { tx }
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

    pub async fn lane_up(&self, lane: LaneId, provider: ProviderKind, inbox: mpsc::Sender<Job>) {
        let _ = self
            .send(Command::LaneUp {
                lane,
                provider,
                inbox,
            })
            .await;
    }

    pub async fn lane_down(&self, lane: LaneId) {
        let _ = self.send(Command::LaneDown(lane)).await;
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

/// The owner task: applies commands to the core and delivers its dispatches.
async fn run(concurrency: Concurrency, mut rx: mpsc::Receiver<Command>) {
    let mut core: core::Core<Job> = core::Core::new(concurrency);
    let mut inboxes: HashMap<LaneId, mpsc::Sender<Job>> = HashMap::new();
    while let Some(cmd) = rx.recv().await {
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
            Command::LaneDown(lane) => {
                inboxes.remove(&lane);
                for (id, job) in core.lane_down(&lane) {
                    warn!(request = %id, %lane, "failing a queued request: its provider has no lane left");
                    let provider = job.request.provider;
                    fail(
                        job,
                        &format!(
                            "{provider} is not running. Restart switchyard to relaunch this provider's lanes."
                        ),
                    );
                }
                Vec::new()
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(core.snapshot());
                Vec::new()
            }
        };
        for d in dispatches {
            deliver(&mut core, &mut inboxes, d);
        }
    }
}

/// Hands a dispatched job to its lane. A lane whose inbox is gone is treated as down.
fn deliver(
    core: &mut core::Core<Job>,
    inboxes: &mut HashMap<LaneId, mpsc::Sender<Job>>,
    d: core::Dispatch<Job>,
) {
    let mut pending = vec![d];
    while let Some(d) = pending.pop() {
        let Some(inbox) = inboxes.get(&d.lane) else {
            fail(d.job, &format!("Lane {} is not running.", d.lane));
            pending.extend(core.finished(&d.lane));
            continue;
        };
        if let Err(err) = inbox.try_send(d.job) {
            let job = match err {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            warn!(lane = %d.lane, request = %d.id, "lane inbox refused a job; marking the lane down");
            inboxes.remove(&d.lane);
            fail(job, &format!("Lane {} is not running.", d.lane));
            for (id, job) in core.lane_down(&d.lane) {
                warn!(request = %id, "failing a queued request: its provider has no lane left");
                fail(job, "No lane of this provider is running.");
            }
        }
    }
}

fn fail(job: Job, message: &str) {
    let _ = job.events.try_send(StreamEvent::Error(message.to_owned()));
}
