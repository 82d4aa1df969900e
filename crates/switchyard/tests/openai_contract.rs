//! The OpenAI contract where a web chat differs from an API, through the real gateway: what
//! cannot be honoured is a 400 naming the parameter, every error (404, 405, 413, 415) is in
//! OpenAI's shape, the API also answers without the `/v1` prefix, and a non-streaming answer
//! that broke off is never a 200 that looks complete.

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

/// Status and the `error` object of an OpenAI-shaped error reply.
async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    let body: Value = resp.json().await.unwrap();
    (status, body["error"].clone())
}

fn hello(extra: Value) -> Value {
    let mut body =
        json!({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_openai_errors_and_reach_no_lane() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), "").await;

    for (extra, param) in [
        (json!({"n": 3}), "n"),
        (json!({"temperature": 5}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
            "response_format",
        ),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "narrator", "content": "x"}]}),
            "messages",
        ),
        (
            json!({"messages": [{"role": "user", "content": null}]}),
            "messages",
        ),
    ] {
        let (status, err) =
            error_of(h.post("/v1/chat/completions", hello(extra.clone())).await).await;
        assert_eq!(status, 400, "{extra}");
        assert_eq!(err["param"], param, "{extra}: {err}");
        assert_eq!(err["type"], "invalid_request_error");
    }

    // A web page's no-preflight post (`text/plain`) and other non-JSON types: 415.
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "text/plain")
        .body(hello(json!({})).to_string())
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!(status, 415);
    assert!(
        err["message"].as_str().unwrap().contains("text/plain"),
        "{err}"
    );

    // GET on a POST route: 405 in OpenAI's shape, with Allow.
    let resp = h
        .client
        .get(h.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    let (status, err) = error_of(resp).await;
    assert_eq!(status, 405);
    assert!(
        err["message"].as_str().unwrap().contains("use POST"),
        "{err}"
    );

    // 20 MB: over the default 16 MiB limit.
    let big = "x".repeat(20 * 1024 * 1024);
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(hello(json!({"messages": [{"role": "user", "content": big}]})).to_string())
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!(status, 413);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("api.max_body_bytes"),
        "{err}"
    );

    // None of it reached the site.
    assert!(h.replica(ProviderKind::DeepSeek).requests().is_empty());

    // Base URLs pasted without `/v1`.
    let models = h.get_json("/models").await;
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "deepseek-chat"),
        "{models}"
    );
    let resp = h.post("/chat/completions", hello(json!({}))).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("hi"),
        "{body}"
    );
    let resp = h
        .post(
            "/completions",
            json!({"model": "deepseek-chat", "prompt": "yo"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    h.shutdown().await;
}

/// A replica answer that stalls after its first pieces, with a 1 s idle timeout.
const STALL: &str = "[providers.deepseek]\nidle_timeout_secs = 1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_off_answer_is_an_error_not_a_complete_looking_200() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), STALL).await;
    let (status, body) = h
        .chat(
            "deepseek-chat",
            "tell me replica:chunks=5 replica:fault=stall",
        )
        .await;
    assert_eq!(status, 504, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("timeout"), "{message}");
    assert!(message.contains("api.partial_answers"), "{message}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_answers_keep_gives_the_text_with_finish_reason_length() {
    let extra = format!("{STALL}[api]\npartial_answers = \"keep\"\n");
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), &extra).await;
    let (status, body) = h
        .chat(
            "deepseek-chat",
            "tell me replica:chunks=5 replica:fault=stall",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("Echo [DeepSeek"), "{content}");
    h.shutdown().await;
}

/// A streamed chat with extra request fields.
async fn stream_with(h: &Harness, model: &str, content: &str, extra: Value) -> common::Streamed {
    let mut body = json!({"model": model, "stream": true,
                          "messages": [{"role": "user", "content": content}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let resp = h.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    common::read_sse(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_chunk_comes_only_when_asked_for_and_is_never_zeros() {
    let h = Harness::start(
        &[ProviderKind::Glm, ProviderKind::DeepSeek],
        Knobs::instant(),
        "[runtime]\nproviders_in_parallel = true\n",
    )
    .await;
    // GLM's stream reports usage; a client that did not ask gets no `choices: []` chunk.
    let plain = stream_with(&h, "glm-chat", "hi", json!({})).await;
    assert!(plain.usage.is_none(), "{:?}", plain.chunks);
    assert!(
        plain
            .chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );
    let asked = stream_with(
        &h,
        "glm-chat",
        "hi",
        json!({"stream_options": {"include_usage": true}}),
    )
    .await;
    let usage = asked.usage.expect("a usage chunk");
    assert!(usage["total_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert!(asked.done && asked.finish_reason.as_deref() == Some("stop"));

    // DeepSeek reports no counts: the estimate is used, never 0/0/0.
    let asked = stream_with(
        &h,
        "deepseek-chat",
        "count these words please",
        json!({"stream_options": {"include_usage": true}}),
    )
    .await;
    let usage = asked.usage.expect("a usage chunk");
    let (p, c, t) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
        usage["total_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && c > 0 && t == p + c, "{usage}");
    let (status, body) = h.chat("deepseek-chat", "hi there").await;
    assert_eq!(status, 200);
    assert!(
        body["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{body}"
    );
    h.shutdown().await;
}

/// A long, paced answer: ` w1` … ` w40`, 30 ms apart.
const LONG: &str = "go replica:chunks=40 replica:delay_ms=30";

/// The tee capture: the page reads the stream, so its Stop can name the message to the site.
/// (With the replay capture DeepSeek's page cannot, which the lanes-that-heal issue closes.)
const TEE: &str = "[providers.deepseek]\ncapture = \"tee\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_ends_with_length_and_stops_the_site() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), TEE).await;
    let got = stream_with(&h, "deepseek-chat", LONG, json!({"max_tokens": 3})).await;
    assert_eq!(got.finish_reason.as_deref(), Some("length"));
    assert!(got.done && got.error.is_none(), "{got:?}");
    assert_eq!(
        switchyard::api::tokens::count(&got.content),
        3,
        "{:?}",
        got.content
    );
    assert!(got.content.starts_with("Echo"), "{:?}", got.content);
    h.wait_replica(ProviderKind::DeepSeek, "the site saw Stop", |log| {
        log.len() == 1 && log[0].stop_called
    })
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sequence_split_across_chunks_is_cut_exactly() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), TEE).await;
    // `2 w3` spans the pieces ` w2` and ` w3`.
    let got = stream_with(
        &h,
        "deepseek-chat",
        LONG,
        json!({"stop": ["never", "2 w3"]}),
    )
    .await;
    assert_eq!(got.finish_reason.as_deref(), Some("stop"));
    assert!(
        got.content
            .ends_with(": go replica:chunks=40 replica:delay_ms=30 w1 w"),
        "{:?}",
        got.content
    );
    h.wait_replica(ProviderKind::DeepSeek, "the site saw Stop", |log| {
        log.len() == 1 && log[0].stop_called
    })
    .await;
    // Non-streaming too, and the lane serves the next request.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "deepseek-chat", "stop": " w2",
                   "messages": [{"role": "user", "content": LONG}]}),
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.ends_with("delay_ms=30 w1"), "{content}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_on_a_gateway_without_the_default_says_what_exists() {
    let h = Harness::single(ProviderKind::Glm, Knobs::instant(), "").await;
    let (status, err) = error_of(
        h.post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("`glm-chat`"), "{message}");
    assert!(
        message.ends_with("The request named no model, so the default `deepseek-auto` was used."),
        "{message}"
    );
    assert!(h.replica(ProviderKind::Glm).requests().is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_battery_of_malformed_bodies_gets_4xx_and_the_gateway_keeps_serving() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), "").await;
    let deep = format!(
        r#"{{"messages":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let no_roles = format!(
        r#"{{"messages":[{}]}}"#,
        vec![r#"{"content":"x"}"#; 10_000].join(",")
    );
    let mut invalid_utf8 = br#"{"messages":[{"role":"user","content":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}]}"#);
    let huge = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "y".repeat(20 * 1024 * 1024)
    );
    let battery: Vec<(&str, Vec<u8>)> = vec![
        (
            "wrong types",
            br#"{"messages":{"role":"user"},"stream":"yes"}"#.to_vec(),
        ),
        (
            "temperature as text",
            br#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#.to_vec(),
        ),
        (
            "truncated JSON",
            br#"{"messages":[{"role":"user","content":"x"#.to_vec(),
        ),
        ("not an object", b"[1,2,3]".to_vec()),
        ("empty", Vec::new()),
        ("invalid UTF-8", invalid_utf8),
        ("depth 10,000", deep.into_bytes()),
        ("10,000 messages without a role", no_roles.into_bytes()),
        ("20 MB", huge.into_bytes()),
    ];
    for (what, body) in battery {
        let resp = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: the connection was not answered: {e}"));
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{what}: {status}");
        let (_, err) = error_of(resp).await;
        assert!(err["message"].is_string(), "{what}: {err}");
        // The next good request is served.
        let (status, body) = h.chat("deepseek-chat", "still here?").await;
        assert_eq!(status, 200, "after {what}: {body}");
    }
    assert_eq!(h.replica(ProviderKind::DeepSeek).requests().len(), 9);
    h.shutdown().await;
}
