//! One lane: a page of one provider's site, its capture, and the task that runs its requests.
//!
//! The lane task is the page's only user. It takes jobs from its inbox one at a time, reports
//! `finished` to the scheduler after each, and reloads the page after a renderer crash before it
//! takes more work. If the browser goes away, or the page cannot be brought back, the lane tells
//! the scheduler it is down and ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::board::{Board, LaneState};
use super::plan::LaneSpec;
use super::relay::Outcome;
use crate::browser::capture::Capture;
use crate::browser::{Chromium, Tab};
use crate::config::{CaptureMode, ProviderConfig};
use crate::providers::{Driver, DriverError, StreamEvent};
use crate::scheduler::{Job, Scheduler};

/// How long a site may take to show its chat UI after navigation.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a navigation may take.
pub const NAV_TIMEOUT: Duration = Duration::from_secs(45);

/// Everything a lane owns.
pub struct Lane {
    pub spec: LaneSpec,
    pub driver: Driver,
    pub settings: ProviderConfig,
    pub tab: Tab,
    pub capture: Capture,
    /// The browser the page lives in (shared with other lanes in `context` isolation).
    pub browser: Arc<Chromium>,
    /// Whether the lane owns its browser (`process` isolation) and must close it.
    pub owns_browser: bool,
}

impl Lane {
    /// Opens the page and waits until the site is ready. On failure the page is closed again.
    pub async fn open(
        spec: LaneSpec,
        settings: ProviderConfig,
        browser: Arc<Chromium>,
        owns_browser: bool,
    ) -> Result<Lane, String> {
        let Some(driver) = Driver::of(spec.provider) else {
            return Err(format!("{} has no driver in this build", spec.provider));
        };
        let isolated = !owns_browser;
        let tab = browser
            .new_tab(isolated)
            .await
            .map_err(|e| format!("could not open a page: {e}"))?;
        let replay = (settings.capture == CaptureMode::Replay).then(|| driver.stream_paths());
        let capture = match tab.capture(replay).await {
            Ok(c) => c,
            Err(e) => {
                tab.close(&browser).await;
                return Err(format!("could not start the network capture: {e}"));
            }
        };
        let lane = Lane {
            spec,
            driver,
            settings,
            tab,
            capture,
            browser,
            owns_browser,
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

    /// Navigates to the site and waits for its chat UI.
    async fn load(&self) -> Result<(), String> {
        let url = self.driver.start_url(&self.settings.base_url);
        self.tab
            .goto(&url, NAV_TIMEOUT)
            .await
            .map_err(|e| format!("could not load {url}: {e}"))?;
        self.driver
            .wait_ready(&self.tab, READY_TIMEOUT)
            .await
            .map_err(|e| match e {
                DriverError::SignInRequired => format!("{url}: {e}"),
                e => format!("{url} did not become ready: {e}"),
            })
    }

    /// Closes the page (and the browser, if the lane owns it).
    pub async fn close(self) {
        let browser = self.browser.clone();
        drop(self.capture);
        self.tab.close(&browser).await;
        if self.owns_browser {
            browser.close().await;
        }
    }

    /// The lane task: runs jobs until shutdown, crash beyond repair, or browser loss.
    pub async fn run(
        self,
        mut inbox: mpsc::Receiver<Job>,
        scheduler: Scheduler,
        board: Board,
        shutdown: CancellationToken,
    ) {
        let id = self.spec.id.clone();
        let mut crashes = self.capture.crashes();
        crashes.mark_unchanged();
        board.set_state(&id, LaneState::Ready);
        loop {
            let job = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.browser.closed() => {
                    warn!(lane = %id, "the browser went away; the lane is down");
                    board.set_state(&id, LaneState::Down("the browser went away".into()));
                    scheduler.lane_down(id.clone()).await;
                    break;
                }
                changed = crashes.changed() => {
                    if changed.is_err() || !self.recover(&board).await {
                        scheduler.lane_down(id.clone()).await;
                        break;
                    }
                    continue;
                }
                job = inbox.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            board.start_request(&id, &job.id);
            info!(lane = %id, request = %job.id, model = %job.request.client_model,
                  "Processing queued request for {}...", self.spec.label);
            // Shutdown stops a running request the way a client disconnect does.
            let outcome = {
                let run = self.run_job(&job);
                tokio::pin!(run);
                tokio::select! {
                    outcome = &mut run => outcome,
                    _ = shutdown.cancelled() => {
                        job.cancel.cancel();
                        let outcome = run.await;
                        let _ = job
                            .events
                            .send(StreamEvent::Error(
                                "switchyard is shutting down; the request was stopped.".to_owned(),
                            ))
                            .await;
                        outcome
                    }
                }
            };
            match &outcome {
                Outcome::Completed => {
                    info!(lane = %id, request = %job.id, "Request completed for {}.", self.spec.label)
                }
                Outcome::Cancelled { stopped } => info!(
                    lane = %id, request = %job.id, site_stopped = stopped,
                    "Request cancelled for {}: the client went away.", self.spec.label
                ),
                Outcome::Failed(msg) => warn!(
                    lane = %id, request = %job.id, error = %msg,
                    "Request failed for {}.", self.spec.label
                ),
            }
            drop(job);
            board.finish_request(&id);
            if crashes.has_changed().unwrap_or(true) {
                crashes.mark_unchanged();
                if !self.recover(&board).await {
                    scheduler.lane_down(id.clone()).await;
                    break;
                }
            }
            scheduler.finished(id.clone()).await;
        }
        self.close().await;
    }

    /// Reloads the page after a renderer crash. Returns whether the lane is usable again.
    async fn recover(&self, board: &Board) -> bool {
        let id = &self.spec.id;
        warn!(lane = %id, "the page crashed; reloading it");
        board.set_state(id, LaneState::Recovering);
        match self.load().await {
            Ok(()) => {
                info!(lane = %id, "the page is back after a crash");
                board.set_state(id, LaneState::Ready);
                true
            }
            Err(e) => {
                warn!(lane = %id, cause = %e, "the page did not come back; the lane is down");
                board.set_state(
                    id,
                    LaneState::Down(format!("crashed and did not recover: {e}")),
                );
                false
            }
        }
    }
}
