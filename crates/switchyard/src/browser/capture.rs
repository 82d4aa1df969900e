//! Capturing a site's own streamed response from the network, chunk by chunk.
//!
//! One capture task per page listens to the Network domain (which chromiumoxide enables on every
//! page). A lane *arms* it with the provider's endpoint paths right before it presses Send; the
//! first matching POST after that is *claimed*, `Network.streamResourceContent` is called for it,
//! and from then on every `Network.dataReceived` carries the next bytes of the body. The page is
//! untouched: it receives and renders its own response as usual.
//!
//! A response can be over before the lane's call arrives (a fast site, a short error body);
//! `streamResourceContent` then fails with "already finished loading", and the whole body is read
//! with `Network.getResponseBody` at `loadingFinished` instead.
//!
//! With `capture = "replay"` the claimed request is instead paused (Fetch domain) and sent by
//! switchyard itself ([`super::replay`]); the same [`CaptureEvent`]s come out.
//!
//! The task also watches `Inspector.targetCrashed`, so a renderer crash ends a capture at once
//! instead of waiting for a timeout, and counts crashes for the lane.
//!
//! chromiumoxide gives each event type its own channel, so the order *between* types is lost.
//! Three rules restore what matters: the channels are polled in a fixed order (request, response,
//! data, end), so an event queued earlier by the browser is handled first;
//! `streamResourceContent` is called when the request is seen (its reply carries whatever was
//! buffered before, so nothing is missed); and on `loadingFinished` / `loadingFailed` the data
//! channel is drained before the end is reported.

#![expect(
    clippy::disallowed_types,
    reason = "the capture task holds a chromiumoxide::Page clone to call streamResourceContent"
)]

use std::time::Duration;

use base64::Engine;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, ContinueRequestParams, EventRequestPaused, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::network::{
    EventDataReceived, EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent,
    EventResponseReceived, GetResponseBodyParams, RequestId, StreamResourceContentParams,
};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, warn};

use super::{BrowserError, timed};

/// What the armed consumer sees of the claimed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEvent {
    /// The claimed request was sent (the site's own request; nothing has come back yet), with
    /// the request headers as far as they are known (a replayed request's are complete,
    /// cookies included; a teed one's lack what Chromium adds on the wire).
    Sent {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// Response headers arrived.
    Response {
        status: i64,
        headers: Vec<(String, String)>,
    },
    /// The next bytes of the body.
    Data(Vec<u8>),
    /// The body ended normally.
    Finished,
    /// The request failed; `canceled` when the page aborted it (e.g. its Stop button).
    Failed { error: String, canceled: bool },
    /// The page's renderer crashed.
    Crashed,
}

enum Command {
    Arm {
        paths: Vec<String>,
        events: mpsc::UnboundedSender<CaptureEvent>,
    },
    Disarm,
}

/// The handle a lane keeps for its page's capture task. Dropping it stops the task.
pub struct Capture {
    commands: mpsc::UnboundedSender<Command>,
    /// Counts renderer crashes since the lane started.
    crashes: watch::Receiver<u64>,
    replay: bool,
}

impl Capture {
    /// Starts the capture task. With `replay` (the provider's endpoint paths), matching requests
    /// are paused in the browser and replayed by switchyard instead of teed.
    pub(super) async fn start(
        page: Page,
        cdp_timeout: Duration,
        replay: Option<&[&str]>,
    ) -> Result<Capture, BrowserError> {
        let t = cdp_timeout;
        let paused = match replay {
            None => None,
            Some(paths) => {
                let stream = timed("listen requestPaused", t, page.event_listener()).await?;
                let patterns = paths
                    .iter()
                    .map(|p| {
                        RequestPattern::builder()
                            .url_pattern(format!("*{p}*"))
                            .request_stage(RequestStage::Request)
                            .build()
                    })
                    .collect::<Vec<_>>();
                let enable = fetch::EnableParams::builder().patterns(patterns).build();
                timed("Fetch.enable", t, page.execute(enable)).await?;
                Some(stream)
            }
        };
        let streams = Streams {
            sent: timed("listen requestWillBeSent", t, page.event_listener()).await?,
            response: timed("listen responseReceived", t, page.event_listener()).await?,
            data: timed("listen dataReceived", t, page.event_listener()).await?,
            finished: timed("listen loadingFinished", t, page.event_listener()).await?,
            failed: timed("listen loadingFailed", t, page.event_listener()).await?,
            crashed: timed("listen targetCrashed", t, page.event_listener()).await?,
            paused,
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let (crash_tx, crashes) = watch::channel(0);
        crate::tasks::spawn("capture", run(page, cdp_timeout, streams, rx, crash_tx));
        Ok(Capture {
            commands,
            crashes,
            replay: replay.is_some(),
        })
    }

    /// Whether requests are replayed (rather than teed).
    pub fn is_replay(&self) -> bool {
        self.replay
    }

    /// Arms the capture: the first POST whose URL path equals one of `paths` is claimed, and its
    /// events arrive on the returned receiver. Re-arming replaces an earlier arming.
    pub fn arm(&self, paths: &[&str]) -> mpsc::UnboundedReceiver<CaptureEvent> {
        let (events, rx) = mpsc::unbounded_channel();
        let _ = self.commands.send(Command::Arm {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            events,
        });
        rx
    }

    /// Stops forwarding; a claimed request's later bytes are dropped.
    pub fn disarm(&self) {
        let _ = self.commands.send(Command::Disarm);
    }

    /// A receiver that changes whenever the renderer crashes.
    pub fn crashes(&self) -> watch::Receiver<u64> {
        self.crashes.clone()
    }
}

struct Streams {
    sent: chromiumoxide::listeners::EventStream<EventRequestWillBeSent>,
    response: chromiumoxide::listeners::EventStream<EventResponseReceived>,
    data: chromiumoxide::listeners::EventStream<EventDataReceived>,
    finished: chromiumoxide::listeners::EventStream<EventLoadingFinished>,
    failed: chromiumoxide::listeners::EventStream<EventLoadingFailed>,
    crashed: chromiumoxide::listeners::EventStream<EventTargetCrashed>,
    /// Paused requests, in replay mode only.
    paused: Option<chromiumoxide::listeners::EventStream<EventRequestPaused>>,
}

/// The armed state: who listens, which paths, and the claimed request once there is one.
struct Armed {
    paths: Vec<String>,
    events: mpsc::UnboundedSender<CaptureEvent>,
    claimed: Option<RequestId>,
    /// `streamResourceContent` succeeded for the claimed request: body bytes arrive as
    /// `dataReceived`. Otherwise the body is read whole when loading finishes.
    streaming: bool,
    /// In replay mode, the running replay; dropping the armed state stops it.
    replay: Option<DropGuard>,
}

impl Armed {
    fn is(&self, id: &RequestId) -> bool {
        self.claimed.as_ref() == Some(id)
    }
    fn send(&self, event: CaptureEvent) {
        let _ = self.events.send(event);
    }
}

async fn run(
    page: Page,
    cdp_timeout: Duration,
    mut s: Streams,
    mut commands: mpsc::UnboundedReceiver<Command>,
    crashes: watch::Sender<u64>,
) {
    let mut armed: Option<Armed> = None;
    loop {
        // Biased, in the order the browser emits a request's events: when several are queued
        // (a fast response), `requestWillBeSent` is handled before its `loadingFinished`.
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(Command::Arm { paths, events }) => {
                    armed = Some(Armed {
                        paths,
                        events,
                        claimed: None,
                        streaming: false,
                        replay: None,
                    });
                }
                Some(Command::Disarm) => armed = None,
                // The lane dropped its handle: the page is going away.
                None => break,
            },
            Some(ev) = next_paused(&mut s.paused) => {
                let claim = armed.as_mut().filter(|a| {
                    a.replay.is_none()
                        && ev.request.method == "POST"
                        && path_matches(&ev.request.url, &a.paths)
                });
                match claim {
                    Some(a) => {
                        // The replay reports `Sent` itself, with the headers it sends.
                        let cancel = CancellationToken::new();
                        a.replay = Some(cancel.clone().drop_guard());
                        let task = super::replay::run(
                            page.clone(),
                            cdp_timeout,
                            (*ev).clone(),
                            a.events.clone(),
                            cancel,
                        );
                        crate::tasks::spawn("replay", task);
                    }
                    None => {
                        // Not the armed request (a preflight, or nothing is armed): let it go.
                        let params = ContinueRequestParams::new(ev.request_id.clone());
                        if let Err(e) =
                            timed("Fetch.continueRequest", cdp_timeout, page.execute(params)).await
                        {
                            debug!(cause = %e, "could not release a paused request");
                        }
                    }
                }
            }
            Some(ev) = s.sent.next() => {
                let Some(a) = armed.as_mut() else { continue };
                if a.claimed.is_some()
                    || s.paused.is_some()
                    || ev.request.method != "POST"
                    || !path_matches(&ev.request.url, &a.paths)
                {
                    continue;
                }
                a.claimed = Some(ev.request_id.clone());
                a.send(CaptureEvent::Sent {
                    url: ev.request.url.clone(),
                    headers: header_pairs(ev.request.headers.inner()),
                });
                start_streaming(&page, cdp_timeout, a, &ev.request_id).await;
            }
            Some(ev) = s.response.next() => {
                if let Some(a) = armed.as_mut().filter(|a| a.is(&ev.request_id)) {
                    a.send(CaptureEvent::Response {
                        status: ev.response.status,
                        headers: header_pairs(ev.response.headers.inner()),
                    });
                    if !a.streaming {
                        start_streaming(&page, cdp_timeout, a, &ev.request_id).await;
                    }
                }
            }
            Some(ev) = s.data.next() => {
                if let Some(a) = armed.as_ref().filter(|a| a.is(&ev.request_id)) {
                    forward_data(a, &ev);
                }
            }
            Some(ev) = s.finished.next() => {
                if let Some(a) = armed.as_ref().filter(|a| a.is(&ev.request_id)) {
                    if a.streaming {
                        drain_data(a, &mut s.data);
                    } else {
                        read_whole_body(&page, cdp_timeout, a, &ev.request_id).await;
                    }
                    a.send(CaptureEvent::Finished);
                    armed = None;
                }
            }
            Some(ev) = s.failed.next() => {
                if let Some(a) = armed.as_ref().filter(|a| a.is(&ev.request_id)) {
                    drain_data(a, &mut s.data);
                    a.send(CaptureEvent::Failed {
                        error: ev.error_text.clone(),
                        canceled: ev.canceled.unwrap_or(false),
                    });
                    armed = None;
                }
            }
            Some(_) = s.crashed.next() => {
                crashes.send_modify(|n| *n += 1);
                if let Some(a) = armed.take() {
                    a.send(CaptureEvent::Crashed);
                }
            }
            else => break,
        }
    }
    debug!("capture task ended");
}

/// The next paused request, or never when the capture does not replay.
async fn next_paused(
    paused: &mut Option<chromiumoxide::listeners::EventStream<EventRequestPaused>>,
) -> Option<std::sync::Arc<EventRequestPaused>> {
    match paused {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Asks Chromium to copy the claimed response's body to us as it arrives. If the response is
/// already complete this fails, and the body is read whole at `loadingFinished` instead.
async fn start_streaming(page: &Page, cdp_timeout: Duration, a: &mut Armed, id: &RequestId) {
    let params = StreamResourceContentParams::new(id.clone());
    match timed(
        "Network.streamResourceContent",
        cdp_timeout,
        page.execute(params),
    )
    .await
    {
        Ok(resp) => {
            a.streaming = true;
            let buffered = decode(resp.result.buffered_data.as_ref());
            if !buffered.is_empty() {
                a.send(CaptureEvent::Data(buffered));
            }
        }
        Err(e) => debug!(cause = %e, "streaming not available yet; will read the body whole"),
    }
}

/// Reads a finished response's whole body (the fallback when streaming could not start).
async fn read_whole_body(page: &Page, cdp_timeout: Duration, a: &Armed, id: &RequestId) {
    let params = GetResponseBodyParams::new(id.clone());
    match timed("Network.getResponseBody", cdp_timeout, page.execute(params)).await {
        Ok(resp) => {
            let body = if resp.result.base64_encoded {
                decode(&resp.result.body)
            } else {
                resp.result.body.clone().into_bytes()
            };
            if !body.is_empty() {
                a.send(CaptureEvent::Data(body));
            }
        }
        Err(e) => {
            warn!(cause = %e, "could not read the captured response body");
            a.send(CaptureEvent::Failed {
                error: e.to_string(),
                canceled: false,
            });
        }
    }
}

/// Forwards the body bytes an event carries (none unless streaming was enabled for it).
fn forward_data(a: &Armed, ev: &EventDataReceived) {
    if let Some(data) = &ev.data {
        let bytes = decode(data.as_ref());
        if !bytes.is_empty() {
            a.send(CaptureEvent::Data(bytes));
        }
    }
}

/// Takes every data event already queued, so none is reported after the end.
fn drain_data(a: &Armed, data: &mut chromiumoxide::listeners::EventStream<EventDataReceived>) {
    while let Some(Some(ev)) = data.next().now_or_never() {
        if a.is(&ev.request_id) {
            forward_data(a, &ev);
        }
    }
}

/// CDP's header object as name/value pairs.
pub(super) fn header_pairs(headers: &serde_json::Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(n, v)| v.as_str().map(|v| (n.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn decode(b64: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_default()
}

/// Whether the URL's path (query and fragment ignored) is one of `paths`.
pub fn path_matches(url: &str, paths: &[String]) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    paths
        .iter()
        .any(|p| p == path || path.ends_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_without_query_and_under_a_prefix() {
        let paths = vec!["/api/v2/chat/completions".to_owned()];
        assert!(path_matches(
            "https://chat.z.ai/api/v2/chat/completions?x=1",
            &paths
        ));
        assert!(path_matches(
            "http://127.0.0.1:9/api/v2/chat/completions",
            &paths
        ));
        // A site mounted under a path prefix (HuggingChat lives at /chat).
        assert!(path_matches(
            "https://h.co/chat/api/v2/chat/completions",
            &paths
        ));
        assert!(!path_matches("https://chat.z.ai/api/v2/chat/other", &paths));
        assert!(!path_matches(
            "https://chat.z.ai/api/v2/chat/completions/x",
            &paths
        ));
    }
}
