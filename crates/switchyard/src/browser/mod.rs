//! Chromium through chromiumoxide: launch, contexts, timed CDP calls, stream capture.
//!
//! [`Chromium`] is one running browser process. Its chromiumoxide `Handler` (the task that owns
//! the CDP websocket) runs in its own task; when it ends, the browser is gone, and
//! [`Chromium::closed`] resolves. Each page is owned by one page task (`capture::page_task`);
//! lanes get a [`Tab`], a handle that reaches it by message: a page in its own browser context (or the
//! default context of a per-lane browser), whose methods all carry a timeout.
//!
//! Architecture Invariant: only this module imports chromiumoxide. Everything above it talks to
//! pages through [`Tab`], so an untimed CDP call cannot be written elsewhere.

pub mod capture;
pub mod procs;
mod replay;
mod tab;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use futures::StreamExt;
use tokio::sync::{Mutex, watch};
use tracing::{debug, info, warn};

pub use tab::Tab;

/// How long Chromium may take to print its websocket address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful close may take before the process is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags on top of chromiumoxide's defaults. Keys without leading dashes (chromiumoxide adds
/// them). See browser-notes.md: the omnibox-popup WebUI renderers cost 3-4x renderer CPU, the
/// zygote and GPU processes cost memory we do not need for text chat.
const EXTRA_FLAGS: &[&str] = &[
    "disable-gpu",
    "disable-quic",
    "disable-component-update",
    "disable-domain-reliability",
    "no-zygote",
    "in-process-gpu",
    "no-default-browser-check",
];
const DISABLED_FEATURES: &[&str] = &[
    "WebUIOmniboxPopup",
    "WebUIOmniboxFullPopup",
    "WebUIOmniboxAimPopup",
    "SpareRendererForSitePerProcess",
    "BackForwardCache",
    "Translate",
    "MediaRouter",
    "OptimizationHints",
];

/// A browser-level failure, with enough words to act on.
#[derive(Debug, Clone)]
pub enum BrowserError {
    /// A CDP call or page step took longer than its bound.
    Timeout { what: String, after: Duration },
    /// Chromium refused or failed a call.
    Cdp { what: String, cause: String },
    /// A script in the page threw or returned something unexpected.
    Script { what: String, cause: String },
    /// Chromium could not be started.
    Launch(String),
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrowserError::Timeout { what, after } => {
                write!(
                    f,
                    "{what} did not finish within {:.1}s",
                    after.as_secs_f64()
                )
            }
            BrowserError::Cdp { what, cause } => write!(f, "{what} failed: {cause}"),
            BrowserError::Script { what, cause } => write!(f, "{what} failed in the page: {cause}"),
            BrowserError::Launch(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for BrowserError {}

/// Runs a CDP future with a bound; both a timeout and a CDP error become [`BrowserError`].
pub(crate) async fn timed<T, E: std::fmt::Display>(
    what: &str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, BrowserError> {
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(BrowserError::Cdp {
            what: what.to_owned(),
            cause: e.to_string(),
        }),
        Err(_) => Err(BrowserError::Timeout {
            what: what.to_owned(),
            after,
        }),
    }
}

/// What a launch needs.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub executable: PathBuf,
    pub headless: bool,
    /// A persistent profile directory; `None` makes a throwaway one that is removed on close.
    pub user_data_dir: Option<PathBuf>,
    pub cdp_timeout: Duration,
    /// `browser.no_sandbox`: turn Chromium's sandbox off even when not running as root.
    pub no_sandbox: bool,
}

/// Whether Chromium must run without its sandbox, and why (for the log). Chromium refuses to
/// start sandboxed as root, so root always runs it without; otherwise only the user's
/// `browser.no_sandbox = true` turns the sandbox off.
fn sandbox_off(configured: bool) -> Option<&'static str> {
    if running_as_root() {
        Some("switchyard runs as root, where Chromium's sandbox cannot start")
    } else if configured {
        Some("browser.no_sandbox = true")
    } else {
        None
    }
}

/// The effective user id is 0, read from `/proc/self/status` (`Uid: real effective ...`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// One running Chromium process.
pub struct Chromium {
    /// The chromiumoxide browser. Page creation only needs `&Browser`; the lock serialises it
    /// with `close`, which needs `&mut`.
    browser: Mutex<Browser>,
    pid: Option<u32>,
    /// Flips to `true` when the handler task ends: the websocket is gone, the browser is dead
    /// or closed.
    closed: watch::Receiver<bool>,
    /// A throwaway profile directory to remove after the process is gone.
    temp_profile: Option<PathBuf>,
    cdp_timeout: Duration,
}

static TEMP_PROFILES: AtomicU64 = AtomicU64::new(0);

impl Chromium {
    /// Starts Chromium. All fallible steps happen before the handler task starts, and
    /// chromiumoxide kills the child if its own setup fails, so a failed launch leaks nothing.
    pub async fn launch(opts: &LaunchOptions) -> Result<Arc<Chromium>, BrowserError> {
        let (profile, temp_profile) = match &opts.user_data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let n = TEMP_PROFILES.fetch_add(1, Ordering::Relaxed);
                let dir =
                    std::env::temp_dir().join(format!("switchyard-{}-{n}", std::process::id()));
                (dir.clone(), Some(dir))
            }
        };
        // The profile holds the sessions of signed-in accounts: only this user may read it.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&profile)
            .map_err(|e| {
                BrowserError::Launch(format!(
                    "cannot create the browser profile directory {}: {e}",
                    profile.display()
                ))
            })?;
        // chromiumoxide 0.9.1 speaks CDP only over a websocket (no `--remote-debugging-pipe`):
        // port 0 lets Chromium pick a random port, on 127.0.0.1 (Chromium's default address).
        // SECURITY.md describes what another local user could still do with it.
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&opts.executable)
            .port(0)
            .user_data_dir(&profile)
            .viewport(None)
            .launch_timeout(LAUNCH_TIMEOUT)
            .request_timeout(opts.cdp_timeout)
            .args(EXTRA_FLAGS.iter().copied())
            .arg(("disable-features", DISABLED_FEATURES));
        let unsandboxed = sandbox_off(opts.no_sandbox);
        if let Some(why) = unsandboxed {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| info!("Chromium runs with --no-sandbox: {why}."));
            builder = builder.no_sandbox();
        }
        // chromiumoxide's default is `--headless`, which on current Chromium is the new headless.
        if !opts.headless {
            builder = builder.with_head();
        }
        let config = builder.build().map_err(BrowserError::Launch)?;
        let (mut browser, mut handler) = Browser::launch(config).await.map_err(|e| {
            let hint = if unsandboxed.is_none() {
                " If this system cannot run Chromium's sandbox (no unprivileged user namespaces, \
                 or a container), set browser.no_sandbox = true."
            } else {
                ""
            };
            BrowserError::Launch(format!(
                "could not start Chromium at {}: {e}.{hint}",
                opts.executable.display()
            ))
        })?;
        let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
        let (closed_tx, closed) = watch::channel(false);
        crate::tasks::spawn("chromium-handler", async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    // A websocket error means the browser is gone; anything else is one bad
                    // message that chromiumoxide already skipped.
                    if matches!(e, chromiumoxide::error::CdpError::Ws(_)) {
                        warn!(?pid, cause = %e, "lost the Chromium connection");
                        break;
                    }
                    debug!(cause = %e, "ignored a CDP message error");
                }
            }
            let _ = closed_tx.send(true);
        });
        info!(?pid, profile = %profile.display(), "Chromium started");
        Ok(Arc::new(Chromium {
            browser: Mutex::new(browser),
            pid,
            closed,
            temp_profile,
            cdp_timeout: opts.cdp_timeout,
        }))
    }

    /// The browser process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Resolves when the browser connection is gone.
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Opens a page for a lane. `isolated` puts it in a fresh browser context (separate cookies
    /// and storage); otherwise it lives in the default, persistent context.
    pub async fn new_tab(&self, isolated: bool) -> Result<Tab, BrowserError> {
        let t = self.cdp_timeout;
        let browser = self.browser.lock().await;
        let mut params = CreateTargetParams::builder().url("about:blank");
        let mut context = None;
        if isolated {
            let id = timed(
                "Target.createBrowserContext",
                t,
                browser.create_browser_context(CreateBrowserContextParams::default()),
            )
            .await?;
            params = params.browser_context_id(id.clone());
            context = Some(id);
        }
        let params = params.build().map_err(|e| BrowserError::Cdp {
            what: "Target.createTarget".into(),
            cause: e,
        })?;
        let page = timed("Target.createTarget", t, browser.new_page(params)).await?;
        Ok(Tab::new(page, t, context))
    }

    /// Closes the browser gracefully (so a persistent profile is flushed), killing it if that
    /// takes too long, then removes a throwaway profile.
    pub async fn close(&self) {
        let mut browser = self.browser.lock().await;
        if !self.is_closed() {
            match tokio::time::timeout(CLOSE_TIMEOUT, browser.close()).await {
                Ok(Ok(_)) => {}
                _ => {
                    warn!(pid = ?self.pid, "Chromium did not close in time; killing it");
                }
            }
        }
        if tokio::time::timeout(CLOSE_TIMEOUT, browser.wait())
            .await
            .is_err()
        {
            let _ = browser.kill().await;
        }
        if let Some(dir) = &self.temp_profile {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Finds Chromium: the configured path, then `SWITCHYARD_CHROMIUM`, then Debian's binary, then
/// `chromium` / `google-chrome` on `PATH`.
pub fn find_chromium(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "browser.executable points at {}, which does not exist. Fix the path, or remove \
                 the key to let switchyard look for Chromium itself.",
                path.display()
            ))
        };
    }
    if let Some(path) = std::env::var_os("SWITCHYARD_CHROMIUM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "SWITCHYARD_CHROMIUM points at {}, which does not exist.",
                path.display()
            ))
        };
    }
    for fixed in ["/usr/lib/chromium/chromium", "/usr/bin/chromium"] {
        if Path::new(fixed).is_file() {
            return Ok(PathBuf::from(fixed));
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            for name in [
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ] {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
    }
    Err(
        "Chromium was not found. Install it (Debian/Ubuntu: `sudo apt-get install -y chromium`), \
         or point `browser.executable` in the config or SWITCHYARD_CHROMIUM at a Chromium or \
         Chrome binary."
            .to_owned(),
    )
}
