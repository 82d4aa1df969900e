//! `switchyard demo` with every implemented provider: one client streams from all of them at
//! once in `concurrent_provider_lanes` mode, and `/v1/models` lists their IDs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::parse_sse;
use serde_json::json;
use switchyard::config::QueueMode;
use switchyard::demo::{Demo, DemoOptions};
use switchyard::models::ProviderKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_streams_from_every_demo_provider_at_once() {
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
    }
    let last_start = spans.iter().map(|s| s.0).max().unwrap();
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_start < first_end,
        "the streams were not all open at once: {spans:?}"
    );
    demo.shutdown().await;
}
