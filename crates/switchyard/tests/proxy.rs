//! The per-provider proxy (`providers.<p>.proxy`), on real Chromium against the replicas: a
//! small forwarding proxy on loopback counts what it forwarded; a MiMo lane with the proxy set
//! sends the site's page and stream requests through it (tee and replay capture; tee also with
//! a user and password), and a GLM lane without a proxy never touches it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use common::Harness;
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MIMO: ProviderKind = ProviderKind::Mimo;
const GLM: ProviderKind = ProviderKind::Glm;

/// A forwarding HTTP proxy: one request per client connection (absolute-form requests, and
/// CONNECT tunnels), optionally demanding Basic credentials (407 otherwise). Records
/// `METHOD URL` of everything it forwarded, and the requests it refused.
struct TestProxy {
    port: u16,
    forwarded: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<u32>>,
}

impl TestProxy {
    async fn start(credentials: Option<&str>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let expected = credentials.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
        let (log, no) = (forwarded.clone(), refused.clone());
        switchyard::tasks::spawn("test-proxy", async move {
            while let Ok((client, _)) = listener.accept().await {
                let (log, no, expected) = (log.clone(), no.clone(), expected.clone());
                switchyard::tasks::spawn("test-proxy-conn", async move {
                    let _ = serve(client, log, no, expected).await;
                });
            }
        });
        TestProxy {
            port,
            forwarded,
            refused,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.forwarded.lock().unwrap().clone()
    }
}

async fn serve(
    client: TcpStream,
    log: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<u32>>,
    expected: Option<String>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut line = String::new();
    client.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    let mut authorized = expected.is_none();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        client.read_line(&mut h).await?;
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "proxy-authorization" => {
                let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
                authorized |= scheme.eq_ignore_ascii_case("basic")
                    && expected.as_deref() == Some(token.trim());
            }
            "proxy-connection" | "connection" | "keep-alive" => {}
            "content-length" => {
                length = value.parse().unwrap_or(0);
                headers.push(h.clone());
            }
            _ => headers.push(h.clone()),
        }
    }
    if !authorized {
        *refused.lock().unwrap() += 1;
        client
            .get_mut()
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\
                  Connection: close\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    log.lock().unwrap().push(format!("{method} {target}"));
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(&target).await?;
        client
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path → origin form to host:port, one request.
    let rest = target.strip_prefix("http://").unwrap_or(&target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut upstream = TcpStream::connect(authority).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).await?;
    let mut body = vec![0; length];
    client.read_exact(&mut body).await?;
    upstream.write_all(&body).await?;
    // The answer streams back until the site closes; then this connection closes too.
    let mut client = client.into_inner();
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await?;
    Ok(())
}

/// Runs one MiMo request through the proxy (with `capture`) next to a GLM lane without one,
/// and checks what the proxy saw.
async fn mimo_goes_through_the_proxy(capture: &str, credentials: Option<&str>, isolation: &str) {
    let proxy = TestProxy::start(credentials).await;
    let url = match credentials {
        Some(c) => format!("http://{c}@127.0.0.1:{}", proxy.port),
        None => format!("http://127.0.0.1:{}", proxy.port),
    };
    let captures = common::TempDir::new("proxy-captures");
    let config = format!(
        "[runtime]\nproviders_in_parallel = true\nmode = \"concurrent_provider_lanes\"\n\
         [providers.mimo]\ncapture = \"{capture}\"\nproxy = \"{url}\"\n\
         [capture]\ndir = \"{}\"\n[browser]\nisolation = \"{isolation}\"\n",
        captures.0.display()
    );
    let h = Harness::start(&[MIMO, GLM], Knobs::default(), &config).await;
    let mimo = h.replica(MIMO).base_url();
    let glm = h.replica(GLM).base_url();

    let (status, body) = h.chat("mimo-chat", "through the proxy").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("through the proxy"),
        "{body}"
    );
    let (status, body) = h.chat("glm-chat", "not through the proxy").await;
    assert_eq!(status, 200, "{body}");

    let seen = proxy.seen();
    let mimo_seen: Vec<&String> = seen.iter().filter(|s| s.contains(mimo.as_str())).collect();
    assert!(
        mimo_seen.iter().any(|s| s.starts_with("GET ")),
        "the proxy saw the site's page: {seen:#?}"
    );
    assert!(
        mimo_seen
            .iter()
            .any(|s| s.starts_with("POST ") && s.contains("/open-apis/bot/chat")),
        "the proxy saw the site's stream request ({capture}): {seen:#?}"
    );
    assert!(
        !seen.iter().any(|s| s.contains(glm.as_str())),
        "the GLM lane has no proxy and bypasses it: {seen:#?}"
    );
    if credentials.is_some() {
        // Chromium asks without credentials first; the 407 is answered with them (the
        // forwarded requests above all carried them).
        assert!(*proxy.refused.lock().unwrap() >= 1);
        let lanes = h.get_json("/api/lanes").await.to_string();
        assert!(
            !lanes.contains("hunter2"),
            "no password on /api/lanes: {lanes}"
        );
    } else {
        assert_eq!(*proxy.refused.lock().unwrap(), 0);
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mimo_lane_with_a_proxy_sends_the_page_and_the_teed_stream_through_it() {
    mimo_goes_through_the_proxy("tee", None, "context").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_isolation_the_lanes_own_browser_goes_through_the_proxy() {
    mimo_goes_through_the_proxy("replay", None, "process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mimo_lane_with_a_proxy_sends_the_replayed_stream_through_it() {
    mimo_goes_through_the_proxy("replay", None, "context").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_with_a_user_and_password_is_signed_in_to() {
    // Tee only: config refuses replay with such a proxy (a unit test in `config`).
    mimo_goes_through_the_proxy("tee", Some("lane:hunter2"), "context").await;
}
