//! `GET /metrics`: Prometheus text that a Prometheus text-format parser (`prometheus-parse`)
//! reads, whose counters and histograms move by the right amounts under load (a DeepSeek lane
//! on real Chromium against its replica, and dummy lanes), whose gauges match `/api/lanes`, and
//! which, like `/`, needs the admin key when keys are on.
//!
//! The counters are process-wide, so every assertion is on the difference between two scrapes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use common::{DEADLINE, Harness, TempDir, read_sse};
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

/// A parsed scrape.
struct Metrics(Scrape);

impl Metrics {
    async fn scrape(h: &Harness) -> Metrics {
        let resp = h.client.get(h.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        Metrics::parse(&resp.text().await.unwrap())
    }

    fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Metrics(Scrape::parse(lines).unwrap())
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.0
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| &s.value)
    }

    /// A counter's value (0 when it has no sample yet); panics if it is not typed counter.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels) {
            None => 0.0,
            Some(Sample::Counter(v)) => *v,
            Some(other) => panic!("{name} {labels:?} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels) {
            Some(Sample::Gauge(v)) => *v,
            other => panic!("{name} {labels:?} is not a gauge: {other:?}"),
        }
    }

    /// A histogram's sample count, from its `+Inf` bucket (0 without a sample).
    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels) {
            None => 0.0,
            Some(Sample::Histogram(buckets)) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count)
                .unwrap(),
            Some(other) => panic!("{name} {labels:?} is not a histogram: {other:?}"),
        }
    }
}

/// Scrapes until `pred` holds on the scrape, or fails at the deadline.
async fn wait_metrics(h: &Harness, what: &str, pred: impl Fn(&Metrics) -> bool) -> Metrics {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let m = Metrics::scrape(h).await;
        if pred(&m) {
            return m;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const DS: &str = "deepseek";
const DUMMY: &str = "dummy";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_histograms_move_by_what_the_load_did() {
    let h = Harness::start_with_faults(
        &[ProviderKind::DeepSeek],
        Knobs::default(),
        "[dummy]\nlanes = 2\n",
    )
    .await;
    h.wait_lanes("every lane ready", |l| {
        l.len() == 3 && l.iter().all(|l| l["state"] == "ready")
    })
    .await;
    let before = Metrics::scrape(&h).await;
    let requests = |m: &Metrics, provider: &str, model: &str, outcome: &str| {
        m.counter(
            "switchyard_requests_total",
            &[
                ("provider", provider),
                ("model", model),
                ("outcome", outcome),
            ],
        )
    };
    let hist = |m: &Metrics, name: &str, provider: &str| {
        m.histogram_count(name, &[("provider", provider)])
    };

    // One real lane request, through Chromium and the replica.
    let (status, body) = h.chat("deepseek-chat", "hello metrics").await;
    assert_eq!(status, 200, "{body}");
    // Two streamed dummy answers, one scripted failure.
    for _ in 0..2 {
        let resp = h
            .post(
                "/v1/chat/completions",
                json!({"model": "dummy-instant", "stream": true,
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let streamed = read_sse(resp).await;
        assert!(streamed.error.is_none(), "{:?}", streamed.error);
    }
    let (status, _) = h.chat("dummy-error", "fail please").await;
    assert!(status >= 400, "dummy-error fails: {status}");
    // A client that goes away mid-answer.
    let mut slow = h
        .post(
            "/v1/chat/completions",
            json!({"model": "dummy-slow", "stream": true,
                   "messages": [{"role": "user", "content": "slowly"}]}),
        )
        .await;
    assert_eq!(slow.status(), 200);
    // The role chunk, then the first piece of text.
    let mut read = String::new();
    while read.matches("data: ").count() < 2 {
        let bytes = tokio::time::timeout(DEADLINE, slow.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("the slow answer goes on");
        read.push_str(&String::from_utf8_lossy(&bytes));
    }
    drop(slow);

    let after = wait_metrics(&h, "the dropped stream counted as cancelled", |m| {
        requests(m, DUMMY, "dummy-slow", "cancelled")
            > requests(&before, DUMMY, "dummy-slow", "cancelled")
    })
    .await;
    let moved = |provider: &str, model: &str, outcome: &str| {
        requests(&after, provider, model, outcome) - requests(&before, provider, model, outcome)
    };
    assert_eq!(moved(DS, "deepseek-chat", "completed"), 1.0);
    assert_eq!(moved(DS, "deepseek-chat", "failed"), 0.0);
    assert_eq!(moved(DUMMY, "dummy-instant", "completed"), 2.0);
    assert_eq!(moved(DUMMY, "dummy-error", "failed"), 1.0);
    assert_eq!(moved(DUMMY, "dummy-slow", "cancelled"), 1.0);
    // The histograms took one sample per answer that reached its end.
    for name in [
        "switchyard_first_content_seconds",
        "switchyard_relay_seconds",
        "switchyard_overhead_seconds",
        "switchyard_queue_wait_seconds",
    ] {
        assert_eq!(
            hist(&after, name, DS) - hist(&before, name, DS),
            1.0,
            "{name}"
        );
    }
    assert_eq!(
        hist(&after, "switchyard_first_content_seconds", DUMMY)
            - hist(&before, "switchyard_first_content_seconds", DUMMY),
        3.0,
        "two instant answers and the slow one's first piece"
    );
    assert_eq!(
        hist(&after, "switchyard_overhead_seconds", DUMMY)
            - hist(&before, "switchyard_overhead_seconds", DUMMY),
        3.0,
        "two instant answers and the failure; the cancelled one left no sample"
    );
    // The same samples as /api/stats.
    let stats = h.get_json("/api/stats").await;
    let overhead_total: f64 = [DS, DUMMY]
        .iter()
        .map(|p| hist(&after, "switchyard_overhead_seconds", p))
        .sum();
    assert_eq!(stats["overhead"]["count"].as_f64().unwrap(), overhead_total);

    // The gauges of the moment: every lane ready again, nothing queued.
    let idle = wait_metrics(&h, "no lane busy", |m| {
        m.gauge(
            "switchyard_lanes",
            &[("provider", DUMMY), ("state", "busy")],
        ) == 0.0
    })
    .await;
    assert_eq!(
        idle.gauge("switchyard_lanes", &[("provider", DS), ("state", "ready")]),
        1.0
    );
    assert_eq!(
        idle.gauge(
            "switchyard_lanes",
            &[("provider", DUMMY), ("state", "ready")]
        ),
        2.0
    );
    assert_eq!(
        idle.gauge(
            "switchyard_lanes",
            &[("provider", DS), ("state", "offline")]
        ),
        0.0
    );
    assert_eq!(
        idle.gauge("switchyard_queue_depth", &[("provider", DS)]),
        0.0
    );
    assert_eq!(
        idle.counter("switchyard_account_rotations_total", &[("provider", DS)]),
        0.0,
        "nothing rotates accounts yet"
    );

    // A renderer crash: one crash, one successful recovery attempt, one restart by reload.
    let resp = h
        .client
        .post(h.url("/api/lanes/deepseek:1/crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let crash = |m: &Metrics| {
        m.counter(
            "switchyard_lane_crashes_total",
            &[("provider", DS), ("cause", "page")],
        )
    };
    let restarts = |m: &Metrics| {
        m.counter(
            "switchyard_lane_restarts_total",
            &[("provider", DS), ("step", "reload")],
        )
    };
    let back = wait_metrics(&h, "the crashed lane restarted", |m| {
        restarts(m) > restarts(&before)
    })
    .await;
    assert_eq!(crash(&back) - crash(&before), 1.0);
    assert_eq!(restarts(&back) - restarts(&before), 1.0);
    assert_eq!(
        back.counter(
            "switchyard_lane_recovery_attempts_total",
            &[("provider", DS), ("result", "ok")]
        ) - before.counter(
            "switchyard_lane_recovery_attempts_total",
            &[("provider", DS), ("result", "ok")]
        ),
        1.0
    );
    let lanes = h.get_json("/api/lanes").await;
    let row = lanes["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "deepseek:1")
        .unwrap()
        .clone();
    assert_eq!(row["restarts"], 1, "the board counts the same restart");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_is_served_to_a_scraper_that_asks_for_it() {
    let h = Harness::dummy_only(1, "").await;
    // A family shows once it has a sample.
    let (status, _) = h.chat("dummy-instant", "hi").await;
    assert_eq!(status, 200);
    let resp = h
        .client
        .get(h.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE switchyard_requests counter"),
        "{text}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_on_metrics_and_the_dashboard_need_the_admin_key() {
    let dir = TempDir::new("metrics-keys");
    let keys_file = dir.0.join("keys.toml");
    let user = switchyard::keys::add(&keys_file, "laptop", false).unwrap();
    let admin = switchyard::keys::add(&keys_file, "ops", true).unwrap();
    let h = Harness::dummy_only(
        1,
        &format!(
            "[auth]\nkeys_file = \"{}\"\nadmin_routes = \"admin_keys\"\n",
            keys_file.display()
        ),
    )
    .await;
    let get = |path: &'static str, key: Option<&str>| {
        let mut req = h.client.get(h.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    for path in ["/metrics", "/"] {
        let (status, body) = get(path, None).await;
        assert_eq!(status, 401, "{path} without a key: {body}");
        let (status, body) = get(path, Some(&user)).await;
        assert_eq!(status, 403, "{path} with a user key: {body}");
        assert!(body.contains("admin_key_required"), "{body}");
    }
    // The user key still works on the OpenAI routes.
    let (status, _) = get("/v1/models", Some(&user)).await;
    assert_eq!(status, 200);
    let (status, body) = get("/metrics", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let m = Metrics::parse(&body);
    assert_eq!(
        m.gauge(
            "switchyard_lanes",
            &[("provider", DUMMY), ("state", "ready")]
        ),
        1.0
    );
    h.shutdown().await;
}
