//! The HuggingChat replica (huggingface.co/chat): the app page, its settings and the
//! conversation endpoints, all under `/chat` as on the site.
//!
//! Routes (below `/chat`):
//! - `GET /`, `GET /conversation/<id>` and `GET /settings/chat/<model>`: the app page
//!   (`page.html`, script `app.js`, routed in the page). Signed in, a page load sets the
//!   session cookie `hf-chat` (chat-ui's name). Signed out
//!   (`ReplicaServer::set_signed_in(false)`) it sets none and the page shows "Sign in" and
//!   "Start chatting"; the settings and the message answer HTTP 401 (a guest may still
//!   create a conversation, as on the site).
//! - `GET /api/settings`: `{signedIn, models:[{id,name,providers}], activeModel, providers,
//!   customPrompts}` (the account's model settings; this path is the replica's choice);
//!   `POST /api/settings` `{activeModel, provider, customPrompt}` activates a model with its
//!   inference provider and custom system prompt (HTTP 400 for a model or provider the site
//!   does not serve). The model list is [`MODELS`], the first one active at start.
//! - `POST /conversation` `{model}`: a new conversation of that model, with the model's
//!   system prompt and inference provider copied in (`{"conversationId":…}`, 24 hex digits).
//! - `POST /conversation/<id>` `{inputs, id, is_retry, is_continue, tools, effort}`: the
//!   message stream (see [`wire`]). Refused with HTTP 404 for a conversation the replica did
//!   not create, with HTTP 400 unless `inputs` is not empty, the message `id` is a UUID sent
//!   for the first time and `effort` is one of `auto`, `default`, `low`, `medium`, `high` (the
//!   composer's thinking efforts; sent as JSON, where the site sends a form: the replica's
//!   choice). The log's `model` is the conversation's model, `effort` the effort, `thinking`
//!   whether it is not `default`, `search` whether `tools` holds `exa` (the Web Search (Exa)
//!   MCP server), `system` the conversation's system prompt (when not empty) and
//!   `inference_provider` its provider. `replica:fault=upgrade_required` answers HTTP 402
//!   with the site's credits text (the page shows "Upgrade Required").
//! - `POST /conversation/<id>/stop-generating`: the site's Stop; marks the conversation's
//!   latest message `stop_called` and ends its stream (HTTP 404 for an unknown conversation).
//! - `GET /login`: redirects to the Hugging Face login, `/login?next=/chat/` at the root (on
//!   the site through its OAuth flow).
//!
//! At the root: `GET /login` and `POST /login` (a form: `username`, which is a username or an
//! email, `password`, `next`), the Hugging Face login page (`login.html`). Once an account is
//! registered ([`crate::ReplicaServer::add_account`]), a page load sets no `hf-chat` cookie:
//! only a right pair on this form does (then it goes on to `next`; a wrong pair gets the form
//! again with "Invalid username or password.", HTTP 401). The settings name the user (the page
//! shows its avatar link, `/api/users/<name>/avatar?redirect=true`), the message names its
//! account ([`crate::ReceivedRequest::account`]) and refuses a request without the session
//! (HTTP 401), and a rate-limited account gets the site's rate-limit status in the stream.

mod wire;

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
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
use crate::server::{AppState, cookie};
use crate::site::Site;
use crate::stream::{sse_body, sse_response};

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

const SESSION_COOKIE: &str = "hf-chat";

const LOGIN_PAGE: &str = include_str!("login.html");

/// The login page's error for a wrong username (or email) and password.
const WRONG_PASSWORD: &str = "Invalid username or password.";

/// The models the site serves: id, display name. Every one has [`PROVIDERS`].
pub(crate) const MODELS: [(&str, &str); 4] = [
    (
        "Qwen/Qwen3-235B-A22B-Thinking-2507",
        "Qwen3-235B-A22B-Thinking-2507",
    ),
    ("deepseek-ai/DeepSeek-V3.1", "DeepSeek-V3.1"),
    (
        "meta-llama/Llama-3.3-70B-Instruct",
        "Llama-3.3-70B-Instruct",
    ),
    ("openai/gpt-oss-120b", "gpt-oss-120b"),
];

/// The inference providers every model may be served by.
const PROVIDERS: [&str; 4] = ["auto", "novita", "together", "fireworks-ai"];

/// The composer's thinking efforts.
const EFFORTS: [&str; 5] = ["auto", "default", "low", "medium", "high"];

/// The credits text the site answers with HTTP 402.
const CREDITS_TEXT: &str = "You have exceeded your monthly included credits for Inference \
                            Providers. Subscribe to PRO to get 20x more monthly included credits.";

/// One conversation the replica created.
struct Conversation {
    model: String,
    system: String,
    provider: String,
}

/// What the HuggingChat replica remembers between requests.
pub(crate) struct SiteState {
    token: Option<String>,
    active_model: String,
    providers: HashMap<String, String>,
    prompts: HashMap<String, String>,
    conversations: HashMap<String, Conversation>,
    message_ids: HashSet<String>,
}

impl Default for SiteState {
    fn default() -> Self {
        SiteState {
            token: None,
            active_model: MODELS[0].0.to_owned(),
            providers: HashMap::new(),
            prompts: HashMap::new(),
            conversations: HashMap::new(),
            message_ids: HashSet::new(),
        }
    }
}

/// The echo line's model: `<model>, effort=<e>, provider=<p>`.
pub(crate) fn echo_model(model: &str, effort: &str, provider: &str) -> String {
    format!("{model}, effort={effort}, provider={provider}")
}

fn site_state(app: &AppState) -> std::sync::MutexGuard<'_, SiteState> {
    app.shared
        .huggingchat
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

fn token(app: &AppState) -> String {
    site_state(app)
        .token
        .get_or_insert_with(|| ids::hex(32))
        .clone()
}

/// The request's session. Signed out ([`crate::ReplicaServer::set_signed_in`]) is none; once
/// an account is registered, only an `hf-chat` cookie the login form issued is one; before
/// that, the cookie every page load sets.
fn access(app: &AppState, headers: &HeaderMap) -> Access {
    if signed_out(app) {
        return Access::Denied;
    }
    if app.shared.accounts().required() {
        return accounts::access_by_cookie(&app.shared.accounts(), headers, SESSION_COOKIE);
    }
    if cookie(headers, SESSION_COOKIE).is_some_and(|t| t == token(app)) {
        Access::Open
    } else {
        Access::Denied
    }
}

/// The avatar link's user name: the account's name before any `@`, else the replica's user.
fn user_name(access: &Access) -> String {
    match access {
        Access::Account(account) => account
            .split('@')
            .next()
            .unwrap_or(account)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect(),
        _ => "replica-user".to_owned(),
    }
}

/// `GET /chat/login`: the chat's sign-in entry, which sends the visitor to the Hugging Face
/// login page (on the site through its OAuth flow; the replica goes there directly).
async fn chat_login() -> Response {
    Redirect::to("/login?next=%2Fchat%2F").into_response()
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// Only a path on this site (never `//host`); else the chat.
fn local_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.?=&%".contains(c));
    if ok { next } else { "/chat/" }
}

fn login_page(next: &str, error: &str) -> String {
    LOGIN_PAGE
        .replacen("<!--next-->", local_next(next), 1)
        .replacen("<!--error-->", error, 1)
}

async fn login_form(Query(query): Query<LoginQuery>) -> Html<String> {
    Html(login_page(&query.next, ""))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The login form's post: a right username (or email) and password get the session cookie and
/// go on to `next`; a wrong pair gets the form again with the site's error (HTTP 401).
async fn login(State(app): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = app
        .shared
        .accounts()
        .sign_in(&form.username, &form.password)
    else {
        tracing::info!(user = %form.username.trim(), "huggingchat replica: login refused");
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_page(&form.next, WRONG_PASSWORD)),
        )
            .into_response();
    };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(local_next(&form.next)),
    )
        .into_response()
}

/// The routes of the HuggingChat replica, under `/chat`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat", get(page))
        .route("/chat/", get(page))
        .route("/chat/conversation/{id}", get(page).post(message))
        .route("/chat/settings/chat/{*model}", get(page))
        .route("/chat/static/app.js", get(app_js))
        .route("/chat/api/settings", get(settings).post(save_settings))
        .route("/chat/conversation", post(new_conversation))
        .route(
            "/chat/conversation/{id}/stop-generating",
            post(stop_generating),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/chat/login", get(chat_login))
        .route("/login", get(login_form).post(login))
}

async fn page(State(app): State<AppState>) -> Response {
    let mut response = Html(PAGE).into_response();
    // With accounts, only the login form issues the cookie.
    if !signed_out(&app) && !app.shared.accounts().required() {
        let cookie = format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
            token(&app)
        );
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

/// A HuggingChat error answer: `{"message":…}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn settings_json(site: &SiteState, signed_in: bool, user: &str) -> serde_json::Value {
    let models: Vec<_> = MODELS
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "providers": PROVIDERS}))
        .collect();
    json!({
        "signedIn": signed_in,
        "user": if signed_in { json!({ "username": user }) } else { serde_json::Value::Null },
        "models": models,
        "activeModel": site.active_model,
        "providers": site.providers,
        "customPrompts": site.prompts,
    })
}

async fn settings(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let access = access(&app, &headers);
    let signed_in = !matches!(access, Access::Denied);
    let user = user_name(&access);
    Json(settings_json(&site_state(&app), signed_in, &user)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSettings {
    active_model: String,
    provider: String,
    #[serde(default)]
    custom_prompt: String,
}

async fn save_settings(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let access = access(&app, &headers);
    if matches!(access, Access::Denied) {
        return error(StatusCode::UNAUTHORIZED, "You must be logged in");
    }
    let user = user_name(&access);
    let Ok(new) = serde_json::from_slice::<NewSettings>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid settings");
    };
    if !MODELS.iter().any(|(id, _)| *id == new.active_model) {
        return error(StatusCode::BAD_REQUEST, "Model not found");
    }
    if !PROVIDERS.contains(&new.provider.as_str()) {
        return error(StatusCode::BAD_REQUEST, "Provider not found");
    }
    let mut site = site_state(&app);
    site.active_model = new.active_model.clone();
    site.providers
        .insert(new.active_model.clone(), new.provider);
    site.prompts.insert(new.active_model, new.custom_prompt);
    Json(settings_json(&site, true, &user)).into_response()
}

#[derive(Deserialize)]
struct NewConversation {
    model: String,
}

async fn new_conversation(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(new) = serde_json::from_slice::<NewConversation>(&body) else {
        return error(StatusCode::BAD_REQUEST, "model is required");
    };
    if !MODELS.iter().any(|(id, _)| *id == new.model) {
        return error(StatusCode::BAD_REQUEST, "Model not found");
    }
    let id = ids::hex(24);
    let mut site = site_state(&app);
    let conversation = Conversation {
        system: site.prompts.get(&new.model).cloned().unwrap_or_default(),
        provider: site
            .providers
            .get(&new.model)
            .cloned()
            .unwrap_or_else(|| "auto".to_owned()),
        model: new.model,
    };
    site.conversations.insert(id.clone(), conversation);
    Json(json!({ "conversationId": id })).into_response()
}

async fn stop_generating(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    if !app.shared.log.stop_session(&id) {
        tracing::warn!(conversation = %id, "huggingchat replica: stop for an unknown conversation");
        return error(StatusCode::NOT_FOUND, "Conversation not found");
    }
    Json(json!({})).into_response()
}

/// The fields of a message the replica reads.
#[derive(Deserialize)]
struct MessageBody {
    inputs: Option<String>,
    id: Option<String>,
    #[serde(default)]
    tools: Vec<String>,
    effort: Option<String>,
}

fn reject(state: &AppState, mut entry: ReceivedRequest, status: StatusCode, why: &str) -> Response {
    tracing::warn!(reason = %why, "huggingchat replica: message rejected");
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

async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/chat/conversation/{id}");
    let arriving = |prompt: String, model: String| {
        let mut entry = ReceivedRequest::arriving(&path, prompt, model);
        entry.accept_encoding = crate::log::accept_encoding(&headers);
        entry
    };
    let account = match access(&state, &headers) {
        Access::Open => None,
        Access::Account(account) => Some(account),
        Access::Denied => {
            let entry = arriving(String::new(), String::new());
            return reject(
                &state,
                entry,
                StatusCode::UNAUTHORIZED,
                "You must be logged in",
            );
        }
    };
    let conversation = site_state(&state)
        .conversations
        .get(&id)
        .map(|c| (c.model.clone(), c.system.clone(), c.provider.clone()));
    let Some((model, system, provider)) = conversation else {
        let entry = arriving(String::new(), String::new());
        return reject(
            &state,
            entry,
            StatusCode::NOT_FOUND,
            "Conversation not found",
        );
    };
    let req = match serde_json::from_slice::<MessageBody>(&body) {
        Ok(req) => req,
        Err(err) => {
            let entry = arriving(String::new(), model);
            let why = format!("invalid request body: {err}");
            return reject(&state, entry, StatusCode::BAD_REQUEST, &why);
        }
    };
    let prompt = req.inputs.unwrap_or_default();
    let mut entry = arriving(prompt, model);
    let effort = req.effort.unwrap_or_default();
    entry.thinking = effort != "default";
    entry.effort = Some(effort.clone());
    entry.search = req.tools.iter().any(|t| t == "exa");
    entry.system = (!system.is_empty()).then_some(system);
    entry.inference_provider = Some(provider);
    entry.account = account;
    let refused = match &req.id {
        _ if entry.prompt.trim().is_empty() => Some("inputs is required"),
        None => Some("the message id is required"),
        Some(mid) if !is_uuid(mid) => Some("the message id is malformed"),
        Some(mid) if !site_state(&state).message_ids.insert(mid.clone()) => {
            Some("the message id was already sent")
        }
        _ if !EFFORTS.contains(&effort.as_str()) => Some("effort is not a thinking effort"),
        _ => None,
    };
    if let Some(why) = refused {
        return reject(&state, entry, StatusCode::BAD_REQUEST, why);
    }
    let mut plan = Plan::new(state.shared.knobs(), &entry.prompt);
    // A rate-limited account ([`crate::ReplicaServer::rate_limit_account`]) gets the site's
    // rate-limit status in the stream, as `replica:fault=rate_limit` does.
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
    if plan.fault == Some(Fault::UpgradeRequired) {
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, Some(id));
        return error(StatusCode::PAYMENT_REQUIRED, CREDITS_TEXT);
    }
    let echoed = Site::HuggingChat.echo_model(&entry);
    let script = wire::script(
        &Subject {
            site: Site::HuggingChat,
            model: &echoed,
            thinking: entry.thinking,
            search: entry.search,
            prompt: &entry.prompt,
        },
        &plan,
    );
    let (seq, stop) = state.shared.log.open(entry, Some(id));
    let log = state.shared.log.clone();
    sse_response(sse_body(
        log,
        seq,
        script,
        &plan,
        state.shared.interrupts(stop),
    ))
}
