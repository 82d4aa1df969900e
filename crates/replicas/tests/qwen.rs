//! The Qwen replica over plain HTTP: page hooks, exact wire, settings, faults, strictness, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Knobs, Outcome, Site};

#[tokio::test]
async fn page_serves_the_driver_hooks() {
    let server = start(Site::Qwen, Knobs::default()).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<div class="sidebar" data-state="open">"#,
        r#"<div class="sidebar-entry-fixed-list-content">New Chat</div>"#,
        r#"<span class="model-selector-text___x9Qp">Qwen3.5-Plus</span>"#,
        r#"<textarea class="message-input-textarea""#,
        r#"<div class="mode-select"><div class="mode-select-current-mode"></div>"#,
        r#"<span class="ant-select-selection-item"><div class="qwen-select-thinking-label">Auto</div></span>"#,
        r#"<div class="chat-prompt-send-button"></div>"#,
        r#"<script src="/static/app.js"></script>"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    assert_eq!(get_text(&server, "/c/new-chat").await, html);
    let auth = get_text(&server, "/auth").await;
    assert!(auth.contains("qwenchat-auth-pc-input-items"), "{auth}");

    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "model-selector-popup",
        "model-list",
        "model-item___",
        "model-item-name",
        "view-more",
        "rc-virtual-list-holder-inner",
        "['Auto', 'Thinking', 'Fast']",
        "'rc-menu-uuid-' + key",
        "mode-select-current-mode-close",
        "'stop-button'",
        "'bx-ua'",
        "'bx-umidtoken'",
        "'bx-v'",
        "/api/v2/chat/completions?chat_id=",
        "/api/v2/users/user/settings",
        "largeTextAsFile",
        "role', 'dialog'",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
}

#[tokio::test]
async fn thinking_and_search_stream_is_exactly_the_sse_format() {
    let server = start(Site::Qwen, fast(2)).await;
    let chat = qwen_chat(&server).await;
    let resp = qwen_completion(&server, &chat, qwen_body(&chat, "Hi", true, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let raw = resp.text().await.unwrap();
    let events: Vec<&str> = raw.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(events[0].starts_with(&format!(
        r#"data: {{"response.created":{{"chat_id":"{chat}","parent_id":null,"response_id":""#
    )));
    assert_eq!(
        events[1],
        r#"data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"web_search","status":"typing","extra":{"web_search_info":[]}}}]}"#
    );
    assert!(events[2].contains("https://weather.example.com/today"));
    let title = r#"{"summary_title":{"content":["Thinking about \"Hi\" (search on)."]}"#;
    for (event, thought) in events[3..6].iter().zip([
        "Answer with",
        "Answer with an echo of",
        "Answer with an echo of the prompt.",
    ]) {
        assert_eq!(
            *event,
            format!(
                r#"data: {{"choices":[{{"delta":{{"role":"assistant","content":"","phase":"thinking_summary","extra":{title},"summary_thought":{{"content":["{thought}"]}}}},"status":"typing"}}}}]}}"#
            )
        );
    }
    assert!(events[6].contains(r#""status":"finished""#));
    assert_eq!(
        events[7],
        r#"data: {"choices":[{"delta":{"role":"assistant","content":"Echo [Qwen, model=qwen3.5-plus, thinking=on, search=on]: Hi","phase":"answer","status":"typing"}}]}"#
    );
    assert_eq!(
        events[8],
        r#"data: {"choices":[{"delta":{"role":"assistant","content":" w1","phase":"answer","status":"typing"}}]}"#
    );
    assert_eq!(
        events[9],
        r#"data: {"choices":[{"delta":{"role":"assistant","content":"","phase":"answer","status":"finished"}}],"usage":{"input_tokens":0,"output_tokens":5,"total_tokens":5}}"#
    );
    assert_eq!(events.len(), 10);
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert!(entry.thinking && entry.search);
    assert_eq!(entry.chunks_sent, 2);
    let expected = Expected::for_request(Site::Qwen, &entry, fast(2));
    assert_eq!(qwen_answer(&raw), expected.answer);
    assert_eq!(
        expected.reasoning.as_deref(),
        Some("Thinking about \"Hi\" (search on).\nAnswer with an echo of the prompt.")
    );
}

#[tokio::test]
async fn chat_mode_sends_no_summary_and_no_search() {
    let server = start(Site::Qwen, fast(3)).await;
    let chat = qwen_chat(&server).await;
    let resp = qwen_completion(&server, &chat, qwen_body(&chat, "Hey", false, false)).await;
    let raw = resp.text().await.unwrap();
    assert!(
        !raw.contains("thinking_summary") && !raw.contains("web_search"),
        "{raw}"
    );
    assert_eq!(
        qwen_answer(&raw),
        "Echo [Qwen, model=qwen3.5-plus, thinking=off, search=off]: Hey w1 w2"
    );
}

#[tokio::test]
async fn the_anti_bot_headers_must_come_exactly_once() {
    let server = start(Site::Qwen, fast(1)).await;
    let chat = qwen_chat(&server).await;
    let missing = qwen_completion_with(
        &server,
        &chat,
        qwen_body(&chat, "hi", false, false),
        &[("bx-ua", "a"), ("bx-v", "2.5.31")],
    )
    .await;
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        body["data"]["details"],
        "the anti-bot header bx-umidtoken is missing"
    );
    let twice = qwen_completion_with(
        &server,
        &chat,
        qwen_body(&chat, "hi", false, false),
        &[
            ("bx-ua", "a"),
            ("bx-ua", "b"),
            ("bx-umidtoken", "t"),
            ("bx-v", "2.5.31"),
        ],
    )
    .await;
    assert_eq!(twice.status(), 400);
    let body: Value = twice.json().await.unwrap();
    assert_eq!(
        body["data"]["details"],
        "the anti-bot header bx-ua came 2 times"
    );
    let log = server.requests();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|r| matches!(&r.outcome, Outcome::Fault(f) if f.starts_with("rejected")))
    );
}

#[tokio::test]
async fn completions_need_a_created_chat_in_the_query_and_a_new_fid() {
    let server = start(Site::Qwen, fast(1)).await;
    let chat = qwen_chat(&server).await;
    let body = qwen_body(&chat, "hi", false, false);
    assert_eq!(
        qwen_completion(&server, &chat, body.clone()).await.status(),
        200
    );
    let again = qwen_completion(&server, &chat, body).await;
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.unwrap();
    assert!(
        again["data"]["details"]
            .as_str()
            .unwrap()
            .contains("already sent")
    );
    let stranger = qwen_completion(
        &server,
        "not-a-chat",
        qwen_body("not-a-chat", "hi", false, false),
    )
    .await;
    assert_eq!(stranger.status(), 400);
    let other = qwen_chat(&server).await;
    let mismatch = qwen_completion(&server, &other, qwen_body(&chat, "hi", false, false)).await;
    assert_eq!(mismatch.status(), 400);
    let stop = client()
        .post(format!(
            "{}/api/v2/chats/not-a-chat/stop",
            server.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 404);
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn settings_start_with_large_text_as_file_and_update_one_key() {
    let server = start(Site::Qwen, fast(1)).await;
    let read = || async {
        let text = get_text(&server, "/api/v2/users/user/settings").await;
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let before = read().await;
    assert_eq!(before["data"]["ui"]["largeTextAsFile"], true);
    assert_eq!(before["data"]["memory"]["enable_memory"], true);
    let resp = post_json(
        &server,
        "/api/v2/users/user/settings/update",
        json!({"ui": {"largeTextAsFile": false}}),
    )
    .await;
    assert!(resp.status().is_success());
    let after = read().await;
    assert_eq!(after["data"]["ui"]["largeTextAsFile"], false);
    assert_eq!(after["data"]["ui"]["splitLargeChunks"], true);
}

#[tokio::test]
async fn rate_limit_is_the_sites_bare_json_refusal() {
    let server = start(Site::Qwen, fast(1)).await;
    let chat = qwen_chat(&server).await;
    let resp = qwen_completion(
        &server,
        &chat,
        qwen_body(&chat, "x replica:fault=rate_limit", false, false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["data"]["code"], "RateLimited");
    let entry = wait_entry(&server, 1, |r| r.ended_us.is_some()).await;
    assert_eq!(entry.outcome, Outcome::Fault("rate_limit".into()));
}

#[tokio::test]
async fn blocked_and_empty_faults() {
    let server = start(Site::Qwen, fast(1)).await;
    let chat = qwen_chat(&server).await;
    let raw = qwen_completion(
        &server,
        &chat,
        qwen_body(&chat, "x replica:fault=blocked", false, false),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        raw,
        "data: {\"error\":{\"code\":\"data_inspection_failed\",\"details\":\"Input data may contain inappropriate content.\"}}\n\n"
    );
    let chat = qwen_chat(&server).await;
    let raw = qwen_completion(
        &server,
        &chat,
        qwen_body(&chat, "x replica:fault=empty", false, false),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(raw, "");
}

#[tokio::test]
async fn stop_endpoint_ends_the_stream_and_marks_stop_called() {
    let server = start(Site::Qwen, fast(2)).await;
    let chat = qwen_chat(&server).await;
    let mut resp = qwen_completion(
        &server,
        &chat,
        qwen_body(
            &chat,
            "replica:chunks=200 replica:delay_ms=20",
            false,
            false,
        ),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [").await;
    let stop = client()
        .post(format!("{}/api/v2/chats/{chat}/stop", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success());
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!seen.contains(r#""status":"finished""#), "{seen}");
    let entry = wait_entry(&server, 1, |r| r.stop_called).await;
    assert_eq!(entry.outcome, Outcome::Stopped);
}

#[tokio::test]
async fn signed_out_the_page_is_the_sign_in_and_the_api_refuses() {
    let server = start(Site::Qwen, fast(1)).await;
    let chat = qwen_chat(&server).await;
    server.set_signed_in(false);
    let page = get_text(&server, "/").await;
    assert!(page.contains("qwenchat-auth-pc-input-items"), "{page}");
    let resp = qwen_completion(&server, &chat, qwen_body(&chat, "hi", false, false)).await;
    assert_eq!(resp.status(), 401);
    let new = post_json(&server, "/api/v2/chats/new", json!({})).await;
    assert_eq!(new.status(), 401);
    server.set_signed_in(true);
    let resp = qwen_completion(&server, &chat, qwen_body(&chat, "hi", false, false)).await;
    assert_eq!(resp.status(), 200);
}

/// With an account registered the site is signed out without its `token` cookie: the page
/// goes to /auth and the API answers 401. A wrong pair gets the site's message, a right one
/// the cookie, under which the completion names the account; a rate-limited account gets the
/// site's refusal.
#[tokio::test]
async fn with_an_account_the_token_cookie_is_the_session() {
    // The `Set-Cookie` pair (`name=value`) of a response, if it sets `name`.
    let set_cookie = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|pair| pair.starts_with(&format!("{name}=")))
    };
    let server = start(Site::Qwen, fast(1)).await;
    server.add_account("ant@example.com", "pw-ant");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = plain
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection(), "{}", page.status());
    assert_eq!(page.headers()["location"], "/auth");
    let new = post_json(&server, "/api/v2/chats/new", json!({})).await;
    assert_eq!(new.status(), 401);

    let wrong = json!({"email": "ant@example.com", "password": "nope"});
    let wrong = post_json(&server, "/api/v1/auths/signin", wrong).await;
    assert_eq!(wrong.status(), 400);
    assert!(set_cookie(&wrong, "token").is_none());
    let body: Value = wrong.json().await.unwrap();
    assert!(
        body["data"]["details"]
            .as_str()
            .unwrap()
            .contains("incorrect"),
        "{body}"
    );
    let right = json!({"email": " Ant@Example.com", "password": "pw-ant"});
    let right = post_json(&server, "/api/v1/auths/signin", right).await;
    assert_eq!(right.status(), 200);
    let cookie = set_cookie(&right, "token").expect("the token cookie");
    assert_eq!(server.sign_ins("ant@example.com"), 1);

    let created: Value = client()
        .post(format!("{}/api/v2/chats/new", server.base_url()))
        .header("cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = created["data"]["id"].as_str().unwrap().to_owned();
    let bx = [
        ("bx-ua", "231!x"),
        ("bx-umidtoken", "T2gA"),
        ("bx-v", "2.5.31"),
    ];
    let resp = qwen_completion(&server, &chat, qwen_body(&chat, "no cookie", false, false)).await;
    assert_eq!(resp.status(), 401, "no session, no answer");
    let with_cookie = [&bx[..], &[("cookie", cookie.as_str())]].concat();
    let body = qwen_body(&chat, "signed in", false, false);
    let resp = qwen_completion_with(&server, &chat, body, &with_cookie).await;
    assert_eq!(resp.status(), 200);
    assert!(!qwen_answer(&resp.text().await.unwrap()).is_empty());
    let log = server.requests();
    assert_eq!(
        log.last().unwrap().account.as_deref(),
        Some("ant@example.com")
    );

    server.rate_limit_account("ant@example.com", true);
    let body = qwen_body(&chat, "limited", false, false);
    let resp = qwen_completion_with(&server, &chat, body, &with_cookie).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["code"], "RateLimited", "{body}");
}
