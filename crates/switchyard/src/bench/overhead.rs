//! `switchyard bench overhead`: the gateway's own added latency under an open-loop load against
//! dummy lanes, in this process.
//!
//! For each rate (`--qps`) and each delivery (non-streaming, streaming) a fresh gateway starts
//! with [`LANES`] dummy lanes only (`[dummy] only = true`, `full_parallel_lanes`; no browser).
//! The load is **open-loop**: request `i` is scheduled at `start + i / qps`, sent at that time
//! (or at once if the sender is late), and its latency is measured from the scheduled time, so a
//! slow gateway cannot slow the load down and hide its own queueing (no coordinated omission).
//! Every request asks `dummy-instant`, whose lane answers at once, so nearly all of a request's
//! time is the gateway's and the client's.
//!
//! Figures per cell:
//! - **overhead** p50/p90/p99: the gateway's own histogram (`GET /api/stats`): total time from
//!   the request head reaching the API to the answer's last frame, minus lane time;
//! - **dispatch** p50/p99: from the request's submission to the queue to a lane taking it;
//! - **client latency** p50/p90/p99: scheduled send → whole response read, as the client sees it
//!   (adds the HTTP client and loopback);
//! - the rate achieved and the sender's largest lateness, to show the load was what it says.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::report::{self, Machine, machine, percentile};
use crate::config::{self, Config};
use crate::gateway::Gateway;

/// Dummy lanes behind the gateway: enough that a lane is free for every request at the rates
/// measured (each answers in well under a millisecond).
pub(super) const LANES: u32 = 64;
/// The most requests one cell sends (each is kept in memory until the cell ends).
const MAX_REQUESTS: u64 = 10_000_000;
/// A request slower than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One measured cell.
pub(super) struct Cell {
    pub(super) qps: u32,
    pub(super) stream: bool,
    pub(super) duration: Duration,
    /// Client latency per request, ms.
    latency_ms: Vec<f64>,
    pub(super) failed: usize,
    /// The failed requests by status (`429`, …; `error`: no answer).
    refusals: std::collections::BTreeMap<String, usize>,
    /// Largest delay between a request's scheduled and actual send, ms.
    max_late_ms: f64,
    /// Completed requests per second of the run.
    pub(super) achieved_qps: f64,
    /// `GET /api/stats` after the run, with `measured_samples` and `warm_up_samples`.
    pub(super) stats: Value,
}

/// Runs the overhead bench and prints (and writes) its table and figures.
pub async fn run(
    qps: Vec<u32>,
    duration: Duration,
    out: Option<std::path::PathBuf>,
    json_out: Option<std::path::PathBuf>,
) -> Result<(), String> {
    if qps.is_empty() || qps.contains(&0) {
        return Err("--qps takes rates above 0, such as --qps 1000,5000".to_owned());
    }
    if duration.is_zero() {
        return Err("--duration must be above 0 seconds".to_owned());
    }
    if let Some(most) = qps.iter().max() {
        if f64::from(*most) * duration.as_secs_f64() > MAX_REQUESTS as f64 {
            return Err(format!(
                "--qps {most} for --duration {} s is more than {MAX_REQUESTS} requests a cell; \
                 shorten the run",
                duration.as_secs_f64()
            ));
        }
    }
    let began = std::time::Instant::now();
    let machine = machine().await;
    let mut cells = Vec::new();
    for &rate in &qps {
        for stream in [false, true] {
            tracing::info!("bench overhead: {rate} QPS, stream {stream}");
            cells.push(cell(rate, stream, duration).await?);
        }
    }
    let run = render(&machine, &cells, began.elapsed());
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

/// A gateway with dummy lanes only, on a free port, in a throwaway data folder.
async fn start_gateway() -> Result<(Gateway, std::path::PathBuf), String> {
    let data_dir = std::env::temp_dir().join(format!(
        "switchyard-bench-overhead-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let toml = format!(
        "data_dir = \"{}\"\n[server]\nport = 0\n[auth]\nrequire_key = false\n\
         [runtime]\nmode = \"full_parallel_lanes\"\n[dummy]\nlanes = {LANES}\nonly = true\n",
        data_dir.display()
    );
    let table = config::parse_table(&toml, "bench settings")?;
    let gateway = Gateway::start(Config::from_table(table, "bench settings")?).await?;
    Ok((gateway, data_dir))
}

/// Measures one cell: `qps` requests a second for `duration` against a fresh gateway with
/// [`LANES`] dummy lanes. `switchyard bench` calls it too, with a shorter duration.
pub(super) async fn cell(qps: u32, stream: bool, duration: Duration) -> Result<Cell, String> {
    let (gateway, data_dir) = start_gateway().await?;
    let url = format!("{}/v1/chat/completions", gateway.base_url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the bench's HTTP client: {e}"))?;
    let body = Arc::new(
        json!({"model": "dummy-instant", "stream": stream,
               "messages": [{"role": "user", "content": "bench"}]})
        .to_string(),
    );
    // Warm the connection pool (one connection per lane at most) and the lanes, outside the
    // measurement.
    futures::future::join_all((0..LANES.min(qps)).map(|_| send(&client, &url, &body))).await;
    let stats_url = format!("{}/api/stats", gateway.base_url());
    let before = fetch_stats(&client, &stats_url).await;

    let total = (f64::from(qps) * duration.as_secs_f64()).ceil() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(qps));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut max_late = Duration::ZERO;
    let mut next = 0u64;
    while next < total {
        let now = Instant::now();
        // Every request whose time has come goes now: a late sender catches up at once.
        while next < total {
            let at = start + interval.mul_f64(next as f64);
            if at > now {
                break;
            }
            max_late = max_late.max(now - at);
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            let done_tx = done_tx.clone();
            tasks.push(crate::tasks::spawn("bench-request", async move {
                let answer = send(&client, &url, &body).await;
                let _ = done_tx.send((answer, at.elapsed()));
            }));
            next += 1;
        }
        if next < total {
            tokio::time::sleep_until(start + interval.mul_f64(next as f64)).await;
        }
    }
    drop(done_tx);
    let sent = tasks.len();
    futures::future::join_all(tasks).await;
    let mut latency_ms = Vec::with_capacity(sent);
    let mut refusals: std::collections::BTreeMap<String, usize> = Default::default();
    while let Ok((answer, took)) = done.try_recv() {
        match answer {
            Ok(()) => latency_ms.push(took.as_secs_f64() * 1e3),
            Err(what) => *refusals.entry(what).or_default() += 1,
        }
    }
    // A request whose task ended without an answer (it panicked) counts as failed too.
    let failed = sent - latency_ms.len();
    let elapsed = start.elapsed();
    let after = fetch_stats(&client, &stats_url).await;
    gateway.shutdown().await;
    let _ = tokio::fs::remove_dir_all(&data_dir).await;
    let warm = before["overhead"]["count"].as_u64().unwrap_or(0);
    let measured = after["overhead"]["count"].as_u64().unwrap_or(0);
    let mut stats = after;
    // The warm-up's few samples are in the histogram too; say how many.
    stats["warm_up_samples"] = json!(warm);
    stats["measured_samples"] = json!(measured.saturating_sub(warm));
    Ok(Cell {
        qps,
        stream,
        duration,
        achieved_qps: latency_ms.len() as f64 / elapsed.as_secs_f64(),
        latency_ms,
        failed,
        refusals,
        max_late_ms: max_late.as_secs_f64() * 1e3,
        stats,
    })
}

/// Sends one request and reads the whole answer: `Ok` for a complete 200, else what it got
/// (the status, or `error` for a failed connection or body).
async fn send(client: &reqwest::Client, url: &str, body: &Arc<String>) -> Result<(), String> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.as_str().to_owned())
        .send()
        .await
        .map_err(|_| "error".to_owned())?;
    let status = resp.status();
    let read = resp.bytes().await;
    match (status.is_success(), read) {
        (true, Ok(_)) => Ok(()),
        (true, Err(_)) => Err("error".to_owned()),
        (false, _) => Err(status.as_u16().to_string()),
    }
}

async fn fetch_stats(client: &reqwest::Client, url: &str) -> Value {
    match client.get(url).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn render(machine: &Machine, cells: &[Cell], took: Duration) -> Value {
    let mut figures: Vec<Value> = Vec::new();
    let cell_ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.3} ms"));
    for c in cells {
        let delivery = if c.stream {
            "streaming"
        } else {
            "non-streaming"
        };
        let setup = format!(
            "{} QPS open loop for {} s, {delivery} dummy-instant, {LANES} dummy lanes",
            c.qps,
            c.duration.as_secs_f64()
        );
        let server = |name: &str, key: &str| c.stats[name][key].as_f64();
        let measured = c.stats["measured_samples"].as_u64().unwrap_or(0);
        let server_note = format!(
            "{measured} requests (+{} warm-up) in the gateway's histogram",
            c.stats["warm_up_samples"].as_u64().unwrap_or(0)
        );
        let failures = if c.failed == 0 {
            String::new()
        } else {
            let by: Vec<String> = c
                .refusals
                .iter()
                .map(|(k, n)| format!("{n}× {k}"))
                .collect();
            format!(" ({})", by.join(", "))
        };
        let client_note = format!(
            "{} answered, {} failed{failures}; {:.0} QPS achieved, sender at most {:.2} ms late",
            c.latency_ms.len(),
            c.failed,
            c.achieved_qps,
            c.max_late_ms
        );
        let rows: [(&str, String, Option<f64>, &String); 8] = [
            (
                "overhead, p50",
                "overhead_p50_ms".into(),
                server("overhead", "p50_ms"),
                &server_note,
            ),
            (
                "overhead, p90",
                "overhead_p90_ms".into(),
                server("overhead", "p90_ms"),
                &server_note,
            ),
            (
                "overhead, p99",
                "overhead_p99_ms".into(),
                server("overhead", "p99_ms"),
                &server_note,
            ),
            (
                "dispatch (queued → lane took it), p50",
                "dispatch_p50_ms".into(),
                server("dispatch", "p50_ms"),
                &server_note,
            ),
            (
                "dispatch (queued → lane took it), p99",
                "dispatch_p99_ms".into(),
                server("dispatch", "p99_ms"),
                &server_note,
            ),
            (
                "client latency from the scheduled send, p50",
                "client_latency_p50_ms".into(),
                percentile(&c.latency_ms, 50.0),
                &client_note,
            ),
            (
                "client latency from the scheduled send, p90",
                "client_latency_p90_ms".into(),
                percentile(&c.latency_ms, 90.0),
                &client_note,
            ),
            (
                "client latency from the scheduled send, p99",
                "client_latency_p99_ms".into(),
                percentile(&c.latency_ms, 99.0),
                &client_note,
            ),
        ];
        for (measure, key, value, note) in rows {
            let shown = cell_ms(value);
            figures.push(json!({
                "key": key, "measure": measure, "setup": setup, "value": value, "cell": shown,
                "qps": c.qps, "stream": c.stream, "duration_s": c.duration.as_secs_f64(),
                "existing_tool": "—", "samples_note": note,
                "samples": if key.starts_with("client") { c.latency_ms.len() as u64 } else { measured },
                "achieved_qps": c.achieved_qps, "failed": c.failed, "failed_by_status": c.refusals,
                "sender_max_late_ms": c.max_late_ms,
            }));
        }
    }
    let notes = [
        "Open loop: request i is sent at start + i/QPS (or at once if the sender is late) and \
         timed from that scheduled moment, so the gateway's queueing shows in the client figures \
         instead of slowing the load."
            .to_owned(),
        "Overhead: the gateway's own histogram (GET /api/stats): from the request head reaching \
         its outermost layer to the answer's last frame, minus lane time (the lane taking the \
         job → its last event). Buckets hold values within 1/16. It includes any wait for a lane \
         (none while one is free) and the warm-up's few requests."
            .to_owned(),
        "Client latency adds reqwest and loopback to the overhead; the gateway, its dummy lanes \
         and the client share this machine's cores."
            .to_owned(),
        "LiteLLM's figures (--compare-litellm) are not in this build.".to_owned(),
        format!("Run time: {:.1} s.", took.as_secs_f64()),
    ];
    report::run_json("overhead", machine, figures, &notes, took)
}
