//! The GLM Chat replica over plain HTTP: page hooks, exact wire, directives, faults, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Knobs, Outcome, Site};

#[tokio::test]
async fn page_serves_the_driver_hooks() {
    let server = start(Site::Glm, Knobs::default()).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<div id="sidebar" data-state="true">"#,
        r#"<button id="sidebar-new-chat-button" type="button">"#,
        r#"<button class="modelSelectorButton" type="button">GLM-5.2<svg"#,
        r#"<textarea id="chat-input""#,
        r#"<button id="send-message-button" type="button" disabled>"#,
        r#"<script src="/static/app.js"></script>"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    // The unlabeled search toggle sits immediately before the Deep Think trigger.
    let search = html
        .find(r#"<button type="button" data-active="false">"#)
        .expect("search toggle");
    let after_search = &html[search..];
    let toggle_end = after_search.find("</button>").unwrap() + "</button>".len();
    let next = after_search[toggle_end..].trim_start();
    assert!(
        next.starts_with(
            r#"<div type="button" class="think-trigger" aria-expanded="false" data-state="closed">Deep Think <span>Max</span></div>"#
        ),
        "{next}"
    );
    assert!(
        !after_search[..toggle_end].contains("aria-label"),
        "search is unlabeled"
    );
    assert_eq!(get_text(&server, "/c/abc").await, html);

    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "'aria-label': 'model-item'",
        "{ value: 'glm-5.2'",
        "{ value: 'glm-5.1'",
        "{ value: 'GLM-5-Turbo'",
        "role: 'switch'",
        "'data-selected'",
        "setAttribute('role', 'menu')",
        "event.key === 'Escape'",
        "setAttribute('aria-label', 'Stop')",
        "/api/v1/chats/new",
        "/api/v2/chat/completions",
        "'/stop'",
        "addEventListener('input'",
        "getReader()",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
}

#[tokio::test]
async fn thinking_stream_is_exactly_the_sse_format() {
    let server = start(Site::Glm, fast(3)).await;
    let chat = glm_chat(&server).await;
    let resp = glm_completion(&server, glm_body(&chat, "Hi there", true, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let raw = resp.text().await.unwrap();
    let expected = concat!(
        r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"<details type=\"reasoning\" done=\"false\">\n> Thinking abou"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"t \"Hi there\" "}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"thinking","delta_content":"(search off)."}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"answer","edit_content":"<details type=\"reasoning\" done=\"true\" duration=\"1\">\n> Thinking about \"Hi there\" (search off).\n</details>\nEcho [GLM, model=glm-5.2, thinking=on, search=off]: Hi there"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" w1"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" w2"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":2,"completion_tokens":6,"total_tokens":8}}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"done","done":true}}"#,
        "\n\n",
    );
    assert_eq!(raw, expected);

    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.path, "/api/v2/chat/completions");
    assert_eq!(entry.prompt, "Hi there");
    assert_eq!(entry.model, "glm-5.2");
    assert!(entry.thinking && !entry.search && !entry.stop_called);
    assert_eq!(entry.effort.as_deref(), Some("max"));
    assert_eq!(entry.chunks_sent, 3);
}

#[tokio::test]
async fn search_without_thinking_adds_a_tool_call() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let raw = glm_completion(&server, glm_body(&chat, "q", false, true))
        .await
        .text()
        .await
        .unwrap();
    let expected = concat!(
        r#"data: {"type":"chat:completion","data":{"phase":"tool_call","edit_content":"<glm_block view=\"\">{\"type\":\"mcp\",\"data\":{\"metadata\":{\"name\":\"search\"}}}</glm_block>"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":"Echo [GLM, model=glm-5.2, thinking=off, search=on]: q"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"answer","delta_content":" w1"}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":0,"completion_tokens":2,"total_tokens":2}}}"#,
        "\n\n",
        r#"data: {"type":"chat:completion","data":{"phase":"done","done":true}}"#,
        "\n\n",
    );
    assert_eq!(raw, expected);
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert!(entry.search && !entry.thinking);
    assert_eq!(entry.effort, None);
}

#[tokio::test]
async fn directives_override_the_knobs() {
    let server = start(Site::Glm, fast(8)).await;
    let chat = glm_chat(&server).await;
    let mut body = glm_body(&chat, "a replica:chunks=4 b", true, true);
    body["model"] = json!("GLM-5-Turbo");
    // The page sends the whole conversation; the replica answers the last user message.
    body["messages"] = json!([
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "text", "text": "a replica:chunks=4 b"}]},
    ]);
    let raw = glm_completion(&server, body).await.text().await.unwrap();
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(
        (entry.prompt.as_str(), entry.model.as_str()),
        ("a replica:chunks=4 b", "GLM-5-Turbo")
    );
    assert_eq!(entry.chunks_sent, 4);
    let expected = Expected::for_request(Site::Glm, &entry, server.knobs());
    assert_eq!(glm_answer(&raw), expected.answer);
    assert!(
        expected.answer.ends_with(" b w1 w2 w3"),
        "{}",
        expected.answer
    );
}

#[tokio::test]
async fn rate_limit_fault_is_a_capacity_event() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let resp = glm_completion(
        &server,
        glm_body(&chat, "replica:fault=rate_limit", true, false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        concat!(
            r#"data: {"type":"chat:completion","data":{"error":{"code":"MODEL_CONCURRENCY_LIMIT","detail":"The model is currently at capacity, please switch to another model."}}}"#,
            "\n\n"
        )
    );
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("rate_limit".into()));
}

#[tokio::test]
async fn empty_fault_is_a_body_without_events() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let resp = glm_completion(
        &server,
        glm_body(&chat, "replica:fault=empty", false, false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("empty".into()));
}

#[tokio::test]
async fn stall_sends_the_first_event_then_nothing_until_dropped() {
    let server = start(Site::Glm, fast(4)).await;
    let chat = glm_chat(&server).await;
    let mut resp =
        glm_completion(&server, glm_body(&chat, "replica:fault=stall", true, false)).await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "\n\n").await;
    assert!(seen.contains(r#""phase":"thinking""#), "{seen}");
    assert_silent(&mut resp).await;
    assert_eq!(seen.matches("data: ").count(), 1);

    drop(resp);
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
}

#[tokio::test]
async fn slow_first_holds_the_body_until_dropped() {
    let server = start(Site::Glm, fast(4)).await;
    let chat = glm_chat(&server).await;
    let mut resp = glm_completion(
        &server,
        glm_body(&chat, "replica:fault=slow_first", false, false),
    )
    .await;
    assert_silent(&mut resp).await;
    drop(resp);
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("slow_first".into()));
}

#[tokio::test]
async fn dropping_the_response_mid_stream_marks_stopped() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let mut resp = glm_completion(
        &server,
        glm_body(
            &chat,
            "replica:chunks=200 replica:delay_ms=20",
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
    assert!(entry.chunks_sent >= 2 && entry.chunks_sent < 200);
}

#[tokio::test]
async fn stop_endpoint_ends_the_stream_and_marks_stop_called() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let mut resp = glm_completion(
        &server,
        glm_body(&chat, "replica:chunks=200 replica:delay_ms=20", true, false),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [").await;

    let stop = client()
        .post(format!("{}/api/v1/chats/{chat}/stop", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success());
    let _: Value = stop.json().await.unwrap();

    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!seen.contains(r#""phase":"done""#), "{seen}");
    let entry = wait_entry(&server, 1, |r| r.stop_called).await;
    assert_eq!(entry.outcome, Outcome::Stopped);
    assert!(entry.ended_us.is_some());
}

#[tokio::test]
async fn completions_need_a_created_chat_and_a_new_message_id() {
    let server = start(Site::Glm, fast(2)).await;
    let chat = glm_chat(&server).await;
    let body = glm_body(&chat, "hi", false, false);
    assert_eq!(glm_completion(&server, body.clone()).await.status(), 200);
    // The same message id again (a request sent twice).
    let again = glm_completion(&server, body.clone()).await;
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.unwrap();
    assert!(again["detail"].as_str().unwrap().contains("already sent"));
    // No message id; a chat the server never created.
    let mut no_id = glm_body(&chat, "hi", false, false);
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(glm_completion(&server, no_id).await.status(), 400);
    let stranger = glm_body("not-a-chat", "hi", false, false);
    assert_eq!(glm_completion(&server, stranger).await.status(), 400);
    // Stop for a chat the server never created.
    let stop = client()
        .post(format!(
            "{}/api/v1/chats/not-a-chat/stop",
            server.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 404);
    assert_eq!(server.requests().len(), 4);
}
