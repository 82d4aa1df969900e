//! Replay capture: the page's completion request is paused in Chromium and sent by switchyard.
//!
//! With `capture = "replay"` the page task enables the Fetch domain for the provider's
//! endpoint paths. The armed request is paused before it leaves the browser; this module copies
//! its method, URL, headers (with any one-time tokens the page computed, such as a
//! proof-of-work answer), body and the context's cookies, sends it itself and reads the response
//! directly, chunk by chunk. When the response ends, the paused request is *fulfilled* with the
//! whole body, so the page shows the answer as if it had fetched it (without live rendering). If
//! the lane stops the request, the replay future is dropped with it: the upstream connection
//! closes and the page task fails the paused request as aborted. Every CDP call (cookies,
//! fulfil, fail) goes through the page task.
//!
//! This is the reference tool's default capture for the sites it can replay. It skips the CDP
//! hop for every chunk, which is the floor of the tee capture's latency; the price is that the request
//! leaves from switchyard's HTTP client rather than from Chromium's network stack.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use chromiumoxide::cdp::browser_protocol::fetch::{
    EventRequestPaused, FailRequestParams, FulfillRequestParams, HeaderEntry, RequestId,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, GetCookiesParams};
use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::BrowserError;
use super::capture::CaptureEvent;
use super::tab::{Command, PageHandle, await_reply, call};
use crate::config::ProxyUrl;

/// Headers never copied from the page's request: the client sets them itself, and the body is
/// asked for uncompressed so every chunk can be decoded the moment it arrives.
const SKIPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "cookie",
];
/// Headers never passed back to the page: the fulfilled body is whole and uncompressed.
const SKIPPED_RESPONSE_HEADERS: &[&str] = &[
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// The HTTP client of the replays: one per proxy (each holds its connection pool and TLS
/// roots), built once. A lane with `providers.<p>.proxy` sends its replayed request through the
/// same proxy its browser context uses, so the site sees one address either way.
pub(super) fn client(proxy: Option<&ProxyUrl>) -> Result<reqwest::Client, String> {
    static CLIENTS: OnceLock<Mutex<HashMap<Option<String>, reqwest::Client>>> = OnceLock::new();
    let key = proxy.map(|p| p.with_credentials().to_owned());
    let mut clients = CLIENTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.get(&key) {
        return Ok(client.clone());
    }
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
    builder = match proxy {
        // `Proxy::all` takes the credentials from the URL (Basic for http(s), the SOCKS5
        // user/password method for socks5) and never logs them; its errors are worded here
        // without the URL.
        Some(p) => builder.proxy(
            reqwest::Proxy::all(p.with_credentials())
                .map_err(|_| format!("cannot use the proxy {p} for the replay capture"))?,
        ),
        None => builder.no_proxy(),
    };
    let client = builder
        .build()
        .map_err(|e| format!("cannot build the replay HTTP client: {}", e.without_url()))?;
    clients.insert(key, client.clone());
    Ok(client)
}

/// Answers the paused request through the page task (which then knows it is answered).
async fn resolve<C>(
    page: &PageHandle,
    what: &str,
    cdp_timeout: Duration,
    request: RequestId,
    params: C,
) -> Result<(), BrowserError>
where
    C: chromiumoxide::Command + Send + 'static,
    C::Response: Send + 'static,
{
    let (call, reply) = call(what, cdp_timeout, params);
    if !page.send(Command::Resolve { call, request }) {
        return Err(BrowserError::Cdp {
            what: what.to_owned(),
            cause: "the page is closed".to_owned(),
        });
    }
    await_reply(what, cdp_timeout, reply).await.map(|_| ())
}

/// Sends a paused request from switchyard and relays its response; see the module docs.
///
/// This is a future owned by the request's capture stream, not a task: dropping it (the request
/// ended, was stopped, or the lane crashed) drops the upstream connection, and the page task
/// fails the paused request.
pub(super) async fn run(
    client: reqwest::Client,
    page: PageHandle,
    cdp_timeout: Duration,
    paused: EventRequestPaused,
    events: mpsc::UnboundedSender<CaptureEvent>,
) {
    let send = |e| {
        let _ = events.send(e);
    };
    let fail = |reason: ErrorReason| {
        let page = page.clone();
        let id = paused.request_id.clone();
        async move {
            let params = FailRequestParams::new(id.clone(), reason);
            if let Err(e) = resolve(&page, "Fetch.failRequest", cdp_timeout, id, params).await {
                debug!(cause = %e, "could not fail the paused request");
            }
        }
    };

    let request = match build(&client, &page, cdp_timeout, &paused).await {
        Ok((r, sent_headers)) => {
            send(CaptureEvent::Sent {
                url: paused.request.url.clone(),
                headers: sent_headers,
            });
            r
        }
        Err(e) => {
            warn!(cause = %e, "could not replay the captured request");
            fail(ErrorReason::Failed).await;
            send(CaptureEvent::Failed {
                error: e,
                canceled: false,
            });
            return;
        }
    };
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            fail(ErrorReason::ConnectionFailed).await;
            send(CaptureEvent::Failed {
                error: format!("the replayed request failed: {e}"),
                canceled: false,
            });
            return;
        }
    };
    let status = i64::from(response.status().as_u16());
    let all_headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let headers: Vec<HeaderEntry> = response
        .headers()
        .iter()
        .filter(|(name, _)| !SKIPPED_RESPONSE_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| HeaderEntry::new(name.as_str(), v))
        })
        .collect();
    send(CaptureEvent::Response {
        status,
        headers: all_headers,
    });

    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                body.extend_from_slice(&bytes);
                send(CaptureEvent::Data(bytes.to_vec()));
            }
            Err(e) => {
                fail(ErrorReason::ConnectionReset).await;
                send(CaptureEvent::Failed {
                    error: format!("the replayed response broke off: {e}"),
                    canceled: false,
                });
                return;
            }
        }
    }
    // The page gets the whole answer, so its own state (chat list, buttons) stays right.
    let fulfil = FulfillRequestParams::builder()
        .request_id(paused.request_id.clone())
        .response_code(status)
        .response_headers(headers)
        .body(base64::engine::general_purpose::STANDARD.encode(&body))
        .build();
    match fulfil {
        Ok(params) => {
            let id = paused.request_id.clone();
            if let Err(e) = resolve(&page, "Fetch.fulfillRequest", cdp_timeout, id, params).await {
                debug!(cause = %e, "the page no longer waited for the replayed response");
            }
        }
        Err(e) => debug!(cause = %e, "could not build Fetch.fulfillRequest"),
    }
    send(CaptureEvent::Finished);
}

/// The page's request as a client request: method, URL, headers, body and cookies; with the
/// headers it carries (for the capture file, which redacts them).
async fn build(
    client: &reqwest::Client,
    page: &PageHandle,
    cdp_timeout: Duration,
    paused: &EventRequestPaused,
) -> Result<(reqwest::RequestBuilder, Vec<(String, String)>), String> {
    let req = &paused.request;
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("unusable method {}", req.method))?;
    let mut builder = client.request(method, &req.url);
    let mut sent = Vec::new();
    if let Some(headers) = req.headers.inner().as_object() {
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if SKIPPED_REQUEST_HEADERS.contains(&lower.as_str()) {
                continue;
            }
            if let Some(value) = value.as_str() {
                builder = builder.header(name.as_str(), value);
                sent.push((name.clone(), value.to_owned()));
            }
        }
    }
    builder = builder.header("accept-encoding", "identity");
    sent.push(("accept-encoding".to_owned(), "identity".to_owned()));
    let cookies = page
        .exec(
            "Network.getCookies",
            cdp_timeout,
            GetCookiesParams::builder()
                .urls(vec![req.url.clone()])
                .build(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let cookie = cookies
        .cookies
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ");
    if !cookie.is_empty() {
        builder = builder.header("cookie", cookie.as_str());
        sent.push(("cookie".to_owned(), cookie));
    }
    let mut body = Vec::new();
    for entry in req.post_data_entries.iter().flatten() {
        if let Some(bytes) = &entry.bytes {
            let part = base64::engine::general_purpose::STANDARD
                .decode(AsRef::<str>::as_ref(bytes))
                .map_err(|e| format!("unreadable request body: {e}"))?;
            body.extend_from_slice(&part);
        }
    }
    if req.has_post_data == Some(true) && body.is_empty() {
        return Err("the page's request body was not available to replay".to_owned());
    }
    Ok((builder.body(body), sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_client_builds_with_tls() {
        assert!(client(None).is_ok());
        let bad = |k: &str, m: String| crate::config::ConfigError(format!("{k}: {m}"));
        let proxy = ProxyUrl::parse("socks5://127.0.0.1:1080", "k", &bad).unwrap();
        assert!(client(Some(&proxy)).is_ok());
    }
}
