//! The HuggingChat replica's accounts over plain HTTP: the Hugging Face login form and the
//! `hf-chat` session (its wire, faults and stop are covered through the lanes).

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::Site;

/// With an account registered, a page load sets no session; `/chat/login` sends the visitor
/// to the login form, where a wrong pair gets the form again with the site's error and a right
/// one (username or email) the `hf-chat` cookie. The message then names the account, is
/// refused without the cookie, and a rate-limited account gets the site's rate-limit status.
#[tokio::test]
async fn with_an_account_the_login_form_makes_the_session() {
    let server = start(Site::HuggingChat, fast(1)).await;
    server.add_account("ant-hf", "pw-ant");
    let origin = format!("http://{}", server.addr());
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = plain.get(format!("{origin}/chat/")).send().await.unwrap();
    assert!(
        page.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("hf-chat=")),
        "no session on a page load"
    );
    let settings: Value = reqwest::get(format!("{origin}/chat/api/settings"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["signedIn"], false);
    let entry = plain
        .get(format!("{origin}/chat/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(entry.headers()["location"], "/login?next=%2Fchat%2F");
    let form = plain
        .get(format!("{origin}/login?next=%2Fchat%2F"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains(r#"name="username""#) && form.contains(">Login</button>"));

    let post = |password: &'static str| {
        plain
            .post(format!("{origin}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=ant-hf&password={password}&next=%2Fchat%2F"
            ))
            .send()
    };
    let wrong = post("nope").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password.")
    );
    let right = post("pw-ant").await.unwrap();
    assert!(right.status().is_redirection());
    assert_eq!(right.headers()["location"], "/chat/");
    let cookie = right.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("hf-chat="), "{cookie}");

    let settings: Value = client()
        .get(format!("{origin}/chat/api/settings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["signedIn"], true);
    assert_eq!(settings["user"]["username"], "ant-hf");
    let send = |cookie: Option<&str>, prompt: &str| {
        let mut create = client().post(format!("{origin}/chat/conversation"));
        let mut message_cookie = None;
        if let Some(cookie) = cookie {
            create = create.header("cookie", cookie);
            message_cookie = Some(cookie.to_owned());
        }
        let origin = origin.clone();
        let prompt = prompt.to_owned();
        async move {
            let created: Value = create
                .json(&json!({"model": "openai/gpt-oss-120b"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = created["conversationId"].as_str().unwrap().to_owned();
            let mut req = client().post(format!("{origin}/chat/conversation/{id}"));
            if let Some(cookie) = message_cookie {
                req = req.header("cookie", cookie);
            }
            req.json(
                &json!({"inputs": prompt, "id": fresh_uuid(), "is_retry": false,
                      "is_continue": false, "tools": [], "effort": "default"}),
            )
            .send()
            .await
            .unwrap()
        }
    };
    assert_eq!(send(None, "no cookie").await.status(), 401);
    let resp = send(Some(&cookie), "signed in").await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let log = server.requests();
    assert_eq!(log.last().unwrap().account.as_deref(), Some("ant-hf"));
    server.rate_limit_account("ant-hf", true);
    let text = send(Some(&cookie), "limited").await.text().await.unwrap();
    assert!(text.contains("too many messages"), "{text}");
}
