//! `GET /api/lanes/{id}/screencast`: a lane's page as a live view, relayed over SSE.
//!
//! Each frame is one `event: frame` whose data is the JPEG in base64 (the page shows it as a
//! `data:` image). The screencast itself is [`crate::browser::Screencast`] (throttled in the
//! page task); it stops when this stream is dropped, that is when the viewer closes the view
//! or its connection goes. The view is off by setting (`dashboard.screencast = false`) and
//! under load: it is refused while the lane runs a request or requests wait in the queue, and
//! a running view ends with an `event: stopped` saying why as soon as either happens. It also
//! ends when the gateway stops or the lane's page goes away.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use futures::stream;
use serde_json::json;
use tracing::info;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::browser::Screencast;
use crate::ids::LaneId;
use crate::lanes::board::LaneState;

/// Why the live view cannot run now, if it cannot.
async fn under_load(app: &AppState, id: &LaneId) -> Option<String> {
    let busy = app
        .board
        .snapshot()
        .iter()
        .any(|r| &r.id == id && r.state == LaneState::Busy);
    if busy {
        return Some(format!(
            "Lane {id} is running a request; the live view is off under load (it opens again \
             once the lane is free)."
        ));
    }
    match app.scheduler.snapshot().await {
        Ok(q) if !q.pending.is_empty() => Some(format!(
            "{} request(s) are waiting in the queue; the live view is off under load.",
            q.pending.len()
        )),
        Ok(_) => None,
        Err(_) => Some("switchyard is shutting down.".to_owned()),
    }
}

fn refused(code: &'static str, message: String) -> Response {
    let mut e = ApiError::new(StatusCode::CONFLICT, "invalid_request_error", message);
    e.code = Some(code);
    e.into_response()
}

/// What the relay keeps between frames. Dropped when the viewer goes (hyper drops the body):
/// its [`Screencast`] then stops the screencast in the page.
struct Relay {
    app: Arc<AppState>,
    id: LaneId,
    cast: Screencast,
    board: tokio::sync::watch::Receiver<u64>,
    over: bool,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.app.live_views.fetch_sub(1, Ordering::Relaxed);
        info!(lane = %self.id, "Live view closed; its screencast stops.");
        // The dashboard shows how many live views are open.
        self.app.board.touch();
    }
}

/// `GET /api/lanes/{id}/screencast`.
pub async fn stream(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let id = LaneId(id);
    if !app.config().dashboard.screencast {
        return refused(
            "screencast_off",
            "The live view is off (dashboard.screencast = false); set it to true and reload."
                .to_owned(),
        );
    }
    if !app.board.snapshot().iter().any(|r| r.id == id) {
        return ApiError::not_found(format!("No lane {id}; GET /api/lanes lists them."))
            .into_response();
    }
    let Some(screen) = app.board.screen(&id) else {
        return refused(
            "no_page",
            format!("Lane {id} has no page to show (a dummy lane, or it is not up yet)."),
        );
    };
    if let Some(why) = under_load(&app, &id).await {
        return refused("screencast_under_load", why);
    }
    let cast = match screen.start().await {
        Ok(c) => c,
        Err(e) => {
            return refused(
                "screencast_failed",
                format!("The live view of lane {id} could not start: {e}"),
            );
        }
    };
    info!(lane = %id, "Live view opened from the dashboard.");
    app.live_views.fetch_add(1, Ordering::Relaxed);
    app.board.touch();
    let relay = Relay {
        board: app.board.changes(),
        app,
        id,
        cast,
        over: false,
    };
    let body = stream::unfold(relay, |mut r| async move {
        if r.over {
            return None;
        }
        loop {
            // Which branch wins: a frame (sent), a board change (the view ends if the lane
            // got busy or requests queue up), the gateway stopping, or the page gone.
            tokio::select! {
                frame = r.cast.next() => {
                    let Some(jpeg) = frame else {
                        r.over = true;
                        let data = json!({"reason": "the lane's page went away"});
                        return Some((Ok::<_, Infallible>(event("stopped", &data.to_string())), r));
                    };
                    let b64 = base64::engine::general_purpose::STANDARD.encode(jpeg);
                    return Some((Ok(event("frame", &b64)), r));
                }
                changed = r.board.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    if let Some(why) = under_load(&r.app, &r.id).await {
                        r.over = true;
                        let data = json!({"reason": why});
                        return Some((Ok(event("stopped", &data.to_string())), r));
                    }
                }
                () = r.app.shutdown.cancelled() => return None,
            }
        }
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

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
