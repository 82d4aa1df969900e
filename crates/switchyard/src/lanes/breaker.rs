//! A lane's circuit breaker: a lane that fails request after request is benched, and probed
//! again later.
//!
//! Closed, it counts the outcomes of the lane's requests in a sliding window. It trips (opens)
//! only when the window holds at least [`Policy::min_samples`] outcomes and at least
//! [`Policy::failure_ratio`] of them failed, so one transient error never benches a lane. Open,
//! the lane is offline for a cool-down; then it is half-open: the lane brings its page back and
//! takes one request (the probe). A probe that succeeds closes the breaker; one that fails opens
//! it again for twice the cool-down (up to [`Policy::max_cooldown`]).
//!
//! Pure: the caller passes the time in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When the breaker trips and how long it stays open.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How far back outcomes count.
    pub window: Duration,
    /// The fewest outcomes in the window that can trip the breaker.
    pub min_samples: usize,
    /// The share of failures in the window that trips it.
    pub failure_ratio: f64,
    /// The first cool-down; doubled after each failed probe.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window: Duration::from_secs(120),
            min_samples: 4,
            failure_ratio: 0.75,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Benched for this long (from when it opened).
    Open {
        cooldown: Duration,
    },
    /// The next request is the probe.
    HalfOpen,
}

/// What an outcome did to the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The lane keeps serving.
    Serving,
    /// The breaker opened: the lane goes offline for `cooldown`; `reason` says why.
    Tripped { cooldown: Duration, reason: String },
}

#[derive(Debug)]
pub struct Breaker {
    policy: Policy,
    /// (when, succeeded), oldest first, within the window.
    samples: VecDeque<(Instant, bool)>,
    state: State,
    /// The cool-down the next trip uses.
    next_cooldown: Duration,
}

impl Breaker {
    pub fn new(policy: Policy) -> Breaker {
        Breaker {
            policy,
            samples: VecDeque::new(),
            state: State::Closed,
            next_cooldown: policy.cooldown,
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// Records one request's outcome.
    pub fn record(&mut self, now: Instant, ok: bool) -> Verdict {
        match self.state {
            State::HalfOpen if ok => {
                self.state = State::Closed;
                self.samples.clear();
                self.next_cooldown = self.policy.cooldown;
                Verdict::Serving
            }
            State::HalfOpen => self.trip("the probe request after a cool-down failed".into()),
            // An outcome that lands while open (a request that was already running) is moot.
            State::Open { .. } => Verdict::Serving,
            State::Closed => {
                self.samples.push_back((now, ok));
                while self
                    .samples
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > self.policy.window)
                {
                    self.samples.pop_front();
                }
                let total = self.samples.len();
                let failed = self.samples.iter().filter(|(_, ok)| !ok).count();
                if total >= self.policy.min_samples
                    && failed as f64 >= self.policy.failure_ratio * total as f64
                {
                    self.trip(format!(
                        "{failed} of its last {total} requests failed within {}s",
                        self.policy.window.as_secs()
                    ))
                } else {
                    Verdict::Serving
                }
            }
        }
    }

    /// The cool-down is over: the next request is the probe.
    pub fn half_open(&mut self) {
        if matches!(self.state, State::Open { .. }) {
            self.state = State::HalfOpen;
        }
    }

    /// The lane could not even get ready for its probe: open again, for longer.
    pub fn probe_failed(&mut self) -> Duration {
        match self.trip(String::new()) {
            Verdict::Tripped { cooldown, .. } => cooldown,
            Verdict::Serving => self.policy.cooldown,
        }
    }

    fn trip(&mut self, reason: String) -> Verdict {
        let cooldown = self.next_cooldown;
        self.next_cooldown = (cooldown * 2).min(self.policy.max_cooldown);
        self.state = State::Open { cooldown };
        self.samples.clear();
        Verdict::Tripped { cooldown, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            window: Duration::from_secs(60),
            min_samples: 4,
            failure_ratio: 0.75,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(30),
        }
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn one_transient_error_never_trips_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        assert_eq!(b.record(t0, false), Verdict::Serving);
        for s in 1..20 {
            assert_eq!(b.record(at(t0, s), true), Verdict::Serving);
        }
        // Even three failures in a row are below the minimum sample count on a fresh lane.
        let mut b = Breaker::new(policy());
        for s in 0..3 {
            assert_eq!(b.record(at(t0, s), false), Verdict::Serving);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_lane_failing_every_request_trips_after_the_minimum_samples() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for s in 0..3 {
            assert_eq!(b.record(at(t0, s), false), Verdict::Serving);
        }
        let Verdict::Tripped { cooldown, reason } = b.record(at(t0, 3), false) else {
            panic!("the fourth failure trips it");
        };
        assert_eq!(cooldown, Duration::from_secs(10));
        assert_eq!(reason, "4 of its last 4 requests failed within 60s");
        assert_eq!(
            b.state(),
            State::Open {
                cooldown: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn old_failures_leave_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for s in 0..3 {
            b.record(at(t0, s), false);
        }
        // Two minutes later the old failures no longer count.
        assert_eq!(b.record(at(t0, 120), false), Verdict::Serving);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn the_half_open_probe_closes_it_or_opens_it_for_longer() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for s in 0..4 {
            b.record(at(t0, s), false);
        }
        b.half_open();
        assert_eq!(b.state(), State::HalfOpen);
        let Verdict::Tripped { cooldown, .. } = b.record(at(t0, 20), false) else {
            panic!("a failed probe opens it again");
        };
        assert_eq!(cooldown, Duration::from_secs(20));
        assert_eq!(b.probe_failed(), Duration::from_secs(30), "capped");
        b.half_open();
        assert_eq!(b.record(at(t0, 90), true), Verdict::Serving);
        assert_eq!(b.state(), State::Closed);
        // Closed again with a clean slate and the first cool-down.
        for s in 0..3 {
            assert_eq!(b.record(at(t0, 91 + s), false), Verdict::Serving);
        }
        assert!(matches!(
            b.record(at(t0, 95), false),
            Verdict::Tripped { cooldown, .. } if cooldown == Duration::from_secs(10)
        ));
    }
}
