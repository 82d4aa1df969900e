//! The DeepSeek replica (chat.deepseek.com): the app page and the `/api/v0` endpoints.
//!
//! Routes:
//! - `GET /`, `GET /a/chat/s/{id}`: the app page (`page.html`, script `app.js`).
//! - `POST /api/v0/chat_session/create`: a new chat session id.
//! - `POST /api/v0/chat/create_pow_challenge`: a PoW challenge (difficulty 1).
//! - `POST /api/v0/chat/completion`: the patch stream (see [`wire`]); needs the
//!   `x-ds-pow-response` header built from a challenge this server issued, else HTTP 400.
//! - `POST /api/v0/chat/stop_stream`: marks the session's latest request `stop_called` and ends
//!   its stream.
//! - `POST /api/v0/chat_session/delete`: accepted, no effect.
//!
//! The page solves no real PoW: the replica only checks that the header decodes, names the
//! `DeepSeekHashV1` algorithm and the completion path, and carries an issued challenge.

mod wire;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
const POW_HEADER: &str = "x-ds-pow-response";
const POW_ALGORITHM: &str = "DeepSeekHashV1";

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
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
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

async fn create_session() -> Json<Envelope<Biz>> {
    ok(json!({ "id": ids::uuid(), "seq_id": 1, "title": null }))
}

async fn delete_session() -> Json<Envelope<Biz>> {
    ok(Value::Null)
}

async fn create_pow_challenge(State(state): State<AppState>) -> Json<Envelope<Biz>> {
    let challenge = ids::hex(64);
    state
        .shared
        .pow_challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(challenge.clone());
    let expire_at = ids::now_us() / 1000 + 5 * 60 * 1000;
    ok(json!({
        "challenge": {
            "algorithm": POW_ALGORITHM,
            "challenge": challenge,
            "salt": ids::hex(20),
            "difficulty": 1,
            "signature": ids::hex(64),
            "expire_at": expire_at,
            "expire_after": 300000,
            "target_path": COMPLETION_PATH,
        }
    }))
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
}

/// The decoded `x-ds-pow-response` header.
#[derive(Deserialize)]
struct PowResponse {
    algorithm: String,
    challenge: String,
    #[expect(
        dead_code,
        reason = "must be present; the replica does not verify the hash"
    )]
    salt: String,
    #[expect(
        dead_code,
        reason = "must be present; the replica does not verify the hash"
    )]
    answer: u64,
    #[expect(
        dead_code,
        reason = "must be present; the replica does not verify the hash"
    )]
    signature: String,
    target_path: String,
}

/// Checks the PoW header; `Err` says what is wrong.
fn check_pow(state: &AppState, headers: &HeaderMap) -> Result<(), String> {
    let raw = headers
        .get(POW_HEADER)
        .ok_or_else(|| format!("missing {POW_HEADER} header"))?;
    let decoded = STANDARD
        .decode(raw.as_bytes())
        .map_err(|e| format!("{POW_HEADER} is not base64: {e}"))?;
    let pow: PowResponse = serde_json::from_slice(&decoded)
        .map_err(|e| format!("{POW_HEADER} is not a PoW answer: {e}"))?;
    if pow.algorithm != POW_ALGORITHM || pow.target_path != COMPLETION_PATH {
        return Err(format!(
            "{POW_HEADER} is for {} at {}",
            pow.algorithm, pow.target_path
        ));
    }
    let issued = state
        .shared
        .pow_challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&pow.challenge);
    if !issued {
        return Err(format!(
            "{POW_HEADER} names a challenge this server did not issue"
        ));
    }
    Ok(())
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
    if let Err(why) = check_pow(&state, &headers) {
        return reject(&state, entry, session, why);
    }

    let plan = Plan::new(state.shared.knobs(), &entry.prompt);
    if let Some(fault) = plan.fault {
        entry.outcome = Outcome::Fault(fault.name().into());
    }
    if plan.fault == Some(Fault::RateLimit) {
        entry.ended_us = Some(entry.started_us);
        state.shared.log.open(entry, session);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            40029,
            "Too many requests, please slow down.",
        );
    }

    let ids = wire::MessageIds::after(req.parent_message_id);
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

#[derive(Deserialize)]
struct StopBody {
    chat_session_id: String,
}

async fn stop_stream(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<StopBody>(&body) {
        Ok(stop) => {
            if !state.shared.log.stop_session(&stop.chat_session_id) {
                tracing::debug!(session = %stop.chat_session_id, "deepseek replica: stop for unknown session");
            }
            ok(Value::Null).into_response()
        }
        Err(err) => error(
            StatusCode::BAD_REQUEST,
            40000,
            &format!("invalid body: {err}"),
        ),
    }
}
