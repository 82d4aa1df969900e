//! The Prometheus metrics behind `GET /metrics`, kept with the `prometheus-client` crate.
//!
//! Counters and histograms are process-wide ([`process`]), as Prometheus clients keep them: they
//! count from the start of the process, and anything that sees an event records it with a plain
//! function call (a lane's supervisor, the API, account rotation), without a handle threaded
//! through. The gauges of the moment (lanes per state, queue depth) are read from the gateway's
//! lane board and scheduler at each scrape ([`render`]), so they never disagree with
//! `/api/lanes` and `/api/queue`.
//!
//! Every label is low-cardinality: `provider` is a provider's prefix (`deepseek`), `model` a model
//! ID the routing table accepted, `outcome`, `state`, `cause` and `step` come from closed lists.
//! README.md lists every metric with its type and labels.
//!
//! The histograms are fed at the points `api::stats` already measures (the overhead and the
//! dispatch), plus the first content and the lane time of the same request clock
//! ([`RequestMetrics`]), so `/metrics` and `/api/stats` describe the same samples.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::models::ProviderKind;
use crate::providers::StreamEvent;

mod expose;

pub use expose::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render, render_openmetrics};

/// How a request ended, the `outcome` label of `switchyard_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The answer reached its end (also when a stop sequence or `max_tokens` cut it).
    Completed,
    /// The site, the lane or the gateway failed it (an error event, or an error reply).
    Failed,
    /// The client went away before the end.
    Cancelled,
    /// Refused before a lane saw it: the queue full (429), no lane up (503), the prompt over
    /// the site's size (413), or the gateway shutting down.
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    provider: &'static str,
    model: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CauseLabels {
    provider: &'static str,
    cause: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StepLabels {
    provider: &'static str,
    step: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    provider: &'static str,
    result: &'static str,
}

type Histograms = Family<ProviderLabel, Histogram, fn() -> Histogram>;

/// Seconds, from 1 ms doubling to about 131 s: covers a dispatch hop and a long answer alike.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The process's counters and histograms. Each family is a cheap handle (an `Arc` inside).
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    queue_wait: Histograms,
    first_content: Histograms,
    relay: Histograms,
    overhead: Histograms,
    lane_crashes: Family<CauseLabels, Counter>,
    lane_recoveries: Family<ResultLabels, Counter>,
    lane_restarts: Family<StepLabels, Counter>,
    account_rotations: Family<ProviderLabel, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    requests: Family::default(),
    queue_wait: Family::new_with_constructor(seconds_histogram),
    first_content: Family::new_with_constructor(seconds_histogram),
    relay: Family::new_with_constructor(seconds_histogram),
    overhead: Family::new_with_constructor(seconds_histogram),
    lane_crashes: Family::default(),
    lane_recoveries: Family::default(),
    lane_restarts: Family::default(),
    account_rotations: Family::default(),
});

/// The process-wide metrics.
pub fn process() -> &'static Metrics {
    &METRICS
}

// === recording ===

fn provider(kind: ProviderKind) -> ProviderLabel {
    ProviderLabel {
        provider: kind.prefix(),
    }
}

/// A request ended: counts it by provider, model and outcome.
pub fn request_ended(kind: ProviderKind, model: &str, outcome: Outcome) {
    process()
        .requests
        .get_or_create(&RequestLabels {
            provider: kind.prefix(),
            model: model.to_owned(),
            outcome: outcome.as_str(),
        })
        .inc();
}

/// A lane broke and starts to recover; `cause` names what broke (`page`, `hung`, `browser`,
/// `panic`, …).
pub fn lane_crashed(kind: ProviderKind, cause: &'static str) {
    process()
        .lane_crashes
        .get_or_create(&CauseLabels {
            provider: kind.prefix(),
            cause,
        })
        .inc();
}

/// One recovery attempt of a lane ended; `ok` says whether the lane is back.
pub fn lane_recovery_attempt(kind: ProviderKind, ok: bool) {
    process()
        .lane_recoveries
        .get_or_create(&ResultLabels {
            provider: kind.prefix(),
            result: if ok { "ok" } else { "failed" },
        })
        .inc();
}

/// A lane was brought back by `step` (`reload`, `new_context`, `relaunch`): the board's
/// `restarts` of that lane went up by one.
pub fn lane_restarted(kind: ProviderKind, step: &'static str) {
    process()
        .lane_restarts
        .get_or_create(&StepLabels {
            provider: kind.prefix(),
            step,
        })
        .inc();
}

/// A lane of `kind` moved to another saved account (issue 15's rotation).
pub fn account_rotated(kind: ProviderKind) {
    process()
        .account_rotations
        .get_or_create(&provider(kind))
        .inc();
}

/// The request metrics of one answer: the first-content time as it happens, and its outcome
/// when dropped (a request dropped before its end was given up by its client).
#[derive(Debug)]
pub struct RequestMetrics {
    kind: ProviderKind,
    model: String,
    arrived: Instant,
    first_content: bool,
    outcome: Option<Outcome>,
}

impl RequestMetrics {
    pub fn new(kind: ProviderKind, model: &str, arrived: Instant) -> RequestMetrics {
        RequestMetrics {
            kind,
            model: model.to_owned(),
            arrived,
            first_content: false,
            outcome: None,
        }
    }

    /// An event from the lane reached the API.
    pub fn event(&mut self, event: Option<&StreamEvent>) {
        match event {
            Some(StreamEvent::Text(_) | StreamEvent::Reasoning(_)) if !self.first_content => {
                self.first_content = true;
                process()
                    .first_content
                    .get_or_create(&provider(self.kind))
                    .observe(self.arrived.elapsed().as_secs_f64());
            }
            Some(StreamEvent::Finished(_)) => {
                self.outcome.get_or_insert(Outcome::Completed);
            }
            Some(StreamEvent::Error(_)) | None => {
                self.outcome.get_or_insert(Outcome::Failed);
            }
            Some(_) => {}
        }
    }

    /// Sets how the request ended, unless an event already said so.
    pub fn ended(&mut self, outcome: Outcome) {
        self.outcome.get_or_insert(outcome);
    }

    /// The clocks of `api::stats::Timing` at the answer's end.
    pub fn timed(&self, queue_wait: Option<Duration>, lane: Duration, overhead: Duration) {
        let label = provider(self.kind);
        let m = process();
        if let Some(wait) = queue_wait {
            m.queue_wait
                .get_or_create(&label)
                .observe(wait.as_secs_f64());
        }
        m.relay.get_or_create(&label).observe(lane.as_secs_f64());
        m.overhead
            .get_or_create(&label)
            .observe(overhead.as_secs_f64());
    }
}

impl Drop for RequestMetrics {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(Outcome::Cancelled);
        request_ended(self.kind, &self.model, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_dropped_before_its_end_counts_as_cancelled() {
        let count = |outcome: &'static str| {
            process()
                .requests
                .get_or_create(&RequestLabels {
                    provider: "glm",
                    model: "unit-test-model".to_owned(),
                    outcome,
                })
                .get()
        };
        let (done, gone, failed) = (count("completed"), count("cancelled"), count("failed"));
        let mut m = RequestMetrics::new(ProviderKind::Glm, "unit-test-model", Instant::now());
        m.event(Some(&StreamEvent::Text("hi".into())));
        m.event(Some(&StreamEvent::Finished(
            crate::providers::FinishReason::Stop,
        )));
        m.event(None);
        drop(m);
        drop(RequestMetrics::new(
            ProviderKind::Glm,
            "unit-test-model",
            Instant::now(),
        ));
        let mut m = RequestMetrics::new(ProviderKind::Glm, "unit-test-model", Instant::now());
        m.event(Some(&StreamEvent::Error("x".into())));
        m.ended(Outcome::Completed);
        drop(m);
        assert_eq!(count("completed"), done + 1, "the first end wins");
        assert_eq!(count("cancelled"), gone + 1);
        assert_eq!(count("failed"), failed + 1);
    }
}
