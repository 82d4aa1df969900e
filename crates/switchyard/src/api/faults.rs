//! Fault injection, for trying out lane recovery: `POST /api/lanes/{id}/crash` crashes the
//! lane's renderer (CDP `Page.crash`), `POST /api/lanes/{id}/kill-browser` SIGKILLs its browser
//! (the shared one in `context` isolation, so every lane on it), and
//! `POST /api/lanes/{id}/panic` makes the lane's next request panic inside its task, and
//! `POST /api/lanes/{id}/panic-supervisor` panics the lane's supervisor itself.
//!
//! Off unless the gateway was started with `--enable-fault-injection` (`Config::fault_injection`);
//! then the routes answer 404 saying so. The lane's supervisor carries the fault out; the answer
//! comes once it has.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::sync::oneshot;

use super::AppState;
use super::error::ApiError;
use crate::ids::LaneId;
use crate::lanes::supervisor::{Control, Fault};

/// How long the lane's supervisor may take to carry a fault out (a recovering lane answers
/// once it is back).
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// The fault-injection routes (always routed, so a disabled one says how to enable it).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/lanes/{id}/crash", post(crash))
        .route("/api/lanes/{id}/kill-browser", post(kill_browser))
        .route("/api/lanes/{id}/panic", post(panic))
        .route("/api/lanes/{id}/panic-supervisor", post(panic_supervisor))
        .route("/api/lanes/{id}/hang", post(hang))
}

async fn crash(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    inject(&app, id, Fault::Crash, "crash").await
}

async fn kill_browser(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    inject(&app, id, Fault::KillBrowser, "kill-browser").await
}

async fn panic(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    inject(&app, id, Fault::Panic, "panic").await
}

async fn panic_supervisor(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    inject(&app, id, Fault::PanicSupervisor, "panic-supervisor").await
}

async fn hang(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    inject(&app, id, Fault::Hang, "hang").await
}

async fn inject(app: &AppState, id: String, fault: Fault, name: &str) -> Response {
    if !app.config().fault_injection {
        return ApiError::not_found(
            "Fault injection is off. Start switchyard with --enable-fault-injection (serve or \
             demo) to use /api/lanes/{id}/crash, /kill-browser and /panic.",
        )
        .into_response();
    }
    let lane = LaneId(id);
    let Some(control) = app.board.control(&lane) else {
        return ApiError::not_found(format!(
            "No running lane {lane}. GET /api/lanes lists the lanes."
        ))
        .into_response();
    };
    let (reply, rx) = oneshot::channel();
    let gone = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("Lane {lane} is not running (shutting down or offline); nothing was done."),
        )
        .into_response()
    };
    if control.send(Control { fault, reply }).await.is_err() {
        return gone();
    }
    match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
        Ok(Ok(Ok(result))) => {
            Json(json!({"lane": lane.0, "fault": name, "result": result})).into_response()
        }
        Ok(Ok(Err(e))) => {
            ApiError::internal(format!("Could not inject {name} into {lane}: {e}")).into_response()
        }
        Ok(Err(_)) => gone(),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!(
                "Lane {lane} did not take the fault within {}s (it may be recovering); try again.",
                REPLY_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}
