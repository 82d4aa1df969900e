//! Long chats, as SillyTavern sends them, on every driver: a 10,000-line and a 200,000-character
//! prompt reach the site intact (the replica logs what it received), and a small request on the
//! same lane succeeds right after. Above `providers.<p>.max_prompt_chars` DeepSeek gets the
//! prompt as an uploaded `prompt.txt` (as `[[file]]` asks at any size); a site without the
//! upload, and DeepSeek's Expert mode, answer 413 before anything is queued.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReceivedFile};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen() {
    long_chats_reach_the_site_intact(ProviderKind::Qwen).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimo() {
    long_chats_reach_the_site_intact(ProviderKind::Mimo).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity() {
    long_chats_reach_the_site_intact(ProviderKind::Perplexity).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat() {
    long_chats_reach_the_site_intact(ProviderKind::HuggingChat).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio() {
    long_chats_reach_the_site_intact(ProviderKind::AiStudio).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_deepseek_takes_the_prompt_as_a_file_and_the_expert_mode_a_413() {
    let ds = ProviderKind::DeepSeek;
    let h = Harness::single(
        ds,
        Knobs::instant(),
        "[providers.deepseek]\nmax_prompt_chars = 2000\n",
    )
    .await;
    let long: String = (0..300).map(|i| format!("line {i}: long\n")).collect();
    let (status, body) = h.chat("deepseek-chat", &long).await;
    assert_eq!(status, 200, "{body}");
    let log = h.replica(ds).requests();
    let seen = log.last().unwrap();
    assert_eq!(seen.prompt, "", "nothing typed beside the file");
    let file = ReceivedFile {
        name: "prompt.txt".into(),
        content: format!("User: {long}"),
    };
    assert!(
        seen.files == [file],
        "the whole prompt arrived as the file: {} file(s), {:?} chars",
        seen.files.len(),
        seen.files.first().map(|f| f.content.len())
    );
    // `[[file]]` sends a short prompt as a file too; without it, it is typed.
    let (status, body) = h.chat("deepseek-chat", "short [[file]]").await;
    assert_eq!(status, 200, "{body}");
    let log = h.replica(ds).requests();
    let seen = log.last().unwrap();
    assert_eq!(seen.files.len(), 1);
    assert_eq!(seen.files[0].content, "User: short");
    let (status, body) = h.chat("deepseek-chat", "and a small one").await;
    assert_eq!(status, 200, "{body}");
    let log = h.replica(ds).requests();
    assert_eq!(log.last().unwrap().prompt, "User: and a small one");
    assert!(log.last().unwrap().files.is_empty());
    // Expert mode has no upload: over the limit is a 413 naming it, and the site sees nothing.
    let (status, body) = h.chat("deepseek-expert-chat", &long).await;
    assert_eq!(status, 413, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("at most 2000"), "{msg}");
    assert_eq!(h.replica(ds).requests().len(), 3);
    h.shutdown().await;
}
