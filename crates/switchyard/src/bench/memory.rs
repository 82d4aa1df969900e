//! `switchyard bench memory`: only the memory rows of the 8-lane setup, for one or more sets of
//! extra Chromium flags, so launch choices can be compared within one run without the minutes
//! the whole bench takes.
//!
//! Each variant (a `--flags` set, laid on as `browser.extra_flags`; none means switchyard's own
//! flags only) gets the whole bench's 8-lane setup (`Rig`, one lane per provider with a replica,
//! each in its own browser context, `full_parallel_lanes`, replay capture where offered or tee
//! everywhere), started fresh: a warm-up request per lane and [`Sizes::rounds`] rounds of one
//! stamped request per lane at once (`eight_lanes`), memory sampled as in `switchyard bench`
//! (the peak kept), then [`SETTLE`] of idle and one more sample. PSS and anonymous memory are
//! read per process kind (`procs::tree_pss_split`); the relay latency of the rounds shows what a
//! flag costs in speed. With `--crash`, the first lane's renderer is then crashed
//! (`Page.crash` through `POST /api/lanes/{id}/crash`) and the rows say how many lanes had to
//! be brought back, whether the browser was relaunched and how long until every lane was
//! ready and answered again. `--repeat` runs the variants in turn that many times (A B A B),
//! so a change of the machine's load falls on all of them. Nothing is asserted.
//!
//! PSS splits shared file pages among every process mapping them, so another Chromium on the
//! machine makes this one look smaller: each row's setup names how many other Chromium
//! processes ran, and anonymous memory, which they do not move, stands beside PSS.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::report::{self, machine, percentile};
use super::{
    DELAY_MS, Peak, QUICK, Rig, STAMPS, Sizes, WARM_UP, all_ok, all_providers, capture_name,
    chat_id, eight_lanes, with_memory_peak,
};
use crate::browser::procs::{self, TreePss};
use crate::config::CaptureMode;
use crate::lanes::board::LaneState;

/// Idle time after the rounds before the settled sample.
const SETTLE: Duration = Duration::from_secs(3);
/// Longest wait for every lane to be ready again after the crash.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the board is read while the lanes recover.
const RECOVERY_POLL: Duration = Duration::from_millis(50);
/// How long the board must show every lane ready before the crash's toll is counted, so a lane
/// whose recovery starts late is not missed.
const RECOVERY_QUIET: Duration = Duration::from_secs(2);

/// What `switchyard bench memory` was asked to do.
pub struct Options {
    /// One entry per variant: its flags separated by spaces (an empty entry: none).
    pub variants: Vec<String>,
    pub capture: CaptureMode,
    pub rounds: usize,
    pub repeat: usize,
    pub crash: bool,
}

/// What one variant's run measured.
struct Measured {
    others: usize,
    peak: Peak,
    settled: TreePss,
    settled_own_kib: u64,
    relay_ms: Vec<f64>,
    crash: Option<Result<Crash, String>>,
}

/// What crashing the first lane's renderer took down.
struct Crash {
    lanes: usize,
    restarted: usize,
    browser_relaunched: bool,
    ready_after: Duration,
}

/// Runs every variant `repeat` times and prints (and writes) the table.
pub async fn run(
    opts: Options,
    out: Option<PathBuf>,
    json_out: Option<PathBuf>,
) -> Result<(), String> {
    if opts.rounds == 0 || opts.repeat == 0 {
        return Err("--rounds and --repeat must be at least 1".to_owned());
    }
    let variants = if opts.variants.is_empty() {
        vec![String::new()]
    } else {
        opts.variants.clone()
    };
    let began = std::time::Instant::now();
    let machine = machine().await;
    let sizes = Sizes {
        name: "memory",
        rounds: opts.rounds,
        cancels: 0,
        ..QUICK
    };
    let mut measured = Vec::new();
    for run in 0..opts.repeat {
        for flags in &variants {
            tracing::info!(
                "bench memory: 8 lanes, {} capture, flags `{flags}` (run {})",
                capture_name(opts.capture),
                run + 1
            );
            // A variant Chromium cannot run with (`--single-process` with browser contexts)
            // is a finding, not the end of the comparison.
            let result = one_variant(&opts, flags, sizes).await;
            if let Err(e) = &result {
                tracing::warn!("bench memory: flags `{flags}` failed: {e}");
            }
            measured.push((flags.clone(), run, result));
        }
    }
    let run = render(&machine, &opts, &measured, began.elapsed());
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

async fn one_variant(opts: &Options, flags: &str, sizes: Sizes) -> Result<Measured, String> {
    let list: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    let rig = Rig::start_with(&all_providers(opts.capture), &list, opts.crash, true).await?;
    let result = measure(&rig, opts, sizes).await;
    rig.shutdown().await;
    result
}

async fn measure(rig: &Rig, opts: &Options, sizes: Sizes) -> Result<Measured, String> {
    let pid = (rig.gateway.browser_pid())
        .ok_or("the gateway reports no shared browser, so memory cannot be read")?;
    let others = tokio::task::spawn_blocking(move || procs::other_chromiums(Some(pid)))
        .await
        .unwrap_or(0);
    let (eight, peak) = with_memory_peak(pid, eight_lanes(rig, sizes)).await;
    let eight = eight?;
    tokio::time::sleep(SETTLE).await;
    let (settled, settled_own_kib) = tokio::task::spawn_blocking(move || {
        (
            procs::tree_pss_split(pid),
            procs::pss_kib(std::process::id()),
        )
    })
    .await
    .unwrap_or_default();
    let crash = if opts.crash {
        Some(crash_first_lane(rig, pid).await)
    } else {
        None
    };
    Ok(Measured {
        others,
        peak,
        settled,
        settled_own_kib,
        relay_ms: eight.all_relay_ms(),
        crash,
    })
}

/// Crashes the first lane's renderer, waits until every lane is ready (and has been for
/// [`RECOVERY_QUIET`]), counts the lanes that were brought back, and sends every lane a request.
async fn crash_first_lane(rig: &Rig, pid: u32) -> Result<Crash, String> {
    let before = rig.gateway.board.snapshot();
    let first = before.first().ok_or("the gateway has no lanes")?;
    let url = format!("{}/api/lanes/{}/crash", rig.base, first.id.0);
    let began = Instant::now();
    let resp =
        (rig.client.post(&url).send().await).map_err(|e| format!("POST {url} failed: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(format!(
            "POST {url}: HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        ));
    }
    let restarts = |id: &crate::ids::LaneId| {
        (before.iter())
            .find(|r| &r.id == id)
            .map_or(0, |r| r.restarts)
    };
    let mut ready_since: Option<Instant> = None;
    let mut ready_after = Duration::ZERO;
    loop {
        tokio::time::sleep(RECOVERY_POLL).await;
        let rows = rig.gateway.board.snapshot();
        let first_back = (rows.iter()).any(|r| r.id == first.id && r.restarts > first.restarts);
        let all_ready = rows.iter().all(|r| r.state == LaneState::Ready);
        if first_back && all_ready {
            let since = *ready_since.get_or_insert_with(|| {
                ready_after = began.elapsed();
                Instant::now()
            });
            if since.elapsed() >= RECOVERY_QUIET {
                let restarted = (rows.iter())
                    .filter(|r| r.restarts > restarts(&r.id))
                    .count();
                let models: Vec<String> = (rig.replicas.iter()).map(|(k, _)| chat_id(*k)).collect();
                all_ok(join_all(models.iter().map(|m| rig.stream(m, WARM_UP))).await)
                    .map_err(|e| format!("after the crash, a lane did not answer: {e}"))?;
                return Ok(Crash {
                    lanes: rows.len(),
                    restarted,
                    browser_relaunched: rig.gateway.browser_pid() != Some(pid),
                    ready_after,
                });
            }
        } else {
            ready_since = None;
        }
        if began.elapsed() > RECOVERY_TIMEOUT {
            return Err(format!(
                "the lanes were not all ready {} s after the crash",
                RECOVERY_TIMEOUT.as_secs()
            ));
        }
    }
}

/// A variant's flags, its run (from 0) and what it measured or why it failed.
type Outcome = (String, usize, Result<Measured, String>);

fn render(
    machine: &report::Machine,
    opts: &Options,
    measured: &[Outcome],
    took: Duration,
) -> Value {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut figures = Vec::new();
    for (flags, run, m) in measured {
        let shown = if flags.is_empty() {
            "switchyard's own flags".to_owned()
        } else {
            format!("+ `{flags}`")
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                figures.push(json!({
                    "key": "failed", "measure": "the 8-lane setup", "flags": flags,
                    "run": run + 1, "setup": format!("{shown}; run {}", run + 1),
                    "cell": format!("failed: {e}"), "existing_tool": "—", "samples_note": "—",
                    "error": e,
                }));
                continue;
            }
        };
        let setup = format!(
            "{shown}; run {}; {} other Chromium processes on the machine",
            run + 1,
            m.others
        );
        let split = |t: &TreePss, own: u64| {
            format!(
                "{:.0} MiB = Chromium {:.0} (browser {:.0} + {} renderers {:.0} + utilities \
                 {:.0} + {} zygotes {:.0}) + switchyard {:.0}; anonymous {:.0} ({:.0} + {:.0} + \
                 {:.0} + {:.0})",
                mib(t.total_kib + own),
                mib(t.total_kib),
                mib(t.browser_process_kib),
                t.renderers,
                mib(t.renderer_kib),
                mib(t.utility_kib),
                t.zygotes,
                mib(t.zygote_kib),
                mib(own),
                mib(t.total_anon_kib),
                mib(t.browser_process_anon_kib),
                mib(t.renderer_anon_kib),
                mib(t.utility_anon_kib),
                mib(t.zygote_anon_kib),
            )
        };
        let numbers = |t: &TreePss, own: u64| {
            json!({
                "total_pss_mib": mib(t.total_kib + own), "chromium_pss_mib": mib(t.total_kib),
                "browser_process_pss_mib": mib(t.browser_process_kib),
                "renderer_pss_mib": mib(t.renderer_kib), "renderers": t.renderers,
                "utility_pss_mib": mib(t.utility_kib), "switchyard_pss_mib": mib(own),
                "chromium_anon_mib": mib(t.total_anon_kib),
                "browser_process_anon_mib": mib(t.browser_process_anon_kib),
                "renderer_anon_mib": mib(t.renderer_anon_kib),
                "utility_anon_mib": mib(t.utility_anon_kib),
                "zygote_pss_mib": mib(t.zygote_kib), "zygotes": t.zygotes,
                "zygote_anon_mib": mib(t.zygote_anon_kib),
            })
        };
        let mut row = |key: &str, measure: &str, cell: String, samples: String, data: Value| {
            let mut figure = json!({
                "key": key, "measure": measure, "setup": setup, "cell": cell,
                "existing_tool": "—", "samples_note": samples, "flags": flags,
                "run": run + 1, "other_chromium_processes": m.others,
            });
            if let (Value::Object(f), Value::Object(d)) = (&mut figure, data) {
                f.extend(d);
            }
            figures.push(figure);
        };
        row(
            "peak_memory",
            "peak memory (PSS)",
            split(&m.peak.chromium, m.peak.own_kib),
            format!("{} samples", m.peak.samples),
            numbers(&m.peak.chromium, m.peak.own_kib),
        );
        row(
            "settled_memory",
            &format!("memory {} s after the rounds (PSS)", SETTLE.as_secs()),
            split(&m.settled, m.settled_own_kib),
            "1 sample".to_owned(),
            numbers(&m.settled, m.settled_own_kib),
        );
        let (p50, p99) = (percentile(&m.relay_ms, 50.0), percentile(&m.relay_ms, 99.0));
        let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));
        row(
            "relay_ms",
            "relay latency per chunk (stamp → client), p50 / p99",
            format!("{} / {}", ms(p50), ms(p99)),
            format!("{} stamps", m.relay_ms.len()),
            json!({"p50_ms": p50, "p99_ms": p99}),
        );
        match &m.crash {
            None => {}
            Some(Ok(c)) => row(
                "renderer_crash",
                "the first lane's renderer crashed: lanes brought back",
                format!(
                    "{} of {} ({}); every lane ready {:.1} s after the crash, and answering",
                    c.restarted,
                    c.lanes,
                    if c.browser_relaunched {
                        "the browser was relaunched"
                    } else {
                        "the browser kept running"
                    },
                    c.ready_after.as_secs_f64()
                ),
                "1 crash".to_owned(),
                json!({"lanes": c.lanes, "lanes_restarted": c.restarted,
                       "browser_relaunched": c.browser_relaunched,
                       "ready_after_s": c.ready_after.as_secs_f64()}),
            ),
            Some(Err(e)) => row(
                "renderer_crash",
                "the first lane's renderer crashed: lanes brought back",
                format!("not measured: {e}"),
                "1 crash".to_owned(),
                json!({"error": e}),
            ),
        }
    }
    let notes = [
        format!(
            "8 lanes, one per provider, each in its own browser context of one Chromium \
             (`full_parallel_lanes`), {} capture{}. Each variant's flags are laid on \
             switchyard's own ({}) as `browser.extra_flags`, in a fresh gateway. A warm-up request \
             per lane, then {} rounds of one stamped request per lane at once ({STAMPS} pieces \
             {DELAY_MS} ms apart); memory sampled every second through the rounds (largest \
             total kept), and once more after {} s idle.",
            capture_name(opts.capture),
            if opts.capture == CaptureMode::Replay {
                " where the provider offers it (tee elsewhere)"
            } else {
                " everywhere"
            },
            crate::browser::launch_summary(),
            opts.rounds,
            SETTLE.as_secs()
        ),
        "PSS splits shared pages between the processes that map them; other Chromium \
         processes on the machine (counted in each setup) share the binary's pages and lower \
         every PSS figure. Anonymous memory (`Anonymous:` of smaps_rollup: heap, stacks) is \
         not shared with them, so compare variants of one process model by it first; but a \
         zygote's pages stay shared with the processes it forks until written, and \
         `Anonymous:` counts them in each, so between a model with zygotes and one without, \
         PSS is the figure. switchyard's figure is this process: the gateway, the eight \
         replica sites and the bench client."
            .to_owned(),
        "The crash row (`--crash`): `Page.crash` on the first lane's page through `POST \
         /api/lanes/{id}/crash`; lanes brought back = lanes whose restart count rose once every \
         lane had been ready for 2 s; then every lane answered one request."
            .to_owned(),
        format!("Run time: {:.1} s.", took.as_secs_f64()),
    ];
    report::run_json("memory", machine, figures, &notes, took)
}
