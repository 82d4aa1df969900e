//! `switchyard doctor`: opens each configured site in a lane's page and checks every page hook
//! its driver relies on, so that after a site change it says in seconds what broke.
//!
//! Per provider: the sign-in state (the driver's readiness check), then every hook of the
//! driver's table (`providers/<p>/hooks.js`: chat box, new chat, model picker, toggles, send),
//! each reported as found by its preferred way (role, accessible name or text), found only by a
//! fallback (class names, ids: the site changed something, the lane still works), or missing.
//! With `--probe` it also sends one short message the way a lane does (new chat, toggles, typing,
//! Send), checks that the stream endpoint answers and that the Stop control shows, and stops the
//! answer. It prints a table per provider with the page's URL and a screenshot path
//! (`<data_dir>/doctor/<provider>-<unix seconds>.png`); [`healthy`] is false when a hook is
//! missing, and the command then exits non-zero.
//!
//! `--demo` checks the demo's sites instead: replicas of every implemented provider, started in
//! this process ([`run_on_demo`]).
//!
//! It uses the gateway's browser launch and page opening: one shared Chromium with a context per
//! site (`isolation = "context"`), or the first lane's persistent profile per site
//! (`isolation = "process"`, so sign-ins are kept; stop the gateway first, a profile opens in
//! one Chromium at a time).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use crate::browser::capture::{Capture, CaptureEvent, CaptureStream};
use crate::browser::{Chromium, LaunchOptions, Tab, find_chromium};
use crate::config::{self, Config, Isolation, ProviderConfig};
use crate::lanes::plan::LanePlan;
use crate::models::{Mode, ProviderKind};
use crate::providers::{Driver, DriverError, HookCheck, HookStatus};
use crate::shaping::{RequestKind, Sampling, ShapedRequest, Toggles};
use switchyard_replicas::{Knobs, ReplicaServer};

/// How long the page may take to show its chat box or a sign-in form.
const READY_WAIT: Duration = Duration::from_secs(15);
/// How long a page load may take.
const NAV_WAIT: Duration = Duration::from_secs(45);
/// How long the Stop control may take to show after Send.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How long a stopped (or unstoppable) probe answer may take to end.
const END_WAIT: Duration = Duration::from_secs(30);
/// The message `--probe` sends.
const PROBE_PROMPT: &str = "Reply with the single word: pong";

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Only this provider (else every provider the configuration runs).
    pub provider: Option<ProviderKind>,
    /// Also send a probe message: checks the stream endpoint and the Stop control.
    pub probe: bool,
}

/// What doctor found on one site.
#[derive(Debug, Clone)]
pub struct SiteReport {
    pub provider: ProviderKind,
    /// The page's URL when the checks ended.
    pub url: String,
    /// Where the screenshot was saved, or why there is none.
    pub screenshot: Result<PathBuf, String>,
    pub checks: Vec<HookCheck>,
}

impl SiteReport {
    /// The hooks no way found.
    pub fn missing(&self) -> impl Iterator<Item = &HookCheck> {
        self.checks
            .iter()
            .filter(|c| c.status == HookStatus::Missing)
    }
}

/// The first of `browser.endpoints` that answers (the doctor's pages live in contexts on it).
async fn connect_any(config: &Config) -> Result<Arc<Chromium>, String> {
    let mut errors = Vec::new();
    for endpoint in &config.browser.endpoints {
        match Chromium::connect(endpoint, config.browser.cdp_timeout).await {
            Ok(browser) => return Ok(browser),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(format!(
        "no browser endpoint answered: {}",
        errors.join("; ")
    ))
}

/// Whether every hook of every site was found (by some way).
pub fn healthy(reports: &[SiteReport]) -> bool {
    reports.iter().all(|r| r.missing().next().is_none())
}

/// Runs the checks; `Err` only when nothing could be checked (no Chromium, no such provider).
pub async fn run(config: &Config, opts: &DoctorOptions) -> Result<Vec<SiteReport>, String> {
    let sites = sites(config, opts.provider)?;
    let remote = !config.browser.endpoints.is_empty();
    // Remote browsers need no Chromium on this machine.
    let executable = match remote {
        true => std::path::PathBuf::new(),
        false => find_chromium(config.browser.executable.as_deref())?,
    };
    let launch = |user_data_dir, proxy| LaunchOptions {
        executable: executable.clone(),
        headless: config.browser.headless,
        user_data_dir,
        cdp_timeout: config.browser.cdp_timeout,
        no_sandbox: config.browser.no_sandbox,
        extra_flags: config.browser.extra_flags.clone(),
        proxy,
    };
    let shots = config.data_dir.join("doctor");
    if let Err(e) = std::fs::create_dir_all(&shots) {
        tracing::warn!("cannot create {}: {e}; no screenshots", shots.display());
    }
    let shared = match config.browser.isolation {
        _ if remote => Some(connect_any(config).await?),
        Isolation::Context => Some(
            Chromium::launch(&launch(None, None))
                .await
                .map_err(|e| format!("cannot start Chromium: {e}"))?,
        ),
        Isolation::Process => None,
    };
    let reports = join_all(sites.iter().map(|&(kind, driver, lane)| {
        let settings = config.provider(kind);
        let shared = shared.clone();
        let profile = config
            .data_dir
            .join("profiles")
            .join(kind.storage_key())
            .join(format!("lane-{lane}"));
        let opts_launch = launch(Some(profile), settings.proxy.clone());
        let shots = shots.clone();
        async move {
            let (browser, owned) = match shared {
                Some(browser) => (browser, false),
                None => match Chromium::launch(&opts_launch).await {
                    Ok(browser) => (browser, true),
                    Err(e) => {
                        return failed(kind, settings, format!("cannot start Chromium: {e}"));
                    }
                },
            };
            let report =
                check_site(kind, driver, settings, &browser, !owned, opts.probe, &shots).await;
            if owned {
                browser.close().await;
            }
            report
        }
    }))
    .await;
    if let Some(browser) = shared {
        browser.close().await;
    }
    Ok(reports)
}

/// Like [`run`], on the demo's sites: starts a replica of every implemented provider in this
/// process (answers long enough for the probe to see Stop), points a configuration at them
/// (`config`, if given, is laid over it, as `switchyard demo --config` does), checks, and stops
/// the replicas.
pub async fn run_on_demo(
    config: Option<&Path>,
    opts: &DoctorOptions,
) -> Result<Vec<SiteReport>, String> {
    let knobs = Knobs {
        chunks: 300,
        delay_ms: 20,
        first_delay_ms: 0,
    };
    let mut replicas = Vec::new();
    let mut toml = String::from("[runtime]\nproviders_in_parallel = true\n");
    for kind in ProviderKind::ALL {
        if let Some(site) = crate::demo::replica_site(kind) {
            let server = ReplicaServer::start(site, knobs)
                .await
                .map_err(|e| format!("cannot start the {kind} replica: {e}"))?;
            if replicas.is_empty() {
                toml.insert_str(0, &format!("provider = \"{}\"\n", kind.prefix()));
            }
            toml.push_str(&format!(
                "[providers.{}]\nenabled = true\nbase_url = \"{}\"\n",
                kind.prefix(),
                server.base_url()
            ));
            replicas.push(server);
        }
    }
    let mut table = config::parse_table(&toml, "demo sites")?;
    let source = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
            config::merge_tables(
                &mut table,
                config::parse_table(&text, &path.display().to_string())?,
            );
            format!("{} (over the demo sites)", path.display())
        }
        None => "demo sites".to_owned(),
    };
    let config = Config::from_table(table, &source)?;
    let reports = run(&config, opts).await;
    for server in replicas {
        server.shutdown().await;
    }
    reports
}

/// The provider `--provider` names (a model prefix or alias).
pub fn provider(name: &str) -> Result<ProviderKind, String> {
    ProviderKind::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.prefix()).collect();
        format!(
            "unknown provider `{name}`; use a model prefix ({}) or a provider's display name or alias",
            known.join(", ")
        )
    })
}

/// The sites to check: (provider, driver, index of its first lane).
fn sites(
    config: &Config,
    only: Option<ProviderKind>,
) -> Result<Vec<(ProviderKind, Driver, u32)>, String> {
    let plan = LanePlan::from_config(config);
    let mut sites: Vec<(ProviderKind, Driver, u32)> = Vec::new();
    for lane in &plan.lanes {
        if sites.iter().all(|(k, _, _)| *k != lane.provider)
            && let Some(driver) = Driver::of(lane.provider)
        {
            sites.push((lane.provider, driver, lane.index));
        }
    }
    match only {
        None if sites.is_empty() => {
            Err("the configuration runs no provider this build can drive".into())
        }
        None => Ok(sites),
        Some(kind) => match sites.iter().find(|(k, _, _)| *k == kind) {
            Some(site) => Ok(vec![*site]),
            None => match Driver::of(kind) {
                Some(driver) => Ok(vec![(kind, driver, 1)]),
                None => Err(format!("{kind} has no driver in this build")),
            },
        },
    }
}

fn failed(kind: ProviderKind, settings: &ProviderConfig, why: String) -> SiteReport {
    SiteReport {
        provider: kind,
        url: settings.base_url.clone(),
        screenshot: Err("no page".into()),
        checks: vec![HookCheck::new("page", HookStatus::Missing, why)],
    }
}

async fn check_site(
    kind: ProviderKind,
    driver: Driver,
    settings: &ProviderConfig,
    browser: &Arc<Chromium>,
    isolated: bool,
    probe: bool,
    shots: &Path,
) -> SiteReport {
    let tab = match browser.new_tab(isolated, settings.proxy.as_ref()).await {
        Ok(tab) => tab,
        Err(e) => return failed(kind, settings, format!("could not open a page: {e}")),
    };
    let mut checks = Vec::new();
    page_checks(driver, settings, &tab, probe, &mut checks).await;
    let url = match tab
        .eval("reading the URL", "location.href", tab.cdp_timeout())
        .await
    {
        Ok(v) => v.as_str().unwrap_or_default().to_owned(),
        Err(_) => driver.start_url(&settings.base_url),
    };
    let screenshot = screenshot(&tab, kind, shots).await;
    tab.close(browser).await;
    SiteReport {
        provider: kind,
        url,
        screenshot,
        checks,
    }
}

async fn page_checks(
    driver: Driver,
    settings: &ProviderConfig,
    tab: &Tab,
    probe: bool,
    checks: &mut Vec<HookCheck>,
) {
    // The capture starts before the page loads, as a lane's does (the tee: nothing is replayed).
    let capture = if probe {
        match tab.capture(None, settings.proxy.as_ref(), false).await {
            Ok(c) => Some(c),
            Err(e) => {
                checks.push(HookCheck::new(
                    "page",
                    HookStatus::Missing,
                    format!("could not start the network capture: {e}"),
                ));
                return;
            }
        }
    } else {
        None
    };
    let url = driver.start_url(&settings.base_url);
    if let Err(e) = tab.goto(&url, NAV_WAIT).await {
        checks.push(HookCheck::new(
            "page",
            HookStatus::Missing,
            format!("could not load {url}: {e}"),
        ));
        return;
    }
    let ready = driver.wait_ready(tab, READY_WAIT).await;
    checks.push(match &ready {
        Ok(()) => HookCheck::new("signed_in", HookStatus::Found, "the chat box shows"),
        Err(e @ DriverError::SignInRequired) => {
            HookCheck::new("signed_in", HookStatus::Missing, e.to_string())
        }
        Err(e) => HookCheck::new("signed_in", HookStatus::Missing, e.to_string()),
    });
    if matches!(ready, Err(DriverError::SignInRequired)) {
        return;
    }
    match driver.check_hooks(tab).await {
        Ok(found) => checks.extend(found),
        Err(e) => {
            checks.push(HookCheck::new("hooks", HookStatus::Missing, e.to_string()));
            return;
        }
    }
    let Some(capture) = capture else {
        for hook in ["stream", "stop"] {
            checks.push(HookCheck::new(
                hook,
                HookStatus::Skipped("needs --probe".into()),
                "",
            ));
        }
        return;
    };
    if let Some(m) = checks.iter().find(|c| c.status == HookStatus::Missing) {
        let why = format!("{} is missing", m.hook);
        for hook in ["stream", "stop"] {
            checks.push(HookCheck::new(hook, HookStatus::Skipped(why.clone()), ""));
        }
        return;
    }
    probe_checks(driver, settings, tab, &capture, checks).await;
}

/// Sends the probe message, checks the stream endpoint and the Stop control, and stops it.
async fn probe_checks(
    driver: Driver,
    settings: &ProviderConfig,
    tab: &Tab,
    capture: &Capture,
    checks: &mut Vec<HookCheck>,
) {
    let req = probe_request(driver.provider(), settings);
    if let Err(e) = driver.prepare(tab, &req).await {
        checks.push(HookCheck::new(
            "probe",
            HookStatus::Missing,
            format!("new chat and toggles: {e}"),
        ));
        return;
    }
    let mut events = capture.arm(driver.stream_paths());
    let sent = match driver.send(tab, &req, settings.humanize_mouse).await {
        Ok(sent) => sent,
        Err(e) => {
            drop(events);
            checks.push(HookCheck::new(
                "probe",
                HookStatus::Missing,
                format!("pressing Send: {e}"),
            ));
            return;
        }
    };
    checks.push(stream_check(driver, settings, &mut events).await);
    let stop = driver
        .check_stop(tab, &sent, STOP_WAIT)
        .await
        .unwrap_or_else(|e| HookCheck::new("stop", HookStatus::Missing, e.to_string()));
    let stoppable = stop.status != HookStatus::Missing;
    checks.push(stop);
    if stoppable {
        let _ = driver.stop(tab, &sent, None).await;
    }
    // Let the answer end (stopped, or in full) before the page closes.
    let ended = tokio::time::timeout(END_WAIT, async {
        while let Some(ev) = events.recv().await {
            if matches!(
                ev,
                CaptureEvent::Finished | CaptureEvent::Failed { .. } | CaptureEvent::Crashed
            ) {
                break;
            }
        }
    })
    .await;
    if ended.is_err() {
        tracing::warn!(
            "{}: the probe answer did not end within {}s",
            driver.provider(),
            END_WAIT.as_secs()
        );
    }
    drop(events);
}

/// Waits for the stream endpoint's answer to the probe.
async fn stream_check(
    driver: Driver,
    settings: &ProviderConfig,
    events: &mut CaptureStream,
) -> HookCheck {
    let paths = driver.stream_paths().join(" or ");
    let mut url = None;
    let waited = tokio::time::timeout(settings.first_chunk_timeout, async {
        while let Some(ev) = events.recv().await {
            match ev {
                CaptureEvent::Sent { url: u, .. } => url = Some(u),
                CaptureEvent::Response { status, .. } => return Some(Ok(status)),
                CaptureEvent::Failed { error, .. } => return Some(Err(error)),
                CaptureEvent::Crashed => return Some(Err("the page crashed".into())),
                _ => {}
            }
        }
        None
    })
    .await;
    let at = url.as_deref().unwrap_or(paths.as_str()).to_owned();
    match waited {
        Ok(Some(Ok(status))) if (200..300).contains(&status) => HookCheck::new(
            "stream",
            HookStatus::Found,
            format!("POST {at} answered HTTP {status}"),
        ),
        Ok(Some(Ok(status))) => HookCheck::new(
            "stream",
            HookStatus::Missing,
            format!("POST {at} answered HTTP {status}"),
        ),
        Ok(Some(Err(error))) => HookCheck::new(
            "stream",
            HookStatus::Missing,
            format!("POST {at} failed: {error}"),
        ),
        Ok(None) | Err(_) => HookCheck::new(
            "stream",
            HookStatus::Missing,
            format!(
                "no POST to {paths} answered within {}s of Send",
                settings.first_chunk_timeout.as_secs()
            ),
        ),
    }
}

/// The probe: a new chat with the provider's settings, thinking and search off.
fn probe_request(kind: ProviderKind, settings: &ProviderConfig) -> ShapedRequest {
    ShapedRequest {
        provider: kind,
        client_model: format!("{}-chat", kind.prefix()),
        kind: RequestKind::Text,
        mode: Mode::Chat,
        prompt: PROBE_PROMPT.to_owned(),
        system: None,
        toggles: Toggles::default(),
        send_thinking: false,
        real_model: settings.model.clone(),
        deep_think_effort: None,
        thinking_effort: None,
        inference_provider: None,
        thinking_level: None,
        sampling: Sampling::default(),
    }
}

async fn screenshot(tab: &Tab, kind: ProviderKind, dir: &Path) -> Result<PathBuf, String> {
    let png = tab
        .screenshot(tab.cdp_timeout())
        .await
        .map_err(|e| e.to_string())?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!("{}-{secs}.png", kind.prefix()));
    tokio::fs::write(&path, png)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The report as text: a table per site, then a summary line.
pub fn render(reports: &[SiteReport]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!("{} — {}\n", r.provider.display_name(), r.url));
        let width = r
            .checks
            .iter()
            .map(|c| c.hook.len())
            .max()
            .unwrap_or(4)
            .max(4);
        for c in &r.checks {
            let status = match &c.status {
                HookStatus::Found => "found".to_owned(),
                HookStatus::Fallback => "fallback".to_owned(),
                HookStatus::Missing => "MISSING".to_owned(),
                HookStatus::Skipped(why) => format!("skipped ({why})"),
            };
            let line = format!("  {:<width$}  {:<8}  {}", c.hook, status, c.how);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        match &r.screenshot {
            Ok(path) => out.push_str(&format!("  screenshot: {}\n", path.display())),
            Err(why) => out.push_str(&format!("  screenshot: none ({why})\n")),
        }
        out.push('\n');
    }
    let missing: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.missing()
                .map(move |c| format!("{} {}", r.provider.prefix(), c.hook))
        })
        .collect();
    let fallbacks = reports
        .iter()
        .flat_map(|r| r.checks.iter())
        .filter(|c| c.status == HookStatus::Fallback)
        .count();
    if missing.is_empty() {
        out.push_str(&format!(
            "every hook found ({fallbacks} by a fallback way)\n"
        ));
    } else {
        out.push_str(&format!("missing: {}\n", missing.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<HookCheck>) -> SiteReport {
        SiteReport {
            provider: ProviderKind::Glm,
            url: "http://127.0.0.1:1/".into(),
            screenshot: Ok(PathBuf::from("/tmp/glm-1.png")),
            checks,
        }
    }

    #[test]
    fn the_table_names_missing_hooks_and_health_follows_them() {
        let ok = report(vec![
            HookCheck::new("send", HookStatus::Found, "button#send-message-button"),
            HookCheck::new(
                "new_chat",
                HookStatus::Fallback,
                "button#sidebar-new-chat-button",
            ),
            HookCheck::new("stop", HookStatus::Skipped("needs --probe".into()), ""),
        ]);
        assert!(healthy(std::slice::from_ref(&ok)));
        let text = render(std::slice::from_ref(&ok));
        assert!(
            text.contains("new_chat  fallback  button#sidebar-new-chat-button"),
            "{text}"
        );
        assert!(text.contains("screenshot: /tmp/glm-1.png"), "{text}");
        assert!(
            text.ends_with("every hook found (1 by a fallback way)\n"),
            "{text}"
        );

        let broken = report(vec![HookCheck::new(
            "send",
            HookStatus::Missing,
            "tried: a; b",
        )]);
        assert!(!healthy(&[ok, broken.clone()]));
        assert!(render(&[broken]).ends_with("missing: glm send\n"));
    }
}
