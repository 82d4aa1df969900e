//! The server handle and the admin endpoints, on every site.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_replicas::{Knobs, Outcome, ReceivedRequest, Site};

#[tokio::test]
async fn admin_endpoints_expose_log_knobs_and_reset() {
    for site in Site::ALL {
        let server = start(site, Knobs::default()).await;
        assert!(server.base_url().starts_with("http://127.0.0.1:"));

        let knobs = post_json(
            &server,
            "/__replica/knobs",
            json!({"chunks": 2, "delay_ms": 0}),
        )
        .await;
        assert_eq!(knobs.status(), 200);
        assert_eq!(
            server.knobs(),
            Knobs {
                chunks: 2,
                delay_ms: 0,
                first_delay_ms: 0
            }
        );
        let read: Knobs = client()
            .get(format!("{}/__replica/knobs", server.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read, server.knobs());
        let bad = post_json(&server, "/__replica/knobs", json!({"chunks": "many"})).await;
        assert_eq!(bad.status(), 400);

        one_completion(&server, "hello").await;
        server
            .wait_for(
                |log| log.len() == 1 && log[0].outcome == Outcome::Completed,
                WAIT,
            )
            .await
            .unwrap();
        let listed: Vec<ReceivedRequest> = client()
            .get(format!("{}/__replica/requests", server.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed, server.requests(), "{site}");
        assert_eq!(
            listed[0].chunks_sent, 2,
            "{site}: knobs from the endpoint apply"
        );

        let reset = post_json(&server, "/__replica/reset", json!({})).await;
        assert_eq!(reset.status(), 200);
        assert!(server.requests().is_empty(), "{site}");
    }
}

#[tokio::test]
async fn set_knobs_applies_to_later_requests() {
    let server = start(Site::Glm, fast(2)).await;
    server.set_knobs(fast(5));
    one_completion(&server, "x").await;
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.chunks_sent, 5);
}

#[tokio::test]
async fn wait_for_gives_up_with_the_last_snapshot() {
    let server = start(Site::DeepSeek, fast(2)).await;
    let err = server
        .wait_for(|log| !log.is_empty(), Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(err.is_empty());
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream() {
    for site in Site::ALL {
        let server = start(site, fast(2)).await;
        let mut resp = match site {
            Site::DeepSeek => {
                let session = deepseek_session(&server).await;
                deepseek_completion(
                    &server,
                    deepseek_body(&session, "replica:fault=stall", false, false),
                )
                .await
            }
            Site::Glm => {
                let chat = glm_chat(&server).await;
                glm_completion(
                    &server,
                    glm_body(&chat, "replica:fault=stall", false, false),
                )
                .await
            }
            Site::Qwen => {
                let chat = qwen_chat(&server).await;
                qwen_completion(
                    &server,
                    &chat,
                    qwen_body(&chat, "replica:fault=stall", false, false),
                )
                .await
            }
            Site::Mimo => {
                let account = mimo_sign_in(&server).await;
                mimo_completion(&server, &account, mimo_body("replica:fault=stall", false)).await
            }
            Site::Moonshot => {
                let token = kimi_sign_in(&server).await;
                let body = kimi_body("", "replica:fault=stall", "k3", "standard", false);
                kimi_completion(&server, &token, &body).await
            }
            Site::Perplexity => {
                let cookie = perplexity_sign_in(&server).await;
                let body = perplexity_body("replica:fault=stall", "best", false);
                perplexity_ask(&server, &cookie, body).await
            }
            Site::AiStudio => {
                let cookie = aistudio_sign_in(&server).await;
                let body = aistudio_body("replica:fault=stall", "low", false);
                aistudio_generate(&server, &cookie, &body).await
            }
            Site::HuggingChat => huggingchat_message(&server, "replica:fault=stall").await,
        };
        let mut seen = String::new();
        read_until(&mut resp, &mut seen, "Echo [").await;
        tokio::time::timeout(WAIT, server.shutdown())
            .await
            .expect("shutdown does not wait for the stalled body");
        // The body ends instead of hanging: either cleanly or with a connection error.
        let rest = tokio::time::timeout(WAIT, async {
            while let Ok(Some(_)) = resp.chunk().await {}
        })
        .await;
        assert!(
            rest.is_ok(),
            "{site}: the stalled body ended with the server"
        );
    }
}

#[tokio::test]
async fn page_loads_set_a_session_cookie() {
    for site in Site::ALL {
        let server = start(site, Knobs::default()).await;
        let page = client()
            .get(format!("{}/", server.base_url()))
            .send()
            .await
            .unwrap();
        // A site may set cookies of its own (MiMo's sign-in) beside the session cookie.
        let session = format!(
            "replica_session={}; Path=/; HttpOnly; SameSite=Lax",
            server.session_cookie()
        );
        let cookies: Vec<&str> = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(cookies.contains(&session.as_str()), "{site}: {cookies:?}");
        assert_eq!(server.session_cookie().len(), 32);
        let script = client()
            .get(format!("{}/static/app.js", server.base_url()))
            .send()
            .await
            .unwrap();
        assert!(script.headers().get("set-cookie").is_none(), "{site}");
    }
}
