//! `switchyard bench`: relay latency, time to first content, makespan and memory, measured end
//! to end on the local replicas.
//!
//! Everything runs in this process: the replica sites, the gateway (on port 0, driving real
//! headless Chromium) and the benchmark's HTTP client. The replica and the client therefore read
//! the same clock (`switchyard_replicas::clock::monotonic_us`, monotonic, one epoch for the
//! process), so a timestamp a site writes into a chunk can be compared with the time the client
//! reads that chunk, and no clock step can bend the figure.
//!
//! The setups run one after the other; each is started fresh and shut down after its runs:
//! - **1 lane**: the single-provider configuration, [`BENCH_PRIMARY`], one lane, with each
//!   capture mode (`replay`, the default for most providers, and `tee`).
//! - **8 lanes**: `full_parallel_lanes` with one lane per provider that has a replica (all eight)
//!   in one Chromium, streaming at once: once with the replay capture wherever the provider
//!   offers it (the others tee), once with the tee capture everywhere.
//! - **makespan**: [`MAKESPAN_LANES`] lanes of [`BENCH_PRIMARY`] in one Chromium.
//! - **overhead**: the gateway alone against dummy lanes (no browser) at [`OVERHEAD_QPS`], the
//!   `switchyard bench overhead` harness with a shorter duration.
//!
//! The providers come from the demo's replica map (`demo::BENCH_PRIMARY`, `replica_site`);
//! nothing here names a provider.
//!
//! What is measured:
//! - **Relay latency per chunk.** With `replica:stamp`, every answer piece after the first carries
//!   ` «t=<µs at emission>»`. The client reads the SSE body as it arrives and records, for
//!   each stamp in a `delta.content`, receive time − stamp. That covers the whole relay: site →
//!   page → CDP capture (or switchyard's replayed request) → lane → decoder → the request's
//!   event channel → SSE → client. The scheduler is not on this path: it only hands the job to a
//!   lane. A negative sample (which a monotonic clock shared in one process should never give)
//!   is kept in the percentiles and counted in the table, not dropped.
//! - **Time to first content**: client send → first chunk with non-empty `delta.content`, on a
//!   warm, idle lane. The replica adds no pacing delay, so this is the gateway's own cost.
//! - **Makespan** of requests of skewed lengths sent together to one provider's lanes, against
//!   the ideal of a scheduler that knew every length and against a FIFO replay of the same
//!   requests; [`makespan_run`] defines both.
//! - **Peak memory**: PSS of the Chromium process tree plus this process, sampled while a setup
//!   runs; the maximum is kept, with the renderers' share.
//! - **Cancel → lane free**: the client drops a streaming answer mid-stream; time until the
//!   board shows the lane ready again (the site's Stop pressed, the stream ended).
//! - **Turnaround**: a lane's finished request → its next (queued) request arrives at the site,
//!   both from the replica's log.
//! - **Overhead and dispatch**: the gateway's own histograms (`GET /api/stats`), at fixed
//!   open-loop rates against dummy lanes, and dispatch also on the 8 real lanes.
//!
//! Nothing is asserted. The command prints one markdown table and writes it to `--out` if given,
//! and every figure with its setup and samples as JSON to `--json` (keys name their units);
//! [`report`] renders it, with notes that say how each number was taken.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, join_all, select};
use serde_json::{Value, json};
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer};
use tokio::time::Instant;
use tracing::info;

use crate::browser::procs;
use crate::config::{self, CaptureMode, Config};
use crate::demo::{BENCH_PRIMARY, replica_site};
use crate::gateway::Gateway;
use crate::lanes::board::LaneState;
use crate::models::ProviderKind;
use report::{machine, median, render};

mod heavy;
mod litellm;
mod memory;
mod overhead;
pub mod report;
mod soak;
mod tee;

pub use heavy::run as heavy;
pub use litellm::run as litellm;
pub use memory::{Options as MemoryOptions, run as memory};
pub use overhead::run as overhead;
pub use soak::run as soak;
pub use tee::run as tee;

/// Pause between two events of a paced replica stream (the browser notes used 20 ms too).
const DELAY_MS: u64 = 20;
/// Stamped answer pieces per latency request (plus the unstamped echo piece).
const STAMPS: usize = 100;
/// Lanes of the makespan setup.
const MAKESPAN_LANES: u32 = 4;
/// Open-loop rates of the overhead rows.
const OVERHEAD_QPS: [u32; 2] = [1_000, 5_000];
/// Longest wait for a cancelled lane to be free again before the bench gives up.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the board is read while waiting for a cancelled lane.
const CANCEL_POLL: Duration = Duration::from_millis(1);
/// Answer pieces of the makespan requests, in the order they are sent: 3 long, 9 short.
const MAKESPAN_CHUNKS: [usize; 12] = [100, 20, 20, 20, 100, 20, 20, 20, 100, 20, 20, 20];
/// Idle time before each time-to-first-content request, so each one finds its lane idle.
const IDLE_PAUSE: Duration = Duration::from_millis(200);
/// How often memory is sampled. Reading `smaps_rollup` costs about 5 ms of CPU per Chromium
/// process (about 80 ms for the 8-lane tree), so sampling faster would skew the latency numbers.
const MEMORY_EVERY: Duration = Duration::from_secs(1);
/// Longest any single request may take before the bench gives up with an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many samples each measurement takes.
#[derive(Clone, Copy)]
struct Sizes {
    name: &'static str,
    /// Sequential time-to-first-content requests on the lone lane.
    first_content: usize,
    /// Sequential stamped requests on the lone lane.
    alone: usize,
    /// Rounds of one stamped request per lane, all lanes at once.
    rounds: usize,
    /// Makespan runs.
    makespan_runs: usize,
    /// Requests per prompt size for the prompt-entry rows.
    prompt_entry: usize,
    /// Cancels and turnarounds on the lone lane.
    cancels: usize,
    /// Length of each overhead cell.
    overhead: Duration,
}

const QUICK: Sizes = Sizes {
    name: "quick",
    first_content: 5,
    alone: 1,
    rounds: 1,
    makespan_runs: 1,
    prompt_entry: 1,
    cancels: 3,
    overhead: Duration::from_secs(1),
};
const FULL: Sizes = Sizes {
    name: "full",
    first_content: 20,
    alone: 3,
    rounds: 3,
    makespan_runs: 3,
    prompt_entry: 3,
    cancels: 10,
    overhead: Duration::from_secs(3),
};

/// Runs the benchmark.
pub async fn run(
    out: Option<PathBuf>,
    json_out: Option<PathBuf>,
    quick: bool,
) -> Result<(), String> {
    let began = Instant::now();
    let sizes = if quick { QUICK } else { FULL };
    let machine = machine().await;
    // Both captures get every 1-lane measurement, the makespan runs only the default capture.
    let single = |capture| [Group::new(BENCH_PRIMARY, 1, capture)];
    info!("bench: 1 lane ({} run)", sizes.name);
    let one = measure(&single(CaptureMode::Replay), async |rig| {
        one_lane(rig, sizes).await
    })
    .await?;
    info!("bench: 1 lane, tee capture ({} run)", sizes.name);
    let one_tee = measure(&single(CaptureMode::Tee), async |rig| {
        one_lane(rig, sizes).await
    })
    .await?;
    info!("bench: 8 lanes ({} run)", sizes.name);
    let eight = measure(&all_providers(CaptureMode::Replay), async |rig| {
        eight_lanes(rig, sizes).await
    })
    .await?;
    info!("bench: 8 lanes, tee capture ({} run)", sizes.name);
    let eight_tee = measure(&all_providers(CaptureMode::Tee), async |rig| {
        eight_lanes(rig, sizes).await
    })
    .await?;
    info!("bench: makespan ({} run)", sizes.name);
    let overhead_ms = median(&one.0.overhead_ms).unwrap_or(0.0);
    let makespan_lanes = [Group::new(
        BENCH_PRIMARY,
        MAKESPAN_LANES,
        CaptureMode::Replay,
    )];
    let (makespans, _) = measure(&makespan_lanes, async |rig| {
        let mut runs = Vec::new();
        // One request per lane first: never-used lanes are picked first, so every lane is warm.
        let warm = std::iter::repeat_n(chat_id(BENCH_PRIMARY), MAKESPAN_LANES as usize);
        all_ok(join_all(warm.map(|m| async move { rig.stream(&m, WARM_UP).await })).await)?;
        for run in 0..sizes.makespan_runs {
            tokio::time::sleep(IDLE_PAUSE).await;
            runs.push(makespan_run(rig, run, overhead_ms).await?);
        }
        Ok(runs)
    })
    .await?;
    let mut overhead = Vec::new();
    for qps in OVERHEAD_QPS {
        info!("bench: overhead at {qps} QPS ({} run)", sizes.name);
        overhead.push(overhead::cell(qps, true, sizes.overhead).await?);
    }
    let results = Results {
        one,
        one_tee,
        eight,
        eight_tee,
        makespans,
        overhead,
    };
    let run = render(&machine, sizes, &results, overhead_ms, began.elapsed());
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

/// Prints the table of a run saved with `--json`, and with `readme` writes it into that file
/// between the generated part's marker lines (`make bench-readme`). No browser, no replicas.
pub fn table_from(json: &Path, readme: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(json)
        .map_err(|e| format!("cannot read {}: {e}", json.display()))?;
    let run: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a bench run's JSON: {e}", json.display()))?;
    let table = report::table(&run).map_err(|e| format!("{}: {e}", json.display()))?;
    match readme {
        None => println!("{table}"),
        Some(path) => {
            let old = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let new = report::splice_readme(&old, &table)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if new != old {
                std::fs::write(path, new)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            println!(
                "{}: the benchmark table now shows {}",
                path.display(),
                json.display()
            );
        }
    }
    Ok(())
}

/// Everything the setups measured, for the report.
struct Results {
    /// 1 lane, replay capture (the default), with its memory peak.
    one: (OneLane, Peak),
    /// 1 lane, tee capture.
    one_tee: (OneLane, Peak),
    /// 8 lanes, replay capture where the provider offers it.
    eight: (EightLanes, Peak),
    /// 8 lanes, tee capture everywhere.
    eight_tee: (EightLanes, Peak),
    /// The makespan runs on [`MAKESPAN_LANES`] lanes.
    makespans: Vec<Makespan>,
    /// One streaming cell per [`OVERHEAD_QPS`] rate.
    overhead: Vec<overhead::Cell>,
}

/// Lanes of one provider in a setup.
#[derive(Clone, Copy)]
struct Group {
    kind: ProviderKind,
    count: u32,
    capture: CaptureMode,
}

impl Group {
    /// `count` lanes of `kind` with `capture`, or the tee capture where the provider offers
    /// only that one.
    fn new(kind: ProviderKind, count: u32, capture: CaptureMode) -> Group {
        let replay = (crate::providers::spec(kind).driver.as_ref()).is_some_and(|d| d.replay);
        let capture = if replay { capture } else { CaptureMode::Tee };
        Group {
            kind,
            count,
            capture,
        }
    }
}

/// One lane of every provider that has a replica site, [`BENCH_PRIMARY`] first.
fn all_providers(capture: CaptureMode) -> Vec<Group> {
    let mut kinds = vec![BENCH_PRIMARY];
    kinds.extend((ProviderKind::ALL.into_iter()).filter(|k| *k != BENCH_PRIMARY));
    (kinds.into_iter())
        .filter(|k| replica_site(*k).is_some())
        .map(|k| Group::new(k, 1, capture))
        .collect()
}

fn capture_name(capture: CaptureMode) -> &'static str {
    match capture {
        CaptureMode::Tee => "tee",
        CaptureMode::Replay => "replay",
    }
}

// === setups ===

/// Replicas, a gateway pointed at them, and a client: one setup under test.
struct Rig {
    gateway: Gateway,
    /// Shut down after the gateway, so no lane loses its site mid-request.
    replicas: Vec<(ProviderKind, ReplicaServer)>,
    client: reqwest::Client,
    base: String,
    /// The lanes it was started with.
    groups: Vec<Group>,
}

impl Rig {
    /// Starts one replica per provider and a gateway with the given lanes per provider. The first
    /// provider is the current one; more than one lane in total means `full_parallel_lanes`.
    async fn start(lanes: &[Group]) -> Result<Rig, String> {
        Rig::start_with(lanes, &[], false, true).await
    }

    /// [`Rig::start`] with `browser.extra_flags`, with `faults` the fault-injection routes
    /// (`POST /api/lanes/{id}/crash`) on, and `hide` as every provider's `hide_while_streaming`.
    async fn start_with(
        lanes: &[Group],
        flags: &[String],
        faults: bool,
        hide: bool,
    ) -> Result<Rig, String> {
        let knobs = Knobs {
            delay_ms: DELAY_MS,
            ..Knobs::default()
        };
        let current = lanes.first().map_or(BENCH_PRIMARY, |g| g.kind);
        // The bench's client sends no key: its sites are replicas, so keys in data_dir stay off.
        let mut toml = format!(
            "provider = \"{}\"\n[server]\nport = 0\n[browser]\nisolation = \"context\"\n\
             extra_flags = {}\n[auth]\nrequire_key = false\n",
            current.prefix(),
            toml::Value::Array(flags.iter().cloned().map(toml::Value::String).collect())
        );
        if lanes.iter().map(|g| g.count).sum::<u32>() > 1 {
            toml.push_str(
                "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n",
            );
        }
        let mut replicas = Vec::new();
        for &Group {
            kind,
            count,
            capture,
        } in lanes
        {
            let site = replica_site(kind).ok_or_else(|| format!("{kind} has no replica site"))?;
            let server = ReplicaServer::start(site, knobs)
                .await
                .map_err(|e| format!("cannot start the {kind} replica: {e}"))?;
            toml.push_str(&format!(
                "[providers.{}]\nenabled = true\ninstances = {count}\nbase_url = \"{}\"\n\
                 capture = \"{}\"\nhide_while_streaming = {hide}\n",
                kind.prefix(),
                server.base_url(),
                capture_name(capture)
            ));
            replicas.push((kind, server));
        }
        let table = config::parse_table(&toml, "bench settings")?;
        let mut config = Config::from_table(table, "bench settings")?;
        config.fault_injection = faults;
        let gateway = Gateway::start(config).await?;
        let base = gateway.base_url();
        let rig = Rig {
            gateway,
            replicas,
            client: reqwest::Client::new(),
            base,
            groups: lanes.to_vec(),
        };
        let failed: Vec<String> = (rig.gateway.board.snapshot().into_iter())
            .filter_map(|row| match row.state {
                LaneState::Failed(why) => Some(format!("{}: {why}", row.label)),
                _ => None,
            })
            .collect();
        if !failed.is_empty() {
            rig.shutdown().await;
            return Err(format!(
                "not every lane started, so the numbers would not mean what the table says: {}",
                failed.join("; ")
            ));
        }
        Ok(rig)
    }

    /// The capture the lanes of `kind` use in this rig.
    fn capture_of(&self, kind: ProviderKind) -> CaptureMode {
        (self.groups.iter())
            .find(|g| g.kind == kind)
            .map_or(CaptureMode::Replay, |g| g.capture)
    }

    fn replica(&self, kind: ProviderKind) -> Result<&ReplicaServer, String> {
        (self.replicas.iter())
            .find(|(k, _)| *k == kind)
            .map(|(_, r)| r)
            .ok_or_else(|| format!("no {kind} replica is running"))
    }

    async fn stream(&self, model: &str, prompt: &str) -> Result<Trace, String> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.stream_inner(model, prompt)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "{model}: no complete answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            )),
        }
    }

    /// Sends one streaming chat request and reads its SSE body as the bytes arrive.
    async fn stream_inner(&self, model: &str, prompt: &str) -> Result<Trace, String> {
        let body = json!({"model": model, "stream": true,
                          "messages": [{"role": "user", "content": prompt}]});
        let sent = Instant::now();
        let mut trace = Trace {
            sent_us: now_us(),
            ..Trace::default()
        };
        let url = format!("{}/v1/chat/completions", self.base);
        let resp = (self.client.post(url).json(&body).send().await)
            .map_err(|e| format!("{model}: the request failed: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(format!("{model}: HTTP {status}: {text}"));
        }
        let mut events = SseBuffer::default();
        let mut body = resp.bytes_stream();
        while let Some(bytes) = body.next().await {
            let bytes = bytes.map_err(|e| format!("{model}: the stream broke: {e}"))?;
            // One receive time for every event these bytes complete.
            let (at, at_us) = (Instant::now(), now_us());
            for data in events.push(&bytes) {
                if data == "[DONE]" {
                    trace.done_us = at_us;
                    return Ok(trace);
                }
                let content = delta_content(&data).map_err(|e| format!("{model}: {e}"))?;
                if content.is_empty() {
                    continue;
                }
                trace.first_content.get_or_insert(at - sent);
                let received = at_us as f64;
                trace
                    .relay_ms
                    .extend(stamps(&content).map(|t| (received - t as f64) / 1000.0));
            }
        }
        Err(format!("{model}: the stream ended without [DONE]"))
    }

    /// Waits until the replica of `kind` logged a finished request for every tag; returns them
    /// in the order of `tags`.
    async fn site_log(
        &self,
        kind: ProviderKind,
        tags: &[String],
    ) -> Result<Vec<ReceivedRequest>, String> {
        let find = |log: &[ReceivedRequest], tag: &str| {
            (log.iter())
                .find(|r| r.prompt.contains(tag) && r.ended_us.is_some())
                .cloned()
        };
        let log = (self.replica(kind)?)
            .wait_for(
                |log| tags.iter().all(|t| find(log, t).is_some()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|_| format!("the {kind} replica did not log every bench request as ended"))?;
        Ok(tags.iter().filter_map(|t| find(&log, t)).collect())
    }

    async fn shutdown(self) {
        self.gateway.shutdown().await;
        for (_, replica) in self.replicas {
            replica.shutdown().await;
        }
    }
}

/// Starts a rig, runs `work` on it while sampling memory, and shuts the rig down whatever
/// happened.
async fn measure<T>(
    lanes: &[Group],
    work: impl AsyncFnOnce(&Rig) -> Result<T, String>,
) -> Result<(T, Peak), String> {
    let rig = Rig::start(lanes).await?;
    let result = match rig.gateway.browser_pid() {
        Some(pid) => {
            let (out, peak) = with_memory_peak(pid, work(&rig)).await;
            out.map(|out| (out, peak))
        }
        None => Err("the gateway reports no shared browser, so memory cannot be read".into()),
    };
    rig.shutdown().await;
    result
}

// === measurements ===

/// What the 1-lane setup measured, one entry per request or per stamp.
#[derive(Default)]
struct OneLane {
    /// Send → first non-empty content.
    first_content_ms: Vec<f64>,
    /// Send → the site received the request (new chat, typing, Send in the page).
    to_site_ms: Vec<f64>,
    /// The lane's own cost per request: send → site received, plus site ended → `[DONE]`.
    overhead_ms: Vec<f64>,
    /// Stamp → receive, per stamped answer piece.
    relay_ms: Vec<f64>,
    /// Per [`PROMPT_SIZES`] entry: send → the site received a prompt of that many characters.
    prompt_entry_ms: Vec<(usize, Vec<f64>)>,
    /// The client dropped a streaming answer → the board shows the lane ready.
    cancel_ms: Vec<f64>,
    /// The site ended a request → the lane's next (queued) request arrived at the site.
    turnaround_ms: Vec<f64>,
}

/// Prompt sizes, in characters, for the prompt-entry rows (a long SillyTavern chat is tens of
/// thousands of characters).
pub(crate) const PROMPT_SIZES: [usize; 3] = [1_000, 50_000, 200_000];

async fn one_lane(rig: &Rig, sizes: Sizes) -> Result<OneLane, String> {
    let model = &chat_id(BENCH_PRIMARY);
    rig.stream(model, WARM_UP).await?;
    let mut out = OneLane::default();
    for i in 0..sizes.first_content {
        tokio::time::sleep(IDLE_PAUSE).await;
        let tag = format!("[first-{i}]");
        let prompt = format!("bench {tag} replica:chunks=3 replica:delay_ms=0");
        let trace = rig.stream(model, &prompt).await?;
        let first = (trace.first_content)
            .ok_or_else(|| format!("{model}: the answer carried no content"))?;
        let log = rig.site_log(BENCH_PRIMARY, &[tag]).await?;
        let seen = log.first().ok_or("the replica log lost a request")?;
        let to_site = ms_between(trace.sent_us, seen.started_us);
        let after_site = ms_between(seen.ended_us.unwrap_or(seen.started_us), trace.done_us);
        out.first_content_ms.push(first.as_secs_f64() * 1000.0);
        out.to_site_ms.push(to_site);
        out.overhead_ms.push(to_site + after_site);
    }
    for i in 0..sizes.alone {
        let trace = rig.stream(model, &stamped(&format!("[alone-{i}]"))).await?;
        out.relay_ms.extend(trace.relay_ms);
    }
    for size in PROMPT_SIZES {
        let mut times = Vec::new();
        for i in 0..sizes.prompt_entry {
            tokio::time::sleep(IDLE_PAUSE).await;
            let tag = format!("[entry-{size}-{i}]");
            let head = format!("bench {tag} replica:chunks=1 replica:delay_ms=0\n");
            // Short lines, as a chat history has.
            let mut prompt = head.clone();
            while prompt.len() < size {
                prompt.push_str("Sam: a line of the chat history\n");
            }
            prompt.truncate(size);
            let trace = rig.stream(model, &prompt).await?;
            let log = rig.site_log(BENCH_PRIMARY, &[tag]).await?;
            let seen = log.first().ok_or("the replica log lost a request")?;
            times.push(ms_between(trace.sent_us, seen.started_us));
        }
        out.prompt_entry_ms.push((size, times));
    }
    for i in 0..sizes.cancels {
        tokio::time::sleep(IDLE_PAUSE).await;
        out.cancel_ms.push(cancel_once(rig, model, i).await?);
        tokio::time::sleep(IDLE_PAUSE).await;
        out.turnaround_ms
            .push(turnaround_once(rig, BENCH_PRIMARY, &format!("{i}")).await?);
    }
    Ok(out)
}

/// Starts a long streaming answer, drops it at its first content (the client goes away) and
/// times until every lane of the rig is ready again: the lane saw the cancel, pressed the site's
/// Stop, waited for the site's stream to end and told the scheduler. Read from the board, which
/// the scheduler writes, every [`CANCEL_POLL`].
async fn cancel_once(rig: &Rig, model: &str, i: usize) -> Result<f64, String> {
    let prompt = format!("bench [cancel-{i}] replica:chunks=1000 replica:delay_ms={DELAY_MS}");
    let body = json!({"model": model, "stream": true,
                      "messages": [{"role": "user", "content": prompt}]});
    let url = format!("{}/v1/chat/completions", rig.base);
    let read_to_content = async {
        let resp = (rig.client.post(url).json(&body).send().await)
            .map_err(|e| format!("{model}: the request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{model}: HTTP {}", resp.status()));
        }
        let mut events = SseBuffer::default();
        let mut stream = resp.bytes_stream();
        while let Some(bytes) = stream.next().await {
            let bytes = bytes.map_err(|e| format!("{model}: the stream broke: {e}"))?;
            for data in events.push(&bytes) {
                if data != "[DONE]" && !delta_content(&data)?.is_empty() {
                    return Ok(stream);
                }
            }
        }
        Err(format!(
            "{model}: the answer to cancel ended before any content"
        ))
    };
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, read_to_content)
        .await
        .map_err(|_| format!("{model}: no content to cancel within {REQUEST_TIMEOUT:?}"))??;
    let dropped = Instant::now();
    drop(stream);
    loop {
        let rows = rig.gateway.board.snapshot();
        if rows
            .iter()
            .all(|r| r.state == LaneState::Ready && r.current_request.is_none())
        {
            return Ok(dropped.elapsed().as_secs_f64() * 1000.0);
        }
        if dropped.elapsed() > CANCEL_TIMEOUT {
            return Err(format!(
                "{model}: the lane was not free {} s after its client went away",
                CANCEL_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

/// Sends a paced request, and once the site has it a second one that must queue behind it on
/// the lone lane; returns the site's end of the first → the site's arrival of the second (the
/// lane's finish, the scheduler's hand-over, new chat, toggles, prompt and Send).
async fn turnaround_once(rig: &Rig, kind: ProviderKind, i: &str) -> Result<f64, String> {
    let model = &chat_id(kind);
    let (first, second) = (format!("[turn-{i}-a]"), format!("[turn-{i}-b]"));
    let first_prompt = format!("bench {first} replica:chunks=10 replica:delay_ms={DELAY_MS}");
    let second_prompt = format!("bench {second} replica:chunks=1 replica:delay_ms=0");
    let replica = rig.replica(kind)?;
    let queue_second = async {
        (replica.wait_for(
            |log| log.iter().any(|r| r.prompt.contains(first.as_str())),
            REQUEST_TIMEOUT,
        ))
        .await
        .map_err(|_| format!("the site never saw {first}"))?;
        rig.stream(model, &second_prompt).await
    };
    let (a, b) = futures::join!(rig.stream(model, &first_prompt), queue_second);
    a?;
    b?;
    let log = rig.site_log(kind, &[first, second]).await?;
    match log.as_slice() {
        [a, b] => Ok(ms_between(a.ended_us.unwrap_or(a.started_us), b.started_us)),
        _ => Err("the replica log lost a turnaround request".into()),
    }
}

/// What the 8-lane setup measured.
struct EightLanes {
    /// Stamp → receive, per stamped answer piece, every lane streaming, by provider with the
    /// capture its lane used.
    relay_ms: Vec<(ProviderKind, CaptureMode, Vec<f64>)>,
    /// The gateway's dispatch histogram (`GET /api/stats`) after the runs.
    dispatch: Value,
    /// Per provider, one lane at a time: the site ended a request → the lane's next (queued)
    /// request arrived at the site, as [`turnaround_once`] measures it.
    turnaround_ms: Vec<(ProviderKind, CaptureMode, Vec<f64>)>,
    /// The teed chunks of the rounds: renderer's `dataReceived` → page task
    /// (`browser::capture::delivery`), as count, mean, p50/p90/p99 and max in ms.
    delivery: Value,
}

impl EightLanes {
    fn all_relay_ms(&self) -> Vec<f64> {
        (self.relay_ms.iter())
            .flat_map(|(_, _, v)| v.iter().copied())
            .collect()
    }
}

async fn eight_lanes(rig: &Rig, sizes: Sizes) -> Result<EightLanes, String> {
    let lanes: Vec<(ProviderKind, CaptureMode)> = (rig.replicas.iter())
        .map(|(kind, _)| (*kind, rig.capture_of(*kind)))
        .collect();
    let models: Vec<String> = lanes.iter().map(|(k, _)| chat_id(*k)).collect();
    all_ok(join_all(models.iter().map(|m| rig.stream(m, WARM_UP))).await)?;
    let mut relay_ms: Vec<(ProviderKind, CaptureMode, Vec<f64>)> =
        lanes.iter().map(|(k, c)| (*k, *c, Vec::new())).collect();
    crate::browser::capture::measure_delivery(true);
    for round in 0..sizes.rounds {
        // Let every lane report itself free, so each round's requests start together.
        tokio::time::sleep(IDLE_PAUSE).await;
        let prompts: Vec<String> = (0..models.len())
            .map(|i| stamped(&format!("[round-{round}-{i}]")))
            .collect();
        let traces =
            all_ok(join_all(models.iter().zip(&prompts).map(|(m, p)| rig.stream(m, p))).await)?;
        for (slot, trace) in relay_ms.iter_mut().zip(traces) {
            slot.2.extend(trace.relay_ms);
        }
    }
    let delivery = crate::browser::capture::delivery();
    crate::browser::capture::measure_delivery(false);
    let stats_url = format!("{}/api/stats", rig.base);
    let stats: Value = match rig.client.get(stats_url).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    // After the dispatch figure, which these queued pairs would skew; one provider at a time,
    // so the figure is each lane's own.
    let mut turnaround_ms = Vec::new();
    for (kind, capture) in &lanes {
        let mut times = Vec::new();
        for i in 0..sizes.cancels {
            tokio::time::sleep(IDLE_PAUSE).await;
            times.push(turnaround_once(rig, *kind, &format!("{}-{i}", kind.prefix())).await?);
        }
        turnaround_ms.push((*kind, *capture, times));
    }
    Ok(EightLanes {
        relay_ms,
        dispatch: stats["dispatch"].clone(),
        turnaround_ms,
        delivery,
    })
}

/// One makespan run.
#[derive(Clone)]
struct Makespan {
    /// First send → last `[DONE]`.
    measured_s: f64,
    /// The lower bound no schedule can beat (see [`makespan_run`]).
    ideal_s: f64,
    /// What first-come-first-served would take in the order the requests reached the site.
    fifo_s: f64,
    /// The order the site saw the requests start, `L` for long and `S` for short.
    site_order: String,
}

/// Sends the [`MAKESPAN_CHUNKS`] requests together to the [`MAKESPAN_LANES`] lanes and times them until
/// the last one finished. With dᵢ = request i's time at the site (arrival → end of its stream,
/// from the replica's log) plus `overhead_ms`, the per-request lane overhead measured on the lone
/// lane, the ideal over N lanes is `max(Σ dᵢ / N, max dᵢ)`: no schedule finishes sooner unless
/// requests cost less overhead here than alone. The FIFO figure replays the same dᵢ in the order
/// the site saw the requests start, each on the lane that frees first: what a queue that cannot
/// know answer lengths would get with perfect dispatch.
async fn makespan_run(rig: &Rig, run: usize, overhead_ms: f64) -> Result<Makespan, String> {
    let tags: Vec<String> = (0..MAKESPAN_CHUNKS.len())
        .map(|i| format!("[makespan-{run}-{i}]"))
        .collect();
    let started = Instant::now();
    let requests = tags
        .iter()
        .zip(MAKESPAN_CHUNKS)
        .map(|(tag, chunks)| async move {
            let prompt = format!("bench {tag} replica:chunks={chunks} replica:delay_ms={DELAY_MS}");
            rig.stream(&chat_id(BENCH_PRIMARY), &prompt).await
        });
    all_ok(join_all(requests).await)?;
    let measured_s = started.elapsed().as_secs_f64();
    let log = rig.site_log(BENCH_PRIMARY, &tags).await?;
    // (site arrival, answer pieces, dᵢ in ms), in the order the site saw them start.
    let mut requests: Vec<(u64, usize, f64)> = (log.iter().zip(MAKESPAN_CHUNKS))
        .map(|(r, chunks)| {
            let at_site = ms_between(r.started_us, r.ended_us.unwrap_or(r.started_us));
            (r.started_us, chunks, at_site + overhead_ms)
        })
        .collect();
    requests.sort_by_key(|(arrival, _, _)| *arrival);
    let durations: Vec<f64> = requests.iter().map(|(_, _, d)| *d).collect();
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let spread = durations.iter().sum::<f64>() / f64::from(MAKESPAN_LANES);
    Ok(Makespan {
        measured_s,
        ideal_s: spread.max(longest) / 1000.0,
        fifo_s: fifo_makespan(&durations, MAKESPAN_LANES as usize) / 1000.0,
        site_order: requests.iter().map(|(_, c, _)| size_letter(*c)).collect(),
    })
}

/// The makespan of running `durations` in order, each on the lane that frees first.
fn fifo_makespan(durations: &[f64], lanes: usize) -> f64 {
    let mut free_at = vec![0.0_f64; lanes.max(1)];
    for d in durations {
        if let Some(lane) = free_at.iter_mut().min_by(|a, b| a.total_cmp(b)) {
            *lane += d;
        }
    }
    free_at.into_iter().fold(0.0, f64::max)
}

/// `L` for a long makespan request, `S` for a short one.
fn size_letter(chunks: usize) -> char {
    if chunks >= 100 { 'L' } else { 'S' }
}

/// A short unstamped answer, for warming lanes up.
const WARM_UP: &str = "bench warm-up replica:chunks=2 replica:delay_ms=0";

/// A prompt whose answer carries [`STAMPS`] stamped pieces, [`DELAY_MS`] apart.
fn stamped(tag: &str) -> String {
    format!(
        "bench {tag} replica:stamp replica:chunks={} replica:delay_ms={DELAY_MS}",
        STAMPS + 1
    )
}

fn all_ok<T>(results: Vec<Result<T, String>>) -> Result<Vec<T>, String> {
    results.into_iter().collect()
}

// === memory ===

/// The largest memory sample of one setup.
#[derive(Clone, Copy, Default)]
struct Peak {
    /// PSS and anonymous memory of the Chromium process tree at the peak, split by process
    /// kind.
    chromium: procs::TreePss,
    /// PSS of this process (gateway, replica sites, bench client) at the peak, in KiB.
    own_kib: u64,
    samples: usize,
    /// CPU time the samples took (taken from the runs being measured).
    sampling_cpu: Duration,
}

/// Runs `work` while sampling memory every [`MEMORY_EVERY`]; returns its output and the peak.
/// Both run in this task, and `/proc` is read on the blocking pool, so a sample never holds up
/// the requests being measured (though it does take CPU from them).
async fn with_memory_peak<T>(browser_pid: u32, work: impl Future<Output = T>) -> (T, Peak) {
    let mut peak = Peak::default();
    let sampler = async {
        let mut tick = tokio::time::interval(MEMORY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sample = tokio::task::spawn_blocking(move || {
                let before = thread_cpu_ticks();
                let own = procs::pss_kib(std::process::id());
                let browser = procs::tree_pss_split(browser_pid);
                (browser, own, thread_cpu_ticks().saturating_sub(before))
            })
            .await;
            if let Ok((browser, own_kib, ticks)) = sample {
                peak.samples += 1;
                peak.sampling_cpu += TICK * u32::try_from(ticks).unwrap_or(u32::MAX);
                if browser.total_kib + own_kib > peak.chromium.total_kib + peak.own_kib {
                    peak.chromium = browser;
                    peak.own_kib = own_kib;
                }
            }
        }
    };
    let out = match select(pin!(work), pin!(sampler)).await {
        Either::Left((out, _)) => out,
        // The sampler never ends; should it, the work still runs to its end.
        Either::Right((_, work)) => work.await,
    };
    (out, peak)
}

/// One clock tick of `/proc/*/stat` CPU times (`USER_HZ`, 100 per second on Linux).
const TICK: Duration = Duration::from_millis(10);

/// User plus system CPU time of the calling thread, in clock ticks (0 if unreadable).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut fields = fields.split_whitespace().skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    next() + next()
}

// === streams ===

/// What the client saw of one streamed response.
#[derive(Default)]
struct Trace {
    /// Send time, µs on [`now_us`]'s clock.
    sent_us: u64,
    /// Send → first chunk with non-empty content.
    first_content: Option<Duration>,
    /// Receive time − emission stamp, per stamp.
    relay_ms: Vec<f64>,
    /// When `[DONE]` arrived, µs on [`now_us`]'s clock.
    done_us: u64,
}

/// Splits an SSE body into `data:` payloads as bytes arrive. An event cut between two reads
/// waits in the buffer for the rest.
#[derive(Default)]
struct SseBuffer {
    pending: Vec<u8>,
}

impl SseBuffer {
    /// Appends `bytes`; returns the payloads of every event they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            for line in text.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(data.trim_start().to_owned());
                }
            }
        }
        out
    }
}

/// The `delta.content` of one chunk (empty if it has none), or the error it carries.
fn delta_content(data: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(data).map_err(|e| format!("bad SSE JSON ({e}): {data}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("the gateway sent an error: {}", err["message"]));
    }
    Ok(v["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The `«t=<µs>»` stamps in a piece of answer text.
fn stamps(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split("«t=")
        .skip(1)
        .filter_map(|rest| rest.split_once('»').and_then(|(n, _)| n.parse().ok()))
}

/// The `-chat` model ID of a provider (no thinking: the bench measures the relay).
fn chat_id(kind: ProviderKind) -> String {
    format!("{}-chat", kind.prefix())
}

// === clock ===

/// Microseconds on the clock the replicas stamp with (monotonic, one epoch per process).
fn now_us() -> u64 {
    switchyard_replicas::clock::monotonic_us()
}

fn ms_between(from_us: u64, to_us: u64) -> f64 {
    (to_us as f64 - from_us as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_read_from_content() {
        let got: Vec<u64> = stamps("Echo: x «t=12» «t=34»«t=bad» «t=5").collect();
        assert_eq!(got, [12, 34]);
    }

    #[test]
    fn sse_events_cut_between_reads_wait_for_their_end() {
        let mut buf = SseBuffer::default();
        assert!(buf.push(b"data: {\"a\":1}\n").is_empty());
        assert_eq!(
            buf.push(b"\ndata: [DONE]\n\ndata: x"),
            ["{\"a\":1}", "[DONE]"]
        );
        assert_eq!(buf.push(b"y\n\n"), ["xy"]);
    }

    #[test]
    fn fifo_replay_puts_each_request_on_the_first_free_lane() {
        assert_eq!(fifo_makespan(&[3.0, 1.0, 1.0, 1.0], 2), 3.0);
        assert_eq!(fifo_makespan(&[1.0, 1.0, 1.0, 3.0], 2), 4.0);
    }

    #[test]
    fn content_or_error_from_a_chunk() {
        let chunk = r#"{"choices":[{"delta":{"content":"hi"}}]}"#;
        assert_eq!(delta_content(chunk).unwrap(), "hi");
        assert_eq!(delta_content(r#"{"choices":[{"delta":{}}]}"#).unwrap(), "");
        assert!(delta_content(r#"{"error":{"message":"no"}}"#).is_err());
    }
}
