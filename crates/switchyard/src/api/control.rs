//! Probes and the request controls, outside the OpenAI API.
//!
//! - `GET /health`: the process is up and serving (always 200 while it answers at all).
//! - `GET /ready`: at least one lane of every configured provider can take a request (its
//!   state is `ready` or `busy`); otherwise 503 with the providers that cannot. systemd,
//!   Docker and Kubernetes probes use these two.
//! - `POST /api/requests/{id}/cancel`: a queued request is removed, a running one stopped in
//!   the page; its client gets `Request <id> cancelled from UI.` as an error event. 404 for an
//!   id that is neither queued nor running.
//! - `POST /api/queue/stop`: every running request is stopped (`Request aborted from UI.`).
//! - `POST /api/queue/clear`: every pending request is removed (`Request queue cleared from UI.`).
//! - `POST /api/config/reload`: reads the config file again and applies the difference (the
//!   same as SIGHUP; see `crate::reload`): 200 with what changed, 400 for a file with an error,
//!   409 for a change only a restart can apply. Either refusal changes nothing.
//! - `POST /api/lanes/{id}/switch-account`: Switch Account by hand (the rotation of
//!   `accounts.retry_with_another_account`): the idle lane moves to a spare saved account no
//!   other lane holds and restarts on it; 200 with the new account, 409 when the lane is busy
//!   or no spare account exists (the lane keeps its account), 404 for an unknown lane.
//!
//! Request ids are the `x-request-id` header of every answer and the `id`s of `/api/queue`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::ids::RequestId;
use crate::lanes::board::{LaneRecord, LaneState};
use crate::scheduler::{ControlOutcome, messages};

/// `GET /health`: the process is up.
pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /ready`: every configured provider has a lane that can serve.
pub async fn ready(State(app): State<Arc<AppState>>) -> Response {
    if app.config().api.dry_run {
        // No lane starts in Dry Run Mode; every request is answered at once.
        return Json(json!({"status": "ready", "dry_run": true, "providers": []})).into_response();
    }
    let (providers, not_ready) = readiness(&app.board.snapshot());
    if not_ready.is_empty() {
        Json(json!({"status": "ready", "providers": providers})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "not_ready": not_ready, "providers": providers})),
        )
            .into_response()
    }
}

/// `POST /api/requests/{id}/cancel`.
pub async fn cancel_request(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let id = RequestId(id);
    match app.scheduler.cancel_from_ui(id.clone()).await {
        Err(_) => ApiError::shutting_down().into_response(),
        Ok(ControlOutcome::NotFound) => ApiError::not_found(format!(
            "No request {id} is queued or running; GET /api/queue lists the ids."
        ))
        .into_response(),
        Ok(outcome) => Json(json!({"id": id, "result": outcome})).into_response(),
    }
}

/// `POST /api/queue/stop`.
pub async fn stop_running(State(app): State<Arc<AppState>>) -> Response {
    match app.scheduler.stop_running(messages::ABORTED_FROM_UI).await {
        Ok(ids) => Json(json!({"stopped": ids})).into_response(),
        Err(_) => ApiError::shutting_down().into_response(),
    }
}

/// `POST /api/queue/clear`.
pub async fn clear_pending(State(app): State<Arc<AppState>>) -> Response {
    match app.scheduler.clear_pending(messages::QUEUE_CLEARED).await {
        Ok(ids) => Json(json!({"cleared": ids})).into_response(),
        Err(_) => ApiError::shutting_down().into_response(),
    }
}

/// `POST /api/config/reload`.
pub async fn reload(State(app): State<Arc<AppState>>) -> Response {
    match app.reloader.reload().await {
        Ok(changes) => Json(json!({"reloaded": true, "changes": changes})).into_response(),
        Err(refused) => ApiError::reload_refused(&refused).into_response(),
    }
}

/// Per provider (in board order): its lanes and how many can serve; and the providers with
/// none that can.
fn readiness(rows: &[LaneRecord]) -> (Vec<serde_json::Value>, Vec<&'static str>) {
    let mut order: Vec<&'static str> = Vec::new();
    let mut counts: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    // A lane a reload removed is no longer configured; it does not count either way.
    for row in rows
        .iter()
        .filter(|r| !matches!(r.state, LaneState::Stopping(_)))
    {
        if !order.contains(&row.provider) {
            order.push(row.provider);
        }
        let entry = counts.entry(row.provider).or_default();
        entry.0 += 1;
        if serving(&row.state) {
            entry.1 += 1;
        }
    }
    let mut providers = Vec::new();
    let mut not_ready = Vec::new();
    for provider in order {
        let (lanes, ready) = counts.get(provider).copied().unwrap_or_default();
        if ready == 0 {
            not_ready.push(provider);
        }
        providers.push(json!({"provider": provider, "lanes": lanes, "ready_lanes": ready}));
    }
    (providers, not_ready)
}

/// A lane that takes requests: idle and ready, or serving one.
fn serving(state: &LaneState) -> bool {
    matches!(state, LaneState::Ready | LaneState::Busy)
}

/// How long a lane may take to switch its account (a restart and a sign-in).
const SWITCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `POST /api/lanes/{id}/switch-account`.
pub async fn switch_account(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    use crate::lanes::supervisor::{Control, Fault};
    let lane = crate::ids::LaneId(id);
    let Some(channel) = app.board.control(&lane) else {
        return ApiError::not_found(format!(
            "No running lane {lane}. GET /api/lanes lists the lanes."
        ))
        .into_response();
    };
    let conflict = |message: String| {
        ApiError::new(StatusCode::CONFLICT, "invalid_request_error", message).into_response()
    };
    let (reply, rx) = tokio::sync::oneshot::channel();
    let control = Control {
        fault: Fault::SwitchAccount,
        reply,
    };
    if channel.send(control).await.is_err() {
        return conflict(format!(
            "Lane {lane} is not running (shutting down or offline); nothing was done."
        ));
    }
    match tokio::time::timeout(SWITCH_TIMEOUT, rx).await {
        Ok(Ok(Ok(email))) => {
            tracing::info!(lane = %lane, "Switch Account: {lane} now holds {email}");
            Json(json!({"lane": lane.0, "account": email})).into_response()
        }
        Ok(Ok(Err(e))) => conflict(format!("Could not switch the account of {lane}: {e}")),
        Ok(Err(_)) => conflict(format!("Lane {lane} stopped before it switched accounts.")),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!(
                "Lane {lane} did not switch within {}s (it may be busy or recovering); try again.",
                SWITCH_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LaneId;

    fn row(id: &str, provider: &'static str, state: LaneState) -> LaneRecord {
        LaneRecord::new(LaneId(id.to_owned()), id.to_owned(), provider, state)
    }

    #[test]
    fn a_provider_is_ready_with_one_lane_ready_or_busy() {
        let rows = [
            row("deepseek:1", "deepseek", LaneState::Busy),
            row("deepseek:2", "deepseek", LaneState::Offline("gone".into())),
            row("glm_chat:1", "glm", LaneState::Starting),
            row(
                "glm_chat:2",
                "glm",
                LaneState::Recovering("the page crashed".into()),
            ),
        ];
        let (providers, not_ready) = readiness(&rows);
        assert_eq!(not_ready, vec!["glm"]);
        assert_eq!(
            providers[0],
            json!({"provider": "deepseek", "lanes": 2, "ready_lanes": 1})
        );
        assert_eq!(
            providers[1],
            json!({"provider": "glm", "lanes": 2, "ready_lanes": 0})
        );
        let rows = [row("glm_chat:1", "glm", LaneState::Ready)];
        assert!(readiness(&rows).1.is_empty());
        // A provider a reload removed, its lane still stopping, is not waited for.
        let rows = [
            row("glm_chat:1", "glm", LaneState::Ready),
            row(
                "deepseek:1",
                "deepseek",
                LaneState::Stopping("removed".into()),
            ),
        ];
        let (providers, not_ready) = readiness(&rows);
        assert!(not_ready.is_empty());
        assert_eq!(providers.len(), 1);
    }
}
