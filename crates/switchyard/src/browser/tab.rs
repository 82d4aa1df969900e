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

use std::time::Duration;

use base64::Engine;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, CrashParams, NavigateParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};

use super::capture::{Capture, Delivery};
use super::{BrowserError, timed};

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
        (PageHandle { commands }, rx)
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
    cdp_timeout: Duration,
    /// The browser context the page lives in, when it has its own.
    context: Option<BrowserContextId>,
}

impl Tab {
    /// Starts the page task, which takes ownership of `page`.
    pub(super) fn new(page: Page, cdp_timeout: Duration, context: Option<BrowserContextId>) -> Tab {
        let (commands, rx) = mpsc::unbounded_channel();
        crate::tasks::spawn("page", super::capture::page_task(page, cdp_timeout, rx));
        Tab {
            page: PageHandle { commands },
            cdp_timeout,
            context,
        }
    }

    /// The default bound for one CDP call.
    pub fn cdp_timeout(&self) -> Duration {
        self.cdp_timeout
    }

    /// Starts the network capture for this page. Call before navigating so nothing is missed.
    /// With `replay` (endpoint paths), those requests are replayed instead of teed.
    /// A replay goes through `proxy`, the lane's proxy.
    pub async fn capture(
        &self,
        replay: Option<&[&str]>,
        proxy: Option<&crate::config::ProxyUrl>,
    ) -> Result<Capture, BrowserError> {
        let what = "starting the network capture";
        let client = super::replay::client(proxy).map_err(|cause| BrowserError::Cdp {
            what: what.to_owned(),
            cause,
        })?;
        let (reply, rx) = oneshot::channel();
        let command = Command::StartCapture {
            replay: replay.map(|paths| paths.iter().map(|p| (*p).to_owned()).collect()),
            reply,
        };
        if !self.page.send(command) {
            return Err(gone(what));
        }
        // Eight listeners and `Fetch.enable`, each bounded.
        let crashes = await_reply(what, self.cdp_timeout * 8, rx).await?;
        Ok(Capture::new(
            self.page.clone(),
            self.cdp_timeout,
            crashes,
            replay.is_some(),
            client,
        ))
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

    /// Types text at the focused element as one trusted input event (`Input.insertText`), which
    /// React, Svelte and plain textareas all see as user input.
    pub async fn insert_text(&self, text: &str) -> Result<(), BrowserError> {
        // Large prompts take longer to lay out; allow a second per 100 KB on top of the bound.
        let bound = self.cdp_timeout + Duration::from_millis(text.len() as u64 / 100);
        self.page
            .exec("Input.insertText", bound, InsertTextParams::new(text))
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
