//! Dummy lanes (`[dummy] lanes = N`): lanes with no browser behind their inbox, through the same
//! routing, admission, queue modes, cancellation, request ids and SSE path as site lanes.
//! Their answers are deterministic (`providers::dummy`), so every assertion here is exact.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::time::Duration;

use common::{DEADLINE, Harness, read_sse};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

const DUMMY_IDS: [&str; 4] = ["dummy-instant", "dummy-slow", "dummy-flaky", "dummy-error"];

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn model_ids(models: &Value) -> Vec<String> {
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A streamed chat request whose response is returned unread.
async fn start_stream(h: &Harness, model: &str, content: &str) -> reqwest::Response {
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": model, "stream": true,
                   "messages": [{"role": "user", "content": content}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp
}

fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// Reads the body until it holds `needle` (or ends); returns what was read.
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    while !seen.contains(needle) {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(std::str::from_utf8(&bytes).unwrap()),
            Ok(_) => break,
            Err(_) => panic!("timed out waiting for {needle:?}; read: {seen}"),
        }
    }
    seen
}

/// Waits until no request runs or waits and every lane is ready.
async fn wait_idle(h: &Harness) -> Value {
    h.wait_queue("nothing runs or waits", |q| {
        q["running"].as_array().unwrap().is_empty()
            && q["pending"].as_array().unwrap().is_empty()
            && q["lanes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["state"] == "ready")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_gathered_answers_are_deterministic() {
    let h = Harness::dummy_only(2, "").await;
    let lanes = h
        .wait_lanes("two dummy lanes ready", |l| l.len() == 2)
        .await;
    assert!(
        lanes
            .iter()
            .all(|l| l["provider"] == "dummy" && l["browser_pid"].is_null()),
        "{lanes:#?}"
    );
    assert_eq!(model_ids(&h.get_json("/v1/models").await), DUMMY_IDS);

    // Text completions type the prompt as written, so its digest is known here.
    let resp = h
        .post(
            "/v1/completions",
            json!({"model": "dummy-instant", "prompt": "hello"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["text"],
        format!(
            "[dummy-instant sha256:{} chars:5] chunk 2/3 chunk 3/3",
            digest("hello")
        )
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    // The same chat streamed and gathered gives the same text; another prompt another digest.
    let streamed = h.stream_chat("dummy-instant", "Hi there").await;
    assert!(streamed.done && streamed.error.is_none(), "{streamed:?}");
    assert_eq!(streamed.finish_reason.as_deref(), Some("stop"));
    assert!(
        streamed.content.starts_with("[dummy-instant sha256:")
            && streamed.content.ends_with(" chunk 3/3"),
        "{}",
        streamed.content
    );
    let (status, gathered) = h.chat("dummy-instant", "Hi there").await;
    assert_eq!(status, 200, "{gathered}");
    assert_eq!(
        gathered["choices"][0]["message"]["content"],
        streamed.content
    );
    assert_eq!(gathered["model"], "dummy-instant");
    assert!(gathered["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let other = h.stream_chat("dummy-instant", "Something else").await;
    assert_ne!(other.content, streamed.content);

    // Model IDs are case-insensitive, as for the sites.
    let (status, _) = h.chat("DUMMY-INSTANT", "x").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_takes_its_pace_and_length_from_the_prompt() {
    let h = Harness::dummy_only(1, "").await;
    let s = h
        .stream_chat("dummy-slow", "go dummy:chunks=5 dummy:delay_ms=2")
        .await;
    assert!(s.done && s.error.is_none(), "{s:?}");
    let pieces = s
        .chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(pieces, 5, "one chunk per dummy piece: {s:?}");
    assert!(s.content.ends_with(" chunk 5/5"), "{}", s.content);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_fails_as_a_site_failure_would() {
    let h = Harness::dummy_only(1, "").await;
    let (status, body) = h.chat("dummy-error", "hi").await;
    assert_eq!(status, 502, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Dummy (Dummy 1)") && msg.contains("dummy-error always fails"),
        "{msg}"
    );
    let s = h.stream_chat("dummy-error", "hi").await;
    assert!(s.done, "{s:?}");
    assert!(s.content.is_empty(), "{s:?}");
    assert!(s.error.as_deref().unwrap().contains("dummy-error"), "{s:?}");
    let lanes = h
        .wait_lanes("the lane names its last error", |l| {
            l[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("dummy-error"))
        })
        .await;
    assert_eq!(lanes[0]["state"], "ready", "an error frees the lane");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_breaks_off_mid_stream_by_its_seed() {
    let h = Harness::dummy_only(1, "").await;
    // An odd seed fails after 1 + (seed / 2) % 5 chunks: 2 for seed 3.
    let s = h.stream_chat("dummy-flaky", "dummy:seed=3").await;
    assert!(s.done, "{s:?}");
    assert!(s.content.ends_with(" chunk 2/6"), "{}", s.content);
    let err = s.error.as_deref().unwrap();
    assert!(
        err.contains("after 2 of 6 chunks") && err.contains("seed 3"),
        "{err}"
    );
    // The same seed fails the same way; an even one completes.
    let again = h.stream_chat("dummy-flaky", "dummy:seed=3").await;
    assert_eq!(again.content, s.content);
    assert_eq!(again.error, s.error);
    let ok = h.stream_chat("dummy-flaky", "dummy:seed=4").await;
    assert!(ok.error.is_none(), "{ok:?}");
    assert_eq!(ok.finish_reason.as_deref(), Some("stop"));
    assert!(ok.content.ends_with(" chunk 6/6"), "{}", ok.content);
    // Where told, whatever the seed; a broken-off answer is an error, not a short 200.
    let (status, body) = h
        .chat("dummy-flaky", "dummy:seed=4 dummy:fail_after=1")
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after 1 of 6"),
        "{body}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_frees_the_lane_at_once() {
    let h = Harness::dummy_only(1, "").await;
    // 1000 chunks 20 ms apart: 20 s, far longer than the test waits.
    let mut resp = start_stream(&h, "dummy-slow", "long dummy:chunks=1000 dummy:delay_ms=20").await;
    let id = request_id(&resp);
    read_until(&mut resp, "chunk 2/1000").await;
    let q = h.get_json("/api/queue").await;
    assert_eq!(q["running"][0]["id"], id, "{q:#}");
    drop(resp);
    let q = wait_idle(&h).await;
    assert_eq!(q["lanes"][0]["requests_served"], 1, "{q:#}");
    // The lane takes the next request.
    let (status, _) = h.chat("dummy-instant", "next").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_the_api_stops_the_answer_with_its_reason() {
    let h = Harness::dummy_only(1, "").await;
    let mut running = start_stream(&h, "dummy-slow", "dummy:chunks=1000 dummy:delay_ms=20").await;
    let running_id = request_id(&running);
    read_until(&mut running, "chunk 2/1000").await;
    // A second one waits for the only lane.
    let queued = start_stream(&h, "dummy-instant", "queued").await;
    let queued_id = request_id(&queued);
    h.wait_queue("the second request waits", |q| {
        q["pending"][0]["id"] == queued_id.as_str()
    })
    .await;

    let url = |id: &str| format!("/api/requests/{id}/cancel");
    let resp = h.post(&url(&queued_id), json!({})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["result"], "removed");
    let s = read_sse(queued).await;
    assert!(s.done, "{s:?}");
    assert_eq!(
        s.error.as_deref(),
        Some(format!("Request {queued_id} cancelled from UI.").as_str())
    );

    let resp = h.post(&url(&running_id), json!({})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["result"], "stopping");
    let rest = read_until(&mut running, "[DONE]").await;
    assert!(
        rest.contains(&format!("Request {running_id} cancelled from UI.")),
        "{rest}"
    );
    assert!(!rest.contains("chunk 1000/1000"), "{rest}");
    wait_idle(&h).await;
    let resp = h.post(&url(&running_id), json!({})).await;
    assert_eq!(resp.status(), 404, "an ended request is gone");
    h.shutdown().await;
}

/// Sends 9 paced requests at once to 3 dummy lanes and watches `/api/queue` until all are
/// answered; returns the most that ever ran at once.
async fn most_running_at_once(mode: &str) -> usize {
    let h = Harness::dummy_only(3, &format!("[runtime]\nmode = \"{mode}\"\n")).await;
    h.wait_lanes("three dummy lanes ready", |l| {
        l.len() == 3 && l.iter().all(|l| l["state"] == "ready")
    })
    .await;
    let requests = futures::future::join_all((0..9).map(|i| {
        let h = &h;
        async move {
            let s = h
                .stream_chat(
                    "dummy-slow",
                    &format!("r{i} dummy:chunks=3 dummy:delay_ms=30"),
                )
                .await;
            assert!(s.error.is_none() && s.done, "{s:?}");
            assert!(s.content.ends_with(" chunk 3/3"), "{}", s.content);
        }
    }));
    let watch = async {
        let mut most = 0;
        loop {
            let q = h.get_json("/api/queue").await;
            most = most.max(q["running"].as_array().unwrap().len());
            let served: u64 = q["lanes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["requests_served"].as_u64().unwrap())
                .sum();
            if served == 9 {
                return most;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (_, most) = tokio::time::timeout(DEADLINE, futures::future::join(requests, watch))
        .await
        .expect("all nine answered");
    h.shutdown().await;
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_lanes_run_one_dummy_generation_at_a_time() {
    let most = most_running_at_once("provider_lanes").await;
    assert!((1..=1).contains(&most), "ran {most} at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_modes_run_at_most_one_request_per_dummy_lane() {
    for mode in ["concurrent_provider_lanes", "full_parallel_lanes"] {
        let most = most_running_at_once(mode).await;
        assert!((1..=3).contains(&most), "{mode}: ran {most} at once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overhead_of_answered_requests_is_kept() {
    let h = Harness::dummy_only(2, "").await;
    let stats = h.get_json("/api/stats").await;
    assert_eq!(stats["overhead"]["count"], 0, "{stats:#}");
    assert!(stats["overhead"]["p50_ms"].is_null(), "{stats:#}");
    for i in 0..3 {
        let s = h.stream_chat("dummy-instant", &format!("s{i}")).await;
        assert!(s.done);
        let (status, _) = h
            .chat("dummy-slow", "dummy:chunks=2 dummy:delay_ms=1")
            .await;
        assert_eq!(status, 200);
    }
    // A refused request reached no lane: no sample.
    let (status, _) = h.chat("deepseek-chat", "x").await;
    assert_eq!(status, 400);
    let stats = h.get_json("/api/stats").await;
    let o = &stats["overhead"];
    assert_eq!(o["count"], 6, "{stats:#}");
    for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"] {
        assert!(
            o[key].as_f64().is_some_and(|v| v >= 0.0),
            "{key}: {stats:#}"
        );
    }
    assert!(o["p50_ms"].as_f64() <= o["max_ms"].as_f64(), "{stats:#}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_no_dummy_model_is_listed_or_routed() {
    // Dry Run Mode lists and routes the configured providers without a browser.
    for providers in [
        &[ProviderKind::DeepSeek][..],
        &[ProviderKind::DeepSeek, ProviderKind::Glm],
    ] {
        let h = Harness::start(
            providers,
            Knobs::default(),
            "[runtime]\nproviders_in_parallel = true\n[api]\ndry_run = true\n",
        )
        .await;
        let ids = model_ids(&h.get_json("/v1/models").await);
        assert!(!ids.is_empty());
        assert!(ids.iter().all(|id| !id.starts_with("dummy")), "{ids:?}");
        for model in DUMMY_IDS {
            let (status, body) = h.chat(model, "hi").await;
            assert_eq!(status, 400, "{model}: {body}");
        }
        let (status, _) = h.chat("deepseek-chat", "hi").await;
        assert_eq!(
            status, 418,
            "the site's IDs still route (Dry Run Mode answers 418)"
        );
        h.shutdown().await;
    }
    // Dummy lanes only: no site ID is listed or routed.
    let h = Harness::dummy_only(1, "").await;
    let (status, body) = h.chat("deepseek-chat", "hi").await;
    assert_eq!(status, 400, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dummy_lanes_sit_beside_site_lanes() {
    // A DeepSeek lane on its replica (real Chromium) and two dummy lanes: both route.
    let h = Harness::start(
        &[ProviderKind::DeepSeek],
        Knobs::default(),
        "[runtime]\nmode = \"concurrent_provider_lanes\"\n[dummy]\nlanes = 2\n",
    )
    .await;
    let ids = model_ids(&h.get_json("/v1/models").await);
    assert!(ids.contains(&"deepseek-chat".to_owned()), "{ids:?}");
    for id in DUMMY_IDS {
        assert!(ids.contains(&id.to_owned()), "{ids:?}");
    }
    let (site, dummy) = tokio::join!(
        h.stream_chat("deepseek-chat", "Hello"),
        h.stream_chat("dummy-instant", "Hello")
    );
    assert!(site.done && site.error.is_none(), "{site:?}");
    assert!(!site.content.is_empty());
    assert!(dummy.done && dummy.error.is_none(), "{dummy:?}");
    assert!(dummy.content.starts_with("[dummy-instant"), "{dummy:?}");
    let lanes = h.get_json("/api/lanes").await;
    let providers: Vec<&str> = lanes["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["deepseek", "dummy", "dummy"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adds_and_removes_dummy_lanes() {
    let h =
        Harness::start_from_file(&[], Knobs::default(), "[dummy]\nlanes = 1\nonly = true\n").await;
    h.wait_lanes("one dummy lane", |l| l.len() == 1).await;
    std::fs::write(h.config_file(), "[dummy]\nlanes = 3\nonly = true\n").unwrap();
    let resp = h.post("/api/config/reload", json!({})).await;
    assert_eq!(resp.status(), 200);
    let changes: Value = resp.json().await.unwrap();
    assert_eq!(
        changes["changes"]["lanes_added"],
        json!(["dummy:2", "dummy:3"]),
        "{changes:#}"
    );
    h.wait_lanes("three dummy lanes ready", |l| {
        l.len() == 3 && l.iter().all(|l| l["state"] == "ready")
    })
    .await;
    std::fs::write(h.config_file(), "[dummy]\nlanes = 1\nonly = true\n").unwrap();
    let resp = h.post("/api/config/reload", json!({})).await;
    assert_eq!(resp.status(), 200);
    h.wait_lanes("back to one lane", |l| l.len() == 1).await;
    let (status, _) = h.chat("dummy-instant", "still here").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_stream_hears_its_place_in_the_queue() {
    let h = Harness::dummy_only(1, "").await;
    let mut running = start_stream(&h, "dummy-slow", "dummy:chunks=1000 dummy:delay_ms=20").await;
    let running_id = request_id(&running);
    read_until(&mut running, "chunk 2/1000").await;
    let mut waiting = start_stream(&h, "dummy-instant", "waits").await;
    // The queue comment comes every 3 s while the request waits.
    let seen = read_until(&mut waiting, ": queued 1 of 1").await;
    assert!(seen.contains(": queued 1 of 1"), "{seen}");
    let resp = h
        .post(&format!("/api/requests/{running_id}/cancel"), json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    // Once the lane is free the waiting one runs to its end.
    let rest = read_until(&mut waiting, "[DONE]").await;
    assert!(rest.contains("[dummy-instant sha256:"), "{rest}");
    h.shutdown().await;
}
