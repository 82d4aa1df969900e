//! What a lane saves for a person to look at: capture files and failure bundles.
//!
//! Every request's capture events pass through a [`Tape`] on their way to the decoder. The tape
//! keeps the request's URL, headers, status and timings, a bounded ring of the last raw frames,
//! and (only when `[capture] dir` is set) the whole body. At the end of the request the lane
//! writes a **capture file** from it (`<capture.dir>/<provider>/<time>-<request id>.bin`, the raw
//! body exactly as the site sent it, with a `.json` beside it), and, when the request failed, a
//! **failure bundle** (`<failures.dir>/<time>-<lane>/`: screenshot, page HTML, the last frames,
//! the lane's recent log lines). Credentials never reach either ([`redact`]).
//!
//! Writing happens in a task of its own, so a slow or full disk never stalls a lane; a failed
//! write is a log line.

pub mod files;
pub mod redact;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::browser::capture::CaptureEvent;
use crate::config::{CaptureFiles, Failures};

/// What a lane saves, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub capture: CaptureFiles,
    pub failures: Failures,
}

/// Raw frames a tape keeps for a failure bundle (the last ones).
pub const MAX_FRAMES: usize = 64;
/// Bytes of raw frames a tape keeps for a failure bundle.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Log lines a lane keeps for its failure bundles.
pub const LOG_LINES: usize = 100;

/// One chunk of the site's body as the capture delivered it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Since the request reached the lane.
    pub at: Duration,
    pub bytes: Vec<u8>,
}

/// What one request's capture carried, recorded on the way to the decoder.
#[derive(Debug)]
pub struct Tape {
    began: Instant,
    /// Wall clock when the request reached the lane.
    pub began_at: SystemTime,
    pub method: String,
    pub url: Option<String>,
    pub request_headers: Vec<(String, String)>,
    pub status: Option<i64>,
    pub response_headers: Vec<(String, String)>,
    sent: Option<Duration>,
    response: Option<Duration>,
    first_byte: Option<Duration>,
    end: Option<Duration>,
    /// How the body ended: `finished`, `failed: …`, `crashed`; `None` while open.
    pub ending: Option<String>,
    /// The whole body, when capture files are on.
    body: Option<Vec<u8>>,
    body_len: usize,
    chunks: usize,
    frames: VecDeque<Frame>,
    frame_bytes: usize,
}

impl Tape {
    /// A tape for a request starting now; `keep_body` keeps the whole body (capture files on).
    pub fn new(keep_body: bool) -> Tape {
        Tape {
            began: Instant::now(),
            began_at: SystemTime::now(),
            method: "POST".to_owned(),
            url: None,
            request_headers: Vec::new(),
            status: None,
            response_headers: Vec::new(),
            sent: None,
            response: None,
            first_byte: None,
            end: None,
            ending: None,
            body: keep_body.then(Vec::new),
            body_len: 0,
            chunks: 0,
            frames: VecDeque::new(),
            frame_bytes: 0,
        }
    }

    /// Records one capture event.
    pub fn record(&mut self, event: &CaptureEvent) {
        let at = self.began.elapsed();
        match event {
            CaptureEvent::Sent { url, headers } => {
                self.sent = Some(at);
                self.url = Some(url.clone());
                self.request_headers = headers.clone();
            }
            CaptureEvent::Response { status, headers } => {
                self.response = Some(at);
                self.status = Some(*status);
                self.response_headers = headers.clone();
            }
            CaptureEvent::Data(bytes) => {
                self.first_byte.get_or_insert(at);
                self.chunks += 1;
                self.body_len += bytes.len();
                if let Some(body) = &mut self.body {
                    body.extend_from_slice(bytes);
                }
                self.frame_bytes += bytes.len();
                self.frames.push_back(Frame {
                    at,
                    bytes: bytes.clone(),
                });
                while self.frames.len() > MAX_FRAMES
                    || (self.frame_bytes > MAX_FRAME_BYTES && self.frames.len() > 1)
                {
                    if let Some(old) = self.frames.pop_front() {
                        self.frame_bytes -= old.bytes.len();
                    }
                }
            }
            CaptureEvent::Finished => self.close(at, "finished".to_owned()),
            CaptureEvent::Failed { error, canceled } => self.close(
                at,
                if *canceled {
                    format!("aborted: {error}")
                } else {
                    format!("failed: {error}")
                },
            ),
            CaptureEvent::Crashed => self.close(at, "crashed".to_owned()),
        }
    }

    fn close(&mut self, at: Duration, ending: String) {
        if self.ending.is_none() {
            self.end = Some(at);
            self.ending = Some(ending);
        }
    }

    /// Whether a request was claimed (there is something to save).
    pub fn claimed(&self) -> bool {
        self.url.is_some()
    }

    /// Whether the page's renderer crashed during the request.
    pub fn crashed(&self) -> bool {
        self.ending.as_deref() == Some("crashed")
    }

    /// The whole body (empty unless the tape kept it).
    pub fn body(&self) -> &[u8] {
        self.body.as_deref().unwrap_or_default()
    }

    /// Takes the whole body out of the tape (for writing it).
    pub fn take_body(&mut self) -> Vec<u8> {
        self.body.take().unwrap_or_default()
    }

    /// The last frames, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter()
    }

    /// Credential values seen in this request's headers and URL, for scrubbing free text.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = self.request_headers.clone();
        all.extend(self.response_headers.iter().cloned());
        redact::secrets(&all, self.url.as_deref())
    }

    /// The redacted description of the request: URL, status, headers, timings, sizes.
    pub fn describe(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        json!({
            "started_at": rfc3339(self.began_at),
            "method": self.method,
            "url": self.url.as_deref().map(redact::url),
            "request_headers": header_map(&redact::headers(&self.request_headers)),
            "status": self.status,
            "response_headers": header_map(&redact::headers(&self.response_headers)),
            "body_bytes": self.body_len,
            "chunks": self.chunks,
            "ending": self.ending,
            "timings_ms": {
                "sent": ms(self.sent),
                "response": ms(self.response),
                "first_byte": ms(self.first_byte),
                "end": ms(self.end),
            },
        })
    }
}

/// Headers as a JSON object (lower-case names; repeated headers joined with `, `).
fn header_map(headers: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match map.get_mut(&name) {
            Some(Value::String(v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            _ => {
                map.insert(name, Value::String(value.clone()));
            }
        }
    }
    Value::Object(map)
}

/// A lane's own recent log lines, for its failure bundles. Never held across an await.
#[derive(Debug, Default)]
pub struct LaneLog(Mutex<VecDeque<String>>);

impl LaneLog {
    /// Appends a line, stamped with the time.
    pub fn push(&self, line: impl AsRef<str>) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.push_back(format!("{} {}", rfc3339(SystemTime::now()), line.as_ref()));
        while lines.len() > LOG_LINES {
            lines.pop_front();
        }
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// UTC civil date and time of `t`: (year, month, day, hour, minute, second, millisecond).
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let n = |v: i64| u32::try_from(v).unwrap_or(0);
    (
        year,
        n(month),
        n(day),
        n(rem / 3600),
        n(rem % 3600 / 60),
        n(rem % 60),
        d.subsec_millis(),
    )
}

/// `2026-12-01T09:05:12.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// `20261201T090512.123Z`: sorts by time and is a safe file name everywhere.
pub fn file_stamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_civil_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_115_912_123);
        assert_eq!(rfc3339(t), "2026-12-01T09:05:12.123Z");
        assert_eq!(file_stamp(t), "20261201T090512.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_tape_keeps_the_body_and_a_bounded_ring_of_frames() {
        let mut tape = Tape::new(true);
        tape.record(&CaptureEvent::Sent {
            url: "http://h/api?token=secret-tok".into(),
            headers: vec![("Cookie".into(), "s=abcdefgh1234".into())],
        });
        tape.record(&CaptureEvent::Response {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
        });
        for i in 0..(MAX_FRAMES + 5) {
            tape.record(&CaptureEvent::Data(vec![b'a' + (i % 26) as u8]));
        }
        tape.record(&CaptureEvent::Finished);
        tape.record(&CaptureEvent::Crashed);
        assert_eq!(tape.body().len(), MAX_FRAMES + 5);
        assert_eq!(tape.frames().count(), MAX_FRAMES);
        assert_eq!(tape.frames().next().unwrap().bytes, b"f");
        assert_eq!(
            tape.ending.as_deref(),
            Some("finished"),
            "the first end counts"
        );
        let d = tape.describe();
        assert_eq!(d["status"], 200);
        assert_eq!(d["url"], "http://h/api?token=<redacted>");
        assert_eq!(d["request_headers"]["cookie"], "<redacted>");
        assert_eq!(d["response_headers"]["content-type"], "text/event-stream");
        assert_eq!(d["chunks"], MAX_FRAMES + 5);
        assert!(tape.secrets().contains(&"abcdefgh1234".to_owned()));
        assert!(tape.secrets().contains(&"secret-tok".to_owned()));
    }

    #[test]
    fn a_tape_without_capture_files_keeps_no_body_and_bounded_frame_bytes() {
        let mut tape = Tape::new(false);
        for _ in 0..10 {
            tape.record(&CaptureEvent::Data(vec![0; MAX_FRAME_BYTES / 4]));
        }
        assert!(tape.body().is_empty());
        let kept: usize = tape.frames().map(|f| f.bytes.len()).sum();
        assert!(kept <= MAX_FRAME_BYTES, "{kept}");
    }

    #[test]
    fn the_lane_log_keeps_the_last_lines() {
        let log = LaneLog::default();
        for i in 0..(LOG_LINES + 3) {
            log.push(format!("line {i}"));
        }
        let lines = log.lines();
        assert_eq!(lines.len(), LOG_LINES);
        assert!(lines[0].ends_with(" line 3"), "{}", lines[0]);
    }
}
