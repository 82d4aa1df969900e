//! The GLM Chat replica (chat.z.ai): the app page and the chat endpoints.
//!
//! Routes:
//! - `GET /`, `GET /c/{id}`: the app page (`page.html`, script `app.js`).
//! - `POST /api/v1/chats/new`: a new chat (`{"id":"<uuid>",…}`).
//! - `POST /api/v2/chat/completions`: the `chat:completion` SSE stream (see [`wire`]). Refused
//!   with HTTP 400 unless `chat_id` names a chat this server created and the message `id` is
//!   present and sent for the first time (a replayed request is sent once, by the replay).
//! - `POST /api/v1/chats/{id}/stop`: marks the chat's latest request `stop_called` and ends its
//!   stream. **This path is the replica's choice, not a known endpoint of the real site**: the
//!   reference only says the driver clicks `div[aria-label='Stop']`. A chat it never created
//!   gets HTTP 404.
//! - `DELETE /api/v1/chats/{id}`: accepted, no effect.
//! - `GET /auth`, `POST /api/v1/auths/signin` `{"email","password"}`: the sign-in page and its
//!   post (a right pair gets the `replica_account` session cookie). Once an account is
//!   registered ([`crate::ReplicaServer::add_account`]), the app page without a session shows
//!   a "Sign in" button (no redirect, as on the site) and the completion answers HTTP 401 (see
//!   [`crate::accounts`]).

mod wire;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use std::collections::HashSet;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts;
use crate::answer::Subject;
use crate::faults::Plan;
use crate::ids;
use crate::log::{Outcome, ReceivedRequest};
use crate::server::AppState;
use crate::site::Site;
use crate::stream::{sse_body, sse_response};

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

const COMPLETION_PATH: &str = "/api/v2/chat/completions";

/// The routes of the GLM replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/c/{id}", get(page))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/v1/chats/new", post(new_chat))
        .route("/api/v1/chats/{id}", delete(delete_chat))
        .route("/api/v1/chats/{id}/stop", post(stop_chat))
        .route(COMPLETION_PATH, post(completion))
        .route("/auth", get(|| async { Html(AUTH_PAGE) }))
        .route("/api/v1/auths/signin", post(sign_in))
}

const AUTH_PAGE: &str = include_str!("auth.html");
const SIGNED_OUT_PAGE: &str = include_str!("signed_out.html");

/// The sign-in page's post: a right pair gets a session cookie.
async fn sign_in(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(form) = serde_json::from_slice::<accounts::SignInBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "invalid body"})),
        )
            .into_response();
    };
    match app.shared.accounts().sign_in(&form.email, &form.password) {
        Some(token) => (
            [(header::SET_COOKIE, accounts::session_cookie(&token))],
            Json(json!({"email": form.email.trim(), "token_type": "Bearer"})),
        )
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "Incorrect email or password"})),
        )
            .into_response(),
    }
}

async fn page(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Html<String> {
    if matches!(
        accounts::access(&app.shared.accounts(), &headers),
        accounts::Access::Denied
    ) {
        return Html(SIGNED_OUT_PAGE.to_owned());
    }
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Html(crate::hooks::page(PAGE, change.as_ref()))
}

/// What the GLM replica remembers between requests.
#[derive(Default)]
pub(crate) struct SiteState {
    /// Every chat created.
    chats: HashSet<String>,
    /// Every message id a completion carried (each may be sent once).
    message_ids: HashSet<String>,
}

fn glm_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared.glm.lock().unwrap_or_else(|e| e.into_inner())
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

async fn new_chat(State(app): State<AppState>) -> Json<Value> {
    let now = ids::now_us() / 1_000_000;
    let id = ids::uuid();
    glm_state(&app).chats.insert(id.clone());
    Json(json!({
        "id": id,
        "title": "New Chat",
        "chat": { "history": { "messages": {}, "currentId": null } },
        "share_id": null,
        "archived": false,
        "pinned": false,
        "created_at": now,
        "updated_at": now,
    }))
}

async fn delete_chat(Path(_id): Path<String>) -> Json<bool> {
    Json(true)
}

async fn stop_chat(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !glm_state(&state).chats.contains(&id) {
        tracing::warn!(chat = %id, "glm replica: stop for a chat it never created");
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": "chat not found" })),
        )
            .into_response();
    }
    if !state.shared.log.stop_session(&id) {
        tracing::debug!(chat = %id, "glm replica: stop for a chat with no request");
    }
    Json(json!({ "status": true })).into_response()
}

/// The fields of a completion request the replica reads.
#[derive(Deserialize)]
struct CompletionBody {
    model: Option<String>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    features: Features,
    chat_id: Option<String>,
    /// The message id the page gives every send.
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize, Default)]
struct Features {
    #[serde(default)]
    enable_thinking: bool,
    #[serde(default)]
    web_search: bool,
    thinking_effort: Option<String>,
}

/// The text of the last user message: a string, or the `text` parts of a part list.
fn last_user_text(messages: &[Message]) -> Option<String> {
    let message = messages.iter().rev().find(|m| m.role == "user")?;
    match &message.content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

/// Logs a completion request that was refused, and answers HTTP 400.
fn reject(state: &AppState, mut entry: ReceivedRequest, why: String) -> Response {
    tracing::warn!(reason = %why, "glm replica: completion rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    state.shared.log.open(entry, None);
    (StatusCode::BAD_REQUEST, Json(json!({ "detail": why }))).into_response()
}

async fn completion(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let req = match serde_json::from_slice::<CompletionBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), String::new());
            return reject(&state, entry, format!("invalid request body: {err}"));
        }
    };
    let model = req.model.unwrap_or_default();
    let Some(prompt) = last_user_text(&req.messages) else {
        let entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), model);
        return reject(&state, entry, "no user message".into());
    };
    let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, prompt, model);
    entry.accept_encoding = crate::log::accept_encoding(&headers);
    entry.thinking = req.features.enable_thinking;
    entry.search = req.features.web_search;
    entry.effort = req.features.thinking_effort;
    match accounts::access(&state.shared.accounts(), &headers) {
        accounts::Access::Open => {}
        accounts::Access::Account(email) => entry.account = Some(email),
        accounts::Access::Denied => {
            entry.outcome = Outcome::Fault("rejected: signed out".into());
            entry.ended_us = Some(entry.started_us);
            state.shared.log.open(entry, None);
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"detail": "Not authenticated"})),
            )
                .into_response();
        }
    }
    let refused = {
        let mut site = glm_state(&state);
        match (&req.chat_id, &req.id) {
            (None, _) => Some("chat_id is required"),
            (Some(chat), _) if !site.chats.contains(chat) => {
                Some("chat_id names no chat of this account")
            }
            (_, None) => Some("id (the message id) is required"),
            (_, Some(id)) if !site.message_ids.insert(id.clone()) => {
                Some("id (the message id) was already sent")
            }
            _ => None,
        }
    };
    if let Some(why) = refused {
        return reject(&state, entry, why.to_owned());
    }

    let plan = Plan::new(state.shared.knobs(), &entry.prompt);
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    let script = wire::script(
        &Subject {
            site: Site::Glm,
            model: &entry.model,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
    );
    let (seq, stop) = state.shared.log.open(entry, req.chat_id);
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}
