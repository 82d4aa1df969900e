//! Test harness: the real gateway on port 0 against replica sites on loopback, driven through
//! real headless Chromium, spoken to through the public HTTP API.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::config::{self, Config};
use switchyard::demo::replica_site;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer};

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Harness {
    pub gateway: Gateway,
    pub replicas: HashMap<ProviderKind, ReplicaServer>,
    pub client: reqwest::Client,
    pub base: String,
    _data_dir: TempDir,
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Creates `switchyard-test-<name>-<pid>-<random>` under the system's temp directory.
    pub fn new(name: &str) -> TempDir {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "switchyard-test-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Harness {
    /// Starts replicas of `providers` (all with `knobs`) and the gateway, with `extra` TOML laid
    /// over a base config that points every provider at its replica. The first provider is the
    /// current one; the others are enabled.
    pub async fn start(providers: &[ProviderKind], knobs: Knobs, extra: &str) -> Harness {
        Self::start_layers(providers, knobs, &[extra]).await
    }

    /// Like [`Harness::start`], laying several TOML texts over the base config in order.
    pub async fn start_layers(
        providers: &[ProviderKind],
        knobs: Knobs,
        layers: &[&str],
    ) -> Harness {
        Self::start_with(providers, knobs, layers, false, None).await
    }

    /// Like [`Harness::start`], with `file` as the gateway's config file (at
    /// [`Harness::config_file`]) laid over the base config: `POST /api/config/reload` reads it
    /// again.
    pub async fn start_from_file(providers: &[ProviderKind], knobs: Knobs, file: &str) -> Harness {
        Self::start_with(providers, knobs, &[], false, Some(file)).await
    }

    /// The config file of [`Harness::start_from_file`].
    pub fn config_file(&self) -> std::path::PathBuf {
        self._data_dir.0.join("switchyard.toml")
    }

    /// Like [`Harness::start`], with the fault-injection endpoints on
    /// (`--enable-fault-injection`).
    pub async fn start_with_faults(
        providers: &[ProviderKind],
        knobs: Knobs,
        extra: &str,
    ) -> Harness {
        Self::start_with(providers, knobs, &[extra], true, None).await
    }

    async fn start_with(
        providers: &[ProviderKind],
        knobs: Knobs,
        layers: &[&str],
        fault_injection: bool,
        file: Option<&str>,
    ) -> Harness {
        init_logs();
        let data_dir = TempDir(std::env::temp_dir().join(format!(
            "switchyard-test-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        )));
        let mut replicas = HashMap::new();
        let mut toml = format!(
            // A short shutdown grace: a test that ends with a request still running should not
            // wait the default 10 s for it.
            "provider = \"{}\"\ndata_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = 2\n",
            providers.first().map_or("deepseek", |p| p.prefix()),
            data_dir.0.display()
        );
        for kind in providers {
            let site = replica_site(*kind).expect("a replica for this provider");
            let server = ReplicaServer::start(site, knobs).await.unwrap();
            toml.push_str(&format!(
                "[providers.{}]\nenabled = true\nbase_url = \"{}\"\n",
                kind.prefix(),
                server.base_url()
            ));
            replicas.insert(*kind, server);
        }
        let mut table = config::parse_table(&toml, "test base").unwrap();
        for extra in layers {
            config::merge_tables(
                &mut table,
                config::parse_table(extra, "test extra").unwrap(),
            );
        }
        let gateway = match file {
            None => {
                let mut config = Config::from_table(table, "test config").unwrap();
                config.fault_injection = fault_injection;
                Gateway::start(config).await.unwrap()
            }
            Some(text) => {
                std::fs::create_dir_all(&data_dir.0).unwrap();
                let path = data_dir.0.join("switchyard.toml");
                std::fs::write(&path, text).unwrap();
                let source = switchyard::reload::Source {
                    base: Some(table),
                    file: Some(path),
                };
                let mut config = source.load().unwrap();
                config.fault_injection = fault_injection;
                Gateway::start_from(config, Some(source)).await.unwrap()
            }
        };
        let base = gateway.base_url();
        Harness {
            gateway,
            replicas,
            client: reqwest::Client::new(),
            base,
            _data_dir: data_dir,
        }
    }

    /// Only `lanes` dummy lanes (`[dummy] only = true`): no replica, no browser; `extra` TOML
    /// laid over it.
    pub async fn dummy_only(lanes: u32, extra: &str) -> Harness {
        let base = format!("[dummy]\nlanes = {lanes}\nonly = true\n");
        Self::start_with(&[], Knobs::default(), &[&base, extra], false, None).await
    }

    /// One provider, one lane, default settings plus `extra`.
    pub async fn single(provider: ProviderKind, knobs: Knobs, extra: &str) -> Harness {
        Self::start(&[provider], knobs, extra).await
    }

    /// The gateway's data directory (profiles in `process` isolation).
    pub fn data_dir(&self) -> &std::path::Path {
        &self._data_dir.0
    }

    pub fn replica(&self, kind: ProviderKind) -> &ReplicaServer {
        &self.replicas[&kind]
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A non-streaming chat completion; returns status and body.
    pub async fn chat(&self, model: &str, content: &str) -> (u16, Value) {
        let resp = self
            .post(
                "/v1/chat/completions",
                json!({"model": model, "messages": [{"role": "user", "content": content}]}),
            )
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// A streaming chat completion, read to the end.
    pub async fn stream_chat(&self, model: &str, content: &str) -> Streamed {
        let resp = self
            .post(
                "/v1/chat/completions",
                json!({"model": model, "stream": true,
                       "messages": [{"role": "user", "content": content}]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        read_sse(resp).await
    }

    /// Waits until `/api/lanes` satisfies `pred`.
    pub async fn wait_lanes(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let v = self.get_json("/api/lanes").await;
            let lanes = v["lanes"].as_array().unwrap().clone();
            if pred(&lanes) {
                return lanes;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "timed out waiting for lanes: {what}; last: {lanes:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `/api/queue` satisfies `pred`.
    pub async fn wait_queue(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let v = self.get_json("/api/queue").await;
            if pred(&v) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "timed out waiting for the queue: {what}; last: {v:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the replica's log satisfies `pred`.
    pub async fn wait_replica(
        &self,
        kind: ProviderKind,
        what: &str,
        pred: impl Fn(&[ReceivedRequest]) -> bool,
    ) -> Vec<ReceivedRequest> {
        match self.replica(kind).wait_for(pred, DEADLINE).await {
            Ok(log) => log,
            Err(log) => panic!("timed out waiting for the {kind} replica: {what}; log: {log:#?}"),
        }
    }

    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        for (_, r) in self.replicas {
            r.shutdown().await;
        }
    }
}

/// What a streamed response carried.
#[derive(Debug, Default)]
pub struct Streamed {
    pub chunks: Vec<Value>,
    pub content: String,
    pub reasoning: String,
    pub finish_reason: Option<String>,
    pub error: Option<String>,
    pub usage: Option<Value>,
    pub done: bool,
    /// SSE comments (`: queued 1 of 2`, `: keepalive`), without the colon and the space.
    pub comments: Vec<String>,
}

/// A headless Chromium of the test's own (Debian's binary, a throwaway profile, the launch
/// flags switchyard uses), for tests that drive a page themselves.
pub async fn test_browser() -> std::sync::Arc<switchyard::browser::Chromium> {
    switchyard::browser::Chromium::launch(&switchyard::browser::LaunchOptions {
        executable: std::path::PathBuf::from("/usr/lib/chromium/chromium"),
        headless: true,
        user_data_dir: None,
        cdp_timeout: Duration::from_secs(15),
        no_sandbox: false,
        extra_flags: Vec::new(),
        proxy: None,
    })
    .await
    .unwrap()
}

/// Reads an SSE body to the end, checking every frame is JSON or `[DONE]` (or a comment).
pub async fn read_sse(resp: reqwest::Response) -> Streamed {
    let text = resp.text().await.unwrap();
    parse_sse(&text)
}

pub fn parse_sse(text: &str) -> Streamed {
    let mut out = Streamed::default();
    assert!(
        text.ends_with("\n\n"),
        "the stream must end with a blank line: {text:?}"
    );
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        if let Some(comment) = event.strip_prefix(':') {
            assert!(!comment.contains('\n'), "a comment is one line: {event:?}");
            out.comments.push(comment.trim_start().to_owned());
            continue;
        }
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("every event is a data line: {event:?}"));
        assert!(!out.done, "nothing may follow [DONE]: {event:?}");
        if data == "[DONE]" {
            out.done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
        if let Some(err) = v.get("error") {
            out.error = Some(err["message"].as_str().unwrap().to_owned());
        } else if let Some(choice) = v["choices"].get(0) {
            if let Some(c) = choice["delta"]["content"].as_str() {
                out.content.push_str(c);
            }
            if let Some(r) = choice["delta"]["reasoning_content"].as_str() {
                out.reasoning.push_str(r);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                out.finish_reason = Some(f.to_owned());
            }
        } else if v.get("usage").is_some() {
            out.usage = Some(v["usage"].clone());
        }
        out.chunks.push(v);
    }
    out
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,chromiumoxide=error")),
        )
        .with_test_writer()
        .try_init();
}

/// This test process's log lines, kept to check what the gateway said (and echoed to stderr,
/// which the test runner shows for a failed test). The first call installs the subscriber.
pub mod logs {
    use std::io::Write;
    use std::sync::{Arc, Mutex, OnceLock};

    fn buffer() -> &'static Arc<Mutex<Vec<u8>>> {
        static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
        LOGS.get_or_init(|| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            let sink = buf.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "info,chromiumoxide=error",
                ))
                .with_ansi(false)
                .with_writer(move || Sink(sink.clone()))
                .try_init();
            buf
        })
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(data);
            std::io::stderr().write_all(data)?;
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Starts keeping the log lines (before the code under test logs anything).
    pub fn capture() {
        buffer();
    }

    /// Every line logged so far.
    pub fn text() -> String {
        String::from_utf8_lossy(&buffer().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}
