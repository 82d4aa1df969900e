//! Request shaping end to end: what the replica site received for SillyTavern-shaped chats,
//! `reasoning_effort`, real-model IDs and Dry Run Mode.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::Harness;
use serde_json::json;
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

/// A chat as SillyTavern sends it: a system prompt, example dialogue as named system messages
/// after `[Example Chat]`, history with message names, and a macro in the last user message.
fn sillytavern_chat(model: &str) -> serde_json::Value {
    json!({
        "model": model,
        "stream": true,
        "temperature": 0.9,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_p": 1,
        "max_tokens": 300,
        "logit_bias": {},
        "messages": [
            {"role": "system", "content": "Write Aria's next reply in a fictional chat between Aria and Sam."},
            {"role": "system", "content": "[Example Chat]"},
            {"role": "system", "name": "example_user", "content": "Status report?"},
            {"role": "system", "name": "example_assistant", "content": "All systems nominal."},
            {"role": "assistant", "name": "Aria", "content": "Welcome aboard, Sam."},
            {"role": "user", "name": "Sam", "content": "Plot a course home. [[nothink]]"}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sillytavern_chat_reaches_the_site_as_the_expected_prompt_and_toggles() {
    let extra = "[formatting]\npreset = \"XML-Like - Name\"\ninjection_position = \"after\"\n\
                 injection_content = \"Stay in character as {{char}}; {{user}} is the captain.\"\n\
                 [providers.deepseek]\nsearch = true\n";
    let h = Harness::single(ProviderKind::DeepSeek, Knobs::instant(), extra).await;
    let resp = h
        .post(
            "/v1/chat/completions",
            sillytavern_chat("deepseek-reasoner"),
        )
        .await;
    let s = common::read_sse(resp).await;
    assert!(s.error.is_none(), "{:?}", s.error);

    let seen = &h.replica(ProviderKind::DeepSeek).requests()[0];
    assert_eq!(
        seen.prompt,
        "<System>Write Aria's next reply in a fictional chat between Aria and Sam.</System>\n\
         <System>[Example Chat]</System>\n\
         <System>Status report?</System>\n\
         <System>All systems nominal.</System>\n\
         <Aria>Welcome aboard, Sam.</Aria>\n\
         <Sam>Plot a course home.</Sam>\n\
         Stay in character as Aria; Sam is the captain."
    );
    assert!(
        !seen.thinking,
        "[[nothink]] turned thinking off despite -reasoner"
    );
    assert!(seen.search, "the provider's search setting still applies");
    assert!(!s.content.contains("<think>"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_effort_sets_glm_deep_think_and_its_effort() {
    let h = Harness::single(
        ProviderKind::Glm,
        Knobs::instant(),
        "[api]\naccept_reasoning_effort = true\n",
    )
    .await;
    let ask = |body: serde_json::Value| h.post("/v1/chat/completions", body);
    let msgs = json!([{"role": "user", "content": "Hi"}]);

    // `-chat` with a high effort: the effort wins; "xhigh" means Max.
    let r = ask(json!({"model": "glm-chat", "reasoning_effort": "xhigh", "messages": msgs})).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["model"], "glm-chat",
        "the client's model string is echoed"
    );
    // The nested form, with another effort.
    let r = ask(json!({"model": "glm-chat", "reasoning": {"effort": "Medium"}, "messages": msgs}))
        .await;
    assert_eq!(r.status(), 200);
    // No effort at all: with efforts accepted, that means no reasoning, even for -reasoner.
    let r = ask(json!({"model": "glm-reasoner", "messages": msgs})).await;
    assert_eq!(r.status(), 200);
    // An explicit null top-level effort wins over the nested one.
    let r = ask(json!({"model": "glm-auto", "reasoning_effort": null,
                       "reasoning": {"effort": "max"}, "messages": msgs}))
    .await;
    assert_eq!(r.status(), 200);

    let seen: Vec<(bool, Option<String>)> = h
        .replica(ProviderKind::Glm)
        .requests()
        .iter()
        .map(|r| (r.thinking, r.effort.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (true, Some("max".to_owned())),
            (true, Some("high".to_owned())),
            (false, None),
            (false, None),
        ]
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn universal_model_names_list_and_route_real_model_ids() {
    let h = Harness::single(
        ProviderKind::Glm,
        Knobs::instant(),
        "[api]\nuniversal_model_names = true\n[providers.glm]\nmodels = [\"GLM-5.2\", \"GLM-5.1\", \"GLM-5-Turbo\"]\n",
    )
    .await;
    let models = h.get_json("/v1/models").await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "intenserp-auto",
            "intenserp-reasoner",
            "intenserp-chat",
            "glm-5-2-auto",
            "glm-5-2-reasoner",
            "glm-5-2-chat",
            "glm-5-1-auto",
            "glm-5-1-reasoner",
            "glm-5-1-chat",
            "glm-5-turbo-auto",
            "glm-5-turbo-reasoner",
            "glm-5-turbo-chat",
        ]
    );
    // A real-model ID switches the site's model picker for that request only.
    for model in [
        "glm-5-1-reasoner",
        "intenserp-chat",
        "GLM-5-Turbo-chat",
        "glm-auto",
    ] {
        let (status, body) = h.chat(model, "which model?").await;
        assert_eq!(status, 200, "{model}: {body}");
    }
    let seen: Vec<(String, bool)> = h
        .replica(ProviderKind::Glm)
        .requests()
        .iter()
        .map(|r| (r.model.clone(), r.thinking))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("glm-5.1".to_owned(), true),
            // Other IDs select the configured model again (providers.glm.model, default GLM-5.2).
            ("glm-5.2".to_owned(), false),
            ("GLM-5-Turbo".to_owned(), false),
            ("glm-5.2".to_owned(), false),
        ]
    );
    let (status, body) = h.chat("glm-9-chat", "x").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Provider-prefixed IDs are also still accepted."),
        "{body}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_answers_418_shows_the_shaped_prompt_and_starts_no_browser() {
    let h = Harness::start(
        &[ProviderKind::DeepSeek, ProviderKind::Glm],
        Knobs::instant(),
        "[api]\ndry_run = true\n[runtime]\nproviders_in_parallel = true\n",
    )
    .await;
    assert_eq!(h.gateway.browser_pid(), None, "no browser in Dry Run Mode");
    let lanes = h.get_json("/api/lanes").await;
    assert_eq!(lanes["lanes"], json!([]));
    let none = h
        .client
        .get(h.url("/api/dry-run/last"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);

    let resp = h
        .post("/v1/chat/completions", sillytavern_chat("glm-reasoner"))
        .await;
    assert_eq!(resp.status(), 418);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("I'm a teapot: Dry Run Mode captured the request.")
    );
    let last = h.get_json("/api/dry-run/last").await;
    let shaped = &last["shaped"];
    assert_eq!(shaped["provider"], "glm");
    assert_eq!(shaped["mode"], "reasoner");
    assert_eq!(shaped["toggles"]["thinking"], false, "[[nothink]]");
    assert!(
        shaped["prompt"]
            .as_str()
            .unwrap()
            .ends_with("Aria: Welcome aboard, Sam.\nSam: Plot a course home."),
        "{shaped}"
    );
    assert_eq!(
        last["request"]["max_tokens"], 300,
        "the client's JSON is kept"
    );

    let resp = h
        .post(
            "/v1/completions",
            json!({"model": "deepseek-chat", "prompt": "raw [[search]] text"}),
        )
        .await;
    assert_eq!(resp.status(), 418);
    let last = h.get_json("/api/dry-run/last").await;
    assert_eq!(last["shaped"]["prompt"], "raw text");
    assert_eq!(last["shaped"]["toggles"]["search"], true);
    assert!(h.replica(ProviderKind::DeepSeek).requests().is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_model_labels_get_provider_prefixes_and_the_bare_id_is_refused() {
    // Dry Run Mode needs no browser or site: AI Studio and Perplexity both offer
    // "Gemini 3.1 Pro".
    let config = switchyard::config::Config::from_toml_str(
        "provider = \"aistudio\"\n[server]\nport = 0\n[runtime]\nproviders_in_parallel = true\n\
         [api]\ndry_run = true\nuniversal_model_names = true\n\
         [providers.perplexity]\nenabled = true\nmodels = [\"Gemini 3.1 Pro\", \"Sonar 2\"]\n\
         [providers.aistudio]\nmodels = [\"Gemini 3.1 Pro\", \"Gemini 3 Flash\"]\n",
        "test",
    )
    .unwrap();
    let gateway = switchyard::gateway::Gateway::start(config).await.unwrap();
    let client = reqwest::Client::new();
    let base = gateway.base_url();
    let models: serde_json::Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<(String, String)> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["owned_by"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (id, owner) in [
        ("aistudio-gemini-3-1-pro-reasoner", "aistudio"),
        ("perplexity-gemini-3-1-pro-reasoner", "perplexity"),
        ("gemini-3-flash-chat", "aistudio"),
        ("sonar-2-auto", "perplexity"),
    ] {
        assert!(
            listed.contains(&(id.to_owned(), owner.to_owned())),
            "{id} ({owner}) is listed: {listed:?}"
        );
    }
    assert!(!listed.iter().any(|(id, _)| id == "gemini-3-1-pro-reasoner"));

    let ask = |model: &'static str| {
        let client = client.clone();
        let url = format!("{base}/v1/chat/completions");
        async move {
            let resp = client
                .post(url)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let last = || async {
        client
            .get(format!("{base}/api/dry-run/last"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    // Both prefixed forms route, each to its own provider and site model.
    for (model, provider) in [
        ("aistudio-gemini-3-1-pro-reasoner", "aistudio"),
        ("perplexity-gemini-3-1-pro-reasoner", "perplexity"),
    ] {
        let (status, _) = ask(model).await;
        assert_eq!(status, 418, "{model} routes");
        let shaped = last().await["shaped"].clone();
        assert_eq!(shaped["provider"], provider);
        assert_eq!(shaped["real_model"], "Gemini 3.1 Pro");
        assert_eq!(shaped["mode"], "reasoner");
    }
    // AI Studio has a System Instructions field: leading system messages go there.
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "gemini-3-flash-chat", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
    let shaped = last().await["shaped"].clone();
    assert_eq!(shaped["system"], "You are terse.");
    assert_eq!(shaped["prompt"], "User: hi");

    // The bare conflicting ID, and a prefixed form of a non-conflicting one, do not.
    for model in ["gemini-3-1-pro-reasoner", "aistudio-gemini-3-flash-chat"] {
        let (status, body) = ask(model).await;
        assert_eq!(status, 400, "{model}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Providers in Parallel requires routable model IDs")
                && msg.contains(
                    "only exact conflicts get provider-prefixed forms like \
                     `aistudio-gemini-3-1-pro-reasoner`. The request asked for"
                ),
            "{msg}"
        );
    }
    gateway.shutdown().await;
}
