//! The Moonshot / Kimi replica (www.kimi.ai): the app page and the Connect endpoints.
//!
//! Routes:
//! - `GET /` (also `/?chat_enter_method=new_chat`), `GET /chat/{id}`: the app page (`page.html`,
//!   script `app.js`). Signed in, a page load sets the cookie `kimi-auth` (the account's access
//!   token), which the page sends as `authorization: Bearer <token>`; signed out
//!   ([`crate::ReplicaServer::set_signed_in`]) it sets none, the user name reads "Log In" and the
//!   login modal (`div.login-modal-content`, `div.google-login-btn`) shows. Once an account is
//!   registered ([`crate::ReplicaServer::add_account`]), a page load without that account's
//!   session cookie reads "Log In"; a click on `div.user-info` opens the login modal, and its
//!   Google button opens Google's OAuth sign-in in a popup (`window.open`, see
//!   [`crate::google_signin`]). It returns to `GET /api/auth/google/callback?code=…&state=…`,
//!   which gives the account a session (`replica_account`, and the token as `kimi-auth`) and
//!   hands the token to the opener (`postMessage`), which stores it as `localStorage
//!   access_token` and reloads signed in, the user name showing the account's email.
//! - `POST /apiv2/kimi.gateway.chat.v1.ChatService/Chat`: the completion, a Connect streaming
//!   call with the JSON codec (`content-type: application/connect+json`). The request body is
//!   one envelope (`[flags 0][4-byte big-endian length][JSON]`) with `chat_id` (empty for a new
//!   chat, else a chat of this account), `model` (`k3`, `k3-swarm`, `k2.8`, `instant`),
//!   `thinking_effort` (`standard`, `high`, `max`; Instant has no Max), `use_search` and
//!   `message.blocks[0].text.content` (the prompt); the answer streams as envelopes (see
//!   [`wire`]). Strict as the site: HTTP 401 (Connect error `unauthenticated`) unless the bearer
//!   token is the account's (with accounts registered: a session of one of them, which the
//!   log names in [`crate::ReceivedRequest::account`]); HTTP 400 unless the body is exactly one well-framed envelope, the
//!   headers `x-msh-device-id` and `x-traffic-id` come once each, and the model and effort are
//!   ones the picker offers.
//! - `POST /apiv2/kimi.usersetting.v1.UserSettingService/GetUserSetting` and
//!   `…/UpdateUserSetting` (Connect unary JSON, bearer token required): the account settings,
//!   `{"userSetting":{"memory":{"useSemanticMemory":…,"useEpisodicMemory":…}}}`. Memory starts
//!   **on**, as on a fresh account, so the driver's memory guardrail has work to do. An update
//!   `{"user_setting":{"memory":{…}},"update_mask":"memory.useSemanticMemory,…"}` sets each
//!   masked path to the body's value (missing: false).
//! - `POST /apiv2/kimi.chat.v1.ChatService/StopChat` with `{"chat_id":…}` (bearer token
//!   required): marks the chat's latest request `stop_called` and ends its stream. **This path
//!   is the replica's choice, not a known endpoint of the real site**: the reference only says
//!   the driver clicks the Stop control. An unknown chat gets HTTP 404.
//!
//! The page shows the first-run notice (`div.content.common-notice-dialog`, dismissed by
//! `button.kimi-button.plain`) until it is dismissed; the chat box takes no input until then.

mod wire;

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::answer::Subject;
use crate::faults::Plan;
use crate::ids;
use crate::log::{Outcome, ReceivedRequest};
use crate::server::AppState;
use crate::site::Site;
use crate::stream::sse_body;

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

const COMPLETION_PATH: &str = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat";
const GET_SETTING_PATH: &str = "/apiv2/kimi.usersetting.v1.UserSettingService/GetUserSetting";
const UPDATE_SETTING_PATH: &str = "/apiv2/kimi.usersetting.v1.UserSettingService/UpdateUserSetting";
const STOP_PATH: &str = "/apiv2/kimi.chat.v1.ChatService/StopChat";
/// Where Google's OAuth sign-in returns to (the popup's last page).
const GOOGLE_CALLBACK_PATH: &str = "/api/auth/google/callback";

/// The headers the page sends once each with every completion.
const CLIENT_HEADERS: [&str; 2] = ["x-msh-device-id", "x-traffic-id"];

/// The picker's models (request value, efforts offered).
const MODELS: [(&str, &[&str]); 4] = [
    ("k3", &["standard", "high", "max"]),
    ("k3-swarm", &["standard", "high", "max"]),
    ("k2.8", &["standard", "high", "max"]),
    ("instant", &["standard", "high"]),
];

const LOGGED_IN_USER: &str = r#"<span class="user-name">Replica User</span>"#;
const LOGGED_OUT_USER: &str = r#"<span class="user-name">Log In</span>"#;
const LOGIN_MODAL: &str = r#"<div class="login-modal"><div class="login-modal-content"><p>Log in to Kimi</p><div class="google-login-btn">Continue with Google</div></div></div>"#;

/// The routes of the Kimi replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/chat/{id}", get(page))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(COMPLETION_PATH, post(completion))
        .route(GET_SETTING_PATH, post(get_setting))
        .route(UPDATE_SETTING_PATH, post(update_setting))
        .route(STOP_PATH, post(stop_chat))
        .route(GOOGLE_CALLBACK_PATH, get(google_callback))
        .merge(crate::google_signin::routes())
}

/// What the Kimi replica remembers between requests.
pub(crate) struct SiteState {
    /// The account's access token, made on first use.
    token: Option<String>,
    /// Every chat created.
    chats: HashSet<String>,
    /// `memory.useSemanticMemory`, `memory.useEpisodicMemory`.
    memory: HashMap<&'static str, bool>,
    /// How many updates of the settings came (the guardrail's record).
    pub(crate) setting_updates: usize,
}

impl Default for SiteState {
    fn default() -> Self {
        SiteState {
            token: None,
            chats: HashSet::new(),
            memory: HashMap::from([("useSemanticMemory", true), ("useEpisodicMemory", true)]),
            setting_updates: 0,
        }
    }
}

fn kimi_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared
        .moonshot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

fn token(app: &AppState) -> String {
    kimi_state(app)
        .token
        .get_or_insert_with(|| ids::hex(40))
        .clone()
}

/// The request's access by its bearer token: `None` signed out; `Some(None)` the built-in
/// account's token (no accounts registered); `Some(Some(email))` a session of that registered
/// account.
fn access(app: &AppState, headers: &HeaderMap) -> Option<Option<String>> {
    if signed_out(app) {
        return None;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let accounts = app.shared.accounts();
    if accounts.required() {
        return accounts.of_token(bearer).map(Some);
    }
    drop(accounts);
    (bearer == token(app)).then_some(None)
}

/// Whether the request carries a valid bearer token.
fn authorized(app: &AppState, headers: &HeaderMap) -> bool {
    access(app, headers).is_some()
}

/// The `kimi-auth` cookie (the page's access token, which it copies to local storage).
fn auth_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("kimi-auth={token}; Path=/; SameSite=Lax")).ok()
}

/// Google's OAuth sign-in returns here (in the popup) with a one-time code: the account gets a
/// session (the `replica_account` cookie, and its token as the `kimi-auth` access token); the
/// page hands the token to the opener, which stores it and reloads signed in, and closes.
async fn google_callback(
    State(app): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(email) = q
        .get("code")
        .and_then(|code| crate::google_signin::redeem(&app, code))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Html("<!DOCTYPE html><html lang=\"en\"><body>The sign-in link expired.</body></html>"),
        )
            .into_response();
    };
    let token = app.shared.accounts().open_session(&email);
    let state = q.get("state").cloned().unwrap_or_default();
    let message = json!({ "type": "kimi-login", "token": token, "state": state });
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kimi</title></head>\
         <body>Signed in. This window closes by itself.<script>\
         if (window.opener) {{ window.opener.postMessage({message}, location.origin); window.close(); }}\
         else {{ location.replace('/'); }}</script></body></html>"
    );
    let mut response = Html(html).into_response();
    if let Ok(value) = HeaderValue::from_str(&crate::accounts::session_cookie(&token)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    if let Some(value) = auth_cookie(&token) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A Connect error answer.
fn connect_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn unauthenticated() -> Response {
    connect_error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Please log in to continue.",
    )
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let page = crate::hooks::page(PAGE, change.as_ref());
    let access = crate::accounts::access(&app.shared.accounts(), &headers);
    match access {
        crate::accounts::Access::Open => {}
        crate::accounts::Access::Denied => {
            // "Log In" as the user name; the login modal opens on a click on it.
            let page = page.replacen(LOGGED_IN_USER, LOGGED_OUT_USER, 1).replacen(
                "<!--login-modal-->",
                &LOGIN_MODAL.replacen(
                    r#"class="login-modal""#,
                    r#"class="login-modal" style="display: none""#,
                    1,
                ),
                1,
            );
            return Html(page).into_response();
        }
        crate::accounts::Access::Account(email) => {
            let token = crate::server::cookie(&headers, crate::accounts::ACCOUNT_COOKIE)
                .unwrap_or_default();
            let name = format!(
                r#"<span class="user-name">{}</span>"#,
                email.replace('&', "&amp;").replace('<', "&lt;")
            );
            let mut response = Html(page.replacen(LOGGED_IN_USER, &name, 1)).into_response();
            if let Some(value) = auth_cookie(&token) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            return response;
        }
    }
    if signed_out(&app) {
        let page = page.replacen(LOGGED_IN_USER, LOGGED_OUT_USER, 1).replacen(
            "<!--login-modal-->",
            LOGIN_MODAL,
            1,
        );
        return Html(page).into_response();
    }
    let mut response = Html(page).into_response();
    if let Some(value) = auth_cookie(&token(&app)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
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

fn settings_json(site: &SiteState) -> Value {
    json!({ "userSetting": { "memory": {
        "useSemanticMemory": site.memory.get("useSemanticMemory").copied().unwrap_or(false),
        "useEpisodicMemory": site.memory.get("useEpisodicMemory").copied().unwrap_or(false),
    } } })
}

async fn get_setting(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthenticated();
    }
    Json(settings_json(&kimi_state(&app))).into_response()
}

#[derive(Deserialize)]
struct SettingUpdate {
    #[serde(default)]
    user_setting: Value,
    update_mask: String,
}

async fn update_setting(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &headers) {
        return unauthenticated();
    }
    let Ok(update) = serde_json::from_slice::<SettingUpdate>(&body) else {
        return connect_error(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "user_setting and update_mask are required",
        );
    };
    let mut site = kimi_state(&app);
    for path in update.update_mask.split(',').map(str::trim) {
        let key = match path {
            "memory.useSemanticMemory" => "useSemanticMemory",
            "memory.useEpisodicMemory" => "useEpisodicMemory",
            other => {
                return connect_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_argument",
                    &format!("unknown update_mask path {other}"),
                );
            }
        };
        let value = update.user_setting["memory"][key]
            .as_bool()
            .unwrap_or(false);
        site.memory.insert(key, value);
    }
    site.setting_updates += 1;
    Json(settings_json(&site)).into_response()
}

#[derive(Deserialize)]
struct StopBody {
    chat_id: String,
}

async fn stop_chat(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &headers) {
        return unauthenticated();
    }
    let Ok(stop) = serde_json::from_slice::<StopBody>(&body) else {
        return connect_error(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "chat_id is required",
        );
    };
    if !kimi_state(&app).chats.contains(&stop.chat_id) {
        tracing::warn!(chat = %stop.chat_id, "kimi replica: stop for an unknown chat");
        return connect_error(StatusCode::NOT_FOUND, "not_found", "chat not found");
    }
    app.shared.log.stop_session(&stop.chat_id);
    Json(json!({})).into_response()
}

/// The fields of a completion request the replica reads.
#[derive(Deserialize)]
struct ChatBody {
    #[serde(default)]
    chat_id: String,
    model: Option<String>,
    thinking_effort: Option<String>,
    #[serde(default)]
    use_search: bool,
    message: Option<ChatMessage>,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    blocks: Vec<Value>,
}

/// The one envelope of a request body, if the body is exactly that.
fn unframe(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err("the body is not a Connect envelope".into());
    }
    if body[0] != 0 {
        return Err(format!("unexpected envelope flags {:#04x}", body[0]));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() != 5 + len {
        return Err(format!(
            "the envelope says {len} bytes, the body holds {}",
            body.len() - 5
        ));
    }
    Ok(&body[5..])
}

/// Logs a completion request that was refused, and answers with a Connect error.
fn reject(app: &AppState, mut entry: ReceivedRequest, why: &str) -> Response {
    tracing::warn!(reason = %why, "kimi replica: completion rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    app.shared.log.open(entry, None);
    connect_error(StatusCode::BAD_REQUEST, "invalid_argument", why)
}

async fn completion(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let arriving = |prompt: String, model: String| {
        let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, prompt, model);
        entry.accept_encoding = crate::log::accept_encoding(&headers);
        entry
    };
    let Some(account) = access(&app, &headers) else {
        let mut entry = arriving(String::new(), String::new());
        entry.outcome = Outcome::Fault("rejected: signed out".into());
        entry.ended_us = Some(entry.started_us);
        app.shared.log.open(entry, None);
        return unauthenticated();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/connect+json" {
        let why = format!("content-type must be application/connect+json, not {content_type:?}");
        return reject(&app, arriving(String::new(), String::new()), &why);
    }
    let req = match unframe(&body)
        .and_then(|json| serde_json::from_slice::<ChatBody>(json).map_err(|e| e.to_string()))
    {
        Ok(req) => req,
        Err(why) => {
            let why = format!("invalid request body: {why}");
            return reject(&app, arriving(String::new(), String::new()), &why);
        }
    };
    let prompt = req
        .message
        .as_ref()
        .and_then(|m| m.blocks.first())
        .and_then(|b| b["text"]["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let model = req.model.clone().unwrap_or_default();
    let effort = req.thinking_effort.clone().unwrap_or_default();
    let mut entry = arriving(prompt, model.clone());
    entry.account = account;
    entry.effort = Some(effort.clone());
    entry.thinking = effort != "standard";
    entry.search = req.use_search;
    if entry.prompt.trim().is_empty() {
        return reject(&app, entry, "the message has no text");
    }
    if let Some(name) = CLIENT_HEADERS
        .iter()
        .find(|name| headers.get_all(**name).iter().count() != 1)
    {
        let why = format!("the header {name} must come exactly once");
        return reject(&app, entry, &why);
    }
    let Some((_, efforts)) = MODELS.iter().find(|(m, _)| *m == model) else {
        let why = format!("unknown model {model:?}");
        return reject(&app, entry, &why);
    };
    if !efforts.contains(&effort.as_str()) {
        let why = format!("model {model} has no thinking effort {effort:?}");
        return reject(&app, entry, &why);
    }
    let chat = {
        let mut site = kimi_state(&app);
        if req.chat_id.is_empty() {
            let id = ids::hex(20);
            site.chats.insert(id.clone());
            id
        } else if site.chats.contains(&req.chat_id) {
            req.chat_id.clone()
        } else {
            drop(site);
            return reject(&app, entry, "chat_id names no chat of this account");
        }
    };

    let plan = Plan::new(app.shared.knobs(), &entry.prompt);
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    let script = wire::script(
        &Subject {
            site: Site::Moonshot,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
        &chat,
        &ids::hex(20),
    );
    let (seq, stop) = app.shared.log.open(entry, Some(chat));
    let log = app.shared.log.clone();
    let mut response = Response::new(sse_body(
        log,
        seq,
        script,
        &plan,
        app.shared.interrupts(stop),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/connect+json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Pieces of this module that the crate's tests use.
#[cfg(test)]
pub(crate) use wire::{AT_CAPACITY, SEARCH_RESULTS, envelope};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_body_must_be_one_whole_envelope() {
        let good = envelope(0, "{}");
        assert_eq!(unframe(&good).unwrap(), b"{}");
        assert!(unframe(&good[..6]).is_err());
        let mut two = good.clone();
        two.extend(envelope(0, "{}"));
        assert!(unframe(&two).is_err());
        assert!(unframe(&envelope(2, "{}")).is_err());
        assert!(!AT_CAPACITY.is_empty() && SEARCH_RESULTS.contains("https://"));
    }
}
