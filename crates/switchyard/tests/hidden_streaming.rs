//! A teed answer streams while the page's window is minimized (`hide_while_streaming`), in a
//! real headless Chromium against a small site of the test's own: the page still reads its
//! whole stream while hidden, the capture still copies every byte, and the page is shown again
//! once it ended. Without the option the page is never hidden.
//!
//! The site makes the hiding observable without a race: its stream sends one piece, then holds
//! the rest until the page itself reports that it is hidden and that its timers still run at
//! their pace there (ten ticks of a 10 ms interval: Chromium throttles a background page's
//! timers to one a second unless the launch flags say otherwise, and a site's script would
//! crawl). A page that is never hidden, or crawls, gets the rest only after a bound, with a
//! piece that says so.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Html;
use axum::routing::{get, post};
use common::DEADLINE;
use serde_json::Value;
use switchyard::browser::capture::CaptureEvent;

use tokio::sync::Notify;

/// How long the stream waits for the page to report itself hidden before it goes on anyway
/// (only a page that is never hidden, or whose timers crawl, waits this out).
const HIDDEN_WAIT: Duration = Duration::from_secs(4);
/// The piece sent instead of the second when the page never reported.
const NO_REPORT: &str = "data: the page never said it was hidden with its timers running\n\n";
const PIECES: usize = 5;

const PAGE: &str = r#"<!doctype html><title>stream</title><body><div id=out></div><script>
window.changes = [];
window.seen = [];
window.done = false;
document.addEventListener('visibilitychange', () => {
  changes.push(document.visibilityState);
  if (document.visibilityState !== 'hidden') return;
  let ticks = 0;
  const timer = setInterval(() => {
    if (++ticks < 10) return;
    clearInterval(timer);
    fetch('/hidden', { method: 'POST' });
  }, 10);
});
window.go = async () => {
  const res = await fetch('/stream', { method: 'POST', body: '{}' });
  const reader = res.body.getReader();
  const text = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    seen.push(document.visibilityState);
    document.getElementById('out').textContent += text.decode(value);
  }
  window.done = true;
};
</script>"#;

fn piece(i: usize) -> String {
    format!("data: piece {i}\n\n")
}

/// The site: the page, its stream, and the page's "I am hidden" report. Returns its origin.
async fn site() -> String {
    let hidden = Arc::new(Notify::new());
    let report = hidden.clone();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/hidden",
            post(move || {
                report.notify_one();
                async {}
            }),
        )
        .route(
            "/stream",
            post(move || {
                let hidden = hidden.clone();
                async move {
                    let body = async_stream(hidden);
                    axum::response::Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from_stream(body))
                        .unwrap()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    switchyard::tasks::spawn("test-site", async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// The first piece at once; the rest once the page said it is hidden (or after [`HIDDEN_WAIT`]).
fn async_stream(
    hidden: Arc<Notify>,
) -> impl futures::Stream<Item = Result<String, std::convert::Infallible>> {
    futures::stream::unfold(0usize, move |i| {
        let hidden = hidden.clone();
        async move {
            if i == PIECES {
                return None;
            }
            if i == 1
                && tokio::time::timeout(HIDDEN_WAIT, hidden.notified())
                    .await
                    .is_err()
            {
                return Some((Ok(NO_REPORT.to_owned()), i + 1));
            }
            Some((Ok(piece(i)), i + 1))
        }
    })
}

/// Streams one answer through a page with the capture started with `hide`, and returns what
/// the capture copied and what the page recorded (`changes`, `seen`, its visibility after).
async fn stream_once(hide: bool) -> (String, Value) {
    let origin = site().await;
    let browser = common::test_browser().await;
    let tab = browser.new_tab(true, None).await.unwrap();
    let capture = tab.capture(None, None, hide).await.unwrap();
    tab.goto(&format!("{origin}/"), DEADLINE).await.unwrap();
    tab.eval(
        "wait for the page",
        "new Promise(r => { if (window.go) r(1); else addEventListener('load', () => r(1)); })",
        DEADLINE,
    )
    .await
    .unwrap();
    let mut events = capture.arm(&["/stream"]);
    tab.eval("start the stream", "go(); 1", DEADLINE)
        .await
        .unwrap();
    let mut copied = Vec::new();
    let end = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Some(CaptureEvent::Data(bytes)) => copied.extend_from_slice(&bytes),
                Some(CaptureEvent::Finished) => return Ok(()),
                Some(CaptureEvent::Failed { error, .. }) => return Err(error),
                Some(CaptureEvent::Crashed) => return Err("crashed".to_owned()),
                Some(_) => {}
                None => return Err("the page task ended".to_owned()),
            }
        }
    })
    .await
    .expect("the capture reports the end within the deadline");
    end.unwrap();
    let page = tab
        .eval(
            "read what the page saw",
            "new Promise(r => { const t = setInterval(() => { if (window.done) { clearInterval(t); \
             r({ changes, seen, now: document.visibilityState }); } }, 10); })",
            DEADLINE,
        )
        .await
        .unwrap();
    tab.close(&browser).await;
    browser.close().await;
    (String::from_utf8(copied).unwrap(), page)
}

/// The answer when the page reported itself hidden (`reported`), or when it did not.
fn whole_answer(reported: bool) -> String {
    (0..PIECES)
        .map(|i| {
            if i == 1 && !reported {
                NO_REPORT.to_owned()
            } else {
                piece(i)
            }
        })
        .collect()
}

#[tokio::test]
async fn a_teed_answer_streams_hidden_and_the_page_is_shown_again_after_it() {
    let (copied, page) = stream_once(true).await;
    assert_eq!(
        copied,
        whole_answer(true),
        "the capture copied every byte, and the page reported itself hidden with running timers"
    );
    let seen: Vec<&str> = page["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        seen.contains(&"hidden"),
        "the page read pieces while hidden: {page}"
    );
    assert_eq!(
        page["changes"],
        serde_json::json!(["hidden", "visible"]),
        "hidden once, then shown: {page}"
    );
    assert_eq!(page["now"], "visible", "{page}");
}

#[tokio::test]
async fn without_the_option_the_page_is_never_hidden() {
    let (copied, page) = stream_once(false).await;
    assert_eq!(copied, whole_answer(false));
    assert_eq!(page["changes"], serde_json::json!([]), "{page}");
    assert!(
        page["seen"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == "visible"),
        "{page}"
    );
}
