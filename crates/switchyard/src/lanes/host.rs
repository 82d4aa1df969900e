//! Where a lane's browser comes from, and how a dead one is replaced.
//!
//! In `context` isolation every lane lives in one shared Chromium ([`SharedBrowser`]). When it
//! dies, each of its lanes notices on its own; the first to ask for a replacement relaunches it,
//! the others get that new browser. In `process` isolation a lane relaunches its own Chromium on
//! its own profile.

use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::browser::{Chromium, LaunchOptions};

/// The one Chromium all lanes share in `context` isolation, relaunched when it dies.
pub struct SharedBrowser {
    opts: LaunchOptions,
    current: Mutex<Arc<Chromium>>,
    /// Serialises relaunches, so a dead browser is replaced once however many lanes ask.
    relaunch: tokio::sync::Mutex<()>,
}

impl SharedBrowser {
    pub async fn launch(opts: LaunchOptions) -> Result<Arc<SharedBrowser>, String> {
        let browser = Chromium::launch(&opts).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(SharedBrowser {
            opts,
            current: Mutex::new(browser),
            relaunch: tokio::sync::Mutex::new(()),
        }))
    }

    /// The browser lanes open pages in now.
    pub fn current(&self) -> Arc<Chromium> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A live browser instead of `dead`: the one another lane relaunched already, or a new one.
    pub async fn replace(&self, dead: &Arc<Chromium>) -> Result<Arc<Chromium>, String> {
        let _one_at_a_time = self.relaunch.lock().await;
        let current = self.current();
        if !current.is_closed() {
            return Ok(current);
        }
        if !Arc::ptr_eq(&current, dead) {
            warn!(pid = ?current.pid(), "the relaunched shared browser is gone too");
        }
        // Reap the dead process and remove its throwaway profile.
        current.close().await;
        info!(old_pid = ?current.pid(), "the shared browser died; relaunching it");
        let browser = Chromium::launch(&self.opts)
            .await
            .map_err(|e| format!("could not relaunch the shared browser: {e}"))?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = browser.clone();
        Ok(browser)
    }
}

/// How a lane gets a browser.
#[derive(Clone)]
pub enum BrowserHost {
    /// `context` isolation: a context in the shared browser.
    Shared(Arc<SharedBrowser>),
    /// `process` isolation: the lane's own browser, launched with these options (its profile).
    Own(LaunchOptions),
}

impl BrowserHost {
    /// Whether the lane owns its browser (and closes it with itself).
    pub fn owns_browser(&self) -> bool {
        matches!(self, BrowserHost::Own(_))
    }

    /// A live browser to replace `dead` (which the caller no longer uses).
    pub async fn replace(&self, dead: &Arc<Chromium>) -> Result<Arc<Chromium>, String> {
        match self {
            BrowserHost::Shared(shared) => shared.replace(dead).await,
            BrowserHost::Own(opts) => {
                dead.close().await;
                Chromium::launch(opts)
                    .await
                    .map_err(|e| format!("could not relaunch the lane's browser: {e}"))
            }
        }
    }
}
