//! The exposition of `GET /metrics`: one `Registry` per scrape, holding the process's families
//! and the gauges read now from the lane board and the scheduler, encoded as OpenMetrics text
//! by `prometheus-client`, or turned into the classic Prometheus text format.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::process;
use crate::lanes::board::LaneRecord;
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
    use crate::metrics::{Outcome, request_ended};
    use crate::models::ProviderKind;

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

    fn lane(id: &str, provider: &'static str, state: LaneState) -> LaneRecord {
        LaneRecord::new(
            crate::ids::LaneId(id.to_owned()),
            id.to_owned(),
            provider,
            state,
        )
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
