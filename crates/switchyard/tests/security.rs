//! Locked down by default, seen from outside: API keys, the IP allowlist, the `Origin` and `Host`
//! checks, and the refusal to serve a LAN address unprotected. Real gateways on port 0 (real
//! lanes where a test must show that a refused request reached none), and the binary itself for
//! start-up and `switchyard keys`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{DEADLINE, Harness, TempDir};
use serde_json::{Value, json};
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-security-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn chat_body(content: &str) -> Value {
    json!({"model": "deepseek-chat", "messages": [{"role": "user", "content": content}]})
}

/// The completion requests a replica received (page loads are not logged).
fn completions(h: &Harness) -> usize {
    h.replica(ProviderKind::DeepSeek).requests().len()
}

/// Sends one raw HTTP/1.1 request with exactly these headers and returns status and body.
async fn raw(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn error_of(body: &Value) -> (&str, &str) {
    (
        body["error"]["message"].as_str().unwrap_or_default(),
        body["error"]["code"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn no_key_wrong_key_and_right_key() {
    let dir = temp_dir("keys");
    let keys_file = dir.0.join("keys.toml");
    let laptop = switchyard::keys::add(&keys_file, "laptop", false).unwrap();
    let ops = switchyard::keys::add(&keys_file, "ops", true).unwrap();
    let h = Harness::single(
        ProviderKind::DeepSeek,
        Knobs::default(),
        &format!(
            "[auth]\nkeys_file = \"{}\"\nadmin_routes = \"admin_keys\"\n",
            keys_file.display()
        ),
    )
    .await;
    let post = |auth: Option<(&'static str, String)>| {
        let mut req = h
            .client
            .post(h.url("/v1/chat/completions"))
            .json(&chat_body("Hi"));
        if let Some((name, value)) = auth {
            req = req.header(name, value);
        }
        req.send()
    };

    for (auth, message, code) in [
        (None, "Missing API key", "missing_api_key"),
        (
            Some(("authorization", "Bearer ".to_owned())),
            "Missing API key",
            "missing_api_key",
        ),
        (
            Some(("authorization", "Basic bGFwdG9w".to_owned())),
            "Missing API key",
            "missing_api_key",
        ),
        (
            Some(("authorization", format!("Bearer {laptop}x"))),
            "Invalid API key",
            "invalid_api_key",
        ),
        (
            Some(("x-api-key", "sy-guess".to_owned())),
            "Invalid API key",
            "invalid_api_key",
        ),
    ] {
        let resp = post(auth.clone()).await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_of(&body), (message, code), "{auth:?}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    assert_eq!(completions(&h), 0, "no refused request reached the site");

    for auth in [
        ("authorization", format!("Bearer {laptop}")),
        ("authorization", format!("bearer {laptop}")),
        ("x-api-key", laptop.clone()),
    ] {
        let resp = post(Some(auth.clone())).await.unwrap();
        assert_eq!(resp.status(), 200, "{auth:?}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            !body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(completions(&h), 3);

    // /api/* asks for an admin key here; /v1/models takes any key.
    let get = |path: &str, key: &str| h.client.get(h.url(path)).bearer_auth(key.to_owned()).send();
    let resp = get("/api/queue", &laptop).await.unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_of(&body).1, "admin_key_required", "{body}");
    assert_eq!(get("/api/queue", &ops).await.unwrap().status(), 200);
    assert_eq!(get("/v1/models", &laptop).await.unwrap().status(), 200);
    let unauth = h.client.get(h.url("/api/lanes")).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    let control = h
        .client
        .post(h.url("/api/queue/clear"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        control.status(),
        401,
        "the request controls are guarded too"
    );
    // Probes need no key.
    for probe in ["/health", "/ready"] {
        let resp = h.client.get(h.url(probe)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{probe}");
    }

    // The key's name shows in /api/queue while its request runs.
    let slow = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(laptop.clone())
        .json(
            &json!({"model": "deepseek-chat", "stream": true, "messages": [
            {"role": "user", "content": "replica:chunks=400 replica:delay_ms=50 long"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let queue: Value = get("/api/queue", &ops).await.unwrap().json().await.unwrap();
        if queue["running"][0]["key_name"] == "laptop" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the running request never showed its key: {queue:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(slow);

    // A key added while the gateway runs is taken at once; a removed one is refused at once.
    let late = switchyard::keys::add(&keys_file, "late", false).unwrap();
    assert_eq!(get("/v1/models", &late).await.unwrap().status(), 200);
    switchyard::keys::remove(&keys_file, "laptop").unwrap();
    assert_eq!(get("/v1/models", &laptop).await.unwrap().status(), 401);
    h.shutdown().await;
}

#[tokio::test]
async fn foreign_pages_and_rebinding_hosts_are_refused_before_any_lane() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::default(), "").await;
    let port = h.gateway.addr.port();

    // With keys off, SillyTavern's empty bearer and any other bearer pass.
    for auth in ["Bearer ", "Bearer anything"] {
        let resp = h
            .client
            .get(h.url("/v1/models"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{auth}");
    }

    // A page at another origin: the no-preflight text/plain post, a JSON post and a preflight.
    let body = chat_body("from a web page").to_string();
    for content_type in ["text/plain", "application/json"] {
        let resp = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("origin", "http://evil.example")
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{content_type}");
        assert!(resp.headers().get("access-control-allow-origin").is_none());
        let err: Value = resp.json().await.unwrap();
        assert_eq!(error_of(&err).1, "origin_not_allowed", "{err}");
        assert!(error_of(&err).0.contains("api.cors_origins"), "{err}");
    }
    let pre = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 403);
    assert!(pre.headers().get("access-control-allow-origin").is_none());

    // A page behind a rebinding DNS name reaches the port with its own name as Host.
    let (status, text) = raw(
        &h.base,
        "GET",
        "/v1/models",
        &[("Host", &format!("rebind.evil.example:{port}"))],
    )
    .await;
    assert_eq!(status, 421, "{text}");
    let err: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error_of(&err).1, "host_not_allowed", "{err}");
    let (status, _) = raw(
        &h.base,
        "GET",
        "/v1/models",
        &[("Host", &format!("localhost:{port}"))],
    )
    .await;
    assert_eq!(status, 200);

    assert_eq!(
        completions(&h),
        0,
        "the replica's log stays empty: no refused request reached a lane"
    );
    // The same request without the foreign Origin does reach the site, so the count above
    // could have been non-zero.
    let (status, _) = h.chat("deepseek-chat", "from curl").await;
    assert_eq!(status, 200);
    assert_eq!(completions(&h), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn allowed_origins_get_their_own_origin_back_and_star_only_when_written() {
    let h = Harness::single(
        ProviderKind::DeepSeek,
        Knobs::default(),
        "[api]\ndry_run = true\ncors_origins = [\"http://localhost:8000\"]\n",
    )
    .await;
    let pre = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 200);
    let headers = pre.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:8000"
    );
    assert_eq!(headers["vary"], "Origin");
    assert_eq!(
        headers["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type, authorization"
    );
    let bad_method = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/models"))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_method.status(), 400);
    assert_eq!(bad_method.text().await.unwrap(), "Disallowed CORS method");

    let got = h
        .client
        .get(h.url("/v1/models"))
        .header("origin", "http://localhost:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["access-control-allow-origin"],
        "http://localhost:8000"
    );
    let other = h
        .client
        .get(h.url("/v1/models"))
        .header("origin", "http://localhost:8001")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    h.shutdown().await;

    let star = Harness::single(
        ProviderKind::DeepSeek,
        Knobs::default(),
        "[api]\ndry_run = true\ncors_origins = [\"*\"]\n",
    )
    .await;
    let got = star
        .client
        .get(star.url("/v1/models"))
        .header("origin", "http://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["access-control-allow-origin"], "*");
    star.shutdown().await;
}

#[tokio::test]
async fn the_ip_allowlist_refuses_unlisted_clients_and_loopback_matches_loopback() {
    for (list, status) in [
        ("[\"10.0.0.0/8\", \"192.168.1.20\"]", 403),
        ("[\"::1\"]", 200),
        ("[\"::ffff:127.0.0.1\"]", 200),
        ("[\"127.0.0.0/8\"]", 200),
    ] {
        let h = Harness::single(
            ProviderKind::DeepSeek,
            Knobs::default(),
            &format!("[api]\ndry_run = true\n[server]\nip_allowlist = {list}\n"),
        )
        .await;
        let resp = h.client.get(h.url("/v1/models")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{list}");
        if status == 403 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(error_of(&body), ("Client IP not allowed", "ip_not_allowed"));
        }
        h.shutdown().await;
    }
}

// === the binary ===

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("switchyard.toml");
    std::fs::write(
        &path,
        format!("data_dir = \"{}\"\n{text}", dir.join("data").display()),
    )
    .unwrap();
    path
}

#[test]
fn a_lan_address_without_protection_refuses_to_start() {
    let dir = temp_dir("open");
    let config = write_config(&dir.0, "[server]\nhost = \"0.0.0.0\"\nport = 0\n");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.host = 0.0.0.0 lets other machines reach the gateway"),
        "{err}"
    );
    assert!(
        err.contains("switchyard keys add NAME") && err.contains("server.allow_open = true"),
        "{err}"
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!log.contains("Chromium started"), "nothing started: {log}");
}

#[test]
fn allow_open_serves_a_lan_address_with_a_loud_warning() {
    let dir = temp_dir("allow-open");
    let config = write_config(
        &dir.0,
        "[server]\nhost = \"0.0.0.0\"\nport = 0\nallow_open = true\n[api]\ndry_run = true\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = std::time::Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("switchyard is serving"))
    {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("switchyard is serving")),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("WARN") && l.contains("UNPROTECTED")),
        "{seen:#?}"
    );
}

#[test]
fn keys_are_printed_once_listed_by_name_and_removed() {
    let dir = temp_dir("keys-cli");
    let config = write_config(&dir.0, "");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["keys", "add", "laptop"]);
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert!(key.starts_with("sy-"), "{key}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shown only this once"),
        "{out:?}"
    );
    let stored = std::fs::read_to_string(dir.0.join("data/keys.toml")).unwrap();
    assert!(stored.contains("name = \"laptop\""), "{stored}");
    assert!(!stored.contains(&key[3..]), "the key is never stored");

    let out = run(&["keys", "add", "laptop"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = run(&["keys", "list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.starts_with("laptop\t-\tcreated 20"), "{list}");
    assert!(!list.contains(&key[3..]));

    assert!(run(&["keys", "remove", "laptop"]).status.success());
    let out = run(&["keys", "remove", "laptop"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no key named `laptop`"),
        "{out:?}"
    );
    assert!(run(&["keys", "list"]).stdout.is_empty());
}

// === the browser ===

/// The local addresses of listening TCP sockets on `port`, from `/proc/net/tcp{,6}` (hex).
fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16).ok() == Some(port) {
                found.push(addr.to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn chromium_keeps_devtools_on_loopback_and_the_sandbox_unless_root() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::default(), "").await;
    let pid = h.gateway.browser_pid().expect("the shared browser's pid");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    assert_eq!(
        args.iter().any(|a| a == "--no-sandbox"),
        root,
        "--no-sandbox only as root: {args:?}"
    );
    assert!(
        args.iter().any(|a| a == "--remote-debugging-port=0"),
        "a random DevTools port: {args:?}"
    );

    let profile = args
        .iter()
        .find_map(|a| a.strip_prefix("--user-data-dir="))
        .expect("a profile directory");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(profile).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "only this user may read the profile");
    let active = std::fs::read_to_string(Path::new(profile).join("DevToolsActivePort")).unwrap();
    let port: u16 = active.lines().next().unwrap().trim().parse().unwrap();
    let bound = listeners(port);
    assert!(!bound.is_empty(), "the DevTools port {port} is listening");
    for addr in &bound {
        assert!(
            addr == "0100007F" || addr == "00000000000000000000000001000000",
            "DevTools listens on loopback only, not {addr}"
        );
    }
    h.shutdown().await;
}
