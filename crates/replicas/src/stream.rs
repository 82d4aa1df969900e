//! Paces a scripted streamed body (SSE, or binary frames) and records how it ended.
//!
//! A site module turns a request into a [`Script`]: the list of events to send, each rendered
//! at emission time (so `replica:stamp` carries the real emission time). [`sse_body`] plays it
//! as an axum streaming body, one event per body chunk, honouring `first_delay` before the first
//! event and `delay` between events. The [`Emitter`] that owns the script lives inside the body
//! stream, so hyper dropping the body (the client went away) drops it, and its `Drop` records
//! the end in the [`RequestLog`].

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::watch;

use crate::faults::Plan;
use crate::log::RequestLog;

/// One event of a scripted stream.
pub(crate) struct Step {
    /// Produces the event's bytes when it is emitted.
    render: Box<dyn FnOnce() -> Vec<u8> + Send>,
    /// Whether the event carries one answer piece (counted in `chunks_sent`).
    answer_piece: bool,
}

impl Step {
    /// An event whose text is known now.
    pub(crate) fn fixed(text: String) -> Step {
        Step::bytes(text.into_bytes())
    }

    /// An event whose bytes are known now (a binary frame).
    pub(crate) fn bytes(bytes: Vec<u8>) -> Step {
        Step {
            render: Box::new(move || bytes),
            answer_piece: false,
        }
    }

    /// An event without an answer piece whose text is rendered at emission time (a final
    /// message that repeats what the earlier events rendered).
    pub(crate) fn later(render: impl FnOnce() -> String + Send + 'static) -> Step {
        Step {
            render: Box::new(move || render().into_bytes()),
            answer_piece: false,
        }
    }

    /// An event carrying an answer piece, rendered at emission time.
    pub(crate) fn answer(render: impl FnOnce() -> String + Send + 'static) -> Step {
        Step::answer_bytes(move || render().into_bytes())
    }

    /// A binary event carrying an answer piece, rendered at emission time.
    pub(crate) fn answer_bytes(render: impl FnOnce() -> Vec<u8> + Send + 'static) -> Step {
        Step {
            render: Box::new(render),
            answer_piece: true,
        }
    }
}

/// What a body sends.
pub(crate) struct Script {
    /// The events, in order.
    pub steps: Vec<Step>,
    /// After this many events, send nothing more and never end until the client goes away, the
    /// stop endpoint is hit or the server closes (`stall` = the first event(s), `slow_first` = 0).
    pub hold_after: Option<usize>,
}

/// Where a body learns it must end early. Both are raised, never lowered.
pub(crate) struct Interrupts {
    /// Raised by the site's stop endpoint for this request's chat.
    pub stop: watch::Receiver<bool>,
    /// Raised when the replica server shuts down, so graceful shutdown is not held up forever.
    pub closing: watch::Receiver<bool>,
}

impl Interrupts {
    fn raised(&self) -> bool {
        *self.stop.borrow() || *self.closing.borrow()
    }

    /// Resolves once either flag is raised. A flag whose sender is gone never resolves.
    async fn wait(&mut self) {
        tokio::select! {
            () = wait_raised(&mut self.stop) => {}
            () = wait_raised(&mut self.closing) => {}
        }
    }
}

async fn wait_raised(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|raised| *raised).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Plays one script; owned by the body stream. Dropping it records the end of the stream.
struct Emitter {
    log: RequestLog,
    seq: u64,
    steps: std::vec::IntoIter<Step>,
    emitted: usize,
    hold_after: Option<usize>,
    first_delay: Duration,
    delay: Duration,
    interrupts: Interrupts,
}

impl Emitter {
    /// The next event, or `None` when the body must end.
    async fn next(&mut self) -> Option<Bytes> {
        if self.interrupts.raised() {
            return None;
        }
        if self.hold_after == Some(self.emitted) {
            self.interrupts.wait().await;
            return None;
        }
        if self.steps.as_slice().is_empty() {
            self.log.complete(self.seq);
            return None;
        }
        let delay = if self.emitted == 0 {
            self.first_delay
        } else {
            self.delay
        };
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.interrupts.wait() => return None,
            }
        }
        let step = self.steps.next()?;
        let bytes = Bytes::from((step.render)());
        self.emitted += 1;
        if step.answer_piece {
            self.log.count_chunk(self.seq);
        }
        Some(bytes)
    }
}

impl Drop for Emitter {
    /// Runs when the body ends for any reason. After a normal end the outcome is already
    /// `Completed` and only a missing `ended_us` is filled; otherwise the client went away or
    /// the server closed, and a `Streaming` outcome becomes `Stopped` (a `Fault` stays).
    fn drop(&mut self) {
        self.log.dropped(self.seq);
    }
}

/// A streaming body that plays `script` for log entry `seq` with the pacing of `plan`.
pub(crate) fn sse_body(
    log: RequestLog,
    seq: u64,
    script: Script,
    plan: &Plan,
    interrupts: Interrupts,
) -> Body {
    let emitter = Emitter {
        log,
        seq,
        steps: script.steps.into_iter(),
        emitted: 0,
        hold_after: script.hold_after,
        first_delay: plan.first_delay,
        delay: plan.delay,
        interrupts,
    };
    let stream = futures::stream::unfold(emitter, |mut emitter| async move {
        let bytes = emitter.next().await?;
        Some((Ok::<_, Infallible>(bytes), emitter))
    });
    Body::from_stream(stream)
}

/// Wraps `body` in a `200 text/event-stream` response, as both sites send it.
pub(crate) fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
