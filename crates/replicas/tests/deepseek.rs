//! The DeepSeek replica over plain HTTP: page hooks, exact wire, directives, faults, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Knobs, Outcome, Site};

#[tokio::test]
async fn page_serves_the_driver_hooks() {
    let server = start(Site::DeepSeek, Knobs::default()).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<div class="dc04ec1d">"#,
        r#"<div class="_5a8ac7a a084f19e" tabindex="0">New chat</div>"#,
        r#"<div role="radiogroup""#,
        r#"<div role="radio" data-model-type="default" aria-checked="true""#,
        r#"<div role="radio" data-model-type="expert" aria-checked="false""#,
        r#"<div role="radio" data-model-type="vision" aria-checked="false""#,
        r#"<div role="button" class="ds-toggle-button">DeepThink</div>"#,
        r#"<div role="button" class="ds-toggle-button">Search</div>"#,
        r#"<textarea id="chat-input" placeholder="Message DeepSeek""#,
        r#"<div role="button" class="ds-button ds-button--primary ds-button--filled ds-button--circle ds-button--m _52c986b ds-button--disabled">"#,
        r#"<script src="/static/app.js"></script>"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    // A conversation URL serves the same app.
    assert_eq!(get_text(&server, "/a/chat/s/abc").await, html);

    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "/api/v0/chat_session/create",
        "/api/v0/chat/create_pow_challenge",
        "/api/v0/chat/completion",
        "'x-ds-pow-response'",
        "crypto.subtle.digest('SHA-256'",
        "/api/v0/chat/stop_stream",
        "data-icon=\"stop\"",
        "ds-toggle-button--selected",
        "addEventListener('input'",
        "getReader()",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
}

#[tokio::test]
async fn thinking_stream_is_exactly_the_patch_format() {
    let server = start(Site::DeepSeek, fast(3)).await;
    let session = deepseek_session(&server).await;
    let resp = deepseek_completion(&server, deepseek_body(&session, "Hi there", true, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let raw = resp.text().await.unwrap();
    let expected = concat!(
        "event: ready\n",
        "data: {\"request_message_id\":1,\"response_message_id\":2}\n\n",
        "data: {\"v\":{\"response\":{\"message_id\":2,\"fragments\":[{\"id\":1,\"type\":\"THINK\",\"content\":\"Thinking abou\"}],\"status\":\"WIP\"}}}\n\n",
        "data: {\"p\":\"response/fragments/-1/content\",\"o\":\"APPEND\",\"v\":\"t \\\"Hi there\\\" \"}\n\n",
        "data: {\"v\":\"(search off).\"}\n\n",
        "data: {\"p\":\"response/fragments\",\"o\":\"APPEND\",\"v\":[{\"id\":2,\"type\":\"RESPONSE\",\"content\":\"Echo [DeepSeek, model=default, thinking=on, search=off]: Hi there\"}]}\n\n",
        "data: {\"p\":\"response/fragments/-1/content\",\"o\":\"APPEND\",\"v\":\" w1\"}\n\n",
        "data: {\"v\":\" w2\"}\n\n",
        "data: {\"p\":\"response\",\"o\":\"BATCH\",\"v\":[{\"p\":\"fragments/-1/status\",\"v\":\"FINISHED\"},{\"p\":\"quasi_status\",\"v\":\"FINISHED\"}]}\n\n",
        "data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"FINISHED\"}\n\n",
        "event: close\n",
        "data: {\"click_behavior\":\"none\",\"auto_resume\":false}\n\n",
    );
    assert_eq!(raw, expected);

    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.path, "/api/v0/chat/completion");
    assert_eq!(entry.prompt, "Hi there");
    assert_eq!(entry.model, "default");
    assert!(entry.thinking && !entry.search && !entry.stop_called);
    assert_eq!(entry.effort, None);
    assert_eq!(entry.chunks_sent, 3);
    assert!(entry.ended_us.unwrap() >= entry.started_us);
}

#[tokio::test]
async fn search_without_thinking_opens_with_a_search_fragment() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let mut body = deepseek_body(&session, "q", false, true);
    body["model_type"] = json!("expert");
    body["parent_message_id"] = json!(2);
    let raw = deepseek_completion(&server, body)
        .await
        .text()
        .await
        .unwrap();
    let expected = concat!(
        "event: ready\n",
        "data: {\"request_message_id\":3,\"response_message_id\":4}\n\n",
        "data: {\"v\":{\"response\":{\"message_id\":4,\"fragments\":[{\"id\":1,\"type\":\"SEARCH\",\"content\":\"search results for the prompt\"}],\"status\":\"WIP\"}}}\n\n",
        "data: {\"p\":\"response/fragments\",\"o\":\"APPEND\",\"v\":[{\"id\":2,\"type\":\"RESPONSE\",\"content\":\"Echo [DeepSeek, model=expert, thinking=off, search=on]: q\"}]}\n\n",
        "data: {\"p\":\"response/fragments/-1/content\",\"o\":\"APPEND\",\"v\":\" w1\"}\n\n",
        "data: {\"p\":\"response\",\"o\":\"BATCH\",\"v\":[{\"p\":\"fragments/-1/status\",\"v\":\"FINISHED\"},{\"p\":\"quasi_status\",\"v\":\"FINISHED\"}]}\n\n",
        "data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"FINISHED\"}\n\n",
        "event: close\n",
        "data: {\"click_behavior\":\"none\",\"auto_resume\":false}\n\n",
    );
    assert_eq!(raw, expected);
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!((entry.model.as_str(), entry.search), ("expert", true));
}

#[tokio::test]
async fn directives_override_the_knobs() {
    let server = start(Site::DeepSeek, fast(8)).await;
    let session = deepseek_session(&server).await;
    let prompt = "multi\nline replica:chunks=5 prompt";
    let raw = deepseek_completion(&server, deepseek_body(&session, prompt, true, true))
        .await
        .text()
        .await
        .unwrap();
    let (think, answer, finished) = deepseek_assemble(&raw);
    assert!(finished);
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.chunks_sent, 5);
    let expected = Expected::for_request(Site::DeepSeek, &entry, server.knobs());
    assert_eq!(Some(think), expected.reasoning);
    assert_eq!(answer, expected.answer);
    assert!(answer.ends_with("prompt w1 w2 w3 w4"), "{answer}");
    assert!(
        !answer.contains("search results"),
        "the SEARCH fragment is separate"
    );
}

#[tokio::test]
async fn stamp_carries_emission_times() {
    let server = start(Site::DeepSeek, fast(4)).await;
    let session = deepseek_session(&server).await;
    let before = now_us();
    let raw = deepseek_completion(
        &server,
        deepseek_body(
            &session,
            "bench replica:stamp replica:delay_ms=2",
            false,
            false,
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    let after = now_us();
    let (_, answer, _) = deepseek_assemble(&raw);
    let stamps: Vec<u64> = answer
        .split(" «t=")
        .skip(1)
        .map(|s| s.trim_end_matches('»').parse().unwrap())
        .collect();
    assert_eq!(stamps.len(), 3, "{answer}");
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert!(stamps[0] >= before && stamps[2] <= after, "{stamps:?}");
}

#[tokio::test]
async fn first_delay_holds_the_first_byte() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let started = tokio::time::Instant::now();
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(&session, "replica:first_delay_ms=150", false, false),
    )
    .await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert!(first.starts_with(b"event: ready"));
}

#[tokio::test]
async fn rate_limit_fault_is_a_429() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let resp = deepseek_completion(
        &server,
        deepseek_body(&session, "x replica:fault=rate_limit", false, false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"code":40029,"msg":"Too many requests, please slow down.","data":null}"#
    );
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("rate_limit".into()));
    assert_eq!(entry.chunks_sent, 0);
}

#[tokio::test]
async fn empty_fault_finishes_without_fragments() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let raw = deepseek_completion(
        &server,
        deepseek_body(&session, "x replica:fault=empty", true, false),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        raw,
        concat!(
            "event: ready\n",
            "data: {\"request_message_id\":1,\"response_message_id\":2}\n\n",
            "data: {\"v\":{\"response\":{\"message_id\":2,\"fragments\":[],\"status\":\"WIP\"}}}\n\n",
            "data: {\"p\":\"response/status\",\"o\":\"SET\",\"v\":\"FINISHED\"}\n\n",
            "event: close\n",
            "data: {\"click_behavior\":\"none\",\"auto_resume\":false}\n\n",
        )
    );
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("empty".into()));
}

#[tokio::test]
async fn stall_sends_the_opening_then_nothing_until_dropped() {
    let server = start(Site::DeepSeek, fast(4)).await;
    let session = deepseek_session(&server).await;
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(&session, "x replica:fault=stall", false, false),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "\"status\":\"WIP\"}}}\n\n").await;
    assert!(
        seen.contains("Echo [DeepSeek"),
        "the snapshot carries the first piece"
    );
    assert_silent(&mut resp).await;
    let entry = server.requests().remove(0);
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
    assert_eq!((entry.ended_us, entry.chunks_sent), (None, 1));

    drop(resp);
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
}

#[tokio::test]
async fn slow_first_holds_the_body_until_dropped() {
    let server = start(Site::DeepSeek, fast(4)).await;
    let session = deepseek_session(&server).await;
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(&session, "x replica:fault=slow_first", false, false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_silent(&mut resp).await;
    drop(resp);
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("slow_first".into()));
    assert_eq!(entry.chunks_sent, 0);
}

#[tokio::test]
async fn dropping_the_response_mid_stream_marks_stopped() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(
            &session,
            "long replica:chunks=200 replica:delay_ms=20",
            false,
            false,
        ),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, " w1\"").await;
    drop(resp);
    let entry = wait_entry(&server, 1, |r| r.outcome != Outcome::Streaming).await;
    assert_eq!(entry.outcome, Outcome::Stopped);
    assert!(entry.ended_us.is_some() && !entry.stop_called);
    assert!(
        entry.chunks_sent >= 2 && entry.chunks_sent < 200,
        "{}",
        entry.chunks_sent
    );
}

#[tokio::test]
async fn stop_endpoint_ends_the_stream_and_marks_stop_called() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(
            &session,
            "long replica:chunks=200 replica:delay_ms=20",
            false,
            false,
        ),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [").await;

    let stop = post_json(
        &server,
        "/api/v0/chat/stop_stream",
        json!({"chat_session_id": session, "message_id": 2}),
    )
    .await;
    let stop: Value = stop.json().await.unwrap();
    assert_eq!(stop["code"], 0);

    // The body ends (without FINISHED) once the stop lands.
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!seen.contains("FINISHED"), "{seen}");
    let entry = wait_entry(&server, 1, |r| r.stop_called).await;
    assert_eq!(entry.outcome, Outcome::Stopped);
    assert!(entry.ended_us.is_some());
}

#[tokio::test]
async fn completion_without_a_valid_pow_header_is_rejected() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let url = format!("{}/api/v0/chat/completion", server.base_url());
    let body = deepseek_body(&session, "hi", false, false);

    let resp = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["code"], 40002);
    assert!(err["msg"].as_str().unwrap().contains("x-ds-pow-response"));

    // A well-formed answer to a challenge this server never issued.
    let forged = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        json!({"algorithm":"DeepSeekHashV1","challenge":"nope","salt":"s","answer":1,
               "signature":"x","target_path":"/api/v0/chat/completion"})
        .to_string(),
    );
    let resp = client()
        .post(&url)
        .header("x-ds-pow-response", forged)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let log = server.requests();
    assert_eq!(log.len(), 2);
    for entry in log {
        let Outcome::Fault(why) = entry.outcome else {
            panic!("rejected request logged as {:?}", entry.outcome);
        };
        assert!(why.starts_with("rejected: "), "{why}");
        assert_eq!(entry.prompt, "hi");
    }
}

#[tokio::test]
async fn a_pow_challenge_is_one_time_and_its_answer_is_checked() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let url = format!("{}/api/v0/chat/completion", server.base_url());
    let body = deepseek_body(&session, "hi", false, false);
    let send = |pow: String| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            let resp = client()
                .post(url)
                .header("x-ds-pow-response", pow)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.text().await.unwrap())
        }
    };

    // The right answer, once.
    let c = deepseek_challenge(&server).await;
    assert_eq!(c["algorithm"], "DeepSeekHashV1");
    let right = deepseek_pow_header(&c, deepseek_solve(&c));
    let (status, _) = send(right.clone()).await;
    assert_eq!(status, 200);
    // The same header again: the challenge was used up.
    let (status, text) = send(right).await;
    assert_eq!(status, 400);
    assert!(text.contains("already redeemed"), "{text}");

    // A wrong answer to a fresh challenge (present and well-formed, but not the answer).
    let c = deepseek_challenge(&server).await;
    let wrong = (0..)
        .find(|&n| deepseek_hash(&c, n) != c["challenge"])
        .unwrap();
    let (status, text) = send(deepseek_pow_header(&c, wrong)).await;
    assert_eq!(status, 400);
    assert!(text.contains("wrong answer"), "{text}");

    // A session the server never created.
    let c = deepseek_challenge(&server).await;
    let resp = client()
        .post(&url)
        .header(
            "x-ds-pow-response",
            deepseek_pow_header(&c, deepseek_solve(&c)),
        )
        .json(&deepseek_body("not-a-session", "hi", false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn stop_needs_the_session_and_the_reply_message_id() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let session = deepseek_session(&server).await;
    let mut resp = deepseek_completion(
        &server,
        deepseek_body(
            &session,
            "long replica:chunks=200 replica:delay_ms=20",
            false,
            false,
        ),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [").await;

    for (body, why) in [
        (
            json!({"chat_session_id": session}),
            "message_id is required",
        ),
        (
            json!({"chat_session_id": session, "message_id": null}),
            "message_id is required",
        ),
        (
            json!({"chat_session_id": session, "message_id": 1}),
            "not the latest reply",
        ),
        (
            json!({"chat_session_id": "other", "message_id": 2}),
            "no session",
        ),
    ] {
        let stop = post_json(&server, "/api/v0/chat/stop_stream", body.clone()).await;
        assert_eq!(stop.status(), 400, "{body}");
        let stop: Value = stop.json().await.unwrap();
        assert!(
            stop["msg"].as_str().unwrap().contains(why),
            "{body}: {stop}"
        );
    }
    // None of them stopped anything.
    let log = server.requests();
    assert_eq!(log[0].outcome, Outcome::Streaming);
    assert!(!log[0].stop_called);
}

#[tokio::test]
async fn a_changed_hook_changes_only_the_page() {
    use switchyard_replicas::HookChange;
    let server = start(Site::DeepSeek, Knobs::default()).await;
    let plain = get_text(&server, "/").await;
    assert!(plain.contains(r#"<meta name="replica-hook-change" content="">"#));
    server.change_hook(Some(("send", HookChange::All)));
    let changed = get_text(&server, "/").await;
    assert!(changed.contains(r#"<meta name="replica-hook-change" content="send:all">"#));
    assert_eq!(
        changed.replace(r#"content="send:all""#, r#"content="""#),
        plain
    );
    server.change_hook(None);
    assert_eq!(get_text(&server, "/").await, plain);
}
