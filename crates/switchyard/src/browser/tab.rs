//! [`Tab`]: a lane's page, owned by one task and reached by message; every CDP call is bounded.
//!
//! A page has exactly one owner: its **page task** ([`super::capture::page_task`]), which holds
//! the chromiumoxide `Page` and its event listeners. The lane's [`Tab`], the lane's
//! [`Capture`] handle and a request's replay all send it [`Command`]s and await the reply; no
//! one else holds the `Page`. The task runs each CDP call as a future of its own (so a page
//! script waiting on the DOM never holds up the capture's network events), and ends when the
//! page is closed or every handle is gone.
//!
//! A crashed renderer can leave a CDP call waiting forever (`page.evaluate()` was seen hanging
//! for more than a minute), so every call carries a timeout inside the page task, and the
//! caller's wait for the reply carries one too.

#![expect(
    clippy::disallowed_types,
    reason = "the page task is the one owner of the chromiumoxide::Page; Tab only sends it messages"
)]

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use base64::Engine;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams, MouseButton,
};
use chromiumoxide::cdp::browser_protocol::network;
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, CaptureScreenshotFormat, CaptureScreenshotParams,
    CrashParams, NavigateParams, RemoveScriptToEvaluateOnNewDocumentParams, ScriptIdentifier,
};
use chromiumoxide::cdp::js_protocol::heap_profiler::CollectGarbageParams;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};

use super::capture::{Capture, Delivery};
use super::{BrowserError, timed};

/// The page's network buffers for response bodies (`Network.enable`): a body larger than
/// the per-resource bound is not kept (Chromium's own default, 10 MB, so a capture reads what it
/// always did), and the total holds what one request needs between two clears
/// ([`Tab::forget_network_records`]).
const NETWORK_RESOURCE_BUFFER: i64 = 10_000_000;
const NETWORK_TOTAL_BUFFER: i64 = 2 * NETWORK_RESOURCE_BUFFER;

/// How much longer than a call's own bound a caller waits for the page task's reply (the task
/// may be finishing a short call of its own first).
const REPLY_SLACK: Duration = Duration::from_secs(2);

/// A CDP call to run with the page, built by the caller; it sends its own reply.
pub(super) type Call = Box<dyn FnOnce(Page) -> BoxFuture<'static, ()> + Send>;

/// What the page task is asked to do.
pub(super) enum Command {
    /// Run one CDP call.
    Call(Call),
    /// Start listening to the network (and, with `replay` paths, pause those requests).
    StartCapture {
        replay: Option<Vec<String>>,
        /// Minimize the page's window while a teed answer streams (`capture::Window`).
        hide: bool,
        reply: oneshot::Sender<Result<watch::Receiver<u64>, BrowserError>>,
    },
    /// Claim the next matching POST for the arming `generation`; its events go to `events`.
    Arm {
        generation: u64,
        paths: Vec<String>,
        events: mpsc::UnboundedSender<Delivery>,
    },
    /// End the arming `generation` (a later arming is left alone). A paused request it claimed
    /// and nobody answered is failed as aborted.
    Disarm { generation: u64 },
    /// Answer the claimed paused request (fulfil or fail it); the page task then knows it is
    /// no longer pending.
    Resolve {
        call: Call,
        request: chromiumoxide::cdp::browser_protocol::fetch::RequestId,
    },
    /// Close the page and end the task.
    Close(oneshot::Sender<()>),
}

/// A handle to a page task: how everything else reaches the page.
#[derive(Clone)]
pub(super) struct PageHandle {
    commands: mpsc::UnboundedSender<Command>,
    /// Screencasts of the page running now (the dashboard's live view): the page task never
    /// hides a watched page.
    pub(super) viewers: Arc<AtomicUsize>,
}

fn gone(what: &str) -> BrowserError {
    BrowserError::Cdp {
        what: what.to_owned(),
        cause: "the page is closed".to_owned(),
    }
}

impl PageHandle {
    /// A handle whose commands a test reads instead of a page task.
    #[cfg(test)]
    pub(super) fn for_test() -> (PageHandle, mpsc::UnboundedReceiver<Command>) {
        let (commands, rx) = mpsc::unbounded_channel();
        let viewers = Arc::default();
        (PageHandle { commands, viewers }, rx)
    }

    pub(super) fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Runs one CDP command in the page task, bounded by `timeout`, and returns its result.
    pub(super) async fn exec<C>(
        &self,
        what: &str,
        timeout: Duration,
        params: C,
    ) -> Result<C::Response, BrowserError>
    where
        C: chromiumoxide::Command + Send + 'static,
        C::Response: Send + 'static,
    {
        let (call, reply) = call(what, timeout, params);
        if !self.send(Command::Call(call)) {
            return Err(gone(what));
        }
        await_reply(what, timeout, reply).await
    }
}

/// A CDP command as a [`Call`] for the page task, and the receiver of its result.
pub(super) fn call<C>(
    what: &str,
    timeout: Duration,
    params: C,
) -> (Call, oneshot::Receiver<Result<C::Response, BrowserError>>)
where
    C: chromiumoxide::Command + Send + 'static,
    C::Response: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let what = what.to_owned();
    let call: Call = Box::new(move |page: Page| {
        Box::pin(async move {
            let result = timed(&what, timeout, page.execute(params))
                .await
                .map(|r| r.result);
            let _ = tx.send(result);
        })
    });
    (call, rx)
}

/// Waits for a call's reply, a little longer than the call's own bound.
pub(super) async fn await_reply<T>(
    what: &str,
    timeout: Duration,
    reply: oneshot::Receiver<Result<T, BrowserError>>,
) -> Result<T, BrowserError> {
    match tokio::time::timeout(timeout + REPLY_SLACK, reply).await {
        Ok(Ok(result)) => result,
        // The page task ended (the page closed) with the call in flight.
        Ok(Err(_)) => Err(gone(what)),
        Err(_) => Err(BrowserError::Timeout {
            what: what.to_owned(),
            after: timeout + REPLY_SLACK,
        }),
    }
}

/// A lane's page.
/// One cookie of a page's context, as saved and restored (values are secrets to the caller).
#[derive(Clone)]
pub struct SavedCookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub path: String,
    /// Unix seconds; `None` for a session cookie.
    pub expires: Option<f64>,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: Option<String>,
}

pub struct Tab {
    page: PageHandle,
    /// The page's CDP target (a popup it opens names it as its opener).
    target: chromiumoxide::cdp::browser_protocol::target::TargetId,
    cdp_timeout: Duration,
    /// The browser context the page lives in, when it has its own.
    context: Option<BrowserContextId>,
    /// Where the pointer was left (CSS pixels of the viewport), for the next path.
    pointer: std::sync::Mutex<(f64, f64)>,
}

/// A box on the page, in CSS pixels of the viewport (`getBoundingClientRect`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// A human-looking pointer path from `from` to `to`: a bent curve (a quadratic Bézier whose
/// control point sits off the straight line), eased in and out, with a little jitter, ending
/// exactly on `to`. One point per step, `to` last.
pub fn pointer_path(from: (f64, f64), to: (f64, f64), rng: &mut fastrand::Rng) -> Vec<(f64, f64)> {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let distance = (dx * dx + dy * dy).sqrt();
    let steps = (8.0 + distance / 40.0).clamp(8.0, 30.0) as usize;
    // The bend: up to a fifth of the distance, to either side.
    let bend = (rng.f64() - 0.5) * 0.4 * distance;
    let (nx, ny) = if distance > 0.0 {
        (-dy / distance, dx / distance)
    } else {
        (0.0, 0.0)
    };
    let control = (from.0 + dx / 2.0 + nx * bend, from.1 + dy / 2.0 + ny * bend);
    (1..=steps)
        .map(|i| {
            if i == steps {
                return to;
            }
            let t = i as f64 / steps as f64;
            // Ease in and out: slow start, fast middle, slow landing.
            let t = t * t * (3.0 - 2.0 * t);
            let u = 1.0 - t;
            let mut jitter = || (rng.f64() - 0.5) * 1.5;
            (
                u * u * from.0 + 2.0 * u * t * control.0 + t * t * to.0 + jitter(),
                u * u * from.1 + 2.0 * u * t * control.1 + t * t * to.1 + jitter(),
            )
        })
        .collect()
}

/// A point to press inside `rect`: varied, within its middle half (never on its edge).
pub fn press_point(rect: Rect, rng: &mut fastrand::Rng) -> (f64, f64) {
    (
        rect.x + rect.width * (0.25 + 0.5 * rng.f64()),
        rect.y + rect.height * (0.25 + 0.5 * rng.f64()),
    )
}

impl Tab {
    /// Starts the page task, which takes ownership of `page`.
    pub(super) fn new(page: Page, cdp_timeout: Duration, context: Option<BrowserContextId>) -> Tab {
        let (commands, rx) = mpsc::unbounded_channel();
        let target = page.target_id().clone();
        let viewers = Arc::<AtomicUsize>::default();
        crate::tasks::spawn(
            "page",
            super::capture::page_task(page, cdp_timeout, rx, viewers.clone()),
        );
        Tab {
            page: PageHandle { commands, viewers },
            target,
            cdp_timeout,
            context,
            pointer: std::sync::Mutex::new((12.0, 12.0)),
        }
    }

    /// A handle that can start a screencast of this page (the dashboard's live view).
    pub fn screen(&self) -> super::Screen {
        super::Screen::new(self.page.clone(), self.cdp_timeout)
    }

    /// The page's CDP target id.
    pub(super) fn target(&self) -> &chromiumoxide::cdp::browser_protocol::target::TargetId {
        &self.target
    }

    /// The default bound for one CDP call.
    pub fn cdp_timeout(&self) -> Duration {
        self.cdp_timeout
    }

    /// Starts the network capture for this page. Call before navigating so nothing is missed.
    /// With `replay` (endpoint paths), those requests are replayed instead of teed.
    /// A replay goes through `proxy`, the lane's proxy. With `hide` (tee only), the page's
    /// window is minimized while an answer streams, so the page does no painting for it
    /// (module docs of `capture`).
    pub async fn capture(
        &self,
        replay: Option<&[&str]>,
        proxy: Option<&crate::config::ProxyUrl>,
        hide: bool,
    ) -> Result<Capture, BrowserError> {
        let what = "starting the network capture";
        let client = super::replay::client(proxy).map_err(|cause| BrowserError::Cdp {
            what: what.to_owned(),
            cause,
        })?;
        let (reply, rx) = oneshot::channel();
        let command = Command::StartCapture {
            replay: replay.map(|paths| paths.iter().map(|p| (*p).to_owned()).collect()),
            hide: hide && replay.is_none(),
            reply,
        };
        if !self.page.send(command) {
            return Err(gone(what));
        }
        // Eight listeners, `Fetch.enable` and the window's id, each bounded.
        let crashes = await_reply(what, self.cdp_timeout * 9, rx).await?;
        Ok(Capture::new(
            self.page.clone(),
            self.cdp_timeout,
            crashes,
            replay.is_some(),
            client,
        ))
    }

    /// Drops what the renderer's DevTools network agent keeps of the page's past requests.
    ///
    /// With the Network domain on (chromiumoxide turns it on for every page), Blink keeps a
    /// record of every request of the page (URL, headers, timings, and its body within a
    /// buffer) until the page navigates; its buffer limit evicts bodies, never the records, so
    /// a chat app that never reloads (a lane's page, request after request) keeps about five
    /// records per request, measured, without end. Only `Network.disable` clears them, so this
    /// turns the domain off and on again (with the bounds above). It also clears the domain's
    /// overrides (extra headers, a user agent, blocked URLs); switchyard sets none. Call it only
    /// between requests, with nothing armed: events in between are not seen.
    pub async fn forget_network_records(&self) -> Result<(), BrowserError> {
        let t = self.cdp_timeout;
        (self.page)
            .exec("Network.disable", t, network::DisableParams::default())
            .await?;
        let params = network::EnableParams::builder()
            .max_total_buffer_size(NETWORK_TOTAL_BUFFER)
            .max_resource_buffer_size(NETWORK_RESOURCE_BUFFER)
            .build();
        self.page.exec("Network.enable", t, params).await?;
        Ok(())
    }

    /// Runs a full garbage collection in the page's renderer (`HeapProfiler.collectGarbage`),
    /// bounded by the CDP timeout.
    ///
    /// V8 and Blink's heap grow between their own collections with the garbage of the page
    /// scripts and of the site's work, and keep those pages: a DeepSeek replica lane's renderer
    /// went from about 99 to 49 MiB of anonymous memory with one call after some 1,500
    /// requests. The renderer's main thread runs the collection (tens of ms), so anything else
    /// sent to the page meanwhile waits for it; a lane calls it only while idle
    /// (`lanes::purge`).
    pub async fn collect_garbage(&self) -> Result<(), BrowserError> {
        (self.page)
            .exec(
                "HeapProfiler.collectGarbage",
                self.cdp_timeout,
                CollectGarbageParams::default(),
            )
            .await
            .map(|_| ())
    }

    /// Navigates and waits for the navigation to commit. Also recovers a crashed renderer.
    pub async fn goto(&self, url: &str, timeout: Duration) -> Result<(), BrowserError> {
        let resp = self
            .page
            .exec("Page.navigate", timeout, NavigateParams::new(url))
            .await?;
        if let Some(error) = &resp.error_text {
            return Err(BrowserError::Cdp {
                what: format!("loading {url}"),
                cause: error.clone(),
            });
        }
        Ok(())
    }

    /// Evaluates a script (which may return a promise) and returns its JSON value. `timeout`
    /// must be longer than any wait the script does itself.
    pub async fn eval(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, BrowserError> {
        let params = EvaluateParams::builder()
            .expression(script)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(|e| BrowserError::Cdp {
                what: what.to_owned(),
                cause: e,
            })?;
        let resp = self.page.exec(what, timeout, params).await?;
        if let Some(exception) = &resp.exception_details {
            let cause = exception
                .exception
                .as_ref()
                .and_then(|e| e.description.clone())
                .unwrap_or_else(|| exception.text.clone());
            return Err(BrowserError::Script {
                what: what.to_owned(),
                cause,
            });
        }
        Ok(resp.result.value.clone().unwrap_or_default())
    }

    /// Runs `source` in every new document of this page before the page's own scripts
    /// (`Page.addScriptToEvaluateOnNewDocument`); returns the handle that removes it again.
    pub async fn add_init_script(&self, source: &str) -> Result<String, BrowserError> {
        let resp = self
            .page
            .exec(
                "Page.addScriptToEvaluateOnNewDocument",
                self.cdp_timeout,
                AddScriptToEvaluateOnNewDocumentParams::new(source),
            )
            .await?;
        Ok(resp.identifier.inner().clone())
    }

    /// Stops running a script added by [`Self::add_init_script`] in new documents.
    pub async fn remove_init_script(&self, id: &str) -> Result<(), BrowserError> {
        self.page
            .exec(
                "Page.removeScriptToEvaluateOnNewDocument",
                self.cdp_timeout,
                RemoveScriptToEvaluateOnNewDocumentParams::new(ScriptIdentifier::new(id)),
            )
            .await
            .map(|_| ())
    }

    /// The cookies the page's context sends to `url` (for saving a signed-in session).
    pub async fn cookies(&self, url: &str) -> Result<Vec<SavedCookie>, BrowserError> {
        use chromiumoxide::cdp::browser_protocol::network::GetCookiesParams;
        let params = GetCookiesParams::builder()
            .urls(vec![url.to_owned()])
            .build();
        let resp = self
            .page
            .exec("Network.getCookies", self.cdp_timeout, params)
            .await?;
        Ok(resp
            .cookies
            .iter()
            .map(|c| SavedCookie {
                name: c.name.clone(),
                value: c.value.clone(),
                domain: c.domain.clone(),
                path: c.path.clone(),
                expires: (!c.session).then_some(c.expires),
                http_only: c.http_only,
                secure: c.secure,
                same_site: c.same_site.as_ref().map(|s| s.as_ref().to_owned()),
            })
            .collect())
    }

    /// Puts cookies into the page's context (restoring a saved session before navigating).
    pub async fn set_cookies(&self, cookies: &[SavedCookie]) -> Result<(), BrowserError> {
        use chromiumoxide::cdp::browser_protocol::network::{
            CookieParam, CookieSameSite, SetCookiesParams, TimeSinceEpoch,
        };
        let list: Vec<CookieParam> = cookies
            .iter()
            .filter_map(|c| {
                let mut b = CookieParam::builder()
                    .name(c.name.clone())
                    .value(c.value.clone())
                    .domain(c.domain.clone())
                    .path(c.path.clone())
                    .http_only(c.http_only)
                    .secure(c.secure);
                if let Some(at) = c.expires {
                    b = b.expires(TimeSinceEpoch::new(at));
                }
                if let Some(s) = c
                    .same_site
                    .as_deref()
                    .and_then(|s| s.parse::<CookieSameSite>().ok())
                {
                    b = b.same_site(s);
                }
                b.build().ok()
            })
            .collect();
        if list.is_empty() {
            return Ok(());
        }
        self.page
            .exec(
                "Network.setCookies",
                self.cdp_timeout,
                SetCookiesParams::new(list),
            )
            .await
            .map(|_| ())
    }

    /// How long [`Tab::insert_text`] waits for `text`: large prompts take longer to lay out,
    /// so a second per 100 KB on top of the CDP bound.
    pub fn insert_text_bound(&self, text: &str) -> Duration {
        self.cdp_timeout + Duration::from_millis(text.len() as u64 / 100)
    }

    /// Types text at the focused element as one trusted input event (`Input.insertText`), which
    /// React, Svelte and plain textareas all see as user input.
    pub async fn insert_text(&self, text: &str) -> Result<(), BrowserError> {
        self.page
            .exec(
                "Input.insertText",
                self.insert_text_bound(text),
                InsertTextParams::new(text),
            )
            .await
            .map(|_| ())
    }

    /// Clicks inside `rect` the way a person's mouse does: the pointer moves there from where
    /// it was along a bent path (`Input.dispatchMouseEvent` moves with short pauses), rests a
    /// moment, then presses and releases the left button at a varied point of the box. The
    /// page sees trusted `mousemove`, `mousedown`, `mouseup` and `click` events. Each event is
    /// one bounded CDP call.
    pub async fn human_click(&self, rect: Rect) -> Result<(), BrowserError> {
        let mut rng = fastrand::Rng::new();
        let from = *self.pointer.lock().unwrap_or_else(|e| e.into_inner());
        let to = press_point(rect, &mut rng);
        let mouse = |kind: DispatchMouseEventType, (x, y): (f64, f64)| {
            let mut params = DispatchMouseEventParams::new(kind.clone(), x, y);
            if kind != DispatchMouseEventType::MouseMoved {
                params.button = Some(MouseButton::Left);
                params.buttons = Some(1);
                params.click_count = Some(1);
            }
            params
        };
        for point in pointer_path(from, to, &mut rng) {
            self.page
                .exec(
                    "Input.dispatchMouseEvent (move)",
                    self.cdp_timeout,
                    mouse(DispatchMouseEventType::MouseMoved, point),
                )
                .await?;
            *self.pointer.lock().unwrap_or_else(|e| e.into_inner()) = point;
            tokio::time::sleep(Duration::from_millis(rng.u64(6..=16))).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(40..=120))).await;
        self.page
            .exec(
                "Input.dispatchMouseEvent (press)",
                self.cdp_timeout,
                mouse(DispatchMouseEventType::MousePressed, to),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(rng.u64(50..=110))).await;
        let mut release = mouse(DispatchMouseEventType::MouseReleased, to);
        release.buttons = Some(0);
        self.page
            .exec(
                "Input.dispatchMouseEvent (release)",
                self.cdp_timeout,
                release,
            )
            .await
            .map(|_| ())
    }

    /// The page as a PNG (`Page.captureScreenshot`), for a failure bundle.
    pub async fn screenshot(&self, timeout: Duration) -> Result<Vec<u8>, BrowserError> {
        let params = CaptureScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .build();
        let resp = self
            .page
            .exec("Page.captureScreenshot", timeout, params)
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(AsRef::<str>::as_ref(&resp.data))
            .map_err(|e| BrowserError::Cdp {
                what: "Page.captureScreenshot".to_owned(),
                cause: format!("unreadable image data: {e}"),
            })
    }

    /// The page's current HTML (`document.documentElement.outerHTML`), for a failure bundle.
    pub async fn html(&self, timeout: Duration) -> Result<String, BrowserError> {
        let value = self
            .eval(
                "reading the page HTML",
                "document.documentElement ? document.documentElement.outerHTML : ''",
                timeout,
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Crashes the renderer (`Page.crash`), for fault-injection tests.
    pub async fn crash(&self) -> Result<(), BrowserError> {
        // The call never gets an answer: the renderer dies while handling it.
        let _ = self
            .page
            .exec(
                "Page.crash",
                Duration::from_millis(500),
                CrashParams::default(),
            )
            .await;
        Ok(())
    }

    /// Hangs the renderer in an endless script, for fault-injection tests (the call itself
    /// never returns; it is let go after a short bound).
    pub async fn hang(&self) -> Result<(), BrowserError> {
        let params = EvaluateParams::builder()
            .expression("setTimeout(() => { for (;;) {} }, 0)")
            .build()
            .map_err(|e| BrowserError::Cdp {
                what: "Runtime.evaluate".to_owned(),
                cause: e,
            })?;
        self.page
            .exec("Runtime.evaluate (hang)", Duration::from_secs(2), params)
            .await
            .map(|_| ())
    }

    /// Closes the page (ending its page task) and disposes its browser context.
    pub async fn close(self, browser: &super::Chromium) {
        let t = self.cdp_timeout;
        let (done, rx) = oneshot::channel();
        if self.page.send(Command::Close(done)) {
            let _ = tokio::time::timeout(t + REPLY_SLACK, rx).await;
        }
        if let Some(context) = self.context {
            let guard = browser.browser.lock().await;
            let _ = timed(
                "Target.disposeBrowserContext",
                t,
                guard.dispose_browser_context(context),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_path_bends_and_lands_on_its_target() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (from, to) in [
            ((10.0, 10.0), (600.0, 420.0)),
            ((300.0, 300.0), (300.0, 300.0)),
        ] {
            let path = pointer_path(from, to, &mut rng);
            assert!((8..=30).contains(&path.len()), "{}", path.len());
            assert_eq!(path.last(), Some(&to));
            let distance = ((to.0 - from.0).powi(2) + (to.1 - from.1).powi(2)).sqrt();
            // Every point stays near the segment: at most the bend (a fifth) plus jitter.
            for (x, y) in &path {
                let off = if distance > 0.0 {
                    ((to.0 - from.0) * (from.1 - y) - (from.0 - x) * (to.1 - from.1)).abs()
                        / distance
                } else {
                    ((x - from.0).powi(2) + (y - from.1).powi(2)).sqrt()
                };
                assert!(off <= distance * 0.2 + 2.0, "{off} off the line");
            }
        }
        // Long moves take more steps than short ones.
        let short = pointer_path((0.0, 0.0), (50.0, 0.0), &mut rng).len();
        let long = pointer_path((0.0, 0.0), (900.0, 0.0), &mut rng).len();
        assert!(long > short, "{long} vs {short}");
    }

    #[test]
    fn presses_land_in_the_middle_half_of_the_box() {
        let mut rng = fastrand::Rng::with_seed(3);
        let rect = Rect {
            x: 100.0,
            y: 50.0,
            width: 80.0,
            height: 20.0,
        };
        let points: Vec<_> = (0..50).map(|_| press_point(rect, &mut rng)).collect();
        for (x, y) in &points {
            assert!(
                (120.0..=160.0).contains(x) && (55.0..=65.0).contains(y),
                "{x},{y}"
            );
        }
        assert!(points.windows(2).any(|w| w[0] != w[1]), "the points vary");
    }
}
