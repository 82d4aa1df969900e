//! Google's sign-in pages of the Kimi and AI Studio replicas over plain HTTP: the redirect of
//! a signed-out AI Studio page, the identifier and password pages with Google's errors, the
//! second-step knob, the session that comes back, Kimi's OAuth code and bearer token, and the
//! completions refused without a session and naming the account with one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::*;
use switchyard_replicas::{Outcome, ReplicaServer, Site};

/// A client that shows redirects instead of following them.
fn manual() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

async fn get(server: &ReplicaServer, path: &str) -> reqwest::Response {
    manual()
        .get(format!("{}{path}", server.base_url()))
        .send()
        .await
        .unwrap()
}

async fn post_form(server: &ReplicaServer, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    manual()
        .post(format!("{}{path}", server.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form.iter()
                .map(|(k, v)| format!("{k}={}", v.replace('@', "%40")))
                .collect::<Vec<_>>()
                .join("&"),
        )
        .send()
        .await
        .unwrap()
}

/// From a sign-in start (a redirect to the identifier page) through identifier and password:
/// the last answer (a redirect on success, else the page with the error).
async fn through_google(
    server: &ReplicaServer,
    start: reqwest::Response,
    email: &str,
    password: &str,
) -> reqwest::Response {
    assert_eq!(start.status(), 303);
    let identifier = location(&start);
    assert!(
        identifier.starts_with("/v3/signin/identifier?TL="),
        "{identifier}"
    );
    let page = get(server, &identifier).await.text().await.unwrap();
    assert!(page.contains(r#"<input type="email" id="identifierId" name="identifier""#));
    let resp = post_form(server, &identifier, &[("identifier", email)]).await;
    if resp.status() != 303 {
        return resp;
    }
    let pwd = location(&resp);
    assert!(pwd.starts_with("/v3/signin/challenge/pwd?TL="), "{pwd}");
    let page = get(server, &pwd).await.text().await.unwrap();
    assert!(page.contains(r#"<input type="password" name="Passwd""#));
    post_form(server, &pwd, &[("Passwd", password)]).await
}

#[tokio::test]
async fn aistudio_redirects_to_google_and_comes_back_with_the_account_session() {
    let server = start(Site::AiStudio, fast(1)).await;
    server.add_account("ada@example.com", "pw-ada");
    let here = get(&server, "/prompts/new_chat?incognito=true").await;
    assert_eq!(here.status(), 303);
    assert_eq!(
        location(&here),
        "/ServiceLogin?continue=%2Fprompts%2Fnew_chat%3Fincognito%3Dtrue"
    );

    // Google's refusals, each on its page.
    let unknown = through_google(
        &server,
        get(&server, &location(&here)).await,
        "bob@example.com",
        "x",
    )
    .await;
    assert_eq!(unknown.status(), 200);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Couldn't find your Google Account")
    );
    let wrong = through_google(
        &server,
        get(&server, &location(&here)).await,
        "ada@example.com",
        "nope",
    )
    .await;
    assert_eq!(wrong.status(), 200);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong password. Try again")
    );

    // The second step: a page with no field that does not go on.
    server.require_second_step("ada@example.com", true);
    let phone = through_google(
        &server,
        get(&server, &location(&here)).await,
        "ada@example.com",
        "pw-ada",
    )
    .await;
    let dp = location(&phone);
    assert!(dp.starts_with("/v3/signin/challenge/dp?TL="), "{dp}");
    let page = get(&server, &dp).await.text().await.unwrap();
    assert!(page.contains("2-Step Verification") && page.contains("Check your phone"));
    assert!(!page.contains("<input"));
    server.require_second_step("ada@example.com", false);
    assert_eq!(server.sign_ins("ada@example.com"), 0);

    // The right password: back to the page, with the session.
    let done = through_google(
        &server,
        get(&server, &location(&here)).await,
        "Ada@Example.com",
        "pw-ada",
    )
    .await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/prompts/new_chat?incognito=true");
    let cookie = set_cookie(&done, "replica_account").expect("the session cookie");
    assert_eq!(server.sign_ins("ada@example.com"), 1);

    let refused = aistudio_generate(&server, "", &aistudio_body("hi", "low", false)).await;
    assert_eq!(refused.status(), 401);
    let served =
        aistudio_generate(&server, &cookie, &aistudio_body("hi there", "low", false)).await;
    assert_eq!(served.status(), 200);
    served.text().await.unwrap();
    let log = server.requests();
    assert_eq!(
        log[0].outcome,
        Outcome::Fault("rejected: signed out".into())
    );
    assert_eq!(log[1].account.as_deref(), Some("ada@example.com"));
    server.shutdown().await;
}

#[tokio::test]
async fn kimi_signs_in_with_a_google_code_and_its_token() {
    let server = start(Site::Moonshot, fast(1)).await;
    server.add_account("ada@example.com", "pw-ada");
    let page = get(&server, "/").await;
    assert!(set_cookie(&page, "kimi-auth").is_none());
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<span class="user-name">Log In</span>"#));
    assert!(html.contains(r#"class="login-modal" style="display: none""#));
    assert!(html.contains("google-login-btn"));

    // A redirect_uri off the site is refused.
    let evil = get(
        &server,
        "/o/oauth2/v2/auth?client_id=kimi-web&redirect_uri=https%3A%2F%2Fevil.example%2F&state=s",
    )
    .await;
    assert_eq!(evil.status(), 400);

    let start = get(&server, "/o/oauth2/v2/auth?client_id=kimi-web&redirect_uri=%2Fapi%2Fauth%2Fgoogle%2Fcallback&state=s1").await;
    let consent = through_google(&server, start, "ada@example.com", "pw-ada").await;
    let consent_path = location(&consent);
    assert!(
        consent_path.starts_with("/signin/oauth/id?TL="),
        "{consent_path}"
    );
    let page = get(&server, &consent_path).await.text().await.unwrap();
    assert!(page.contains("Sign in to Kimi") && page.contains(">Continue</button>"));
    let back = post_form(&server, &consent_path, &[]).await;
    let callback = location(&back);
    assert!(
        callback.starts_with("/api/auth/google/callback?code="),
        "{callback}"
    );
    assert!(callback.ends_with("&state=s1"), "{callback}");
    assert_eq!(
        server.sign_ins("ada@example.com"),
        0,
        "the session comes with the code"
    );

    let signed = get(&server, &callback).await;
    assert_eq!(signed.status(), 200);
    let token = set_cookie(&signed, "kimi-auth").unwrap();
    let token = token.strip_prefix("kimi-auth=").unwrap().to_owned();
    assert!(
        signed
            .text()
            .await
            .unwrap()
            .contains("window.opener.postMessage")
    );
    assert_eq!(server.sign_ins("ada@example.com"), 1);
    // A code is good once.
    assert_eq!(get(&server, &callback).await.status(), 400);

    let body = kimi_body("", "hi there", "k3", "standard", false);
    assert_eq!(
        kimi_completion(&server, "not-a-session", &body)
            .await
            .status(),
        401
    );
    let served = kimi_completion(&server, &token, &body).await;
    assert_eq!(served.status(), 200);
    served.bytes().await.unwrap();
    let log = server.requests();
    assert_eq!(
        log.last().unwrap().account.as_deref(),
        Some("ada@example.com")
    );
    server.shutdown().await;
}
