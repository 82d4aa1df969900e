//! Helpers shared by the replica tests: plain HTTP against a replica on port 0, no browser.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic here is a failed assertion"
)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer, Site};

/// Microseconds now on the clock the replica stamps with.
pub fn now_us() -> u64 {
    switchyard_replicas::clock::monotonic_us()
}

/// Sends one ordinary completion (thinking and search off) to `server` and reads it to the end.
pub async fn one_completion(server: &ReplicaServer, prompt: &str) -> String {
    let resp = match server.site() {
        Site::DeepSeek => {
            let session = deepseek_session(server).await;
            deepseek_completion(server, deepseek_body(&session, prompt, false, false)).await
        }
        Site::Glm => {
            let chat = glm_chat(server).await;
            glm_completion(server, glm_body(&chat, prompt, false, false)).await
        }
        Site::Qwen => {
            let chat = qwen_chat(server).await;
            qwen_completion(server, &chat, qwen_body(&chat, prompt, false, false)).await
        }
        Site::Mimo => {
            let account = mimo_sign_in(server).await;
            mimo_completion(server, &account, mimo_body(prompt, false)).await
        }
        Site::Perplexity => {
            let cookie = perplexity_sign_in(server).await;
            perplexity_ask(server, &cookie, perplexity_body(prompt, "best", false)).await
        }
        Site::HuggingChat => huggingchat_message(server, prompt).await,
        Site::Moonshot => {
            let token = kimi_sign_in(server).await;
            kimi_completion(
                server,
                &token,
                &kimi_body("", prompt, "k3", "standard", false),
            )
            .await
        }
        Site::AiStudio => {
            let cookie = aistudio_sign_in(server).await;
            aistudio_generate(server, &cookie, &aistudio_body(prompt, "low", false)).await
        }
    };
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// How long a test waits for the log to reach a state before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// Knobs with no delays and `chunks` answer pieces.
pub fn fast(chunks: usize) -> Knobs {
    Knobs {
        chunks,
        delay_ms: 0,
        first_delay_ms: 0,
    }
}

pub async fn start(site: Site, knobs: Knobs) -> ReplicaServer {
    ReplicaServer::start(site, knobs)
        .await
        .expect("replica starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn get_text(server: &ReplicaServer, path: &str) -> String {
    let resp = client()
        .get(format!("{}{path}", server.base_url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.text().await.unwrap()
}

pub async fn post_json(server: &ReplicaServer, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", server.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Reads the next body chunks until the text read so far contains `needle`.
pub async fn read_until(resp: &mut reqwest::Response, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(WAIT, resp.chunk())
            .await
            .expect("chunk in time")
            .unwrap()
            .unwrap_or_else(|| panic!("body ended before {needle:?}; got {seen:?}"));
        // Lossy: a binary framing (Kimi's envelopes) has length bytes that are not UTF-8.
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// Asserts that no body byte arrives within a short window (for stalls). A bounded negative
/// check: without the fault the whole body would arrive at once (the tests use no delays).
pub async fn assert_silent(resp: &mut reqwest::Response) {
    let next = tokio::time::timeout(Duration::from_millis(300), resp.chunk()).await;
    assert!(next.is_err(), "expected silence, got {next:?}");
}

/// Waits for the request with `seq` to satisfy `pred`; panics with the log otherwise.
pub async fn wait_entry(
    server: &ReplicaServer,
    seq: u64,
    pred: impl Fn(&ReceivedRequest) -> bool,
) -> ReceivedRequest {
    let log = server
        .wait_for(|log| log.iter().any(|r| r.seq == seq && pred(r)), WAIT)
        .await
        .unwrap_or_else(|log| panic!("request {seq} never matched; log: {log:#?}"));
    log.into_iter().find(|r| r.seq == seq).unwrap()
}

// === DeepSeek ===

/// A fresh challenge of `server` (the `challenge` object).
pub async fn deepseek_challenge(server: &ReplicaServer) -> Value {
    let resp = post_json(
        server,
        "/api/v0/chat/create_pow_challenge",
        json!({"target_path": "/api/v0/chat/completion"}),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    body["data"]["biz_data"]["challenge"].clone()
}

/// The hex SHA-256 of `"{salt}_{expire_at}_{answer}"` (the replica's stand-in for the site's hash).
pub fn deepseek_hash(c: &Value, answer: u64) -> String {
    use sha2::Digest;
    let input = format!(
        "{}_{}_{answer}",
        c["salt"].as_str().unwrap(),
        c["expire_at"]
    );
    sha2::Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `x-ds-pow-response` header for challenge `c` with `answer`.
pub fn deepseek_pow_header(c: &Value, answer: u64) -> String {
    let answer = json!({
        "algorithm": c["algorithm"],
        "challenge": c["challenge"],
        "salt": c["salt"],
        "answer": answer,
        "signature": c["signature"],
        "target_path": c["target_path"],
    });
    STANDARD.encode(answer.to_string())
}

/// Solves challenge `c` as the page does: searches `0..difficulty`.
pub fn deepseek_solve(c: &Value) -> u64 {
    (0..c["difficulty"].as_u64().unwrap())
        .find(|&n| deepseek_hash(c, n) == c["challenge"])
        .expect("the challenge has an answer")
}

/// A valid `x-ds-pow-response` header for a fresh challenge of `server`.
pub async fn deepseek_pow(server: &ReplicaServer) -> String {
    let c = deepseek_challenge(server).await;
    deepseek_pow_header(&c, deepseek_solve(&c))
}

pub async fn deepseek_session(server: &ReplicaServer) -> String {
    let resp = post_json(server, "/api/v0/chat_session/create", json!({})).await;
    let body: Value = resp.json().await.unwrap();
    body["data"]["biz_data"]["id"].as_str().unwrap().to_owned()
}

/// The body the DeepSeek page sends.
pub fn deepseek_body(session: &str, prompt: &str, thinking: bool, search: bool) -> Value {
    json!({
        "chat_session_id": session,
        "parent_message_id": null,
        "model_type": "default",
        "prompt": prompt,
        "ref_file_ids": [],
        "thinking_enabled": thinking,
        "search_enabled": search,
        "preempt": false,
    })
}

/// POSTs a completion with a valid PoW header.
pub async fn deepseek_completion(server: &ReplicaServer, body: Value) -> reqwest::Response {
    let pow = deepseek_pow(server).await;
    client()
        .post(format!("{}/api/v0/chat/completion", server.base_url()))
        .header("x-ds-pow-response", pow)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A minimal patch-stream reader for assertions: (THINK text, RESPONSE text, finished).
pub fn deepseek_assemble(raw: &str) -> (String, String, bool) {
    let mut fragments: Vec<(String, String)> = Vec::new();
    let mut finished = false;
    for line in raw.lines() {
        let Some(json) = line.strip_prefix("data: ") else {
            continue;
        };
        let v: Value = serde_json::from_str(json).unwrap();
        let path = v["p"].as_str();
        if let Some(list) = v["v"]["response"]["fragments"].as_array() {
            for f in list {
                fragments.push((
                    f["type"].as_str().unwrap().into(),
                    f["content"].as_str().unwrap().into(),
                ));
            }
        } else if path == Some("response/fragments") {
            for f in v["v"].as_array().unwrap() {
                fragments.push((
                    f["type"].as_str().unwrap().into(),
                    f["content"].as_str().unwrap().into(),
                ));
            }
        } else if let (Some(text), None | Some("response/fragments/-1/content")) =
            (v["v"].as_str(), path)
        {
            fragments.last_mut().unwrap().1.push_str(text);
        } else if path == Some("response/status") && v["v"] == "FINISHED" {
            finished = true;
        }
    }
    let join = |kind: &str| -> String {
        fragments
            .iter()
            .filter(|f| f.0 == kind)
            .map(|f| f.1.as_str())
            .collect()
    };
    (join("THINK"), join("RESPONSE"), finished)
}

// === GLM ===

pub async fn glm_chat(server: &ReplicaServer) -> String {
    let resp = post_json(server, "/api/v1/chats/new", json!({"chat": {}})).await;
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// The body the GLM page sends.
pub fn glm_body(chat_id: &str, prompt: &str, thinking: bool, search: bool) -> Value {
    let mut features = json!({
        "enable_thinking": thinking,
        "web_search": search,
        "auto_web_search": false,
    });
    if thinking {
        features["thinking_effort"] = json!("max");
    }
    json!({
        "stream": true,
        "model": "glm-5.2",
        "messages": [{"role": "user", "content": prompt}],
        "features": features,
        "chat_id": chat_id,
        "id": fresh_message_id(),
    })
}

/// A message id no earlier body of this test process used (the page sends a new UUID each time).
pub fn fresh_message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("11111111-2222-4333-8444-{n:012x}")
}

pub async fn glm_completion(server: &ReplicaServer, body: Value) -> reqwest::Response {
    post_json(server, "/api/v2/chat/completions", body).await
}

/// The answer text of a GLM stream, read the simple way (deltas, plus the tail of an
/// `edit_content` after `</details>\n`).
pub fn glm_answer(raw: &str) -> String {
    let mut answer = String::new();
    for line in raw.lines() {
        let Some(json) = line.strip_prefix("data: ") else {
            continue;
        };
        let v: Value = serde_json::from_str(json).unwrap();
        let data = &v["data"];
        if data["phase"] != "answer" {
            continue;
        }
        if let Some(edit) = data["edit_content"].as_str() {
            answer.push_str(
                edit.rsplit_once("</details>\n")
                    .map_or(edit, |(_, tail)| tail),
            );
        } else if let Some(delta) = data["delta_content"].as_str() {
            answer.push_str(delta);
        }
    }
    answer
}

// === Qwen ===

pub async fn qwen_chat(server: &ReplicaServer) -> String {
    let resp = post_json(server, "/api/v2/chats/new", json!({"title": "New Chat"})).await;
    let body: Value = resp.json().await.unwrap();
    body["data"]["id"].as_str().unwrap().to_owned()
}

/// The body the Qwen page sends.
pub fn qwen_body(chat_id: &str, prompt: &str, thinking: bool, search: bool) -> Value {
    let chat_type = if search { "search" } else { "t2t" };
    json!({
        "stream": true,
        "incremental_output": true,
        "chat_id": chat_id,
        "chat_mode": "normal",
        "model": "qwen3.5-plus",
        "parent_id": null,
        "messages": [{
            "fid": fresh_message_id(),
            "role": "user",
            "content": prompt,
            "chat_type": chat_type,
            "feature_config": {"thinking_enabled": thinking, "output_schema": "phase"},
        }],
    })
}

/// The completion request with the page's anti-bot headers, each once.
pub async fn qwen_completion(
    server: &ReplicaServer,
    chat_id: &str,
    body: Value,
) -> reqwest::Response {
    qwen_completion_with(
        server,
        chat_id,
        body,
        &[
            ("bx-ua", "231!x"),
            ("bx-umidtoken", "T2gA"),
            ("bx-v", "2.5.31"),
        ],
    )
    .await
}

pub async fn qwen_completion_with(
    server: &ReplicaServer,
    chat_id: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client().post(format!(
        "{}/api/v2/chat/completions?chat_id={chat_id}",
        server.base_url()
    ));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.json(&body).send().await.unwrap()
}

/// The answer text of a Qwen stream (`answer` phase content).
pub fn qwen_answer(raw: &str) -> String {
    raw.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|v| v["choices"][0]["delta"]["phase"] == "answer")
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

// === MiMo ===

/// The cookies a MiMo page load sets (`userId`, `xiaomichatbot_ph`): the `Cookie` header to send
/// and the pass token for the URL.
pub struct MimoAccount {
    pub cookie: String,
    pub ph: String,
}

pub async fn mimo_sign_in(server: &ReplicaServer) -> MimoAccount {
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    let pairs: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let ph = pairs
        .iter()
        .find_map(|p| p.strip_prefix("xiaomichatbot_ph="))
        .expect("the pass token cookie")
        .trim_matches('"')
        .to_owned();
    MimoAccount {
        cookie: pairs.join("; "),
        ph,
    }
}

/// A 32-hex id no earlier body of this test process used.
pub fn fresh_hex_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{n:032x}")
}

/// The body the MiMo page sends, in a new conversation.
pub fn mimo_body(prompt: &str, search: bool) -> Value {
    json!({
        "msgId": fresh_hex_id(),
        "conversationId": fresh_hex_id(),
        "query": prompt,
        "isEditedQuery": false,
        "modelConfig": {
            "model": "mimo-v2.5-pro",
            "webSearchStatus": if search { "enabled" } else { "disabled" },
        },
        "multiMedias": [],
    })
}

pub async fn mimo_completion(
    server: &ReplicaServer,
    account: &MimoAccount,
    body: Value,
) -> reqwest::Response {
    client()
        .post(format!(
            "{}/open-apis/bot/chat?xiaomichatbot_ph={}",
            server.base_url(),
            account.ph
        ))
        .header("cookie", &account.cookie)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Loads the Perplexity page and returns its session cookie (`name=value`).
pub async fn perplexity_sign_in(server: &ReplicaServer) -> String {
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    page.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("__Secure-next-auth.session-token="))
        .expect("the session cookie")
}

/// A UUID no earlier body of this test process used.
pub fn fresh_uuid() -> String {
    let hex = fresh_hex_id();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A Perplexity ask in Search mode for `model_preference` `model`, with or without the web source.
pub fn perplexity_body(prompt: &str, model: &str, web: bool) -> Value {
    json!({
        "params": {
            "frontend_uuid": fresh_uuid(),
            "mode": "search",
            "model_preference": model,
            "sources": if web { vec!["web"] } else { Vec::new() },
            "search_focus": "internet",
        },
        "query_str": prompt,
    })
}

pub async fn perplexity_ask(
    server: &ReplicaServer,
    cookie: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .post(format!("{}/rest/sse/perplexity_ask", server.base_url()))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap()
}

// === Kimi ===

/// The access token a Kimi page load sets (cookie `kimi-auth`).
pub async fn kimi_sign_in(server: &ReplicaServer) -> String {
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    page.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("kimi-auth="))
        .and_then(|v| v.split(';').next())
        .expect("the access token cookie")
        .to_owned()
}

/// One Connect envelope: flags, big-endian length, payload.
pub fn kimi_envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The body the Kimi page sends: one envelope holding the request JSON.
pub fn kimi_body(chat_id: &str, prompt: &str, model: &str, effort: &str, search: bool) -> Vec<u8> {
    let json = json!({
        "chat_id": chat_id,
        "model": model,
        "thinking_effort": effort,
        "use_search": search,
        "message": {"role": "user", "blocks": [{"message_id": "", "text": {"content": prompt}}]},
    });
    kimi_envelope(0, json.to_string().as_bytes())
}

/// The completion request with the page's headers.
pub async fn kimi_completion(
    server: &ReplicaServer,
    token: &str,
    body: &[u8],
) -> reqwest::Response {
    client()
        .post(format!(
            "{}/apiv2/kimi.gateway.chat.v1.ChatService/Chat",
            server.base_url()
        ))
        .header("content-type", "application/connect+json")
        .header("authorization", format!("Bearer {token}"))
        .header("x-msh-device-id", "d1")
        .header("x-traffic-id", "d1")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// The JSON payloads of a body of envelopes, with their flags.
pub fn kimi_frames(body: &[u8]) -> Vec<(u8, Value)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 5 <= body.len() {
        let len =
            u32::from_be_bytes([body[at + 1], body[at + 2], body[at + 3], body[at + 4]]) as usize;
        let payload = &body[at + 5..at + 5 + len];
        if len > 0 {
            out.push((body[at], serde_json::from_slice(payload).unwrap()));
        }
        at += 5 + len;
    }
    assert_eq!(at, body.len(), "the body is whole envelopes");
    out
}

/// The AI Studio session cookie (`AISTUDIO_SID=…`) a page load sets.
pub async fn aistudio_sign_in(server: &ReplicaServer) -> String {
    let page = client()
        .get(format!(
            "{}/prompts/new_chat?incognito=true",
            server.base_url()
        ))
        .send()
        .await
        .unwrap();
    page.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("AISTUDIO_SID="))
        .expect("the session cookie")
}

/// A `GenerateContent` body for Gemini 3.1 Pro at `level` (`low` does not think), the site's
/// default run settings, no system instructions, a temporary chat.
pub fn aistudio_body(prompt: &str, level: &str, search: bool) -> Value {
    json!([
        "models/gemini-3.1-pro-preview",
        [[[[null, prompt]], "user"]],
        [["Harassment", 2], ["Hate", 2]],
        [null, null, null, 65536, 1, 0.95],
        null,
        [u8::from(search), 0],
        level,
        fresh_uuid(),
        1,
        null
    ])
}

pub async fn aistudio_generate(
    server: &ReplicaServer,
    cookie: &str,
    body: &Value,
) -> reqwest::Response {
    client()
        .post(format!(
            "{}/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent",
            server.base_url()
        ))
        .header("cookie", cookie)
        .header("content-type", "application/json+protobuf")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

// === HuggingChat ===

/// Signs in to the HuggingChat replica, creates a conversation and sends one message (effort
/// `default`, no tools); the message response.
pub async fn huggingchat_message(server: &ReplicaServer, prompt: &str) -> reqwest::Response {
    let page = client()
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("hf-chat="))
        .expect("the session cookie");
    let created: Value = client()
        .post(format!("{}/conversation", server.base_url()))
        .header("cookie", &cookie)
        .json(&json!({"model": "openai/gpt-oss-120b"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["conversationId"].as_str().unwrap();
    client()
        .post(format!("{}/conversation/{id}", server.base_url()))
        .header("cookie", &cookie)
        .json(
            &json!({"inputs": prompt, "id": fresh_uuid(), "is_retry": false,
                      "is_continue": false, "tools": [], "effort": "default"}),
        )
        .send()
        .await
        .unwrap()
}
