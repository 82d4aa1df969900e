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

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::lanes::board::LaneRecord;
use crate::models::ProviderKind;
use crate::providers::StreamEvent;
use crate::scheduler::core::Snapshot;

/// The content type of the classic Prometheus text format, which [`render`] writes.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics text, which [`render_openmetrics`] writes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every lane state `/api/lanes` shows; each gets a `switchyard_lanes` sample, zeros too, so a
/// graph of one state does not vanish while no lane is in it.
const LANE_STATES: [&str; 7] = [
    "starting",
    "ready",
    "busy",
    "recovering",
    "offline",
    "failed",
    "stopping",
];

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

/// Gauges read at a scrape, written in the order given (a `Family` would write hash order).
#[derive(Debug)]
struct Now {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, &'static str)>, i64)>,
}

impl Collector for Now {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, None, MetricType::Gauge)?;
        for (labels, value) in &self.samples {
            metric.encode_family(labels)?.encode_gauge(value)?;
        }
        Ok(())
    }
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

// === exposition ===

/// The registry of one scrape: the process's families plus the gauges read now.
fn registry(lanes: &[LaneRecord], queue: Option<&Snapshot>) -> Registry {
    let m = process();
    let mut r = Registry::default();
    r.register(
        "switchyard_requests",
        "Requests that reached a provider's queue or were refused at it, by provider, model and \
         outcome (completed, failed, cancelled, rejected)",
        m.requests.clone(),
    );
    r.register(
        "switchyard_queue_wait_seconds",
        "From a request's submission to the queue to a lane taking it",
        m.queue_wait.clone(),
    );
    r.register(
        "switchyard_first_content_seconds",
        "From a request's arrival to its first text or reasoning reaching the API",
        m.first_content.clone(),
    );
    r.register(
        "switchyard_relay_seconds",
        "Lane time: from the lane taking a request to its last event reaching the API",
        m.relay.clone(),
    );
    r.register(
        "switchyard_overhead_seconds",
        "The gateway's own time per request: total time minus lane time (as GET /api/stats)",
        m.overhead.clone(),
    );
    r.register(
        "switchyard_lane_crashes",
        "Lanes that broke and had to recover, by cause (page, hung, browser)",
        m.lane_crashes.clone(),
    );
    r.register(
        "switchyard_lane_recovery_attempts",
        "Recovery attempts of broken lanes, by result (ok, failed)",
        m.lane_recoveries.clone(),
    );
    r.register(
        "switchyard_lane_restarts",
        "Lanes brought back, by step (reload, new_context, relaunch)",
        m.lane_restarts.clone(),
    );
    r.register(
        "switchyard_account_rotations",
        "Lanes that moved to another saved account",
        m.account_rotations.clone(),
    );

    // Lanes per state: every state of every provider with a lane, zeros too, in a fixed order.
    let mut states: Vec<((&'static str, usize), i64)> = Vec::new();
    for lane in lanes {
        for (i, state) in LANE_STATES.iter().enumerate() {
            let key = (lane.provider, i);
            add(&mut states, key, i64::from(lane.state.name() == *state));
        }
    }
    states.sort_by_key(|(k, _)| *k);
    r.register_collector(Box::new(Now {
        name: "switchyard_lanes",
        help: "Lanes in each state now, by provider",
        samples: states
            .into_iter()
            .map(|((provider, i), n)| (vec![("provider", provider), ("state", LANE_STATES[i])], n))
            .collect(),
    }));
    if let Some(queue) = queue {
        // A zero for every provider with a lane in the scheduler, so its graph starts at 0.
        let mut depth: Vec<(&'static str, i64)> = Vec::new();
        let mut running: Vec<(&'static str, i64)> = Vec::new();
        for lane in &queue.lanes {
            add(&mut depth, lane.provider, 0);
            add(&mut running, lane.provider, 0);
        }
        for req in &queue.pending {
            add(&mut depth, req.provider, 1);
        }
        for req in &queue.running {
            add(&mut running, req.provider, 1);
        }
        for (name, help, mut list) in [
            (
                "switchyard_queue_depth",
                "Requests waiting in each provider's queue now",
                depth,
            ),
            (
                "switchyard_requests_running",
                "Requests a lane runs now, by provider",
                running,
            ),
        ] {
            list.sort();
            r.register_collector(Box::new(Now {
                name,
                help,
                samples: list
                    .into_iter()
                    .map(|(provider, n)| (vec![("provider", provider)], n))
                    .collect(),
            }));
        }
    }
    r
}

/// Adds `n` to the entry of `key`, which starts at 0.
fn add<K: PartialEq>(list: &mut Vec<(K, i64)>, key: K, n: i64) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v += n,
        None => list.push((key, n)),
    }
}

/// OpenMetrics text of the metrics now.
pub fn render_openmetrics(lanes: &[LaneRecord], queue: Option<&Snapshot>) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry(lanes, queue));
    out
}

/// The classic Prometheus text format (0.0.4) of the metrics now: the OpenMetrics text without
/// its `# EOF`, with counters named by their samples' `_total` name in `# HELP` and `# TYPE`.
pub fn render(lanes: &[LaneRecord], queue: Option<&Snapshot>) -> String {
    to_prometheus_text(&render_openmetrics(lanes, queue))
}

fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|head| {
            let rest = line.strip_prefix(head)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{head}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::board::LaneState;

    #[test]
    fn counters_take_their_total_name_in_the_classic_format() {
        let om = "# HELP a_x Things.\n# TYPE a_x counter\na_x_total{p=\"d\"} 1\n\
                  # HELP b Now.\n# TYPE b gauge\nb 2\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total{p=\"d\"} 1\n\
             # HELP b Now.\n# TYPE b gauge\nb 2\n"
        );
    }

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

    fn lane(id: &str, provider: &'static str, state: LaneState) -> LaneRecord {
        LaneRecord {
            id: crate::ids::LaneId(id.to_owned()),
            label: id.to_owned(),
            provider,
            state,
            browser_pid: None,
            endpoint: None,
            proxy: None,
            current_request: None,
            requests_served: 0,
            restarts: 0,
            last_error: None,
            last_failure_bundle: None,
        }
    }

    #[test]
    fn lane_gauges_cover_every_state_of_each_provider_in_order() {
        let lanes = [
            lane("glm:1", "glm", LaneState::Busy),
            lane("deepseek:1", "deepseek", LaneState::Ready),
            lane("glm:2", "glm", LaneState::Busy),
        ];
        let text = render(&lanes, None);
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("switchyard_lanes{"))
            .collect();
        assert_eq!(samples.len(), 2 * LANE_STATES.len(), "{text}");
        assert_eq!(
            samples[0],
            "switchyard_lanes{provider=\"deepseek\",state=\"starting\"} 0"
        );
        assert_eq!(
            samples[1],
            "switchyard_lanes{provider=\"deepseek\",state=\"ready\"} 1"
        );
        assert_eq!(
            samples[LANE_STATES.len() + 2],
            "switchyard_lanes{provider=\"glm\",state=\"busy\"} 2"
        );
        assert!(text.contains("# TYPE switchyard_lanes gauge"), "{text}");
    }

    #[test]
    fn the_classic_text_names_counters_by_their_total_and_has_no_eof() {
        request_ended(ProviderKind::Glm, "unit-test-model", Outcome::Rejected);
        let text = render(&[], None);
        assert!(
            text.contains("# TYPE switchyard_requests_total counter"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        assert!(
            !text.contains("switchyard_queue_depth"),
            "no queue, no depth"
        );
    }
}
