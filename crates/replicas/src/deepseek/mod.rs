//! The DeepSeek replica (chat.deepseek.com): the app page and the `/api/v0` endpoints.
//!
//! Routes:
//! - `GET /`, `GET /a/chat/s/{id}`: the app page (`page.html`, script `app.js`).
//! - `POST /api/v0/chat_session/create`: a new chat session id.
//! - `POST /api/v0/chat/create_pow_challenge` `{"target_path":…}`: a one-time PoW challenge
//!   (see [`pow`]).
//! - `POST /api/v0/chat/completion`: the patch stream (see [`wire`]). Refused with HTTP 400
//!   (`code` 40002) unless the `x-ds-pow-response` header answers, correctly, a challenge this
//!   server issued and nobody redeemed yet, and `chat_session_id` names a session it created.
//! - `POST /api/v0/chat/stop_stream` `{"chat_session_id","message_id"}`: needs the session and
//!   the reply's `message_id` (the `response_message_id` of the stream's opening `ready` event,
//!   which only a page that reads the stream knows); then marks the session's latest request
//!   `stop_called` and ends its stream. Anything less is refused with HTTP 400.
//! - `POST /api/v0/chat_session/delete`: accepted, no effect.
//! - `GET /sign_in`, `POST /api/v0/users/login` `{"email","password"}`: the sign-in form and its
//!   post (a right pair gets the `replica_account` session cookie). Once an account is
//!   registered ([`crate::ReplicaServer::add_account`]), the app page redirects to `/sign_in`
//!   and the completion answers HTTP 401 without a session of a registered account (see
//!   [`crate::accounts`]).
//! - `POST /api/v0/file/upload_file`: a file the page attached (the body is the file, its
//!   name in `x-file-name`, URI-encoded; the site sends multipart, which only the page sees).
//!   Answers its id; a completion names it in `ref_file_ids`, which must name files this
//!   replica received (each logged as [`crate::log::ReceivedFile`]). A completion with an
//!   empty prompt needs a file.
//!
//! The page (`page.html`, `app.js`) has the site's hooks of today: the send control is
//! `div[role=button].ds-button.ds-button--circle._52c986b` (with the site's other `ds-button--*`
//! classes), disabled by the class `ds-button--disabled` alone; while an answer streams, the same
//! control shows a stop icon and stops it.

mod pow;
mod wire;

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::accounts;
use crate::answer::Subject;
use crate::faults::{Fault, Plan};
use crate::ids;
use crate::log::{Outcome, ReceivedRequest};
use crate::server::AppState;
use crate::site::Site;
use crate::stream::{sse_body, sse_response};

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

/// The completion endpoint; also the PoW `target_path`.
const COMPLETION_PATH: &str = "/api/v0/chat/completion";

/// The routes of the DeepSeek replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/a/chat/s/{id}", get(page))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v0/chat_session/create", post(create_session))
        .route("/api/v0/chat_session/delete", post(delete_session))
        .route(
            "/api/v0/chat/create_pow_challenge",
            post(create_pow_challenge),
        )
        .route(COMPLETION_PATH, post(completion))
        .route("/api/v0/chat/stop_stream", post(stop_stream))
        .route("/api/v0/file/upload_file", post(upload_file))
        .route("/sign_in", get(sign_in_page))
        .route("/api/v0/users/login", post(login))
}

const SIGN_IN_PAGE: &str = include_str!("sign_in.html");

async fn sign_in_page(State(app): State<AppState>) -> Html<&'static str> {
    app.shared.accounts().viewed_sign_in();
    Html(SIGN_IN_PAGE)
}

/// The site's gate, first thing in the page's head once accounts are registered: the app keeps
/// its API token in local storage (`userToken`, `{"value": …}`), and without one it goes to the
/// sign-in page before the rest of the page is even parsed.
const TOKEN_GATE: &str = "<script>(() => { let t = null; try { t = JSON.parse(localStorage.getItem('userToken') || 'null'); } catch (e) {} if (!t || !t.value) { window.stop(); location.replace('/sign_in'); } })();</script>";

/// The sign-in form's post: a right pair gets a session cookie.
async fn login(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(form) = serde_json::from_slice::<accounts::SignInBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, 40001, "invalid request body");
    };
    match app.shared.accounts().sign_in(&form.email, &form.password) {
        Some(token) => (
            [(header::SET_COOKIE, accounts::session_cookie(&token))],
            ok(serde_json::json!({"user": {"email": form.email.trim(), "token": token}})),
        )
            .into_response(),
        None => error(
            StatusCode::UNAUTHORIZED,
            40003,
            "Incorrect email or password",
        ),
    }
}

async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if matches!(
        accounts::access(&app.shared.accounts(), &headers),
        accounts::Access::Denied
    ) {
        return axum::response::Redirect::to("/sign_in").into_response();
    }
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let page = crate::hooks::page(PAGE, change.as_ref());
    if app.shared.accounts().required() {
        return Html(page.replacen("<head>", &format!("<head>{TOKEN_GATE}"), 1)).into_response();
    }
    Html(page).into_response()
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

/// The envelope of every `/api/v0` JSON answer, fields in the site's order.
#[derive(Serialize)]
struct Envelope<T> {
    code: u32,
    msg: String,
    data: T,
}

/// The `data` of a successful answer.
#[derive(Serialize)]
struct Biz {
    biz_code: u32,
    biz_msg: &'static str,
    biz_data: Value,
}

/// `{"code":0,"msg":"","data":{"biz_code":0,"biz_msg":"","biz_data":…}}`.
fn ok(biz_data: Value) -> Json<Envelope<Biz>> {
    Json(Envelope {
        code: 0,
        msg: String::new(),
        data: Biz {
            biz_code: 0,
            biz_msg: "",
            biz_data,
        },
    })
}

/// The error answer: HTTP `status`, `{"code":code,"msg":msg,"data":null}`.
fn error(status: StatusCode, code: u32, msg: &str) -> Response {
    let body = Envelope {
        code,
        msg: msg.to_owned(),
        data: None::<()>,
    };
    (status, Json(body)).into_response()
}

async fn create_session(State(app): State<AppState>) -> Json<Envelope<Biz>> {
    let id = ids::uuid();
    deepseek_state(&app).sessions.insert(id.clone(), None);
    ok(json!({ "id": id, "seq_id": 1, "title": null }))
}

async fn delete_session() -> Json<Envelope<Biz>> {
    ok(Value::Null)
}

#[derive(Deserialize)]
struct PowRequest {
    target_path: String,
}

async fn create_pow_challenge(State(app): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<PowRequest>(&body) {
        Ok(req) if req.target_path == COMPLETION_PATH => {
            let challenge = deepseek_state(&app).challenges.issue(&req.target_path);
            ok(json!({ "challenge": challenge })).into_response()
        }
        Ok(req) => error(
            StatusCode::BAD_REQUEST,
            40000,
            &format!("no PoW for {}", req.target_path),
        ),
        Err(err) => error(
            StatusCode::BAD_REQUEST,
            40000,
            &format!("invalid body: {err}"),
        ),
    }
}

/// The fields of a completion request the replica reads.
#[derive(Deserialize)]
struct CompletionBody {
    chat_session_id: Option<String>,
    parent_message_id: Option<u64>,
    model_type: Option<String>,
    prompt: String,
    #[serde(default)]
    thinking_enabled: bool,
    #[serde(default)]
    search_enabled: bool,
    #[serde(default)]
    ref_file_ids: Vec<String>,
}

/// What the DeepSeek replica remembers between requests.
#[derive(Default)]
pub(crate) struct SiteState {
    /// PoW challenges issued and redeemed.
    challenges: pow::Challenges,
    /// Every session created, with the reply message id of its latest completion.
    sessions: HashMap<String, Option<u64>>,
    /// Files uploaded, by id.
    files: HashMap<String, crate::log::ReceivedFile>,
}

async fn upload_file(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
    else {
        return error(StatusCode::BAD_REQUEST, 40000, "the upload names no file");
    };
    let id = format!("file-{}", ids::uuid());
    let file = crate::log::ReceivedFile {
        name: name.clone(),
        content: String::from_utf8_lossy(&body).into_owned(),
    };
    deepseek_state(&app).files.insert(id.clone(), file);
    ok(json!({ "id": id, "file_name": name, "status": "SUCCESS", "file_size": body.len() }))
        .into_response()
}

/// `encodeURIComponent`'s inverse (UTF-8 percent escapes).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn deepseek_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared
        .deepseek
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Logs a completion request that was refused, and answers HTTP 400.
fn reject(
    state: &AppState,
    mut entry: ReceivedRequest,
    session: Option<String>,
    why: String,
) -> Response {
    tracing::warn!(reason = %why, "deepseek replica: completion rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    state.shared.log.open(entry, session);
    error(StatusCode::BAD_REQUEST, 40002, &why)
}

async fn completion(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match serde_json::from_slice::<CompletionBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), String::new());
            return reject(&state, entry, None, format!("invalid request body: {err}"));
        }
    };
    let model = req.model_type.unwrap_or_else(|| "default".into());
    let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, req.prompt, model);
    entry.accept_encoding = crate::log::accept_encoding(&headers);
    entry.thinking = req.thinking_enabled;
    entry.search = req.search_enabled;
    let session = req.chat_session_id;
    let access = {
        let accounts = state.shared.accounts();
        match accounts::access(&accounts, &headers) {
            // The API token must be the same account's (the cookie alone does not do).
            accounts::Access::Account(email)
                if accounts.of_bearer(&headers).as_deref() != Some(email.as_str()) =>
            {
                accounts::Access::Denied
            }
            other => other,
        }
    };
    match access {
        accounts::Access::Open => {}
        accounts::Access::Account(email) => entry.account = Some(email),
        accounts::Access::Denied => {
            entry.outcome = Outcome::Fault("rejected: signed out".into());
            entry.ended_us = Some(entry.started_us);
            state.shared.log.open(entry, session);
            return error(StatusCode::UNAUTHORIZED, 40003, "Authorization Failed");
        }
    }
    let files: Option<Vec<_>> = {
        let state = deepseek_state(&state);
        req.ref_file_ids
            .iter()
            .map(|id| state.files.get(id).cloned())
            .collect()
    };
    let Some(files) = files else {
        let why = "ref_file_ids names a file this account did not upload".to_owned();
        return reject(&state, entry, session, why);
    };
    if entry.prompt.trim().is_empty() && files.is_empty() {
        let why = "the prompt is empty and no file is attached".to_owned();
        return reject(&state, entry, session, why);
    }
    entry.files = files;
    let redeemed = deepseek_state(&state).challenges.redeem(
        headers.get(pow::HEADER).map(|v| v.as_bytes()),
        COMPLETION_PATH,
    );
    if let Err(why) = redeemed {
        return reject(&state, entry, session, why);
    }
    let ids = wire::MessageIds::after(req.parent_message_id);
    let known = session.as_ref().and_then(|id| {
        deepseek_state(&state)
            .sessions
            .get_mut(id)
            .map(|latest| *latest = Some(ids.response))
    });
    if known.is_none() {
        let why = "chat_session_id names no session of this account".to_owned();
        return reject(&state, entry, session, why);
    }

    let plan = Plan::new(state.shared.knobs(), &entry.prompt);
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    let limited = entry
        .account
        .as_ref()
        .is_some_and(|a| state.shared.accounts().is_limited(a));
    if limited {
        entry.outcome = Outcome::Fault(Fault::RateLimit.name().into());
    }
    if plan.fault == Some(Fault::RateLimit) || limited {
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, session);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            40029,
            "Too many requests, please slow down.",
        );
    }

    let script = wire::script(
        &Subject {
            site: Site::DeepSeek,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        ids,
        &plan,
    );
    let (seq, stop) = state.shared.log.open(entry, session);
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}

/// The stop request: the session and the reply's message id from the stream's `ready` event.
#[derive(Deserialize)]
struct StopBody {
    chat_session_id: String,
    message_id: Option<u64>,
}

async fn stop_stream(State(app): State<AppState>, body: Bytes) -> Response {
    let stop = match serde_json::from_slice::<StopBody>(&body) {
        Ok(stop) => stop,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                40000,
                &format!("invalid body: {err}"),
            );
        }
    };
    let latest = deepseek_state(&app)
        .sessions
        .get(&stop.chat_session_id)
        .copied();
    let why = match (latest, stop.message_id) {
        (None, _) => "chat_session_id names no session of this account",
        (Some(_), None) => "message_id is required",
        (Some(latest), Some(id)) if latest != Some(id) => {
            "message_id is not the latest reply of the session"
        }
        _ => {
            if !app.shared.log.stop_session(&stop.chat_session_id) {
                tracing::debug!(session = %stop.chat_session_id, "deepseek replica: stop for a request not in the log");
            }
            return ok(Value::Null).into_response();
        }
    };
    tracing::warn!(reason = why, "deepseek replica: stop_stream refused");
    error(StatusCode::BAD_REQUEST, 40000, why)
}
