//! The Perplexity replica over plain HTTP: page hooks, exact wire, session and tier, strictness,
//! faults, stop.

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Outcome, Site};

#[tokio::test]
async fn page_serves_the_driver_hooks_and_the_session_says_who_is_in() {
    let server = start(Site::Perplexity, fast(1)).await;
    let html = get_text(&server, "/").await;
    for hook in [
        r#"<html lang="en">"#,
        r#"<div id="ask-input" contenteditable="true" role="textbox""#,
        r#"<button type="button" aria-label="Submit" disabled>"#,
        r#"aria-haspopup="menu" aria-pressed="true" data-pressed="true">Search</button>"#,
        r#"aria-label="Add files or tools""#,
        r#"aria-label="New Thread">New Thread</button>"#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "setAttribute('aria-label', 'Model')",
        "item('menuitemradio'",
        "item('menuitemcheckbox', 'Thinking'",
        "wrap.className = 'rounded-lg'",
        "'Connectors and sources'",
        "setAttribute('aria-label', 'Stop')",
        "'/rest/sse/perplexity_ask'",
        "'/rest/thread/stop'",
        "'/api/auth/session'",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
    let cookie = perplexity_sign_in(&server).await;
    let session = |cookie: String| {
        let url = format!("{}/api/auth/session", server.base_url());
        async move {
            let resp = client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            resp.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        session(cookie.clone()).await["user"]["subscription_tier"],
        "pro"
    );
    server.set_account_tier("free");
    assert_eq!(
        session(cookie.clone()).await["user"]["subscription_tier"],
        "free"
    );
    assert_eq!(
        session(String::new()).await,
        json!({}),
        "no cookie, no user"
    );
    server.set_signed_in(false);
    assert_eq!(session(cookie.clone()).await, json!({}));
    let resp = perplexity_ask(&server, &cookie, perplexity_body("hi", "best", false)).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn the_stream_is_exactly_the_block_and_patch_format() {
    let server = start(Site::Perplexity, fast(3)).await;
    let cookie = perplexity_sign_in(&server).await;
    let resp = perplexity_ask(&server, &cookie, perplexity_body("Hi", "gpt54", false)).await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    let events: Vec<&str> = raw.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 6, "{raw}");
    assert!(events[0].starts_with("event: message\ndata: {\"backend_uuid\":"));
    assert!(
        events[0].contains("\"intended_usage\":\"plan\""),
        "{}",
        events[0]
    );
    let echo = "Echo [Perplexity, model=gpt54, thinking=off, search=off]: Hi";
    assert_eq!(
        events[1],
        format!(
            "event: message\ndata: {{\"blocks\":[{{\"diff_block\":{{\"field\":\"markdown_block\",\"patches\":[{{\"op\":\"replace\",\"path\":\"\",\"value\":{{\"answer\":\"\",\"chunks\":[\"{echo}\"]}}}}]}},\"intended_usage\":\"ask_text\"}}]}}"
        )
    );
    assert_eq!(
        events[2],
        "event: message\ndata: {\"blocks\":[{\"diff_block\":{\"field\":\"markdown_block\",\"patches\":[{\"op\":\"add\",\"path\":\"/chunks/-\",\"value\":\" w1\"}]},\"intended_usage\":\"ask_text\"}]}"
    );
    let last: Value =
        serde_json::from_str(events[4].strip_prefix("event: message\ndata: ").unwrap()).unwrap();
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["final_sse_message"], true);
    assert_eq!(
        last["blocks"][0]["markdown_block"]["answer"],
        format!("{echo} w1 w2")
    );
    assert_eq!(events[5], "event: end_of_stream\ndata: {}");

    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert_eq!(entry.path, "/rest/sse/perplexity_ask");
    assert_eq!(
        (entry.prompt.as_str(), entry.model.as_str()),
        ("Hi", "gpt54")
    );
    assert!(!entry.thinking && !entry.search);
    assert_eq!(entry.chunks_sent, 3);
    let expected = Expected::for_request(Site::Perplexity, &entry, fast(3));
    assert_eq!(
        expected.reasoning, None,
        "Perplexity's thinking never reaches a client"
    );
    assert_eq!(expected.answer, format!("{echo} w1 w2"));
}

#[tokio::test]
async fn thinking_and_search_ride_in_blocks_that_are_not_the_answer() {
    let server = start(Site::Perplexity, fast(2)).await;
    let cookie = perplexity_sign_in(&server).await;
    let raw = perplexity_ask(
        &server,
        &cookie,
        perplexity_body("q", "best_thinking", true),
    )
    .await
    .text()
    .await
    .unwrap();
    let plan = raw.find("pro_search_steps").expect("the plan block");
    let results = raw.find("\"web_results\"").expect("web results");
    let sources = raw.find("sources_answer_mode").expect("a sources block");
    let answer = raw.find("ask_text").unwrap();
    assert!(
        plan < results && results < answer && answer < sources,
        "{raw}"
    );
    assert!(
        raw.contains("Thinking about \\\"q\\\" (search on)."),
        "{raw}"
    );
    let entry = wait_entry(&server, 1, |r| r.outcome == Outcome::Completed).await;
    assert!(entry.thinking && entry.search);
    assert_eq!(entry.model, "best");
}

#[tokio::test]
async fn asks_are_refused_as_strictly_as_the_site() {
    let server = start(Site::Perplexity, fast(1)).await;
    let cookie = perplexity_sign_in(&server).await;
    let status = |body: Value, cookie: String| {
        let server = &server;
        async move {
            perplexity_ask(server, &cookie, body)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(perplexity_body("x", "best", false), String::new()).await,
        401
    );
    let once = perplexity_body("x", "best", false);
    assert_eq!(status(once.clone(), cookie.clone()).await, 200);
    assert_eq!(
        status(once, cookie.clone()).await,
        400,
        "a frontend_uuid is sent once"
    );
    let mut bad = perplexity_body("x", "best", false);
    bad["params"]["mode"] = json!("chat");
    assert_eq!(status(bad, cookie.clone()).await, 400);
    assert_eq!(
        status(perplexity_body(" ", "best", false), cookie.clone()).await,
        400
    );
    assert_eq!(
        status(perplexity_body("x", "gpt55", false), cookie.clone()).await,
        403,
        "Max only"
    );
    server.set_account_tier("free");
    assert_eq!(
        status(perplexity_body("x", "gpt54", false), cookie.clone()).await,
        403
    );
    assert_eq!(
        status(perplexity_body("x", "best_thinking", false), cookie.clone()).await,
        403
    );
    assert_eq!(
        status(perplexity_body("x", "best", false), cookie.clone()).await,
        200
    );
    server.set_account_tier("max");
    assert_eq!(
        status(perplexity_body("x", "gpt55", false), cookie).await,
        200
    );
}

#[tokio::test]
async fn faults_and_stop() {
    let server = start(Site::Perplexity, fast(1)).await;
    let cookie = perplexity_sign_in(&server).await;
    let resp = perplexity_ask(
        &server,
        &cookie,
        perplexity_body("x replica:fault=rate_limit", "best", false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests")
    );
    let resp = perplexity_ask(
        &server,
        &cookie,
        perplexity_body("x replica:fault=empty", "best", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");

    let body = perplexity_body("x replica:fault=stall", "best", false);
    let id = body["params"]["frontend_uuid"].as_str().unwrap().to_owned();
    let resp = perplexity_ask(&server, &cookie, body).await;
    assert_eq!(resp.status(), 200);
    let stop = |id: String| {
        let url = format!("{}/rest/thread/stop", server.base_url());
        async move {
            client()
                .post(url)
                .json(&json!({"frontend_uuid": id}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(stop(id).await, 200);
    let entry = wait_entry(&server, 3, |r| r.stop_called).await;
    assert_eq!(entry.outcome, Outcome::Fault("stall".into()));
    drop(resp);
    assert_eq!(stop(fresh_uuid()).await, 404);
}

#[tokio::test]
async fn spaces_hold_instructions_up_to_8000_characters_and_asks_in_them_carry_them() {
    let server = start(Site::Perplexity, fast(1)).await;
    let cookie = perplexity_sign_in(&server).await;
    let post = |path: String, body: Value| {
        let url = format!("{}{path}", server.base_url());
        let cookie = cookie.clone();
        async move {
            let resp = client()
                .post(url)
                .header("cookie", cookie)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, space) = post("/rest/spaces".into(), json!({"title": "switchyard"})).await;
    assert_eq!(status, 200, "{space}");
    let uuid = space["uuid"].as_str().unwrap().to_owned();
    assert!(space["slug"].as_str().unwrap().starts_with("switchyard-"));
    let path = format!("/rest/spaces/{uuid}/instructions");
    let (status, _) = post(path.clone(), json!({"instructions": "x".repeat(8001)})).await;
    assert_eq!(status, 400, "the site's limit");
    let (status, _) = post(path.clone(), json!({"instructions": "Be terse. ü"})).await;
    assert_eq!(status, 200);
    let (status, _) = post(
        format!("/rest/spaces/{}/instructions", fresh_uuid()),
        json!({"instructions": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post("/rest/spaces".into(), json!({"title": " "})).await;
    assert_eq!(status, 400);

    let mut body = perplexity_body("in the space", "best", false);
    body["params"]["target_collection_uuid"] = json!(uuid);
    assert_eq!(perplexity_ask(&server, &cookie, body).await.status(), 200);
    let mut body = perplexity_body("nowhere", "best", false);
    body["params"]["target_collection_uuid"] = json!(fresh_uuid());
    assert_eq!(perplexity_ask(&server, &cookie, body).await.status(), 400);
    assert_eq!(
        perplexity_ask(&server, &cookie, perplexity_body("home", "best", false))
            .await
            .status(),
        200
    );
    let log = server.requests();
    assert_eq!(log[0].system.as_deref(), Some("Be terse. ü"));
    assert_eq!(
        log[2].system, None,
        "an ask outside a Space has no instructions"
    );
    let listed: Value = client()
        .get(format!("{}/rest/spaces", server.base_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["spaces"][0]["instructions"], "Be terse. ü");
}

/// With accounts registered the site is signed out until the emailed-code sign-in: a code per
/// attempt (in the mailbox, also over HTTP), a wrong or unknown one refused, the right one a
/// `__Secure-` session cookie that the session API and the ask name the account by.
#[tokio::test]
async fn accounts_sign_in_by_an_emailed_code() {
    let server = start(Site::Perplexity, fast(1)).await;
    server.add_account("Pat@Example.com", "");
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(
        !page
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().contains("next-auth")),
        "no anonymous session once accounts exist"
    );
    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "'Enter your email'",
        "'Continue with email'",
        "'Check your email'",
        "`Digit ${i} of 6`",
        "'Continue'",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
    let ask = |cookie: Option<String>| {
        let server = &server;
        async move {
            let mut req = client()
                .post(format!("{}/rest/sse/perplexity_ask", server.base_url()))
                .json(&perplexity_body("hi there", "best", false));
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.send().await.unwrap()
        }
    };
    assert_eq!(ask(None).await.status(), 401);

    let unknown = post_json(&server, "/api/auth/signin/email", json!({"email": "x@y.z"})).await;
    assert_eq!(unknown.status(), 400);
    assert!(server.sign_in_code("x@y.z").is_none());
    let sent = post_json(
        &server,
        "/api/auth/signin/email",
        json!({"email": "pat@example.com"}),
    )
    .await;
    assert_eq!(sent.status(), 200);
    let first = server.sign_in_code("pat@example.com").unwrap();
    assert!(first.len() == 6 && first.bytes().all(|b| b.is_ascii_digit()));
    let over_http: Value = client()
        .get(format!(
            "{}/__replica/mailbox/pat@example.com",
            server.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["code"], first.as_str());
    // A second attempt gets a new code; the first no longer works.
    post_json(
        &server,
        "/api/auth/signin/email",
        json!({"email": "pat@example.com"}),
    )
    .await;
    let second = server.sign_in_code("pat@example.com").unwrap();
    assert_ne!(first, second);
    let callback = |code: &str| {
        post_json(
            &server,
            "/api/auth/callback/email",
            json!({"email": "pat@example.com", "code": code}),
        )
    };
    let refused = callback(&first).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "Invalid code"
    );
    assert_eq!(server.sign_ins("pat@example.com"), 0);
    let ok = callback(&second).await;
    assert_eq!(ok.status(), 200);
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("__Secure-next-auth.session-token="),
        "{set}"
    );
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(server.sign_ins("pat@example.com"), 1);
    assert!(server.sign_in_code("pat@example.com").is_none(), "used up");
    assert_eq!(callback(&second).await.status(), 400, "a code works once");

    let session: Value = client()
        .get(format!("{}/api/auth/session", server.base_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["email"], "pat@example.com");
    let resp = ask(Some(cookie.clone())).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let log = server
        .wait_for(
            |log| {
                log.iter()
                    .any(|r| r.prompt == "hi there" && r.ended_us.is_some())
            },
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    let accounts: Vec<Option<&str>> = log.iter().map(|r| r.account.as_deref()).collect();
    assert_eq!(
        accounts,
        [None, Some("pat@example.com")],
        "the refused ask had none"
    );

    server.end_account_sessions();
    assert_eq!(ask(Some(cookie)).await.status(), 401);
}
