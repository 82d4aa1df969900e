//! A dummy lane: a lane with no page behind its inbox.
//!
//! It is announced to the scheduler and shown on the board like any lane, takes jobs from the
//! same kind of inbox, marks the job's [`LaneClock`](crate::scheduler::LaneClock), sends the
//! answer as the same `StreamEvent`s into the job's channel and reports `finished`, so routing,
//! admission, the queue modes, cancellation, queue comments and the SSE path are the ones real
//! lanes go through. What it sends is [`providers::dummy::script`](crate::providers::dummy):
//! deterministic, from the model ID and the prompt. A cancel (the client gone, the request
//! controls, shutdown) stops the answer at once and frees the lane; a config reload that
//! removes the lane lets it finish its request first, as a real lane does.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::board::Board;
use super::lane::SHUTDOWN_STOPPED;
use super::plan::LaneSpec;
use crate::providers::{StreamEvent, dummy};
use crate::scheduler::{FailureClass, Job, Scheduler};

/// How a dummy answer ended.
enum Ended {
    Completed,
    Failed(String),
    Cancelled,
    /// The client's side of the channel is gone (it disconnected; its cancel follows).
    Gone,
}

/// Runs one dummy lane until shutdown, or until a reload removes it.
pub async fn run(
    spec: LaneSpec,
    scheduler: Scheduler,
    board: Board,
    shutdown: CancellationToken,
    retire: CancellationToken,
) {
    let (inbox_tx, mut inbox) = mpsc::channel(super::INBOX_CAPACITY);
    scheduler
        .lane_up(spec.id.clone(), spec.provider, inbox_tx)
        .await;
    info!(lane = %spec.id, "{}: ready (a dummy lane, no browser)", spec.label);
    loop {
        let job = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = retire.cancelled() => break,
            job = inbox.recv() => match job {
                Some(job) => job,
                None => break,
            },
        };
        serve(&spec, job, &board, &shutdown).await;
        scheduler.finished(spec.id.clone()).await;
    }
    let retired = retire.is_cancelled() && !shutdown.is_cancelled();
    if retired {
        scheduler
            .lane_recovering(spec.id.clone(), "removed by a config reload".to_owned())
            .await;
    }
    // Anything still in the inbox goes back to the queue (shutdown fails it there).
    inbox.close();
    while let Ok(job) = inbox.try_recv() {
        scheduler.requeue(spec.id.clone(), job).await;
    }
    if retired {
        super::supervisor::forget(&scheduler, &board, &spec.id).await;
    }
}

/// Plays one job's dummy answer; the caller reports `finished`.
async fn serve(spec: &LaneSpec, job: Job, board: &Board, shutdown: &CancellationToken) {
    job.clock.take();
    if job.cancel.is_cancelled() {
        // Cancelled while it waited in the inbox.
        if let Some(why) = job.reason.get() {
            let _ = job.events.send(StreamEvent::Error(why.to_owned())).await;
        }
        return;
    }
    info!(lane = %spec.id, request = %job.id, model = %job.request.client_model,
          "Processing queued request for {}...", spec.label);
    let script = dummy::script(&job.request.client_model, &job.request.prompt, &spec.label);
    let ended = tokio::select! {
        biased;
        _ = job.cancel.cancelled() => Ended::Cancelled,
        _ = shutdown.cancelled() => {
            job.reason.set(SHUTDOWN_STOPPED);
            job.cancel.cancel();
            Ended::Cancelled
        }
        ended = play(&job, script) => ended,
    };
    match ended {
        Ended::Completed => {
            info!(lane = %spec.id, request = %job.id, "Request completed for {}.", spec.label)
        }
        Ended::Failed(msg) => {
            warn!(lane = %spec.id, request = %job.id, error = %msg, "Request failed for {}.", spec.label);
            board.set_failure(&spec.id, &msg, None);
        }
        Ended::Cancelled | Ended::Gone => {
            // Stopped by the controls or by shutdown: the client hears why.
            let why = job.reason.get();
            if let Some(why) = why {
                let _ = job.events.send(StreamEvent::Error(why.to_owned())).await;
            }
            let why = why.unwrap_or("the client went away");
            info!(lane = %spec.id, request = %job.id, "Request cancelled for {}: {why}", spec.label);
        }
    }
}

/// Sends the script's events at its pace.
async fn play(job: &Job, script: dummy::Script) -> Ended {
    let mut error = None;
    for step in script.steps {
        if step.pause > Duration::ZERO {
            tokio::time::sleep(step.pause).await;
        }
        if let StreamEvent::Error(msg) = &step.event {
            // Before the client can read it: a non-streaming client's status depends on it.
            job.failure.set(FailureClass::Site);
            error = Some(msg.clone());
        }
        if job.events.send(step.event).await.is_err() {
            return Ended::Gone;
        }
    }
    match (script.failed, error) {
        (true, Some(msg)) => Ended::Failed(msg),
        _ => Ended::Completed,
    }
}
