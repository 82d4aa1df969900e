//! The Google AI Studio replica over plain HTTP: page hooks, exact wire, run settings,
//! strictness, faults, stop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::*;
use serde_json::{Value, json};
use switchyard_replicas::{Expected, Outcome, Site};

/// The parts of a `GenerateContent` body: (thoughts, answer, whole body parsed).
fn parts(raw: &str) -> (String, String, Value) {
    let json = raw
        .strip_prefix(")]}'\n")
        .unwrap_or_else(|| panic!("no XSSI guard: {raw}"));
    let value: Value = serde_json::from_str(json).unwrap();
    let (mut thoughts, mut answer) = (String::new(), String::new());
    for event in value[0].as_array().unwrap() {
        for part in event[0][0][0][0].as_array().into_iter().flatten() {
            let text = part[1].as_str().unwrap();
            if part[12] == 1 {
                thoughts.push_str(text);
            } else {
                answer.push_str(text);
            }
        }
    }
    (thoughts, answer, value)
}

#[tokio::test]
async fn page_serves_the_driver_hooks() {
    let server = start(Site::AiStudio, fast(1)).await;
    let html = get_text(&server, "/prompts/new_chat?incognito=true").await;
    for hook in [
        r#"<html lang="en">"#,
        "<textarea cdktextareaautosize",
        r#"<div data-test-id="run-button-tooltip"><button type="button" name="run-button" mattooltipclass="run-button-tooltip""#,
        r#"<button type="button" class="model-selector-card"><span data-test-id="model-name">Gemini 3.1 Pro</span>"#,
        r#"<mat-select role="combobox" aria-label="Thinking Level""#,
        r#"<div data-test-id="temperatureSliderContainer">"#,
        r#"<div mattooltip="Probability threshold for top-p sampling">"#,
        r#"aria-label="Expand or collapse advanced settings""#,
        r#"aria-label="Maximum output tokens""#,
        r#"aria-label="Grounding with Google Search""#,
        r#"aria-label="Browse the url context""#,
        r#"class="system-instructions-card""#,
    ] {
        assert!(html.contains(hook), "page lacks {hook}");
    }
    let js = get_text(&server, "/static/app.js").await;
    for hook in [
        "'model-carousel-in-selector'",
        "'model-carousel-row-models/'",
        "document.createElement('mat-option')",
        "saving.className = 'saving-status'",
        "'data-test-close-button'",
        "'GenerateContent'",
        "'StopGeneration'",
        "get('incognito') === 'true'",
    ] {
        assert!(js.contains(hook), "app.js lacks {hook}");
    }
}

#[tokio::test]
async fn a_run_streams_thoughts_only_above_the_lowest_level_and_echoes_its_settings() {
    let server = start(Site::AiStudio, fast(3)).await;
    let cookie = aistudio_sign_in(&server).await;
    let mut body = aistudio_body("Hi there", "high", true);
    body[3] = json!([null, null, null, 512, 0.7, 0.9]);
    body[4] = json!([[[null, "Be brief."]], "user"]);
    let resp = aistudio_generate(&server, &cookie, &body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json+protobuf")
    );
    let raw = resp.text().await.unwrap();
    let (thoughts, answer, _) = parts(&raw);
    let log = server.requests();
    let seen = &log[0];
    assert!(seen.thinking && seen.search);
    assert_eq!(seen.effort.as_deref(), Some("high"));
    assert_eq!(seen.system.as_deref(), Some("Be brief."));
    let settings = seen.settings.clone().unwrap();
    assert_eq!(settings.temperature.as_deref(), Some("0.7"));
    assert_eq!(settings.top_p.as_deref(), Some("0.9"));
    assert_eq!(settings.max_tokens, Some(512));
    assert!(settings.temporary && !settings.url_context);
    let expected = Expected::for_request(Site::AiStudio, seen, fast(3));
    assert_eq!(Some(thoughts), expected.reasoning);
    assert_eq!(answer, expected.answer);
    assert!(
        answer.starts_with(
            "Echo [AI Studio, model=gemini-3.1-pro-preview (level=high, temperature=0.7, \
             top_p=0.9, max_tokens=512, system=\"Be brief.\"), thinking=on, search=on]: Hi there w1"
        ),
        "{answer}"
    );
    // The grounding source rides along and is no answer text.
    assert!(raw.contains("https://search.example/aistudio-result"));
    assert!(!answer.contains("search.example"));
    assert!(raw.ends_with("\n]]"));

    // The lowest level (Low on 3.1 Pro) streams no thoughts.
    let resp = aistudio_generate(&server, &cookie, &aistudio_body("Hi", "low", false)).await;
    let (thoughts, answer, _) = parts(&resp.text().await.unwrap());
    assert_eq!(thoughts, "");
    assert!(!server.requests()[1].thinking);
    assert!(answer.contains("level=low"), "{answer}");
}

#[tokio::test]
async fn strict_like_the_site() {
    let server = start(Site::AiStudio, fast(1)).await;
    let cookie = aistudio_sign_in(&server).await;
    let mut minimal = aistudio_body("hi", "minimal", false);
    let resp = aistudio_generate(&server, &cookie, &minimal).await;
    assert_eq!(resp.status(), 400, "3.1 Pro has no Minimal level");
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Minimal")
            || err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("minimal")
    );
    minimal[6] = json!("low");
    minimal[3] = json!([null, null, null, 0, 1, 0.95]);
    assert_eq!(
        aistudio_generate(&server, &cookie, &minimal).await.status(),
        400
    );
    let resp = client()
        .post(format!(
            "{}/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent",
            server.base_url()
        ))
        .header("cookie", &cookie)
        .json(&aistudio_body("hi", "low", false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        400,
        "application/json is not the site's type"
    );
    let resp = aistudio_generate(&server, "", &aistudio_body("hi", "low", false)).await;
    assert_eq!(resp.status(), 401, "no session cookie");
    server.set_signed_in(false);
    let resp = aistudio_generate(&server, &cookie, &aistudio_body("hi", "low", false)).await;
    assert_eq!(resp.status(), 401);
    let html = get_text(&server, "/prompts/new_chat").await;
    assert!(html.contains(r#"<meta name="replica-signed-in" content="no">"#));
    assert!(
        server
            .requests()
            .iter()
            .all(|r| matches!(&r.outcome, Outcome::Fault(f) if f.starts_with("rejected")))
    );
}

#[tokio::test]
async fn faults_rate_limit_blocked_and_empty() {
    let server = start(Site::AiStudio, fast(2)).await;
    let cookie = aistudio_sign_in(&server).await;
    let ask = |prompt: &str| aistudio_body(prompt, "low", false);
    let raw = aistudio_generate(&server, &cookie, &ask("x replica:fault=rate_limit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("check quota"), "{raw}");
    assert_eq!(parts(&raw).1, "");
    let raw = aistudio_generate(&server, &cookie, &ask("x replica:fault=blocked"))
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("Content blocked"), "{raw}");
    let resp = aistudio_generate(&server, &cookie, &ask("x replica:fault=empty")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
    let faults: Vec<Outcome> = server.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        faults,
        ["rate_limit", "blocked", "empty"].map(|f| Outcome::Fault(f.into()))
    );
}

#[tokio::test]
async fn blocks_n_runs_then_answers_and_counts_the_nudges() {
    let server = start(Site::AiStudio, fast(2)).await;
    let cookie = aistudio_sign_in(&server).await;
    let first = "x replica:blocks=2";
    let mut body = aistudio_body(first, "low", false);
    let nudged = |body: &mut Value| {
        let turns = body[1].as_array_mut().unwrap();
        turns.push(json!([[[null, "."]], "model"]));
        turns.push(json!([[[null, "Continue."]], "user"]));
    };
    let mut raws = Vec::new();
    for _ in 0..3 {
        raws.push(
            aistudio_generate(&server, &cookie, &body)
                .await
                .text()
                .await
                .unwrap(),
        );
        nudged(&mut body);
    }
    assert!(raws[0].contains("Content blocked") && parts(&raws[0]).1.is_empty());
    assert!(raws[1].contains("Content blocked"), "{}", raws[1]);
    assert!(!raws[2].contains("Content blocked"), "{}", raws[2]);
    assert!(!parts(&raws[2]).1.is_empty(), "the third run answers");
    let seen = server.requests();
    let nudges: Vec<u64> = seen
        .iter()
        .map(|r| r.settings.as_ref().unwrap().nudges)
        .collect();
    assert_eq!(nudges, [0, 1, 2]);
    assert_eq!(seen[2].prompt, "Continue.");
    assert_eq!(seen[1].outcome, Outcome::Fault("blocked".into()));
}

#[tokio::test]
async fn stop_generation_ends_the_run() {
    let server = start(Site::AiStudio, fast(1)).await;
    let cookie = aistudio_sign_in(&server).await;
    let body = aistudio_body("x replica:fault=stall", "low", false);
    let id = body[7].as_str().unwrap().to_owned();
    let mut resp = aistudio_generate(&server, &cookie, &body).await;
    let mut seen = String::new();
    read_until(&mut resp, &mut seen, "Echo [").await;
    let stop = client()
        .post(format!(
            "{}/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/StopGeneration",
            server.base_url()
        ))
        .header("cookie", &cookie)
        .header("content-type", "application/json+protobuf")
        .body(json!([id]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    let entry = wait_entry(&server, 1, |r| r.stop_called).await;
    assert!(entry.stop_called);
    let unknown = client()
        .post(format!(
            "{}/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/StopGeneration",
            server.base_url()
        ))
        .header("cookie", &cookie)
        .body(r#"["nope"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
