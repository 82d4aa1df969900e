//! The web dashboard, driven in a real headless Chromium of the test's own against a demo
//! gateway on replicas: the demo's lanes appear, a running request shows in the queue and is
//! cancelled from the page (its client gets the cancel error), a lane's live view shows its
//! page, a setting edited in the page applies without a restart (and changes what the next
//! request does), a failure bundle's screenshot opens. With keys on, the page and `/metrics`
//! refuse a caller without the admin key, and signing in through the page's form works.
//! Screenshots of each view go to `target/dashboard-screens/` for a person to look at.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{DEADLINE, Harness, parse_sse};
use futures::StreamExt;
use serde_json::{Value, json};
use switchyard::browser::{Chromium, Tab};
use switchyard::config::QueueMode;
use switchyard::demo::{Demo, DemoOptions};
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

/// The test's own browser, looking at the dashboard.
struct Viewer {
    browser: Arc<Chromium>,
    tab: Tab,
}

impl Viewer {
    async fn open(url: &str) -> Viewer {
        let browser = common::test_browser().await;
        let tab = browser.new_tab(true, None).await.unwrap();
        tab.goto(url, DEADLINE).await.unwrap();
        Viewer { browser, tab }
    }

    async fn js(&self, script: &str) -> Value {
        self.tab
            .eval("a test script", script, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// Polls `script` (an expression) until it is truthy; returns its value.
    async fn wait(&self, what: &str, script: &str) -> Value {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            // A navigation in flight (a form sent) has no page to ask yet: try again.
            let v = self
                .tab
                .eval("a test script", script, Duration::from_secs(10))
                .await
                .unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "timed out waiting in the dashboard for {what}; page: {:?}",
                self.tab
                    .eval(
                        "the page's text",
                        "document.body.innerText",
                        Duration::from_secs(5)
                    )
                    .await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrolls `selector` into view and saves what the page shows as
    /// `target/dashboard-screens/<name>.png`.
    async fn shot(&self, name: &str, selector: &str) {
        self.js(&format!(
            "document.querySelector('{selector}').scrollIntoView(), true"
        ))
        .await;
        let png = self.tab.screenshot(Duration::from_secs(10)).await.unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screens");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(self) {
        self.tab.close(&self.browser).await;
        self.browser.close().await;
    }
}

/// A streamed request read as it comes.
struct Stream {
    id: String,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    seen: String,
}

impl Stream {
    async fn start(client: &reqwest::Client, base: &str, model: &str, content: &str) -> Stream {
        let resp = client
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": model, "stream": true,
                          "messages": [{"role": "user", "content": content}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        Stream {
            id,
            body: resp.bytes_stream().boxed(),
            seen: String::new(),
        }
    }

    async fn until(&mut self, needle: &str) {
        tokio::time::timeout(DEADLINE, async {
            while !self.seen.contains(needle) {
                let bytes = self.body.next().await.expect("more stream").unwrap();
                self.seen.push_str(&String::from_utf8_lossy(&bytes));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the stream: {}", self.seen));
    }

    async fn end(mut self) -> common::Streamed {
        tokio::time::timeout(DEADLINE, async {
            while let Some(bytes) = self.body.next().await {
                self.seen
                    .push_str(&String::from_utf8_lossy(&bytes.unwrap()));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the stream did not end: {}", self.seen));
        parse_sse(&self.seen)
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_lanes_cancels_applies_settings_and_opens_a_failure_screenshot() {
    let dir = common::TempDir::new("dashboard");
    let layer = dir.0.join("demo.toml");
    std::fs::write(
        &layer,
        format!(
            "data_dir = \"{}\"\n[server]\nshutdown_grace_secs = 2\n",
            dir.0.display()
        ),
    )
    .unwrap();
    // Answers of about 10 s (400 pieces, 25 ms apart): a request is still running while the
    // page cancels it.
    let demo = Demo::start(&DemoOptions {
        mode: QueueMode::ConcurrentProviderLanes,
        lanes_per_provider: 1,
        port: 0,
        chunk_delay_ms: 25,
        chunks: 400,
        config: Some(layer.clone()),
        fault_injection: false,
        dummy_lanes: 0,
    })
    .await
    .unwrap();
    let base = demo.gateway.base_url();
    let client = reqwest::Client::new();
    let lanes = get_json(&client, &format!("{base}/api/lanes")).await["lanes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(lanes.len(), demo.replicas.len(), "{lanes:#?}");

    // The demo's lanes appear, each in its row, ready.
    let page = Viewer::open(&format!("{base}/")).await;
    let ready = format!(
        "document.querySelectorAll('#lanes tbody tr').length === {} && \
         [...document.querySelectorAll('#lanes tbody tr .state')].every(s => s.textContent === 'ready')",
        lanes.len()
    );
    page.wait("every demo lane in its row, ready", &ready).await;
    for lane in &lanes {
        let id = lane["id"].as_str().unwrap();
        let provider = page
            .js(&format!(
                "document.querySelector('#lanes tr[data-lane=\"{id}\"] td:nth-child(2)').textContent"
            ))
            .await;
        assert_eq!(provider, lane["provider"], "{id}");
    }
    page.wait(
        "the event stream is live",
        "document.querySelector('#conn').textContent === 'live'",
    )
    .await;
    page.shot("lanes", "#lanes-section").await;

    // A running request shows in the queue; its Cancel button stops it and its client hears so.
    let mut running = Stream::start(&client, &base, "deepseek-chat", "Tell me a long story").await;
    running.until("\"content\"").await;
    let rid = running.id.clone();
    let row = format!("#queue tr[data-request=\"{rid}\"]");
    page.wait(
        "the running request in the queue",
        &format!("document.querySelector('{row}')?.dataset.state === 'running'"),
    )
    .await;
    let model = page
        .js(&format!(
            "document.querySelector('{row} td:nth-child(4)').textContent"
        ))
        .await;
    assert_eq!(model, "deepseek-chat");
    page.shot("queue", "#queue-section").await;
    // The live view is off under load: the lane runs this request.
    let ds = lanes.iter().find(|l| l["provider"] == "deepseek").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = client
        .get(format!("{base}/api/lanes/{ds}/screencast"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(
        refused["error"]["code"], "screencast_under_load",
        "{refused}"
    );
    page.js(&format!(
        "document.querySelector('{row} button.cancel').click(), true"
    ))
    .await;
    let s = running.end().await;
    assert_eq!(
        s.error,
        Some(format!("Request {rid} cancelled from UI.")),
        "{s:?}"
    );
    assert!(s.done);
    page.wait(
        "the cancelled request gone from the queue",
        &format!("!document.querySelector('{row}')"),
    )
    .await;
    page.wait(
        "the cancelled request among the recent ones",
        &format!(
            "document.querySelector('#recent tr[data-request=\"{rid}\"] .outcome-error, \
             #recent tr[data-request=\"{rid}\"] .outcome-cancelled')"
        ),
    )
    .await;

    // A lane's live view shows its page; closing it stops the screencast.
    page.wait(
        "the DeepSeek lane ready again",
        &format!(
            "document.querySelector('#lanes tr[data-lane=\"{ds}\"] .state').textContent === 'ready'"
        ),
    )
    .await;
    page.js(&format!(
        "document.querySelector('#lanes tr[data-lane=\"{ds}\"] button.live').click(), true"
    ))
    .await;
    page.wait(
        "a frame of the lane's page",
        "document.querySelector('#live-frame').complete && \
         document.querySelector('#live-frame').naturalWidth > 0",
    )
    .await;
    page.wait(
        "the open live view counted",
        "document.querySelector('#live-count').textContent.startsWith('1 live view')",
    )
    .await;
    page.shot("live-view", "#live-view").await;
    page.js("document.querySelector('#live-close').click(), true")
        .await;
    // Closing the view drops its stream: the gateway stops the screencast and says so.
    page.wait(
        "no live view open",
        "snap.live_views === 0 && document.querySelector('#live-count').textContent === ''",
    )
    .await;

    // A setting edited in the page applies without a restart: DeepSeek's idle timeout, which
    // the next stalled answer then shows.
    let pids_before: Vec<Value> = lanes.iter().map(|l| l["browser_pid"].clone()).collect();
    page.wait(
        "the settings in the editor",
        "document.querySelector('#settings-text').value.includes('[providers.deepseek]')",
    )
    .await;
    page.js(
        "(() => { const t = document.querySelector('#settings-text'); \
         t.value = t.value.replace('[providers.deepseek]\\n', '[providers.deepseek]\\nidle_timeout_secs = 1\\n'); \
         t.dispatchEvent(new Event('input')); return true; })()",
    )
    .await;
    page.js("document.querySelector('#settings-preview').click(), true")
        .await;
    let preview = page
        .wait(
            "the preview",
            "!document.querySelector('#settings-apply').disabled && \
             document.querySelector('#settings-result').textContent",
        )
        .await;
    assert!(
        preview.as_str().unwrap().contains("providers.deepseek"),
        "{preview}"
    );
    page.shot("settings-preview", "#settings-result").await;
    page.js("document.querySelector('#settings-apply').click(), true")
        .await;
    let applied = page
        .wait(
            "the settings applied",
            "document.querySelector('#settings-result').textContent.startsWith('Applied') && \
             document.querySelector('#settings-result').textContent",
        )
        .await;
    assert!(
        applied.as_str().unwrap().contains("without a restart"),
        "{applied}"
    );
    page.shot("settings-applied", "#settings-result").await;
    let written = std::fs::read_to_string(&layer).unwrap();
    assert!(written.contains("idle_timeout_secs = 1"), "{written}");
    // The file over the demo holds what differs from the demo's own settings: its own keys and
    // the edit, never the replicas' addresses (they change every start).
    assert!(written.contains("shutdown_grace_secs = 2"), "{written}");
    assert!(!written.contains("base_url"), "{written}");
    assert!(dir.0.join("demo.toml.bak").exists());
    let after = get_json(&client, &format!("{base}/api/lanes")).await["lanes"]
        .as_array()
        .unwrap()
        .clone();
    let pids_after: Vec<Value> = after.iter().map(|l| l["browser_pid"].clone()).collect();
    assert_eq!(pids_before, pids_after, "no lane was restarted");

    // The stalled answer fails after the new 1 s, and leaves a failure bundle whose screenshot
    // opens from the lane's row.
    let stalled = Stream::start(&client, &base, "deepseek-chat", "x replica:fault=stall").await;
    let s = stalled.end().await;
    assert_eq!(
        s.error.as_deref(),
        Some("DeepSeek timeout: no next stream chunk within 1s."),
        "{s:?}"
    );
    let bundle = format!("#lanes tr[data-lane=\"{ds}\"] button.bundle");
    page.wait(
        "the lane's bundle button",
        &format!("document.querySelector('{bundle}')"),
    )
    .await;
    // The bundle is written off the lane's task; wait until its screenshot is on disk.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = client
            .get(format!("{base}/api/lanes/{ds}/failure/screenshot"))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            assert_eq!(resp.headers()["content-type"], "image/png");
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "no screenshot: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    page.js(&format!("document.querySelector('{bundle}').click(), true"))
        .await;
    page.wait(
        "the failure screenshot loaded",
        "document.querySelector('#bundle-shot').complete && \
         document.querySelector('#bundle-shot').naturalWidth > 0",
    )
    .await;
    page.wait(
        "the bundle's description",
        "document.querySelector('#bundle-meta').textContent.includes('screenshot.png')",
    )
    .await;
    page.shot("failure-bundle", "#bundle-view").await;

    page.close().await;
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_on_the_dashboard_asks_for_the_admin_key() {
    let dir = common::TempDir::new("dashboard-keys");
    let keys_file = dir.0.join("keys.toml");
    let laptop = switchyard::keys::add(&keys_file, "laptop", false).unwrap();
    let ops = switchyard::keys::add(&keys_file, "ops", true).unwrap();
    let h = Harness::single(
        ProviderKind::DeepSeek,
        Knobs::instant(),
        &format!(
            "[auth]\nkeys_file = \"{}\"\nadmin_routes = \"admin_keys\"\n",
            keys_file.display()
        ),
    )
    .await;
    let get = |path: &str, key: Option<&str>| {
        let mut req = h.client.get(h.url(path)).header("accept", "text/html");
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    // No key: the page is refused (a person's browser gets the sign-in form), and so are
    // /metrics and the event stream; a key that is not an admin key is refused too.
    let resp = get("/", None).await.unwrap();
    assert_eq!(resp.status(), 401);
    let body = resp.text().await.unwrap();
    assert!(body.contains("action=\"/dashboard/sign-in\""), "{body}");
    assert!(!body.contains("id=\"lanes\""), "{body}");
    for path in ["/metrics", "/api/events", "/dashboard/app.js"] {
        assert_eq!(get(path, None).await.unwrap().status(), 401, "{path}");
    }
    assert_eq!(get("/", Some(&laptop)).await.unwrap().status(), 403);
    assert_eq!(
        get("/metrics", Some("sy-not-a-key"))
            .await
            .unwrap()
            .status(),
        401
    );
    let resp = get("/", Some(&ops)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("id=\"lanes\""));

    // A person signs in with the admin key through the form; the page's own same-origin
    // requests then pass with the cookie.
    let page = Viewer::open(&h.url("/")).await;
    page.wait("the sign-in form", "document.querySelector('#key')")
        .await;
    page.shot("sign-in", "body").await;
    page.js(&format!(
        "document.querySelector('#key').value = '{laptop}'; document.querySelector('form').submit(), true"
    ))
    .await;
    page.wait(
        "the refusal of a non-admin key",
        "document.querySelector('#sign-in-message')?.textContent.includes('not an admin key')",
    )
    .await;
    page.js(&format!(
        "document.querySelector('#key').value = '{ops}'; document.querySelector('form').submit(), true"
    ))
    .await;
    page.wait(
        "the lane in the dashboard",
        "document.querySelectorAll('#lanes tbody tr').length === 1 && \
         document.querySelector('#conn').textContent === 'live'",
    )
    .await;
    let cookie_hidden = page.js("document.cookie").await;
    assert_eq!(cookie_hidden, "", "the admin cookie is HttpOnly");
    // A same-origin control works from the page; the cookie is not spent on /v1.
    let cleared = page
        .js("fetch('/api/queue/clear', {method: 'POST'}).then(r => r.status)")
        .await;
    assert_eq!(cleared, 200);
    let v1 = page.js("fetch('/v1/models').then(r => r.status)").await;
    assert_eq!(v1, 401);
    // A page elsewhere is refused even if the browser had the cookie.
    let foreign = h
        .client
        .post(h.url("/api/queue/clear"))
        .header("origin", "http://evil.example")
        .header("cookie", format!("switchyard_admin={ops}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    page.close().await;
    h.shutdown().await;
}

/// Reads SSE `event: snapshot` frames from the dashboard's event stream until one satisfies
/// `pred`.
async fn next_snapshot(
    body: &mut futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: &mut String,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                if let Some(data) = frame.strip_prefix("event: snapshot\ndata: ") {
                    let v: Value = serde_json::from_str(data.trim_end()).unwrap();
                    if pred(&v) {
                        return v;
                    }
                }
            }
            let bytes = body.next().await.expect("more events").unwrap();
            buf.push_str(&String::from_utf8_lossy(&bytes));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no snapshot with {what}; last frames: {buf}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_pushed_on_change_and_settings_apply_in_memory_without_a_file() {
    let dir = common::TempDir::new("dashboard-mem");
    // Settings with no file under them, as `switchyard demo` without --config has.
    let base = switchyard::config::parse_table(
        &format!(
            "data_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = 2\n\
             [dummy]\nlanes = 1\nonly = true\n",
            dir.0.display()
        ),
        "test settings",
    )
    .unwrap();
    let source = switchyard::reload::Source {
        base: Some(base),
        file: None,
    };
    let gateway = switchyard::gateway::Gateway::start_from(source.load().unwrap(), Some(source))
        .await
        .unwrap();
    let base = gateway.base_url();
    let client = reqwest::Client::new();

    // The event stream sends a snapshot at once, and another when a request has finished.
    let resp = client
        .get(format!("{base}/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = resp.bytes_stream().boxed();
    let mut buf = String::new();
    let first = next_snapshot(&mut events, &mut buf, "lanes", |v| {
        v["lanes"].as_array().is_some_and(|l| l.len() == 1)
    })
    .await;
    let lane = first["lanes"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["recent"], json!([]));
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "dummy-instant", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = resp.bytes().await.unwrap();
    let pushed = next_snapshot(&mut events, &mut buf, "the finished request", |v| {
        v["recent"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    let row = &pushed["recent"][0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["provider"], "dummy");
    assert_eq!(row["model"], "dummy-instant");
    assert_eq!(row["outcome"], "ok");
    assert_eq!(row["bytes"], body.len());
    assert!(row["first_content_ms"].is_u64(), "{row}");
    assert!(row["duration_ms"].is_u64(), "{row}");

    // No file to write: the page says so, and Apply changes the running settings in memory.
    let view = get_json(&client, &format!("{base}/api/config")).await;
    assert_eq!(view["editable"], true);
    assert_eq!(view["file"], Value::Null);
    assert!(
        view["note"].as_str().unwrap().contains("in memory"),
        "{view}"
    );
    let text = view["text"].as_str().unwrap().to_owned();
    assert!(text.contains("[dummy]"), "{text}");
    // A restart-only change is refused whole, naming the setting.
    let restart = text.replace("shutdown_grace_secs = 2", "shutdown_grace_secs = 3");
    let resp = client
        .post(format!("{base}/api/config/preview"))
        .json(&json!({ "text": restart }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let refusal: Value = resp.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], "needs_restart");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server"),
        "{refusal}"
    );
    let bad = client
        .post(format!("{base}/api/config/apply"))
        .json(&json!({ "text": format!("{text}\n[dashboard]\nscreencast = 3\n") }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let edited = format!("{text}\n[dashboard]\nscreencast = false\n");
    let preview: Value = client
        .post(format!("{base}/api/config/preview"))
        .json(&json!({ "text": edited }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        preview["preview"]["settings_applied"],
        json!(["dashboard.screencast"]),
        "{preview}"
    );
    assert_eq!(preview["preview"]["lanes_kept"], json!([lane]), "{preview}");
    // Preview changed nothing yet: the live view is still allowed (a dummy lane has no page).
    let resp = client
        .get(format!("{base}/api/lanes/{lane}/screencast"))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_page", "{v}");
    let resp = client
        .post(format!("{base}/api/config/apply"))
        .json(&json!({ "text": edited }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let applied: Value = resp.json().await.unwrap();
    assert_eq!(applied["changes"]["lanes_kept"], json!([lane]), "{applied}");
    next_snapshot(&mut events, &mut buf, "the live view off", |v| {
        v["screencast"] == false
    })
    .await;
    // A reload re-reads the settings kept in memory: the change stays.
    let reload = client
        .post(format!("{base}/api/config/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    let v: Value = client
        .get(format!("{base}/api/lanes/{lane}/screencast"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["code"], "screencast_off", "{v}");
    drop(events);
    gateway.shutdown().await;
}
