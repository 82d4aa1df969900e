//! Lanes on real Chromium: the two isolation modes, and a renderer crash in the middle of an
//! answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use futures::StreamExt;
use serde_json::json;
use switchyard::browser::procs;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, Outcome};

const FULL_2X2: &str = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
                        [providers.deepseek]\ninstances = 2\n[providers.glm]\ninstances = 2\n";

fn pids(lanes: &[serde_json::Value]) -> Vec<u64> {
    lanes
        .iter()
        .map(|l| {
            l["browser_pid"]
                .as_u64()
                .expect("every lane reports its browser pid")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_isolation_shares_one_browser_across_lanes() {
    let h = Harness::start(
        &[ProviderKind::DeepSeek, ProviderKind::Glm],
        Knobs::instant(),
        FULL_2X2,
    )
    .await;
    let lanes = h.wait_lanes("four lanes", |l| l.len() == 4).await;
    let ids: Vec<&str> = lanes.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec!["deepseek:1", "deepseek:2", "glm_chat:1", "glm_chat:2"]
    );
    let pids = pids(&lanes);
    assert!(
        pids.iter().all(|p| *p == pids[0]),
        "one shared browser: {pids:?}"
    );
    assert_eq!(Some(pids[0] as u32), h.gateway.browser_pid());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_isolation_gives_each_lane_its_own_browser_and_profile() {
    let extra = format!("{FULL_2X2}[browser]\nisolation = \"process\"\n");
    let h = Harness::start(
        &[ProviderKind::DeepSeek, ProviderKind::Glm],
        Knobs::instant(),
        &extra,
    )
    .await;
    let lanes = h.wait_lanes("four lanes", |l| l.len() == 4).await;
    let mut pids = pids(&lanes);
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 4, "a browser per lane");
    assert_eq!(h.gateway.browser_pid(), None);
    for (provider, n) in [
        ("deepseek", 1),
        ("deepseek", 2),
        ("glm_chat", 1),
        ("glm_chat", 2),
    ] {
        let profile = h
            .data_dir()
            .join("profiles")
            .join(provider)
            .join(format!("lane-{n}"));
        assert!(
            profile.join("Default").is_dir() || profile.join("Local State").exists(),
            "a persistent profile at {}",
            profile.display()
        );
    }
    // Both providers answer through their own browsers.
    let (a, b) = tokio::join!(h.chat("deepseek-chat", "one"), h.chat("glm-chat", "two"));
    assert_eq!((a.0, b.0), (200, 200));
    h.shutdown().await;
}

/// Answers paced slowly enough for a test to act while one streams (10 s in all).
const LONG: Knobs = Knobs {
    chunks: 400,
    delay_ms: 25,
    first_delay_ms: 0,
};

/// A streamed answer in progress: what has arrived and the rest of the body.
struct Answer {
    text: String,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
}

impl Answer {
    /// Sends a streaming request and reads until the answer is well under way.
    async fn start(h: &Harness, model: &str) -> Answer {
        let resp = h
            .post(
                "/v1/chat/completions",
                json!({"model": model, "stream": true,
                       "messages": [{"role": "user", "content": "a long answer"}]}),
            )
            .await;
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

    /// Reads the rest of the body and parses the whole stream.
    async fn finish(mut self) -> common::Streamed {
        while let Some(Ok(bytes)) = self.body.next().await {
            self.text.push_str(&String::from_utf8_lossy(&bytes));
        }
        common::parse_sse(&self.text)
    }
}

/// SIGKILLs every renderer process of a browser.
fn kill_renderers(browser_pid: u32) -> usize {
    let renderers: Vec<u32> = procs::tree(browser_pid)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .map(|c| c.contains("--type=renderer"))
                .unwrap_or(false)
        })
        .collect();
    for pid in &renderers {
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    renderers.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renderer_crash_mid_answer_ends_that_request_and_the_lane_recovers() {
    let h = Harness::single(ProviderKind::Glm, LONG, "").await;
    let answer = Answer::start(&h, "glm-chat").await;
    let killed = kill_renderers(h.gateway.browser_pid().unwrap());
    assert!(killed >= 1, "found the page's renderer");
    let s = answer.finish().await;
    let err = s.error.expect("the crash is reported to the client");
    assert!(err.contains("the page crashed mid-answer"), "{err}");
    assert!(err.contains("GLM Chat"), "{err}");
    assert!(s.done);
    // The replay belonged to the request: it ended with it, and the site saw its connection go.
    h.wait_replica(
        ProviderKind::Glm,
        "the crashed request's stream ended",
        |log| log.len() == 1 && log[0].outcome == Outcome::Stopped,
    )
    .await;

    // The lane reloads its page and serves the next request.
    h.wait_lanes("the lane is ready again", |l| l[0]["state"] == "ready")
        .await;
    let (status, body) = h.chat("glm-chat", "after the crash replica:chunks=2").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with(" w1")
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_running_answer_with_a_clear_error() {
    let h = Harness::single(ProviderKind::DeepSeek, LONG, "").await;
    let answer = Answer::start(&h, "deepseek-chat").await;
    assert_eq!(h.replica(ProviderKind::DeepSeek).requests().len(), 1);
    let (s, ()) = tokio::join!(answer.finish(), h.shutdown());
    assert_eq!(
        s.error.as_deref(),
        Some("switchyard is shutting down; the request was stopped.")
    );
    assert!(s.done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_killed_mid_answer_fails_the_request_and_its_provider_answers_503() {
    let h = Harness::single(ProviderKind::DeepSeek, LONG, "").await;
    let answer = Answer::start(&h, "deepseek-chat").await;
    let pid = h.gateway.browser_pid().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let s = answer.finish().await;
    let err = s.error.expect("the lost browser is reported to the client");
    assert!(err.contains("the browser went away mid-answer"), "{err}");
    assert!(s.done);

    h.wait_lanes("the lane is down", |l| l[0]["state"] == "down")
        .await;
    let (status, body) = h.chat("deepseek-chat", "anyone there?").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"]["message"],
        "No running DeepSeek instance is available. Restart switchyard to relaunch this provider."
    );
    h.shutdown().await;
}
