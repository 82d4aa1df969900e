//! The Perplexity replica (www.perplexity.ai): the app page, its session API and the ask stream.
//!
//! Routes:
//! - `GET /` and `GET /search/<slug>`: the app page (`page.html`, script `app.js`; a new thread
//!   is `/`, an answered one `/search/<slug>`, routed in the page). Without registered accounts
//!   the site plays one anonymous account: a page load sets its session cookie
//!   `__Secure-next-auth.session-token` (the site's own name; `Secure`, which Chromium accepts on
//!   `http://127.0.0.1`, a potentially trustworthy origin, and sends back). Signed out
//!   (`ReplicaServer::set_signed_in(false)`) it sets none and the page shows "Sign In".
//! - Accounts (`ReplicaServer::add_account`; the password is ignored, Perplexity has none): from
//!   the first one on, a page load sets no cookie, and only a session the sign-in issued counts.
//!   The signed-out page shows "Sign In"; clicking it opens the email-code sign-in (see
//!   `app.js`): `POST /api/auth/signin/email` `{"email"}` emails a 6-digit code (HTTP 400
//!   `{"error"}` for an email with no account; each attempt gets a new code, deterministic per
//!   email and attempt, read by tests from [`crate::ReplicaServer::sign_in_code`] or
//!   `GET /__replica/mailbox/<email>`), and `POST /api/auth/callback/email` `{"email","code"}`
//!   with the right unused code sets the session cookie and counts a sign-in
//!   ([`crate::ReplicaServer::sign_ins`]); a wrong one is HTTP 400 `{"error":"Invalid code"}`.
//!   (The two paths are the replica's choice; next-auth's real callback is a link in the mail.)
//!   Every accepted ask names its account ([`crate::ReceivedRequest::account`]);
//!   `ReplicaServer::end_account_sessions` signs everyone out.
//! - `GET /api/auth/session`: `{"user":{…,"subscription_tier":"free"|"pro"|"max"},"expires":…}`
//!   signed in, `{}` signed out (next-auth's answer). The tier is `pro` unless
//!   `ReplicaServer::set_account_tier` says otherwise; a `free` page has no Model button.
//! - `POST /rest/sse/perplexity_ask`: the SSE ask stream (see [`wire`]). The body is
//!   `{"query_str":…,"params":{"frontend_uuid":…,"mode":…,"model_preference":…,"sources":[…],…}}`.
//!   Refused with HTTP 401 (`{"detail":…}`) without the session cookie, with HTTP 400 unless
//!   `query_str` is not empty, `frontend_uuid` is a UUID sent for the first time and `mode` is
//!   one of the composer's modes, and with HTTP 403 for a model the account's tier does not
//!   have (a free account has only `best`; `gpt55` and `claude47opus` need Max).
//!   `replica:fault=rate_limit` answers HTTP 429 `{"detail":"Too many requests…"}`.
//! - `GET /spaces` and `GET /spaces/<slug>`: the page again, showing the account's Spaces or
//!   one Space (its title, its answer instructions with an editor, and the composer).
//!   `GET /rest/spaces` lists them (`{"spaces":[{"uuid","slug","title","instructions"}]}`),
//!   `POST /rest/spaces` `{"title"}` creates one, `POST /rest/spaces/<uuid>/instructions`
//!   `{"instructions"}` saves its instructions: at most 8000 characters, as on the site (HTTP 400
//!   above; 404 for an unknown Space). An ask made in a Space names it
//!   (`params.target_collection_uuid`, HTTP 400 if unknown), and the log's `system` is the
//!   Space's instructions then. These `/rest/spaces` paths are the replica's choice.
//! - `POST /rest/thread/stop` with `{"frontend_uuid":…}`: marks that ask `stop_called` and ends
//!   its stream. **This path is the replica's choice, not a known endpoint of the real site**:
//!   the reference only says the driver clicks the site's Stop. An unknown ask gets HTTP 404.
//!
//! The request's `model_preference` is the picker's model (`best`, `sonar2`, `gpt54`, …) with
//! `_thinking` appended when the Thinking switch is on (the slugs are this replica's choice);
//! the log's `model` is the slug without it, `thinking` the switch, and `search` whether the
//! `web` source is on (`sources`). Models with forced thinking (Gemini 3.1 Pro, Nemotron 3
//! Super) always think.

mod wire;

use std::collections::HashSet;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::answer::Subject;
use crate::faults::{Fault, Plan};
use crate::ids;
use crate::log::{Outcome, ReceivedRequest};
use crate::server::{AppState, cookie};
use crate::site::Site;
use crate::stream::{sse_body, sse_response};

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

const ASK_PATH: &str = "/rest/sse/perplexity_ask";
const SESSION_COOKIE: &str = "__Secure-next-auth.session-token";

/// The composer's request modes, as the ask names them.
const MODES: [&str; 4] = ["search", "study", "research", "council"];
/// Models only a Max account may pick.
const MAX_ONLY: [&str; 2] = ["gpt55", "claude47opus"];
/// Models that always think.
const FORCED_THINKING: [&str; 2] = ["gemini31pro", "nemotron3super"];

/// The most characters a Space's answer instructions hold.
const INSTRUCTIONS_LIMIT: usize = 8000;

/// One Space of the account.
#[derive(Clone, serde::Serialize)]
struct Space {
    uuid: String,
    slug: String,
    title: String,
    instructions: String,
}

/// What the Perplexity replica remembers between requests.
pub(crate) struct SiteState {
    /// The account's Spaces, oldest first.
    spaces: Vec<Space>,
    /// The signed-in session's token, made on the first page load.
    token: Option<String>,
    /// The account's subscription tier: `free`, `pro` or `max`.
    tier: String,
    /// Every `frontend_uuid` an ask carried (each may be sent once).
    asks: HashSet<String>,
}

impl Default for SiteState {
    fn default() -> Self {
        SiteState {
            token: None,
            tier: "pro".to_owned(),
            asks: HashSet::new(),
            spaces: Vec::new(),
        }
    }
}

fn site_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared
        .perplexity
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Sets the account's tier (`free`, `pro`, `max`).
pub(crate) fn set_tier(app: &crate::server::Shared, tier: &str) {
    app.perplexity
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .tier = tier.to_owned();
}

fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

fn token(app: &AppState) -> String {
    site_state(app)
        .token
        .get_or_insert_with(|| ids::hex(48))
        .clone()
}

/// The routes of the Perplexity replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/search/{slug}", get(page))
        .route("/spaces", get(page))
        .route("/spaces/{slug}", get(page))
        .route("/rest/spaces", get(list_spaces).post(create_space))
        .route("/rest/spaces/{uuid}/instructions", post(save_instructions))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/auth/session", get(session))
        .route("/api/auth/signin/email", post(send_code))
        .route("/api/auth/callback/email", post(redeem_code))
        .route(ASK_PATH, post(ask))
        .route("/rest/thread/stop", post(stop_ask))
}

async fn page(State(app): State<AppState>) -> Response {
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut response = Html(crate::hooks::page(PAGE, change.as_ref())).into_response();
    if !signed_out(&app) && !app.shared.accounts().required() {
        set_session_cookie(&mut response, &token(&app));
    }
    response
}

fn set_session_cookie(response: &mut Response, token: &str) {
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
    /// The callback's code (the sign-in step has none).
    #[serde(default)]
    code: String,
}

async fn send_code(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<EmailBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "email is required"})),
        )
            .into_response();
    };
    match app.shared.accounts().send_code(&body.email) {
        Some(_) => Json(json!({"ok": true})).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "No account uses this email"})),
        )
            .into_response(),
    }
}

async fn redeem_code(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<EmailBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "email and code are required"})),
        )
            .into_response();
    };
    let token = app.shared.accounts().redeem_code(&body.email, &body.code);
    match token {
        Some(token) => {
            let mut response = Json(json!({"ok": true, "url": "/"})).into_response();
            set_session_cookie(&mut response, &token);
            response
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Invalid code"})),
        )
            .into_response(),
    }
}

async fn app_js() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        APP_JS,
    )
        .into_response()
}

/// Who the request is signed in as: `Some(None)` the anonymous account (no accounts
/// registered), `Some(Some(email))` a registered one, `None` nobody.
fn signed_in_as(app: &AppState, headers: &HeaderMap) -> Option<Option<String>> {
    let presented = cookie(headers, SESSION_COOKIE)?;
    let accounts = app.shared.accounts();
    if accounts.required() {
        return accounts.of_token(&presented).map(Some);
    }
    drop(accounts);
    (!signed_out(app) && presented == token(app)).then_some(None)
}

fn signed_in(app: &AppState, headers: &HeaderMap) -> bool {
    signed_in_as(app, headers).is_some()
}

async fn session(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(account) = signed_in_as(&app, &headers) else {
        return Json(json!({})).into_response();
    };
    let tier = site_state(&app).tier.clone();
    let email = account.unwrap_or_else(|| "replica@example.com".to_owned());
    Json(json!({
        "user": {"id": "replica-user", "name": "Replica", "email": email,
                 "subscription_tier": tier},
        "expires": "2099-01-01T00:00:00.000Z",
    }))
    .into_response()
}

/// A Perplexity error answer: `{"detail":…}`.
fn error(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

async fn list_spaces(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if !signed_in(&app, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let spaces = site_state(&app).spaces.clone();
    Json(json!({ "spaces": spaces })).into_response()
}

#[derive(Deserialize)]
struct NewSpace {
    title: String,
}

async fn create_space(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !signed_in(&app, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Ok(new) = serde_json::from_slice::<NewSpace>(&body) else {
        return error(StatusCode::BAD_REQUEST, "title is required");
    };
    if new.title.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "title is required");
    }
    let uuid = ids::uuid();
    let space = Space {
        slug: format!("{}-{}", slug_of(&new.title), &uuid[..8]),
        uuid,
        title: new.title.trim().to_owned(),
        instructions: String::new(),
    };
    site_state(&app).spaces.push(space.clone());
    Json(json!(space)).into_response()
}

/// A title as a URL slug: lower-case letters and digits, runs of anything else as `-`.
fn slug_of(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

#[derive(Deserialize)]
struct Instructions {
    instructions: String,
}

async fn save_instructions(
    State(app): State<AppState>,
    axum::extract::Path(uuid): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !signed_in(&app, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let Ok(new) = serde_json::from_slice::<Instructions>(&body) else {
        return error(StatusCode::BAD_REQUEST, "instructions are required");
    };
    if new.instructions.chars().count() > INSTRUCTIONS_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            "Instructions are limited to 8000 characters",
        );
    }
    let mut site = site_state(&app);
    let Some(space) = site.spaces.iter_mut().find(|s| s.uuid == uuid) else {
        return error(StatusCode::NOT_FOUND, "Space not found");
    };
    space.instructions = new.instructions;
    Json(json!(space.clone())).into_response()
}

#[derive(Deserialize)]
struct StopBody {
    frontend_uuid: String,
}

async fn stop_ask(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(stop) = serde_json::from_slice::<StopBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "frontend_uuid is required");
    };
    if !state.shared.log.stop_session(&stop.frontend_uuid) {
        tracing::warn!(ask = %stop.frontend_uuid, "perplexity replica: stop for an unknown ask");
        return error(StatusCode::NOT_FOUND, "thread not found");
    }
    Json(json!({ "status": "success" })).into_response()
}

/// The fields of an ask the replica reads.
#[derive(Deserialize)]
struct AskBody {
    query_str: Option<String>,
    #[serde(default)]
    params: Params,
}

#[derive(Deserialize, Default)]
struct Params {
    frontend_uuid: Option<String>,
    mode: Option<String>,
    model_preference: Option<String>,
    #[serde(default)]
    sources: Vec<String>,
    /// The Space the ask was made in.
    target_collection_uuid: Option<String>,
}

/// Logs an ask that was refused, and answers with the site's error.
fn reject(state: &AppState, mut entry: ReceivedRequest, status: StatusCode, why: &str) -> Response {
    tracing::warn!(reason = %why, "perplexity replica: ask rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    state.shared.log.open(entry, None);
    error(status, why)
}

fn is_uuid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn ask(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let arriving = |prompt: String, model: String| {
        let mut entry = ReceivedRequest::arriving(ASK_PATH, prompt, model);
        entry.accept_encoding = crate::log::accept_encoding(&headers);
        entry
    };
    let Some(account) = signed_in_as(&state, &headers) else {
        let entry = arriving(String::new(), String::new());
        return reject(&state, entry, StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let req = match serde_json::from_slice::<AskBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = arriving(String::new(), String::new());
            let why = format!("invalid request body: {err}");
            return reject(&state, entry, StatusCode::BAD_REQUEST, &why);
        }
    };
    let preference = req.params.model_preference.unwrap_or_default();
    let (model, thinking) = match preference.strip_suffix("_thinking") {
        Some(model) => (model.to_owned(), true),
        None => (preference.clone(), false),
    };
    let Some(prompt) = req.query_str.filter(|q| !q.trim().is_empty()) else {
        let entry = arriving(String::new(), model);
        return reject(
            &state,
            entry,
            StatusCode::BAD_REQUEST,
            "query_str is required",
        );
    };
    let mut entry = arriving(prompt, model.clone());
    entry.account = account;
    entry.thinking = thinking || FORCED_THINKING.contains(&model.as_str());
    entry.search = req.params.sources.iter().any(|s| s == "web");
    let refused = {
        let mut site = site_state(&state);
        let tier = site.tier.clone();
        let space = req.params.target_collection_uuid.as_ref().map(|uuid| {
            site.spaces
                .iter()
                .find(|s| &s.uuid == uuid)
                .map(|s| s.instructions.clone())
        });
        if let Some(Some(instructions)) = &space {
            entry.system = Some(instructions.clone());
        }
        match (&req.params.frontend_uuid, req.params.mode.as_deref()) {
            _ if space == Some(None) => Some((
                StatusCode::BAD_REQUEST,
                "target_collection_uuid names no Space",
            )),
            (None, _) => Some((StatusCode::BAD_REQUEST, "frontend_uuid is required")),
            (Some(id), _) if !is_uuid(id) => {
                Some((StatusCode::BAD_REQUEST, "frontend_uuid is malformed"))
            }
            (Some(id), _) if !site.asks.insert(id.clone()) => {
                Some((StatusCode::BAD_REQUEST, "frontend_uuid was already sent"))
            }
            (_, mode) if !mode.is_some_and(|m| MODES.contains(&m)) => Some((
                StatusCode::BAD_REQUEST,
                "mode is not one of the composer's modes",
            )),
            _ if model.is_empty() => {
                Some((StatusCode::BAD_REQUEST, "model_preference is required"))
            }
            _ if tier == "free" && (model != "best" || thinking) => Some((
                StatusCode::FORBIDDEN,
                "This model requires a Perplexity Pro subscription",
            )),
            _ if tier != "max" && MAX_ONLY.contains(&model.as_str()) => Some((
                StatusCode::FORBIDDEN,
                "This model requires a Perplexity Max subscription",
            )),
            _ => None,
        }
    };
    if let Some((status, why)) = refused {
        return reject(&state, entry, status, why);
    }

    let plan = Plan::new(state.shared.knobs(), &entry.prompt);
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    if plan.fault == Some(Fault::RateLimit) {
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, req.params.frontend_uuid);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Please slow down and try again later.",
        );
    }
    let script = wire::script(
        &Subject {
            site: Site::Perplexity,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
        &ids::uuid(),
    );
    let (seq, stop) = state.shared.log.open(entry, req.params.frontend_uuid);
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}
