//! The log of completion requests a replica received, and its change notifications.
//!
//! [`RequestLog`] is shared by the HTTP handlers (which open entries), the body streams (which
//! count chunks and record how the stream ended) and the stop endpoints. Every mutation bumps a
//! `tokio::sync::watch` version, so [`RequestLog::wait_for`] wakes on each change instead of
//! polling.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clock::monotonic_us as now_us;

/// How a logged completion request ended, or that it has not ended yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The body is still being streamed.
    Streaming,
    /// The body was streamed to its end.
    Completed,
    /// The client went away (the body was dropped) or the stop endpoint was hit before the end.
    Stopped,
    /// A fault was injected (`replica:fault=NAME` gives `Fault("NAME")`), or the request was
    /// rejected (`Fault("rejected: …")`). Stays a fault whatever happens to the stream after.
    Fault(String),
}

/// One completion request as the replica saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRequest {
    /// Position in the log, from 1; keeps growing across `reset`.
    pub seq: u64,
    /// The request path, e.g. `/api/v0/chat/completion`.
    pub path: String,
    /// The prompt: DeepSeek's `prompt`, GLM's and Qwen's last user message, MiMo's `query`, Perplexity's
    /// `query_str`.
    pub prompt: String,
    /// DeepSeek `model_type` (`default`, `expert`, …), GLM / Qwen `model` (`glm-5.2`,
    /// `qwen3.5-plus`, …) or MiMo `modelConfig.model` (`mimo-v2.5-pro`, …) or Perplexity's `model_preference`
    /// without `_thinking` (`best`, `gpt54`, …).
    pub model: String,
    /// DeepSeek `thinking_enabled` / GLM `features.enable_thinking` / Qwen
    /// `feature_config.thinking_enabled`; always on for MiMo, which has no thinking toggle; Perplexity's `_thinking` model
    /// preference (or a model that always thinks).
    pub thinking: bool,
    /// DeepSeek `search_enabled` / GLM `features.web_search` / Qwen `chat_type` `search` / MiMo
    /// `modelConfig.webSearchStatus` `enabled` / Perplexity `sources` holding `web`.
    pub search: bool,
    /// GLM `features.thinking_effort` (`max`, `high`); AI Studio's Thinking Level (`minimal`,
    /// `low`, `medium`, `high`; `None` for a model without levels); `None` on DeepSeek and Qwen.
    pub effort: Option<String>,
    /// The site's own system field as the request found it: the instructions of the
    /// Perplexity Space the ask was made in, HuggingChat's custom system prompt of the
    /// conversation's model, AI Studio's System Instructions; `None` outside a Space, without a
    /// prompt or instructions and on the other sites.
    #[serde(default)]
    pub system: Option<String>,
    /// The inference provider the request was served by (HuggingChat's per-model setting:
    /// `auto`, `novita`, …); `None` on the other sites.
    #[serde(default)]
    pub inference_provider: Option<String>,
    /// When the request arrived, in µs on [`crate::clock::monotonic_us`].
    pub started_us: u64,
    /// When the stream ended (completed, dropped, stopped, or the fault answer was sent).
    pub ended_us: Option<u64>,
    /// How the stream ended so far.
    pub outcome: Outcome,
    /// Answer pieces handed to the HTTP layer so far (reasoning and framing events not counted).
    pub chunks_sent: usize,
    /// Whether the site's stop endpoint was hit for this request's chat.
    pub stop_called: bool,
    /// The request's `Accept-Encoding` header as received (Chromium sends `gzip, deflate, br,
    /// zstd`; a client replaying the page's request may ask for something else).
    pub accept_encoding: Option<String>,
    /// Files sent with the message (DeepSeek `ref_file_ids`, resolved to what the page
    /// uploaded), in order.
    #[serde(default)]
    pub files: Vec<ReceivedFile>,
    /// The run settings AI Studio received (the only site with them); `None` elsewhere.
    #[serde(default)]
    pub settings: Option<ReceivedSettings>,
    /// The registered account (lowercased email) whose session cookie the request carried;
    /// `None` on a site with no registered account (see `ReplicaServer::add_account`).
    #[serde(default)]
    pub account: Option<String>,
}

/// The run settings of one AI Studio request, as its body held them. Numbers are kept as the
/// body wrote them (`0.7`, `1`), so the entry stays comparable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedSettings {
    pub temperature: Option<String>,
    pub top_p: Option<String>,
    pub max_tokens: Option<u64>,
    /// URL context ("Browse the url context") on.
    pub url_context: bool,
    /// A temporary chat (`?incognito=true`): nothing saved.
    pub temporary: bool,
    /// Blocked-Response Handling nudges in the chat before this run (a model turn `.` then
    /// the user turn `Continue.`).
    #[serde(default)]
    pub nudges: u64,
    /// How Run was pressed; `None` without a click (Ctrl+Enter).
    #[serde(default)]
    pub run_click: Option<RunClick>,
    /// The safety filter thresholds, one per category in the page's order (0 = block none).
    #[serde(default)]
    pub safety: Vec<u64>,
}

/// How the page saw the click on AI Studio's Run button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunClick {
    /// The click was a trusted event (real input, not `element.click()`).
    pub trusted: bool,
    /// Trusted pointer moves in the two seconds before it.
    pub moves: u64,
}

/// A file a page uploaded and a message referred to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedFile {
    pub name: String,
    pub content: String,
}

impl ReceivedRequest {
    /// A fresh entry for a request arriving now; the log assigns `seq`.
    pub(crate) fn arriving(path: &str, prompt: String, model: String) -> ReceivedRequest {
        ReceivedRequest {
            seq: 0,
            path: path.to_owned(),
            prompt,
            model,
            thinking: false,
            search: false,
            effort: None,
            system: None,
            inference_provider: None,
            started_us: now_us(),
            ended_us: None,
            outcome: Outcome::Streaming,
            chunks_sent: 0,
            stop_called: false,
            accept_encoding: None,
            files: Vec::new(),
            account: None,
            settings: None,
        }
    }
}

/// A request's `Accept-Encoding` header, for [`ReceivedRequest::accept_encoding`].
pub(crate) fn accept_encoding(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// One log entry: the public record plus what the stop endpoint needs.
struct Entry {
    request: ReceivedRequest,
    /// The chat this request belongs to (DeepSeek `chat_session_id`, GLM and Qwen `chat_id`,
    /// MiMo `conversationId`, Perplexity `frontend_uuid`).
    session: Option<String>,
    /// Raised by the stop endpoint; the body stream holds the receiver and ends when it flips.
    stop: watch::Sender<bool>,
}

/// The most entries a log keeps: the oldest is forgotten when a new one would pass it, so a
/// replica serving a long soak does not grow without bound. Far more than any test sends to one
/// replica; `seq` keeps counting, so a test can still tell how many arrived.
pub const MAX_ENTRIES: usize = 2_000;

#[derive(Default)]
struct State {
    next_seq: u64,
    entries: std::collections::VecDeque<Entry>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped after every mutation; `wait_for` waiters hold receivers.
    version: watch::Sender<u64>,
}

/// A cheaply cloneable handle to one replica's request log.
#[derive(Clone)]
pub(crate) struct RequestLog {
    inner: Arc<Inner>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                version: watch::Sender::new(0),
            }),
        }
    }
}

impl RequestLog {
    /// Locks the state; a poisoned lock is recovered (the log stays readable after a panic).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.inner.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Mutates the entry `seq` (if it still exists) and notifies waiters.
    fn with_entry(&self, seq: u64, f: impl FnOnce(&mut Entry)) {
        {
            let mut state = self.lock();
            // Newest first: the entry a stream updates is nearly always among the last.
            if let Some(entry) = state
                .entries
                .iter_mut()
                .rev()
                .find(|e| e.request.seq == seq)
            {
                f(entry);
            }
        }
        self.notify();
    }

    /// Appends `request`, returning its `seq` and the receiver the stop endpoint raises.
    pub(crate) fn open(
        &self,
        mut request: ReceivedRequest,
        session: Option<String>,
    ) -> (u64, watch::Receiver<bool>) {
        let (stop, stopped) = watch::channel(false);
        let seq = {
            let mut state = self.lock();
            state.next_seq += 1;
            request.seq = state.next_seq;
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.pop_front();
            }
            state.entries.push_back(Entry {
                request,
                session,
                stop,
            });
            state.next_seq
        };
        self.notify();
        (seq, stopped)
    }

    /// Counts one more answer piece handed to the HTTP layer.
    pub(crate) fn count_chunk(&self, seq: u64) {
        self.with_entry(seq, |e| e.request.chunks_sent += 1);
    }

    /// The body reached its end: `Streaming` becomes `Completed`.
    pub(crate) fn complete(&self, seq: u64) {
        self.with_entry(seq, |e| end(&mut e.request, Outcome::Completed));
    }

    /// The body was dropped (client gone or server closing): `Streaming` becomes `Stopped`.
    pub(crate) fn dropped(&self, seq: u64) {
        self.with_entry(seq, |e| end(&mut e.request, Outcome::Stopped));
    }

    /// The stop endpoint was hit for `session`: marks its latest request `stop_called`, ends a
    /// streaming one as `Stopped` and tells its body to end. Returns whether a request matched.
    pub(crate) fn stop_session(&self, session: &str) -> bool {
        let found = {
            let mut state = self.lock();
            let entry = state
                .entries
                .iter_mut()
                .rev()
                .find(|e| e.session.as_deref() == Some(session));
            match entry {
                Some(entry) => {
                    entry.request.stop_called = true;
                    end(&mut entry.request, Outcome::Stopped);
                    entry.stop.send_replace(true);
                    true
                }
                None => false,
            }
        };
        self.notify();
        found
    }

    /// A copy of every entry, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<ReceivedRequest> {
        self.lock()
            .entries
            .iter()
            .map(|e| e.request.clone())
            .collect()
    }

    /// Forgets every entry (sequence numbers keep growing). Streams still running keep going
    /// but no longer appear in the log.
    pub(crate) fn reset(&self) {
        self.lock().entries.clear();
        self.notify();
    }

    /// Waits until `pred` holds for the log or `timeout` passes. Wakes on each log change.
    /// `Ok` carries the snapshot that satisfied `pred`, `Err` the last one seen.
    pub(crate) async fn wait_for(
        &self,
        pred: impl Fn(&[ReceivedRequest]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, Vec<ReceivedRequest>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.inner.version.subscribe();
        loop {
            // Mark the current version seen *before* reading, so a change that lands between
            // the snapshot and `changed()` still wakes us.
            changes.borrow_and_update();
            let snapshot = self.snapshot();
            if pred(&snapshot) {
                return Ok(snapshot);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out (or the sender is gone, which cannot happen while `self` lives).
                _ => return Err(self.snapshot()),
            }
        }
    }
}

/// Records the end of a stream: the first end wins, and a `Fault` or `Stopped` outcome is never
/// overwritten.
fn end(request: &mut ReceivedRequest, outcome: Outcome) {
    if request.outcome == Outcome::Streaming {
        request.outcome = outcome;
    }
    if request.ended_us.is_none() {
        request.ended_us = Some(now_us());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: &str) -> ReceivedRequest {
        ReceivedRequest::arriving("/x", prompt.into(), "m".into())
    }

    #[tokio::test]
    async fn wait_for_wakes_on_change_and_times_out() {
        let log = RequestLog::default();
        // The waiter is polled first, sees an empty log and parks; the second future then
        // opens an entry, which must wake it.
        let (seen, (seq, _stop)) = tokio::join!(
            log.wait_for(|r| r.len() == 1, Duration::from_secs(10)),
            async {
                tokio::task::yield_now().await;
                log.open(request("a"), None)
            }
        );
        assert_eq!(seen.unwrap()[0].seq, seq);

        let err = log
            .wait_for(|r| r.len() == 2, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert_eq!(err.len(), 1);
    }

    #[tokio::test]
    async fn first_end_wins_and_stop_raises_the_flag() {
        let log = RequestLog::default();
        let (a, _) = log.open(request("a"), None);
        log.complete(a);
        log.dropped(a);
        let (b, mut stop) = log.open(request("b"), Some("chat".into()));
        assert!(log.stop_session("chat"));
        assert!(!log.stop_session("other"));
        log.complete(b);
        stop.wait_for(|s| *s).await.unwrap();

        let snap = log.snapshot();
        assert_eq!(snap[0].outcome, Outcome::Completed);
        assert_eq!(snap[1].outcome, Outcome::Stopped);
        assert!(snap[1].stop_called && snap[1].ended_us.is_some());

        log.reset();
        assert!(log.snapshot().is_empty());
        let (c, _) = log.open(request("c"), None);
        assert_eq!(c, 3, "sequence numbers keep growing across reset");
    }

    #[test]
    fn the_log_keeps_only_the_newest_entries() {
        let log = RequestLog::default();
        for i in 0..MAX_ENTRIES + 3 {
            log.open(request(&format!("p{i}")), None);
        }
        let snap = log.snapshot();
        assert_eq!(snap.len(), MAX_ENTRIES);
        assert_eq!(snap[0].seq, 4, "the three oldest are forgotten");
        assert_eq!(snap.last().map(|r| r.seq), Some(MAX_ENTRIES as u64 + 3));
    }
}
