//! Warm lanes on real Chromium: after an answer a lane prepares its next chat while idle
//! (`next_chat` on `/api/lanes`), a request with other toggles still gets its own, a request
//! queued behind another waits for the preparation, and a preparation that fails leaves the lane
//! recovering and then serving. An idle lane also purges its page's memory (`purges` on
//! `/api/lanes`) and answers after it, reloads the page instead once it served
//! `refresh_every` requests (`refreshes`); a purge its renderer does not answer sends the lane
//! into recovery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::{DEADLINE, Harness};
use switchyard::lanes::board::{LaneRecord, LaneState};
use switchyard::lanes::warm::NextChat;
use switchyard::models::ProviderKind;
use switchyard_replicas::{HookChange, Knobs, ReceivedRequest};

const KIND: ProviderKind = ProviderKind::DeepSeek;

/// Waits on the board's change events (no polling) until the lone lane's row passes `pred`;
/// returns every row seen on the way, the last one passing.
async fn wait_lane(h: &Harness, what: &str, pred: impl Fn(&LaneRecord) -> bool) -> Vec<LaneRecord> {
    let mut changes = h.gateway.board.changes();
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let row = h
            .gateway
            .board
            .snapshot()
            .into_iter()
            .next()
            .expect("one lane");
        let done = pred(&row);
        seen.push(row);
        if done {
            return seen;
        }
        match tokio::time::timeout_at(until, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for the lane: {what}; rows seen: {seen:#?}"),
        }
    }
}

fn prepared(row: &LaneRecord) -> bool {
    row.state == LaneState::Ready && row.next_chat == NextChat::Prepared
}

/// The replica's entry for the request whose prompt holds `tag`, once it ended.
async fn seen(h: &Harness, tag: &str) -> ReceivedRequest {
    let log = h
        .wait_replica(KIND, tag, |log| {
            log.iter()
                .any(|r| r.prompt.contains(tag) && r.ended_us.is_some())
        })
        .await;
    log.into_iter().find(|r| r.prompt.contains(tag)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_answer_the_next_chat_is_prepared_and_a_request_gets_its_own_toggles() {
    let h = Harness::single(KIND, Knobs::instant(), "").await;
    // A page just loaded shows a new chat; nothing is prepared before a request says how.
    wait_lane(&h, "the lane ready on a fresh page", |r| {
        r.state == LaneState::Ready && r.next_chat == NextChat::Fresh
    })
    .await;

    let (status, body) = h.chat("deepseek-reasoner", "warm [w1]").await;
    assert_eq!(status, 200, "{body}");
    assert!(seen(&h, "[w1]").await.thinking);
    // The lane prepares the next chat on its own, before any further request is sent.
    wait_lane(&h, "the next chat prepared after the answer", prepared).await;

    // Same settings: the prepared chat is taken as it is, and has the request's toggles.
    let (status, body) = h.chat("deepseek-reasoner", "warm [w2]").await;
    assert_eq!(status, 200, "{body}");
    let w2 = seen(&h, "[w2]").await;
    assert!(w2.thinking && !w2.search, "{w2:?}");
    wait_lane(&h, "prepared again", prepared).await;

    // Other toggles than the prepared chat's: the request still gets its own.
    let (status, body) = h.chat("deepseek-chat", "warm [w3] [[search]]").await;
    assert_eq!(status, 200, "{body}");
    let w3 = seen(&h, "[w3]").await;
    assert!(!w3.thinking && w3.search, "thinking off, search on: {w3:?}");
    wait_lane(&h, "prepared with the last request's settings", prepared).await;

    // And back: the chat prepared with search on is turned off again for this one.
    let (status, body) = h.chat("deepseek-reasoner", "warm [w4]").await;
    assert_eq!(status, 200, "{body}");
    let w4 = seen(&h, "[w4]").await;
    assert!(w4.thinking && !w4.search, "{w4:?}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("[w4]"),
        "the answer is this request's: {content}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_and_requests_during_the_preparation_get_their_own_chats() {
    let h = Harness::single(KIND, Knobs::instant(), "").await;
    let first = h.chat(
        "deepseek-chat",
        "warm [q1] replica:chunks=10 replica:delay_ms=20",
    );
    let second = async {
        // Queued once the site has the first: the lane takes it as the first ends, and
        // prepares its chat with its own settings.
        h.wait_replica(KIND, "the first request", |log| {
            log.iter().any(|r| r.prompt.contains("[q1]"))
        })
        .await;
        h.chat("deepseek-reasoner", "warm [q2]").await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(first, second);
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(s2, 200, "{b2}");
    let (q1, q2) = (seen(&h, "[q1]").await, seen(&h, "[q2]").await);
    assert!(
        q2.started_us >= q1.ended_us.unwrap(),
        "one lane: one after the other"
    );
    assert!(!q1.thinking && q2.thinking, "each with its own toggles");
    let content = b2["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("[q2]"), "{content}");

    // A request sent the moment the lane is seen preparing reaches it while it prepares (or
    // just after): it waits for the preparation, then gets its own toggles.
    let third = async {
        wait_lane(&h, "preparing (or prepared) after the second", |r| {
            matches!(r.next_chat, NextChat::Preparing | NextChat::Prepared)
        })
        .await;
        h.chat("deepseek-chat", "warm [q3] [[search]]").await
    };
    let (s3, b3) = third.await;
    assert_eq!(s3, 200, "{b3}");
    let q3 = seen(&h, "[q3]").await;
    assert!(!q3.thinking && q3.search, "{q3:?}");
    wait_lane(&h, "prepared after all three", prepared).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_preparation_leaves_the_lane_recovering_then_serving() {
    let h = Harness::start_with_faults(&[KIND], Knobs::instant(), "").await;
    wait_lane(&h, "the lane ready", |r| r.state == LaneState::Ready).await;
    // The site loses its "New chat" control from the next page load on, and the lane's
    // renderer crashes: the page the lane reloads has no "New chat".
    h.replica(KIND)
        .change_hook(Some(("new_chat", HookChange::All)));
    let resp = h
        .client
        .post(h.url("/api/lanes/deepseek:1/crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_lane(&h, "back on the changed page", |r| {
        r.state == LaneState::Ready && r.restarts == 1 && r.next_chat == NextChat::Fresh
    })
    .await;

    // The first request takes the freshly loaded page's own new chat; preparing the next one
    // after it needs "New chat", which fails: the lane recovers (and says why on its row),
    // then serves again.
    let (status, body) = h.chat("deepseek-chat", "warm [f1]").await;
    assert_eq!(status, 200, "{body}");
    seen(&h, "[f1]").await;
    let rows = wait_lane(&h, "recovered after the failed preparation", |r| {
        r.state == LaneState::Ready && r.restarts == 2
    })
    .await;
    let last = rows.last().unwrap();
    let error = last.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("could not prepare the next chat") && error.contains("New chat"),
        "the row names the failed preparation: {last:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.state != LaneState::Ready || r.next_chat != NextChat::Prepared),
        "never shown prepared: {rows:#?}"
    );

    // The site gets its control back from the next page load on; this page still lacks it.
    h.replica(KIND).change_hook(None);
    let (status, body) = h.chat("deepseek-reasoner", "warm [f2]").await;
    assert_eq!(status, 200, "{body}");
    assert!(seen(&h, "[f2]").await.thinking);

    // Preparing after it fails once more; the page the lane reloads has "New chat" again.
    wait_lane(&h, "recovered once more", |r| {
        r.state == LaneState::Ready && r.restarts == 3
    })
    .await;
    let (status, body) = h.chat("deepseek-chat", "warm [f3]").await;
    assert_eq!(status, 200, "{body}");
    wait_lane(&h, "prepared again", prepared).await;
    h.shutdown().await;
}

/// Sends `prompt` (holding `tag`) to the reasoner: the page answers with its own answer and
/// thinking on, and the lane then purges until `purges` are counted; returns the rows seen.
async fn reasoner_answers_then_purges(
    h: &Harness,
    prompt: &str,
    tag: &str,
    purges: u64,
) -> Vec<LaneRecord> {
    let (status, body) = h.chat("deepseek-reasoner", prompt).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains(tag), "{content}");
    assert!(seen(h, tag).await.thinking);
    wait_lane(h, &format!("purge {purges}"), |r| {
        r.state == LaneState::Ready && r.purges == purges
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_lane_purges_its_page_and_answers_after_it() {
    let h = Harness::single(KIND, Knobs::instant(), "").await;
    wait_lane(&h, "the lane ready", |r| r.state == LaneState::Ready).await;
    assert_eq!(
        h.gateway.board.snapshot()[0].purges,
        0,
        "nothing served, nothing to purge"
    );
    let (status, body) = h.chat("deepseek-chat", "purge [p1]").await;
    assert_eq!(status, 200, "{body}");
    // Idle after a request: the renderer collects its garbage, and the row counts it.
    wait_lane(&h, "a purge after the first request", |r| {
        r.state == LaneState::Ready && r.purges == 1
    })
    .await;
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(lanes["lanes"][0]["purges"], 1, "{lanes}");

    // The page still answers, with its own answer, and purges again once idle.
    let rows = reasoner_answers_then_purges(&h, "purge [p2]", "[p2]", 2).await;
    assert!(
        rows.iter()
            .all(|r| r.restarts == 0 && r.last_error.is_none()),
        "purging broke nothing: {rows:#?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_refresh_every_requests_the_idle_lane_reloads_its_page_and_serves_on() {
    let h = Harness::single(
        KIND,
        Knobs::instant(),
        "[providers.deepseek]\nrefresh_every = 2\n",
    )
    .await;
    wait_lane(&h, "the lane ready", |r| r.state == LaneState::Ready).await;
    let views = h.replica(KIND).page_views();
    assert!(views >= 1, "the lane loaded the page: {views}");

    // One request on the page: its idle purge collects garbage.
    let (status, body) = h.chat("deepseek-chat", "refresh [r1]").await;
    assert_eq!(status, 200, "{body}");
    wait_lane(&h, "a purge after the first request", |r| {
        r.state == LaneState::Ready && r.purges == 1
    })
    .await;
    assert_eq!(h.replica(KIND).page_views(), views, "a purge loads nothing");

    // The second request on the page: the purge after it is a reload, which the site sees.
    let (status, body) = h.chat("deepseek-chat", "refresh [r2]").await;
    assert_eq!(status, 200, "{body}");
    let rows = wait_lane(&h, "a reload after the second request", |r| {
        r.state == LaneState::Ready && r.refreshes == 1
    })
    .await;
    let row = rows.last().unwrap();
    assert_eq!(row.purges, 1, "{row:#?}");
    assert_eq!(
        row.next_chat,
        NextChat::Fresh,
        "the reloaded page shows a new chat"
    );
    assert_eq!(h.replica(KIND).page_views(), views + 1);
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(lanes["lanes"][0]["refreshes"], 1, "{lanes}");

    // The reloaded page answers with its own answer and toggles, and its age starts again:
    // the purge after one more request collects garbage.
    let rows = reasoner_answers_then_purges(&h, "refresh [r3]", "[r3]", 2).await;
    assert!(
        rows.iter()
            .all(|r| r.refreshes == 1 && r.restarts == 0 && r.last_error.is_none()),
        "{rows:#?}"
    );
    assert_eq!(h.replica(KIND).page_views(), views + 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_the_renderer_does_not_answer_sends_the_lane_into_recovery() {
    // A short CDP bound, so the unanswered purge gives up soon.
    let h = Harness::start_with_faults(
        &[KIND],
        Knobs::instant(),
        "[browser]\ncdp_timeout_secs = 2\n",
    )
    .await;
    wait_lane(&h, "the lane ready", |r| r.state == LaneState::Ready).await;
    let (status, body) = h.chat("deepseek-chat", "purge [h1]").await;
    assert_eq!(status, 200, "{body}");
    // Once the next chat is prepared (so no preparation is cut), the renderer spins in an
    // endless script: the purge due 3 s after the request times out.
    wait_lane(&h, "the next chat prepared", prepared).await;
    let resp = h
        .client
        .post(h.url("/api/lanes/deepseek:1/hang"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rows = wait_lane(&h, "recovered after the unanswered purge", |r| {
        r.state == LaneState::Ready && r.restarts == 1
    })
    .await;
    let last = rows.last().unwrap();
    let error = last.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("could not purge the page's memory"),
        "the row names the failed purge: {last:?}"
    );
    assert_eq!(last.purges, 0, "the failed purge is not counted: {last:?}");
    let (status, body) = h.chat("deepseek-chat", "purge [h2]").await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("[h2]"), "{content}");
    h.shutdown().await;
}
