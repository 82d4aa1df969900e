//! Lanes that heal, on real Chromium: a renderer crash, a killed browser (both isolation
//! modes), killed zygotes, a panic in a lane's request task or its supervisor, a timed-out step, a breaker that benches a lane
//! failing every request, and the fault-injection endpoints that cause some of them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::time::Instant;

use common::{Harness, Streamed};
use futures::StreamExt;
use serde_json::{Value, json};
use switchyard::models::ProviderKind;
use switchyard_replicas::{Expected, Knobs, Site};
use tokio::sync::oneshot;

const GLM: ProviderKind = ProviderKind::Glm;
const DS: ProviderKind = ProviderKind::DeepSeek;

const GLM_2: &str = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
                     [providers.glm]\ninstances = 2\n";
const BOTH_1: &str = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n";

/// Answers paced slowly enough for a test to act while one streams (10 s in all).
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
    /// Sends a streaming request and reads until the answer is well under way.
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

async fn inject(h: &Harness, lane: &str, fault: &str) -> Value {
    let resp = h
        .client
        .post(h.url(&format!("/api/lanes/{lane}/{fault}")))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// A non-streaming chat request running on its own; its status and body arrive on the receiver.
fn spawn_chat(h: &Harness, model: &str, prompt: String) -> oneshot::Receiver<(u16, Value)> {
    let (tx, rx) = oneshot::channel();
    let request = h
        .client
        .post(h.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": prompt}]}));
    switchyard::tasks::spawn("test-client", async move {
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let _ = tx.send((status, resp.json::<Value>().await.unwrap()));
    });
    rx
}

fn lane<'a>(lanes: &'a [Value], id: &str) -> &'a Value {
    lanes.iter().find(|l| l["id"] == id).unwrap()
}

fn all_ready(lanes: &[Value]) -> bool {
    lanes.iter().all(|l| l["state"] == "ready")
}

fn kill_9(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A DeepSeek and a GLM request at once (`what` in their prompts) are both answered.
async fn both_answer(h: &Harness, what: &str) {
    let prompt = format!("{what} {SHORT}");
    let (a, b) = tokio::join!(
        h.chat("deepseek-chat", &prompt),
        h.chat("glm-chat", &prompt)
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
}

/// What the replica of `kind` streamed for the logged request whose prompt holds `marker`.
fn expected(h: &Harness, kind: ProviderKind, site: Site, marker: &str, knobs: Knobs) -> String {
    let log = h.replica(kind).requests();
    let seen = log
        .iter()
        .find(|r| r.prompt.contains(marker))
        .unwrap_or_else(|| panic!("the replica saw {marker}: {log:#?}"));
    Expected::for_request(site, seen, knobs).answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renderer_crash_fails_only_that_answer_and_the_lane_serves_again() {
    let h = Harness::start_with_faults(&[GLM], LONG, GLM_2).await;
    // A runs on one lane and B on the other. Which is which is read, not assumed: a lane
    // that is slow to come up under load is not picked first.
    let a = Answer::start(&h, "glm-chat", "answer a").await;
    let lanes = h
        .wait_lanes("A is busy", |l| {
            l.iter().filter(|l| l["state"] == "busy").count() == 1
        })
        .await;
    let busy = |l: &&Value| l["state"] == "busy";
    let a_lane = lanes.iter().find(busy).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_lane = if a_lane == "glm_chat:1" {
        "glm_chat:2"
    } else {
        "glm_chat:1"
    };
    let b = Answer::start(&h, "glm-chat", "answer b").await;
    let lanes = h
        .wait_lanes("both busy", |l| l.iter().all(|l| l["state"] == "busy"))
        .await;
    assert_eq!(lanes.len(), 2);
    // C waits behind them.
    let c = spawn_chat(&h, "glm-chat", format!("queued c {SHORT}"));
    h.wait_queue("C is queued", |q| {
        q["pending"].as_array().unwrap().len() == 1
    })
    .await;

    let body = inject(&h, &a_lane, "crash").await;
    assert_eq!(body["fault"], "crash");
    let a = a.finish().await;
    let err = a.error.expect("the crash is reported to A's client");
    let name = format!("GLM Chat {}", &a_lane["glm_chat:".len()..]);
    assert!(err.contains(&name), "names the lane: {err}");
    assert!(err.contains("crashed"), "{err}");
    assert!(a.done, "A's stream ends with [DONE]");

    let (status, c) = c.await.unwrap();
    assert_eq!(status, 200, "the queued request is answered: {c}");
    assert!(
        c["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with(" w2")
    );

    // B on the other lane never noticed: its answer is the replica's, byte for byte.
    let b = b.finish().await;
    assert_eq!(b.error, None);
    assert_eq!(b.finish_reason.as_deref(), Some("stop"));
    assert_eq!(b.content, expected(&h, GLM, Site::Glm, "answer b", LONG));

    let lanes = h
        .wait_lanes("A's lane is back", |l| {
            all_ready(l) && lane(l, &a_lane)["restarts"] == 1
        })
        .await;
    assert_eq!(lane(&lanes, b_lane)["restarts"], 0);
    // A's lane serves again: with both lanes free, two requests run one on each.
    let served = lane(&lanes, &a_lane)["requests_served"].as_u64().unwrap();
    let (px, py) = (format!("again x {SHORT}"), format!("again y {SHORT}"));
    let (x, y) = tokio::join!(h.chat("glm-chat", &px), h.chat("glm-chat", &py));
    assert_eq!((x.0, y.0), (200, 200), "{x:?} {y:?}");
    let lanes = h.get_json("/api/lanes").await;
    let lanes = lanes["lanes"].as_array().unwrap();
    assert_eq!(
        lane(lanes, &a_lane)["requests_served"].as_u64().unwrap(),
        served + 1
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shared_browser_is_relaunched_and_every_lane_serves_again() {
    let h = Harness::start_with_faults(&[DS, GLM], LONG, BOTH_1).await;
    let old_pid = u64::from(h.gateway.browser_pid().unwrap());
    let answer = Answer::start(&h, "deepseek-chat", "answer before the kill").await;
    let killed_at = Instant::now();
    kill_9(old_pid);
    let s = answer.finish().await;
    let err = s.error.expect("the lost browser is reported to the client");
    assert!(err.contains("DeepSeek"), "{err}");
    assert!(s.done);

    let lanes = h
        .wait_lanes("every lane back on a new browser", |l| {
            all_ready(l)
                && l.iter()
                    .all(|l| l["restarts"] == 1 && l["browser_pid"].as_u64() != Some(old_pid))
        })
        .await;
    eprintln!(
        "shared browser kill -9 → every lane ready in {:.2}s",
        killed_at.elapsed().as_secs_f64()
    );
    let pids: Vec<_> = lanes
        .iter()
        .map(|l| l["browser_pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1], "still one shared browser: {pids:?}");
    assert_eq!(Some(pids[0] as u32), h.gateway.browser_pid());
    both_answer(&h, "after the kill").await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_zygote_relaunches_the_shared_browser_and_every_lane_serves_again() {
    let h = Harness::start_with_faults(&[DS, GLM], LONG, BOTH_1).await;
    let old_pid = h.gateway.browser_pid().unwrap();
    // The zygotes fork every renderer; without them the browser could open no page again.
    let zygotes = switchyard::browser::procs::zygotes(old_pid);
    assert!(!zygotes.is_empty(), "Chromium {old_pid} runs a zygote");
    let killed_at = Instant::now();
    for zygote in &zygotes {
        kill_9(u64::from(*zygote));
    }
    let lanes = h
        .wait_lanes("every lane back on a new browser", |l| {
            all_ready(l)
                && l.iter().all(|l| {
                    l["restarts"].as_u64() >= Some(1)
                        && l["browser_pid"].as_u64() != Some(u64::from(old_pid))
                })
        })
        .await;
    eprintln!(
        "zygotes kill -9 → every lane ready on a new browser in {:.2}s",
        killed_at.elapsed().as_secs_f64()
    );
    let new_pid = h.gateway.browser_pid().unwrap();
    assert_ne!(new_pid, old_pid);
    assert!(
        lanes
            .iter()
            .all(|l| l["browser_pid"].as_u64() == Some(u64::from(new_pid)))
    );
    assert!(!switchyard::browser::procs::zygotes(new_pid).is_empty());
    both_answer(&h, "after the zygote kill").await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_isolation_a_killed_browser_brings_back_only_its_lane() {
    let extra = format!("{BOTH_1}[browser]\nisolation = \"process\"\n");
    let h = Harness::start_with_faults(&[DS, GLM], LONG, &extra).await;
    let lanes = h
        .wait_lanes("two lanes", |l| l.len() == 2 && all_ready(l))
        .await;
    let ds_pid = lane(&lanes, "deepseek:1")["browser_pid"].as_u64().unwrap();
    let glm_pid = lane(&lanes, "glm_chat:1")["browser_pid"].as_u64().unwrap();
    let glm = Answer::start(&h, "glm-chat", "glm streams on").await;
    kill_9(ds_pid);
    let lanes = h
        .wait_lanes("the DeepSeek lane has a new browser", |l| {
            lane(l, "deepseek:1")["state"] == "ready"
                && lane(l, "deepseek:1")["restarts"] == 1
                && lane(l, "deepseek:1")["browser_pid"].as_u64() != Some(ds_pid)
        })
        .await;
    assert_eq!(
        lane(&lanes, "glm_chat:1")["browser_pid"].as_u64(),
        Some(glm_pid)
    );
    let (status, body) = h
        .chat("deepseek-chat", &format!("after the kill {SHORT}"))
        .await;
    assert_eq!(status, 200, "{body}");
    // The other lane's browser was never touched: its answer completes byte for byte.
    let glm = glm.finish().await;
    assert_eq!(glm.error, None);
    assert_eq!(
        glm.content,
        expected(&h, GLM, Site::Glm, "glm streams on", LONG)
    );
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(
        lane(lanes["lanes"].as_array().unwrap(), "glm_chat:1")["restarts"],
        0
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_queued_requests_across_a_crash_are_all_answered() {
    let knobs = Knobs {
        chunks: 20,
        delay_ms: 15,
        first_delay_ms: 0,
    };
    let h = Harness::start_with_faults(&[GLM], knobs, GLM_2).await;
    let requests: Vec<_> = (0..20)
        .map(|i| (i, spawn_chat(&h, "glm-chat", format!("queued {i}"))))
        .collect();
    h.wait_queue("most requests are queued", |q| {
        q["running"].as_array().unwrap().len() == 2 && q["pending"].as_array().unwrap().len() >= 10
    })
    .await;
    inject(&h, "glm_chat:1", "crash").await;
    let mut answered = 0;
    let mut failed = Vec::new();
    for (i, r) in requests {
        let (status, body) = r.await.unwrap();
        if status == 200 {
            let content = body["choices"][0]["message"]["content"].as_str().unwrap();
            assert!(content.contains(&format!("queued {i}")) && content.ends_with(" w19"));
            answered += 1;
        } else {
            failed.push((i, status, body));
        }
    }
    // Only the answer running on the crashed lane may fail, and it says which lane.
    assert!(failed.len() <= 1, "{failed:#?}");
    for (_, _, body) in &failed {
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("GLM Chat 1"), "{msg}");
    }
    assert_eq!(answered + failed.len(), 20);
    let q = h
        .wait_queue("nothing left", |q| {
            q["running"].as_array().unwrap().is_empty()
                && q["pending"].as_array().unwrap().is_empty()
        })
        .await;
    assert!(
        q["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["current_request"].is_null())
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_lane_fails_its_request_and_the_lane_recovers() {
    let h = Harness::start_with_faults(&[DS], Knobs::instant(), "").await;
    inject(&h, "deepseek:1", "panic").await;
    let s = h.stream_chat("deepseek-chat", "this one panics").await;
    let err = s.error.expect("the client hears of the panic");
    assert!(
        err.contains("DeepSeek") && err.contains("internal error"),
        "{err}"
    );
    assert!(s.done, "and its stream ends with [DONE]");
    h.wait_lanes("the lane is back", |l| {
        l[0]["state"] == "ready" && l[0]["restarts"] == 1 && l[0]["current_request"].is_null()
    })
    .await;
    let (status, body) = h.chat("deepseek-chat", "after the panic").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_supervisor_is_replaced_and_the_lane_opened_again() {
    let h = Harness::start_with_faults(&[GLM], Knobs::instant(), GLM_2).await;
    inject(&h, "glm_chat:1", "panic-supervisor").await;
    // Lane 1 goes offline at once (never left `ready` and unmanned), then comes back.
    let lanes = h
        .wait_lanes("lane 1 is open again", |l| {
            all_ready(l) && lane(l, "glm_chat:1")["restarts"] == 1
        })
        .await;
    assert_eq!(lane(&lanes, "glm_chat:2")["restarts"], 0);
    // Both lanes serve: two requests at once run one on each.
    let served = lane(&lanes, "glm_chat:1")["requests_served"]
        .as_u64()
        .unwrap();
    let (x, y) = tokio::join!(h.chat("glm-chat", "x"), h.chat("glm-chat", "y"));
    assert_eq!((x.0, y.0), (200, 200), "{x:?} {y:?}");
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(
        lane(lanes["lanes"].as_array().unwrap(), "glm_chat:1")["requests_served"]
            .as_u64()
            .unwrap(),
        served + 1
    );
    // Its new supervisor takes faults too.
    inject(&h, "glm_chat:1", "crash").await;
    h.wait_lanes("lane 1 recovered from the crash", |l| {
        all_ready(l) && lane(l, "glm_chat:1")["restarts"] == 2
    })
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_finds_a_hung_page_and_the_lane_gets_a_new_one() {
    let h = Harness::start_with_faults(&[GLM], Knobs::instant(), "").await;
    inject(&h, "glm_chat:1", "hang").await;
    // Idle, the lane pings its page every 10 s; an unanswered ping sends it to recovery.
    h.wait_lanes("the lane has a new page", |l| {
        l[0]["state"] == "ready" && l[0]["restarts"] == 1
    })
    .await;
    let (status, body) = h.chat("glm-chat", "after the hang").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_step_leaves_the_lane_recovering_then_ready_with_a_fresh_page() {
    let h = Harness::single(
        GLM,
        Knobs::instant(),
        "[providers.glm]\nfirst_chunk_timeout_secs = 1\n",
    )
    .await;
    let (status, body) = h.chat("glm-chat", "hold it replica:fault=slow_first").await;
    assert_eq!(status, 504, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("timeout"), "{msg}");
    // The lane reloaded its page before it was offered work again.
    let lanes = h
        .wait_lanes("the lane is back", |l| {
            l[0]["state"] == "ready" && l[0]["restarts"] == 1
        })
        .await;
    assert!(lanes[0]["last_error"].as_str().unwrap().contains("timeout"));
    let (status, body) = h.chat("glm-chat", "after the timeout").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_failing_every_request_is_benched_by_its_breaker() {
    let h = Harness::single(DS, Knobs::instant(), "").await;
    // One failure does not bench the lane: it takes the next request and answers it.
    let (status, _) = h.chat("deepseek-chat", "replica:fault=rate_limit").await;
    assert_eq!(status, 429);
    let (status, body) = h.chat("deepseek-chat", "fine").await;
    assert_eq!(status, 200, "{body}");
    // Failure after failure does (3 of 4 within the window, at least 4 outcomes).
    for _ in 0..2 {
        let (status, body) = h.chat("deepseek-chat", "replica:fault=rate_limit").await;
        assert_eq!(status, 429, "{body}");
    }
    let lanes = h
        .wait_lanes("the lane is offline", |l| l[0]["state"] == "offline")
        .await;
    let reason = lanes[0]["reason"].as_str().unwrap();
    assert!(reason.contains("benched by its breaker"), "{reason}");
    assert!(
        reason.contains("rate limited"),
        "names the last error: {reason}"
    );
    let (status, body) = h.chat("deepseek-chat", "anyone there?").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/lanes"),
        "{body}"
    );

    // After the 30 s cool-down the lane is half-open: its page reloaded, it takes one probe.
    let until = Instant::now() + std::time::Duration::from_secs(60);
    let lanes = loop {
        let v = h.get_json("/api/lanes").await;
        let lanes = v["lanes"].as_array().unwrap().clone();
        if lanes[0]["state"] == "ready" {
            break lanes;
        }
        assert!(
            Instant::now() < until,
            "the lane never came back for its probe: {lanes:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(lanes[0]["restarts"], 1, "the probe runs on a reloaded page");
    // A failed probe benches it again at once, for twice as long.
    let (status, body) = h.chat("deepseek-chat", "replica:fault=rate_limit").await;
    assert_eq!(status, 429, "{body}");
    let lanes = h
        .wait_lanes("benched again", |l| l[0]["state"] == "offline")
        .await;
    let reason = lanes[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the probe request after a cool-down failed"),
        "{reason}"
    );
    assert!(reason.contains("probing again in 60s"), "{reason}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_is_off_unless_enabled() {
    let h = Harness::single(DS, Knobs::instant(), "[api]\ndry_run = true\n").await;
    let resp = h
        .client
        .post(h.url("/api/lanes/deepseek:1/crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--enable-fault-injection"),
        "{body}"
    );
    h.shutdown().await;
}
