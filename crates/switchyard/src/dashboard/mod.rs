//! The web dashboard: the gateway's window, served by the gateway itself at `/`.
//!
//! One server-rendered page (`page.html`) with a little vanilla JavaScript (`app.js`) and a
//! style sheet (`app.css`), all embedded in the binary with `include_str!` (no build step, no
//! CDN). The page fills itself from one Server-Sent Events stream, `GET /api/events`, which
//! sends a snapshot (lanes, queue, recent requests) when it opens and again after every change:
//! it waits on the board's change counter (the scheduler copies its lane table onto the board
//! after every queue change, [`crate::lanes::board::Board::changes`]) and on the recent
//! requests' counter, gathers a burst of changes for [`COALESCE`], and sends one snapshot. It
//! never polls on a timer; a comment every [`EVENTS_KEEPALIVE`] keeps proxies from closing it.
//! Its buttons use the existing request controls (`/api/requests/{id}/cancel`,
//! `/api/queue/stop`, `/api/queue/clear`) and the routes here:
//!
//! - `GET /api/recent`: the last [`recent::RECENT_CAPACITY`] finished requests.
//! - `GET /api/config`, `POST /api/config/preview`, `POST /api/config/apply`: the settings
//!   ([`settings`]).
//! - `GET /api/lanes/{id}/failure` (the bundle's `bundle.json`) and
//!   `GET /api/lanes/{id}/failure/screenshot` (its `screenshot.png`): the lane's last failure
//!   bundle, found through the board, never through a path the caller names.
//! - `GET /api/lanes/{id}/screencast`: the lane's page as a throttled JPEG screencast over SSE
//!   ([`screencast`]).
//! - `POST /dashboard/sign-in` and `/dashboard/sign-out`: with keys on, a person signs in with
//!   a key that may use the admin routes; it is kept in an `HttpOnly`, `SameSite=Strict`
//!   cookie ([`ADMIN_COOKIE`]) that the guard accepts for the admin routes only (SECURITY.md).
//!
//! Every dashboard route is an admin route to the guard ([`is_admin_path`]); without a key a
//! browser asking for the page gets the sign-in form with status 401.
//!
//! Architecture Invariant: the dashboard only reads the board, the queue and the recent
//! requests, and changes things only through the same controls and reload the API offers; it
//! reaches a lane's page only through the lane's screencast handle on the board.

pub mod recent;
pub mod screencast;
pub mod settings;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use bytes::Bytes;
use futures::stream;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::sse;
use crate::ids::LaneId;

/// The cookie that carries a signed-in person's admin key.
pub const ADMIN_COOKIE: &str = "switchyard_admin";
/// How long a burst of changes is gathered into one snapshot.
pub const COALESCE: Duration = Duration::from_millis(100);
/// How long the event stream may be quiet before a comment goes out.
pub const EVENTS_KEEPALIVE: Duration = Duration::from_secs(15);

const PAGE: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");
const SIGN_IN: &str = include_str!("sign_in.html");
const SIGN_IN_CSS: &str = include_str!("sign_in.css");

/// The dashboard's routes, merged into the API's router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(page))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/app.css", get(app_css))
        .route("/dashboard/sign-in", post(sign_in))
        .route("/dashboard/sign-in.css", get(sign_in_css))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/api/events", get(events))
        .route("/api/recent", get(recent_list))
        .route("/api/config", get(config_view))
        .route("/api/config/preview", post(config_preview))
        .route("/api/config/apply", post(config_apply))
        .route("/api/lanes/{id}/failure", get(failure_bundle))
        .route(
            "/api/lanes/{id}/failure/screenshot",
            get(failure_screenshot),
        )
        .route("/api/lanes/{id}/screencast", get(screencast::stream))
}

/// Whether the guard treats `path` as a dashboard (admin) route. `/api/*` is one anyway.
pub fn is_admin_path(path: &str) -> bool {
    path == "/" || (path.starts_with("/dashboard/") && !is_sign_in_path(path))
}

/// The routes that answer without a key: signing in and out.
pub fn is_sign_in_path(path: &str) -> bool {
    matches!(
        path,
        "/dashboard/sign-in" | "/dashboard/sign-in.css" | "/dashboard/sign-out"
    )
}

/// The admin key in the request's [`ADMIN_COOKIE`], if any.
pub fn cookie_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == ADMIN_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether a refused request is a person's browser asking for the page (it gets the sign-in
/// form instead of a JSON error).
pub fn wants_sign_in(path: &str, headers: &HeaderMap) -> bool {
    path == "/"
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// The sign-in form, with `status` and what went wrong.
pub fn sign_in_page(status: StatusCode, message: &str) -> Response {
    let body = SIGN_IN.replace("{{message}}", &html_escape(message));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(h);
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// No framing (the buttons cancel requests), scripts only from the gateway itself. The
/// referrer policy is `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends
/// `Origin: null` with a form post, which the guard refuses.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(h);
    resp
}

async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

async fn sign_in_css() -> Response {
    asset(SIGN_IN_CSS, "text/css; charset=utf-8")
}

#[derive(Deserialize)]
struct SignIn {
    key: String,
}

/// `POST /dashboard/sign-in`: checks the key and keeps it in the admin cookie.
async fn sign_in(State(app): State<Arc<AppState>>, Form(form): Form<SignIn>) -> Response {
    match app.guard.admin_key(form.key.trim()) {
        Err(why) => sign_in_page(StatusCode::UNAUTHORIZED, &why),
        Ok(name) => {
            if let Some(name) = &name {
                info!("Dashboard sign-in with API key: {name}");
            }
            let cookie = format!(
                "{ADMIN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                form.key.trim()
            );
            redirect_home(&cookie)
        }
    }
}

/// `POST /dashboard/sign-out`: forgets the admin cookie.
async fn sign_out() -> Response {
    redirect_home(&format!(
        "{ADMIN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

fn redirect_home(cookie: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    resp
}

/// What the event stream keeps between frames.
struct Events {
    app: Arc<AppState>,
    board: tokio::sync::watch::Receiver<u64>,
    recent: tokio::sync::watch::Receiver<u64>,
    first: bool,
}

/// `GET /api/events`: a snapshot now and after every change, as `event: snapshot` frames.
async fn events(State(app): State<Arc<AppState>>) -> Response {
    let state = Events {
        board: app.board.changes(),
        recent: app.recent.changes(),
        app,
        first: true,
    };
    let body = stream::unfold(state, |mut s| async move {
        if !std::mem::replace(&mut s.first, false) {
            // Which branch wins: a change (then a snapshot follows), a quiet spell (a
            // comment), or the gateway stopping (the stream ends, so shutdown need not wait).
            tokio::select! {
                changed = s.board.changed() => changed.ok()?,
                changed = s.recent.changed() => changed.ok()?,
                () = tokio::time::sleep(EVENTS_KEEPALIVE) => {
                    return Some((Ok::<_, Infallible>(sse::comment("keepalive")), s));
                }
                () = s.app.shutdown.cancelled() => return None,
            }
            tokio::time::sleep(COALESCE).await;
            s.board.mark_unchanged();
            s.recent.mark_unchanged();
        }
        let snapshot = snapshot(&s.app).await?;
        let frame = format!("event: snapshot\ndata: {snapshot}\n\n");
        Some((Ok(Bytes::from(frame)), s))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Lanes, queue and recent requests as one JSON value; `None` once the queue is closed.
async fn snapshot(app: &AppState) -> Option<serde_json::Value> {
    let queue = app.scheduler.snapshot().await.ok()?;
    let config = app.config();
    Some(json!({
        "now": unix_now(),
        "lanes": app.board.snapshot(),
        "queue": { "running": queue.running, "pending": queue.pending },
        "recent": app.recent.list(),
        "screencast": config.dashboard.screencast,
        "live_views": app.live_views.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn recent_list(State(app): State<Arc<AppState>>) -> Response {
    Json(json!({ "recent": app.recent.list() })).into_response()
}

async fn config_view(State(app): State<Arc<AppState>>) -> Response {
    Json(settings::view(&app.reloader)).into_response()
}

#[derive(Deserialize)]
struct Edit {
    text: String,
}

async fn config_preview(State(app): State<Arc<AppState>>, Json(edit): Json<Edit>) -> Response {
    match settings::preview(&app.reloader, &edit.text).await {
        Ok(preview) => Json(json!({ "ok": true, "preview": preview })).into_response(),
        Err(refused) => ApiError::reload_refused(&refused).into_response(),
    }
}

async fn config_apply(State(app): State<Arc<AppState>>, Json(edit): Json<Edit>) -> Response {
    match settings::apply(&app.reloader, &edit.text).await {
        Ok(changes) => {
            info!("Settings applied from the dashboard.");
            // The page's snapshot carries settings too (the live view switch): send it again.
            app.board.touch();
            Json(json!({ "reloaded": true, "changes": changes })).into_response()
        }
        Err(refused) => ApiError::reload_refused(&refused).into_response(),
    }
}

/// The folder of a lane's last failure bundle, from the board.
fn bundle_dir(app: &AppState, id: &str) -> Result<std::path::PathBuf, ApiError> {
    let id = LaneId(id.to_owned());
    let rows = app.board.snapshot();
    let row = rows
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found(format!("No lane {id}; GET /api/lanes lists them.")))?;
    row.last_failure_bundle
        .as_ref()
        .map(std::path::PathBuf::from)
        .ok_or_else(|| ApiError::not_found(format!("Lane {id} has no failure bundle.")))
}

async fn failure_bundle(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let dir = match bundle_dir(&app, &id) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match tokio::fs::read(dir.join("bundle.json")).await {
        Ok(body) => {
            let mut resp = body.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => not_yet(&dir, "bundle.json", &e),
    }
}

async fn failure_screenshot(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let dir = match bundle_dir(&app, &id) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match tokio::fs::read(dir.join("screenshot.png")).await {
        Ok(png) => {
            let mut resp = png.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => not_yet(&dir, "screenshot.png", &e),
    }
}

/// A bundle file that is missing: still being written, pruned, or never made.
fn not_yet(dir: &std::path::Path, file: &str, e: &std::io::Error) -> Response {
    warn!(
        "The failure bundle {} has no {file} ({e}); it may still be being written, or was \
         pruned ([failures] keep).",
        dir.display()
    );
    ApiError::not_found(format!(
        "The failure bundle {} has no {file} ({e}).",
        dir.display()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; switchyard_admin=sy-abc ; b=2"),
        );
        assert_eq!(cookie_key(&h), Some("sy-abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("switchyard_admin="),
        );
        assert_eq!(cookie_key(&h), None);
        assert_eq!(cookie_key(&HeaderMap::new()), None);
    }

    #[test]
    fn dashboard_paths_are_admin_but_signing_in_is_open() {
        assert!(is_admin_path("/"));
        assert!(is_admin_path("/dashboard/app.js"));
        assert!(!is_admin_path("/dashboard/sign-in"));
        assert!(is_sign_in_path("/dashboard/sign-out"));
        assert!(!is_admin_path("/v1/models"));
    }
}
