//! [`Tab`]: a lane's page, where every CDP call carries a timeout.
//!
//! A crashed renderer can leave a CDP call waiting forever (`page.evaluate()` was seen hanging
//! for more than a minute), so nothing here awaits chromiumoxide without a bound.

#![expect(
    clippy::disallowed_types,
    reason = "Tab is the timed facade over chromiumoxide::Page"
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

use super::{BrowserError, timed};
use crate::browser::capture::Capture;

/// A lane's page.
pub struct Tab {
    page: Page,
    cdp_timeout: Duration,
    /// The browser context the page lives in, when it has its own.
    context: Option<BrowserContextId>,
}

impl Tab {
    pub(super) fn new(page: Page, cdp_timeout: Duration, context: Option<BrowserContextId>) -> Tab {
        Tab {
            page,
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
    pub async fn capture(&self, replay: Option<&[&str]>) -> Result<Capture, BrowserError> {
        Capture::start(self.page.clone(), self.cdp_timeout, replay).await
    }

    /// Navigates and waits for the navigation to commit. Also recovers a crashed renderer.
    pub async fn goto(&self, url: &str, timeout: Duration) -> Result<(), BrowserError> {
        let params = NavigateParams::new(url);
        let resp = timed("Page.navigate", timeout, self.page.execute(params)).await?;
        if let Some(error) = &resp.result.error_text {
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
        let resp = timed(what, timeout, self.page.execute(params)).await?;
        if let Some(exception) = &resp.result.exception_details {
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
        Ok(resp.result.result.value.clone().unwrap_or_default())
    }

    /// Types text at the focused element as one trusted input event (`Input.insertText`), which
    /// React, Svelte and plain textareas all see as user input.
    pub async fn insert_text(&self, text: &str) -> Result<(), BrowserError> {
        // Large prompts take longer to lay out; allow a second per 100 KB on top of the bound.
        let bound = self.cdp_timeout + Duration::from_millis(text.len() as u64 / 100);
        timed(
            "Input.insertText",
            bound,
            self.page.execute(InsertTextParams::new(text)),
        )
        .await
        .map(|_| ())
    }

    /// The page as a PNG (`Page.captureScreenshot`), for a failure bundle.
    pub async fn screenshot(&self, timeout: Duration) -> Result<Vec<u8>, BrowserError> {
        let params = CaptureScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .build();
        let resp = timed("Page.captureScreenshot", timeout, self.page.execute(params)).await?;
        base64::engine::general_purpose::STANDARD
            .decode(AsRef::<str>::as_ref(&resp.result.data))
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

    /// A PNG of the visible page (`Page.captureScreenshot`).
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, BrowserError> {
        let params = CaptureScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .build();
        let resp = timed(
            "Page.captureScreenshot",
            self.cdp_timeout,
            self.page.execute(params),
        )
        .await?;
        let data: &str = resp.result.data.as_ref();
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).map_err(|e| {
            BrowserError::Cdp {
                what: "Page.captureScreenshot".into(),
                cause: format!("the image is not base64: {e}"),
            }
        })
    }

    /// Crashes the renderer (`Page.crash`), for fault-injection tests.
    pub async fn crash(&self) -> Result<(), BrowserError> {
        // The call never gets an answer: the renderer dies while handling it.
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            self.page.execute(CrashParams::default()),
        )
        .await;
        Ok(())
    }

    /// Closes the page and disposes its browser context.
    pub async fn close(self, browser: &super::Chromium) {
        let t = self.cdp_timeout;
        let _ = timed("Page.close", t, self.page.close()).await;
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
