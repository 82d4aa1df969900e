//! The probes and the request controls, through the public HTTP API against a replica in real
//! Chromium: `/health`, `/ready`, `x-request-id`, cancelling one request, stopping the running
//! ones, clearing the queue, the queue comments of a waiting stream and the queue timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::{DEADLINE, Harness, Streamed, parse_sse};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, Outcome};

const DS: ProviderKind = ProviderKind::DeepSeek;

/// Long answers, so a request is still running when the test acts on it.
fn slow() -> Knobs {
    Knobs {
        chunks: 2000,
        delay_ms: 25,
        first_delay_ms: 0,
    }
}

/// A streamed request being read bit by bit.
struct Live {
    id: String,
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    seen: String,
}

impl Live {
    async fn start(h: &Harness, content: &str) -> Live {
        let resp = h
            .post(
                "/v1/chat/completions",
                json!({"model": "deepseek-chat", "stream": true,
                       "messages": [{"role": "user", "content": content}]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 8, "{id}");
        Live {
            id,
            body: resp.bytes_stream().boxed(),
            seen: String::new(),
        }
    }

    /// Reads until `needle` shows in the stream.
    async fn until(&mut self, needle: &str) {
        tokio::time::timeout(DEADLINE, async {
            while !self.seen.contains(needle) {
                let bytes = self.body.next().await.expect("more stream").unwrap();
                self.seen.push_str(&String::from_utf8_lossy(&bytes));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the stream: {}", self.seen));
    }

    /// Reads to the end of the stream.
    async fn end(mut self) -> Streamed {
        tokio::time::timeout(DEADLINE, async {
            while let Some(bytes) = self.body.next().await {
                self.seen
                    .push_str(&String::from_utf8_lossy(&bytes.unwrap()));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the stream did not end: {}", self.seen));
        parse_sse(&self.seen)
    }
}

async fn post_json(h: &Harness, path: &str) -> (u16, Value) {
    let resp = h.client.post(h.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_outside_the_openai_api() {
    let h = Harness::single(DS, Knobs::instant(), "").await;
    let resp = h.client.get(h.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = h.client.get(h.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ready: Value = resp.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["providers"],
        json!([{"provider": "deepseek", "lanes": 1, "ready_lanes": 1}])
    );
    // Every answer names its request, errors too.
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().contains(&id), "{body}");
    let resp = h
        .post(
            "/v1/chat/completions",
            json!({"model": "nobody-chat", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let other = resp.headers()["x-request-id"].to_str().unwrap();
    assert!(other.len() == 8 && other != id, "{other}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stop_and_clear_end_streams_with_the_references_messages() {
    let h = Harness::single(DS, slow(), "").await;

    let mut a = Live::start(&h, "first").await;
    a.until(" w2").await;
    let mut b = Live::start(&h, "second").await;
    let c = Live::start(&h, "third").await;
    let queue = h.get_json("/api/queue").await;
    assert_eq!(ids(&queue["running"]), vec![a.id.clone()]);
    assert_eq!(ids(&queue["pending"]), vec![b.id.clone(), c.id.clone()]);
    // A waiting stream says where it stands.
    b.until(": queued 1 of 2\n\n").await;

    // Cancel a queued request: removed, its client told.
    let (status, body) = post_json(&h, &format!("/api/requests/{}/cancel", c.id)).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("removed")),
        "{body}"
    );
    let cid = c.id.clone();
    let s = c.end().await;
    assert_eq!(s.error, Some(format!("Request {cid} cancelled from UI.")));
    assert!(s.done);

    // Cancel the running one: stopped in the page and at the site.
    let (status, body) = post_json(&h, &format!("/api/requests/{}/cancel", a.id)).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!("stopping")),
        "{body}"
    );
    let aid = a.id.clone();
    let s = a.end().await;
    assert_eq!(s.error, Some(format!("Request {aid} cancelled from UI.")));
    assert!(s.done);
    h.wait_replica(DS, "the first answer was stopped at the site", |log| {
        log[0].outcome == Outcome::Stopped && log[0].stop_called
    })
    .await;

    // The next one runs; stop every running request.
    b.until(" w2").await;
    let (status, body) = post_json(&h, "/api/queue/stop").await;
    assert_eq!(status, 200);
    assert_eq!(body["stopped"], json!([b.id]));
    let s = b.end().await;
    assert_eq!(s.error.as_deref(), Some("Request aborted from UI."));
    assert!(s.done);

    // Clear the queue: the pending request goes, the running one stays.
    let mut d = Live::start(&h, "fourth").await;
    d.until(" w2").await;
    let e = Live::start(&h, "fifth").await;
    let (status, body) = post_json(&h, "/api/queue/clear").await;
    assert_eq!(status, 200);
    assert_eq!(body["cleared"], json!([e.id]));
    let s = e.end().await;
    assert_eq!(s.error.as_deref(), Some("Request queue cleared from UI."));
    assert!(s.done);
    d.until(" w4").await;
    let (_, body) = post_json(&h, "/api/queue/stop").await;
    assert_eq!(body["stopped"], json!([d.id]));
    assert_eq!(
        d.end().await.error.as_deref(),
        Some("Request aborted from UI.")
    );

    // An id that is neither queued nor running.
    let (status, body) = post_json(&h, "/api/requests/0badc0de/cancel").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("0badc0de"),
        "{body}"
    );
    h.wait_lanes("the lane is free", |lanes| {
        lanes[0]["current_request"].is_null()
    })
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_past_the_queue_timeout_fails_clearly() {
    let h = Harness::single(DS, slow(), "[providers.deepseek]\nqueue_timeout_secs = 1\n").await;
    let mut a = Live::start(&h, "first").await;
    a.until(" w2").await;
    let b = Live::start(&h, "second").await;
    let s = b.end().await;
    let error = s.error.unwrap();
    assert!(
        error.contains("waited 1s in the DeepSeek queue")
            && error.contains("providers.deepseek.queue_timeout_secs"),
        "{error}"
    );
    assert!(s.done);
    // The running request is not affected by its own queue timeout.
    a.until(" w40").await;
    let (_, body) = post_json(&h, "/api/queue/stop").await;
    assert_eq!(body["stopped"], json!([a.id]));
    a.end().await;
    h.shutdown().await;
}
