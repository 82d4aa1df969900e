//! The API's refusals, through the real gateway: routing 400s with the reference's texts, 422s
//! for meaningless bodies, 429 on a full queue, CORS, and the model list.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use serde_json::{Value, json};
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

const PARALLEL: &str =
    "[runtime]\nproviders_in_parallel = true\nmode = \"concurrent_provider_lanes\"\n";

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_in_parallel_mode_use_the_reference_texts() {
    let h = Harness::start(
        &[ProviderKind::DeepSeek, ProviderKind::Glm],
        Knobs::instant(),
        PARALLEL,
    )
    .await;
    let body = |model: &str, stream: bool| json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});

    for stream in [false, true] {
        let (status, err) =
            error_of(h.post("/v1/chat/completions", body("gpt-4o", stream)).await).await;
        assert_eq!(status, 400);
        // The reference's text, then the model asked for and what this gateway serves.
        assert_eq!(
            err["message"],
            "Providers in Parallel requires routable model IDs, such as provider-prefixed \
             behavior IDs (for example `deepseek-auto` or `glm-chat`). Universal model names \
             like `intenserp-auto` are not valid here. The request asked for `gpt-4o`. This \
             gateway serves `deepseek-auto`, `deepseek-chat`, `deepseek-reasoner`, \
             `deepseek-expert-auto`, `deepseek-expert-chat`, `deepseek-expert-reasoner`, \
             `glm-auto`, `glm-chat`, `glm-reasoner`."
        );
        assert_eq!(err["type"], "invalid_request_error");
        assert_eq!(err["param"], "model");
    }

    let (status, err) = error_of(
        h.post("/v1/chat/completions", body("intenserp-auto", false))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Providers in Parallel requires")
    );

    let (status, err) = error_of(
        h.post("/v1/chat/completions", body("qwen-reasoner", true))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Provider `QwenLM` is not enabled in Providers in Parallel. The request asked for \
             `qwen-reasoner`. This gateway serves `deepseek-auto`,"
        ),
        "{message}"
    );

    // Text completions route the same way.
    let (status, err) = error_of(
        h.post(
            "/v1/completions",
            json!({"model": "moonshot-chat", "prompt": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Provider `Moonshot` is not enabled in Providers in Parallel."),
        "{err}"
    );

    // Both providers route, case-insensitively.
    let (status, _) = h.chat("GLM-Chat", "hi").await;
    assert_eq!(status, 200);
    let (status, _) = h.chat(" deepseek-auto ", "hi").await;
    assert_eq!(status, 200);

    // The model list: every enabled provider's IDs with their owner.
    let models = h.get_json("/v1/models").await;
    assert_eq!(models["object"], "list");
    let ids: Vec<(String, String)> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            (
                m["id"].as_str().unwrap().to_owned(),
                m["owned_by"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("deepseek-auto", "deepseek"),
        ("deepseek-chat", "deepseek"),
        ("deepseek-reasoner", "deepseek"),
        ("deepseek-expert-auto", "deepseek"),
        ("deepseek-expert-chat", "deepseek"),
        ("deepseek-expert-reasoner", "deepseek"),
        ("glm-auto", "glm"),
        ("glm-chat", "glm"),
        ("glm-reasoner", "glm"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(ids, expected);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_provider_mode_refuses_foreign_ids_and_bad_bodies() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), "").await;

    let (status, err) = error_of(
        h.post(
            "/v1/chat/completions",
            json!({"model": "glm-auto", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["message"],
        "Unsupported model `glm-auto` for provider `DeepSeek`. Supported IDs: `deepseek-auto`, \
         `deepseek-chat`, `deepseek-reasoner`, `deepseek-expert-auto`, \
         `deepseek-expert-chat`, `deepseek-expert-reasoner`."
    );
    // Without Universal Model Names, intenserp-* is not a DeepSeek ID either.
    let (status, _) = h.chat("intenserp-auto", "x").await;
    assert_eq!(status, 400);
    // A missing model means deepseek-auto.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");

    for (raw, needle) in [
        ("{", "not valid JSON"),
        (r#"{"messages": 3}"#, "`messages`"),
        (r#"{"messages": [{"content": "no role"}]}"#, "role"),
        (
            r#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
            "only text parts",
        ),
    ] {
        let resp = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, err) = error_of(resp).await;
        assert_eq!(status, 422, "{raw}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{raw}: {err}"
        );
    }

    let (status, err) = error_of(
        h.post(
            "/v1/completions",
            json!({"model": "deepseek-chat", "prompt": ["a", "b"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["message"],
        "Only a single prompt is currently supported for `/v1/completions`."
    );

    // A trailing slash in the client's base URL still reaches the API.
    let resp = h.client.get(h.url("/v1//models")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, err) = error_of(h.client.get(h.url("/v1/embeddings")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(err["message"].as_str().unwrap().contains("/v1/embeddings"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_follows_the_reference_when_every_origin_is_allowed() {
    // The reference answers every origin with `*`; switchyard only when the user writes `"*"`
    // (tests/security.rs has the default, which refuses foreign origins).
    let h = Harness::single(
        ProviderKind::Glm,
        Knobs::instant(),
        "[api]\ncors_origins = [\"*\"]\n",
    )
    .await;
    let pre = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/chat/completions"))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 200);
    let hd = pre.headers();
    assert_eq!(hd["access-control-allow-origin"], "*");
    assert_eq!(hd["access-control-allow-methods"], "GET, POST, OPTIONS");
    assert_eq!(
        hd["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert_eq!(hd["access-control-max-age"], "600");
    assert_eq!(pre.text().await.unwrap(), "OK");

    let bad = h
        .client
        .request(reqwest::Method::OPTIONS, h.url("/v1/models"))
        .header("origin", "http://x")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.text().await.unwrap(), "Disallowed CORS method");

    let get = h
        .client
        .get(h.url("/v1/models"))
        .header("origin", "http://x")
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], "*");
    let plain = h.client.get(h.url("/v1/models")).send().await.unwrap();
    assert!(plain.headers().get("access-control-allow-origin").is_none());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after() {
    // One lane, held busy by a stalled answer; then 128 requests fill the queue.
    let h = Harness::single(
        ProviderKind::DeepSeek,
        Knobs::instant(),
        "[providers.deepseek]\nidle_timeout_secs = 600\n",
    )
    .await;
    let send = |content: String| {
        let client = h.client.clone();
        let url = h.url("/v1/chat/completions");
        async move {
            client
                .post(url)
                .json(&json!({"model": "deepseek-chat",
                              "messages": [{"role": "user", "content": content}]}))
                .send()
                .await
        }
    };
    let spawn_client = |content: String| {
        let fut = send(content);
        switchyard::tasks::spawn("test-client", async move {
            let _ = fut.await;
        })
    };
    let blocker = spawn_client("hold the lane replica:fault=stall".into());
    h.wait_queue("the stalled request runs", |q| {
        q["running"].as_array().unwrap().len() == 1
    })
    .await;
    let mut waiting = Vec::new();
    for i in 0..128 {
        waiting.push(spawn_client(format!("queued {i}")));
    }
    h.wait_queue("128 requests wait", |q| {
        q["pending"].as_array().unwrap().len() == 128
    })
    .await;

    let resp = send("one too many".into()).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, err) = error_of(resp).await;
    assert_eq!(
        err["message"],
        "Request queue is full. Please retry shortly."
    );
    assert_eq!(err["type"], "rate_limit_error");

    // Clients that give up leave the queue: nothing is left behind.
    for w in &waiting {
        w.abort();
    }
    blocker.abort();
    h.wait_queue("the queue drains", |q| {
        q["pending"].as_array().unwrap().is_empty() && q["running"].as_array().unwrap().is_empty()
    })
    .await;
    let (status, _) = h.chat("deepseek-chat", "after the flood").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}
