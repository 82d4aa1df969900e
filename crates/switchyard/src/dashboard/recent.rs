//! The recent requests: a bounded ring of what each finished request did, for the dashboard.
//!
//! `api::chat` makes one [`Tracker`] per queued request and moves it with the answer; the
//! tracker records one [`Finished`] row when it is dropped (the answer's end, or the client
//! gone), so every way a request can end leaves exactly one row. The ring keeps the last
//! [`RECENT_CAPACITY`] rows; a `watch` counter tells the dashboard's event stream a row came.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;

/// How many finished requests the dashboard shows.
pub const RECENT_CAPACITY: usize = 200;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The answer ended normally.
    Ok,
    /// The lane, the site or the gateway failed it (the client got an error).
    Error,
    /// The client went away, or a control stopped it, before it ended.
    Cancelled,
}

/// One finished request.
#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub id: String,
    pub provider: &'static str,
    pub model: String,
    pub key_name: Option<String>,
    pub stream: bool,
    pub outcome: Outcome,
    /// The error the client got, for [`Outcome::Error`].
    pub error: Option<String>,
    /// From arrival to the first answer text or thinking; `None` if none came.
    pub first_content_ms: Option<u64>,
    pub duration_ms: u64,
    /// Bytes of the answer sent to the client (SSE frames, or the JSON body).
    pub bytes: u64,
    /// When it ended, in Unix seconds.
    pub ended_at: u64,
}

/// The ring of finished requests. Shared through `Arc`.
#[derive(Debug)]
pub struct Recent {
    rows: Mutex<VecDeque<Finished>>,
    changed: watch::Sender<u64>,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent {
            rows: Mutex::new(VecDeque::with_capacity(RECENT_CAPACITY)),
            changed: watch::channel(0).0,
        }
    }
}

impl Recent {
    /// Adds a row, dropping the oldest beyond [`RECENT_CAPACITY`].
    pub fn push(&self, row: Finished) {
        {
            let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
            if rows.len() == RECENT_CAPACITY {
                rows.pop_front();
            }
            rows.push_back(row);
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The rows, newest first.
    pub fn list(&self) -> Vec<Finished> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.iter().rev().cloned().collect()
    }

    /// A receiver that sees every new row.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Follows one request from its admission to its end; records its row when dropped.
#[derive(Debug)]
pub struct Tracker {
    recent: Arc<Recent>,
    row: Finished,
    arrived: Instant,
    first_content: Option<Instant>,
    outcome: Option<Outcome>,
}

impl Tracker {
    pub fn new(
        recent: Arc<Recent>,
        arrived: Instant,
        id: String,
        provider: &'static str,
        model: String,
        key_name: Option<String>,
        stream: bool,
    ) -> Tracker {
        Tracker {
            recent,
            row: Finished {
                id,
                provider,
                model,
                key_name,
                stream,
                outcome: Outcome::Cancelled,
                error: None,
                first_content_ms: None,
                duration_ms: 0,
                bytes: 0,
                ended_at: 0,
            },
            arrived,
            first_content: None,
            outcome: None,
        }
    }

    /// Answer text or thinking arrived (the first one counts).
    pub fn content(&mut self) {
        self.first_content.get_or_insert_with(Instant::now);
    }

    /// `n` bytes went to the client.
    pub fn sent(&mut self, n: usize) {
        self.row.bytes += n as u64;
    }

    /// The request ended normally (unless an error was already noted).
    pub fn ok(&mut self) {
        self.outcome.get_or_insert(Outcome::Ok);
    }

    /// The request failed with `message` (the first outcome noted counts).
    pub fn error(&mut self, message: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Error);
            self.row.error = Some(message.to_owned());
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let mut row = std::mem::replace(
            &mut self.row,
            Finished {
                id: String::new(),
                provider: "",
                model: String::new(),
                key_name: None,
                stream: false,
                outcome: Outcome::Cancelled,
                error: None,
                first_content_ms: None,
                duration_ms: 0,
                bytes: 0,
                ended_at: 0,
            },
        );
        row.outcome = self.outcome.unwrap_or(Outcome::Cancelled);
        row.duration_ms = millis(self.arrived.elapsed());
        row.first_content_ms = self
            .first_content
            .map(|t| millis(t.saturating_duration_since(self.arrived)));
        row.ended_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.recent.push(row);
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(recent: &Arc<Recent>, id: &str) -> Tracker {
        Tracker::new(
            recent.clone(),
            Instant::now(),
            id.to_owned(),
            "deepseek",
            "deepseek-chat".to_owned(),
            None,
            true,
        )
    }

    #[test]
    fn every_tracker_leaves_one_row_with_its_outcome() {
        let recent = Arc::new(Recent::default());
        let mut a = tracker(&recent, "a");
        a.content();
        a.sent(10);
        a.sent(5);
        a.ok();
        drop(a);
        let mut b = tracker(&recent, "b");
        b.error("DeepSeek timeout");
        b.ok();
        drop(b);
        drop(tracker(&recent, "c"));
        let rows = recent.list();
        let got: Vec<_> = rows.iter().map(|r| (r.id.as_str(), r.outcome)).collect();
        assert_eq!(
            got,
            [
                ("c", Outcome::Cancelled),
                ("b", Outcome::Error),
                ("a", Outcome::Ok)
            ]
        );
        assert_eq!(rows[2].bytes, 15);
        assert!(rows[2].first_content_ms.is_some());
        assert_eq!(rows[1].first_content_ms, None);
        assert_eq!(rows[1].error.as_deref(), Some("DeepSeek timeout"));
    }

    #[test]
    fn the_ring_keeps_the_newest_rows() {
        let recent = Arc::new(Recent::default());
        let seen = recent.changes();
        for i in 0..RECENT_CAPACITY + 5 {
            drop(tracker(&recent, &i.to_string()));
        }
        let rows = recent.list();
        assert_eq!(rows.len(), RECENT_CAPACITY);
        assert_eq!(rows[0].id, (RECENT_CAPACITY + 4).to_string());
        assert_eq!(rows[RECENT_CAPACITY - 1].id, "5");
        assert!(seen.has_changed().unwrap());
    }
}
