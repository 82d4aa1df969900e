//! The bench's report: the machine it ran on, one markdown table, and the notes that say how
//! each number was taken.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    CANCEL_POLL, DELAY_MS, IDLE_PAUSE, MAKESPAN_CHUNKS, MAKESPAN_LANES, MEMORY_EVERY, Makespan,
    Peak, Results, STAMPS, Sizes, capture_name, overhead, size_letter,
};
use crate::browser::find_chromium;
use crate::config::CaptureMode;
use crate::demo::BENCH_PRIMARY;

/// The existing tool's figures (IntenseRP Next v2 against the same replica as the 1-lane setup), measured
/// separately on this project's machine kind, never in a run of this bench.
const REFERENCE_FIRST_CONTENT: &str = "1.44 s";
const REFERENCE_RELAY_P50: &str = "1.05 ms";
const REFERENCE_MEMORY_ONE_LANE: &str = "610 MiB";

/// The nearest-rank percentile `p` (0–100) of `values`, or `None` if there are none.
pub(super) fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

pub(super) fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the table's header says about the machine.
pub(super) struct Machine {
    pub(super) cores: usize,
    pub(super) cpu: String,
    pub(super) memory: String,
    chromium: String,
    /// The 1-minute load average when the bench started (other work skews the numbers).
    pub(super) load: String,
}

pub(super) async fn machine() -> Machine {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = tokio::fs::read_to_string("/proc/cpuinfo")
        .await
        .unwrap_or_default();
    let cpu = (cpuinfo.lines())
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
    let meminfo = tokio::fs::read_to_string("/proc/meminfo")
        .await
        .unwrap_or_default();
    let memory = (meminfo.lines())
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("unknown".to_owned(), |kib| {
            format!("{:.1} GiB", mib(kib) / 1024.0)
        });
    let chromium = match find_chromium(None) {
        Ok(path) => match tokio::process::Command::new(&path)
            .arg("--version")
            .output()
            .await
        {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            Ok(o) => format!("{} (--version: {})", path.display(), o.status),
            Err(e) => format!("{} (--version: {e})", path.display()),
        },
        Err(e) => format!("not found ({e})"),
    };
    let loadavg = tokio::fs::read_to_string("/proc/loadavg")
        .await
        .unwrap_or_default();
    let load = loadavg.split_whitespace().next().unwrap_or("?").to_owned();
    Machine {
        load,
        cores,
        cpu,
        memory,
        chromium,
    }
}

/// One run's figures as JSON (`--json`): every figure with its setup, sample count and the cell
/// the table shows, each key naming its unit, plus the machine and the notes. The table is
/// rendered from this value ([`table`]), so the printed table, the JSON and the README's table
/// (generated from a saved JSON) cannot disagree.
pub(super) fn render(
    machine: &Machine,
    sizes: Sizes,
    results: &Results,
    overhead_ms: f64,
    took: Duration,
) -> Value {
    let mut figures = Figures::default();
    let p = BENCH_PRIMARY.display_name();
    let pid = BENCH_PRIMARY.prefix();
    let (one, one_peak) = &results.one;
    let (one_tee, one_tee_peak) = &results.one_tee;
    let (eight, eight_peak) = &results.eight;
    let (eight_tee, eight_tee_peak) = &results.eight_tee;
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));

    let total = eight.relay_ms.len();
    let providers: Vec<&str> = (eight.relay_ms.iter())
        .map(|(k, _, _)| k.display_name())
        .collect();
    let replayed: Vec<&str> = (eight.relay_ms.iter())
        .filter(|(_, c, _)| *c == CaptureMode::Replay)
        .map(|(k, _, _)| k.display_name())
        .collect();
    let teed: Vec<&str> = (eight.relay_ms.iter())
        .filter(|(_, c, _)| *c == CaptureMode::Tee)
        .map(|(k, _, _)| k.display_name())
        .collect();
    let all = format!("{total} lanes streaming at once (one per provider)");
    let mixed = format!(
        "{all}, replay capture ({}; tee for {}, which offer only it)",
        replayed.len(),
        if teed.is_empty() {
            "none".to_owned()
        } else {
            teed.join(", ")
        }
    );
    let one_relay = [
        (
            format!("1 lane streaming alone ({p}), replay capture"),
            one.relay_ms.clone(),
            Vec::new(),
            true,
        ),
        (
            format!("1 lane streaming alone ({p}), tee capture"),
            one_tee.relay_ms.clone(),
            Vec::new(),
            true,
        ),
    ];
    let eight_relay =
        [(mixed, eight), (format!("{all}, tee capture"), eight_tee)].map(|(setup, run)| {
            let by_provider: Vec<Value> = (run.relay_ms.iter())
                .map(|(kind, capture, v)| {
                    json!({
                        "provider": kind.prefix(), "capture": capture_name(*capture),
                        "p50_ms": percentile(v, 50.0), "p99_ms": percentile(v, 99.0),
                        "samples": v.len(),
                    })
                })
                .collect();
            (setup, run.all_relay_ms(), by_provider, false)
        });
    for (setup, values, by_provider, alone) in one_relay.into_iter().chain(eight_relay) {
        for p in [50.0, 99.0] {
            let negative = values.iter().filter(|v| **v < 0.0).count();
            let reference = if alone && p == 50.0 {
                REFERENCE_RELAY_P50
            } else {
                "—"
            };
            let mut data = json!({
                "key": format!("relay_p{p}_ms"), "value": percentile(&values, p),
                "samples": values.len(), "negative_samples": negative,
            });
            if !by_provider.is_empty() {
                data["by_provider"] = Value::from(by_provider.clone());
            }
            figures.add(
                Row {
                    measure: &format!("relay latency per chunk, p{p}"),
                    setup: &setup,
                    cell: ms(percentile(&values, p)),
                    existing_tool: reference,
                    samples: format!("{} chunks, {negative} negative", values.len()),
                },
                data,
            );
        }
    }

    delivery_rows(&mut figures, &format!("{all}, tee capture"), eight_tee);

    for (capture, lane) in [("replay", one), ("tee", one_tee)] {
        let first = median(&lane.first_content_ms).map(|v| v / 1e3);
        figures.add(
            Row {
                measure: "time to first content, p50",
                setup: &format!("1 warm idle lane ({p}), {capture} capture"),
                cell: first.map_or("n/a".into(), |v| format!("{v:.3} s")),
                existing_tool: REFERENCE_FIRST_CONTENT,
                samples: format!("{} requests", lane.first_content_ms.len()),
            },
            json!({
                "key": "first_content_p50_s", "value": first,
                "samples": lane.first_content_ms.len(),
            }),
        );
    }

    for (size, times) in &one.prompt_entry_ms {
        figures.add(
            Row {
                measure: "prompt entry (send → site receives), p50",
                setup: &format!(
                    "{size} characters of short lines on 1 warm lane ({p}), replay capture"
                ),
                cell: ms(median(times)),
                existing_tool: "—",
                samples: format!("{} requests", times.len()),
            },
            json!({
                "key": "prompt_entry_p50_ms", "prompt_chars": size,
                "value": median(times), "samples": times.len(),
            }),
        );
    }

    for (capture, lane) in [("replay", one), ("tee", one_tee)] {
        let setup = format!("1 lane ({p}), {capture} capture");
        for (measure, key, values, pct) in [
            (
                "cancel (client goes away) → lane free, p99",
                "cancel_p99_ms",
                &lane.cancel_ms,
                99.0,
            ),
            (
                "turnaround (site ended → next request at the site), p50",
                "turnaround_p50_ms",
                &lane.turnaround_ms,
                50.0,
            ),
        ] {
            figures.add(
                Row {
                    measure,
                    setup: &setup,
                    cell: ms(percentile(values, pct)),
                    existing_tool: "—",
                    samples: format!("{} requests", values.len()),
                },
                json!({
                    "key": key, "capture": capture, "value": percentile(values, pct),
                    "samples": values.len(),
                }),
            );
        }
    }

    for cell in &results.overhead {
        let setup = format!(
            "{} QPS open loop for {} s, streaming, {} dummy lanes",
            cell.qps,
            cell.duration.as_secs_f64(),
            overhead::LANES
        );
        let measured = cell.stats["measured_samples"].as_u64().unwrap_or(0);
        let note = format!(
            "{measured} requests, {} failed, {:.0} QPS achieved",
            cell.failed, cell.achieved_qps
        );
        for (measure, key, hist, pct) in [
            ("overhead, p50", "overhead_p50_ms", "overhead", "p50_ms"),
            ("overhead, p99", "overhead_p99_ms", "overhead", "p99_ms"),
            (
                "dispatch (queued → lane took it), p99",
                "dispatch_p99_ms",
                "dispatch",
                "p99_ms",
            ),
        ] {
            let value = cell.stats[hist][pct].as_f64();
            figures.add(
                Row {
                    measure,
                    setup: &setup,
                    cell: value.map_or("n/a".to_owned(), |v| format!("{v:.3} ms")),
                    existing_tool: "—",
                    samples: note.clone(),
                },
                json!({
                    "key": key, "value": value, "qps": cell.qps, "stream": cell.stream,
                    "samples": measured, "failed": cell.failed,
                    "achieved_qps": cell.achieved_qps,
                }),
            );
        }
    }
    for (setup, run) in [
        (
            format!("{total} real lanes, replay capture where offered"),
            eight,
        ),
        (format!("{total} real lanes, tee capture"), eight_tee),
    ] {
        let value = run.dispatch["p99_ms"].as_f64();
        let count = run.dispatch["count"].as_u64().unwrap_or(0);
        figures.add(
            Row {
                measure: "dispatch (queued → lane took it), p99",
                setup: &setup,
                cell: value.map_or("n/a".to_owned(), |v| format!("{v:.3} ms")),
                existing_tool: "—",
                samples: format!("{count} requests"),
            },
            json!({"key": "dispatch_p99_ms", "value": value, "samples": count}),
        );
    }

    for (setup, run) in [
        (
            format!("1 lane per provider ({total}), replay capture where offered"),
            eight,
        ),
        (
            format!("1 lane per provider ({total}), tee capture"),
            eight_tee,
        ),
    ] {
        let every: Vec<f64> = (run.turnaround_ms.iter())
            .flat_map(|(_, _, v)| v.iter().copied())
            .collect();
        let by_provider: Vec<Value> = (run.turnaround_ms.iter())
            .map(|(kind, capture, v)| {
                json!({
                    "provider": kind.prefix(), "capture": capture_name(*capture),
                    "p50_ms": percentile(v, 50.0), "samples": v.len(),
                })
            })
            .collect();
        let slowest = (run.turnaround_ms.iter())
            .filter_map(|(kind, _, v)| Some((kind.display_name(), percentile(v, 50.0)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        figures.add(
            Row {
                measure: "turnaround (site ended → next request at the site), p50",
                setup: &setup,
                cell: ms(percentile(&every, 50.0)),
                existing_tool: "—",
                samples: match slowest {
                    Some((name, v)) => {
                        format!(
                            "{} requests; slowest provider {name} {v:.2} ms",
                            every.len()
                        )
                    }
                    None => format!("{} requests", every.len()),
                },
            },
            json!({
                "key": "turnaround_p50_ms", "value": percentile(&every, 50.0),
                "samples": every.len(), "by_provider": by_provider,
            }),
        );
    }

    let long = MAKESPAN_CHUNKS
        .iter()
        .filter(|c| size_letter(**c) == 'L')
        .count();
    let short = MAKESPAN_CHUNKS.len() - long;
    let setup = format!(
        "{long} long + {short} short requests on {MAKESPAN_LANES} {p} lanes, replay capture"
    );
    for (measure, fifo) in [
        ("makespan / ideal", false),
        ("makespan / FIFO replay", true),
    ] {
        let bound = |m: &Makespan| if fifo { m.fifo_s } else { m.ideal_s };
        let ratio = |m: &Makespan| m.measured_s / bound(m);
        let mut runs = results.makespans.clone();
        runs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let median_run = runs.get(runs.len() / 2);
        let cell = median_run.map_or("n/a".to_owned(), |m| {
            format!(
                "{:.2} ({:.2} s / {:.2} s)",
                ratio(m),
                m.measured_s,
                bound(m)
            )
        });
        let samples = match (runs.first(), runs.last()) {
            (Some(lo), Some(hi)) if runs.len() > 1 => {
                format!("{} runs, {:.2}–{:.2}", runs.len(), ratio(lo), ratio(hi))
            }
            _ => format!("{} run", runs.len()),
        };
        figures.add(
            Row {
                measure,
                setup: &setup,
                cell,
                existing_tool: "—",
                samples,
            },
            json!({
                "key": if fifo { "makespan_over_fifo_ratio" } else { "makespan_over_ideal_ratio" },
                "value": median_run.map(ratio),
                "measured_s": median_run.map(|m| m.measured_s), "bound_s": median_run.map(bound),
                "samples": runs.len(),
            }),
        );
    }

    let peaks = [
        (
            format!("1 lane ({p}), replay capture"),
            one_peak,
            REFERENCE_MEMORY_ONE_LANE,
        ),
        (format!("1 lane ({p}), tee capture"), one_tee_peak, "—"),
        (
            format!("{total} lanes, replay capture where offered"),
            eight_peak,
            "—",
        ),
        (format!("{total} lanes, tee capture"), eight_tee_peak, "—"),
    ];
    for (setup, peak, reference) in &peaks {
        let (browser, own) = (mib(peak.chromium.total_kib), mib(peak.own_kib));
        figures.add(
            Row {
                measure: "peak memory (PSS)",
                setup,
                cell: format!(
                    "{:.0} MiB (Chromium {browser:.0} with {} at {:.0}; switchyard {own:.0})",
                    browser + own,
                    match peak.chromium.renderers {
                        1 => "1 renderer".to_owned(),
                        n => format!("{n} renderers"),
                    },
                    mib(peak.chromium.renderer_kib)
                ),
                existing_tool: reference,
                samples: format!("{} samples", peak.samples),
            },
            json!({
                "key": "peak_pss_mib", "value": browser + own,
                "chromium_pss_mib": browser, "switchyard_pss_mib": own,
                "renderer_pss_mib": mib(peak.chromium.renderer_kib),
                "renderers": peak.chromium.renderers,
                "browser_process_pss_mib": mib(peak.chromium.browser_process_kib),
                "utility_pss_mib": mib(peak.chromium.utility_kib),
                "chromium_anon_mib": mib(peak.chromium.total_anon_kib),
                "renderer_anon_mib": mib(peak.chromium.renderer_anon_kib),
                "browser_process_anon_mib": mib(peak.chromium.browser_process_anon_kib),
                "utility_anon_mib": mib(peak.chromium.utility_anon_kib),
                "zygote_pss_mib": mib(peak.chromium.zygote_kib),
                "zygotes": peak.chromium.zygotes,
                "samples": peak.samples,
            }),
        );
    }
    // Per lane: what each lane past the first adds, and the whole Chromium spread over the lanes.
    let lanes = total.max(1) as f64;
    for (setup, single, many) in [
        (
            format!("{total} lanes vs 1, replay capture where offered"),
            one_peak,
            eight_peak,
        ),
        (
            format!("{total} lanes vs 1, tee capture"),
            one_tee_peak,
            eight_tee_peak,
        ),
    ] {
        let whole = |p: &Peak| mib(p.chromium.total_kib + p.own_kib);
        let added = (whole(many) - whole(single)) / (lanes - 1.0).max(1.0);
        figures.add(
            Row {
                measure: "memory (PSS) per lane",
                setup: &setup,
                cell: format!(
                    "{added:.0} MiB per added lane; {:.0} MiB per lane on average",
                    whole(many) / lanes
                ),
                existing_tool: "—",
                samples: format!("{} + {} samples", single.samples, many.samples),
            },
            json!({
                "key": "pss_per_added_lane_mib", "value": added,
                "average_per_lane_mib": whole(many) / lanes,
                "samples": single.samples + many.samples,
            }),
        );
    }

    let sent_order: String = MAKESPAN_CHUNKS.iter().map(|c| size_letter(*c)).collect();
    let site_orders: Vec<&str> = (results.makespans.iter())
        .map(|m| m.site_order.as_str())
        .collect();
    let site_orders = site_orders.join(", ");
    let notes = [
        format!(
            "Relay latency: the replica writes a monotonic clock (µs since an epoch shared by \
             the whole process) into every answer piece as it emits it (`replica:stamp`), \
             {STAMPS} pieces per request, {DELAY_MS} ms apart. The client reads the SSE body with \
             `bytes_stream()` and takes receive time − stamp, on the same clock, for each stamp. \
             Replicas, gateway and client share this process. Negative samples are kept in the \
             percentiles and counted in the samples column. The path is site → Chromium page → \
             CDP capture → lane task → decoder → the request's event channel → SSE → loopback \
             HTTP → client with the tee capture, and site → switchyard's replayed request → lane \
             task → decoder → event channel → SSE → client with the replay capture; the \
             scheduler only hands a job to its lane and is not on the per-chunk path. \"At \
             once\": each round sends one request to every lane together."
        ),
        format!(
            "The {total}-lane setup is one lane per provider ({}) in one Chromium, \
             `full_parallel_lanes`, each in its own browser context. Its replay run uses the \
             replay capture for {} and the tee capture for {}; its tee run tees everywhere. \
             Each figure's JSON has the percentiles per provider (`by_provider`). A tee lane's \
             page is minimized while its answer streams (`hide_while_streaming`, the default). \
             Tee delivery is the part of the tee run's relay between the renderer and the page \
             task: the page task's CLOCK_MONOTONIC when it handles a chunk's \
             `Network.dataReceived` minus the event's own timestamp, which the renderer takes on \
             its main thread on the same clock.",
            providers.join(", "),
            replayed.join(", "),
            if teed.is_empty() {
                "none".to_owned()
            } else {
                teed.join(", ")
            }
        ),
        format!(
            "Time to first content: client send → first SSE chunk with non-empty \
             `delta.content`, `{pid}-chat` on a warm lane left idle for {} ms, the replica \
             answering with no pacing delay. Of it, send → the site receives the request (new \
             chat, prompt typed, Send pressed in the page) is {} at p50.",
            IDLE_PAUSE.as_millis(),
            ms(median(&one.to_site_ms))
        ),
        "Prompt entry: client send → the site receives the completion request, for prompts of \
         that many characters made of 33-character lines (a long chat history): new chat, \
         toggles, prompt entry (typed up to 200 lines or 20,000 characters, set in one step \
         above) and Send. The difference to the smallest row is what the prompt's size costs."
            .to_owned(),
        format!(
            "Cancel: a streaming `{pid}-chat` answer of 1000 pieces {DELAY_MS} ms apart is \
             dropped by the client at its first content; the time from the drop until the \
             board (which the scheduler writes) shows the lane ready with no request, polled \
             every {} ms. It covers the disconnect reaching the handler, the lane pressing the \
             site's Stop, the site's stream ending and the hand-back to the scheduler. \
             Turnaround: a request of 10 pieces, and once the site has it a second one that \
             queues behind it; the site's end of the first → the site's arrival of the second, \
             both from the replica's log (the lane's finish, the hand-over, new chat, toggles, \
             prompt and Send).",
            CANCEL_POLL.as_millis()
        ),
        format!(
            "Overhead and dispatch at fixed rates: the `switchyard bench overhead` harness \
             (open loop, {} dummy lanes, no browser, streaming `dummy-instant`) for {} s a \
             rate; the gateway's own histograms (GET /api/stats): overhead = request head → \
             last frame minus lane time, dispatch = submitted to the queue → a lane took it. \
             Dispatch on real lanes is the same histogram after the {total}-lane runs (its \
             rounds send one request per lane together, so none waits for a lane). \
             `switchyard bench overhead` has the full grid.",
            overhead::LANES,
            sizes.overhead.as_secs_f64()
        ),
        format!(
            "Makespan: {} `{pid}-chat` requests (L = {} and S = {} answer pieces, \
             {DELAY_MS} ms apart) sent together, listed as {sent_order}, to \
             {MAKESPAN_LANES} {p} lanes in one Chromium; makespan = \
             first send → last `[DONE]`. Which request reaches the queue first is up to the race \
             between the connections; the site saw them start as {site_orders} (one per run). \
             With dᵢ = request i's time at the site (arrival → end of stream, from the replica's \
             log) + o, where o = {overhead_ms:.1} ms is the per-request lane overhead measured on \
             the lone lane (p50 of send → site arrival plus site end → `[DONE]`): ideal = \
             max(Σ dᵢ / {MAKESPAN_LANES}, max dᵢ), the bound for a scheduler that knew every \
             length; FIFO replay = the same dᵢ run in the site's start order, each on the first \
             free lane, i.e. perfect dispatch without knowing lengths. Each cell is the median \
             run.",
            MAKESPAN_CHUNKS.len(),
            MAKESPAN_CHUNKS.iter().max().unwrap_or(&0),
            MAKESPAN_CHUNKS.iter().min().unwrap_or(&0),
        ),
        format!(
            "Peak memory: PSS (shared pages split between the processes sharing them) of the \
             Chromium process tree (renderers: processes with `--type=renderer`) plus this \
             process, which also holds the replica sites and the bench client; sampled every {} \
             ms from the moment the gateway is ready through the setup's runs, largest total \
             kept. PSS counts each process's share of the Chromium binary's mapped pages too, \
             so a lone renderer carries all of the renderers' share, and other Chromiums on the \
             machine (other programs, tests) lower every figure a little. Per added lane = (the \
             {total}-lane peak − the 1-lane peak) / {}. Sampling \
             took {:.1} ms of CPU per sample on average (the costliest setup), taken from the \
             runs being measured. Chromium ran with {}; `switchyard bench memory` compares \
             other flag sets.",
            MEMORY_EVERY.as_millis(),
            total.saturating_sub(1).max(1),
            peaks
                .iter()
                .map(|(_, p, _)| p.sampling_cpu.as_secs_f64() * 1e3 / p.samples.max(1) as f64)
                .fold(0.0, f64::max),
            crate::browser::launch_summary()
        ),
        format!(
            "Existing tool (IntenseRP Next v2): {REFERENCE_RELAY_P50} relay p50 with one lane, \
             {REFERENCE_FIRST_CONTENT} to first content, {REFERENCE_MEMORY_ONE_LANE} for one \
             lane, measured separately on this project's machine kind against the same {p} \
             replica; not measured in this run."
        ),
        "Targets (reported, not asserted): overhead p99 ≤ 0.5 ms at 5000 QPS; tee relay p99 ≤ \
         5 ms with 8 lanes; 8 providers ≤ 500 MiB PSS; turnaround ≤ 50 ms p50."
            .to_owned(),
        format!("Run time: {:.1} s.", took.as_secs_f64()),
    ];
    let mut run = run_json(sizes.name, machine, figures.0, &notes, took);
    run["existing_tool_note"] =
        "figures of the existing tool were measured separately, not in this run".into();
    run
}

/// A run as JSON: its name, when and where it ran, its figures and the notes on how they were
/// taken. [`table`] renders it.
pub(super) fn run_json(
    name: &str,
    machine: &Machine,
    figures: Vec<Value>,
    notes: &[String],
    took: Duration,
) -> Value {
    json!({
        "run": name,
        "measured_at": crate::artifacts::rfc3339(std::time::SystemTime::now()),
        "machine": {
            "cores": machine.cores, "cpu": machine.cpu, "memory": machine.memory,
            "chromium": machine.chromium,
            "load_1m_at_start": machine.load.parse::<f64>().ok(),
        },
        "took_s": took.as_secs_f64(),
        "figures": figures,
        "notes": notes,
    })
}

/// Prints a run's table and writes the table (`--out`) and the JSON (`--json`) if asked.
pub(super) async fn publish(
    run: &Value,
    out: Option<&Path>,
    json_out: Option<&Path>,
) -> Result<(), String> {
    let table = table(run)?;
    println!("\n{table}");
    if let Some(path) = json_out {
        let text = serde_json::to_string_pretty(run).unwrap_or_default();
        tokio::fs::write(path, text)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = out {
        tokio::fs::write(path, &table)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// What the table shows of one figure.
struct Row<'a> {
    measure: &'a str,
    setup: &'a str,
    /// The value as the table prints it, with its unit.
    cell: String,
    /// The existing tool's figure (measured separately), or "—".
    existing_tool: &'a str,
    samples: String,
}

#[derive(Default)]
struct Figures(Vec<Value>);

impl Figures {
    /// Adds a figure: `data` (its key, value and counts) with the row's cells laid over it.
    fn add(&mut self, row: Row<'_>, mut data: Value) {
        if let Value::Object(map) = &mut data {
            for (key, value) in [
                ("measure", row.measure),
                ("setup", row.setup),
                ("cell", &row.cell),
                ("existing_tool", row.existing_tool),
                ("samples_note", &row.samples),
            ] {
                map.insert(key.to_owned(), Value::from(value));
            }
        }
        self.0.push(data);
    }
}

/// The markdown table with its notes, rendered from a run's JSON (what [`render`] made, or a
/// file `--json` saved). Fails on JSON that is not a bench run.
pub fn table(run: &Value) -> Result<String, String> {
    let text = |v: &Value, key: &str| -> Result<String, String> {
        match v.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Null) | None => Err(format!("the bench JSON has no `{key}`")),
            Some(other) => Err(format!("the bench JSON's `{key}` is not text: {other}")),
        }
    };
    let machine = run
        .get("machine")
        .ok_or("the bench JSON has no `machine`")?;
    let load = match machine.get("load_1m_at_start") {
        Some(Value::Number(n)) => n.to_string(),
        _ => "?".to_owned(),
    };
    let mut out = format!(
        "switchyard bench ({} run, {}) · {} cores · {} · {} RAM · {} · load {load} at start\n\n\
         | measure | setup | switchyard | existing tool (measured separately) | samples |\n\
         |---|---|---|---|---|\n",
        text(run, "run")?,
        text(run, "measured_at")?,
        text(machine, "cores")?,
        text(machine, "cpu")?,
        text(machine, "memory")?,
        text(machine, "chromium")?,
    );
    let figures = (run.get("figures").and_then(Value::as_array))
        .ok_or("the bench JSON has no `figures` list")?;
    for figure in figures {
        let cells = ["measure", "setup", "cell", "existing_tool", "samples_note"]
            .map(|key| text(figure, key).map(|t| t.replace('|', "\\|")));
        let cells: Vec<String> = cells.into_iter().collect::<Result<_, _>>()?;
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    let notes =
        (run.get("notes").and_then(Value::as_array)).ok_or("the bench JSON has no `notes`")?;
    out.push_str("\nNotes:\n");
    for note in notes {
        let note = note.as_str().ok_or("a bench note is not text")?;
        out.push_str(&format!("- {note}\n"));
    }
    Ok(out)
}

/// The README's generated part: between these two lines, the table of the run saved in
/// [`README_RUN`].
pub const README_BEGIN: &str =
    "<!-- bench-table: generated by `make bench-readme` from docs/bench.json; do not edit -->";
pub const README_END: &str = "<!-- bench-table: end -->";
/// Where the run the README shows is kept, relative to the repository root.
pub const README_RUN: &str = "docs/bench.json";

/// `readme` with its generated part replaced by `table`. Fails if the markers are missing.
pub fn splice_readme(readme: &str, table: &str) -> Result<String, String> {
    let begin = readme
        .find(README_BEGIN)
        .ok_or_else(|| format!("the README has no line `{README_BEGIN}`"))?;
    let after_begin = begin + README_BEGIN.len();
    let end = readme[after_begin..]
        .find(README_END)
        .map(|i| after_begin + i)
        .ok_or_else(|| format!("the README has no line `{README_END}` after the begin marker"))?;
    Ok(format!(
        "{}\n\n{}\n\n{}",
        &readme[..after_begin],
        table.trim_end(),
        &readme[end..]
    ))
}

/// The tee chunks' delivery (renderer's `Network.dataReceived` → page task) of an 8-lane run:
/// the part of the relay figure between Chromium's renderer and switchyard.
fn delivery_rows(figures: &mut Figures, setup: &str, run: &super::EightLanes) {
    let count = run.delivery["count"].as_u64().unwrap_or(0);
    for p in [50, 99] {
        let value = run.delivery[format!("p{p}_ms")].as_f64();
        figures.add(
            Row {
                measure: &format!("tee delivery (renderer's dataReceived → page task), p{p}"),
                setup,
                cell: value.map_or("n/a".to_owned(), |v| format!("{v:.2} ms")),
                existing_tool: "—",
                samples: format!("{count} chunks"),
            },
            json!({"key": format!("tee_delivery_p{p}_ms"), "value": value, "samples": count}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn run_json() -> Value {
        json!({
            "run": "quick", "measured_at": "2026-12-01T12:00:00.000Z",
            "machine": {"cores": 2, "cpu": "Test CPU", "memory": "1.0 GiB",
                        "chromium": "Chromium 1", "load_1m_at_start": 0.5},
            "figures": [
                {"key": "relay_p50_ms", "value": 0.25, "measure": "relay, p50",
                 "setup": "1 lane | alone", "cell": "0.25 ms", "existing_tool": "1.05 ms",
                 "samples_note": "3 chunks"},
            ],
            "notes": ["How it was taken."],
        })
    }

    #[test]
    fn the_table_comes_from_the_json() {
        let table = table(&run_json()).unwrap();
        assert!(table.starts_with(
            "switchyard bench (quick run, 2026-12-01T12:00:00.000Z) · 2 cores · Test CPU · \
             1.0 GiB RAM · Chromium 1 · load 0.5 at start\n"
        ));
        // A `|` inside a cell is escaped, or it would split the row.
        assert!(
            table.contains("| relay, p50 | 1 lane \\| alone | 0.25 ms | 1.05 ms | 3 chunks |\n")
        );
        assert!(table.ends_with("Notes:\n- How it was taken.\n"));
    }

    #[test]
    fn a_figure_without_its_cell_is_an_error_not_a_blank() {
        let mut run = run_json();
        run["figures"][0].as_object_mut().unwrap().remove("cell");
        assert_eq!(table(&run).unwrap_err(), "the bench JSON has no `cell`");
        assert!(table(&json!({"run": "x"})).is_err());
    }

    #[test]
    fn the_readme_part_is_replaced_and_stays_put() {
        let readme = format!("# T\n\n{README_BEGIN}\nold table\n{README_END}\n\nafter\n");
        let once = splice_readme(&readme, "new table\n").unwrap();
        assert_eq!(
            once,
            format!("# T\n\n{README_BEGIN}\n\nnew table\n\n{README_END}\n\nafter\n")
        );
        assert_eq!(splice_readme(&once, "new table\n").unwrap(), once);
        assert!(splice_readme("# T\n", "x").is_err());
        assert!(splice_readme(&format!("{README_END}\n{README_BEGIN}\n"), "x").is_err());
    }
}
