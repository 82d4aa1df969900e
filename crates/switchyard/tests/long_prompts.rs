//! Long chats, as SillyTavern sends them, on every driver: a 10,000-line and a 200,000-character
//! prompt reach the site intact (the replica logs what it received), and a small request on the
//! same lane succeeds right after.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

async fn long_chats_reach_the_site_intact(kind: ProviderKind) {
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let model = format!("{}-chat", kind.prefix());
    let lines: String = (0..10_000)
        .map(|i| format!("line {i}: a short message\n"))
        .collect();
    let lines = lines.trim_end().to_owned();
    let wide = "0123456789 abcdefghi ".repeat(200_000 / 20);
    for (what, content) in [("10,000 lines", &lines), ("200,000 characters", &wide)] {
        let (status, body) = h.chat(&model, content).await;
        assert_eq!(status, 200, "{what}: {body}");
        let log = h.replica(kind).requests();
        let seen = &log.last().expect("the site got the request").prompt;
        assert_eq!(seen.len(), format!("User: {content}").len(), "{what}");
        assert!(
            seen == &format!("User: {content}"),
            "{what}: the prompt changed on the way"
        );
        let (status, body) = h.chat(&model, "and a small one").await;
        assert_eq!(status, 200, "after {what}: {body}");
        let answer = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(answer.contains("and a small one"), "{answer}");
    }
    assert_eq!(h.replica(kind).requests().len(), 4);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek() {
    long_chats_reach_the_site_intact(ProviderKind::DeepSeek).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glm() {
    long_chats_reach_the_site_intact(ProviderKind::Glm).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot() {
    long_chats_reach_the_site_intact(ProviderKind::Moonshot).await
}
