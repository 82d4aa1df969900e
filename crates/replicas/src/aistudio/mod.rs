//! The Google AI Studio replica (aistudio.google.com): the prompt page and `GenerateContent`.
//!
//! Routes:
//! - `GET /prompts/new_chat` (the start URL, `?incognito=true` for a temporary chat), `GET /`:
//!   the app page (`page.html`, script `app.js`). Signed in, a page load sets the cookie
//!   `AISTUDIO_SID`; signed out ([`crate::ReplicaServer::set_signed_in`]) it sets none and the
//!   page shows Google's sign-in form (`input[type=email]`) instead of the composer. Once an
//!   account is registered ([`crate::ReplicaServer::add_account`]), a page load without that
//!   account's session cookie redirects to Google's sign-in pages (`/ServiceLogin?continue=…`,
//!   see [`crate::google_signin`]), which return to the page with the session.
//! - `POST /$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent`:
//!   the completion. The answer streams in the site's format (see [`wire`]). The request body
//!   is this replica's choice (the reference documents only the answer): one JSON+protobuf
//!   array ([`REQUEST_FIELDS`]),
//!   ```text
//!   [ "models/<id>",                                  0 model
//!     [[[[null,"<prompt>"]],"user"]],                 1 contents
//!     [["<category>",<threshold 0–4>], …],          2 safety settings (0 = block none)
//!     [null,null,null,<max tokens>,<temperature>,<top p>],  3 generation config
//!     [[[null,"<system instructions>"]],"user"] | null,     4 system instruction
//!     [<search 0|1>,<url context 0|1>],               5 tools
//!     "minimal"|"low"|"medium"|"high" | null,         6 thinking level
//!     "<request id>",                                 7 names the run for Stop
//!     <temporary chat 0|1>,                           8 `?incognito=true` on the page
//!     [<trusted 0|1>, <pointer moves>] | null ]       9 how Run was pressed (none: Ctrl+Enter)
//!   ```
//!   Contents hold the whole chat, oldest first (user and model turns); the prompt is the last
//!   user turn. A model turn `.` followed by the user turn `Continue.` is one nudge of the
//!   reference's Blocked-Response Handling; the entry's `settings.nudges` counts them. Field 9
//!   stands in for the site's automation signals: whether the Run click was a trusted event
//!   and how many trusted pointer moves came in the two seconds before it (the entry's
//!   `settings.run_click`).
//!   Strict as the site: HTTP 401 unless the cookie is the account's (with accounts
//!   registered: a session of one of them, which the log names in
//!   [`crate::ReceivedRequest::account`]); HTTP 400 unless the
//!   content type is `application/json+protobuf`, the model is one the picker offers, the
//!   level is one that model offers (none for the Gemma models), temperature is within 0–2,
//!   top-p within 0–1 and max tokens within 1–65536 (3.1 Flash Lite sends neither temperature
//!   nor top-p: it has no such settings), Gemma sends Search on and URL context off, and the
//!   prompt has text.
//! - `POST /$rpc/…/MakerSuiteService/StopGeneration` with `["<request id>"]`: the Run button
//!   in Stop mode; marks that run `stop_called` and ends its stream. **This path is the
//!   replica's choice, not a known endpoint of the real site**: the reference only says the
//!   driver clicks Stop.
//!
//! A model turn has an edit button (`button.toggle-edit-button`, shown on hover) that opens
//! an editor in the turn; Ctrl+Enter saves it. With [`crate::ReplicaServer::set_drops_incognito`]
//! the page's first new chat drops `incognito=true` from its URL (a redirect the reference
//! answers by adding it back).
//!
//! Thinking: the replica thinks (streams thought parts) when the level is above the model's
//! lowest (the site's "thinking off" is its lowest level: `-chat`); Gemini 2.5 Pro always
//! thinks, Gemma never. The answer's echo line names the model with its level, temperature,
//! top-p, max tokens and system instructions ([`echo_model`]).

mod wire;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::accounts;
use crate::answer::Subject;
use crate::faults::Plan;
use crate::ids;
use crate::log::{Outcome, ReceivedRequest, ReceivedSettings, RunClick};
use crate::server::{AppState, cookie};
use crate::site::Site;
use crate::stream::sse_body;

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");

const COMPLETION_PATH: &str =
    "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent";
const STOP_PATH: &str =
    "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/StopGeneration";

const SESSION_COOKIE: &str = "AISTUDIO_SID";

/// The request body's fields, by index (documentation and tests).
pub(crate) const REQUEST_FIELDS: [&str; 10] = [
    "model",
    "contents",
    "safety_settings",
    "generation_config",
    "system_instruction",
    "tools",
    "thinking_level",
    "request_id",
    "incognito",
    "pointer",
];

/// One model of the picker: id, label, Thinking Levels (lowest first), whether it has
/// temperature / top-p, whether it always thinks.
pub(crate) struct Model {
    pub id: &'static str,
    pub label: &'static str,
    pub levels: &'static [&'static str],
    pub sampling: bool,
    pub gemma: bool,
}

const ALL_LEVELS: &[&str] = &["minimal", "low", "medium", "high"];

/// The picker's models (provider-wire-formats §8.2; Gemini 2.5 has thinking budgets, not
/// levels; this replica gives it none).
pub(crate) const MODELS: [Model; 9] = [
    Model {
        id: "gemini-3.5-flash",
        label: "Gemini 3.5 Flash",
        levels: ALL_LEVELS,
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemini-3.1-pro-preview",
        label: "Gemini 3.1 Pro",
        levels: &["low", "medium", "high"],
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemini-3.1-flash-lite",
        label: "Gemini 3.1 Flash Lite",
        levels: ALL_LEVELS,
        sampling: false,
        gemma: false,
    },
    Model {
        id: "gemini-3-flash-preview",
        label: "Gemini 3 Flash",
        levels: ALL_LEVELS,
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemini-2.5-pro",
        label: "Gemini 2.5 Pro",
        levels: &[],
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemini-2.5-flash",
        label: "Gemini 2.5 Flash",
        levels: &[],
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemini-2.5-flash-lite",
        label: "Gemini 2.5 Flash Lite",
        levels: &[],
        sampling: true,
        gemma: false,
    },
    Model {
        id: "gemma-4-26b-a4b-it",
        label: "Gemma 4 26B-A4B",
        levels: &[],
        sampling: true,
        gemma: true,
    },
    Model {
        id: "gemma-4-31b-it",
        label: "Gemma 4 31B",
        levels: &[],
        sampling: true,
        gemma: true,
    },
];

/// Whether a run of `model` at `level` thinks (streams thoughts).
pub(crate) fn thinks(model: &Model, level: Option<&str>) -> bool {
    match (model.levels.first(), level) {
        (Some(lowest), Some(level)) => level != *lowest,
        _ => model.id == "gemini-2.5-pro",
    }
}

/// The model part of the echo line: `<id> (level=…, temperature=…, top_p=…, max_tokens=…,
/// system=…)`, each part only when the request had it.
pub(crate) fn echo_model(request: &ReceivedRequest) -> String {
    let mut parts = Vec::new();
    if let Some(level) = &request.effort {
        parts.push(format!("level={level}"));
    }
    if let Some(s) = &request.settings {
        if let Some(t) = &s.temperature {
            parts.push(format!("temperature={t}"));
        }
        if let Some(p) = &s.top_p {
            parts.push(format!("top_p={p}"));
        }
        if let Some(m) = s.max_tokens {
            parts.push(format!("max_tokens={m}"));
        }
        if s.url_context {
            parts.push("url_context=on".to_owned());
        }
    }
    if let Some(system) = &request.system {
        parts.push(format!("system=\"{system}\""));
    }
    if parts.is_empty() {
        request.model.clone()
    } else {
        format!("{} ({})", request.model, parts.join(", "))
    }
}

/// The routes of the AI Studio replica.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/prompts/new_chat", get(page))
        .route("/static/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(COMPLETION_PATH, post(generate))
        .route(STOP_PATH, post(stop_run))
        .merge(crate::google_signin::routes())
}

/// What the AI Studio replica remembers between requests.
#[derive(Default)]
pub(crate) struct SiteState {
    /// The account's session token, made on first use.
    token: Option<String>,
    /// The page's first new chat drops `incognito=true` (a redirect).
    drops_incognito: bool,
}

/// Sets whether pages loaded from now on drop `incognito=true` on their first new chat.
pub(crate) fn set_drops_incognito(shared: &crate::server::Shared, on: bool) {
    shared
        .aistudio
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drops_incognito = on;
}

fn token(app: &AppState) -> String {
    app.shared
        .aistudio
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .token
        .get_or_insert_with(|| ids::hex(32))
        .clone()
}

fn signed_out(app: &AppState) -> bool {
    app.shared
        .signed_out
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// The request's access: `None` signed out; `Some(None)` signed in with no accounts
/// registered (the one built-in session); `Some(Some(email))` the session of that account.
fn access(app: &AppState, headers: &HeaderMap) -> Option<Option<String>> {
    if signed_out(app) {
        return None;
    }
    match accounts::access(&app.shared.accounts(), headers) {
        accounts::Access::Open => cookie(headers, SESSION_COOKIE)
            .is_some_and(|t| t == token(app))
            .then_some(None),
        accounts::Access::Account(email) => Some(Some(email)),
        accounts::Access::Denied => None,
    }
}

fn signed_in(app: &AppState, headers: &HeaderMap) -> bool {
    access(app, headers).is_some()
}

async fn page(State(app): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    // With accounts registered, a visitor without a session goes to Google's sign-in, which
    // returns here.
    if matches!(
        accounts::access(&app.shared.accounts(), &headers),
        accounts::Access::Denied
    ) {
        let here = uri.path_and_query().map_or("/", |p| p.as_str());
        return Redirect::to(&crate::google_signin::sign_in_url(here)).into_response();
    }
    let change = app
        .shared
        .hook_change
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let drops = app
        .shared
        .aistudio
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drops_incognito;
    let page = crate::hooks::page(PAGE, change.as_ref()).replacen(
        r#"<meta name="replica-drops-incognito" content="no">"#,
        if drops {
            r#"<meta name="replica-drops-incognito" content="yes">"#
        } else {
            r#"<meta name="replica-drops-incognito" content="no">"#
        },
        1,
    );
    if signed_out(&app) {
        let page = page.replacen(
            r#"<meta name="replica-signed-in" content="yes">"#,
            r#"<meta name="replica-signed-in" content="no">"#,
            1,
        );
        return Html(page).into_response();
    }
    let mut response = Html(page).into_response();
    let cookie = format!("{SESSION_COOKIE}={}; Path=/; SameSite=Lax", token(&app));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
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

/// A Google API error answer.
fn api_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": status.as_u16(), "message": message, "status": name } });
    (status, Json(body)).into_response()
}

async fn stop_run(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !signed_in(&app, &headers) {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Sign in again.",
        );
    }
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get(0).and_then(Value::as_str).map(str::to_owned));
    let Some(id) = id else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "a run id is required",
        );
    };
    if !app.shared.log.stop_session(&id) {
        tracing::warn!(run = %id, "aistudio replica: stop for an unknown run");
        return api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such run");
    }
    ([(header::CONTENT_TYPE, "application/json+protobuf")], "[]").into_response()
}

/// What one `GenerateContent` body asks for.
#[derive(Debug, PartialEq)]
pub(crate) struct Run {
    pub model: String,
    pub prompt: String,
    pub system: Option<String>,
    pub settings: ReceivedSettings,
    pub search: bool,
    pub level: Option<String>,
    pub id: String,
    /// The chat's first user turn (whose directives plan every run of the chat).
    pub first_prompt: String,
}

/// A JSON number as the body wrote it, if it is one within `0..=max`.
fn number(value: &Value, what: &str, max: f64) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) if n.as_f64().is_some_and(|f| (0.0..=max).contains(&f)) => {
            Ok(Some(n.to_string()))
        }
        other => Err(format!(
            "{what} must be a number within 0–{max}, not {other}"
        )),
    }
}

fn text_of(content: &Value) -> Option<&str> {
    content.get(0)?.get(0)?.get(1)?.as_str()
}

/// Reads and checks one request body.
pub(crate) fn parse_run(body: &[u8]) -> Result<Run, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(fields) = value.as_array() else {
        return Err("the body is not a JSON+protobuf array".into());
    };
    if fields.len() != REQUEST_FIELDS.len() {
        return Err(format!(
            "the body has {} fields, not {}",
            fields.len(),
            REQUEST_FIELDS.len()
        ));
    }
    let model_id = fields[0]
        .as_str()
        .and_then(|m| m.strip_prefix("models/"))
        .ok_or("field 0 must be \"models/<id>\"")?;
    let model = MODELS
        .iter()
        .find(|m| m.id == model_id)
        .ok_or_else(|| format!("unknown model {model_id:?}"))?;
    let contents = fields[1]
        .as_array()
        .ok_or("field 1 (contents) must be a list")?;
    let prompt = contents
        .last()
        .filter(|c| c.get(1).and_then(Value::as_str) == Some("user"))
        .and_then(text_of)
        .ok_or("the last content must be a user turn with text")?;
    let mut turns = Vec::new();
    for content in contents {
        let role = content.get(1).and_then(Value::as_str);
        let text = text_of(content).unwrap_or_default();
        match role {
            Some(role @ ("user" | "model")) => turns.push((role, text)),
            _ => return Err("every content must be a user or model turn".into()),
        }
    }
    let first_prompt = turns
        .iter()
        .find(|(role, _)| *role == "user")
        .map_or(prompt, |(_, text)| *text);
    let nudges = turns
        .windows(2)
        .filter(|w| w[0] == ("model", ".") && w[1] == ("user", "Continue."))
        .count() as u64;
    if prompt.trim().is_empty() {
        return Err("the prompt has no text".into());
    }
    let mut safety = Vec::new();
    for setting in fields[2]
        .as_array()
        .ok_or("field 2 (safety settings) must be a list")?
    {
        match (
            setting.get(0).and_then(Value::as_str),
            setting.get(1).and_then(Value::as_u64),
        ) {
            (Some(_), Some(threshold @ 0..=4)) => safety.push(threshold),
            _ => return Err("a safety setting must be [\"<category>\", 0–4]".into()),
        }
    }
    let config = fields[3]
        .as_array()
        .ok_or("field 3 (generation config) must be a list")?;
    let get = |i: usize| config.get(i).unwrap_or(&Value::Null);
    let temperature = number(get(4), "temperature", 2.0)?;
    let top_p = number(get(5), "top_p", 1.0)?;
    if !model.sampling && (temperature.is_some() || top_p.is_some()) {
        return Err(format!("{} has no temperature or top_p", model.label));
    }
    let max_tokens = match get(3) {
        Value::Null => None,
        v => match v.as_u64() {
            Some(n @ 1..=65536) => Some(n),
            _ => return Err(format!("max output tokens must be within 1–65536, not {v}")),
        },
    };
    let system = match &fields[4] {
        Value::Null => None,
        content => Some(
            text_of(content)
                .ok_or("field 4 (system instruction) must hold text")?
                .to_owned(),
        ),
    };
    let tools = fields[5]
        .as_array()
        .ok_or("field 5 (tools) must be a list")?;
    let flag = |i: usize| tools.get(i).and_then(Value::as_i64) == Some(1);
    let (search, url_context) = (flag(0), flag(1));
    if model.gemma && (!search || url_context) {
        return Err("Gemma runs with Search on and without URL context".into());
    }
    let level = match &fields[6] {
        Value::Null => None,
        Value::String(level) => Some(level.clone()),
        other => {
            return Err(format!(
                "field 6 (thinking level) must be a string, not {other}"
            ));
        }
    };
    match &level {
        Some(l) if !model.levels.contains(&l.as_str()) => {
            return Err(format!("{} has no thinking level {l:?}", model.label));
        }
        None if !model.levels.is_empty() => {
            return Err(format!("{} needs a thinking level", model.label));
        }
        _ => {}
    }
    let id = fields[7]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or("field 7 (request id) must be a string")?;
    let temporary = match fields[8].as_i64() {
        Some(flag @ 0..=1) => flag == 1,
        _ => return Err("field 8 (temporary chat) must be 0 or 1".into()),
    };
    let run_click = match &fields[9] {
        Value::Null => None,
        Value::Array(click) => match (
            click.first().and_then(Value::as_i64),
            click.get(1).and_then(Value::as_u64),
        ) {
            (Some(trusted @ 0..=1), Some(moves)) => Some(RunClick {
                trusted: trusted == 1,
                moves,
            }),
            _ => return Err("field 9 (pointer) must be [0|1, moves]".into()),
        },
        _ => return Err("field 9 (pointer) must be a list or null".into()),
    };
    Ok(Run {
        model: model_id.to_owned(),
        prompt: prompt.to_owned(),
        first_prompt: first_prompt.to_owned(),
        system,
        settings: ReceivedSettings {
            temperature,
            top_p,
            max_tokens,
            url_context,
            temporary,
            nudges,
            run_click,
            safety,
        },
        search,
        level,
        id: id.to_owned(),
    })
}

/// Logs a completion request that was refused, and answers with the error.
fn reject(app: &AppState, mut entry: ReceivedRequest, why: &str) -> Response {
    tracing::warn!(reason = %why, "aistudio replica: GenerateContent rejected");
    entry.outcome = Outcome::Fault(format!("rejected: {why}"));
    entry.ended_us = Some(entry.started_us);
    app.shared.log.open(entry, None);
    api_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", why)
}

async fn generate(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let mut entry = ReceivedRequest::arriving(COMPLETION_PATH, String::new(), String::new());
    entry.accept_encoding = crate::log::accept_encoding(&headers);
    let Some(account) = access(&app, &headers) else {
        entry.outcome = Outcome::Fault("rejected: signed out".into());
        entry.ended_us = Some(entry.started_us);
        app.shared.log.open(entry, None);
        return api_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Sign in again.",
        );
    };
    entry.account = account;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json+protobuf") {
        let why = format!("content-type must be application/json+protobuf, not {content_type:?}");
        return reject(&app, entry, &why);
    }
    let run = match parse_run(&body) {
        Ok(run) => run,
        Err(why) => return reject(&app, entry, &format!("invalid request body: {why}")),
    };
    let Some(model) = MODELS.iter().find(|m| m.id == run.model) else {
        return reject(&app, entry, "unknown model");
    };
    entry.prompt = run.prompt.clone();
    entry.model = run.model.clone();
    entry.thinking = thinks(model, run.level.as_deref());
    entry.search = run.search;
    entry.effort = run.level.clone();
    entry.system = run.system.clone();
    entry.settings = Some(run.settings.clone());

    // Every run of the chat follows the directives of its first prompt.
    let plan = Plan::new(app.shared.knobs(), &run.first_prompt);
    let blocked = plan.blocks > run.settings.nudges;
    if blocked {
        entry.outcome = Outcome::Fault("blocked".into());
    } else if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    let echo = echo_model(&entry);
    let script = if blocked {
        wire::blocked_run()
    } else {
        wire::script(
            &Subject {
                site: Site::AiStudio,
                model: &echo,
                thinking: entry.thinking,
                search: entry.search,
                prompt: &entry.prompt,
            },
            &plan,
            run.settings.url_context,
        )
    };
    let (seq, stop) = app.shared.log.open(entry, Some(run.id));
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
        HeaderValue::from_static("application/json+protobuf; charset=UTF-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Pieces of this module that the crate's tests use.
#[cfg(test)]
pub(crate) use wire::{BLOCKED_TEXT, QUOTA_TEXT, SEARCH_RESULT_URL};

#[cfg(test)]
mod tests {
    use super::*;

    fn body(model: &str, level: Value, config: Value, tools: Value) -> Vec<u8> {
        json!([
            format!("models/{model}"),
            [[[[null, "hi"]], "user"]],
            [["Hate", 0], ["Dangerous Content", 4]],
            config,
            [[[null, "Be brief."]], "user"],
            tools,
            level,
            "run-1",
            1,
            [1, 12]
        ])
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_run_reads_its_settings_and_refuses_what_the_site_would() {
        let run = parse_run(&body(
            "gemini-3.1-pro-preview",
            json!("high"),
            json!([null, null, null, 512, 0.7, 0.9]),
            json!([0, 1]),
        ))
        .unwrap();
        assert_eq!(run.settings.temperature.as_deref(), Some("0.7"));
        assert_eq!(run.settings.top_p.as_deref(), Some("0.9"));
        assert_eq!(run.settings.max_tokens, Some(512));
        assert!(run.settings.url_context && !run.search);
        assert_eq!(run.system.as_deref(), Some("Be brief."));
        assert_eq!(
            (run.level.as_deref(), run.id.as_str()),
            (Some("high"), "run-1")
        );
        let cfg = || json!([null, null, null, null, null, null]);
        // 3.1 Pro has no Minimal; Gemma has no levels and needs Search; Flash Lite no sampling.
        assert!(
            parse_run(&body(
                "gemini-3.1-pro-preview",
                json!("minimal"),
                cfg(),
                json!([0, 0])
            ))
            .is_err()
        );
        assert!(
            parse_run(&body(
                "gemini-3.1-pro-preview",
                json!(null),
                cfg(),
                json!([0, 0])
            ))
            .is_err()
        );
        assert!(parse_run(&body("gemma-4-31b-it", json!(null), cfg(), json!([0, 0]))).is_err());
        assert!(parse_run(&body("gemma-4-31b-it", json!(null), cfg(), json!([1, 0]))).is_ok());
        let hot = json!([null, null, null, null, 2.5, null]);
        assert!(
            parse_run(&body(
                "gemini-3-flash-preview",
                json!("low"),
                hot,
                json!([0, 0])
            ))
            .is_err()
        );
        let sampled = json!([null, null, null, null, 1, null]);
        assert!(
            parse_run(&body(
                "gemini-3.1-flash-lite",
                json!("low"),
                sampled,
                json!([0, 0])
            ))
            .is_err()
        );
        assert!(parse_run(b"{}").is_err());
        assert_eq!(REQUEST_FIELDS.len(), 10);
        assert!(run.settings.temporary);
        assert_eq!(
            run.settings.run_click,
            Some(RunClick {
                trusted: true,
                moves: 12
            })
        );
        assert_eq!((run.settings.nudges, run.first_prompt.as_str()), (0, "hi"));
        assert_eq!(run.settings.safety, [0, 4]);
        assert!(
            !BLOCKED_TEXT.is_empty()
                && !QUOTA_TEXT.is_empty()
                && SEARCH_RESULT_URL.starts_with("https://")
        );
    }

    #[test]
    fn the_lowest_level_does_not_think() {
        let pro = &MODELS[1];
        assert!(!thinks(pro, Some("low")) && thinks(pro, Some("medium")));
        assert!(!thinks(&MODELS[0], Some("minimal")) && thinks(&MODELS[0], Some("low")));
        assert!(thinks(&MODELS[4], None) && !thinks(&MODELS[5], None));
    }
}
