//! `switchyard demo` with every implemented provider: one client streams from all of them at
//! once in `concurrent_provider_lanes` mode, and `/v1/models` lists their IDs; the demo seeds
//! replica accounts for the providers that fill a sign-in form, and its lanes sign in with them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::collections::BTreeSet;

use common::parse_sse;
use serde_json::{Value, json};
use switchyard::config::QueueMode;
use switchyard::demo::{Demo, DemoOptions};
use switchyard::models::ProviderKind;

async fn lanes(base: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{base}/api/lanes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["lanes"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_streams_from_every_demo_provider_at_once() {
    common::logs::capture();
    let dir = common::TempDir::new("demo");
    let layer = dir.0.join("demo.toml");
    std::fs::write(
        &layer,
        format!(
            "data_dir = \"{}\"\n[server]\nshutdown_grace_secs = 2\n",
            dir.0.display()
        ),
    )
    .unwrap();
    // Streams of about 2 s (40 pieces, 50 ms apart), so they can only all be open at the same
    // moment if the lanes run side by side.
    let demo = Demo::start(&DemoOptions {
        mode: QueueMode::ConcurrentProviderLanes,
        lanes_per_provider: 1,
        port: 0,
        chunk_delay_ms: 50,
        chunks: 40,
        config: Some(layer),
        fault_injection: false,
        dummy_lanes: 0,
    })
    .await
    .unwrap();
    let kinds: Vec<ProviderKind> = demo.replicas.iter().map(|(k, _)| *k).collect();
    for kind in [
        ProviderKind::DeepSeek,
        ProviderKind::Glm,
        ProviderKind::Qwen,
        ProviderKind::Mimo,
        ProviderKind::Moonshot,
    ] {
        assert!(kinds.contains(&kind), "the demo runs {kind}: {kinds:?}");
    }
    let base = demo.gateway.base_url();
    let client = reqwest::Client::new();
    // The providers that fill a sign-in form got demo accounts; each lane of theirs holds one.
    let seeded: BTreeSet<ProviderKind> = demo.seeded.iter().map(|(k, _)| *k).collect();
    assert!(
        seeded.contains(&ProviderKind::DeepSeek),
        "{:?}",
        demo.seeded
    );
    assert!(seeded.contains(&ProviderKind::Glm), "{:?}", demo.seeded);
    let rows = lanes(&base).await;
    let mut held = std::collections::HashMap::new();
    for row in &rows {
        let kind = ProviderKind::from_name(row["provider"].as_str().unwrap()).unwrap();
        if seeded.contains(&kind) {
            let account = row["account"].as_str().unwrap_or_else(|| panic!("{row}"));
            assert!(
                demo.seeded.contains(&(kind, account.to_owned())),
                "{account} is not a seeded {kind} account: {:?}",
                demo.seeded
            );
            held.insert(kind, account.to_owned());
        }
    }
    assert_eq!(held.len(), seeded.len(), "{rows:#?}");

    let models: serde_json::Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for kind in &kinds {
        for mode in ["auto", "chat", "reasoner"] {
            let id = format!("{}-{mode}", kind.prefix());
            assert!(ids.contains(&id.as_str()), "{id} in {ids:?}");
        }
    }

    // One client, one request per provider, all at once.
    let streams = kinds.iter().map(|kind| {
        let client = client.clone();
        let url = format!("{base}/v1/chat/completions");
        let model = format!("{}-chat", kind.prefix());
        async move {
            let resp = client
                .post(url)
                .json(&json!({"model": model, "stream": true,
                              "messages": [{"role": "user", "content": format!("hello {model}")}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{model}");
            (model, parse_sse(&resp.text().await.unwrap()))
        }
    });
    for (model, s) in futures::future::join_all(streams).await {
        assert!(s.error.is_none(), "{model}: {:?}", s.error);
        assert!(
            s.content.contains(&format!("hello {model}")),
            "{model}: {}",
            s.content
        );
        assert!(s.content.ends_with(" w39"), "{model}: {}", s.content);
        assert_eq!(s.finish_reason.as_deref(), Some("stop"), "{model}");
        assert!(s.done, "{model}");
    }

    // At the sites: every stream was open at one moment (the last to start began before the
    // first to end finished).
    let mut spans = Vec::new();
    for (kind, replica) in &demo.replicas {
        let log = replica
            .wait_for(
                |log| log.len() == 1 && log[0].ended_us.is_some(),
                common::DEADLINE,
            )
            .await
            .unwrap_or_else(|log| panic!("{kind}: the stream did not end: {log:?}"));
        spans.push((log[0].started_us, log[0].ended_us.unwrap()));
        // A seeded site saw the request under the lane's account.
        if let Some(account) = held.get(kind) {
            assert_eq!(log[0].account.as_deref(), Some(account.as_str()), "{kind}");
        }
    }
    let last_start = spans.iter().map(|s| s.0).max().unwrap();
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_start < first_end,
        "the streams were not all open at once: {spans:?}"
    );
    demo.shutdown().await;
}

/// Full-parallel lanes on seeded replica accounts: each of a provider's lanes signs in through
/// the replica's form with its own account (the start-up log and `/api/lanes` name them), two
/// requests at once reach the site under both, and the seeded store is sealed and removed with
/// the demo's key when it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_parallel_demo_lanes_sign_in_with_distinct_seeded_accounts() {
    common::logs::capture();
    let dir = common::TempDir::new("demo-accounts");
    let layer = dir.0.join("demo.toml");
    // Only the two providers with sign-in forms today, to keep the test light.
    let mut toml = format!(
        "data_dir = \"{}\"\n[server]\nshutdown_grace_secs = 2\n",
        dir.0.display()
    );
    for kind in ProviderKind::ALL {
        if !matches!(kind, ProviderKind::DeepSeek | ProviderKind::Glm) {
            toml.push_str(&format!("[providers.{}]\nenabled = false\n", kind.prefix()));
        }
    }
    std::fs::write(&layer, toml).unwrap();
    let demo = Demo::start(&DemoOptions {
        mode: QueueMode::FullParallelLanes,
        lanes_per_provider: 2,
        port: 0,
        chunk_delay_ms: 0,
        chunks: 3,
        config: Some(layer),
        fault_injection: false,
        dummy_lanes: 0,
    })
    .await
    .unwrap();
    let base = demo.gateway.base_url();
    let store = dir.0.join("accounts").join("accounts.enc");
    assert!(store.is_file(), "the seeded store");
    let log = common::logs::text();
    for kind in [ProviderKind::DeepSeek, ProviderKind::Glm] {
        let mine: Vec<&str> = demo
            .seeded
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| e.as_str())
            .collect();
        assert_eq!(mine.len(), 2, "{kind}: {:?}", demo.seeded);
        let rows: Vec<Value> = lanes(&base)
            .await
            .into_iter()
            .filter(|r| r["provider"] == kind.prefix())
            .collect();
        let accounts: BTreeSet<&str> = rows.iter().filter_map(|r| r["account"].as_str()).collect();
        assert_eq!(accounts, mine.iter().copied().collect(), "{rows:#?}");
        for (n, row) in rows.iter().enumerate() {
            let line = format!(
                "{} {}: startup profile -> {}",
                kind.display_name(),
                n + 1,
                row["account"].as_str().unwrap()
            );
            assert!(log.contains(&line), "{line} in {log}");
        }
        let (replica_kind, replica) = demo.replicas.iter().find(|(k, _)| *k == kind).unwrap();
        assert_eq!(*replica_kind, kind);
        for email in &mine {
            assert_eq!(replica.sign_ins(email), 1, "{kind} {email} signed in once");
        }
        // Two requests at once: one per lane, each under its own account at the site.
        let client = reqwest::Client::new();
        let ask = |text: String| {
            let client = client.clone();
            let url = format!("{base}/v1/chat/completions");
            async move {
                let resp = client
                    .post(url)
                    .json(&json!({"model": format!("{}-chat", kind.prefix()),
                                  "messages": [{"role": "user", "content": text}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
        };
        tokio::join!(ask("seeded one".into()), ask("seeded two".into()));
        let seen = replica
            .wait_for(
                |log| log.iter().filter(|r| r.ended_us.is_some()).count() >= 2,
                common::DEADLINE,
            )
            .await
            .unwrap();
        let seen: BTreeSet<&str> = seen.iter().filter_map(|r| r.account.as_deref()).collect();
        assert_eq!(seen, mine.iter().copied().collect(), "{kind}");
    }
    // The store is sealed: no email in clear.
    let bytes = std::fs::read(&store).unwrap();
    assert!(!bytes.windows(12).any(|w| w == b"replica.test"));
    demo.shutdown().await;
    assert!(!store.exists(), "the seeded store is removed with the demo");
}
