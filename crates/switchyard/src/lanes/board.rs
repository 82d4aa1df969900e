//! The lane board: what each lane is doing, for `GET /api/lanes` and the startup report.
//!
//! Each lane task writes only its own row; the API only reads. A plain mutex is enough: writes are
//! a few per request and never held across an await.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::ids::{LaneId, RequestId};

/// A lane's life, as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum LaneState {
    Starting,
    Ready,
    Busy,
    /// Reloading its page after a renderer crash.
    Recovering,
    /// Out of service, with the reason.
    Down(String),
    /// Never started, with the reason.
    Failed(String),
}

/// One row of the board.
#[derive(Debug, Clone, Serialize)]
pub struct LaneRecord {
    pub id: LaneId,
    pub label: String,
    pub provider: &'static str,
    #[serde(flatten)]
    pub state: LaneState,
    pub browser_pid: Option<u32>,
    pub current_request: Option<RequestId>,
    pub requests_served: u64,
    /// The error of the lane's last failed request.
    pub last_error: Option<String>,
    /// The folder of that failure's bundle (screenshot, HTML, frames, log lines).
    pub last_failure_bundle: Option<String>,
}

/// Shared lane board. Cheap to clone.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Vec<LaneRecord>>>);

impl Board {
    fn rows(&self) -> MutexGuard<'_, Vec<LaneRecord>> {
        // A panic while holding this lock cannot leave a row half-written in a harmful way.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a row, or replaces the row with the same id.
    pub fn insert(&self, record: LaneRecord) {
        let mut rows = self.rows();
        match rows.iter_mut().find(|r| r.id == record.id) {
            Some(row) => *row = record,
            None => rows.push(record),
        }
    }

    fn with_row(&self, id: &LaneId, f: impl FnOnce(&mut LaneRecord)) {
        if let Some(r) = self.rows().iter_mut().find(|r| &r.id == id) {
            f(r);
        }
    }

    pub fn set_state(&self, id: &LaneId, state: LaneState) {
        self.with_row(id, |r| r.state = state);
    }

    pub fn set_pid(&self, id: &LaneId, pid: Option<u32>) {
        self.with_row(id, |r| r.browser_pid = pid);
    }

    pub fn start_request(&self, id: &LaneId, request: &RequestId) {
        self.with_row(id, |r| {
            r.state = LaneState::Busy;
            r.current_request = Some(request.clone());
        });
    }

    pub fn finish_request(&self, id: &LaneId) {
        self.with_row(id, |r| {
            if r.state == LaneState::Busy {
                r.state = LaneState::Ready;
            }
            r.current_request = None;
            r.requests_served += 1;
        });
    }

    /// Records a failed request: its error and its failure bundle's folder.
    pub fn set_failure(&self, id: &LaneId, error: &str, bundle: Option<String>) {
        self.with_row(id, |r| {
            r.last_error = Some(error.to_owned());
            r.last_failure_bundle = bundle;
        });
    }

    /// All rows, in start order.
    pub fn snapshot(&self) -> Vec<LaneRecord> {
        self.rows().clone()
    }
}
