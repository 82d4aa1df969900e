//! The lane board: what each lane is doing, for `GET /api/lanes` and the startup report.
//!
//! A lane's `state`, `current_request` and `requests_served` have one writer: the scheduler task,
//! which copies them from its own lane table ([`crate::scheduler::core::Core`]) after every
//! change, so the board and the scheduler never disagree. The lane's supervisor writes only the
//! descriptive fields of its own row (browser pid, restarts, last error, failure bundle), and
//! `Starting` / `Failed` before the lane is handed to the scheduler. The API only reads. A plain
//! mutex is enough: writes are a few per request and never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::supervisor::Control;

use crate::ids::{LaneId, RequestId};

/// A lane's life, as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum LaneState {
    /// Opening its page for the first time.
    Starting,
    /// Free to take a request.
    Ready,
    /// Running a request.
    Busy,
    /// Bringing its page or browser back (reload, new context, relaunch), with the reason;
    /// never picked.
    Recovering(String),
    /// Out of service, with the reason: its breaker tripped, or recovery keeps failing. It
    /// keeps trying to come back (a half-open probe, or the next recovery attempt).
    Offline(String),
    /// Never started, with the reason.
    Failed(String),
    /// Removed by a config reload: takes no new request, finishes the one it runs, then its
    /// row goes.
    Stopping(String),
}

impl LaneState {
    /// The state's name as `/api/lanes` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            LaneState::Starting => "starting",
            LaneState::Ready => "ready",
            LaneState::Busy => "busy",
            LaneState::Recovering(_) => "recovering",
            LaneState::Offline(_) => "offline",
            LaneState::Failed(_) => "failed",
            LaneState::Stopping(_) => "stopping",
        }
    }
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
    /// The remote browser the lane lives on (`browser.endpoints`), credentials redacted.
    pub endpoint: Option<String>,
    /// The lane's proxy (`providers.<p>.proxy`), its credentials redacted.
    pub proxy: Option<String>,
    /// The email of the saved account the lane holds; `None` for a manual lane.
    pub account: Option<String>,
    pub current_request: Option<RequestId>,
    pub requests_served: u64,
    /// How often the lane was brought back (page reloaded, new context, browser relaunched).
    pub restarts: u32,
    /// The error of the lane's last failed request.
    pub last_error: Option<String>,
    /// The folder of that failure's bundle (screenshot, HTML, frames, log lines).
    pub last_failure_bundle: Option<String>,
    /// The lane's next chat: prepared while idle (`super::warm`); written by its supervisor.
    pub next_chat: super::warm::NextChat,
    /// How often the lane's renderer collected its garbage while the lane was idle
    /// (`super::purge`); written by its supervisor.
    pub purges: u64,
    /// How often the lane reloaded its page while idle, after `providers.<p>.refresh_every`
    /// requests on it (`super::purge`); written by its supervisor.
    pub refreshes: u64,
}

impl LaneRecord {
    /// A lane's first row: its identity and state, no browser, request or history yet.
    pub fn new(id: LaneId, label: String, provider: &'static str, state: LaneState) -> LaneRecord {
        LaneRecord {
            id,
            label,
            provider,
            state,
            browser_pid: None,
            endpoint: None,
            proxy: None,
            account: None,
            current_request: None,
            requests_served: 0,
            restarts: 0,
            last_error: None,
            last_failure_bundle: None,
            next_chat: super::warm::NextChat::None,
            purges: 0,
            refreshes: 0,
        }
    }
}

/// Shared lane board. Cheap to clone.
#[derive(Clone, Default)]
pub struct Board {
    rows: Arc<Mutex<Vec<LaneRecord>>>,
    /// Each running lane's fault-injection handle (its supervisor's control channel).
    controls: Arc<Mutex<HashMap<LaneId, mpsc::Sender<Control>>>>,
    /// Counts the board's changes (every write, including the scheduler's copy after each
    /// queue change); the dashboard's event stream waits on it instead of polling.
    changed: Arc<watch::Sender<u64>>,
    /// Each running lane's page as a screencast source (the dashboard's live view), set by
    /// its supervisor whenever the lane comes up on a page.
    screens: Arc<Mutex<HashMap<LaneId, crate::browser::Screen>>>,
}

impl Board {
    fn rows(&self) -> MutexGuard<'_, Vec<LaneRecord>> {
        // A panic while holding this lock cannot leave a row half-written in a harmful way.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Says that the board (or the queue behind it) changed.
    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Says that something the board's readers show beside it changed (the dashboard's
    /// settings after a reload that kept every lane), so they look again.
    pub fn touch(&self) {
        self.bump();
    }

    /// A receiver that sees every change of the board and of the queue (the scheduler copies
    /// its lane table onto the board after each queue change).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Registers the control channel of a lane's supervisor.
    pub fn set_control(&self, id: &LaneId, control: mpsc::Sender<Control>) {
        self.controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), control);
    }

    /// The control channel of a lane's supervisor, if the lane runs.
    pub fn control(&self, id: &LaneId) -> Option<mpsc::Sender<Control>> {
        self.controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Records the page a lane now runs on, for its live view.
    pub fn set_screen(&self, id: &LaneId, screen: crate::browser::Screen) {
        self.screens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), screen);
    }

    /// The lane's page as a screencast source, if it runs on one.
    pub fn screen(&self, id: &LaneId) -> Option<crate::browser::Screen> {
        self.screens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Adds a row, or replaces the row with the same id.
    pub fn insert(&self, record: LaneRecord) {
        let mut rows = self.rows();
        match rows.iter_mut().find(|r| r.id == record.id) {
            Some(row) => *row = record,
            None => rows.push(record),
        }
        drop(rows);
        self.bump();
    }

    fn with_row(&self, id: &LaneId, f: impl FnOnce(&mut LaneRecord)) {
        if let Some(r) = self.rows().iter_mut().find(|r| &r.id == id) {
            f(r);
        }
        self.bump();
    }

    pub fn set_state(&self, id: &LaneId, state: LaneState) {
        self.with_row(id, |r| r.state = state);
    }

    pub fn set_pid(&self, id: &LaneId, pid: Option<u32>) {
        self.with_row(id, |r| r.browser_pid = pid);
    }

    /// The saved account the lane holds now (`None`: manual).
    pub fn set_account(&self, id: &LaneId, email: Option<&str>) {
        self.with_row(id, |r| r.account = email.map(str::to_owned));
    }

    /// Records the lane's browser: its pid, or the remote endpoint it lives on.
    pub fn set_browser(&self, id: &LaneId, browser: &crate::browser::Chromium) {
        self.with_row(id, |r| {
            r.browser_pid = browser.pid();
            r.endpoint = browser.endpoint().map(str::to_owned);
        });
    }

    /// Copies the scheduler's lane states onto the board (the scheduler task's job).
    ///
    /// It runs after every scheduler command (thousands a second under load), so it writes
    /// only what differs: rows are found by position first (the board and the scheduler list
    /// lanes in the same order), and a state or request id is cloned only when it changed.
    pub fn sync<'a>(&self, lanes: impl Iterator<Item = crate::scheduler::core::LaneRef<'a>>) {
        let mut rows = self.rows();
        for (i, view) in lanes.enumerate() {
            let at = match rows.get(i) {
                Some(row) if row.id == *view.id => i,
                _ => match rows.iter().position(|r| r.id == *view.id) {
                    Some(at) => at,
                    None => continue,
                },
            };
            let row = &mut rows[at];
            let reason = view.reason.unwrap_or_default();
            let same = match (&row.state, view.state) {
                (LaneState::Busy, "busy") => true,
                (LaneState::Recovering(r), "recovering")
                | (LaneState::Offline(r), "offline")
                | (LaneState::Stopping(r), "stopping") => r == reason,
                (LaneState::Ready, state) => {
                    !matches!(state, "busy" | "recovering" | "offline" | "stopping")
                }
                _ => false,
            };
            if !same {
                row.state = match view.state {
                    "busy" => LaneState::Busy,
                    "recovering" => LaneState::Recovering(reason.to_owned()),
                    "offline" => LaneState::Offline(reason.to_owned()),
                    "stopping" => LaneState::Stopping(reason.to_owned()),
                    _ => LaneState::Ready,
                };
            }
            if row.current_request.as_ref() != view.current_request {
                row.current_request = view.current_request.cloned();
            }
            row.requests_served = view.requests_served;
        }
        drop(rows);
        self.bump();
    }

    /// Counts one recovery of the lane.
    pub fn restarted(&self, id: &LaneId) {
        self.with_row(id, |r| r.restarts += 1);
    }

    /// Counts one idle purge of the lane's page.
    pub fn purged(&self, id: &LaneId) {
        self.with_row(id, |r| r.purges += 1);
    }

    /// Counts one idle reload of the lane's page.
    pub fn refreshed(&self, id: &LaneId) {
        self.with_row(id, |r| r.refreshes += 1);
    }

    /// Shows what the lane's next chat is (prepared, being prepared, none).
    pub fn set_next_chat(&self, id: &LaneId, next: super::warm::NextChat) {
        self.with_row(id, |r| r.next_chat = next);
    }

    /// Records a failed request: its error and its failure bundle's folder.
    pub fn set_failure(&self, id: &LaneId, error: &str, bundle: Option<String>) {
        self.with_row(id, |r| {
            r.last_error = Some(error.to_owned());
            r.last_failure_bundle = bundle;
        });
    }

    /// Forgets a lane that a config reload removed (once it has stopped).
    pub fn remove(&self, id: &LaneId) {
        self.rows().retain(|r| &r.id != id);
        self.controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.screens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.bump();
    }

    /// All rows, in start order.
    pub fn snapshot(&self) -> Vec<LaneRecord> {
        self.rows().clone()
    }
}
