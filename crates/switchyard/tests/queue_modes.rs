//! The three queue modes, observed where it counts: at the replica sites, which log when each
//! completion request arrived and when its stream ended.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, Outcome, ReceivedRequest};

const DS: ProviderKind = ProviderKind::DeepSeek;
const GLM: ProviderKind = ProviderKind::Glm;

/// The replicas answer 12 chunks 40 ms apart: about half a second per answer.
const PACED: Knobs = Knobs {
    chunks: 12,
    delay_ms: 40,
    first_delay_ms: 0,
};

fn span(r: &ReceivedRequest) -> (u64, u64) {
    (r.started_us, r.ended_us.expect("the stream ended"))
}

/// Sends one DeepSeek and one GLM request at the same moment and returns the two site spans.
async fn one_each_at_once(h: &Harness) -> ((u64, u64), (u64, u64)) {
    let (a, b) = tokio::join!(
        h.chat("deepseek-chat", "first"),
        h.chat("glm-chat", "second")
    );
    assert_eq!(a.0, 200, "{}", a.1);
    assert_eq!(b.0, 200, "{}", b.1);
    // The client has its answer a moment before the site marks its stream as ended.
    let ended = |log: &[ReceivedRequest]| log.len() == 1 && log[0].ended_us.is_some();
    let ds = h.wait_replica(DS, "the DeepSeek stream ends", ended).await;
    let glm = h.wait_replica(GLM, "the GLM stream ends", ended).await;
    (span(&ds[0]), span(&glm[0]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_lanes_never_overlap_generations() {
    let h = Harness::start(
        &[DS, GLM],
        PACED,
        "[runtime]\nproviders_in_parallel = true\nmode = \"provider_lanes\"\n",
    )
    .await;
    // Both lanes are warm...
    let lanes = h.wait_lanes("both lanes ready", |l| l.len() == 2).await;
    assert!(lanes.iter().all(|l| l["state"] == "ready"), "{lanes:?}");
    // ...but one generation runs at a time.
    let (ds, glm) = one_each_at_once(&h).await;
    assert!(
        ds.1 <= glm.0 || glm.1 <= ds.0,
        "the sites' streams overlapped: deepseek {ds:?}, glm {glm:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provider_lanes_overlap_generations() {
    let h = Harness::start(
        &[DS, GLM],
        PACED,
        "[runtime]\nproviders_in_parallel = true\nmode = \"concurrent_provider_lanes\"\n",
    )
    .await;
    let (ds, glm) = one_each_at_once(&h).await;
    assert!(
        ds.0 < glm.1 && glm.0 < ds.1,
        "the sites' streams did not overlap: deepseek {ds:?}, glm {glm:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_parallel_lanes_let_short_requests_overtake_a_long_one() {
    let h = Harness::start(
        &[DS],
        Knobs {
            chunks: 3,
            delay_ms: 20,
            first_delay_ms: 0,
        },
        "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
         [providers.deepseek]\ninstances = 2\n",
    )
    .await;
    // The long answer takes one lane for ~8 s.
    let long = {
        let client = h.client.clone();
        let url = h.url("/v1/chat/completions");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"model": "deepseek-chat", "messages":
                    [{"role": "user", "content": "long replica:chunks=200 replica:delay_ms=40"}]}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let shorts = async {
        h.wait_replica(DS, "the long answer streams", |log| {
            log.len() == 1 && log[0].outcome == Outcome::Streaming
        })
        .await;
        // Two short requests at once: one takes the idle sibling lane, the other waits in the
        // provider queue and goes to whichever lane frees first, which is the sibling again.
        let (a, b) = tokio::join!(
            h.chat("deepseek-chat", "short a"),
            h.chat("deepseek-chat", "short b")
        );
        assert_eq!((a.0, b.0), (200, 200));
        // At this point the long answer is still streaming.
        assert_eq!(h.replica(DS).requests()[0].outcome, Outcome::Streaming);
    };
    let (long_status, ()) = tokio::join!(long, shorts);
    assert_eq!(long_status, 200);
    let log = h
        .wait_replica(DS, "all three streams end", |log| {
            log.len() == 3 && log.iter().all(|r| r.ended_us.is_some())
        })
        .await;

    let by_prompt = |needle: &str| {
        log.iter()
            .find(|r| r.prompt.contains(needle))
            .unwrap_or_else(|| panic!("{needle} reached the site: {log:#?}"))
            .clone()
    };
    let long = by_prompt("long");
    let (a, b) = (by_prompt("short a"), by_prompt("short b"));
    assert_eq!(a.outcome, Outcome::Completed);
    assert_eq!(b.outcome, Outcome::Completed);
    // Both short answers were over while the long one was still streaming.
    let long_end = long.ended_us.unwrap();
    assert!(
        a.ended_us.unwrap() < long_end && b.ended_us.unwrap() < long_end,
        "a short request waited behind the long one: {log:#?}"
    );
    // The sibling lane served both short requests; the long one's lane only the long one.
    // Which of the two never-used lanes took the long one is the scheduler's tie to break.
    h.wait_lanes("each lane counted its requests", |lanes| {
        let mut served: Vec<u64> = (lanes.iter())
            .filter_map(|l| l["requests_served"].as_u64())
            .collect();
        served.sort_unstable();
        lanes.len() == 2 && served == [1, 2]
    })
    .await;
    h.shutdown().await;
}
