//! The QwenLM replica (chat.qwen.ai): the app page and the chat endpoints.
//!
//! Routes:
//! - `GET /`, `GET /c/{id}` (also `/c/new-chat`): the app page (`page.html`, script `app.js`).
//! - `GET /auth`: the sign-in page (`auth.html`: `.qwenchat-auth-pc-input-items` with the email
//!   and password, `button.qwenchat-auth-pc-submit-button`). Signed out
//!   ([`crate::ReplicaServer::set_signed_in`]), the app page redirects there, as the site does
//!   without its `token` cookie, and the chat calls answer HTTP 401.
//! - `POST /api/v1/auths/signin` `{"email","password"}`: a registered pair
//!   ([`crate::ReplicaServer::add_account`]) gets the `HttpOnly` session cookie `token`; a wrong
//!   one HTTP 400 with the site's message. Once an account is registered, the site is signed
//!   out without a `token` the replica issued: the page redirects to `/auth`, the settings, new
//!   chat and completion answer HTTP 401, and each completion names its account
//!   ([`crate::ReceivedRequest::account`]); a rate-limited account gets the `RateLimited`
//!   refusal.
//! - `GET /api/v2/users/user/settings`: `{"success":true,"data":{"ui":{…},"memory":{…}}}`. As on
//!   a fresh account, `ui.largeTextAsFile` starts on: the page then turns a long pasted prompt
//!   into a file attachment and empties the chat box. `POST /api/v2/users/user/settings/update`
//!   with one key (`{"ui":{"largeTextAsFile":false}}`) changes it.
//! - `POST /api/v2/chats/new`: a new chat (`{"success":true,"data":{"id":"<uuid>"}}`).
//! - `POST /api/v2/chat/completions?chat_id=<id>`: the SSE stream (see [`wire`]). As strict as
//!   the site: refused with HTTP 400 unless the query's `chat_id` names a chat this server
//!   created and equals the body's, the anti-bot headers `bx-ua`, `bx-umidtoken` and `bx-v` are
//!   each present **exactly once**, and the user message's `fid` is sent for the first time (a
//!   replayed request is sent once, by the replay).
//! - `POST /api/v2/chats/{id}/stop`: marks the chat's latest request `stop_called` and ends its
//!   stream. **This path is the replica's choice, not a known endpoint of the real site**: the
//!   reference only says the driver clicks the `stop-button`. An unknown chat gets HTTP 404.
//! - `DELETE /api/v2/chats/{id}`: accepted, no effect.
//!
//! Faults: `replica:fault=rate_limit` answers HTTP 200 with the site's bare JSON refusal
//! (`{"success":false,…,"data":{"code":"RateLimited","details":…}}`), `blocked` one
//! `data_inspection_failed` error event, `empty` a body without events.

mod wire;

pub(crate) use wire::THOUGHT;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::{self, Access};
use crate::answer::Subject;
use crate::faults::{Fault, Plan};
use crate::ids;
use crate::log::{Outcome, ReceivedRequest};
use crate::server::AppState;
use crate::site::Site;
use crate::stream::{sse_body, sse_response};

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");
const AUTH_PAGE: &str = include_str!("auth.html");

/// The session cookie: signed in ⇔ a non-empty `token` the site issued.
const TOKEN_COOKIE: &str = "token";

/// The sign-in post.
const SIGN_IN_PATH: &str = "/api/v1/auths/signin";

/// The site's answer to a wrong email or password.
const WRONG_PASSWORD: &str =
    "The email or password provided is incorrect. Please check for typos and try again.";

const COMPLETION_PATH: &str = "/api/v2/chat/completions";

/// The anti-bot headers every completion request must carry, each exactly once.
const BX_HEADERS: [&str; 3] = ["bx-ua", "bx-umidtoken", "bx-v"];

/// The site's refusal for `replica:fault=rate_limit`.
const RATE_LIMITED: &str =
    "You have reached the limit of requests. Please wait a moment and try again.";

/// The routes of the Qwen replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/c/{id}", get(page))
        .route("/auth", get(|| async { Html(AUTH_PAGE) }))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v2/users/user/settings", get(settings))
        .route("/api/v2/users/user/settings/update", post(update_settings))
        .route("/api/v2/chats/new", post(new_chat))
        .route("/api/v2/chats/{id}", delete(delete_chat))
        .route("/api/v2/chats/{id}/stop", post(stop_chat))
        .route(COMPLETION_PATH, post(completion))
        .route(SIGN_IN_PATH, post(sign_in))
}

/// Whether the account's session ended ([`crate::ReplicaServer::set_signed_in`]).
fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// The request's session: signed out ([`crate::ReplicaServer::set_signed_in`]) is no session;
/// once an account is registered, only a `token` cookie this replica issued is one.
fn access(app: &AppState, headers: &HeaderMap) -> Access {
    if signed_out(app) {
        return Access::Denied;
    }
    accounts::access_by_cookie(&app.shared.accounts(), headers, TOKEN_COOKIE)
}

/// The sign-in form's post `{"email","password"}`: a right pair gets the `token` cookie.
async fn sign_in(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(form) = serde_json::from_slice::<accounts::SignInBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "success": false, "data": { "code": "Bad_Request", "details": "invalid JSON" } })),
        )
            .into_response();
    };
    let Some(token) = app.shared.accounts().sign_in(&form.email, &form.password) else {
        tracing::info!(email = %form.email.trim(), "qwen replica: sign-in refused");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "success": false, "data": { "code": "Bad_Request", "details": WRONG_PASSWORD } })),
        )
            .into_response();
    };
    let cookie =
        format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({
            "success": true,
            "request_id": ids::uuid(),
            "data": { "email": form.email.trim(), "token_type": "Bearer" },
        })),
    )
        .into_response()
}

/// The site's answer to an API call without a session.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "success": false, "data": { "code": "Unauthorized", "details": "Please sign in first." } })),
    )
        .into_response()
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if matches!(access(&app, &headers), Access::Denied) {
        return axum::response::Redirect::temporary("/auth").into_response();
    }
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Html(crate::hooks::page(PAGE, change.as_ref())).into_response()
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

/// What the Qwen replica remembers between requests.
pub(crate) struct SiteState {
    /// Every chat created.
    chats: HashSet<String>,
    /// Every user message `fid` a completion carried (each may be sent once).
    message_ids: HashSet<String>,
    /// The account settings (`ui`, `memory`), as the settings endpoint returns them.
    settings: Value,
}

impl Default for SiteState {
    fn default() -> Self {
        SiteState {
            chats: HashSet::new(),
            message_ids: HashSet::new(),
            settings: json!({
                "ui": { "largeTextAsFile": true, "splitLargeChunks": true },
                "memory": { "enable_memory": true, "enable_history_memory": true },
            }),
        }
    }
}

fn qwen_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared.qwen.lock().unwrap_or_else(|e| e.into_inner())
}

async fn settings(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if accounts_denied(&app, &headers) {
        return unauthorized();
    }
    let settings = qwen_state(&app).settings.clone();
    Json(json!({ "success": true, "data": settings })).into_response()
}

/// Whether accounts are registered and the request has no session of one (the settings
/// endpoints answer a signed-out page only then, as before accounts).
fn accounts_denied(app: &AppState, headers: &HeaderMap) -> bool {
    app.shared.accounts().required() && matches!(access(app, headers), Access::Denied)
}

async fn update_settings(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if accounts_denied(&app, &headers) {
        return unauthorized();
    }
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "success": false, "data": { "code": "Bad_Request", "details": "invalid JSON" } })),
        )
            .into_response();
    };
    let mut site = qwen_state(&app);
    for (group, fields) in update {
        let (Some(Value::Object(target)), Value::Object(fields)) =
            (site.settings.get_mut(&group), fields)
        else {
            continue;
        };
        for (key, value) in fields {
            target.insert(key, value);
        }
    }
    Json(json!({ "success": true, "data": site.settings.clone() })).into_response()
}

async fn new_chat(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if matches!(access(&app, &headers), Access::Denied) {
        return unauthorized();
    }
    let id = ids::uuid();
    qwen_state(&app).chats.insert(id.clone());
    Json(json!({ "success": true, "request_id": ids::uuid(), "data": { "id": id } }))
        .into_response()
}

async fn delete_chat(Path(_id): Path<String>) -> Json<Value> {
    Json(json!({ "success": true, "data": { "status": true } }))
}

async fn stop_chat(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !qwen_state(&state).chats.contains(&id) {
        tracing::warn!(chat = %id, "qwen replica: stop for a chat it never created");
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "success": false, "data": { "code": "Not_Found", "details": "chat not found" } })),
        )
            .into_response();
    }
    if !state.shared.log.stop_session(&id) {
        tracing::debug!(chat = %id, "qwen replica: stop for a chat with no request");
    }
    Json(json!({ "success": true, "data": { "status": true } })).into_response()
}

/// The fields of a completion request the replica reads.
#[derive(Deserialize)]
struct CompletionBody {
    model: Option<String>,
    chat_id: Option<String>,
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: String,
    fid: Option<String>,
    #[serde(default)]
    chat_type: String,
    #[serde(default)]
    feature_config: FeatureConfig,
}

#[derive(Deserialize, Default)]
struct FeatureConfig {
    #[serde(default)]
    thinking_enabled: bool,
}

/// Logs a completion request that was refused, and answers HTTP 400.
fn reject(state: &AppState, mut entry: ReceivedRequest, why: String) -> Response {
    tracing::warn!(reason = %why, "qwen replica: completion rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    state.shared.log.open(entry, None);
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "success": false, "data": { "code": "Bad_Request", "details": why } })),
    )
        .into_response()
}

/// Why the anti-bot headers do not pass, if they do not.
fn bx_problem(headers: &HeaderMap) -> Option<String> {
    BX_HEADERS
        .iter()
        .find_map(|name| match headers.get_all(*name).iter().count() {
            1 => None,
            0 => Some(format!("the anti-bot header {name} is missing")),
            n => Some(format!("the anti-bot header {name} came {n} times")),
        })
}

async fn completion(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match access(&state, &headers) {
        Access::Open => None,
        Access::Account(email) => Some(email),
        Access::Denied => {
            let mut entry =
                ReceivedRequest::arriving(COMPLETION_PATH, String::new(), String::new());
            entry.outcome = Outcome::Fault("rejected: signed out".into());
            entry.ended_us = Some(entry.started_us);
            state.shared.log.open(entry, None);
            return unauthorized();
        }
    };
    let req = match serde_json::from_slice::<CompletionBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), String::new());
            return reject(&state, entry, format!("invalid request body: {err}"));
        }
    };
    let model = req.model.unwrap_or_default();
    let Some(message) = req.messages.iter().rev().find(|m| m.role == "user") else {
        let entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), model);
        return reject(&state, entry, "no user message".into());
    };
    let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, message.content.clone(), model);
    entry.accept_encoding = crate::log::accept_encoding(&headers);
    entry.thinking = message.feature_config.thinking_enabled;
    entry.search = message.chat_type == "search";
    entry.account = account;
    if let Some(why) = bx_problem(&headers) {
        return reject(&state, entry, why);
    }
    let chat = query.get("chat_id").cloned();
    let refused = {
        let mut site = qwen_state(&state);
        match (&chat, &message.fid) {
            (None, _) => Some("chat_id is required in the query"),
            (Some(chat), _) if !site.chats.contains(chat) => {
                Some("chat_id names no chat of this account")
            }
            (Some(chat), _) if req.chat_id.as_ref() != Some(chat) => {
                Some("the body's chat_id differs from the query's")
            }
            (_, None) => Some("fid (the message id) is required"),
            (_, Some(fid)) if !site.message_ids.insert(fid.clone()) => {
                Some("fid (the message id) was already sent")
            }
            _ => None,
        }
    };
    if let Some(why) = refused {
        return reject(&state, entry, why.to_owned());
    }

    let mut plan = Plan::new(state.shared.knobs(), &entry.prompt);
    // A rate-limited account ([`crate::ReplicaServer::rate_limit_account`]) gets the site's
    // rate-limit refusal, as `replica:fault=rate_limit` does.
    if entry
        .account
        .as_ref()
        .is_some_and(|a| state.shared.accounts().is_limited(a))
    {
        plan.fault = Some(Fault::RateLimit);
    }
    if plan.fault == Some(Fault::RateLimit) {
        entry.outcome = Outcome::Fault(Fault::RateLimit.name().into());
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, chat);
        return Json(json!({
            "success": false,
            "request_id": ids::uuid(),
            "data": { "code": "RateLimited", "details": RATE_LIMITED, "num": 0 },
        }))
        .into_response();
    }
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    let chat = chat.unwrap_or_default();
    let script = wire::script(
        &Subject {
            site: Site::Qwen,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
        &chat,
        &ids::uuid(),
    );
    let (seq, stop) = state.shared.log.open(entry, Some(chat));
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}
