//! Hot reload on real Chromium: `POST /api/config/reload` re-reads the gateway's config file.
//! Changing one provider's lanes keeps the other provider's lane (its browser pid, its page,
//! its in-flight stream, byte for byte); a removed lane finishes its request and goes; a
//! per-request setting applies to the next request; a bad file or a restart-only change
//! changes nothing. (SIGHUP is tested on the binary, in `shutdown.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::{Harness, Streamed};
use futures::StreamExt;
use serde_json::{Value, json};
use switchyard::models::ProviderKind;
use switchyard_replicas::{Expected, Knobs, Site};

const GLM: ProviderKind = ProviderKind::Glm;
const DS: ProviderKind = ProviderKind::DeepSeek;

/// Both providers, one lane each, each lane in its own Chromium (so a pid names one lane).
const FILE: &str = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
                    [browser]\nisolation = \"process\"\n";

/// Answers paced slowly enough for a reload to happen while one streams (10 s in all).
const LONG: Knobs = Knobs {
    chunks: 400,
    delay_ms: 25,
    first_delay_ms: 0,
};

/// A short answer, whatever the replica's knobs.
const SHORT: &str = "replica:chunks=3 replica:delay_ms=0";

/// A streamed answer in progress.
struct Answer {
    text: String,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
}

impl Answer {
    /// Sends a streaming request and reads until the answer is under way.
    async fn start(h: &Harness, model: &str, prompt: &str) -> Answer {
        let resp = h
            .post(
                "/v1/chat/completions",
                json!({"model": model, "stream": true,
                       "messages": [{"role": "user", "content": prompt}]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let mut answer = Answer {
            text: String::new(),
            body: resp.bytes_stream().boxed(),
        };
        while !answer.text.contains(" w3") {
            let bytes = answer.body.next().await.expect("more stream").unwrap();
            answer.text.push_str(&String::from_utf8_lossy(&bytes));
        }
        answer
    }

    async fn finish(mut self) -> Streamed {
        while let Some(Ok(bytes)) = self.body.next().await {
            self.text.push_str(&String::from_utf8_lossy(&bytes));
        }
        common::parse_sse(&self.text)
    }
}

/// What the replica of `kind` streamed for the logged request whose prompt holds `marker`.
fn expected(h: &Harness, kind: ProviderKind, site: Site, marker: &str) -> String {
    let log = h.replica(kind).requests();
    let seen = log
        .iter()
        .find(|r| r.prompt.contains(marker))
        .unwrap_or_else(|| panic!("the replica saw {marker}: {log:#?}"));
    Expected::for_request(site, seen, LONG).answer
}

fn lane<'a>(lanes: &'a [Value], id: &str) -> Option<&'a Value> {
    lanes.iter().find(|l| l["id"] == id)
}

fn ids(lanes: &[Value]) -> Vec<String> {
    lanes
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes the config file and asks for a reload; returns the status and the answer.
async fn reload(h: &Harness, file: &str) -> (u16, Value) {
    std::fs::write(h.config_file(), file).unwrap();
    let resp = h
        .client
        .post(h.url("/api/config/reload"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// A short `deepseek-reasoner` answer: (content, reasoning_content).
async fn reasoner(h: &Harness) -> (String, Option<String>) {
    let (status, body) = h.chat("deepseek-reasoner", &format!("think {SHORT}")).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    (
        message["content"].as_str().unwrap().to_owned(),
        message["reasoning_content"].as_str().map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_changes_one_providers_lanes_and_leaves_the_other_running() {
    let h = Harness::start_from_file(&[DS, GLM], LONG, FILE).await;
    let before = h
        .wait_lanes("both lanes ready", |l| {
            l.len() == 2 && l.iter().all(|l| l["state"] == "ready")
        })
        .await;
    let ds_pid = lane(&before, "deepseek:1").unwrap()["browser_pid"].clone();
    assert!(ds_pid.is_u64());
    let (content, reasoning) = reasoner(&h).await;
    assert!(
        content.starts_with("<think>"),
        "think tags before: {content}"
    );
    assert_eq!(reasoning, None);

    // DeepSeek streams while GLM gets a second lane and the thinking format changes.
    let ds = Answer::start(&h, "deepseek-chat", "kept a").await;
    let (status, body) = reload(
        &h,
        &format!(
            "{FILE}[providers.glm]\ninstances = 2\n[api]\nreasoning_format = \"reasoning_content\"\n"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let changes = &body["changes"];
    assert_eq!(changes["lanes_added"], json!(["glm_chat:2"]));
    assert_eq!(changes["lanes_removed"], json!([]));
    assert_eq!(changes["lanes_kept"], json!(["deepseek:1", "glm_chat:1"]));
    assert_eq!(
        changes["settings_applied"],
        json!(["api.reasoning_format", "providers.glm.instances"])
    );
    let lanes = h
        .wait_lanes("three lanes, the new one ready", |l| {
            l.len() == 3 && lane(l, "glm_chat:2").is_some_and(|g| g["state"] == "ready")
        })
        .await;
    let ds_lane = lane(&lanes, "deepseek:1").unwrap();
    assert_eq!(
        ds_lane["browser_pid"], ds_pid,
        "DeepSeek's browser is the same"
    );
    assert_eq!(ds_lane["restarts"], 0, "DeepSeek's page was never reopened");
    let ds = ds.finish().await;
    assert_eq!(ds.error, None);
    assert_eq!(ds.finish_reason.as_deref(), Some("stop"));
    assert_eq!(ds.content, expected(&h, DS, Site::DeepSeek, "kept a"));
    // The new format applies to the next request, on the same lane.
    let (content, reasoning) = reasoner(&h).await;
    assert!(!content.contains("<think>"), "{content}");
    assert!(reasoning.is_some_and(|r| !r.is_empty()));

    // GLM is disabled while it streams on its first lane: that answer completes, then its
    // lanes go; DeepSeek is kept again.
    let glm = Answer::start(&h, "glm-chat", "removed g").await;
    let (status, body) = reload(&h, &format!("{FILE}[providers.glm]\nenabled = false\n")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["changes"]["lanes_removed"],
        json!(["glm_chat:1", "glm_chat:2"])
    );
    assert_eq!(body["changes"]["lanes_kept"], json!(["deepseek:1"]));
    let (status, refused) = h.chat("glm-chat", SHORT).await;
    assert_eq!(status, 400, "GLM is no longer routed: {refused}");
    let glm = glm.finish().await;
    assert_eq!(glm.error, None, "the removed lane finished its request");
    assert_eq!(glm.content, expected(&h, GLM, Site::Glm, "removed g"));
    let lanes = h
        .wait_lanes("only DeepSeek is left", |l| ids(l) == ["deepseek:1"])
        .await;
    assert_eq!(lanes[0]["browser_pid"], ds_pid);
    assert_eq!(lanes[0]["restarts"], 0);

    // A bad file changes nothing: 400 naming the file and the key.
    let (status, body) = reload(&h, &format!("{FILE}[providers.glm]\ninstances = 0\n")).await;
    assert_eq!(status, 400, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("switchyard.toml"), "{msg}");
    assert!(msg.contains("providers.glm.instances"), "{msg}");
    assert_eq!(body["error"]["code"], "invalid_config");
    // A restart-only change neither.
    let (status, body) = reload(&h, &format!("{FILE}[server]\nport = 1\n")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "needs_restart");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server"),
        "{body}"
    );
    let after = h.get_json("/api/lanes").await;
    let after = after["lanes"].as_array().unwrap();
    assert_eq!(ids(after), ["deepseek:1"]);
    assert_eq!(after[0]["browser_pid"], ds_pid);
    // The last good file (the one that disabled GLM) set no reasoning format: think tags.
    let (content, reasoning) = reasoner(&h).await;
    assert!(
        content.starts_with("<think>"),
        "the last good config applies: {content}"
    );
    assert_eq!(reasoning, None);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_over_the_providers_limit_is_a_413_before_it_is_queued() {
    // GLM takes no file in this build, so too long is a 413.
    let h = Harness::start_from_file(
        &[GLM],
        Knobs::default(),
        "[providers.glm]\nmax_prompt_chars = 2000\n",
    )
    .await;
    let long = "x".repeat(2500);
    let (status, body) = h.chat("glm-chat", &long).await;
    assert_eq!(status, 413, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("2000"), "names the limit: {msg}");
    assert!(msg.contains("providers.glm.max_prompt_chars"), "{msg}");
    assert_eq!(body["error"]["code"], "prompt_too_large");
    assert!(
        h.replica(GLM).requests().is_empty(),
        "the site never saw it"
    );
    // A reload raises the limit; the same prompt goes through on the same lane.
    let (status, body) = reload(&h, "[providers.glm]\nmax_prompt_chars = 5000\n").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["changes"]["settings_applied"],
        json!(["providers.glm.max_prompt_chars"])
    );
    let (status, body) = h.chat("glm-chat", &long).await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_context_isolation_a_reload_keeps_the_shared_browser_and_the_kept_lanes_page() {
    let shared = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n";
    let h = Harness::start_from_file(&[DS, GLM], LONG, shared).await;
    h.wait_lanes("both lanes ready", |l| {
        l.len() == 2 && l.iter().all(|l| l["state"] == "ready")
    })
    .await;
    let browser = h.gateway.browser_pid().unwrap();
    // GLM streams while DeepSeek gets a second context in the same browser.
    let glm = Answer::start(&h, "glm-chat", "kept in context").await;
    let (status, body) = reload(
        &h,
        &format!("{shared}[providers.deepseek]\ninstances = 2\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"]["lanes_added"], json!(["deepseek:2"]));
    let lanes = h
        .wait_lanes("three lanes ready or busy", |l| {
            l.len() == 3
                && l.iter()
                    .all(|l| l["state"] == "ready" || l["state"] == "busy")
        })
        .await;
    for lane in &lanes {
        assert_eq!(
            lane["browser_pid"],
            json!(browser),
            "one shared browser: {lane}"
        );
    }
    assert_eq!(lane(&lanes, "glm_chat:1").unwrap()["restarts"], 0);
    let glm = glm.finish().await;
    assert_eq!(glm.error, None);
    assert_eq!(glm.content, expected(&h, GLM, Site::Glm, "kept in context"));
    // The new lane serves.
    let (one, two) = (format!("one {SHORT}"), format!("two {SHORT}"));
    let (a, b) = tokio::join!(h.chat("deepseek-chat", &one), h.chat("deepseek-chat", &two));
    assert_eq!((a.0, b.0), (200, 200));
    let lanes = h.get_json("/api/lanes").await;
    let lanes = lanes["lanes"].as_array().unwrap();
    // Never-used lanes are picked first, so the new lane took one of them.
    assert_eq!(lane(lanes, "deepseek:2").unwrap()["requests_served"], 1);
    assert_eq!(h.gateway.browser_pid(), Some(browser));
    h.shutdown().await;
}
