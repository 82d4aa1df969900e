//! [`ReplicaServer`]: one replica site on a local port, plus the admin endpoints.
//!
//! The server task runs `axum::serve` with graceful shutdown. Shutting down (explicitly or on
//! drop) first raises the `closing` flag, which ends every body still streaming (a stalled one
//! would otherwise hold the graceful shutdown forever), then stops accepting connections.
//!
//! Admin endpoints, the same on every site (for out-of-process tools):
//! - `GET /__replica/requests`: the request log as a JSON array of [`ReceivedRequest`].
//! - `POST /__replica/reset`: forgets the log.
//! - `GET /__replica/knobs`, `POST /__replica/knobs` (JSON [`Knobs`], missing fields default):
//!   read or replace the knobs.
//! - `GET /__replica/mailbox/{email}`: `{"code": "123456"}`, the sign-in code last emailed to
//!   that account and still unused (Perplexity), or HTTP 404.
//!
//! Like the real sites, every page load sets a session cookie (`replica_session`, `HttpOnly`),
//! with a value random per server ([`ReplicaServer::session_cookie`]). The browser then sends it
//! with the completion request, so a test can check that no saved artifact leaks it.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::hooks::HookChange;
use crate::knobs::Knobs;
use crate::log::{ReceivedRequest, RequestLog};
use crate::site::Site;
use crate::stream::Interrupts;
use crate::{aistudio, deepseek, glm, huggingchat, mimo, moonshot, perplexity, qwen};

/// The name of the session cookie every page load sets.
const SESSION_COOKIE: &str = "replica_session";

/// How long [`ReplicaServer::shutdown`] waits for open connections before aborting the task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// State shared by every handler of one replica, and by the [`ReplicaServer`] handle.
pub(crate) struct Shared {
    /// Every completion request received, with its outcome.
    pub log: RequestLog,
    /// The current knobs; read once per request (directives then override them).
    knobs: Mutex<Knobs>,
    /// Raised once when the server shuts down; every streaming body watches it.
    closing: watch::Sender<bool>,
    /// DeepSeek's sessions, PoW challenges and message ids (unused by other sites).
    pub deepseek: Mutex<deepseek::SiteState>,
    /// GLM's chats and message ids (unused by other sites).
    pub glm: Mutex<glm::SiteState>,
    /// MiMo's account, conversations and message ids (unused by other sites).
    pub mimo: Mutex<mimo::SiteState>,
    /// Perplexity's session, account tier and asks (unused by other sites).
    pub perplexity: Mutex<perplexity::SiteState>,
    pub huggingchat: Mutex<huggingchat::SiteState>,
    /// Qwen's chats, message ids and account settings (unused by other sites).
    pub qwen: Mutex<qwen::SiteState>,
    /// Kimi's account token, chats and settings (unused by other sites).
    pub moonshot: Mutex<moonshot::SiteState>,
    /// AI Studio's account session (unused by other sites).
    pub aistudio: Mutex<aistudio::SiteState>,
    /// The page hook this site "renamed", if any (see [`crate::hooks`]).
    pub hook_change: Mutex<Option<(String, HookChange)>>,
    /// Whether the account's session ended (see [`ReplicaServer::set_signed_in`]).
    pub signed_out: std::sync::atomic::AtomicBool,
    /// The value of the session cookie this server sets on page loads.
    session: String,
    /// Registered accounts and their sessions (see [`crate::accounts`]).
    pub accounts: Mutex<crate::accounts::Accounts>,
    /// Google sign-ins in progress (Kimi, AI Studio; see [`crate::google_signin`]).
    pub google: Mutex<crate::google_signin::Flows>,
    /// Pages load the heavy script (see [`crate::heavy`]).
    heavy: std::sync::atomic::AtomicBool,
    /// HTML pages served (each a page load in the browser).
    page_views: std::sync::atomic::AtomicU32,
}

impl Shared {
    fn new(knobs: Knobs) -> Shared {
        Shared {
            log: RequestLog::default(),
            knobs: Mutex::new(knobs),
            closing: watch::Sender::new(false),
            deepseek: Mutex::default(),
            glm: Mutex::default(),
            mimo: Mutex::default(),
            perplexity: Mutex::default(),
            huggingchat: Mutex::default(),
            qwen: Mutex::default(),
            moonshot: Mutex::default(),
            aistudio: Mutex::default(),
            hook_change: Mutex::new(None),
            signed_out: std::sync::atomic::AtomicBool::new(false),
            page_views: std::sync::atomic::AtomicU32::new(0),
            session: random_hex(),
            accounts: Mutex::default(),
            google: Mutex::default(),
            heavy: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether pages load the heavy script.
    pub(crate) fn heavy(&self) -> bool {
        self.heavy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The registered accounts.
    pub(crate) fn accounts(&self) -> std::sync::MutexGuard<'_, crate::accounts::Accounts> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The knobs now.
    pub(crate) fn knobs(&self) -> Knobs {
        *self.knobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_knobs(&self, knobs: Knobs) {
        *self.knobs.lock().unwrap_or_else(|e| e.into_inner()) = knobs;
    }

    /// The interrupts for a body whose stop flag is `stop`.
    pub(crate) fn interrupts(&self, stop: watch::Receiver<bool>) -> Interrupts {
        Interrupts {
            stop,
            closing: self.closing.subscribe(),
        }
    }
}

/// The axum state of one replica.
#[derive(Clone)]
pub(crate) struct AppState {
    pub shared: Arc<Shared>,
}

/// A running replica of one site on `127.0.0.1`. Shuts down on drop or [`Self::shutdown`].
pub struct ReplicaServer {
    site: Site,
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Fires the graceful shutdown of the serve task; taken by the first shutdown.
    stop_accepting: Option<oneshot::Sender<()>>,
    /// The serve task; awaited by [`Self::shutdown`], left to finish on its own by drop.
    task: Option<JoinHandle<()>>,
}

impl ReplicaServer {
    /// Starts a replica of `site` on `127.0.0.1:0` (a free port).
    pub async fn start(site: Site, knobs: Knobs) -> io::Result<ReplicaServer> {
        Self::start_on(site, knobs, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a replica of `site` on `addr`.
    pub async fn start_on(site: Site, knobs: Knobs, addr: SocketAddr) -> io::Result<ReplicaServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(knobs));
        let state = AppState {
            shared: Arc::clone(&shared),
        };
        let site_routes = match site {
            Site::DeepSeek => deepseek::routes(),
            Site::Glm => glm::routes(),
            Site::Mimo => mimo::routes(),
            Site::Perplexity => perplexity::routes(),
            Site::Qwen => qwen::routes(),
            Site::Moonshot => moonshot::routes(),
            Site::AiStudio => aistudio::routes(),
            Site::HuggingChat => huggingchat::routes(),
        };
        let site_routes = match site.base_path() {
            "" => site_routes,
            // The site's routes carry the base path themselves (a nested `/` would not
            // answer `/chat/`); the admin endpoints answer under it too.
            base => site_routes.nest(base, admin_routes()),
        };
        let app = Router::new()
            .merge(site_routes)
            .layer(axum::middleware::map_response_with_state(
                state.clone(),
                set_session_cookie,
            ))
            .layer(axum::middleware::map_response_with_state(
                state.clone(),
                crate::heavy::inject,
            ))
            .merge(admin_routes())
            .with_state(state);
        let (stop_accepting, stop_rx) = oneshot::channel::<()>();
        #[expect(
            clippy::disallowed_methods,
            reason = "the replicas must not use the gateway's tasks::spawn; this is the crate's \
                      only task, owned by ReplicaServer, which logs how it ends"
        )]
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender also means "shut down".
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(cause = %err, site = site.slug(), "replica server failed");
            }
        });
        tracing::debug!(%addr, site = site.slug(), "replica started");
        Ok(ReplicaServer {
            site,
            addr,
            shared,
            stop_accepting: Some(stop_accepting),
            task: Some(task),
        })
    }

    /// The site this server replicates.
    pub fn site(&self) -> Site {
        self.site
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` and the site's base path (HuggingChat's `/chat`), without a
    /// trailing slash: the base URL a provider's config takes. The admin endpoints answer
    /// under it too.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.site.base_path())
    }

    /// The value of the session cookie (`replica_session`) this server sets on page loads.
    pub fn session_cookie(&self) -> &str {
        &self.shared.session
    }

    /// A snapshot of the request log, oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.log.snapshot()
    }

    /// Waits until `pred` holds for the request log, waking on every log change (no polling).
    /// `Ok` carries the snapshot that satisfied `pred`; `Err` the last snapshot at the timeout.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&[ReceivedRequest]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, Vec<ReceivedRequest>> {
        self.shared.log.wait_for(pred, timeout).await
    }

    /// Forgets the request log.
    pub fn reset(&self) {
        self.shared.log.reset();
    }

    /// Makes every page served from now on as heavy as the real site's (megabytes of script,
    /// a retained heap, a re-render per streamed piece; see [`crate::heavy`]), or light again.
    pub fn set_heavy(&self, on: bool) {
        (self.shared.heavy).store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The knobs now.
    pub fn knobs(&self) -> Knobs {
        self.shared.knobs()
    }

    /// Replaces the knobs; requests arriving from now on use them.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.shared.set_knobs(knobs);
    }

    /// Makes the site's page change one of its hooks (from the next page load on), as a site
    /// redesign would; `None` restores the page. See [`crate::hooks`] for the hook names.
    pub fn change_hook(&self, change: Option<(&str, HookChange)>) {
        *self
            .shared
            .hook_change
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = change.map(|(hook, how)| (hook.to_owned(), how));
    }

    /// Signs the replica's account in or out, as a session that expires on the site would. Signed
    /// out, MiMo's page sets no sign-in cookies and shows "Log in", and its completion answers
    /// HTTP 401; Perplexity's page sets no session cookie and shows "Sign In", its session API
    /// answers `{}` and its ask HTTP 401; HuggingChat's page sets no `hf-chat` cookie and shows
    /// "Sign in", and its settings and message answer HTTP 401; Qwen's page redirects to `/auth`
    /// and its API answers HTTP 401; Kimi's page sets no access token, shows "Log In" and its
    /// login modal, and its API answers HTTP 401; the other replicas do not model sign-in yet
    /// and ignore it.
    pub fn set_signed_in(&self, signed_in: bool) {
        self.shared
            .signed_out
            .store(!signed_in, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes AI Studio pages loaded from now on drop `incognito=true` from the URL of their
    /// first new chat, as a redirect on the site can (AI Studio only; the others ignore it).
    pub fn set_drops_incognito(&self, on: bool) {
        aistudio::set_drops_incognito(&self.shared, on);
    }

    /// Registers an account the site's sign-in form accepts (see [`crate::accounts`]). From
    /// the first one on, DeepSeek's, GLM's, Qwen's, HuggingChat's (a username or an email),
    /// MiMo's, Kimi's and AI Studio's pages ask for a sign-in (Kimi and AI Studio through
    /// Google's pages, [`crate::google_signin`]) and their completion refuses a request
    /// without a session cookie the replica issued (Perplexity's likewise, signing in by an
    /// emailed code, the password unused; see [`ReplicaServer::sign_in_code`]); each accepted
    /// request names its account in [`ReceivedRequest::account`].
    pub fn add_account(&self, email: &str, password: &str) {
        self.shared.accounts().add(email, password);
    }

    /// The sign-in code the site last emailed to `email` and that is still unused (Perplexity's
    /// code sign-in; the "mailbox" a test reads, as a person reads their email).
    pub fn sign_in_code(&self, email: &str) -> Option<String> {
        self.shared.accounts().last_code(email)
    }

    /// Makes Google's sign-in of `email` (Kimi, AI Studio) ask for a second step after the
    /// right password ("2-Step Verification · Check your phone"), which only a person with the
    /// phone could pass, or stops doing so.
    pub fn require_second_step(&self, email: &str, on: bool) {
        self.shared.accounts().set_second_step(email, on);
    }

    /// How many HTML pages the server served (each one a page load in the browser).
    pub fn page_views(&self) -> u32 {
        (self.shared.page_views).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How often a sign-in page was served (on sites that count them: DeepSeek).
    pub fn sign_in_page_views(&self) -> u32 {
        self.shared.accounts().sign_in_views()
    }

    /// How often `email` signed in through the form so far.
    pub fn sign_ins(&self, email: &str) -> u32 {
        self.shared.accounts().sign_ins(email)
    }

    /// Makes the site answer every completion of `email` as rate limited (as
    /// `replica:fault=rate_limit` does: DeepSeek and MiMo HTTP 429, Qwen its `RateLimited`
    /// refusal, HuggingChat its rate-limit status in the stream), or stops doing so.
    pub fn rate_limit_account(&self, email: &str, limited: bool) {
        self.shared.accounts().set_limited(email, limited);
    }

    /// Ends every account session, as the site expiring them would.
    pub fn end_account_sessions(&self) {
        self.shared.accounts().end_sessions();
    }

    /// Sets the subscription tier of the replica's account (`free`, `pro`, `max`; Perplexity
    /// only, where it decides which model controls the page shows and which models an ask may
    /// name; `pro` until set). Pages loaded from now on see it.
    pub fn set_account_tier(&self, tier: &str) {
        perplexity::set_tier(&self.shared, tier);
    }

    /// Ends every streaming body, stops accepting and waits for the server task (aborting it
    /// after a grace period if a connection lingers).
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::error!(cause = %err, site = self.site.slug(), "replica task panicked");
                }
                Err(_) => {
                    tracing::warn!(
                        site = self.site.slug(),
                        "replica shutdown timed out; aborting"
                    );
                    task.abort();
                }
            }
        }
    }

    fn begin_shutdown(&mut self) {
        self.shared.closing.send_replace(true);
        if let Some(stop) = self.stop_accepting.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for ReplicaServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

impl std::fmt::Debug for ReplicaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaServer")
            .field("site", &self.site)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Sets the session cookie on every HTML page, as the real sites do on a page load.
async fn set_session_cookie(State(state): State<AppState>, mut response: Response) -> Response {
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_page {
        (state.shared.page_views).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cookie = format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
            state.shared.session
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// 32 random hex characters (std's per-process random hasher keys; no extra dependency).
pub(crate) fn random_hex() -> String {
    let mut out = String::new();
    for i in 0..2u8 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(i);
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

// === admin endpoints ===

fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/__replica/requests", get(list_requests))
        .route("/__replica/reset", post(reset))
        .route("/__replica/knobs", get(get_knobs).post(set_knobs))
        .route("/__replica/heavy.js", get(crate::heavy::serve))
        .route("/__replica/mailbox/{email}", get(mailbox))
}

async fn mailbox(
    State(state): State<AppState>,
    axum::extract::Path(email): axum::extract::Path<String>,
) -> Response {
    match state.shared.accounts().last_code(&email) {
        Some(code) => Json(serde_json::json!({ "code": code })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no unused code for this email" })),
        )
            .into_response(),
    }
}

async fn list_requests(State(state): State<AppState>) -> Json<Vec<ReceivedRequest>> {
    Json(state.shared.log.snapshot())
}

async fn reset(State(state): State<AppState>) -> Json<serde_json::Value> {
    state.shared.log.reset();
    Json(serde_json::json!({ "ok": true }))
}

async fn get_knobs(State(state): State<AppState>) -> Json<Knobs> {
    Json(state.shared.knobs())
}

/// Accepts any content type, so `curl -d '{"chunks":3}'` works.
async fn set_knobs(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Knobs>(&body) {
        Ok(knobs) => {
            state.shared.set_knobs(knobs);
            Json(knobs).into_response()
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": format!("invalid knobs JSON: {err}") })),
        )
            .into_response(),
    }
}

/// The value of the request's cookie `name`, from every `Cookie` header it carries.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
