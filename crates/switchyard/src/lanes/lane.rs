//! One lane: a page of one provider's site, its capture, how it runs one request, and the steps
//! that bring its page back.
//!
//! The lane's supervisor (`super::supervisor`) is the page's only user: it runs one request at a
//! time through [`Lane::handle`] and, when the page or the browser breaks, calls
//! [`Lane::reload`], [`Lane::new_context`] or [`Lane::relaunch`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::board::Board;
use super::host::BrowserHost;
use super::plan::LaneSpec;
use super::relay::Outcome;
use crate::accounts::Pool;
use crate::artifacts::files::{Bundle, bundle_dir, capture_paths, save_bundle, save_capture};
use crate::artifacts::{LaneLog, Settings as ArtifactSettings, Tape};
use crate::browser::capture::Capture;
use crate::browser::{Chromium, Tab};
use crate::config::{CaptureMode, ProviderConfig};
use crate::providers::{Driver, DriverError, StreamEvent};
use crate::scheduler::Job;

/// The outcome as a capture file states it.
fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Completed => serde_json::json!({"result": "completed"}),
        Outcome::Cancelled { stopped } => {
            serde_json::json!({"result": "cancelled", "site_stopped": stopped})
        }
        Outcome::Failed(msg, _) => serde_json::json!({"result": "failed", "error": msg}),
    }
}

/// What the client of a request stopped by shutdown sees.
pub const SHUTDOWN_STOPPED: &str = "switchyard is shutting down; the request was stopped.";

/// How long a site may take to show its chat UI after navigation.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a navigation may take.
pub const NAV_TIMEOUT: Duration = Duration::from_secs(45);
/// The most a failure bundle's screenshot or HTML may take (the lane waits for them).
const BUNDLE_CDP_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a lane owns.
pub struct Lane {
    pub spec: LaneSpec,
    pub driver: Driver,
    pub settings: ProviderConfig,
    pub tab: Tab,
    pub capture: Capture,
    /// The browser the page lives in (shared with other lanes in `context` isolation).
    pub browser: Arc<Chromium>,
    /// Where a new browser comes from when this one dies; whether the lane owns its browser
    /// (`process` isolation) and must close it.
    pub host: BrowserHost,
    /// Where capture files and failure bundles go.
    pub artifacts: Arc<ArtifactSettings>,
    /// The lane's own recent log lines, for its failure bundles.
    pub log: LaneLog,
    /// The saved accounts; the lane's own one (if any) is `accounts.held(&spec.id)`.
    pub accounts: Arc<Pool>,
    /// The running request's attempt, for Retry With Another Account.
    pub attempt: super::rotation::Attempt,
    /// The page's next chat: prepared while idle, taken by the next request (`super::warm`).
    pub warm: super::warm::Warm,
    /// Requests since the page's last idle purge and since it was loaded (`super::purge`).
    pub purge: super::purge::Purge,
}

impl Lane {
    /// Opens the page and waits until the site is ready. On failure the page is closed again.
    pub async fn open(
        spec: LaneSpec,
        settings: ProviderConfig,
        browser: Arc<Chromium>,
        host: BrowserHost,
        artifacts: Arc<ArtifactSettings>,
        accounts: Arc<Pool>,
    ) -> Result<Lane, String> {
        let Some(driver) = Driver::of(spec.provider) else {
            return Err(format!("{} has no driver in this build", spec.provider));
        };
        let (tab, capture) = open_page(&browser, &host, driver, &settings).await?;
        let lane = Lane {
            spec,
            driver,
            settings,
            tab,
            capture,
            browser,
            host,
            artifacts,
            log: LaneLog::default(),
            accounts,
            attempt: Default::default(),
            warm: Default::default(),
            purge: Default::default(),
        };
        if let Err(e) = lane.load().await {
            // The caller closes a browser it launched for this lane; only the page goes here.
            let Lane {
                tab,
                capture,
                browser,
                ..
            } = lane;
            drop(capture);
            tab.close(&browser).await;
            return Err(e);
        }
        Ok(lane)
    }

    /// Navigates to the site and waits for its chat UI, which shows a new chat.
    async fn load(&self) -> Result<(), String> {
        self.load_with(true).await
    }

    /// Loads the start page again in the page's own context, as a person reloads a tab: the
    /// context's cookies and storage are the site's own by now, so nothing saved is put back
    /// (a saved cookie older than the site's rotated one would undo it). The idle refresh.
    pub async fn refresh(&self) -> Result<(), String> {
        self.load_with(false).await
    }

    /// `restore`: put the lane account's saved session in place first (a fresh context, or a
    /// recovery that does not know what the page did to it).
    async fn load_with(&self, restore: bool) -> Result<(), String> {
        self.warm.page_gone();
        self.load_page(restore).await?;
        self.warm.page_loaded();
        self.purge.page_loaded();
        Ok(())
    }

    async fn load_page(&self, restore: bool) -> Result<(), String> {
        let url = self.driver.start_url(&self.settings.base_url);
        let storage = if restore {
            super::session::restore_cookies(self, &self.tab).await;
            super::session::restore_storage(self).await
        } else {
            None
        };
        let ready = match self.tab.goto(&url, NAV_TIMEOUT).await {
            Ok(()) => Ok(self.driver.wait_ready(&self.tab, READY_TIMEOUT).await),
            Err(e) => Err(format!("could not load {url}: {e}")),
        };
        // The first document had the saved storage; from here the site's own is the truth
        // (a sign-in, or a sign-out that clears it, must not get the saved values back).
        if let Some(id) = storage {
            super::session::forget_storage(self, &id).await;
        }
        match ready? {
            Err(DriverError::SignInRequired) => super::signin::sign_in(self, &url).await,
            other => other.map_err(|e| format!("{url} did not become ready: {e}")),
        }
    }

    /// Closes the page (and the browser, if the lane owns it).
    pub async fn close(self) {
        let browser = self.browser.clone();
        drop(self.capture);
        if !browser.is_closed() {
            self.tab.close(&browser).await;
        }
        if self.host.owns_browser() {
            browser.close().await;
        }
        self.host.release(&self.spec.id);
    }

    /// Recovery, the light step: navigates the page again (this also brings back a crashed
    /// renderer) and waits for the site.
    pub async fn reload(&self) -> Result<(), String> {
        self.load().await
    }

    /// Recovery, the next step: a fresh page in a fresh browser context on the same browser. The
    /// old page is closed once the new one is ready.
    pub async fn new_context(&mut self) -> Result<(), String> {
        let (tab, capture) =
            open_page(&self.browser, &self.host, self.driver, &self.settings).await?;
        let old_tab = std::mem::replace(&mut self.tab, tab);
        let old_capture = std::mem::replace(&mut self.capture, capture);
        let loaded = self.load().await;
        // Whichever page is not kept is closed off the lane's task.
        let (tab, capture) = if loaded.is_ok() {
            (old_tab, old_capture)
        } else {
            let tab = std::mem::replace(&mut self.tab, old_tab);
            let capture = std::mem::replace(&mut self.capture, old_capture);
            (tab, capture)
        };
        let browser = self.browser.clone();
        crate::tasks::spawn("close-page", async move {
            drop(capture);
            if !browser.is_closed() {
                tab.close(&browser).await;
            }
        });
        loaded
    }

    /// Recovery, the heavy step: a live browser instead of the current one (the shared browser
    /// another lane relaunched, or a new one), then a page on it.
    pub async fn relaunch(&mut self, board: &Board) -> Result<(), String> {
        let browser = self.host.replace(&self.spec.id, &self.browser).await?;
        board.set_browser(&self.spec.id, &browser);
        let (tab, capture) = open_page(&browser, &self.host, self.driver, &self.settings).await?;
        // The old page belonged to the dead browser; its page task ends with the connection.
        drop(std::mem::replace(&mut self.capture, capture));
        drop(std::mem::replace(&mut self.tab, tab));
        self.browser = browser;
        self.load().await
    }

    /// Runs one request to its end: the relay, the capture file, the log lines and (for a
    /// failure) the failure bundle. Shutdown stops a running request the way a client
    /// disconnect does.
    pub async fn handle(&self, job: &Job, board: &Board, shutdown: &CancellationToken) -> Outcome {
        let id = &self.spec.id;
        info!(lane = %id, request = %job.id, model = %job.request.client_model,
              "Processing queued request for {}...", self.spec.label);
        self.note(format!(
            "Processing queued request {} ({}) for {}...",
            job.id, job.request.client_model, self.spec.label
        ));
        super::session::mark_used(self).await;
        self.purge.served();
        let (outcome, mut tape) = {
            let run = self.run_job(job);
            tokio::pin!(run);
            tokio::select! {
                outcome = &mut run => outcome,
                _ = shutdown.cancelled() => {
                    job.reason.set(SHUTDOWN_STOPPED);
                    job.cancel.cancel();
                    run.await
                }
            }
        };
        // Stopped by the controls or by shutdown (not by its client): say why, so the
        // client's stream ends with an error event and `[DONE]`.
        if let (Outcome::Cancelled { .. }, Some(why)) = (&outcome, job.reason.get()) {
            let _ = job.events.send(StreamEvent::Error(why.to_owned())).await;
        }
        self.save_capture_file(job, &mut tape, &outcome);
        match &outcome {
            Outcome::Completed => {
                self.note(format!("Request {} completed.", job.id));
                info!(lane = %id, request = %job.id, "Request completed for {}.", self.spec.label)
            }
            Outcome::Cancelled { stopped } => {
                let why = job.reason.get().unwrap_or("the client went away");
                self.note(format!("Request {} cancelled: {why}", job.id));
                info!(
                    lane = %id, request = %job.id, site_stopped = stopped,
                    "Request cancelled for {}: {why}", self.spec.label
                )
            }
            Outcome::Failed(msg, _) => {
                self.note(format!("Request {} failed: {msg}", job.id));
                let bundle = if shutdown.is_cancelled() {
                    None
                } else {
                    self.save_failure_bundle(job, &tape, msg).await
                };
                let shown = bundle.as_ref().map(|b| b.display().to_string());
                match &shown {
                    Some(dir) => warn!(
                        lane = %id, request = %job.id, error = %msg, bundle = %dir,
                        "Request failed for {}. Failure bundle: {dir}", self.spec.label
                    ),
                    None => warn!(
                        lane = %id, request = %job.id, error = %msg,
                        "Request failed for {}.", self.spec.label
                    ),
                }
                board.set_failure(id, msg, shown);
            }
        }
        super::session::save(self).await;
        outcome
    }

    /// Adds a line to the lane's own log (what its failure bundles show).
    pub(super) fn note(&self, line: impl AsRef<str>) {
        self.log.push(line);
    }

    /// Writes the request's capture file when `[capture] dir` is set (in a task of its own).
    fn save_capture_file(&self, job: &Job, tape: &mut Tape, outcome: &Outcome) {
        let Some(dir) = &self.artifacts.capture.dir else {
            return;
        };
        if !tape.claimed() {
            return;
        }
        let provider = self.spec.provider.prefix();
        let (bin, json) = capture_paths(dir, provider, &job.id, tape.began_at);
        let mut meta = tape.describe();
        meta["request_id"] = serde_json::json!(job.id.0);
        meta["provider"] = serde_json::json!(provider);
        meta["lane"] = serde_json::json!(self.spec.id.0);
        meta["capture"] = serde_json::json!(match self.settings.capture {
            CaptureMode::Replay => "replay",
            CaptureMode::Tee => "tee",
        });
        meta["outcome"] = outcome_json(outcome);
        meta["body_file"] = serde_json::json!(
            bin.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        save_capture(bin, json, tape.take_body(), meta);
    }

    /// Gathers a failure bundle (screenshot, HTML, frames, log lines; each bounded) and has it
    /// written in a task of its own. Returns the bundle's folder, or `None` when bundles are off.
    async fn save_failure_bundle(
        &self,
        job: &Job,
        tape: &Tape,
        error: &str,
    ) -> Option<std::path::PathBuf> {
        let failures = &self.artifacts.failures;
        if failures.keep == 0 {
            return None;
        }
        let dir = bundle_dir(&failures.dir, &self.spec.id, std::time::SystemTime::now());
        let bound = BUNDLE_CDP_TIMEOUT.min(self.tab.cdp_timeout());
        let gone = if self.browser.is_closed() {
            Some("the browser had gone away")
        } else if tape.crashed() {
            Some("the page had crashed")
        } else {
            None
        };
        let (screenshot, html) = match gone {
            Some(why) => (Err(why.to_owned()), Err(why.to_owned())),
            None => {
                let (shot, html) = tokio::join!(self.tab.screenshot(bound), self.tab.html(bound));
                (
                    shot.map_err(|e| e.to_string()),
                    html.map_err(|e| e.to_string()),
                )
            }
        };
        if let Err(e) = &screenshot {
            warn!(lane = %self.spec.id, cause = %e, "the failure bundle has no screenshot");
        }
        let mut meta = tape.describe();
        meta["lane"] = serde_json::json!(self.spec.id.0);
        meta["provider"] = serde_json::json!(self.spec.provider.prefix());
        meta["request_id"] = serde_json::json!(job.id.0);
        meta["model"] = serde_json::json!(job.request.client_model);
        meta["error"] = serde_json::json!(error);
        meta["saved_at"] =
            serde_json::json!(crate::artifacts::rfc3339(std::time::SystemTime::now()));
        let bundle = Bundle {
            screenshot,
            html,
            frames: tape.frames().cloned().collect(),
            log: self.log.lines(),
            meta,
            secrets: tape.secrets(),
        };
        save_bundle(failures.dir.clone(), dir.clone(), failures.keep, bundle);
        Some(dir)
    }
}

/// Opens a page for a lane (in a context of its own on a shared browser) and starts its capture.
async fn open_page(
    browser: &Chromium,
    host: &BrowserHost,
    driver: Driver,
    settings: &ProviderConfig,
) -> Result<(Tab, Capture), String> {
    let isolated = !host.owns_browser();
    let tab = browser
        .new_tab(isolated, settings.proxy.as_ref())
        .await
        .map_err(|e| format!("could not open a page: {e}"))?;
    let replay = (settings.capture == CaptureMode::Replay).then(|| driver.stream_paths());
    // Only a headless browser of switchyard's own: a visible window (or a user's own browser,
    // `browser.endpoints`) is never minimized under the user's eyes.
    let hide = settings.hide_while_streaming && host.launched_headless();
    match tab.capture(replay, settings.proxy.as_ref(), hide).await {
        Ok(capture) => Ok((tab, capture)),
        Err(e) => {
            tab.close(browser).await;
            Err(format!("could not start the network capture: {e}"))
        }
    }
}
