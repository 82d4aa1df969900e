//! `switchyard login --provider P [--account EMAIL]`: sign in to a provider's site once, by
//! hand, in a visible Chromium, and keep the session where that provider's lanes look for it
//! (issue 15, behavior-spec §7.3–7.4).
//!
//! The session is kept by the rules a lane uses:
//! - `isolation = "process"` (and no `browser.endpoints`): the login runs on the lane's own
//!   persistent profile, `<data_dir>/profiles/<provider>/<Account::profile_name>` for an account
//!   (`lane-1`, the first manual lane's, without `--account`), and closes Chromium gracefully
//!   so its cookies reach the disk. With `--account` the session also goes into the store, as
//!   a lane's does, for what the profile may lose (local storage Chromium had not written).
//! - otherwise (`context`, remote browsers): the login runs on a throwaway profile, and the
//!   signed-in context's cookies and the site origin's local storage are saved with the account
//!   in the encrypted store (`lanes::session::read`, what a lane saves), so `--account` is
//!   needed.
//!
//! With `--account` the form is started for the user: a provider that fills its form gets the
//! saved email and password (the user finishes a CAPTCHA or 2FA), and Perplexity's emailed code
//! flow gets the email, then the 6-digit code the user types on the terminal. Then the login
//! waits, with no time limit, until the provider's ready check sees the signed-in chat; Ctrl-C
//! (or closing the window) ends it and saves nothing to the store.
//!
//! It needs a display (`DISPLAY` or `WAYLAND_DISPLAY`); without one it says how to get one. The
//! environment variable [`HEADLESS_ENV`] runs it headless instead, for scripts and tests, where
//! it can only sign in with a saved password or a code read from stdin.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::accounts::{Account, ErrorKind, Keys, Session, Store};
use crate::browser::{Chromium, LaunchOptions, Tab, find_chromium};
use crate::config::{Config, Isolation};
use crate::models::ProviderKind;
use crate::providers::{Driver, DriverError, SignInOutcome};

/// Set to `1` to run the login headless (scripts and tests; nobody can see the window).
pub const HEADLESS_ENV: &str = "SWITCHYARD_LOGIN_HEADLESS";

/// How long one ready check of the waiting loop may take.
const CHECK: Duration = Duration::from_secs(10);
/// The pause between two ready checks while the user signs in.
const PAUSE: Duration = Duration::from_secs(1);
/// How long loading a page or a sign-in step may take.
const STEP: Duration = Duration::from_secs(30);
/// Saving into a store that a running gateway just wrote: tries.
const SAVE_TRIES: u32 = 3;

/// What `switchyard login` was asked.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub provider: ProviderKind,
    /// The saved account to sign in (`--account`).
    pub account: Option<String>,
    /// No window ([`HEADLESS_ENV`]).
    pub headless: bool,
}

/// Whether a window can be shown: `DISPLAY` or `WAYLAND_DISPLAY` is set.
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// What to do without a display.
pub fn no_display_message(provider: ProviderKind) -> String {
    format!(
        "`switchyard login` opens a browser window, and there is no display here (neither \
         DISPLAY nor WAYLAND_DISPLAY is set). Run it where a window can open: in a desktop \
         session, over `ssh -X` (X11 forwarding), or on a virtual display, for example \
         `xvfb-run -s '-screen 0 1280x900x24' switchyard login --provider {p}` with `x11vnc \
         -display :99` and a VNC viewer to see it. Providers whose saved accounts have a \
         password ({fills}) need no login: their lanes sign in by themselves (`switchyard \
         accounts add --provider P EMAIL`).",
        p = provider.prefix(),
        fills = ProviderKind::ALL
            .into_iter()
            .filter(|k| Driver::of(*k).is_some_and(|d| d.fills_sign_in()))
            .map(|k| k.prefix())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Where the session is kept.
enum Keep {
    /// The lane's persistent profile folder (process isolation).
    Profile(PathBuf),
    /// The encrypted store, with this account.
    Store,
}

/// Runs the login; returns what was saved, for the user.
pub async fn run(config: &Config, opts: &LoginOptions) -> Result<String, String> {
    let kind = opts.provider;
    let Some(driver) = Driver::of(kind) else {
        return Err(format!("{kind} has no driver in this build"));
    };
    if !opts.headless && !display_available() {
        return Err(no_display_message(kind));
    }
    let settings = config.provider(kind);
    let base = settings.base_url.trim_end_matches('/').to_owned();
    let email = opts.account.as_deref().map(str::trim).map(str::to_owned);
    let keys = Keys::from_env(config.accounts.key_file.as_deref());
    // The saved row, if any (its password pre-fills the form).
    let saved = match &email {
        Some(email) => saved_account(config, &keys, kind, email)?,
        None => None,
    };
    let in_profile =
        config.browser.isolation == Isolation::Process && config.browser.endpoints.is_empty();
    let keep = match (&email, in_profile) {
        (_, true) => {
            let folder = match &email {
                Some(email) => Account {
                    email: email.clone(),
                    ..Account::default()
                }
                .profile_name(),
                None => "lane-1".to_owned(),
            };
            let dir = config
                .data_dir
                .join("profiles")
                .join(kind.storage_key())
                .join(folder);
            refuse_profile_in_use(&dir)?;
            Keep::Profile(dir)
        }
        (Some(_), false) => Keep::Store,
        (None, false) => {
            return Err(format!(
                "with isolation = \"context\" (or remote browsers) the session is saved with an \
                 account in the encrypted store: name it with --account EMAIL (saved first with \
                 `switchyard accounts add --provider {} EMAIL`), or set [browser] isolation = \
                 \"process\" to keep it in a browser profile",
                kind.prefix()
            ));
        }
    };
    // Lanes take their accounts from the store: an account must be saved there (one that
    // needs no password is added by the login).
    let password_free = crate::providers::spec(kind)
        .site
        .options
        .passwordless_sign_in;
    if let (Some(email), None) = (&email, &saved) {
        if !password_free {
            return Err(not_saved(kind, email));
        }
    }

    let executable = find_chromium(config.browser.executable.as_deref())?;
    let launch = LaunchOptions {
        executable,
        headless: opts.headless,
        user_data_dir: match &keep {
            Keep::Profile(dir) => Some(dir.clone()),
            Keep::Store => None,
        },
        cdp_timeout: config.browser.cdp_timeout,
        no_sandbox: config.browser.no_sandbox,
        extra_flags: config.browser.extra_flags.clone(),
        proxy: settings.proxy.clone(),
    };
    let browser = Chromium::launch(&launch)
        .await
        .map_err(|e| format!("cannot start Chromium: {e}"))?;
    let mut signals = crate::signals::Signals::listen();
    let signed_in = tokio::select! {
        r = sign_in(&browser, driver, settings, email.as_deref(), saved.as_ref(), opts.headless) => r,
        signal = signals.recv() => Err(format!("{signal}: the login was stopped before the site showed the signed-in state")),
    };
    let tab = match signed_in {
        Ok(tab) => tab,
        Err(e) => {
            // Nothing is kept: the browser goes away without writing its profile out.
            let _ = browser.kill().await;
            browser.close().await;
            return Err(format!("{e}; nothing was saved"));
        }
    };
    let label = kind.display_name();
    let who = email
        .clone()
        .unwrap_or_else(|| "the manual lane".to_owned());
    match keep {
        Keep::Profile(dir) => {
            // With an account, the session also goes into the store, as a lane keeps it:
            // Chromium writes local storage to disk lazily, and the lane fills in from the
            // store what the profile lost.
            let session = match &email {
                Some(_) => match crate::lanes::session::read(&tab, &base).await {
                    Ok(session) => Some(session),
                    Err(e) => {
                        tracing::warn!(cause = %e, "could not read the signed-in session; only the profile keeps it");
                        None
                    }
                },
                None => None,
            };
            drop(tab);
            // A graceful close writes the profile's cookies out.
            browser.close().await;
            let mut added = false;
            if let Some(email) = &email {
                // An account the login adds must reach the store; beside a saved account the
                // store's copy of the session is a spare, and the profile keeps it anyway.
                let must = saved.is_none();
                let (path, email) = (config.accounts.store.clone(), email.clone());
                let saving = tokio::task::spawn_blocking(move || {
                    save_session(&path, &keys, kind, &email, session)
                })
                .await
                .map_err(|e| format!("saving the account failed: {e}"))
                .and_then(|r| r);
                match saving {
                    Ok(new) => added = new,
                    Err(e) if must => return Err(e),
                    Err(e) => tracing::warn!(
                        cause = %e,
                        "the session is kept in the browser profile only (not also in the store)"
                    ),
                }
            }
            Ok(format!(
                "Signed in to {label} as {who}. The session is saved in the browser profile {} \
                 (isolation = \"process\"); the lane on {} uses it from its next start{}.",
                dir.display(),
                if email.is_some() {
                    "this account"
                } else {
                    "no account (manual)"
                },
                if added {
                    " (the account was added to the saved accounts)"
                } else {
                    ""
                }
            ))
        }
        Keep::Store => {
            let session = crate::lanes::session::read(&tab, &base).await.map_err(|e| {
                format!("could not read the signed-in session: {e}; nothing was saved")
            });
            browser.close().await;
            let session = session?;
            let cookies = session.cookies.len();
            let items: usize = session.local_storage.values().map(|m| m.len()).sum();
            let email = email.unwrap_or_default();
            let path = config.accounts.store.clone();
            let added = tokio::task::spawn_blocking(move || {
                save_session(&path, &keys, kind, &email, Some(session))
            })
            .await
            .map_err(|e| format!("saving the session failed: {e}"))??;
            Ok(format!(
                "Signed in to {label} as {who}. Saved its session ({cookies} cookie(s), {items} \
                 local storage item(s)) with the account in {}{}; a lane on this account restores \
                 it at its next start.",
                config.accounts.store.display(),
                if added {
                    " (the account was added to the saved accounts)"
                } else {
                    ""
                }
            ))
        }
    }
}

fn not_saved(kind: ProviderKind, email: &str) -> String {
    format!(
        "{email} is not a saved {kind} account; save it first with `switchyard accounts add \
         --provider {} {email}` (lanes take their accounts from there), then log in",
        kind.prefix()
    )
}

/// The saved row of `email`, if the store holds it (no store: none).
fn saved_account(
    config: &Config,
    keys: &Keys,
    kind: ProviderKind,
    email: &str,
) -> Result<Option<Account>, String> {
    if !Store::exists(&config.accounts.store) {
        return Ok(None);
    }
    let store = Store::open(&config.accounts.store, keys)?;
    let key = crate::accounts::identity_key(email);
    Ok(store
        .accounts(kind)
        .iter()
        .find(|a| a.key() == key)
        .cloned())
}

/// Chromium keeps one process per profile: a profile a running browser holds (a gateway's
/// lane) cannot be opened a second time.
fn refuse_profile_in_use(dir: &Path) -> Result<(), String> {
    let Ok(target) = std::fs::read_link(dir.join("SingletonLock")) else {
        return Ok(());
    };
    let pid = target
        .to_string_lossy()
        .rsplit('-')
        .next()
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => Err(format!(
            "the browser profile {} is in use by a running Chromium (pid {pid}), probably a \
             lane of a running gateway; stop the gateway, then log in",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Opens the site and waits until its ready check passes, starting the sign-in for the user
/// when the site asks for one. Returns the signed-in page.
async fn sign_in(
    browser: &Arc<Chromium>,
    driver: Driver,
    settings: &crate::config::ProviderConfig,
    email: Option<&str>,
    saved: Option<&Account>,
    headless: bool,
) -> Result<Tab, String> {
    let kind = driver.provider();
    let base = settings.base_url.trim_end_matches('/');
    // The browser's own context: the profile's (process isolation), or a throwaway one. The
    // proxy is the browser's; the page answers its sign-in challenges.
    let tab = browser
        .new_tab(false, settings.proxy.as_ref())
        .await
        .map_err(|e| format!("could not open a page: {e}"))?;
    let url = driver.start_url(base);
    tab.goto(&url, STEP)
        .await
        .map_err(|e| format!("could not load {url}: {e}"))?;
    let mut started = false;
    let mut said_wait = false;
    loop {
        if browser.is_closed() {
            return Err("the browser window was closed".to_owned());
        }
        match driver.wait_ready(&tab, CHECK).await {
            Ok(()) => {
                info!("{}: the site shows the signed-in chat", kind.display_name());
                return Ok(tab);
            }
            Err(DriverError::SignInRequired) if !started => {
                started = true;
                let by_hand = start_sign_in(&tab, browser, driver, base, email, saved).await?;
                if by_hand && headless {
                    return Err(format!(
                        "{url} asks for a sign-in, and a headless login can only use a saved \
                         password or a code typed on stdin"
                    ));
                }
            }
            Err(DriverError::SignInRequired) => {
                if !said_wait {
                    said_wait = true;
                    eprintln!(
                        "Waiting for you to finish signing in to {} in the browser window \
                         (Ctrl-C stops, saving nothing)...",
                        kind.display_name()
                    );
                }
            }
            Err(DriverError::NotEnglish(lang)) => {
                if !said_wait {
                    said_wait = true;
                    eprintln!(
                        "The site's language is {lang}; switch it to English in the window \
                         (the lanes need it). Waiting..."
                    );
                }
            }
            Err(e) => debug!(cause = %e, "ready check, again"),
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Starts the site's sign-in for `email`: fills the form with the saved password, or starts
/// the emailed code and types the code the user enters on the terminal. Returns whether the
/// rest is left to the user in the window.
async fn start_sign_in(
    tab: &Tab,
    browser: &Chromium,
    driver: Driver,
    base: &str,
    email: Option<&str>,
    saved: Option<&Account>,
) -> Result<bool, String> {
    let label = driver.provider().display_name();
    let Some(email) = email else {
        eprintln!("{label} asks for a sign-in: sign in in the browser window.");
        return Ok(true);
    };
    let password = saved.and_then(|a| a.password.as_ref());
    if driver.fills_sign_in() {
        let Some(password) = password else {
            eprintln!("{label} asks for a sign-in: sign in as {email} in the browser window.");
            return Ok(true);
        };
        eprintln!("{label}: filling the sign-in form as {email}...");
        return match driver
            .sign_in(tab, browser, base, email, password.expose(), STEP)
            .await
        {
            Ok(SignInOutcome::Submitted) => {
                eprintln!(
                    "Submitted. Finish any CAPTCHA or second step in the window if the site \
                     asks."
                );
                Ok(false)
            }
            Ok(SignInOutcome::Refused(message)) => Err(format!(
                "the site refused the sign-in of {email}: {message}; check the password \
                 (`switchyard accounts edit --provider {} {email}`)",
                driver.provider().prefix()
            )),
            Ok(SignInOutcome::Manual(why)) => {
                eprintln!("{label}: {why}; finish signing in as {email} in the browser window.");
                Ok(true)
            }
            Ok(SignInOutcome::Unsupported) => Ok(true),
            Err(e) => {
                warn!("filling the sign-in form failed: {e}");
                eprintln!("Could not fill the form ({e}); sign in in the window.");
                Ok(true)
            }
        };
    }
    if driver.signs_in_by_code() {
        eprintln!("{label}: asking the site to email a sign-in code to {email}...");
        match driver.start_code_sign_in(tab, base, email, STEP).await? {
            SignInOutcome::Submitted => {}
            SignInOutcome::Refused(message) => {
                return Err(format!(
                    "the site refused to send a code to {email}: {message}"
                ));
            }
            SignInOutcome::Unsupported | SignInOutcome::Manual(_) => return Ok(true),
        }
        loop {
            let code = read_code(email).await?;
            match driver.enter_sign_in_code(tab, &code, STEP).await? {
                SignInOutcome::Refused(message) => {
                    eprintln!("The site refused the code: {message}. Try again.");
                }
                _ => return Ok(false),
            }
        }
    }
    eprintln!("{label} asks for a sign-in: sign in as {email} in the browser window.");
    Ok(true)
}

/// Reads the 6-digit code from the terminal (or one line of stdin).
async fn read_code(email: &str) -> Result<String, String> {
    eprint!("Enter the 6-digit code emailed to {email}: ");
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|n| (n, line))
    })
    .await
    .map_err(|e| format!("reading the code failed: {e}"))?
    .map_err(|e| format!("cannot read the code from stdin: {e}"))?;
    let (n, line) = line;
    if n == 0 {
        return Err("stdin ended before a code was entered".to_owned());
    }
    let code: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(format!("`{code}` is not a 6-digit code"))
    }
}

/// Keeps `session` (if any) with the account in the store, adding a password-free account that
/// is not saved yet. A store a running gateway wrote meanwhile is read again and the change
/// applied there. Returns whether the account was added.
fn save_session(
    path: &Path,
    keys: &Keys,
    kind: ProviderKind,
    email: &str,
    session: Option<Session>,
) -> Result<bool, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let mut store = Store::open(path, keys)?;
        let mut added = false;
        if store.row(kind, email).is_none() {
            store.add(kind, email, None)?;
            added = true;
        }
        let id = Account {
            email: email.to_owned(),
            ..Account::default()
        }
        .id(kind);
        if let Some(session) = &session {
            store.set_session(&id, Some(session.clone()))?;
        }
        match store.save() {
            Ok(()) => return Ok(added),
            Err(e) if e.kind == ErrorKind::Changed && tries < SAVE_TRIES => continue,
            Err(e) if e.kind == ErrorKind::Locked => {
                return Err(format!(
                    "{e}. A running gateway is writing the store; run the login again in a \
                     moment (or stop the gateway first: a lane on this account would also \
                     overwrite the session with its own)"
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
