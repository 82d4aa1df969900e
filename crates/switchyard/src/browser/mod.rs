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
mod screencast;
mod tab;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, CreateBrowserContextParams, CreateTargetParams, GetTargetsParams, TargetId,
};
use chromiumoxide::handler::HandlerConfig;
use futures::StreamExt;
use tokio::sync::{Mutex, watch};
use tracing::{debug, info, warn};

pub use screencast::{Screen, Screencast};
pub use tab::{Rect, SavedCookie, Tab};

use crate::config::{Endpoint, ProxyUrl};

/// What Chromium's proxy bypass list holds for a proxied lane: `<-loopback>` undoes Chromium's
/// default of never proxying loopback addresses, so a proxy on a loopback site (a replica, a
/// local tunnel) sees the site's requests too.
const PROXY_BYPASS: &str = "<-loopback>";

/// How long Chromium may take to print its websocket address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to answer `Browser.close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the process may take to exit after `Browser.close` before it is killed. Chromium
/// writes a persistent profile's cookie store on its way out, and a kill before that loses the
/// session a lane signed in with; on a loaded machine that write takes seconds, so the bound is
/// generous (it only runs out for a hung browser).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Chromium::popup_of`] looks for the popup.
const POPUP_POLL: Duration = Duration::from_millis(100);
/// How often a launched browser's zygotes are looked at ([`guard_zygotes`]).
const ZYGOTE_POLL: Duration = Duration::from_secs(1);
/// How many polls may pass before the zygotes are found; a browser without any (launched with
/// `--no-zygote` in `browser.extra_flags`) is then left alone.
const ZYGOTE_SEARCHES: u32 = 10;
/// How long attaching to a remote browser may take (`/json/version` and the websocket).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags on top of chromiumoxide's defaults. Keys without leading dashes (chromiumoxide adds
/// them). See browser-notes.md: the omnibox-popup WebUI renderers cost 3-4x renderer CPU, and
/// the GPU process costs memory we do not need for text chat.
///
/// The zygote stays (no `--no-zygote`): every renderer and utility is forked from it, so they
/// share the pages it wrote before forking, above all the binary's relocated data (about 12 MiB
/// per process that each would otherwise write for itself). With eight lanes that is about
/// 125 MiB PSS less, and Chromium refuses `--no-zygote` with its sandbox on (ARCHITECTURE.md,
/// "Process model").
const EXTRA_FLAGS: &[&str] = &[
    "disable-gpu",
    "disable-quic",
    "disable-component-update",
    "disable-domain-reliability",
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
/// Features turned on, merged with chromiumoxide's own `--enable-features`. The network service
/// runs inside the browser process instead of a utility process of its own: one process fewer
/// (about 30 MiB PSS). Its crash then takes the browser down (every lane reopens on the
/// relaunched one) instead of failing the requests in flight; see ARCHITECTURE.md.
const ENABLED_FEATURES: &[&str] = &["NetworkServiceInProcess2"];

/// `browser.extra_flags` sorted for the launch: feature lists apart (they join switchyard's
/// own), the other switches as key and value without the leading dashes, `--js-flags` given
/// more than once joined into one (V8 reads space-separated flags).
#[derive(Debug, Default, PartialEq, Eq)]
struct ExtraFlags {
    switches: Vec<(String, Option<String>)>,
    enabled: Vec<String>,
    disabled: Vec<String>,
}

impl ExtraFlags {
    fn parse(flags: &[String]) -> ExtraFlags {
        let mut out = ExtraFlags::default();
        for flag in flags {
            let body = flag.trim_start_matches('-');
            let (key, value) = match body.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (body, None),
            };
            let list = |v: Option<&str>| -> Vec<String> {
                (v.unwrap_or_default().split(','))
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            match key {
                "enable-features" => out.enabled.extend(list(value)),
                "disable-features" => out.disabled.extend(list(value)),
                "js-flags" => {
                    let value = value.unwrap_or_default();
                    match out.switches.iter_mut().find(|(k, _)| k == "js-flags") {
                        Some((_, Some(v))) => {
                            v.push(' ');
                            v.push_str(value);
                        }
                        _ => out.switches.push((key.to_owned(), Some(value.to_owned()))),
                    }
                }
                _ => out
                    .switches
                    .push((key.to_owned(), value.map(str::to_owned))),
            }
        }
        out
    }
}

/// The launch flags and process model switchyard adds to chromiumoxide's defaults, in words,
/// for reports that measure them (`switchyard bench`).
pub fn launch_summary() -> String {
    let flags: Vec<String> = EXTRA_FLAGS.iter().map(|f| format!("--{f}")).collect();
    format!(
        "{} --disable-features={} --enable-features={} (with chromiumoxide's defaults); the \
         zygote forks every renderer and utility, GPU and network service run in the browser \
         process, one renderer per browser context",
        flags.join(" "),
        DISABLED_FEATURES.join(","),
        ENABLED_FEATURES.join(",")
    )
}

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
    /// `browser.extra_flags`: switches added to the launch, `--name` or `--name=value`
    /// (validated by the config). `--enable-features` and `--disable-features` join
    /// switchyard's own lists (Chromium reads only the last of a repeated switch).
    pub extra_flags: Vec<String>,
    /// `providers.<p>.proxy` of the lane this browser is for (`process` isolation only; a
    /// shared browser gives each lane's context its own proxy instead).
    pub proxy: Option<ProxyUrl>,
}

/// Closes the page Chromium opens at launch (headless shows its new-tab page), once the first
/// lane page (`ours`) exists, so the browser never has none: every other page then is the start
/// page, since `new_tab` holds the browser's lock. It holds a renderer of its own and the new-tab
/// page's browser-side state (about 80 MiB PSS together) that no lane uses. A failure only costs
/// that memory, so it is logged at debug.
async fn close_start_pages(browser: &Browser, ours: &TargetId, t: Duration) {
    let targets = match timed(
        "Target.getTargets",
        t,
        browser.execute(GetTargetsParams::default()),
    )
    .await
    {
        Ok(r) => r.result.target_infos,
        Err(e) => {
            debug!(cause = %e, "could not list the browser's pages to close its start page");
            return;
        }
    };
    for target in targets {
        if target.r#type == "page" && &target.target_id != ours {
            let close = CloseTargetParams::new(target.target_id);
            if let Err(e) = timed("Target.closeTarget", t, browser.execute(close)).await {
                debug!(cause = %e, "could not close Chromium's start page");
            }
        }
    }
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
    /// A remote browser switchyard attached to (`browser.endpoints`), as shown: switchyard
    /// never kills or closes it, it only drops its connection.
    remote: Option<String>,
    /// The handler task, ended to drop a remote browser's connection.
    handler: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Chromium's own start page is still to be closed (a launched browser, until its first
    /// lane page is open).
    start_page: AtomicBool,
    /// Set when `close` begins, so the zygote guard does not take the exit for a crash.
    closing: AtomicBool,
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
            .args(EXTRA_FLAGS.iter().copied());
        let extra = ExtraFlags::parse(&opts.extra_flags);
        if !opts.extra_flags.is_empty() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                info!(
                    flags = %opts.extra_flags.join(" "),
                    "Chromium starts with browser.extra_flags on top of switchyard's own flags; \
                     remove them if the lanes misbehave"
                );
            });
        }
        for (key, value) in &extra.switches {
            builder = match value {
                Some(v) => builder.arg((key.as_str(), v.as_str())),
                None => builder.arg(key.as_str()),
            };
        }
        let disabled: Vec<&str> = (DISABLED_FEATURES.iter().copied())
            .chain(extra.disabled.iter().map(String::as_str))
            .collect();
        let enabled: Vec<&str> = (ENABLED_FEATURES.iter().copied())
            .chain(extra.enabled.iter().map(String::as_str))
            .collect();
        builder = builder
            .arg(("disable-features", disabled.as_slice()))
            .arg(("enable-features", enabled.as_slice()));
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
        if let Some(proxy) = &opts.proxy {
            builder = builder
                .arg(("proxy-server", proxy.server().as_str()))
                .arg(("proxy-bypass-list", PROXY_BYPASS));
        }
        let config = builder.build().map_err(BrowserError::Launch)?;
        let (mut browser, handler) = Browser::launch(config).await.map_err(|e| {
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
        let (closed, task) = watch_handler(handler, format!("pid {pid:?}"));
        info!(?pid, profile = %profile.display(), "Chromium started");
        let chromium = Arc::new(Chromium {
            browser: Mutex::new(browser),
            pid,
            closed,
            temp_profile,
            cdp_timeout: opts.cdp_timeout,
            remote: None,
            handler: std::sync::Mutex::new(Some(task)),
            start_page: AtomicBool::new(true),
            closing: AtomicBool::new(false),
        });
        if let Some(pid) = pid {
            crate::tasks::spawn(
                "chromium-zygotes",
                guard_zygotes(Arc::downgrade(&chromium), pid),
            );
        }
        Ok(chromium)
    }

    /// Attaches to an already running Chromium (`browser.endpoints`). An `http(s)://` endpoint
    /// is resolved through its `/json/version` to the browser's websocket.
    pub async fn connect(
        endpoint: &Endpoint,
        cdp_timeout: Duration,
    ) -> Result<Arc<Chromium>, BrowserError> {
        let shown = endpoint.shown();
        let ws = websocket_url(&endpoint.url).await.map_err(|e| {
            BrowserError::Launch(format!("cannot reach the browser at {shown}: {e}"))
        })?;
        let config = HandlerConfig {
            request_timeout: cdp_timeout,
            viewport: None,
            ..HandlerConfig::default()
        };
        let (browser, handler) =
            match tokio::time::timeout(CONNECT_TIMEOUT, Browser::connect_with_config(ws, config))
                .await
            {
                Ok(Ok(pair)) => pair,
                Ok(Err(e)) => {
                    return Err(BrowserError::Launch(format!(
                        "cannot attach to the browser at {shown}: {e}"
                    )));
                }
                Err(_) => {
                    return Err(BrowserError::Launch(format!(
                        "the browser at {shown} did not answer within {}s",
                        CONNECT_TIMEOUT.as_secs()
                    )));
                }
            };
        let (closed, task) = watch_handler(handler, shown.clone());
        info!(endpoint = %shown, "attached to a remote browser");
        Ok(Arc::new(Chromium {
            browser: Mutex::new(browser),
            pid: None,
            closed,
            temp_profile: None,
            cdp_timeout,
            remote: Some(shown),
            handler: std::sync::Mutex::new(Some(task)),
            // Another program's browser: its pages are not switchyard's to close.
            start_page: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        }))
    }

    /// The endpoint of a remote browser, as shown (credentials redacted); `None` for one
    /// switchyard launched.
    pub fn endpoint(&self) -> Option<&str> {
        self.remote.as_deref()
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
        // A dropped sender (the handler task ended or was ended) counts as closed too.
        *self.closed.borrow() || self.closed.has_changed().is_err()
    }

    /// Opens a page for a lane. `isolated` puts it in a fresh browser context (separate cookies
    /// and storage) that goes through `proxy` when one is given; otherwise it lives in the
    /// default, persistent context (whose proxy is the browser's own `--proxy-server`).
    pub async fn new_tab(
        &self,
        isolated: bool,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Tab, BrowserError> {
        let t = self.cdp_timeout;
        let browser = self.browser.lock().await;
        let mut params = CreateTargetParams::builder().url("about:blank");
        let mut context = None;
        if isolated {
            let mut create = CreateBrowserContextParams::builder();
            if self.remote.is_some() {
                // Chromium disposes the context if switchyard's connection ends.
                create = create.dispose_on_detach(true);
            }
            if let Some(proxy) = proxy {
                create = create
                    .proxy_server(proxy.server())
                    .proxy_bypass_list(PROXY_BYPASS);
            }
            let id = timed(
                "Target.createBrowserContext",
                t,
                browser.create_browser_context(create.build()),
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
        // Chromium takes no credentials in a proxy URL: chromiumoxide answers the proxy's
        // challenges for this page (`Fetch.authRequired`) with them, and lets every paused
        // request go on. A replayed request would bypass that, so config refuses replay with
        // such a proxy.
        if let Some((username, password)) = proxy.and_then(ProxyUrl::credentials) {
            let credentials = chromiumoxide::auth::Credentials { username, password };
            timed("signing in to the proxy", t, page.authenticate(credentials)).await?;
        }
        if self.start_page.swap(false, Ordering::Relaxed) {
            close_start_pages(&browser, page.target_id(), t).await;
        }
        Ok(Tab::new(page, t, context))
    }

    /// Waits up to `timeout` for a page that `opener` opened (a popup: `window.open` makes a
    /// new CDP target in the opener's browser context that names the opener), and returns it
    /// as a [`Tab`] of its own. Polls the browser's pages (each listing bounded) until then.
    pub async fn popup_of(&self, opener: &Tab, timeout: Duration) -> Result<Tab, BrowserError> {
        let t = self.cdp_timeout;
        let what = "waiting for the popup the page opened";
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = {
                let browser = self.browser.lock().await;
                timed("listing the browser's pages", t, browser.pages())
                    .await?
                    .into_iter()
                    .find(|page| page.opener_id().as_ref() == Some(opener.target()))
            };
            if let Some(page) = found {
                return Ok(Tab::new(page, t, None));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            }
            tokio::time::sleep(POPUP_POLL).await;
        }
    }

    /// Whether the tab's page is still open (a popup closes itself at the end of a sign-in).
    pub async fn is_open(&self, tab: &Tab) -> Result<bool, BrowserError> {
        let browser = self.browser.lock().await;
        let targets = timed(
            "Target.getTargets",
            self.cdp_timeout,
            browser.execute(GetTargetsParams::default()),
        )
        .await?
        .result
        .target_infos;
        Ok(targets.iter().any(|info| &info.target_id == tab.target()))
    }

    /// Kills the browser process at once (SIGKILL), for fault injection: what a crash or an
    /// out-of-memory kill does. Its lanes see the connection end and recover.
    pub async fn kill(&self) -> Result<(), BrowserError> {
        if let Some(endpoint) = &self.remote {
            return Err(BrowserError::Cdp {
                what: "killing the browser".to_owned(),
                cause: format!(
                    "it is the remote browser at {endpoint}, which switchyard never kills"
                ),
            });
        }
        let mut browser = self.browser.lock().await;
        match timed("killing Chromium", self.cdp_timeout, async {
            browser.kill().await.unwrap_or(Ok(()))
        })
        .await
        {
            Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Closes the browser gracefully (so a persistent profile is flushed), killing it if that
    /// takes too long, then removes a throwaway profile. A remote browser is left running:
    /// only switchyard's connection to it ends.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        if self.remote.is_some() {
            let task = self
                .handler
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(task) = task {
                task.abort();
            }
            return;
        }
        let mut browser = self.browser.lock().await;
        let mut asked = false;
        if !self.is_closed() {
            match tokio::time::timeout(CLOSE_TIMEOUT, browser.close()).await {
                Ok(Ok(_)) => asked = true,
                Ok(Err(e)) => {
                    warn!(pid = ?self.pid, cause = %e, "Chromium refused Browser.close; waiting for it to exit");
                }
                Err(_) => {
                    warn!(pid = ?self.pid, "Chromium did not answer Browser.close in time; waiting for it to exit");
                }
            }
        }
        // Only a closed (exited) process has written its profile: wait for the exit, so the
        // next launch on this profile finds the cookies (and no second Chromium holds it).
        let bound = if asked { EXIT_TIMEOUT } else { CLOSE_TIMEOUT };
        if tokio::time::timeout(bound, browser.wait()).await.is_err() {
            warn!(
                pid = ?self.pid,
                "Chromium did not exit within {}s of closing; killing it (its profile may miss \
                 the latest sign-in, and the lane signs in again on its next start)",
                bound.as_secs()
            );
            let _ = browser.kill().await;
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, browser.wait()).await;
        }
        if let Some(dir) = &self.temp_profile {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Kills a launched browser whose zygote died. Chromium forks every renderer from its zygote;
/// without it the browser lives on but can open no page, and its renderers die with it, so
/// every lane would fail to recover on it (a new browser context needs a renderer too). Killing
/// the browser turns this into the browser loss the lanes already handle: the shared browser
/// is relaunched and every lane reopens on it. The guard ends with the browser, on `close`,
/// or when no zygote shows up after [`ZYGOTE_SEARCHES`] polls.
async fn guard_zygotes(chromium: std::sync::Weak<Chromium>, pid: u32) {
    let mut zygotes: Vec<u32> = Vec::new();
    let mut searches = 0;
    let mut tick = tokio::time::interval(ZYGOTE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(browser) = chromium.upgrade() else {
            return;
        };
        if browser.is_closed() || browser.closing.load(Ordering::Relaxed) {
            return;
        }
        let known = zygotes.clone();
        let looked = tokio::task::spawn_blocking(move || {
            if known.is_empty() {
                (procs::zygotes(pid), None)
            } else {
                // A zygote orphaned by a browser that exited itself is the browser's loss,
                // which its handler reports; only a zygote lost under a live browser counts.
                let gone = (known.iter().copied())
                    .find(|z| !procs::is_live_zygote(*z, pid))
                    .filter(|_| procs::is_running(pid));
                (known, gone)
            }
        })
        .await;
        let Ok((found, gone)) = looked else {
            continue;
        };
        zygotes = found;
        if zygotes.is_empty() {
            searches += 1;
            if searches >= ZYGOTE_SEARCHES {
                debug!(
                    browser = pid,
                    "Chromium runs without a zygote; nothing to guard"
                );
                return;
            }
            continue;
        }
        let Some(zygote) = gone else {
            continue;
        };
        if browser.is_closed() || browser.closing.load(Ordering::Relaxed) {
            return;
        }
        warn!(
            browser = pid,
            zygote,
            "Chromium's zygote is gone, so the browser can start no renderer; killing the \
             browser so that its lanes reopen on a new one"
        );
        if let Err(e) = browser.kill().await {
            warn!(browser = pid, cause = %e, "could not kill the browser whose zygote is gone");
        }
        return;
    }
}

/// Runs a browser's chromiumoxide handler in a task of its own; the receiver flips to `true`
/// when the connection ends.
fn watch_handler(
    mut handler: chromiumoxide::Handler,
    who: String,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (closed_tx, closed) = watch::channel(false);
    let task = crate::tasks::spawn("chromium-handler", async move {
        while let Some(event) = handler.next().await {
            if let Err(e) = event {
                // A websocket error means the browser is gone; anything else is one bad
                // message that chromiumoxide already skipped.
                if matches!(e, chromiumoxide::error::CdpError::Ws(_)) {
                    warn!(browser = %who, cause = %e, "lost the Chromium connection");
                    break;
                }
                debug!(cause = %e, "ignored a CDP message error");
            }
        }
        let _ = closed_tx.send(true);
    });
    (closed, task)
}

/// The websocket URL of a DevTools endpoint: a `ws(s)://` URL as it is; an `http(s)://` one
/// through its `/json/version`, whose `webSocketDebuggerUrl` gets the endpoint's own host and
/// port (a browser behind a port mapping or a proxy reports the address it sees).
async fn websocket_url(endpoint: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| e.to_string())?;
    if matches!(url.scheme(), "ws" | "wss") {
        return Ok(endpoint.to_owned());
    }
    let mut version = url.clone();
    let path = version.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/json/version") {
        version.set_path(&format!("{path}/json/version"));
    }
    // No proxy: the endpoint is reached directly.
    let client = reqwest::Client::builder()
        .timeout(CONNECT_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let reply: serde_json::Value = client
        .get(version)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("GET /json/version failed: {}", e.without_url()))?
        .json()
        .await
        .map_err(|e| format!("/json/version is not JSON: {}", e.without_url()))?;
    let reported = reply
        .get("webSocketDebuggerUrl")
        .and_then(|v| v.as_str())
        .ok_or("/json/version names no webSocketDebuggerUrl")?;
    let mut ws = reqwest::Url::parse(reported)
        .map_err(|_| "/json/version names an unusable webSocketDebuggerUrl".to_owned())?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    let _ = ws.set_scheme(scheme);
    let _ = ws.set_host(url.host_str());
    let _ = ws.set_port(url.port_or_known_default());
    if ws.query().is_none() {
        ws.set_query(url.query());
    }
    Ok(ws.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_flags_join_the_feature_lists_and_one_js_flags() {
        let flags: Vec<String> = [
            "--renderer-process-limit=2",
            "--disable-features=PaintHolding,BackForwardCache",
            "--js-flags=--lite-mode",
            "--enable-features=A",
            "--single-process",
            "--js-flags=--max-semi-space-size=1",
        ]
        .map(str::to_owned)
        .to_vec();
        let parsed = ExtraFlags::parse(&flags);
        assert_eq!(
            parsed.switches,
            vec![
                ("renderer-process-limit".to_owned(), Some("2".to_owned())),
                (
                    "js-flags".to_owned(),
                    Some("--lite-mode --max-semi-space-size=1".to_owned())
                ),
                ("single-process".to_owned(), None),
            ]
        );
        assert_eq!(parsed.disabled, ["PaintHolding", "BackForwardCache"]);
        assert_eq!(parsed.enabled, ["A"]);
        assert_eq!(ExtraFlags::parse(&[]), ExtraFlags::default());
    }
}
