//! Running one request in a lane's page and relaying the site's stream.
//!
//! The steps: open a new chat with the request's toggles and type the prompt; arm the capture;
//! press Send; then decode every captured body chunk the moment it arrives and pass the events
//! on. The relay ends on the site's end marker, on the end of the body, on a crash, on a
//! timeout (first chunk, then idle between chunks), or when the client goes away, in which case
//! the site's Stop button is pressed and the lane waits briefly for the request to wind down.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::artifacts::Tape;
use crate::browser::capture::{CaptureEvent, CaptureStream};
use crate::providers::{DriverError, SendState, StopHints, StreamEvent};
use crate::scheduler::{FailureClass, Job};

use super::lane::Lane;

/// How long a finished or stopped request may take to end its body before the lane moves on.
const END_GRACE: Duration = Duration::from_secs(3);

/// How a request ended, for the lane's log and its next step.
#[derive(Debug)]
pub enum Outcome {
    Completed,
    /// The client went away; `stopped` tells whether the site's Stop was pressed.
    Cancelled {
        stopped: bool,
    },
    Failed(String, Cause),
}

/// How one captured answer ended: the request's outcome, or (with Blocked-Response Handling)
/// a blocked or empty answer of which the client saw nothing, to nudge.
enum Relayed {
    Done(Outcome),
    Blocked(String),
}

/// What a failure says about the lane, for its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The page is broken or stuck (it crashed, a page step failed or timed out, the stream
    /// stalled): the lane recovers before it takes more work.
    Page,
    /// The page's renderer stopped answering (the watchdog's ping went unanswered): a reload
    /// would wait on the same stuck renderer, so recovery starts with a new context.
    Hung,
    /// The browser is gone.
    Browser,
    /// The site answered with a failure (rate limit, sign-in lost, an error in its stream, an
    /// empty reply); the page is fine, but it counts against the lane's breaker.
    Site,
    /// The site refused this request's content: not the lane's fault.
    Request,
    /// An early site failure another saved account may not meet (`super::rotation`): the
    /// client has not seen it; the supervisor moves the lane to a spare account and runs the
    /// request again.
    Account,
}

impl Cause {
    /// Whether the lane must recover before its next request.
    pub fn needs_recovery(self) -> bool {
        matches!(self, Cause::Page | Cause::Hung | Cause::Browser)
    }
}

/// The request-level class of a site's failure: slow-down answers are rate limits (429).
fn class_of(kind: crate::providers::FailureKind) -> FailureClass {
    use crate::providers::FailureKind;
    match kind {
        FailureKind::RateLimited | FailureKind::QuotaExhausted => FailureClass::RateLimited,
        FailureKind::ContentBlocked => FailureClass::Blocked,
        _ => FailureClass::Site,
    }
}

/// The armed capture's events, each recorded on the request's [`Tape`] as it is taken.
pub(super) struct Captured<'t> {
    events: CaptureStream,
    tape: &'t mut Tape,
}

impl Captured<'_> {
    async fn recv(&mut self) -> Option<CaptureEvent> {
        let event = self.events.recv().await;
        if let Some(e) = &event {
            self.tape.record(e);
        }
        event
    }
}

impl Lane {
    /// Runs a job to its end. Errors are sent to the client as an error event before returning.
    /// The tape holds what the capture carried (for the capture file and a failure bundle).
    pub(super) async fn run_job(&self, job: &Job) -> (Outcome, Tape) {
        let mut tape = Tape::new(self.artifacts.capture.dir.is_some());
        let outcome = self.try_run(job, &mut tape).await;
        if let Outcome::Failed(msg, Cause::Site) = &outcome {
            if self.attempt.retries(msg) {
                return (Outcome::Failed(msg.clone(), Cause::Account), tape);
            }
        }
        if let Outcome::Failed(msg, cause) = &outcome {
            // The failure sites that know better (timeouts, the site's own answers) set the
            // class first; the rest follows from the cause.
            job.failure.set(match cause {
                Cause::Site | Cause::Request | Cause::Account => FailureClass::Site,
                Cause::Page | Cause::Hung | Cause::Browser => FailureClass::Gateway,
            });
            let _ = job.events.send(StreamEvent::Error(msg.clone())).await;
        }
        (outcome, tape)
    }

    async fn try_run(&self, job: &Job, tape: &mut Tape) -> Outcome {
        let req = &job.request;
        let provider = self.spec.provider;
        let failed = |step: &str, e: DriverError| {
            let cause = match e {
                DriverError::Browser(_) => Cause::Page,
                DriverError::SignInRequired | DriverError::NotEnglish(_) => Cause::Site,
                DriverError::ModelUnavailable(_) => {
                    job.failure.set(FailureClass::ModelNotFound);
                    Cause::Request
                }
            };
            Outcome::Failed(
                format!("{provider} ({}): could not {step}: {e}.", self.spec.label),
                cause,
            )
        };
        // A renderer that crashes during a page step would leave the step waiting for its whole
        // bound; the crash ends it at once.
        let crashes_before = *self.capture.crashes().borrow();
        let crashed = || {
            Outcome::Failed(
                format!(
                    "{provider} ({}): the page crashed before the answer began; the lane is reloading it.",
                    self.spec.label
                ),
                Cause::Page,
            )
        };
        // The page's network agent keeps a record of each request until the page navigates,
        // which a lane's page rarely does. The lane clears them while idle (`super::purge`);
        // a lane that had no idle moment for a while clears them here, with nothing armed.
        if self.purge.records_due_now() {
            if let Err(e) = self.forget_network_records().await {
                return failed("clear the page's network records", DriverError::Browser(e));
            }
        }
        self.purge.recording();
        tokio::select! {
            biased;
            _ = job.cancel.cancelled() => return Outcome::Cancelled { stopped: false },
            () = self.crashed_since(crashes_before) => return crashed(),
            r = self.open_chat(req) => {
                if let Err(e) = r {
                    return failed("prepare the chat", e);
                }
            }
        }
        if job.cancel.is_cancelled() {
            return Outcome::Cancelled { stopped: false };
        }
        self.note("the chat is prepared; typing the prompt and pressing Send");
        // The request's capture lives exactly as long as this function: dropping the stream
        // disarms the page's capture and ends a replay, however the request ends.
        let events = self.capture.arm(self.driver.stream_paths());
        let sent = tokio::select! {
            biased;
            () = self.crashed_since(crashes_before) => return crashed(),
            r = self.driver.type_and_send(&self.tab, req, self.settings.humanize_mouse) => match r {
                Ok(sent) => sent,
                Err((step, e)) => return failed(step, e),
            },
        };
        let mut events = Captured { events, tape };
        // Blocked-Response Handling: a blocked or empty answer the client saw nothing of is
        // nudged (the site's nudge text as a new message) up to the site's limit.
        let nudge = self
            .driver
            .nudge_spec()
            .filter(|_| self.settings.blocked_response_handling);
        let mut sent = sent;
        let mut nudges = 0;
        loop {
            let can_nudge = nudge.is_some_and(|n| nudges < n.most);
            let why = match self.relay(job, &mut events, &sent, can_nudge).await {
                Relayed::Done(outcome) => return outcome,
                Relayed::Blocked(why) => why,
            };
            nudges += 1;
            self.note(format!(
                "{why}; nudging the site ({nudges} of at most {})",
                nudge.map_or(0, |n| n.most)
            ));
            tracing::info!(lane = %self.spec.id, request = %job.id, nudges, "{provider}: {why}; sending a nudge");
            // The next answer is a new capture; the blocked one is over.
            drop(std::mem::replace(
                &mut events.events,
                self.capture.arm(self.driver.stream_paths()),
            ));
            sent = tokio::select! {
                biased;
                _ = job.cancel.cancelled() => return Outcome::Cancelled { stopped: false },
                () = self.crashed_since(crashes_before) => return crashed(),
                r = self.driver.nudge(&self.tab, self.settings.humanize_mouse) => match r {
                    Ok(sent) => sent,
                    Err(e) => return failed("nudge the site after a blocked answer", e),
                },
            };
        }
    }

    async fn relay(
        &self,
        job: &Job,
        events: &mut Captured<'_>,
        sent: &SendState,
        can_nudge: bool,
    ) -> Relayed {
        use Relayed::Done;
        let provider = self.spec.provider;
        // Read per request: a config reload changes them without restarting the lane.
        let timeouts = job.timeouts;
        let send_thinking = job.request.send_thinking;
        let mut deadline = Instant::now() + timeouts.first_chunk;
        let mut got_data = false;
        let mut status: i64 = 0;
        let mut error_body: Vec<u8> = Vec::new();
        let mut decoder = self.driver.decoder();
        let mut decoded = Vec::new();
        let mut answered = false;
        // The captured request's headers, for a stop the lane sends itself (replay only).
        let mut sent_headers: Vec<(String, String)> = Vec::new();
        let replay = self.capture.is_replay();
        // With the replay capture the page never saw the stream: the stop needs what the
        // decoder read (the reply's id) and the request's follow-up headers.
        let hints = |decoder: &dyn switchyard_decode::Decode, headers: &[(String, String)]| {
            replay.then(|| StopHints {
                reply_id: decoder.reply_id().map(str::to_owned),
                headers: headers.to_vec(),
            })
        };

        loop {
            let event = tokio::select! {
                biased;
                _ = job.cancel.cancelled() => {
                    self.note(match job.reason.get() {
                        Some(why) => format!("stopped ({why}); pressing Stop"),
                        None => "the client went away; pressing Stop".to_owned(),
                    });
                    let hints = hints(&*decoder, &sent_headers);
                    let stopped = self.stop_in_page(sent, events, hints.as_ref()).await;
                    return Done(Outcome::Cancelled { stopped });
                }
                _ = self.browser.closed() => {
                    return Done(Outcome::Failed(
                        format!(
                            "{provider} ({}): the browser went away mid-answer.",
                            self.spec.label
                        ),
                        Cause::Browser,
                    ));
                }
                event = timeout_at(deadline, events.recv()) => event,
            };
            let event = match event {
                Err(_) => {
                    self.note(if got_data {
                        "the stream paused past the idle timeout; pressing Stop"
                    } else {
                        "no first chunk within the first-chunk timeout; pressing Stop"
                    });
                    let hints = hints(&*decoder, &sent_headers);
                    let _ = self.stop_in_page(sent, events, hints.as_ref()).await;
                    job.failure.set(FailureClass::Timeout);
                    let message = if got_data {
                        format!(
                            "{provider} timeout: no next stream chunk within {}s.",
                            timeouts.idle.as_secs()
                        )
                    } else {
                        format!(
                            "{provider} timeout: no intercepted first chunk within {}s.",
                            timeouts.first_chunk.as_secs()
                        )
                    };
                    // A stalled page is reloaded before the next request.
                    return Done(Outcome::Failed(message, Cause::Page));
                }
                Ok(None) => {
                    return Done(Outcome::Failed(
                        format!(
                            "{provider} ({}): lost the browser connection mid-answer.",
                            self.spec.label
                        ),
                        Cause::Page,
                    ));
                }
                Ok(Some(event)) => event,
            };
            let body_done = match event {
                CaptureEvent::Sent { url, headers } => {
                    sent_headers = headers;
                    self.note(format!(
                        "captured the site's request to {}",
                        crate::artifacts::redact::url(&url)
                    ));
                    continue;
                }
                CaptureEvent::Response { status: s, .. } => {
                    self.note(format!("the site answered HTTP {s}"));
                    status = s;
                    continue;
                }
                CaptureEvent::Data(bytes) => {
                    if !got_data {
                        self.note(format!("first body chunk ({} bytes)", bytes.len()));
                    }
                    got_data = true;
                    deadline = Instant::now() + timeouts.idle;
                    if status >= 400 {
                        error_body.extend_from_slice(&bytes);
                        continue;
                    }
                    decoder.feed(&bytes, &mut decoded);
                    false
                }
                CaptureEvent::Finished => true,
                CaptureEvent::Failed { error, canceled } => {
                    self.note(format!("the site's request failed: {error}"));
                    if !(canceled && got_data) {
                        return Done(Outcome::Failed(
                            format!("{provider}: the site's completion request failed ({error})."),
                            Cause::Site,
                        ));
                    }
                    // The page aborted a request that had already delivered data: treat what
                    // came as the whole answer (the reference's ERR_ABORTED rule).
                    true
                }
                CaptureEvent::Crashed => {
                    self.note("the page crashed");
                    return Done(Outcome::Failed(
                        format!(
                            "{provider} ({}): the page crashed mid-answer; the lane is reloading it.",
                            self.spec.label
                        ),
                        Cause::Page,
                    ));
                }
            };
            if body_done {
                if status >= 400 {
                    let failure = self.driver.classify_failure(status, &error_body);
                    job.failure.set(class_of(failure.kind));
                    let cause = match failure.kind {
                        crate::providers::FailureKind::ContentBlocked => Cause::Request,
                        _ => Cause::Site,
                    };
                    return Done(Outcome::Failed(
                        failure.message(provider.display_name()),
                        cause,
                    ));
                }
                decoder.finish(&mut decoded);
            }
            for event in decoded.drain(..) {
                match event {
                    StreamEvent::Reasoning(_) if !send_thinking => continue,
                    StreamEvent::Text(_) | StreamEvent::Reasoning(_) => {
                        answered = true;
                        self.attempt.answered();
                    }
                    StreamEvent::Finished(_) => {
                        if !answered && can_nudge {
                            if !body_done {
                                wait_for_end(events).await;
                            }
                            return Relayed::Blocked("the answer came back empty".to_owned());
                        }
                        if !answered {
                            return Done(Outcome::Failed(
                                empty_reply(provider.display_name()),
                                Cause::Site,
                            ));
                        }
                        // The client has its answer now; the lane waits for the site's body to
                        // end, so the next request's "New chat" never cuts this one's tail.
                        let _ = job.events.send(event).await;
                        if !body_done {
                            wait_for_end(events).await;
                        }
                        return Done(Outcome::Completed);
                    }
                    StreamEvent::Error(msg) => {
                        self.note(format!("the site reported an error in its stream: {msg}"));
                        let kind = self.driver.classify_failure(200, msg.as_bytes()).kind;
                        if kind == crate::providers::FailureKind::ContentBlocked
                            && !answered
                            && can_nudge
                        {
                            // The blocked run ends by itself; the page shows the blocked turn.
                            if !body_done {
                                wait_for_end(events).await;
                            }
                            return Relayed::Blocked("the answer came back blocked".to_owned());
                        }
                        let hints = hints(&*decoder, &sent_headers);
                        let _ = self.stop_in_page(sent, events, hints.as_ref()).await;
                        job.failure.set(class_of(kind));
                        // A refused prompt (a content filter's answer in the stream) is the
                        // request's failure, not the site's.
                        let cause = match kind {
                            crate::providers::FailureKind::ContentBlocked => Cause::Request,
                            _ => Cause::Site,
                        };
                        return Done(Outcome::Failed(msg, cause));
                    }
                    StreamEvent::Usage(_) => {}
                    StreamEvent::Unknown(kind) => {
                        super::unknown::note(provider, &self.spec.id.0, &kind);
                        continue;
                    }
                    StreamEvent::Notice(notice) => {
                        tracing::warn!(%provider, lane = %self.spec.id.0, notice, "the site says");
                        continue;
                    }
                }
                let _ = job.events.send(event).await;
            }
            if body_done {
                if !answered && can_nudge {
                    return Relayed::Blocked("the answer came back empty".to_owned());
                }
                if !answered {
                    return Done(Outcome::Failed(
                        empty_reply(provider.display_name()),
                        Cause::Site,
                    ));
                }
                // The body ended without the site's end marker; what came is the answer.
                let _ = job
                    .events
                    .send(StreamEvent::Finished(crate::providers::FinishReason::Stop))
                    .await;
                return Done(Outcome::Completed);
            }
        }
    }

    /// Resolves once the page's renderer has crashed after its crash count was `before` (or its
    /// page task is gone).
    async fn crashed_since(&self, before: u64) {
        let mut crashes = self.capture.crashes();
        let _ = crashes.wait_for(|n| *n != before).await;
    }

    /// Presses the site's Stop control and waits (briefly) for the captured request to end.
    async fn stop_in_page(
        &self,
        sent: &SendState,
        events: &mut Captured<'_>,
        hints: Option<&StopHints>,
    ) -> bool {
        let stopped = match self.driver.stop(&self.tab, sent, hints).await {
            Ok(stopped) => stopped,
            Err(e) => {
                tracing::warn!(lane = %self.spec.id, cause = %e, "could not press Stop");
                false
            }
        };
        if self.capture.is_replay() {
            // The replayed request is switchyard's own: end it (the site sees the connection
            // close, the paused page request fails as aborted).
            events.events.stop_replay();
        }
        wait_for_end(events).await;
        stopped
    }
}

/// Waits (at most [`END_GRACE`]) for the captured request to end; its remaining bytes go only to
/// the tape.
async fn wait_for_end(events: &mut Captured<'_>) {
    let until = Instant::now() + END_GRACE;
    while let Ok(Some(event)) = timeout_at(until, events.recv()).await {
        if matches!(
            event,
            CaptureEvent::Finished | CaptureEvent::Failed { .. } | CaptureEvent::Crashed
        ) {
            break;
        }
    }
}

pub(crate) fn empty_reply(provider: &str) -> String {
    format!("{provider} finished without any answer text (an empty reply). Try again.")
}
