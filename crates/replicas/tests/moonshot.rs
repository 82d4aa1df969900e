//! The Kimi replica over plain HTTP: page hooks, exact wire (Connect envelopes), strict
//! sign-in, framing and header checks, the memory settings, faults, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Knobs, Outcome, Site};

/// Headers of one request.
type Headers = Vec<(&'static str, &'static str)>;

const CHAT: &str = "/apiv2/kimi.gateway.chat.v1.ChatService/Chat";

#[tokio::test]
async fn page_serves_the_driver_hooks_and_signs_in_and_out() {
    let server = start(Site::Moonshot, Knobs::default()).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<a class="new-chat-btn" href="/?chat_enter_method=new_chat">New Chat</a>"#,
        r#"<div class="user-info"><span class="user-name">Replica User</span></div>"#,
        r#"<div class="current-model" id="v-0-1-menu-trigger"><span class="name">K3</span></div>"#,
        r#"<div class="chat-input-editor" contenteditable="plaintext-only""#,
        r#"<div class="tool-switch open showClose" role="button">Internet off</div>"#,
        r#"<div class="send-button-container disabled" role="button" aria-label="Send">"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    assert!(!html.contains(r#"<div class="login-modal-content">"#));
    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "option.dataset.testid = 'model-option'",
        "effortItem.dataset.testid = 'model-effort-item'",
        "radio.setAttribute('role', 'menuitemradio')",
        "dialog.className = 'content common-notice-dialog'",
        "ok.className = 'kimi-button plain'",
        "'toolkit-container'",
        "choice.className = 'connect-item'",
        "'/apiv2/kimi.gateway.chat.v1.ChatService/Chat'",
        "'/apiv2/kimi.chat.v1.ChatService/StopChat'",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
    let token = kimi_sign_in(&server).await;
    assert_eq!(token.len(), 40);

    server.set_signed_in(false);
    let html = get_text(&server, "/").await;
    assert!(html.contains(r#"<span class="user-name">Log In</span>"#));
    assert!(html.contains(r#"<div class="login-modal-content">"#));
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "hi", "k3", "standard", false),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
}

#[tokio::test]
async fn the_stream_is_connect_envelopes_with_thinking_search_and_the_trailer() {
    let server = start(Site::Moonshot, fast(3)).await;
    let token = kimi_sign_in(&server).await;
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "Find it", "k3-swarm", "max", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/connect+json");
    let body = resp.bytes().await.unwrap();
    let frames = kimi_frames(&body);
    let (flags, last) = frames.last().unwrap();
    assert_eq!(
        (*flags, last),
        (2, &json!({})),
        "the trailer ends the stream"
    );
    assert!(frames[..frames.len() - 1].iter().all(|(f, _)| *f == 0));
    let chat = frames[0].1["chat"]["id"].as_str().unwrap().to_owned();
    let join = |part: &str| -> String {
        frames
            .iter()
            .filter_map(|(_, v)| v["block"][part]["content"].as_str())
            .collect()
    };
    let log = server.requests();
    assert_eq!(log.len(), 1);
    let seen = &log[0];
    assert_eq!(
        (
            seen.model.as_str(),
            seen.effort.as_deref(),
            seen.thinking,
            seen.search
        ),
        ("k3-swarm", Some("max"), true, true)
    );
    let expected = Expected::for_request(Site::Moonshot, seen, fast(3));
    assert_eq!(join("think"), expected.reasoning.unwrap());
    assert_eq!(join("text"), expected.answer);
    assert!(
        expected
            .answer
            .starts_with("Echo [Kimi, model=k3-swarm, thinking=on, search=on]: Find it")
    );
    assert!(frames.iter().any(|(_, v)| v["mask"] == "block.search"));
    assert!(frames.iter().any(|(_, v)| v.get("heartbeat").is_some()));
    assert!(frames.iter().any(|(_, v)| v.get("done").is_some()));
    assert!(
        frames
            .iter()
            .any(|(_, v)| v["message"]["status"] == "MESSAGE_STATUS_COMPLETED")
    );

    // Standard is thinking off: no think block. The chat continues with its id.
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body(&chat, "again", "instant", "standard", false),
    )
    .await;
    let frames = kimi_frames(&resp.bytes().await.unwrap());
    assert!(
        frames
            .iter()
            .all(|(_, v)| v["block"].get("think").is_none())
    );
    assert!(!server.requests()[1].thinking);
}

#[tokio::test]
async fn strict_about_framing_headers_models_and_chats() {
    let server = start(Site::Moonshot, fast(2)).await;
    let token = kimi_sign_in(&server).await;
    let post = |body: Vec<u8>, headers: Headers| {
        let server_url = server.base_url();
        let token = token.clone();
        async move {
            let mut req = client()
                .post(format!("{server_url}{CHAT}"))
                .header("authorization", format!("Bearer {token}"));
            for (name, value) in headers {
                req = req.header(name, value);
            }
            req.body(body).send().await.unwrap()
        }
    };
    let ok_headers = vec![
        ("content-type", "application/connect+json"),
        ("x-msh-device-id", "d"),
        ("x-traffic-id", "d"),
    ];
    let good = kimi_body("", "hi", "k3", "high", false);
    // Plain JSON instead of an envelope; a cut envelope; a missing header; a doubled header.
    let plain = good[5..].to_vec();
    let cases: Vec<(Vec<u8>, Headers)> = vec![
        (plain, ok_headers.clone()),
        (good[..good.len() - 1].to_vec(), ok_headers.clone()),
        (good.clone(), ok_headers[..2].to_vec()),
        (
            good.clone(),
            [ok_headers.clone(), vec![("x-traffic-id", "e")]].concat(),
        ),
        (
            good.clone(),
            vec![
                ("content-type", "application/json"),
                ("x-msh-device-id", "d"),
                ("x-traffic-id", "d"),
            ],
        ),
        (
            kimi_body("", "hi", "instant", "max", false),
            ok_headers.clone(),
        ),
        (kimi_body("", "hi", "k9", "high", false), ok_headers.clone()),
        (
            kimi_body("nope", "hi", "k3", "high", false),
            ok_headers.clone(),
        ),
    ];
    for (i, (body, headers)) in cases.into_iter().enumerate() {
        let resp = post(body, headers).await;
        assert_eq!(resp.status(), 400, "case {i}");
    }
    let resp = post(good, ok_headers).await;
    assert_eq!(resp.status(), 200);
    let log = server.requests();
    assert_eq!(log.len(), 9);
    assert!(
        log[..8]
            .iter()
            .all(|r| matches!(&r.outcome, Outcome::Fault(f) if f.starts_with("rejected")))
    );
}

#[tokio::test]
async fn memory_starts_on_and_an_update_turns_it_off() {
    let server = start(Site::Moonshot, Knobs::default()).await;
    let token = kimi_sign_in(&server).await;
    let call = |method: &'static str, body: Value, token: Option<String>| {
        let url = format!(
            "{}/apiv2/kimi.usersetting.v1.UserSettingService/{method}",
            server.base_url()
        );
        async move {
            let mut req = client().post(url).json(&body);
            if let Some(token) = token {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            req.send().await.unwrap()
        }
    };
    assert_eq!(call("GetUserSetting", json!({}), None).await.status(), 401);
    let read: Value = call("GetUserSetting", json!({}), Some(token.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["userSetting"]["memory"]["useSemanticMemory"], true);
    assert_eq!(read["userSetting"]["memory"]["useEpisodicMemory"], true);
    let update = json!({"user_setting": {"memory": {}}, "update_mask": "memory.useSemanticMemory"});
    let after: Value = call("UpdateUserSetting", update, Some(token.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["userSetting"]["memory"]["useSemanticMemory"], false);
    assert_eq!(
        after["userSetting"]["memory"]["useEpisodicMemory"], true,
        "only the masked path"
    );
    let bad = json!({"user_setting": {}, "update_mask": "memory.other"});
    assert_eq!(
        call("UpdateUserSetting", bad, Some(token)).await.status(),
        400
    );
}

#[tokio::test]
async fn faults_and_stop() {
    let server = start(Site::Moonshot, fast(200)).await;
    let token = kimi_sign_in(&server).await;
    let text_of = |frames: &[(u8, Value)]| -> String {
        frames
            .iter()
            .filter_map(|(_, v)| v["block"]["text"]["content"].as_str())
            .collect()
    };
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "x replica:fault=rate_limit", "k3", "standard", false),
    )
    .await;
    let frames = kimi_frames(&resp.bytes().await.unwrap());
    assert!(text_of(&frames).starts_with("Too many people are chatting with Kimi right now"));
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "x replica:fault=blocked", "k3", "standard", false),
    )
    .await;
    let frames = kimi_frames(&resp.bytes().await.unwrap());
    assert!(
        frames
            .iter()
            .any(|(_, v)| v["notification"]["type"] == "TYPE_CONTENT_FILTER")
    );
    let resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "x replica:fault=empty", "k3", "standard", false),
    )
    .await;
    assert!(resp.bytes().await.unwrap().is_empty());

    // Stop: a stalled stream ends once its chat is stopped.
    let mut resp = kimi_completion(
        &server,
        &token,
        &kimi_body("", "replica:fault=stall", "k3", "standard", false),
    )
    .await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [Kimi").await;
    let chat = server.requests().last().unwrap().seq;
    let log = server.requests();
    let entry = log.iter().find(|r| r.seq == chat).unwrap();
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
    let id = {
        let start = seen.find("\"chat\":{\"id\":\"").unwrap() + 14;
        seen[start..start + 20].to_owned()
    };
    let stop = client()
        .post(format!(
            "{}/apiv2/kimi.chat.v1.ChatService/StopChat",
            server.base_url()
        ))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"chat_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    wait_entry(&server, chat, |r| r.stop_called).await;
    let unknown = client()
        .post(format!(
            "{}/apiv2/kimi.chat.v1.ChatService/StopChat",
            server.base_url()
        ))
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"chat_id": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
