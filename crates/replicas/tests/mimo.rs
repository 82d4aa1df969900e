//! The Xiaomi MiMo replica over plain HTTP: page hooks, exact wire, sign-in and id checks,
//! faults, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Knobs, Outcome, Site};

#[tokio::test]
async fn page_serves_the_driver_hooks_and_signs_in() {
    let server = start(Site::Mimo, Knobs::default()).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<button type="button" data-track-id="new_chat_btn">New chat</button>"#,
        r#"<button type="button" data-track-id="model_select" aria-haspopup="listbox">MiMo-V2.5-Pro</button>"#,
        r#"<textarea data-track-id="home_input""#,
        r#"<button type="button" data-track-id="web_search_btn" aria-pressed="false">Search</button>"#,
        r#"<button type="button" data-track-id="home_send_btn" aria-label="Send" disabled>"#,
        r#"<script src="/static/app.js"></script>"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "'data-track-id': 'announcement_close_btn'",
        "['cookie_decline_btn', 'Decline all', 'none']",
        "check.dataset.trackId = 'agreement_checkbox'",
        "'data-track-id': 'agreement_confirm_btn', disabled: ''",
        "'data-track-id': 'stop_btn', 'aria-label': 'Stop'",
        "{ value: 'mimo-v2.5-pro', label: 'MiMo-V2.5-Pro' }",
        "{ value: 'mimo-v2.5', label: 'MiMo-V2.5' }",
        "setAttribute('role', 'listbox')",
        "'/open-apis/bot/chat?xiaomichatbot_ph='",
        "'/open-apis/bot/chat/stop'",
        "eventName === 'sensitive_query'",
        "getReader()",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
    let account = mimo_sign_in(&server).await;
    assert_eq!(account.ph.len(), 32);
    assert!(account.cookie.contains("userId="), "{}", account.cookie);
    // The same account on every page load.
    assert_eq!(mimo_sign_in(&server).await.ph, account.ph);
}

#[tokio::test]
async fn thinking_stream_is_exactly_the_named_event_format() {
    let server = start(Site::Mimo, fast(3)).await;
    let account = mimo_sign_in(&server).await;
    let resp = mimo_completion(&server, &account, mimo_body("Hi there", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let raw = resp.text().await.unwrap();
    let expected = concat!(
        "event: message\ndata: {\"type\":\"text\",\"content\":\"\\u0000\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\"<thi\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\"nk>Thinking abou\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\"t \\\"Hi there\\\" \"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\"(search off).</thi\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\"nk>\\n\\nEcho [MiMo, model=mimo-v2.5-pro, thinking=on, search=off]: Hi there\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\" w1\"}\n\n",
        "event: message\ndata: {\"type\":\"text\",\"content\":\" w2\"}\n\n",
        "event: usage\ndata: {\"promptTokens\":2,\"completionTokens\":6,\"totalTokens\":8}\n\n",
        "event: finish\ndata: {\"content\":\"[DONE]\"}\n\n",
    );
    assert_eq!(raw, expected);

    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.path, "/open-apis/bot/chat");
    assert_eq!(entry.prompt, "Hi there");
    assert_eq!(entry.model, "mimo-v2.5-pro");
    assert!(entry.thinking, "the site always thinks");
    assert!(!entry.search && !entry.stop_called);
    assert_eq!(entry.chunks_sent, 3);
    let expected = Expected::for_request(Site::Mimo, &entry, fast(3));
    assert_eq!(
        mimo_answer(&raw),
        format!(
            "<think>{}</think>{}",
            expected.reasoning.unwrap(),
            expected.answer
        )
    );
}

/// The text of every `text` message, NULs stripped and the answer's leading breaks removed.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a panic is a failed assertion"
)]
fn mimo_answer(raw: &str) -> String {
    let mut text = String::new();
    let mut event = "message";
    for line in raw.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            if event == "message" && v["type"] == "text" {
                text.push_str(v["content"].as_str().unwrap());
            }
        }
    }
    text.replace('\u{0}', "")
        .replace("</think>\n\n", "</think>")
}

#[tokio::test]
async fn search_mixes_a_search_payload_into_the_thinking() {
    let server = start(Site::Mimo, fast(1)).await;
    let account = mimo_sign_in(&server).await;
    let raw = mimo_completion(&server, &account, mimo_body("q", true))
        .await
        .text()
        .await
        .unwrap();
    let search = "event: message\ndata: {\"type\":\"search\",\"content\":";
    let at = raw.find(search).expect("a search payload");
    assert!(raw[..at].contains("nk>Thinking"), "inside the thinking");
    assert!(raw[at..].contains("https://search.example/r"));
    assert!(mimo_answer(&raw).ends_with("search=on]: q"), "{raw}");
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert!(entry.search);
}

#[tokio::test]
async fn requests_are_refused_as_strictly_as_the_site() {
    let server = start(Site::Mimo, fast(1)).await;
    let account = mimo_sign_in(&server).await;
    let signed_out = MimoAccount {
        cookie: String::new(),
        ph: account.ph.clone(),
    };
    let wrong_token = MimoAccount {
        cookie: account.cookie.clone(),
        ph: "0".repeat(32),
    };
    for who in [&signed_out, &wrong_token] {
        let resp = mimo_completion(&server, who, mimo_body("x", false)).await;
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["msg"], "Please log in first");
    }
    let mut no_conversation = mimo_body("x", false);
    no_conversation["conversationId"] = Value::Null;
    let mut bad_conversation = mimo_body("x", false);
    bad_conversation["conversationId"] = json!("not-hex");
    let mut no_query = mimo_body("x", false);
    no_query["query"] = json!(" ");
    let mut no_msg = mimo_body("x", false);
    no_msg["msgId"] = Value::Null;
    for (body, why) in [
        (no_conversation, "conversationId is required"),
        (bad_conversation, "conversationId is malformed"),
        (no_query, "query is required"),
        (no_msg, "msgId is required"),
    ] {
        let resp = mimo_completion(&server, &account, body).await;
        assert_eq!(resp.status(), 400, "{why}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["msg"], why);
    }
    // A message id is sent once.
    let body = mimo_body("once", false);
    let first = mimo_completion(&server, &account, body.clone()).await;
    assert_eq!(first.status(), 200);
    let again = mimo_completion(&server, &account, body).await;
    assert_eq!(again.status(), 400);
    let log = server.requests();
    assert_eq!(log.len(), 8);
    assert!(
        matches!(&log[7].outcome, Outcome::Fault(f) if f == "rejected: msgId was already sent")
    );
}

#[tokio::test]
async fn rate_limit_blocked_and_empty_faults_have_the_sites_shapes() {
    let server = start(Site::Mimo, fast(2)).await;
    let account = mimo_sign_in(&server).await;

    let resp = mimo_completion(
        &server,
        &account,
        mimo_body("replica:fault=rate_limit", false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["msg"], "Too many requests, please try again later");

    let raw = mimo_completion(&server, &account, mimo_body("replica:fault=blocked", false))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        raw,
        "event: message\ndata: {\"type\":\"text\",\"content\":\"\\u0000\"}\n\n\
         event: sensitive_query\ndata: {\"content\":\"sensitive query\"}\n\n"
    );

    let resp = mimo_completion(&server, &account, mimo_body("replica:fault=empty", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");

    let log = server.requests();
    let faults: Vec<_> = log.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        faults,
        ["rate_limit", "blocked", "empty"].map(|f| Outcome::Fault(f.into()))
    );
}

#[tokio::test]
async fn stop_ends_the_conversations_stream() {
    let server = start(Site::Mimo, fast(2)).await;
    let account = mimo_sign_in(&server).await;
    let body = mimo_body("replica:fault=stall", false);
    let conversation = body["conversationId"].clone();
    let mut resp = mimo_completion(&server, &account, body).await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [MiMo").await;
    assert_silent(&mut resp).await;

    let unknown = post_json(
        &server,
        "/open-apis/bot/chat/stop",
        json!({"conversationId": "f".repeat(32)}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    let stop = post_json(
        &server,
        "/open-apis/bot/chat/stop",
        json!({"conversationId": conversation}),
    )
    .await;
    assert_eq!(stop.status(), 200);
    let entry = wait_entry(&server, 1, |r| r.stop_called).await;
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
    // The body ends.
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!seen.contains("event: finish"));
}

#[tokio::test]
async fn a_signed_out_account_sees_log_in_and_is_refused() {
    let server = start(Site::Mimo, fast(1)).await;
    let account = mimo_sign_in(&server).await;
    server.set_signed_in(false);
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().all(|c| !c.starts_with("userId=")),
        "{cookies:?}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<button type="button" data-track-id="login_btn">Log in</button>"#));
    // The cookies of the old session no longer work.
    let resp = mimo_completion(&server, &account, mimo_body("x", false)).await;
    assert_eq!(resp.status(), 401);
    server.set_signed_in(true);
    let resp = mimo_completion(&server, &account, mimo_body("x", false)).await;
    assert_eq!(resp.status(), 200);
}

/// With an account registered, a signed-out visitor is sent to the Xiaomi Account login with
/// the service's callback; a wrong pair answers code 70016, a right one the callback with a
/// ticket, which sets `userId` and the pass token. The completion then names the account, is
/// refused without `userId`, and a rate-limited account gets HTTP 429.
#[tokio::test]
async fn with_an_account_the_xiaomi_login_and_its_callback_make_the_session() {
    let server = start(Site::Mimo, fast(1)).await;
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
    let to = page.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("/fe/service/login/password?") && to.contains("callback=http%3A%2F%2F"),
        "{to}"
    );
    let login = get_text(&server, &to).await;
    assert!(login.contains(r#"name="account""#) && login.contains(r#"name="password""#));

    let post = |password: &'static str| {
        plain
            .post(format!("{}/pass/serviceLoginAuth2", server.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "user=ant%40example.com&password={password}&callback=http%3A%2F%2F127.0.0.1%2Fsts"
            ))
            .send()
    };
    let answer = |text: String| -> Value {
        serde_json::from_str(text.strip_prefix("&&&START&&&").expect("Xiaomi's prefix")).unwrap()
    };
    let wrong = answer(post("nope").await.unwrap().text().await.unwrap());
    assert_eq!(wrong["code"], 70016, "{wrong}");
    let right = answer(post("pw-ant").await.unwrap().text().await.unwrap());
    assert_eq!(right["code"], 0, "{right}");
    let location = right["location"].as_str().unwrap();
    let ticket = location
        .strip_prefix("http://127.0.0.1/sts?ticket=")
        .unwrap();
    let sts = plain
        .get(format!("{}/sts?ticket={ticket}", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(sts.status().is_redirection());
    let pairs: Vec<String> = sts
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let account = MimoAccount {
        cookie: pairs.join("; "),
        ph: ticket.to_owned(),
    };
    assert!(account.cookie.contains("userId="), "{pairs:?}");

    let resp = mimo_completion(&server, &account, mimo_body("signed in", false)).await;
    assert_eq!(resp.status(), 200);
    let log = server.requests();
    assert_eq!(
        log.last().unwrap().account.as_deref(),
        Some("ant@example.com")
    );
    let no_user = MimoAccount {
        cookie: format!("xiaomichatbot_ph=\"{ticket}\""),
        ph: ticket.to_owned(),
    };
    let resp = mimo_completion(&server, &no_user, mimo_body("no user id", false)).await;
    assert_eq!(resp.status(), 401);
    server.rate_limit_account("ant@example.com", true);
    let resp = mimo_completion(&server, &account, mimo_body("limited", false)).await;
    assert_eq!(resp.status(), 429);
}
