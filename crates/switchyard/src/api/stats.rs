//! The gateway's own overhead per request, kept in memory and shown at `GET /api/stats`.
//!
//! **Overhead** = total time − lane time, for every request a lane took and whose answer
//! reached its end (complete, failed, or cut by the request's own limits; a client that went
//! away leaves no sample):
//! - **total** runs from [`Arrived`] to the end of the answer: for a stream, when the body
//!   yields its last frame (`data: [DONE]`) to hyper; for a non-streaming reply, when its JSON
//!   is built. The clock starts in the outermost service layer, before path normalisation, the
//!   guard, the body read and routing: the moment hyper hands over a parsed request head. That
//!   is as close to the socket as axum lets a handler see; for a new connection the TCP accept
//!   and the head's parse come before it, and on a kept-alive connection there is no accept.
//! - **lane time** runs from the lane taking the job ([`LaneClock`]) to the lane's last event
//!   as the API receives it.
//!
//! So the overhead holds parsing, the guard, routing, shaping, admission, the wait in the queue
//! (zero only while a lane is free), the dispatch to the lane, and the closing frames. Samples
//! go into a fixed-bucket [`Histogram`] (log-linear, 1/16 relative precision). The same samples,
//! with the lane time and the first content, go to `/metrics` ([`crate::metrics`]) by provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::metrics::{Outcome, RequestMetrics};
use crate::providers::StreamEvent;
use crate::scheduler::LaneClock;

/// When the request's head reached the API (a request extension set before routing).
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub Instant);

/// The gateway's in-memory figures.
#[derive(Debug, Default)]
pub struct Stats {
    overhead: Mutex<Histogram>,
    dispatch: Mutex<Histogram>,
}

impl Stats {
    pub fn record_overhead(&self, d: Duration) {
        self.overhead
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(d);
    }

    pub fn record_dispatch(&self, d: Duration) {
        self.dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(d);
    }

    /// A copy of the overhead histogram.
    pub fn overhead(&self) -> Histogram {
        self.overhead
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A copy of the dispatch histogram (submitted to the queue → a lane took it).
    pub fn dispatch(&self) -> Histogram {
        self.dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `GET /api/stats`.
    pub fn to_json(&self) -> Value {
        json!({
            "overhead": self.overhead().summary(),
            "dispatch": self.dispatch().summary(),
            "dispatch_note": "per request a lane took: from its submission to the queue to the \
                lane taking it (the scheduler's hop and the inbox, plus any wait for a free lane)",
            "overhead_note": "per request: total time (from the request head reaching the API \
                to the answer's last frame) minus lane time (from the lane taking the job to its \
                last event); includes the wait in the queue",
        })
    }
}

/// One request's clocks, from arrival to the end of its answer.
pub struct Timing {
    arrived: Instant,
    submitted: Option<Instant>,
    lane: LaneClock,
    last_event: Option<Instant>,
    stats: Arc<Stats>,
    recorded: bool,
    /// The same request's `/metrics` figures (its outcome is counted when `Timing` drops);
    /// `None` in unit tests.
    metrics: Option<RequestMetrics>,
}

impl Timing {
    pub fn new(arrived: Instant, lane: LaneClock, stats: Arc<Stats>) -> Timing {
        Timing {
            arrived,
            submitted: None,
            lane,
            last_event: None,
            stats,
            recorded: false,
            metrics: None,
        }
    }

    /// Also feeds the request's `/metrics` figures.
    pub fn with_metrics(mut self, metrics: RequestMetrics) -> Timing {
        self.metrics = Some(metrics);
        self
    }

    /// How the request ended, where no event says so (a refusal, an error reply).
    pub fn ended(&mut self, outcome: Outcome) {
        if let Some(m) = &mut self.metrics {
            m.ended(outcome);
        }
    }

    /// The request goes to the queue now.
    pub fn submitted(&mut self) {
        self.submitted = Some(Instant::now());
    }

    /// An event from the lane arrived (`None`: the lane dropped the request without an end).
    pub fn event(&mut self, event: Option<&StreamEvent>) {
        self.last_event = Some(Instant::now());
        if let Some(m) = &mut self.metrics {
            m.event(event);
        }
    }

    /// The answer's end: records the overhead once, if a lane took the request.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let (Some(taken), Some(last)) = (self.lane.taken(), self.last_event) else {
            return;
        };
        let total = self.arrived.elapsed();
        let lane = last.saturating_duration_since(taken);
        let overhead = total.saturating_sub(lane);
        self.stats.record_overhead(overhead);
        let dispatch = self
            .submitted
            .map(|submitted| taken.saturating_duration_since(submitted));
        if let Some(dispatch) = dispatch {
            self.stats.record_dispatch(dispatch);
        }
        if let Some(m) = &self.metrics {
            m.timed(dispatch, lane, overhead);
        }
    }
}

/// Sub-buckets per power of two: values are kept within 1/16 of their size.
const SUB: u32 = 16;
/// Powers of two covered (µs): up to 2^40 µs, about 12 days.
const OCTAVES: u32 = 40;

/// A fixed-bucket latency histogram in microseconds: exact below 16 µs, then 16 buckets per
/// power of two.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; (SUB + (OCTAVES - 4) * SUB) as usize],
            count: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < u64::from(SUB) {
            return us as usize;
        }
        let octave = 63 - us.leading_zeros(); // >= 4
        let sub = (us >> (octave - 4)) & u64::from(SUB - 1);
        let i = SUB + (octave - 4) * SUB + sub as u32;
        (i as usize).min((SUB + (OCTAVES - 4) * SUB) as usize - 1)
    }

    /// The smallest value of bucket `i`.
    fn low(i: usize) -> u64 {
        let i = i as u64;
        let sub = u64::from(SUB);
        if i < sub {
            return i;
        }
        let octave = (i - sub) / sub + 4;
        let within = (i - sub) % sub;
        (1 << octave) + (within << (octave - 4))
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.count += 1;
        self.sum_us += u128::from(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1), in µs: the low end of its bucket (never above the
    /// largest sample). `None` without samples.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::low(i).clamp(self.min_us, self.max_us));
            }
        }
        Some(self.max_us)
    }

    /// Count, mean, p50/p90/p99 and max, each key naming its unit.
    pub fn summary(&self) -> Value {
        let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
        json!({
            "count": self.count,
            "mean_ms": (self.count > 0).then(|| self.sum_us as f64 / self.count as f64 / 1000.0),
            "p50_ms": ms(self.quantile_us(0.5)),
            "p90_ms": ms(self.quantile_us(0.9)),
            "p99_ms": ms(self.quantile_us(0.99)),
            "max_ms": ms((self.count > 0).then_some(self.max_us)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_values_within_a_sixteenth() {
        for us in [
            0u64, 1, 15, 16, 17, 31, 32, 100, 999, 1000, 12_345, 5_000_000,
        ] {
            let low = Histogram::low(Histogram::index(us));
            assert!(low <= us, "{us}: {low}");
            assert!(us - low <= us / 16, "{us}: {low}");
        }
        assert!(Histogram::index(u64::MAX) < Histogram::default().counts.len());
    }

    #[test]
    fn quantiles_of_known_samples() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_us(0.5), None);
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile_us(0.5).unwrap();
        assert!((470..=500).contains(&p50), "{p50}");
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((930..=990).contains(&p99), "{p99}");
        assert_eq!(
            h.quantile_us(1.0),
            Some(992),
            "the low end of the top bucket"
        );
        assert_eq!(h.summary()["max_ms"], json!(1.0));
    }

    #[test]
    fn a_request_no_lane_took_leaves_no_sample() {
        let stats = Arc::new(Stats::default());
        let mut t = Timing::new(Instant::now(), LaneClock::default(), stats.clone());
        t.event(None);
        t.finish();
        assert_eq!(stats.overhead().count(), 0);
        let clock = LaneClock::default();
        clock.take();
        let mut t = Timing::new(Instant::now(), clock, stats.clone());
        t.event(None);
        t.submitted();
        t.finish();
        t.finish();
        assert_eq!(stats.overhead().count(), 1, "recorded once");
        assert_eq!(stats.dispatch().count(), 1);
    }
}
