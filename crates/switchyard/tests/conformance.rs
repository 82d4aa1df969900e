//! One conformance suite, instantiated per provider: real gateway, real headless Chromium, the
//! provider's replica site on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::{Harness, parse_sse};
use futures::StreamExt;
use serde_json::json;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Expected, Knobs, Outcome};

fn site(kind: ProviderKind) -> switchyard_replicas::Site {
    switchyard::demo::replica_site(kind).unwrap()
}

macro_rules! provider_conformance {
    ($module:ident, $kind:expr, $layer:expr) => {
        mod $module {
            use super::*;
            const KIND: ProviderKind = $kind;
            const LAYER: &str = $layer;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reasoner_streams_thinking_then_the_answer() {
                super::reasoner_streams_thinking_then_the_answer(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn auto_follows_the_thinking_setting() {
                super::auto_follows_the_thinking_setting(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn chat_non_stream_hides_thinking() {
                super::chat_non_stream_hides_thinking(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reasoning_content_format_and_search_toggle() {
                super::reasoning_content_format_and_search_toggle(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn send_thinking_off_thinks_but_forwards_nothing() {
                super::send_thinking_off_thinks_but_forwards_nothing(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn site_faults_become_errors_and_the_lane_serves_on() {
                super::site_faults_become_errors_and_the_lane_serves_on(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stalls_hit_the_idle_and_first_chunk_timeouts() {
                super::stalls_hit_the_idle_and_first_chunk_timeouts(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn disconnect_mid_stream_stops_the_site_and_frees_the_lane() {
                super::disconnect_mid_stream_stops_the_site_and_frees_the_lane(KIND, LAYER).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn text_completions_stream_the_raw_prompt() {
                super::text_completions_stream_the_raw_prompt(KIND, LAYER).await
            }
        }
    };
}

// Each provider with both captures: the network tee (Chromium sends the request, the lane
// reads a copy of the body) and the replay (switchyard sends the page's request itself).
provider_conformance!(
    deepseek,
    ProviderKind::DeepSeek,
    "[providers.deepseek]\ncapture = \"tee\"\n"
);
provider_conformance!(
    glm,
    ProviderKind::Glm,
    "[providers.glm]\ncapture = \"tee\"\n"
);
provider_conformance!(
    qwen,
    ProviderKind::Qwen,
    "[providers.qwen]\ncapture = \"tee\"\n"
);
provider_conformance!(
    mimo,
    ProviderKind::Mimo,
    "[providers.mimo]\ncapture = \"tee\"\n"
);
// Perplexity is tee only: the reference has no replay for it, and the config refuses one.
provider_conformance!(
    perplexity,
    ProviderKind::Perplexity,
    "[providers.perplexity]\ncapture = \"tee\"\n"
);
// HuggingChat is tee only too (the reference has no replay for it).
provider_conformance!(
    huggingchat,
    ProviderKind::HuggingChat,
    "[providers.huggingchat]\ncapture = \"tee\"\n"
);
provider_conformance!(
    moonshot,
    ProviderKind::Moonshot,
    "[providers.moonshot]\ncapture = \"tee\"\n"
);
provider_conformance!(
    moonshot_replay,
    ProviderKind::Moonshot,
    "[providers.moonshot]\ncapture = \"replay\"\n"
);
// Google AI Studio: replay is the reference's default, tee its optional capture.
provider_conformance!(
    aistudio,
    ProviderKind::AiStudio,
    "[providers.aistudio]\ncapture = \"tee\"\n"
);
provider_conformance!(
    aistudio_replay,
    ProviderKind::AiStudio,
    "[providers.aistudio]\ncapture = \"replay\"\n"
);
provider_conformance!(
    deepseek_replay,
    ProviderKind::DeepSeek,
    "[providers.deepseek]\ncapture = \"replay\"\n"
);
provider_conformance!(
    glm_replay,
    ProviderKind::Glm,
    "[providers.glm]\ncapture = \"replay\"\n"
);
provider_conformance!(
    qwen_replay,
    ProviderKind::Qwen,
    "[providers.qwen]\ncapture = \"replay\"\n"
);
provider_conformance!(
    mimo_replay,
    ProviderKind::Mimo,
    "[providers.mimo]\ncapture = \"replay\"\n"
);

/// Whether the site has a thinking toggle. MiMo has none: its model always thinks, and the
/// behavior mode only decides whether the `<think>` text is forwarded.
fn site_toggles_thinking(kind: ProviderKind) -> bool {
    kind != ProviderKind::Mimo
}

async fn reasoner_streams_thinking_then_the_answer(kind: ProviderKind, layer: &str) {
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    let model = format!("{}-reasoner", kind.prefix());
    let s = h.stream_chat(&model, "Hello there, ünïcode ✓").await;

    let log = h.replica(kind).requests();
    assert_eq!(log.len(), 1);
    let seen = &log[0];
    assert_eq!(seen.prompt, "User: Hello there, ünïcode ✓");
    assert!(seen.thinking, "-reasoner turns thinking on in the page");
    assert!(!seen.search);
    // Who sent the request: Chromium (tee) asks for compressed bodies; the replay asks for none.
    let encoding = seen.accept_encoding.as_deref().unwrap_or_default();
    if !layer.contains("tee") {
        assert_eq!(
            encoding, "identity",
            "switchyard replayed the page's request"
        );
    } else {
        assert!(
            encoding.contains("gzip"),
            "Chromium sent the request: {encoding}"
        );
    }
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    // Perplexity thinks in plan steps, which never reach the client.
    let content = match expected.reasoning {
        Some(reasoning) => format!("<think>{reasoning}</think>{}", expected.answer),
        None => expected.answer,
    };
    assert_eq!(s.content, content);
    assert_eq!(s.chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(s.chunks[0]["choices"][0]["delta"]["content"], "");
    assert!(
        s.chunks.iter().all(|c| c["model"] == model.as_str()),
        "every chunk echoes the client's model"
    );
    assert_eq!(s.finish_reason.as_deref(), Some("stop"));
    assert!(s.error.is_none());
    assert!(s.done);
    h.shutdown().await;
}

/// A session that ends while the lane is up: the site's HTTP 401 is a clear sign-in error,
/// streaming and not; signed in again, the lane serves on.
async fn a_lost_sign_in_is_a_clear_error(kind: ProviderKind) {
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let model = format!("{}-chat", kind.prefix());
    // A chat first, so the page holds a chat box when the session ends.
    let (status, body) = h.chat(&model, "hi").await;
    assert_eq!(status, 200, "{body}");
    h.replica(kind).set_signed_in(false);
    let expected = format!(
        "{} answered HTTP 401 (the session may have expired; sign in again)",
        kind.display_name()
    );
    let s = h.stream_chat(&model, "hi again").await;
    let err = s.error.expect("a lost sign-in is an error event");
    assert!(err.starts_with(&expected), "{err}");
    let (_, body) = h.chat(&model, "and once more").await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with(&expected), "{msg}");
    h.replica(kind).set_signed_in(true);
    let (status, body) = h.chat(&model, "signed in again").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

/// `-auto` takes thinking from the provider's `thinking` setting: on, the page turns it on and
/// the client gets it; off, neither. A site without a toggle (MiMo) always thinks, and its
/// `-auto` forwards the thinking by `send_thinking` alone (on by default).
async fn auto_follows_the_thinking_setting(kind: ProviderKind, layer: &str) {
    let model = format!("{}-auto", kind.prefix());
    for thinking in [true, false] {
        let extra = format!("[providers.{}]\nthinking = {thinking}\n", kind.prefix());
        let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer, &extra]).await;
        let s = h.stream_chat(&model, "Hi").await;
        let seen = &h.replica(kind).requests()[0];
        if site_toggles_thinking(kind) {
            assert_eq!(seen.thinking, thinking, "thinking = {thinking}");
        } else {
            assert!(seen.thinking, "the site thinks either way");
        }
        let expected = Expected::for_request(site(kind), seen, Knobs::instant());
        let content = match expected.reasoning {
            Some(reasoning) if thinking || !site_toggles_thinking(kind) => {
                format!("<think>{reasoning}</think>{}", expected.answer)
            }
            _ => expected.answer,
        };
        assert_eq!(s.content, content, "thinking = {thinking}");
        assert!(s.done && s.error.is_none(), "thinking = {thinking}");
        h.shutdown().await;
    }
}

async fn chat_non_stream_hides_thinking(kind: ProviderKind, layer: &str) {
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    let model = format!("{}-chat", kind.prefix());
    let (status, body) = h.chat(&model, "Tell me a story").await;
    assert_eq!(status, 200, "{body}");
    let seen = &h.replica(kind).requests()[0];
    if site_toggles_thinking(kind) {
        assert!(!seen.thinking, "-chat turns thinking off in the page");
    } else {
        assert!(
            seen.thinking,
            "the site thought anyway; its thinking is dropped"
        );
    }
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], model.as_str());
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        expected.answer.as_str()
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].is_u64());
    h.shutdown().await;
}

async fn reasoning_content_format_and_search_toggle(kind: ProviderKind, layer: &str) {
    let extra = format!(
        "[api]\nreasoning_format = \"reasoning_content\"\n[providers.{}]\nsearch = true\n",
        kind.prefix()
    );
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer, &extra]).await;
    let s = h
        .stream_chat(&format!("{}-reasoner", kind.prefix()), "Find it")
        .await;
    let seen = &h.replica(kind).requests()[0];
    assert!(seen.search, "search = true turns the site's search on");
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    assert_eq!(s.reasoning, expected.reasoning.clone().unwrap_or_default());
    assert_eq!(
        s.content, expected.answer,
        "no <think> in content, and no search payload leaks"
    );
    // The same setting through a non-streaming reply.
    let (status, body) = h
        .chat(&format!("{}-reasoner", kind.prefix()), "Again")
        .await;
    assert_eq!(status, 200);
    let message = &body["choices"][0]["message"];
    if expected.reasoning.is_some() {
        assert!(
            message["reasoning_content"]
                .as_str()
                .unwrap()
                .starts_with("Thinking about")
        );
    } else {
        assert!(message["reasoning_content"].is_null(), "{message}");
    }
    assert!(!message["content"].as_str().unwrap().contains("<think>"));
    h.shutdown().await;
}

async fn send_thinking_off_thinks_but_forwards_nothing(kind: ProviderKind, layer: &str) {
    let extra = format!("[providers.{}]\nsend_thinking = false\n", kind.prefix());
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer, &extra]).await;
    // Without a thinking toggle `-reasoner` forwards the thinking anyway; `-auto` follows
    // `send_thinking` (the site thinks either way).
    let mode = if site_toggles_thinking(kind) {
        "reasoner"
    } else {
        "auto"
    };
    let s = h
        .stream_chat(&format!("{}-{mode}", kind.prefix()), "Hi")
        .await;
    let seen = &h.replica(kind).requests()[0];
    assert!(seen.thinking);
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    assert_eq!(s.content, expected.answer);
    if !site_toggles_thinking(kind) {
        let s = h
            .stream_chat(&format!("{}-reasoner", kind.prefix()), "Hi")
            .await;
        let seen = &h.replica(kind).requests()[1];
        let expected = Expected::for_request(site(kind), seen, Knobs::instant());
        assert_eq!(
            s.content,
            format!(
                "<think>{}</think>{}",
                expected.reasoning.unwrap(),
                expected.answer
            )
        );
    }
    h.shutdown().await;
}

async fn site_faults_become_errors_and_the_lane_serves_on(kind: ProviderKind, layer: &str) {
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    let model = format!("{}-chat", kind.prefix());

    let s = h.stream_chat(&model, "x replica:fault=rate_limit").await;
    let err = s.error.expect("a rate limit is an error event");
    let expected = match kind {
        ProviderKind::DeepSeek => "DeepSeek answered HTTP 429",
        ProviderKind::Qwen => "Qwen rate limit hit",
        ProviderKind::Mimo => "Xiaomi MiMo answered HTTP 429 (rate limited",
        ProviderKind::Perplexity => "Perplexity answered HTTP 429 (rate limited",
        ProviderKind::HuggingChat => "HuggingChat rate limit hit",
        ProviderKind::Moonshot => "Kimi is at capacity: too many people are chatting with Kimi",
        ProviderKind::AiStudio => "Google AI Studio rate limit hit",
        _ => "GLM Chat is currently at capacity",
    };
    assert!(err.starts_with(expected), "{err}");
    assert!(s.done && s.finish_reason.is_none());

    // Non-streaming, the status follows the failure: a site rate limit is a 429 (GLM's
    // "at capacity" is the site failing, a 502), an empty reply the site's failure, a 502.
    // Qwen's refusal is its own rate limit.
    let (status, body) = h.chat(&model, "x replica:fault=rate_limit").await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with(expected), "{msg}");
    match kind {
        ProviderKind::DeepSeek
        | ProviderKind::Qwen
        | ProviderKind::Mimo
        | ProviderKind::Perplexity
        | ProviderKind::Moonshot
        | ProviderKind::HuggingChat
        | ProviderKind::AiStudio => {
            assert_eq!(
                (status, &body["error"]["type"]),
                (429, &json!("rate_limit_error"))
            )
        }
        _ => assert_eq!(status, 502, "{body}"),
    }

    // The site's content filter, where the replica has one (MiMo's `sensitive_query`).
    if kind == ProviderKind::Mimo {
        let s = h.stream_chat(&model, "x replica:fault=blocked").await;
        let err = s.error.expect("blocked content is an error event");
        assert!(
            err.starts_with("Xiaomi MiMo blocked this request: its provider-side sensitive query"),
            "{err}"
        );
        assert!(s.done && s.finish_reason.is_none());
        let (status, body) = h.chat(&model, "y replica:fault=blocked").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "content_blocked");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("sensitive query"), "{msg}");
    }

    let (status, body) = h.chat(&model, "x replica:fault=empty").await;
    assert_eq!(status, 502, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("empty"), "{msg}");
    assert_eq!(body["error"]["type"], "upstream_error");

    let (status, body) = h.chat(&model, "fine now").await;
    assert_eq!(status, 200, "the lane serves the next request: {body}");
    h.shutdown().await;
}

async fn stalls_hit_the_idle_and_first_chunk_timeouts(kind: ProviderKind, layer: &str) {
    let extra = format!(
        "[providers.{}]\nidle_timeout_secs = 1\nfirst_chunk_timeout_secs = 2\n",
        kind.prefix()
    );
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer, &extra]).await;
    let model = format!("{}-chat", kind.prefix());
    let name = kind.display_name();

    let s = h.stream_chat(&model, "x replica:fault=stall").await;
    assert_eq!(
        s.error.as_deref(),
        Some(format!("{name} timeout: no next stream chunk within 1s.").as_str())
    );
    let s = h.stream_chat(&model, "x replica:fault=slow_first").await;
    assert_eq!(
        s.error.as_deref(),
        Some(format!("{name} timeout: no intercepted first chunk within 2s.").as_str())
    );
    // The timed-out requests were stopped in the page, and the lane is free again.
    let (status, _) = h.chat(&model, "after the stalls").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

async fn disconnect_mid_stream_stops_the_site_and_frees_the_lane(kind: ProviderKind, layer: &str) {
    let knobs = Knobs {
        chunks: 400,
        delay_ms: 25,
        first_delay_ms: 0,
    };
    let h = Harness::start_layers(&[kind], knobs, &[layer]).await;
    let model = format!("{}-chat", kind.prefix());

    // Streaming: read until the answer has started, then hang up.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": model, "stream": true,
                   "messages": [{"role": "user", "content": "a long one"}]}),
        )
        .await;
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains(" w2") {
        let bytes = body.next().await.expect("more stream").unwrap();
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    drop(body);
    // Stopped + stop_called: the site was told to stop, with either capture. With the tee
    // capture the page read the stream and its Stop names the reply; with the replay capture
    // the page never saw the stream (DeepSeek's stop_stream then needs the reply's message id
    // from the stream's opening event), so the lane sends the site's stop itself, from the
    // page, with the id the decoder read.
    let log = h
        .wait_replica(kind, "the site saw the Stop button", |log| {
            log.len() == 1 && log[0].outcome == Outcome::Stopped && log[0].stop_called
        })
        .await;
    assert!(log[0].chunks_sent < 400);
    h.wait_lanes("the lane is free", |lanes| {
        lanes[0]["current_request"].is_null() && lanes[0]["requests_served"] == 1
    })
    .await;

    // Non-streaming: a client that gives up (here: once the site is answering) also cancels.
    let client = h.client.clone();
    let url = h.url("/v1/chat/completions");
    let body = json!({"model": model, "messages": [{"role": "user", "content": "also long"}]});
    let waiting = switchyard::tasks::spawn("impatient-client", async move {
        let _ = client.post(url).json(&body).send().await;
    });
    h.wait_replica(kind, "the second answer streams", |log| {
        log.len() == 2 && log[1].outcome == Outcome::Streaming && log[1].chunks_sent > 2
    })
    .await;
    waiting.abort();
    h.wait_replica(kind, "the site saw the second stop", |log| {
        log.len() == 2 && log[1].outcome == Outcome::Stopped && log[1].stop_called
    })
    .await;
    h.wait_lanes("the lane is free again", |lanes| {
        lanes[0]["current_request"].is_null() && lanes[0]["requests_served"] == 2
    })
    .await;

    // And it serves the next request in full.
    let s = h.stream_chat(&model, "replica:chunks=3 short").await;
    assert!(s.content.ends_with(" w2"), "{}", s.content);
    assert_eq!(s.finish_reason.as_deref(), Some("stop"));
    h.shutdown().await;
}

async fn text_completions_stream_the_raw_prompt(kind: ProviderKind, layer: &str) {
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    let model = format!("{}-chat", kind.prefix());
    let resp = h
        .post(
            "/v1/completions",
            json!({"model": model, "stream": true, "prompt": ["Once upon\na time"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let s = parse_sse(&text);
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.prompt, "Once upon\na time");
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    let joined: String = s
        .chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(joined, expected.answer);
    assert!(s.chunks.iter().all(|c| c["object"] == "text_completion"));
    assert!(s.done);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek_expert_ids_pick_the_expert_model_type() {
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), "").await;
    let (status, _) = h.chat("DeepSeek-Expert-Chat", "hi").await;
    assert_eq!(status, 200);
    let (status, _) = h.chat("deepseek-chat", "hi").await;
    assert_eq!(status, 200);
    let models: Vec<String> = h
        .replica(ProviderKind::DeepSeek)
        .requests()
        .iter()
        .map(|r| r.model.clone())
        .collect();
    assert_eq!(models, vec!["expert", "default"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimo_a_lost_sign_in_is_a_clear_error() {
    a_lost_sign_in_is_a_clear_error(ProviderKind::Mimo).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimo_real_model_ids_pick_the_sites_model() {
    let h = Harness::single(
        ProviderKind::Mimo,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n",
    )
    .await;
    for model in ["mimo-v2-5-chat", "mimo-v2-5-pro-reasoner", "mimo-chat"] {
        let (status, body) = h.chat(model, "hi").await;
        assert_eq!(status, 200, "{model}: {body}");
    }
    let models: Vec<String> = h
        .replica(ProviderKind::Mimo)
        .requests()
        .iter()
        .map(|r| r.model.clone())
        .collect();
    assert_eq!(models, ["mimo-v2.5", "mimo-v2.5-pro", "mimo-v2.5-pro"]);
    h.shutdown().await;
}

/// Qwen with its defaults (replay capture): a real-model ID picks the site model, the site's
/// own token counts reach the client (a usage chunk when asked for, always in a non-streaming
/// reply), and the first request turns the account's large-text-as-file off, so a long prompt
/// is sent as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_real_model_ids_site_usage_and_the_large_text_guardrail() {
    let kind = ProviderKind::Qwen;
    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n",
    )
    .await;
    let (status, body) = h.chat("qwen3-5-plus-chat", "Count me").await;
    assert_eq!(status, 200, "{body}");
    let seen = h.replica(kind).requests()[0].clone();
    assert_eq!(seen.model, "qwen3.5-plus", "the picker's Qwen3.5-Plus");
    assert!(!seen.thinking && !seen.search);
    let expected = Expected::for_request(site(kind), &seen, Knobs::instant());
    assert_eq!(
        body["choices"][0]["message"]["content"],
        expected.answer.as_str()
    );
    // The replica counts prompt characters / 4 and one output token per answer piece.
    let prompt_tokens = (seen.prompt.chars().count() / 4) as u64;
    let pieces = Knobs::instant().chunks as u64;
    assert_eq!(body["usage"]["prompt_tokens"], prompt_tokens, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], pieces, "{body}");
    assert_eq!(
        body["usage"]["total_tokens"],
        prompt_tokens + pieces,
        "{body}"
    );

    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "qwen3-5-plus-reasoner", "stream": true,
                   "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "Think"}]}),
        )
        .await;
    let s = common::read_sse(resp).await;
    let seen = h.replica(kind).requests()[1].clone();
    assert!(seen.thinking, "-reasoner turns Thinking on");
    let usage = s.usage.expect("a usage chunk when the client asks for one");
    let prompt_tokens = (seen.prompt.chars().count() / 4) as u64;
    // Three summary events and the answer pieces.
    assert_eq!(usage["completion_tokens"], 3 + pieces, "{usage}");
    assert_eq!(usage["prompt_tokens"], prompt_tokens, "{usage}");

    let settings: serde_json::Value = reqwest::get(format!(
        "{}/api/v2/users/user/settings",
        h.replica(kind).base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    for (group, key) in [
        ("ui", "largeTextAsFile"),
        ("ui", "splitLargeChunks"),
        ("memory", "enable_memory"),
        ("memory", "enable_history_memory"),
    ] {
        assert_eq!(
            settings["data"][group][key], false,
            "{group}.{key}: {settings}"
        );
    }
    let long = "long ".repeat(2_500);
    let (status, body) = h.chat("qwen-chat", &long).await;
    assert_eq!(status, 200, "{body}");
    let seen = &h.replica(kind).requests()[2];
    assert!(
        seen.prompt.contains(long.trim_end()),
        "sent as text, not as a file"
    );
    h.shutdown().await;
}

/// Qwen's content filter (`data_inspection_failed`) reaches the client as a clear error,
/// streaming or not, with either capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_blocked_content_is_a_clear_error() {
    let kind = ProviderKind::Qwen;
    for capture in ["tee", "replay"] {
        let layer = format!("[providers.qwen]\ncapture = \"{capture}\"\n");
        let h = Harness::single(kind, Knobs::instant(), &layer).await;
        let s = h.stream_chat("qwen-chat", "x replica:fault=blocked").await;
        let err = s.error.expect("blocked content is an error event");
        assert!(
            err.starts_with("Qwen censored this request"),
            "{capture}: {err}"
        );
        assert!(s.done && s.finish_reason.is_none() && s.content.is_empty());
        let (status, body) = h.chat("qwen-chat", "x replica:fault=blocked").await;
        assert_eq!(status, 400, "{capture}: {body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("data_inspection_failed"), "{capture}: {msg}");
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_a_lost_sign_in_is_a_clear_error() {
    a_lost_sign_in_is_a_clear_error(ProviderKind::Qwen).await
}

/// Perplexity's sources, web results and plans (where its thinking lives) never reach the
/// client, streaming or not, with thinking and search on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_sources_plans_and_thinking_never_reach_the_client() {
    let kind = ProviderKind::Perplexity;
    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[providers.perplexity]\nsearch = true\n",
    )
    .await;
    let s = h.stream_chat("perplexity-reasoner", "Sources?").await;
    let seen = h.replica(kind).requests()[0].clone();
    assert!(seen.thinking && seen.search, "{seen:?}");
    let expected = Expected::for_request(site(kind), &seen, Knobs::instant());
    assert_eq!(s.content, expected.answer);
    assert!(s.reasoning.is_empty() && !s.content.contains("<think>"));
    let (status, body) = h.chat("perplexity-reasoner", "Sources again?").await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    for leak in ["web result", "search.example", "Thinking about", "<think>"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    h.shutdown().await;
}

/// A real-model ID picks the site's model on a paid account, and Thinking follows the mode; a
/// free account (here after a downgrade and a page reload) has no picker, so the site's default
/// answers without thinking, and the request still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_models_on_paid_tiers_and_none_on_free() {
    let kind = ProviderKind::Perplexity;
    let h = Harness::start_with_faults(
        &[kind],
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n",
    )
    .await;
    for model in [
        "gpt-5-4-chat",
        "gemini-3-1-pro-chat",
        "claude-sonnet-4-6-reasoner",
        "perplexity-chat",
    ] {
        let (status, body) = h.chat(model, "hi").await;
        assert_eq!(status, 200, "{model}: {body}");
    }
    let seen: Vec<(String, bool)> = h
        .replica(kind)
        .requests()
        .iter()
        .map(|r| (r.model.clone(), r.thinking))
        .collect();
    let expected = [
        ("gpt54", false),
        ("gemini31pro", true),
        ("claude46sonnet", true),
        ("best", false),
    ];
    assert_eq!(
        seen,
        expected.map(|(m, t)| (m.to_owned(), t)),
        "Gemini 3.1 Pro always thinks"
    );
    // A Max-only model on a Pro account is a clear error.
    let (status, body) = h.chat("claude-opus-4-7-chat", "hi").await;
    assert_ne!(status, 200);
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("is locked for this pro account"), "{msg}");

    // The failed step sent the lane through a page reload; once it is back, a renderer crash
    // makes it load the page again, which reads the session (and its tier) anew.
    let lanes = h
        .wait_lanes("the lane is back", |lanes| lanes[0]["state"] == "ready")
        .await;
    let restarts = lanes[0]["restarts"].as_u64().unwrap();
    h.replica(kind).set_account_tier("free");
    let resp = h.post("/api/lanes/perplexity:1/crash", json!({})).await;
    assert_eq!(resp.status(), 200);
    h.wait_lanes("the lane reopened its page", |lanes| {
        lanes[0]["state"] == "ready" && lanes[0]["restarts"].as_u64() > Some(restarts)
    })
    .await;
    let (status, body) = h.chat("perplexity-reasoner", "free now").await;
    assert_eq!(status, 200, "{body}");
    let last = h.replica(kind).requests().last().cloned().unwrap();
    assert_eq!((last.model.as_str(), last.thinking), ("best", false));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_a_lost_sign_in_is_a_clear_error() {
    a_lost_sign_in_is_a_clear_error(ProviderKind::Perplexity).await
}

/// A long prompt goes into Perplexity's rich-text composer in one step (one `<p>` per line,
/// empty lines kept) and reaches the site exactly as shaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_a_long_prompt_reaches_the_site_whole() {
    let kind = ProviderKind::Perplexity;
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let prompt: String = (0..300)
        .map(|i| {
            if i % 7 == 3 {
                String::new()
            } else {
                format!("line {i}  with  spaces")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let resp = h
        .post(
            "/v1/completions",
            json!({"model": "perplexity-chat", "prompt": prompt}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.prompt, prompt);
    h.shutdown().await;
}

/// Kimi with its defaults (replay capture) and real-model IDs: the ID picks the site's model,
/// `-chat` the Standard level (thinking off), `-reasoner` High, `-auto` follows `thinking`; the
/// first request turned the account's memory off through the site's settings service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_real_model_ids_effort_levels_and_the_memory_guardrail() {
    let kind = ProviderKind::Moonshot;
    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n[providers.moonshot]\nthinking = true\n",
    )
    .await;
    for model in [
        "kimi-k3-chat",
        "kimi-k3-swarm-reasoner",
        "k2-8-reasoner",
        "instant-chat",
        "moonshot-reasoner",
        "moonshot-auto",
    ] {
        let (status, body) = h.chat(model, "hi").await;
        assert_eq!(status, 200, "{model}: {body}");
    }
    let seen: Vec<(String, Option<String>, bool)> = h
        .replica(kind)
        .requests()
        .iter()
        .map(|r| (r.model.clone(), r.effort.clone(), r.thinking))
        .collect();
    let want = |m: &str, e: &str, t| (m.to_owned(), Some(e.to_owned()), t);
    assert_eq!(
        seen,
        [
            want("k3", "standard", false),
            want("k3-swarm", "high", true),
            want("k2.8", "high", true),
            want("instant", "standard", false),
            want("k3", "high", true),
            // `-auto` follows `thinking = true`: a level above Standard.
            want("k3", "high", true),
        ]
    );

    // The account's memory, read as the page reads it (with its access token).
    let base = h.replica(kind).base_url();
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    let token = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("kimi-auth="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let settings: serde_json::Value = h
        .client
        .post(format!(
            "{base}/apiv2/kimi.usersetting.v1.UserSettingService/GetUserSetting"
        ))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let memory = &settings["userSetting"]["memory"];
    assert_eq!(memory["useSemanticMemory"], false, "{settings}");
    assert_eq!(memory["useEpisodicMemory"], false, "{settings}");
    h.shutdown().await;
}

/// Kimi's Max level through `reasoning_effort`, and web search turned on and off again (the
/// site keeps it across chats, so the second request turns it off in the toolkit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_max_effort_and_search_off_again() {
    let kind = ProviderKind::Moonshot;
    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[api]\naccept_reasoning_effort = true\nuniversal_model_names = true\n",
    )
    .await;
    let ask = |model: &str, content: &str, effort: &str| {
        h.post(
            "/v1/chat/completions",
            json!({"model": model, "reasoning_effort": effort,
                   "messages": [{"role": "user", "content": content}]}),
        )
    };
    let resp = ask("kimi-k3-reasoner", "[[search]] deep", "max").await;
    assert_eq!(resp.status(), 200);
    let resp = ask("moonshot-reasoner", "[[nosearch]] again", "high").await;
    assert_eq!(resp.status(), 200);
    // Instant has no Max: a clear error, nothing sent.
    let resp = ask("instant-reasoner", "too deep", "max").await;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_ne!(status, 200, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("offers no Max thinking"), "{msg}");
    let seen: Vec<(Option<String>, bool)> = h
        .replica(kind)
        .requests()
        .iter()
        .map(|r| (r.effort.clone(), r.search))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("max".to_owned()), true),
            (Some("high".to_owned()), false)
        ]
    );
    h.shutdown().await;
}

/// Kimi's content filter reaches the client as a clear error, streaming or not, with either
/// capture; its "Too many people are chatting with Kimi right now" is a 429 (the conformance
/// suite checks it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_blocked_content_is_a_clear_error() {
    let kind = ProviderKind::Moonshot;
    for capture in ["tee", "replay"] {
        let layer = format!("[providers.moonshot]\ncapture = \"{capture}\"\n");
        let h = Harness::single(kind, Knobs::instant(), &layer).await;
        let s = h
            .stream_chat("moonshot-chat", "x replica:fault=blocked")
            .await;
        let err = s.error.expect("blocked content is an error event");
        assert!(
            err.starts_with("Kimi blocked this request: its content filter"),
            "{capture}: {err}"
        );
        assert!(s.done && s.finish_reason.is_none() && s.content.is_empty());
        let (status, body) = h.chat("moonshot-chat", "y replica:fault=blocked").await;
        assert_eq!(status, 400, "{capture}: {body}");
        assert_eq!(body["error"]["code"], "content_blocked");
        let (status, body) = h.chat("moonshot-chat", "fine now").await;
        assert_eq!(status, 200, "{capture}: {body}");
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_a_lost_sign_in_is_a_clear_error() {
    a_lost_sign_in_is_a_clear_error(ProviderKind::Moonshot).await
}

/// A Kimi lane that opens on a signed-out site (the login modal, "Log In") does not hang: it
/// fails to start, saying a sign-in is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_a_signed_out_site_is_a_sign_in_error_at_start() {
    let replica =
        switchyard_replicas::ReplicaServer::start(site(ProviderKind::Moonshot), Knobs::instant())
            .await
            .unwrap();
    replica.set_signed_in(false);
    let dir = std::env::temp_dir().join(format!("switchyard-test-kimi-{}", std::process::id()));
    let toml = format!(
        "provider = \"moonshot\"\ndata_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = 2\n\
         [providers.moonshot]\nbase_url = \"{}\"\n",
        dir.display(),
        replica.base_url()
    );
    let table = switchyard::config::parse_table(&toml, "test").unwrap();
    let config = switchyard::config::Config::from_table(table, "test").unwrap();
    match switchyard::gateway::Gateway::start(config).await {
        Err(err) => assert!(err.to_string().contains("sign-in"), "{err}"),
        Ok(gateway) => {
            let lanes: serde_json::Value =
                reqwest::get(format!("{}/api/lanes", gateway.base_url()))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            let text = lanes.to_string();
            assert!(
                text.contains("\"failed\"") && text.contains("sign-in"),
                "{text}"
            );
            gateway.shutdown().await;
        }
    }
    assert!(replica.requests().is_empty(), "nothing was sent");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Perplexity's Spaces mode: leading system messages become the answer instructions of the
/// "switchyard" Space (made once, updated only when the text changes) and the ask is made in
/// it; a request without them asks outside; more than the site's 8000 characters, or
/// `system_field = false`, leaves them in the prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_system_messages_go_to_the_space_instructions() {
    let kind = ProviderKind::Perplexity;
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let ask = |system: Option<String>, user: &'static str| {
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": user}));
        let h = &h;
        async move {
            let resp = h
                .post(
                    "/v1/chat/completions",
                    json!({"model": "perplexity-chat", "messages": messages}),
                )
                .await;
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let spaces = || async {
        let base = h.replica(kind).base_url();
        let page = reqwest::get(format!("{base}/")).await.unwrap();
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("__Secure-next-auth.session-token="))
            .unwrap();
        let listed: serde_json::Value = h
            .client
            .get(format!("{base}/rest/spaces"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["spaces"].as_array().unwrap().clone()
    };

    let (status, body) = ask(Some("Answer in one word.".into()), "Hi").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ask(Some("Answer in one word.".into()), "Again").await;
    assert_eq!(status, 200, "{body}");
    let log = h.replica(kind).requests();
    for seen in &log {
        let system = seen.system.as_deref().unwrap_or_default();
        assert!(system.contains("Answer in one word."), "{seen:?}");
        assert!(!seen.prompt.contains("one word"), "{seen:?}");
    }
    let listed = spaces().await;
    assert_eq!(listed.len(), 1, "one Space, made once: {listed:?}");
    assert_eq!(listed[0]["title"], "switchyard");

    let (status, _) = ask(Some("Answer in French.".into()), "Hi").await;
    assert_eq!(status, 200);
    let (status, _) = ask(None, "No system").await;
    assert_eq!(status, 200);
    let log = h.replica(kind).requests();
    assert!(
        log[2]
            .system
            .as_deref()
            .unwrap()
            .contains("Answer in French.")
    );
    assert_eq!(log[3].system, None, "asked outside the Space");
    assert_eq!(spaces().await.len(), 1);

    // More than the 8000 characters a Space holds: the system text stays in the prompt.
    let long = "x".repeat(8_001);
    let (status, body) = ask(Some(long.clone()), "Too long").await;
    assert_eq!(status, 200, "{body}");
    let seen = &h.replica(kind).requests()[4];
    assert_eq!(seen.system, None, "asked outside the Space");
    assert!(
        seen.prompt.contains(&long) && seen.prompt.ends_with("Too long"),
        "{seen:?}"
    );
    h.shutdown().await;

    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[providers.perplexity]\nsystem_field = false\n",
    )
    .await;
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "perplexity-chat", "messages": [
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": "Hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.system, None);
    assert!(seen.prompt.contains("Answer in one word."), "{seen:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_sampling_settings_and_system_instructions_reach_the_site() {
    let h = Harness::single(ProviderKind::AiStudio, Knobs::instant(), "").await;
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "aistudio-reasoner", "temperature": 0.3, "top_p": 0.8,
                   "max_tokens": 256,
                   "messages": [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "[[url]] hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let seen = &h.replica(ProviderKind::AiStudio).requests()[0];
    let settings = seen.settings.clone().unwrap();
    assert_eq!(settings.temperature.as_deref(), Some("0.3"));
    assert_eq!(settings.top_p.as_deref(), Some("0.8"));
    assert_eq!(settings.max_tokens, Some(256));
    assert!(settings.url_context, "[[url]] turns URL context on");
    assert!(settings.temporary, "a temporary (incognito) chat");
    assert_eq!(seen.system.as_deref(), Some("Be brief."));
    assert_eq!(seen.effort.as_deref(), Some("high"));
    assert!(seen.thinking);
    let expected = Expected::for_request(site(ProviderKind::AiStudio), seen, Knobs::instant());
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.ends_with(&expected.answer), "{content}");
    assert!(
        expected
            .answer
            .contains("temperature=0.3, top_p=0.8, max_tokens=256"),
        "{}",
        expected.answer
    );

    // Without them the site's defaults stay, and a new chat resets what the last one set.
    let (status, _) = h.chat("aistudio-chat", "plain").await;
    assert_eq!(status, 200);
    let seen = &h.replica(ProviderKind::AiStudio).requests()[1];
    let settings = seen.settings.clone().unwrap();
    assert_eq!(settings.temperature.as_deref(), Some("1"));
    assert_eq!(settings.max_tokens, Some(65536));
    assert!(!settings.url_context);
    assert_eq!(seen.system, None);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_thinking_levels_from_suffixes_tiers_and_macros() {
    let h = Harness::single(ProviderKind::AiStudio, Knobs::instant(), "").await;
    // Gemini 3.1 Pro offers Low, Medium, High: Minimal is read as its lowest, Low; tiers spread
    // over the three; -chat and [[r0]] take the lowest and think not.
    let cases = [
        ("aistudio-reasoner-medium", "a", "medium", true),
        ("aistudio-reasoner-minimal", "b", "low", false),
        ("aistudio-chat", "c", "low", false),
        ("aistudio-reasoner-r1", "d", "low", false),
        ("aistudio-reasoner", "[[r3]] e", "medium", true),
        ("aistudio-reasoner-r4", "f", "high", true),
        ("aistudio-reasoner", "[[r0]] g", "low", false),
    ];
    for (i, (model, prompt, level, thinking)) in cases.into_iter().enumerate() {
        let (status, body) = h.chat(model, prompt).await;
        assert_eq!(status, 200, "{model}: {body}");
        let seen = &h.replica(ProviderKind::AiStudio).requests()[i];
        assert_eq!(seen.effort.as_deref(), Some(level), "{model} {prompt}");
        assert_eq!(seen.thinking, thinking, "{model} {prompt}");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_models_blocked_content_and_paid_gemini_2_5() {
    let h = Harness::single(
        ProviderKind::AiStudio,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n",
    )
    .await;
    // 3.1 Flash Lite has no temperature or top-p: the request's are left out, max tokens kept.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "aistudio-gemini-3-1-flash-lite-reasoner", "temperature": 0.5,
                   "max_tokens": 100, "messages": [{"role": "user", "content": "lite"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seen = &h.replica(ProviderKind::AiStudio).requests()[0];
    assert_eq!(seen.model, "gemini-3.1-flash-lite");
    let settings = seen.settings.clone().unwrap();
    assert_eq!(
        (settings.temperature, settings.max_tokens),
        (None, Some(100))
    );
    assert_eq!(seen.effort.as_deref(), Some("high"));

    let s = h
        .stream_chat("aistudio-gemini-3-flash-chat", "x replica:fault=blocked")
        .await;
    let err = s.error.expect("blocked content is an error event");
    assert!(
        err.starts_with("Google AI Studio blocked this response"),
        "{err}"
    );
    // Gemini 2.5 is paid: a 400 before it is queued, unless the lane assumes paid access.
    let (status, body) = h.chat("aistudio-gemini-2-5-pro-chat", "paid?").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("paid model"), "{msg}");
    assert!(msg.contains("assume_paid_model_access"), "{msg}");
    assert_eq!(h.replica(ProviderKind::AiStudio).requests().len(), 2);
    let (status, body) = h.chat("aistudio-gemini-3-flash-chat", "fine").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_effort_system_prompt_and_upgrade_required() {
    let kind = ProviderKind::HuggingChat;
    let h = Harness::start_layers(
        &[kind],
        Knobs::instant(),
        &["[api]\naccept_reasoning_effort = true\n"],
    )
    .await;

    // A `reasoning_effort` is the composer's thinking effort; thinking shows.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "huggingchat-auto", "stream": true, "reasoning_effort": "medium",
                   "messages": [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hi"}]}),
        )
        .await;
    let s = parse_sse(&resp.text().await.unwrap());
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.effort.as_deref(), Some("medium"));
    assert!(seen.thinking);
    assert_eq!(
        seen.system.as_deref(),
        Some("Be brief."),
        "the custom system prompt"
    );
    assert_eq!(seen.inference_provider.as_deref(), Some("auto"));
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    assert!(
        expected.answer.contains("effort=medium"),
        "{}",
        expected.answer
    );
    assert_eq!(
        s.content,
        format!(
            "<think>{}</think>{}",
            expected.reasoning.unwrap(),
            expected.answer
        )
    );

    // `-chat` is the `default` effort, without thinking; the system prompt is emptied again.
    let (status, body) = h.chat("huggingchat-chat", "Plain").await;
    assert_eq!(status, 200, "{body}");
    let seen = &h.replica(kind).requests()[1];
    assert_eq!(seen.effort.as_deref(), Some("default"));
    assert!(!seen.thinking);
    assert_eq!(seen.system, None);
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.contains("<think>"), "{content}");

    // The request's own inference provider and thinking effort (which wins over the effort
    // `reasoning_effort` maps to).
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "huggingchat-reasoner", "reasoning_effort": "low",
                   "huggingchat_thinking_effort": "High", "inference_provider": "novita",
                   "messages": [{"role": "user", "content": "Where?"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seen = &h.replica(kind).requests()[2];
    assert_eq!(seen.effort.as_deref(), Some("high"));
    assert_eq!(seen.inference_provider.as_deref(), Some("novita"));
    let body: serde_json::Value = resp.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains("effort=high, provider=novita"),
        "{content}"
    );

    // Credits used up: HTTP 402 and "Upgrade Required", a clear quota error (429).
    let s = h
        .stream_chat("huggingchat-chat", "x replica:fault=upgrade_required")
        .await;
    let err = s.error.expect("an error event");
    assert!(err.starts_with("HuggingChat answered HTTP 402"), "{err}");
    assert!(err.contains("Upgrade Required"), "{err}");
    let (status, body) = h
        .chat("huggingchat-chat", "y replica:fault=upgrade_required")
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Upgrade Required")
    );
    let (status, _) = h.chat("huggingchat-chat", "fine now").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_a_lost_sign_in_is_a_clear_error() {
    a_lost_sign_in_is_a_clear_error(ProviderKind::HuggingChat).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_the_model_comes_from_the_sites_live_list() {
    let kind = ProviderKind::HuggingChat;
    // Unset, the site's own selection stays (its first model).
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let (status, body) = h.chat("huggingchat-chat", "Which?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.replica(kind).requests()[0].model,
        "Qwen/Qwen3-235B-A22B-Thinking-2507"
    );
    h.shutdown().await;

    // A basename picks the model the site lists under it.
    let layer = "[providers.huggingchat]\nmodel = \"gpt-oss-120b\"\n";
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    let (status, body) = h.chat("huggingchat-chat", "Which now?").await;
    assert_eq!(status, 200, "{body}");
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.model, "openai/gpt-oss-120b");
    let expected = Expected::for_request(site(kind), seen, Knobs::instant());
    assert_eq!(
        body["choices"][0]["message"]["content"],
        expected.answer.as_str()
    );
    h.shutdown().await;

    // One the site does not serve is a 400 `model_not_found`: found in the page while the
    // site's list is not known yet (a fresh process), then before it is queued.
    let layer = "[providers.huggingchat]\nmodel = \"no-such-model\"\n";
    let h = Harness::start_layers(&[kind], Knobs::instant(), &[layer]).await;
    for _ in 0..2 {
        let (status, body) = h.chat("huggingchat-chat", "And?").await;
        let msg = body["error"]["message"].as_str().unwrap();
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("model_not_found")),
            "{msg}"
        );
        assert!(
            msg.contains("Model `no-such-model` is not available"),
            "{msg}"
        );
        assert!(
            msg.contains("openai/gpt-oss-120b"),
            "names what the site serves: {msg}"
        );
    }
    assert!(h.replica(kind).requests().is_empty());
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(
        lanes["lanes"][0]["restarts"], 0,
        "a request error, not a broken page: {lanes}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_live_models_are_listed_and_routed_with_universal_model_names() {
    let kind = ProviderKind::HuggingChat;
    let h = Harness::single(
        kind,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n",
    )
    .await;
    let ids = |models: serde_json::Value| -> Vec<String> {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Before a lane has read the site's list, only the Universal Model Names.
    let before = ids(h.get_json("/v1/models").await);
    assert!(
        !before.iter().any(|id| id.starts_with("gpt-oss")),
        "{before:?}"
    );
    let (status, body) = h.chat("intenserp-chat", "Which?").await;
    assert_eq!(status, 200, "{body}");
    // The list the lane read: every site model as real-model IDs.
    let after = ids(h.get_json("/v1/models").await);
    for id in [
        "gpt-oss-120b-auto",
        "gpt-oss-120b-reasoner",
        "deepseek-v3-1-chat",
    ] {
        assert!(after.iter().any(|a| a == id), "{id} in {after:?}");
    }
    let (status, body) = h.chat("gpt-oss-120b-chat", "Which now?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.replica(kind).requests()[1].model, "openai/gpt-oss-120b");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_an_explicit_thinking_effort_holds_on_chat_too() {
    let kind = ProviderKind::HuggingChat;
    let h = Harness::single(kind, Knobs::instant(), "").await;
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "huggingchat-chat", "huggingchat_thinking_effort": "low",
                   "messages": [{"role": "user", "content": "Effort?"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let seen = &h.replica(kind).requests()[0];
    assert_eq!(seen.effort.as_deref(), Some("low"));
    // `-chat` still forwards no thinking.
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.contains("<think>"), "{content}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_blocked_answers_are_nudged_up_to_three_times() {
    let kind = ProviderKind::AiStudio;
    let h = Harness::single(kind, Knobs::instant(), "").await;
    // Blocked twice, then answered: two "Continue." nudges; the client sees only the answer.
    let s = h.stream_chat("aistudio-chat", "a replica:blocks=2").await;
    assert!(s.error.is_none(), "{:?}", s.error);
    let seen = h.replica(kind).requests();
    let nudges: Vec<u64> = seen
        .iter()
        .map(|r| r.settings.as_ref().unwrap().nudges)
        .collect();
    assert_eq!(nudges, [0, 1, 2]);
    assert_eq!(seen[2].prompt, "Continue.");
    let expected = Expected::for_request(site(kind), &seen[2], Knobs::instant());
    assert_eq!(s.content, expected.answer);
    // Every run went to a temporary chat with every safety filter at its minimum, and Run
    // was pressed by the pointer: a trusted click after trusted pointer moves.
    for run in &seen {
        let settings = run.settings.clone().unwrap();
        assert!(settings.temporary);
        assert_eq!(settings.safety, [0, 0, 0, 0]);
        let click = settings.run_click.expect("Run was clicked");
        assert!(click.trusted && click.moves >= 8, "{click:?}");
    }

    // Blocked four times: three nudges, then the clear error.
    let (status, body) = h.chat("aistudio-chat", "b replica:blocks=4").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "content_blocked");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Google AI Studio blocked this response"),
        "{msg}"
    );
    let seen = h.replica(kind).requests();
    assert_eq!(seen.len(), 3 + 4);
    assert_eq!(seen[6].settings.as_ref().unwrap().nudges, 3);
    let (status, _) = h.chat("aistudio-chat", "fine").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_without_humanize_or_nudges_and_incognito_added_back() {
    let kind = ProviderKind::AiStudio;
    let layer = "[providers.aistudio]\nhumanize_mouse = false\nblocked_response_handling = false\n\
                 assume_paid_model_access = true\n[api]\nuniversal_model_names = true\n";
    let h = Harness::start_with_faults(&[kind], Knobs::instant(), layer).await;
    // The page's next load drops `incognito=true` on its first new chat; the driver adds it
    // back. (A crash makes the lane load the page again.)
    h.replica(kind).set_drops_incognito(true);
    let resp = h
        .client
        .post(h.url("/api/lanes/aistudio:1/crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    h.wait_lanes("the lane is back", |l| {
        l[0]["state"] == "ready" && l[0]["restarts"] == 1
    })
    .await;
    // Gemini 2.5 with paid access assumed.
    let (status, body) = h
        .chat("aistudio-gemini-2-5-flash-chat", "a replica:blocks=1")
        .await;
    // Without Blocked-Response Handling a block is the error at once.
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "content_blocked");
    let seen = h.replica(kind).requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].model, "gemini-2.5-flash");
    let settings = seen[0].settings.clone().unwrap();
    assert!(settings.temporary, "incognito=true was added back");
    // Run was pressed by `element.click()`: not a trusted event.
    let click = settings.run_click.expect("Run was clicked");
    assert!(!click.trusted, "{click:?}");
    h.shutdown().await;
}
