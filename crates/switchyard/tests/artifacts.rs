//! What lanes save to disk: capture files (`[capture] dir`) and failure bundles, on real
//! Chromium against the replicas. The replicas set a session cookie on every page load; its value
//! must appear in no saved file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{DEADLINE, Harness};
use serde_json::Value;
use switchyard::models::ProviderKind;
use switchyard::providers::Driver;
use switchyard_decode::StreamEvent;
use switchyard_replicas::Knobs;

/// A directory for the test's capture files, removed on drop.
fn capture_dir() -> common::TempDir {
    common::TempDir::new("captures")
}

/// Waits until `dir` holds a file that `pred` accepts (files are written by a task after the
/// request; the `.json` of a capture file and a bundle's `bundle.json` are renamed into place
/// last, so once one is there, everything is).
async fn wait_for_file(dir: &Path, pred: impl Fn(&Path) -> bool) -> PathBuf {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        if let Some(found) = files.iter().find(|f| pred(f)) {
            return found.clone();
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for a file in {}: {files:?}",
            dir.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn assert_no_cookie_in(files: &[PathBuf], cookie: &str) {
    assert_eq!(cookie.len(), 32, "the replica set its session cookie");
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(cookie),
            "{} holds the session cookie's value",
            file.display()
        );
    }
}

/// The answer text a decoder finds in a capture file's body.
fn decoded_text(kind: ProviderKind, body: &[u8]) -> String {
    let mut decoder = Driver::of(kind).unwrap().decoder();
    let mut events = Vec::new();
    decoder.feed(body, &mut events);
    decoder.finish(&mut events);
    events
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

async fn a_capture_file_decodes_to_what_the_client_received(kind: ProviderKind, layer: &str) {
    let caps = capture_dir();
    let extra = format!("[capture]\ndir = \"{}\"\n", caps.0.display());
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer, &extra]).await;
    let s = h
        .stream_chat(
            &format!("{}-chat", kind.prefix()),
            "capture me replica:chunks=5",
        )
        .await;
    assert!(s.error.is_none(), "{:?}", s.error);
    assert!(s.content.contains("capture me"), "{}", s.content);

    let dir = caps.0.join(kind.prefix());
    let json_path = wait_for_file(&dir, |f| f.extension().is_some_and(|e| e == "json")).await;
    // (The stem holds a `.`, so `with_extension` would cut it.)
    let bin = PathBuf::from(json_path.to_str().unwrap().replace(".json", ".bin"));
    let meta: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let request_id = meta["request_id"].as_str().unwrap();
    let name = bin.file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(&format!("-{request_id}.bin")), "{name}");
    assert_eq!(meta["status"], 200);
    assert_eq!(meta["outcome"]["result"], "completed");
    assert!(
        meta["url"]
            .as_str()
            .unwrap()
            .starts_with(&h.replica(kind).base_url())
    );
    assert!(
        meta["timings_ms"]["first_byte"].as_f64().is_some(),
        "{meta:#}"
    );
    assert!(
        meta["response_headers"]["content-type"].is_string(),
        "{meta:#}"
    );

    let body = std::fs::read(&bin).unwrap();
    assert_eq!(meta["body_bytes"], body.len());
    assert_eq!(decoded_text(kind, &body), s.content);
    // And `switchyard decode`, as a user runs it on the file, prints the same answer.
    let model = format!("{}-chat", kind.prefix());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "decode",
            "--provider",
            kind.prefix(),
            "--model",
            &model,
            "--no-thinking",
        ])
        .arg(&bin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = common::parse_sse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(printed.content, s.content);
    assert_eq!(printed.finish_reason, s.finish_reason);
    assert!(printed.done);

    if meta["capture"] == "replay" {
        // The replay sends the page's cookies itself; the file has them only redacted.
        assert_eq!(meta["request_headers"]["cookie"], "<redacted>", "{meta:#}");
    }
    let cookie = h.replica(kind).session_cookie().to_owned();
    assert_no_cookie_in(&all_files(&caps.0), &cookie);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek_replay_capture_file_decodes_to_what_the_client_received() {
    a_capture_file_decodes_to_what_the_client_received(ProviderKind::DeepSeek, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glm_tee_capture_file_decodes_to_what_the_client_received() {
    a_capture_file_decodes_to_what_the_client_received(
        ProviderKind::Glm,
        "[providers.glm]\ncapture = \"tee\"\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_answer_leaves_a_failure_bundle_named_in_api_lanes() {
    let extra = "[providers.deepseek]\nidle_timeout_secs = 1\n[failures]\nkeep = 1\n";
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), extra).await;
    let mut bundles = Vec::new();
    for _ in 0..2 {
        let s = h
            .stream_chat("deepseek-chat", "x replica:fault=stall")
            .await;
        let error = s.error.expect("the stall is an error");
        assert_eq!(error, "DeepSeek timeout: no next stream chunk within 1s.");
        let lanes = h
            .wait_lanes("the lane names its failure bundle", |l| {
                l[0]["last_failure_bundle"].is_string()
                    && !bundles.contains(&l[0]["last_failure_bundle"])
            })
            .await;
        assert_eq!(lanes[0]["last_error"], error.as_str());
        bundles.push(lanes[0]["last_failure_bundle"].clone());
    }
    let dir = PathBuf::from(bundles[1].as_str().unwrap());
    assert_eq!(dir.parent().unwrap(), h.data_dir().join("failures"));
    assert!(
        dir.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-deepseek-1"),
        "{}",
        dir.display()
    );
    wait_for_file(&dir, |f| f.ends_with("bundle.json")).await;
    let png = std::fs::read(dir.join("screenshot.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let html = std::fs::read_to_string(dir.join("page.html")).unwrap();
    assert!(
        html.starts_with("<html"),
        "{}",
        &html[..html.len().min(200)]
    );
    let frames = std::fs::read(dir.join("frames.bin")).unwrap();
    assert!(!frames.is_empty(), "the frames before the stall");
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert!(log.contains("failed: DeepSeek timeout"), "{log}");
    assert!(log.contains("the site answered HTTP 200"), "{log}");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(
        meta["error"],
        "DeepSeek timeout: no next stream chunk within 1s."
    );
    assert_eq!(meta["lane"], "deepseek:1");
    assert_eq!(meta["request_headers"]["cookie"], "<redacted>");
    let cookie = h
        .replica(ProviderKind::DeepSeek)
        .session_cookie()
        .to_owned();
    assert_no_cookie_in(&all_files(&dir), &cookie);

    // `keep = 1`: the first bundle is gone once the second is written.
    let first = PathBuf::from(bundles[0].as_str().unwrap());
    let until = tokio::time::Instant::now() + DEADLINE;
    while first.exists() {
        assert!(
            tokio::time::Instant::now() < until,
            "the older bundle stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.shutdown().await;
}
