//! Capturing a site's own streamed response from the network, chunk by chunk; and the page
//! task, the one owner of a page.
//!
//! The **page task** (`page_task`) holds the page and, once the capture starts, listens to the
//! Network domain (which chromiumoxide enables on every page). Everything else reaches it by
//! message (`tab::Command`): the lane's [`super::Tab`] sends CDP calls, which the task
//! runs as futures of its own, and the lane's [`Capture`] arms and disarms it.
//!
//! A lane *arms* the capture with the provider's endpoint paths right before it presses Send
//! and gets a [`CaptureStream`] for that request; the first matching POST after that is
//! *claimed*, `Network.streamResourceContent` is called for it, and from then on every
//! `Network.dataReceived` carries the next bytes of the body. The page is untouched: it receives
//! and renders its own response as usual.
//!
//! A response can be over before the lane's call arrives (a fast site, a short error body);
//! `streamResourceContent` then fails with "already finished loading", and the whole body is read
//! with `Network.getResponseBody` at `loadingFinished` instead.
//!
//! With `capture = "replay"` the claimed request is instead paused (Fetch domain) and handed to
//! the request's [`CaptureStream`], which sends it itself (`replay`); the same
//! [`CaptureEvent`]s come out. The replay is a future *owned by the stream*, polled as the lane
//! reads it: when the request ends for any reason (done, stopped, the client gone, a crash, the
//! lane shutting down), dropping the stream drops the replay and its upstream connection, and
//! tells the page task, which fails the paused request if nobody answered it. No task outlives
//! its request.
//!
//! **Hidden while streaming** (tee capture, a headless browser switchyard launched, unless
//! `providers.<p>.hide_while_streaming = false`): once the request is claimed, the page's window
//! is minimized until the answer ends, as a background tab is. A hidden page runs its scripts
//! and reads its stream as before (the launch flags turn off background timer throttling) but
//! paints nothing, so eight streaming pages no longer composite a frame per piece: measured
//! with eight tee lanes, Chromium's CPU per streamed piece fell to about two fifths, which is
//! most of what the tee path's tail waited on with two cores. The window is shown again before
//! the lane hears of the end, and before any other call on the page runs (a Stop press, a
//! screenshot), so no page step ever sees it hidden; a page with a screencast viewer is never
//! hidden.
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
    reason = "the page task is the one owner of the chromiumoxide::Page"
)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::{
    Bounds, GetWindowForTargetParams, SetWindowBoundsParams, WindowId, WindowState,
};
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, ContinueRequestParams, EventRequestPaused, FailRequestParams, RequestPattern,
    RequestStage,
};
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::network::{
    ErrorReason, EventDataReceived, EventLoadingFailed, EventLoadingFinished,
    EventRequestWillBeSent, EventResponseReceived, GetResponseBodyParams, RequestId,
    StreamResourceContentParams,
};
use futures::future::{BoxFuture, Fuse};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::tab::{Command, PageHandle};
use super::{BrowserError, timed};
use crate::api::stats::Histogram;

/// How long minimizing or showing the page's window may take. The page task waits for it (so a
/// later call never sees the page hidden), so the bound is short: a window that does not answer
/// in time is not hidden again.
const WINDOW_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether [`delivery`] records (the bench turns it on; nothing else reads it).
static MEASURE_DELIVERY: AtomicBool = AtomicBool::new(false);
/// Renderer → page task for every teed chunk: from the `timestamp` of its
/// `Network.dataReceived` (taken on the renderer's main thread, on `CLOCK_MONOTONIC`) to the
/// moment its page task handles it. Meaningful only for a browser on this machine.
static DELIVERY: std::sync::LazyLock<std::sync::Mutex<Histogram>> =
    std::sync::LazyLock::new(Default::default);

/// Starts (or stops) recording the tee delivery figure, and clears what it recorded.
pub fn measure_delivery(on: bool) {
    MEASURE_DELIVERY.store(on, Ordering::Relaxed);
    *DELIVERY.lock().unwrap_or_else(|e| e.into_inner()) = Histogram::default();
}

/// What was recorded since [`measure_delivery`]: count, mean, p50/p90/p99 and max, in ms.
pub fn delivery() -> serde_json::Value {
    DELIVERY.lock().unwrap_or_else(|e| e.into_inner()).summary()
}

fn record_delivery(ev: &EventDataReceived) {
    if !MEASURE_DELIVERY.load(Ordering::Relaxed) {
        return;
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now_s = now.tv_sec as f64 + now.tv_nsec as f64 / 1e9;
    let age_s = now_s - *ev.timestamp.inner();
    if age_s.is_finite() && age_s >= 0.0 {
        DELIVERY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(Duration::try_from_secs_f64(age_s).unwrap_or(Duration::MAX));
    }
}

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

/// What the page task sends an armed [`CaptureStream`].
pub(super) enum Delivery {
    Event(CaptureEvent),
    /// The claimed request, paused in the browser, for the stream to replay.
    Replay(Box<EventRequestPaused>),
}

/// The handle a lane keeps for its page's capture.
pub struct Capture {
    page: PageHandle,
    cdp_timeout: Duration,
    /// Counts renderer crashes since the lane started.
    crashes: watch::Receiver<u64>,
    replay: bool,
    /// The replays' HTTP client (through the lane's proxy, if it has one).
    client: reqwest::Client,
    /// Numbers the armings, so a late disarm never ends a newer one.
    generations: AtomicU64,
}

impl Capture {
    pub(super) fn new(
        page: PageHandle,
        cdp_timeout: Duration,
        crashes: watch::Receiver<u64>,
        replay: bool,
        client: reqwest::Client,
    ) -> Capture {
        Capture {
            page,
            cdp_timeout,
            crashes,
            replay,
            client,
            generations: AtomicU64::new(0),
        }
    }

    /// Whether requests are replayed (rather than teed).
    pub fn is_replay(&self) -> bool {
        self.replay
    }

    /// Arms the capture: the first POST whose URL path equals one of `paths` is claimed, and its
    /// events arrive on the returned stream. Re-arming replaces an earlier arming; dropping the
    /// stream disarms (and ends a replay).
    pub fn arm(&self, paths: &[&str]) -> CaptureStream {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let (events, deliveries) = mpsc::unbounded_channel();
        self.page.send(Command::Arm {
            generation,
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            events,
        });
        CaptureStream {
            generation,
            deliveries,
            page: self.page.clone(),
            cdp_timeout: self.cdp_timeout,
            client: self.client.clone(),
            replay: None,
            stopped: false,
            queued: VecDeque::new(),
        }
    }

    /// A receiver that changes whenever the renderer crashes.
    pub fn crashes(&self) -> watch::Receiver<u64> {
        self.crashes.clone()
    }
}

/// One request's capture: its events, and (replay mode) the replay that produces them.
pub struct CaptureStream {
    generation: u64,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    page: PageHandle,
    cdp_timeout: Duration,
    client: reqwest::Client,
    replay: Option<Replay>,
    /// The lane stopped the request: a paused request still on its way is not replayed.
    stopped: bool,
    /// Events the stream reports itself (the end of a stopped replay).
    queued: VecDeque<CaptureEvent>,
}

/// A running replay: the future that sends the request and reads the response, and what it
/// reports.
struct Replay {
    run: Fuse<BoxFuture<'static, ()>>,
    events: mpsc::UnboundedReceiver<CaptureEvent>,
}

impl CaptureStream {
    /// The next event of the claimed request; `None` when the page task is gone. A replay only
    /// makes progress while this is awaited.
    pub async fn recv(&mut self) -> Option<CaptureEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            let Some(replay) = self.replay.as_mut() else {
                match self.deliveries.recv().await? {
                    Delivery::Event(event) => return Some(event),
                    Delivery::Replay(paused) if !self.stopped => self.start_replay(*paused),
                    // Stopped before it started: the page task fails it (the disarm).
                    Delivery::Replay(_) => {}
                }
                continue;
            };
            let mut replay_over = false;
            tokio::select! {
                biased;
                event = replay.events.recv() => match event {
                    Some(event) => return Some(event),
                    // The replay ended and everything it said has been taken.
                    None => replay_over = true,
                },
                // Fused: once over, its sender is gone and `events` ends.
                () = &mut replay.run => {}
                delivery = self.deliveries.recv() => match delivery? {
                    Delivery::Event(event) => return Some(event),
                    // One claim per arming.
                    Delivery::Replay(_) => {}
                },
            }
            if replay_over {
                self.replay = None;
            }
        }
    }

    fn start_replay(&mut self, paused: EventRequestPaused) {
        let (events, rx) = mpsc::unbounded_channel();
        let run = super::replay::run(
            self.client.clone(),
            self.page.clone(),
            self.cdp_timeout,
            paused,
            events,
        );
        self.replay = Some(Replay {
            run: run.boxed().fuse(),
            events: rx,
        });
    }

    /// Ends the replay at once: a running one drops its upstream connection (the site sees the
    /// stop), one not yet started never starts, and the page task fails the paused page request
    /// as aborted. The stream then reports the end (or simply ends).
    pub fn stop_replay(&mut self) {
        self.stopped = true;
        let was_running = self.replay.take().is_some();
        self.page.send(Command::Disarm {
            generation: self.generation,
        });
        if was_running {
            self.queued.push_back(CaptureEvent::Failed {
                error: "stopped".into(),
                canceled: true,
            });
        }
    }
}

impl Drop for CaptureStream {
    fn drop(&mut self) {
        self.page.send(Command::Disarm {
            generation: self.generation,
        });
    }
}

struct Streams {
    /// The page's window, hidden while a teed answer streams.
    window: Window,
    sent: chromiumoxide::listeners::EventStream<EventRequestWillBeSent>,
    response: chromiumoxide::listeners::EventStream<EventResponseReceived>,
    data: chromiumoxide::listeners::EventStream<EventDataReceived>,
    finished: chromiumoxide::listeners::EventStream<EventLoadingFinished>,
    failed: chromiumoxide::listeners::EventStream<EventLoadingFailed>,
    crashed: chromiumoxide::listeners::EventStream<EventTargetCrashed>,
    /// Paused requests, in replay mode only.
    paused: Option<chromiumoxide::listeners::EventStream<EventRequestPaused>>,
}

impl Streams {
    async fn start(
        page: &Page,
        t: Duration,
        replay: Option<&[String]>,
        hide: bool,
        viewers: Arc<AtomicUsize>,
    ) -> Result<Streams, BrowserError> {
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
        let id = if hide { window_of(page, t).await } else { None };
        Ok(Streams {
            window: Window {
                id,
                failed: false,
                hidden: false,
                viewers,
            },
            sent: timed("listen requestWillBeSent", t, page.event_listener()).await?,
            response: timed("listen responseReceived", t, page.event_listener()).await?,
            data: timed("listen dataReceived", t, page.event_listener()).await?,
            finished: timed("listen loadingFinished", t, page.event_listener()).await?,
            failed: timed("listen loadingFailed", t, page.event_listener()).await?,
            crashed: timed("listen targetCrashed", t, page.event_listener()).await?,
            paused,
        })
    }
}

/// The id of the page's window; `None` (logged) if Chromium does not tell.
async fn window_of(page: &Page, t: Duration) -> Option<WindowId> {
    let params = GetWindowForTargetParams::default();
    match timed("Browser.getWindowForTarget", t, page.execute(params)).await {
        Ok(r) => Some(r.result.window_id),
        Err(e) => {
            debug!(cause = %e, "the page's window is unknown; it stays shown while streaming");
            None
        }
    }
}

/// The page's window while a teed answer streams: minimized from the claim to the end. See the
/// module docs.
struct Window {
    /// The window to minimize; `None` when hiding is off.
    id: Option<WindowId>,
    /// A minimize failed once: the page is not hidden again.
    failed: bool,
    /// Minimized now, or a show failed and is still owed.
    hidden: bool,
    /// Screencasts running on the page: a watched page is never hidden.
    viewers: Arc<AtomicUsize>,
}

impl Window {
    /// Minimizes the window, unless hiding is off, it is hidden already or someone watches.
    async fn hide(&mut self, page: &Page) {
        if self.hidden || self.failed || self.viewers.load(Ordering::Relaxed) > 0 {
            return;
        }
        let Some(id) = self.id else { return };
        // Whatever the answer, the window may be minimized now: a show is owed.
        self.hidden = true;
        if let Err(e) = set_window_state(page, id, WindowState::Minimized).await {
            warn!(
                cause = %e,
                "could not minimize the lane's window while it streams; this page now renders \
                 every answer as it streams (slower under load, otherwise the same)"
            );
            self.failed = true;
        }
    }

    /// Shows a hidden window again. On failure it stays owed: the next call tries again first.
    async fn show(&mut self, page: &Page) {
        if !self.hidden {
            return;
        }
        let Some(id) = self.id else { return };
        match set_window_state(page, id, WindowState::Normal).await {
            Ok(()) => self.hidden = false,
            Err(e) => warn!(
                cause = %e,
                "could not show the lane's window again after an answer; trying again before \
                 the page's next step"
            ),
        }
    }
}

async fn set_window_state(
    page: &Page,
    id: WindowId,
    state: WindowState,
) -> Result<(), BrowserError> {
    let bounds = Bounds::builder().window_state(state).build();
    let params = SetWindowBoundsParams::new(id, bounds);
    timed(
        "Browser.setWindowBounds",
        WINDOW_TIMEOUT,
        page.execute(params),
    )
    .await
    .map(|_| ())
}

/// The armed state: who listens, which paths, and the claimed request once there is one.
struct Armed {
    generation: u64,
    paths: Vec<String>,
    events: mpsc::UnboundedSender<Delivery>,
    claimed: Option<RequestId>,
    /// `streamResourceContent` succeeded for the claimed request: body bytes arrive as
    /// `dataReceived`. Otherwise the body is read whole when loading finishes.
    streaming: bool,
    /// In replay mode, a request was handed to the stream.
    replaying: bool,
    /// That paused request while nobody has answered it.
    paused: Option<fetch::RequestId>,
}

impl Armed {
    fn is(&self, id: &RequestId) -> bool {
        self.claimed.as_ref() == Some(id)
    }
    fn send(&self, event: CaptureEvent) {
        let _ = self.events.send(Delivery::Event(event));
    }
}

/// CDP calls the page task runs as futures of its own.
type InFlight = FuturesUnordered<BoxFuture<'static, ()>>;

/// Ends an arming: a paused request it claimed and nobody answered is failed as aborted (the
/// page's fetch rejects as if the connection dropped).
fn release(armed: Option<Armed>, page: &Page, cdp_timeout: Duration, in_flight: &InFlight) {
    if let Some(id) = armed.and_then(|a| a.paused) {
        let page = page.clone();
        in_flight.push(Box::pin(async move {
            let params = FailRequestParams::new(id, ErrorReason::Aborted);
            if let Err(e) = timed("Fetch.failRequest", cdp_timeout, page.execute(params)).await {
                debug!(cause = %e, "could not fail the abandoned paused request");
            }
        }));
    }
}

/// The page task: the one owner of `page`. See the module docs.
pub(super) async fn page_task(
    page: Page,
    cdp_timeout: Duration,
    mut commands: mpsc::UnboundedReceiver<Command>,
    viewers: Arc<AtomicUsize>,
) {
    let mut in_flight = InFlight::new();
    // Until the capture starts, the task only runs calls.
    let (streams, crashes) = loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                None => return,
                Some(Command::Call(call) | Command::Resolve { call, .. }) => {
                    in_flight.push(call(page.clone()));
                }
                Some(Command::StartCapture { replay, hide, reply }) => {
                    let started =
                        Streams::start(&page, cdp_timeout, replay.as_deref(), hide, viewers.clone())
                            .await;
                    match started {
                        Ok(streams) => {
                            let (tx, rx) = watch::channel(0);
                            let _ = reply.send(Ok(rx));
                            break (streams, tx);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                Some(Command::Arm { .. } | Command::Disarm { .. }) => {}
                Some(Command::Close(done)) => {
                    close(page, cdp_timeout).await;
                    let _ = done.send(());
                    return;
                }
            },
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    };
    capture_loop(page, cdp_timeout, streams, commands, crashes, in_flight).await;
    debug!("page task ended");
}

async fn close(page: Page, cdp_timeout: Duration) {
    if let Err(e) = timed("Page.close", cdp_timeout, page.close()).await {
        debug!(cause = %e, "could not close the page");
    }
}

async fn capture_loop(
    page: Page,
    cdp_timeout: Duration,
    mut s: Streams,
    mut commands: mpsc::UnboundedReceiver<Command>,
    crashes: watch::Sender<u64>,
    mut in_flight: InFlight,
) {
    let mut armed: Option<Armed> = None;
    loop {
        // Biased, in the order the browser emits a request's events: when several are queued
        // (a fast response), `requestWillBeSent` is handled before its `loadingFinished`.
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(Command::Call(call)) => {
                    // No page step sees the page hidden (a Stop press mid-answer, a screenshot).
                    s.window.show(&page).await;
                    in_flight.push(call(page.clone()));
                }
                Some(Command::Resolve { call, request }) => {
                    if let Some(a) = armed.as_mut().filter(|a| a.paused.as_ref() == Some(&request)) {
                        a.paused = None;
                    }
                    in_flight.push(call(page.clone()));
                }
                Some(Command::Arm { generation, paths, events }) => {
                    release(armed.take(), &page, cdp_timeout, &in_flight);
                    s.window.show(&page).await;
                    armed = Some(Armed {
                        generation,
                        paths,
                        events,
                        claimed: None,
                        streaming: false,
                        replaying: false,
                        paused: None,
                    });
                }
                Some(Command::Disarm { generation }) => {
                    if armed.as_ref().is_some_and(|a| a.generation == generation) {
                        release(armed.take(), &page, cdp_timeout, &in_flight);
                        s.window.show(&page).await;
                    }
                }
                Some(Command::StartCapture { reply, .. }) => {
                    let _ = reply.send(Err(BrowserError::Cdp {
                        what: "starting the network capture".into(),
                        cause: "it is already running".into(),
                    }));
                }
                Some(Command::Close(done)) => {
                    release(armed.take(), &page, cdp_timeout, &in_flight);
                    // Let the last answers (a failed paused request) go out first, bounded.
                    let _ = tokio::time::timeout(cdp_timeout, in_flight.collect::<Vec<_>>()).await;
                    close(page, cdp_timeout).await;
                    let _ = done.send(());
                    return;
                }
                // Every handle is gone: the page is going away.
                None => break,
            },
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            Some(ev) = next_paused(&mut s.paused) => {
                let claim = armed.as_mut().filter(|a| {
                    !a.replaying
                        && ev.request.method == "POST"
                        && path_matches(&ev.request.url, &a.paths)
                });
                match claim {
                    Some(a) => {
                        // The stream replays it and reports `Sent` itself, with the headers it
                        // sends.
                        a.replaying = true;
                        a.paused = Some(ev.request_id.clone());
                        let _ = a.events.send(Delivery::Replay(Box::new((*ev).clone())));
                    }
                    None => {
                        // Not the armed request (a preflight, or nothing is armed): let it go.
                        let params = ContinueRequestParams::new(ev.request_id.clone());
                        let page = page.clone();
                        in_flight.push(Box::pin(async move {
                            if let Err(e) =
                                timed("Fetch.continueRequest", cdp_timeout, page.execute(params))
                                    .await
                            {
                                debug!(cause = %e, "could not release a paused request");
                            }
                        }));
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
                // Both wait here (one round trip together): data events queue meanwhile.
                tokio::join!(
                    start_streaming(&page, cdp_timeout, a, &ev.request_id),
                    s.window.hide(&page),
                );
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
                    record_delivery(&ev);
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
                    // Before the next command is read: the lane's next step sees it shown.
                    s.window.show(&page).await;
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
                    s.window.show(&page).await;
                }
            }
            Some(_) = s.crashed.next() => {
                crashes.send_modify(|n| *n += 1);
                if let Some(a) = armed.take() {
                    a.send(CaptureEvent::Crashed);
                    release(Some(a), &page, cdp_timeout, &in_flight);
                }
            }
            else => break,
        }
    }
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

/// Whether the URL's path (query and fragment ignored) is one of `paths`, or ends with one. A
/// `*` segment in a path stands for exactly one non-empty segment (`/chat/conversation/*`
/// matches `/chat/conversation/<id>`, not `/chat/conversation` or `…/<id>/stop`).
pub fn path_matches(url: &str, paths: &[String]) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    paths.iter().any(|p| {
        if !p.split('/').any(|segment| segment == "*") {
            return p == path || path.ends_with(p.as_str());
        }
        let want: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        let have: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        have.len() >= want.len()
            && have[have.len() - want.len()..]
                .iter()
                .zip(&want)
                .all(|(h, w)| if *w == "*" { !h.is_empty() } else { h == w })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation_of(cmd: Option<Command>) -> (&'static str, u64) {
        match cmd {
            Some(Command::Arm { generation, .. }) => ("arm", generation),
            Some(Command::Disarm { generation }) => ("disarm", generation),
            _ => ("other", 0),
        }
    }

    #[tokio::test]
    async fn a_request_stream_disarms_its_own_arming_when_dropped() {
        let (page, mut commands) = PageHandle::for_test();
        let (_tx, crashes) = watch::channel(0);
        let capture = Capture::new(
            page,
            Duration::from_secs(1),
            crashes,
            true,
            reqwest::Client::new(),
        );
        let first = capture.arm(&["/x"]);
        assert_eq!(generation_of(commands.recv().await), ("arm", 1));
        let second = capture.arm(&["/x"]);
        assert_eq!(generation_of(commands.recv().await), ("arm", 2));
        // A late drop of the first request's stream names its own arming only.
        drop(first);
        assert_eq!(generation_of(commands.recv().await), ("disarm", 1));
        drop(second);
        assert_eq!(generation_of(commands.recv().await), ("disarm", 2));
    }

    #[tokio::test]
    async fn a_stopped_stream_never_starts_a_replay_that_arrives_late() {
        let (page, mut commands) = PageHandle::for_test();
        let (_tx, crashes) = watch::channel(0);
        let capture = Capture::new(
            page,
            Duration::from_secs(1),
            crashes,
            true,
            reqwest::Client::new(),
        );
        let mut stream = capture.arm(&["/x"]);
        let Some(Command::Arm { events, .. }) = commands.recv().await else {
            panic!("armed first");
        };
        stream.stop_replay();
        assert_eq!(generation_of(commands.recv().await), ("disarm", 1));
        // The page task's claim was already on its way.
        let paused: EventRequestPaused = serde_json::from_value(serde_json::json!({
            "requestId": "interception-1",
            "request": {"url": "http://h/x", "method": "POST", "headers": {},
                        "initialPriority": "High", "referrerPolicy": "no-referrer"},
            "frameId": "frame-1",
            "resourceType": "Fetch",
        }))
        .unwrap();
        events.send(Delivery::Replay(Box::new(paused))).unwrap();
        drop(events);
        // Not replayed: the stream just ends (the page task fails the paused request).
        assert_eq!(stream.recv().await, None);
        assert!(stream.replay.is_none());
    }

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
        let one = vec!["/chat/conversation/*".to_owned()];
        assert!(path_matches(
            "https://huggingface.co/chat/conversation/68ab?x=1",
            &one
        ));
        assert!(!path_matches(
            "https://huggingface.co/chat/conversation",
            &one
        ));
        assert!(!path_matches(
            "https://huggingface.co/chat/conversation/",
            &one
        ));
        assert!(!path_matches(
            "https://huggingface.co/chat/conversation/68ab/stop-generating",
            &one
        ));
        assert!(!path_matches(
            "https://chat.z.ai/api/v2/chat/completions/x",
            &paths
        ));
    }
}
