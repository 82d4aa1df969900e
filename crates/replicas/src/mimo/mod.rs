//! The Xiaomi MiMo replica (aistudio.xiaomimimo.com): the app page and the chat endpoints.
//!
//! Routes:
//! - `GET /`: the app page (`page.html`, script `app.js`; the app routes by hash, `#/c` and
//!   `#/chat/<id>`). It sets the signed-in cookies: `userId` and `xiaomichatbot_ph` (the
//!   account's pass token, which the page also puts into the completion URL). Signed out
//!   (`ReplicaServer::set_signed_in(false)`) it sets none and shows a "Log in" button, and
//!   every completion is refused with HTTP 401.
//! - `POST /open-apis/bot/chat?xiaomichatbot_ph=<token>`: the named-event SSE stream (see
//!   [`wire`]). Refused with HTTP 401 (`{"code":401,"msg":…}`) unless the `userId` cookie is
//!   present and the query's `xiaomichatbot_ph` is the cookie's, and with HTTP 400 unless the
//!   body has a `query`, a 32-hex `conversationId` and a `msgId` sent for the first time (a
//!   replayed request is sent once, by the replay). `replica:fault=rate_limit` answers HTTP 429
//!   `{"code":429,"msg":"Too many requests, please try again later"}`.
//! - `POST /open-apis/bot/chat/stop` with `{"conversationId":…}`: marks the conversation's
//!   latest request `stop_called` and ends its stream. **This path is the replica's choice,
//!   not a known endpoint of the real site**: the reference only says the driver clicks the
//!   site's Stop. A conversation with no request gets HTTP 404.
//!
//! - `GET /fe/service/login/password?sid=…&callback=…`: the Xiaomi Account password login
//!   (`login.html`; account.xiaomi.com on the site, served here so the app can redirect to it),
//!   posting to `POST /pass/serviceLoginAuth2` (a form: `user`, `password`, `callback`), which
//!   answers Xiaomi's `&&&START&&&`-prefixed JSON: code 0 with the callback's `location`
//!   (`…/sts?ticket=<session>`), or code 70016 "Incorrect account or password".
//! - `GET /sts?ticket=<session>`: the service's callback; sets `userId` and the pass token
//!   `xiaomichatbot_ph` of the session's account and opens the app.
//!
//! Once an account is registered ([`crate::ReplicaServer::add_account`]), the app page without
//! a session redirects to the login, and a completion needs the pass token of a session with
//! the same account's `userId` (HTTP 401 otherwise); it names its account
//! ([`crate::ReceivedRequest::account`]), and a rate-limited account gets HTTP 429.
//!
//! First-run modals, as the reference meets them: an announcement (close button), a cookie
//! banner ("Decline all") and a user agreement (a checkbox that enables Confirm). The chat box
//! takes no input until the agreement is confirmed.

mod wire;

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

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

const COMPLETION_PATH: &str = "/open-apis/bot/chat";

const NEW_CHAT_BUTTON: &str =
    r#"<button type="button" data-track-id="new_chat_btn">New chat</button>"#;
const LOG_IN_BUTTON: &str = r#"<button type="button" data-track-id="login_btn">Log in</button>"#;

/// Whether the account's session ended ([`crate::ReplicaServer::set_signed_in`]).
fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// The routes of the MiMo replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(COMPLETION_PATH, post(completion))
        .route("/open-apis/bot/chat/stop", post(stop_chat))
        .route(LOGIN_PATH, get(|| async { Html(LOGIN_PAGE) }))
        .route("/pass/serviceLoginAuth2", post(login))
        .route("/sts", get(sts))
}

/// The Xiaomi Account password login page (account.xiaomi.com on the site).
const LOGIN_PATH: &str = "/fe/service/login/password";
const LOGIN_PAGE: &str = include_str!("login.html");

/// The pass token cookie: the session, also put into the completion URL by the page.
const PASS_COOKIE: &str = "xiaomichatbot_ph";

/// Xiaomi's prefix before the JSON of a login answer.
const LOGIN_PREFIX: &str = "&&&START&&&";

/// The login's answer code and text for a wrong account or password.
const WRONG_PASSWORD: (u32, &str) = (70016, "Incorrect account or password");

/// The request's session, once an account is registered: a pass token the login issued in
/// `xiaomichatbot_ph`, and the `userId` cookie of the same account. Signed out
/// ([`crate::ReplicaServer::set_signed_in`]) is none; before accounts, [`Access::Open`] (the
/// completion then checks the replica's one account, as before).
fn access(app: &AppState, headers: &HeaderMap) -> Access {
    if signed_out(app) {
        return Access::Denied;
    }
    let access = accounts::access_by_cookie(&app.shared.accounts(), headers, PASS_COOKIE);
    match access {
        Access::Account(account)
            if cookie(headers, "userId").as_deref() != Some(user_id(app, &account).as_str()) =>
        {
            Access::Denied
        }
        other => other,
    }
}

/// The `userId` of a registered account (digits, made on first use).
fn user_id(app: &AppState, account: &str) -> String {
    mimo_state(app)
        .user_ids
        .entry(account.to_owned())
        .or_insert_with(|| {
            let digits: String = ids::hex(12)
                .bytes()
                .map(|b| char::from(b'0' + b % 10))
                .collect();
            format!("1{digits}")
        })
        .clone()
}

/// Percent-encodes a query value (everything but the unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where a signed-out visitor goes: the password login, with the service's callback.
fn login_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let callback = if host.is_empty() {
        "/sts".to_owned()
    } else {
        format!("http://{host}/sts")
    };
    format!(
        "{LOGIN_PATH}?_locale=en_US&sid=xiaomichatbot&callback={}",
        encode(&callback)
    )
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    callback: String,
}

/// The login form's post: a right pair answers code 0 with the callback's `location` (its
/// ticket is the new session); a wrong one code 70016. Both HTTP 200, as on the site.
async fn login(State(app): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let prefixed = |answer: serde_json::Value| format!("{LOGIN_PREFIX}{answer}").into_response();
    let Some(token) = app.shared.accounts().sign_in(&form.user, &form.password) else {
        tracing::info!(user = %form.user.trim(), "mimo replica: login refused");
        let (code, desc) = WRONG_PASSWORD;
        return prefixed(json!({ "code": code, "desc": desc }));
    };
    let callback = if form.callback.ends_with("/sts") {
        form.callback
    } else {
        "/sts".to_owned()
    };
    let user = user_id(&app, &form.user.trim().to_lowercase());
    prefixed(json!({
        "code": 0,
        "desc": "成功",
        "userId": user,
        "location": format!("{callback}?ticket={token}"),
    }))
}

#[derive(Deserialize)]
struct StsQuery {
    #[serde(default)]
    ticket: String,
}

/// The service's callback: a ticket the login issued sets the app's cookies (`userId` and the
/// pass token `xiaomichatbot_ph`, which the page reads) and opens the app; any other goes back
/// to the login.
async fn sts(
    State(app): State<AppState>,
    Query(query): Query<StsQuery>,
    headers: HeaderMap,
) -> Response {
    let account = app.shared.accounts().session(&query.ticket);
    let Some(account) = account else {
        return Redirect::to(&login_url(&headers)).into_response();
    };
    let user = user_id(&app, &account);
    let mut response = Redirect::to("/").into_response();
    for cookie in [
        format!("userId={user}; Path=/; SameSite=Lax; Max-Age=31536000"),
        format!(
            "{PASS_COOKIE}=\"{}\"; Path=/; SameSite=Lax; Max-Age=31536000",
            query.ticket
        ),
        format!(
            "serviceToken={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000",
            query.ticket
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// What the MiMo replica remembers between requests.
#[derive(Default)]
pub(crate) struct SiteState {
    /// The signed-in account's `userId` and pass token, made on the first page load.
    account: Option<(String, String)>,
    /// Every conversation a completion named.
    conversations: HashSet<String>,
    /// Every `msgId` a completion carried (each may be sent once).
    msg_ids: HashSet<String>,
    /// The `userId` of each registered account that signed in (by lowercased account).
    user_ids: HashMap<String, String>,
}

fn mimo_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared.mimo.lock().unwrap_or_else(|e| e.into_inner())
}

/// The account, made on first use.
fn account(app: &AppState) -> (String, String) {
    mimo_state(app)
        .account
        .get_or_insert_with(|| (ids::hex(10), ids::hex(32)))
        .clone()
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if app.shared.accounts().required() {
        return match access(&app, &headers) {
            // The site sends a signed-out visitor to the Xiaomi Account login.
            Access::Denied => Redirect::to(&login_url(&headers)).into_response(),
            _ => {
                let change = app
                    .shared
                    .hook_change
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                Html(crate::hooks::page(PAGE, change.as_ref())).into_response()
            }
        };
    }
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if signed_out(&app) {
        // The site's signed-out view: a "Log in" entry, no sign-in cookies.
        let page = crate::hooks::page(PAGE, change.as_ref()).replacen(
            NEW_CHAT_BUTTON,
            &format!("{NEW_CHAT_BUTTON}\n  {LOG_IN_BUTTON}"),
            1,
        );
        return Html(page).into_response();
    }
    let (user, ph) = account(&app);
    let mut response = Html(crate::hooks::page(PAGE, change.as_ref())).into_response();
    for cookie in [
        format!("userId={user}; Path=/; SameSite=Lax"),
        format!("xiaomichatbot_ph=\"{ph}\"; Path=/; SameSite=Lax"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
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

/// The value of cookie `name` in the request's `Cookie` headers, quotes removed.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::server::cookie(headers, name).map(|v| v.trim_matches('"').to_owned())
}

/// A MiMo error answer: `{"code":<status>,"msg":…}`.
fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({ "code": status.as_u16(), "msg": msg, "data": null })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct StopBody {
    #[serde(rename = "conversationId")]
    conversation_id: String,
}

async fn stop_chat(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(stop) = serde_json::from_slice::<StopBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "conversationId is required");
    };
    if !mimo_state(&state)
        .conversations
        .contains(&stop.conversation_id)
    {
        tracing::warn!(conversation = %stop.conversation_id, "mimo replica: stop for an unknown conversation");
        return error(StatusCode::NOT_FOUND, "conversation not found");
    }
    state.shared.log.stop_session(&stop.conversation_id);
    Json(json!({ "code": 0, "msg": "success", "data": true })).into_response()
}

/// The fields of a completion request the replica reads.
#[derive(Deserialize)]
struct CompletionBody {
    #[serde(rename = "msgId")]
    msg_id: Option<String>,
    #[serde(rename = "conversationId")]
    conversation_id: Option<String>,
    query: Option<String>,
    #[serde(rename = "modelConfig", default)]
    model_config: ModelConfig,
}

#[derive(Deserialize, Default)]
struct ModelConfig {
    model: Option<String>,
    /// `enabled` or `disabled`.
    #[serde(rename = "webSearchStatus")]
    web_search_status: Option<String>,
}

/// Logs a completion request that was refused, and answers with the site's error.
fn reject(state: &AppState, mut entry: ReceivedRequest, status: StatusCode, why: &str) -> Response {
    tracing::warn!(reason = %why, "mimo replica: completion rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    state.shared.log.open(entry, None);
    error(status, why)
}

fn is_hex32(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn completion(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arriving = |prompt: String, model: String| {
        let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, prompt, model);
        entry.accept_encoding = crate::log::accept_encoding(&headers);
        entry
    };
    let (signed_in, account) = match access(&state, &headers) {
        Access::Denied => (false, None),
        // A session of a registered account: the URL carries its pass token.
        Access::Account(account) => (
            query.get(PASS_COOKIE) == cookie(&headers, PASS_COOKIE).as_ref(),
            Some(account),
        ),
        Access::Open => {
            let (_, ph) = account(&state);
            let signed_in = cookie(&headers, "userId").is_some()
                && cookie(&headers, PASS_COOKIE).as_deref() == Some(ph.as_str())
                && query.get(PASS_COOKIE) == Some(&ph);
            (signed_in, None)
        }
    };
    if !signed_in {
        let entry = arriving(String::new(), String::new());
        return reject(
            &state,
            entry,
            StatusCode::UNAUTHORIZED,
            "Please log in first",
        );
    }
    let req = match serde_json::from_slice::<CompletionBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = arriving(String::new(), String::new());
            let why = format!("invalid request body: {err}");
            return reject(&state, entry, StatusCode::BAD_REQUEST, &why);
        }
    };
    let model = req.model_config.model.unwrap_or_default();
    let Some(prompt) = req.query.filter(|q| !q.trim().is_empty()) else {
        let entry = arriving(String::new(), model);
        return reject(&state, entry, StatusCode::BAD_REQUEST, "query is required");
    };
    let mut entry = arriving(prompt, model);
    entry.account = account;
    // The site has no thinking toggle: the model always thinks.
    entry.thinking = true;
    entry.search = req.model_config.web_search_status.as_deref() == Some("enabled");
    let refused = {
        let mut site = mimo_state(&state);
        match (&req.conversation_id, &req.msg_id) {
            (None, _) => Some("conversationId is required"),
            (Some(id), _) if !is_hex32(id) => Some("conversationId is malformed"),
            (_, None) => Some("msgId is required"),
            (_, Some(id)) if !site.msg_ids.insert(id.clone()) => Some("msgId was already sent"),
            (Some(id), _) => {
                site.conversations.insert(id.clone());
                None
            }
        }
    };
    if let Some(why) = refused {
        return reject(&state, entry, StatusCode::BAD_REQUEST, why);
    }

    let mut plan = Plan::new(state.shared.knobs(), &entry.prompt);
    // A rate-limited account ([`crate::ReplicaServer::rate_limit_account`]) gets the site's
    // HTTP 429, as `replica:fault=rate_limit` does.
    if entry
        .account
        .as_ref()
        .is_some_and(|a| state.shared.accounts().is_limited(a))
    {
        plan.fault = Some(Fault::RateLimit);
    }
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    if plan.fault == Some(Fault::RateLimit) {
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, req.conversation_id);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests, please try again later",
        );
    }
    let script = wire::script(
        &Subject {
            site: Site::Mimo,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
    );
    let (seq, stop) = state.shared.log.open(entry, req.conversation_id);
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}
