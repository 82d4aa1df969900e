//! The HTTP API: OpenAI endpoints, the access guard, and the inspection endpoints.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models` (also without
//! the `/v1` prefix, for base URLs pasted without it), and for tools and tests `GET /api/lanes`,
//! `GET /api/queue`, `GET /api/dry-run/last` and `GET /metrics` (Prometheus, [`crate::metrics`]);
//! the probes `GET /health` and `GET /ready` and the request controls are in `control`; the
//! dashboard (`/` and its routes) is `crate::dashboard`, merged into the same router. Paths
//! are normalised first (`//` collapsed, a
//! trailing `/` dropped), because a base URL typed with a trailing slash makes SillyTavern ask
//! for `/v1//chat/completions`. Every error, also 404, 405, 413 and 415, is in OpenAI's shape.
//! Every request passes [`guard`] first (IP allowlist, `Host`, `Origin`/CORS, API key).
//!
//! Architecture Invariant: `api` is the only module that knows the OpenAI wire format and axum.
//! Lanes emit neutral `StreamEvent`s; `api::sse` turns them into chunks.

mod chat;
mod control;
pub mod dry_run;
pub mod error;
mod faults;
pub mod guard;
pub mod limits;
pub mod sse;
pub mod stats;
pub mod tokens;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::lanes::board::Board;
use crate::models::RoutingTable;
use crate::scheduler::Scheduler;
use error::ApiError;

/// What handlers share.
pub struct AppState {
    /// The configuration and routing table, swapped by a reload; read them per request.
    pub live: Arc<crate::reload::Live>,
    /// `POST /api/config/reload`.
    pub reloader: Arc<crate::gateway::Reloader>,
    pub scheduler: Scheduler,
    pub board: Board,
    /// The last request captured in Dry Run Mode.
    pub dry_run: dry_run::DryRun,
    /// Who may call; built (and the open-bind rule checked) before the port is bound.
    pub guard: Arc<guard::Guard>,
    /// The overhead histogram (`GET /api/stats`).
    pub stats: Arc<stats::Stats>,
    /// The last finished requests, for the dashboard (`crate::dashboard::recent`).
    pub recent: Arc<crate::dashboard::recent::Recent>,
    /// Cancelled when the gateway stops: long-lived streams (the dashboard's events and live
    /// views) end, so the server's graceful stop need not wait for them.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// How many lane live views are open (`crate::dashboard::screencast`).
    pub live_views: Arc<std::sync::atomic::AtomicUsize>,
}

impl AppState {
    /// The configuration now (a reload may swap it between two requests).
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// The routing table now.
    pub fn routing(&self) -> Arc<RoutingTable> {
        self.live.routing()
    }
}

/// The API as a service that normalises paths before routing and gives the guard the client's
/// address.
pub fn app(
    state: Arc<AppState>,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<NormalizedRouter, SocketAddr> {
    use axum::ServiceExt;
    let body_limit = state.config().api.max_body_bytes;
    tokens::warm_up();
    let router = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(chat::completions))
        .route("/v1/models", get(models))
        // A base URL pasted without `/v1` still works (SillyTavern's Connect asks for `/models`).
        .route("/chat/completions", post(chat::chat_completions))
        .route("/completions", post(chat::completions))
        .route("/models", get(models))
        .route("/api/lanes", get(lanes))
        .route("/api/queue", get(queue))
        .route("/api/stats", get(api_stats))
        .route("/metrics", get(metrics))
        .route("/api/dry-run/last", get(dry_run_last))
        .merge(faults::routes())
        .route("/health", get(control::health))
        .route("/ready", get(control::ready))
        .route("/api/requests/{id}/cancel", post(control::cancel_request))
        .route("/api/queue/stop", post(control::stop_running))
        .route("/api/queue/clear", post(control::clear_pending))
        .route("/api/config/reload", post(control::reload))
        .route(
            "/api/lanes/{id}/switch-account",
            post(control::switch_account),
        )
        .merge(crate::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.guard.clone(),
            guard::check,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state);
    tower::util::MapRequest::new(router, normalize_path as fn(Request) -> Request)
        .into_make_service_with_connect_info::<SocketAddr>()
}

/// The router behind the path normalisation.
pub type NormalizedRouter = tower::util::MapRequest<Router, fn(Request) -> Request>;

/// Collapses repeated slashes and drops a trailing one. Also starts the request's clock
/// ([`stats::Arrived`]): this is the outermost layer, the first code a request head meets.
fn normalize_path(mut req: Request) -> Request {
    req.extensions_mut()
        .insert(stats::Arrived(std::time::Instant::now()));
    let path = req.uri().path();
    if !(path.contains("//") || (path.len() > 1 && path.ends_with('/'))) {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty()) {
        clean.push('/');
        clean.push_str(part);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(q) = req.uri().query() {
        clean.push('?');
        clean.push_str(q);
    }
    if let Ok(uri) = clean.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

async fn models(State(app): State<Arc<AppState>>) -> Response {
    let data: Vec<_> = app
        .routing()
        .list()
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

async fn lanes(State(app): State<Arc<AppState>>) -> Response {
    Json(json!({ "lanes": app.board.snapshot() })).into_response()
}

async fn queue(State(app): State<Arc<AppState>>) -> Response {
    match app.scheduler.snapshot().await {
        Ok(snap) => Json(snap).into_response(),
        Err(_) => ApiError::shutting_down().into_response(),
    }
}

async fn api_stats(State(app): State<Arc<AppState>>) -> Response {
    Json(app.stats.to_json()).into_response()
}

/// `GET /metrics`: the classic Prometheus text, or OpenMetrics when the scraper asks for it
/// (Prometheus does, in its `Accept`).
async fn metrics(State(app): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    let queue = app.scheduler.snapshot().await.ok();
    let lanes = app.board.snapshot();
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, kind) = if openmetrics {
        (
            crate::metrics::render_openmetrics(&lanes, queue.as_ref()),
            crate::metrics::OPENMETRICS_CONTENT_TYPE,
        )
    } else {
        (
            crate::metrics::render(&lanes, queue.as_ref()),
            crate::metrics::TEXT_CONTENT_TYPE,
        )
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

async fn dry_run_last(State(app): State<Arc<AppState>>) -> Response {
    if !app.config().api.dry_run {
        return ApiError::not_found("Dry Run Mode is off (set api.dry_run = true).")
            .into_response();
    }
    match app.dry_run.last() {
        Some(capture) => Json(capture).into_response(),
        None => ApiError::not_found("Dry Run Mode has captured no request yet.").into_response(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let allowed = match uri.path() {
        "/v1/models" | "/models" | "/api/lanes" | "/api/queue" | "/api/stats"
        | "/api/dry-run/last" | "/health" | "/ready" | "/metrics" | "/" | "/api/events"
        | "/api/recent" | "/api/config" => "GET",
        _ => "POST",
    };
    let mut e = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("{method} is not allowed on {}; use {allowed}.", uri.path()),
    );
    e.code = Some("method_not_allowed");
    let mut resp = e.into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    resp
}

async fn not_found(method: Method, uri: Uri) -> Response {
    ApiError::not_found(format!(
        "No route for {method} {}. switchyard serves POST /v1/chat/completions, POST \
         /v1/completions and GET /v1/models.",
        uri.path()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        let req = Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn paths_are_normalised_before_routing() {
        assert_eq!(norm("/v1//chat/completions"), "/v1/chat/completions");
        assert_eq!(norm("/v1/models/"), "/v1/models");
        assert_eq!(norm("//v1///models?x=1"), "/v1/models?x=1");
        assert_eq!(norm("/"), "/");
        assert_eq!(norm("/v1/models"), "/v1/models");
    }
}
