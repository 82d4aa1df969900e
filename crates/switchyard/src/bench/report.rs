//! The bench's report: the machine it ran on, one markdown table, and the notes that say how
//! each number was taken.

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    DELAY_MS, IDLE_PAUSE, MAKESPAN_CHUNKS, MEMORY_EVERY, Makespan, PRIMARY_LANES, Results,
    SECONDARY_LANES, STAMPS, Sizes, size_letter,
};
use crate::browser::find_chromium;
use crate::demo::{BENCH_PRIMARY, BENCH_SECONDARY};

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

/// The markdown table with its notes, and the same figures as JSON (`--json`): every figure
/// with its setup and sample count, each key naming its unit.
pub(super) fn render(
    machine: &Machine,
    sizes: Sizes,
    results: &Results,
    overhead_ms: f64,
    took: Duration,
) -> (String, Value) {
    let mut figures: Vec<Value> = Vec::new();
    let (p, q) = (BENCH_PRIMARY.display_name(), BENCH_SECONDARY.display_name());
    let pid = BENCH_PRIMARY.prefix();
    let (one, one_peak) = &results.one;
    let (seven, seven_peak) = &results.seven;
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));
    let mut out = format!(
        "switchyard bench ({} run) · {} cores · {} · {} RAM · {} · load {} at start\n\n\
         | measure | setup | switchyard | existing tool (measured separately) | samples |\n\
         |---|---|---|---|---|\n",
        sizes.name, machine.cores, machine.cpu, machine.memory, machine.chromium, machine.load
    );
    let mut row = |cells: [&str; 5]| out.push_str(&format!("| {} |\n", cells.join(" | ")));

    let total = PRIMARY_LANES + SECONDARY_LANES;
    let all =
        format!("{total} lanes streaming at once ({PRIMARY_LANES} {p} + {SECONDARY_LANES} {q})");
    let relay = [
        (
            format!("1 lane streaming alone ({p}), replay capture"),
            &one.relay_ms,
            true,
        ),
        (
            format!("1 lane streaming alone ({p}), tee capture"),
            &results.one_tee.relay_ms,
            true,
        ),
        (format!("{all}, replay capture"), &seven.relay_ms, false),
        (
            format!("{all}, tee capture"),
            &results.seven_tee.relay_ms,
            false,
        ),
    ];
    for (setup, values, alone) in relay {
        for p in [50.0, 99.0] {
            let negative = values.iter().filter(|v| **v < 0.0).count();
            let n = format!("{} chunks, {negative} negative", values.len());
            let value = ms(percentile(values, p));
            let reference = if alone && p == 50.0 {
                REFERENCE_RELAY_P50
            } else {
                "—"
            };
            row([
                &format!("relay latency per chunk, p{p}"),
                &setup,
                &value,
                reference,
                &n,
            ]);
            figures.push(json!({
                "key": format!("relay_p{p}_ms"), "setup": setup,
                "value": percentile(values, p), "samples": values.len(),
                "negative_samples": negative, "existing_tool": reference,
            }));
        }
    }

    for (capture, lane) in [("replay", one), ("tee", &results.one_tee)] {
        let first = median(&lane.first_content_ms);
        let first = first.map_or("n/a".into(), |v| format!("{:.3} s", v / 1e3));
        let n = format!("{} requests", lane.first_content_ms.len());
        let setup = format!("1 warm idle lane ({p}), {capture} capture");
        row([
            "time to first content, p50",
            &setup,
            &first,
            REFERENCE_FIRST_CONTENT,
            &n,
        ]);
        figures.push(json!({
            "key": "first_content_p50_s", "setup": setup,
            "value": median(&lane.first_content_ms).map(|v| v / 1e3),
            "samples": lane.first_content_ms.len(), "existing_tool": REFERENCE_FIRST_CONTENT,
        }));
    }

    for (size, times) in &one.prompt_entry_ms {
        let n = format!("{} requests", times.len());
        let setup =
            format!("{size} characters of short lines on 1 warm lane ({p}), replay capture");
        row([
            "prompt entry (send → site receives), p50",
            &setup,
            &ms(median(times)),
            "—",
            &n,
        ]);
        figures.push(json!({
            "key": "prompt_entry_p50_ms", "setup": setup, "prompt_chars": size,
            "value": median(times), "samples": times.len(),
        }));
    }

    let long = MAKESPAN_CHUNKS
        .iter()
        .filter(|c| size_letter(**c) == 'L')
        .count();
    let short = MAKESPAN_CHUNKS.len() - long;
    let setup = format!(
        "{long} long + {short} short requests on {PRIMARY_LANES} {p} lanes, replay capture"
    );
    for (measure, fifo) in [
        ("makespan / ideal", false),
        ("makespan / FIFO replay", true),
    ] {
        let bound = |m: &Makespan| if fifo { m.fifo_s } else { m.ideal_s };
        let ratio = |m: &Makespan| m.measured_s / bound(m);
        let mut runs = seven.makespans.clone();
        runs.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let value = runs.get(runs.len() / 2).map_or("n/a".to_owned(), |m| {
            format!(
                "{:.2} ({:.2} s / {:.2} s)",
                ratio(m),
                m.measured_s,
                bound(m)
            )
        });
        let n = match (runs.first(), runs.last()) {
            (Some(lo), Some(hi)) if runs.len() > 1 => {
                format!("{} runs, {:.2}–{:.2}", runs.len(), ratio(lo), ratio(hi))
            }
            _ => format!("{} run", runs.len()),
        };
        row([measure, &setup, &value, "—", &n]);
        let median_run = runs.get(runs.len() / 2);
        figures.push(json!({
            "key": if fifo { "makespan_over_fifo_ratio" } else { "makespan_over_ideal_ratio" },
            "setup": setup, "value": median_run.map(ratio),
            "measured_s": median_run.map(|m| m.measured_s), "bound_s": median_run.map(bound),
            "samples": runs.len(),
        }));
    }

    for (setup, peak, reference) in [
        (
            "1 lane, replay capture",
            one_peak,
            REFERENCE_MEMORY_ONE_LANE,
        ),
        (&*format!("{total} lanes, replay capture"), seven_peak, "—"),
    ] {
        let (browser, own) = (mib(peak.browser_kib), mib(peak.own_kib));
        let value = format!(
            "{:.0} MiB (Chromium {browser:.0} + switchyard {own:.0})",
            browser + own
        );
        let n = format!("{} samples", peak.samples);
        row(["peak memory (PSS)", setup, &value, reference, &n]);
        figures.push(json!({
            "key": "peak_pss_mib", "setup": setup, "value": browser + own,
            "chromium_pss_mib": browser, "switchyard_pss_mib": own,
            "samples": peak.samples, "existing_tool": reference,
        }));
    }

    let sent_order: String = MAKESPAN_CHUNKS.iter().map(|c| size_letter(*c)).collect();
    let site_orders: Vec<&str> = (seven.makespans.iter())
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
            "Makespan: {} `{pid}-chat` requests (L = {} and S = {} answer pieces, \
             {DELAY_MS} ms apart) sent together, listed as {sent_order}, to the \
             {PRIMARY_LANES} {p} lanes of the 7-lane setup ({q} lanes idle); makespan = \
             first send → last `[DONE]`. Which request reaches the queue first is up to the race \
             between the connections; the site saw them start as {site_orders} (one per run). \
             With dᵢ = request i's time at the site (arrival → end of stream, from the replica's \
             log) + o, where o = {overhead_ms:.1} ms is the per-request lane overhead measured on \
             the lone lane (p50 of send → site arrival plus site end → `[DONE]`): ideal = \
             max(Σ dᵢ / {PRIMARY_LANES}, max dᵢ), the bound for a scheduler that knew every \
             length; FIFO replay = the same dᵢ run in the site's start order, each on the first \
             free lane, i.e. perfect dispatch without knowing lengths. Each cell is the median \
             run.",
            MAKESPAN_CHUNKS.len(),
            MAKESPAN_CHUNKS.iter().max().unwrap_or(&0),
            MAKESPAN_CHUNKS.iter().min().unwrap_or(&0),
        ),
        format!(
            "Peak memory: PSS (shared pages split between the processes sharing them) of the \
             Chromium process tree plus this process, which also holds the replica sites and the \
             bench client; sampled every {} ms from the moment the gateway is ready through the \
             setup's runs, largest total kept. Sampling took {:.1} ms of CPU per sample on average \
             (the costlier setup), taken from the runs being measured.",
            MEMORY_EVERY.as_millis(),
            [one_peak, seven_peak]
                .map(|p| p.sampling_cpu.as_secs_f64() * 1e3 / p.samples.max(1) as f64)
                .into_iter()
                .fold(0.0, f64::max)
        ),
        format!(
            "Existing tool (IntenseRP Next v2): {REFERENCE_RELAY_P50} relay p50 with one lane, \
             {REFERENCE_FIRST_CONTENT} to first content, {REFERENCE_MEMORY_ONE_LANE} for one \
             lane, measured separately on this project's machine kind against the same {p} \
             replica; not measured in this run."
        ),
        format!("Run time: {:.1} s.", took.as_secs_f64()),
    ];
    out.push_str("\nNotes:\n");
    for note in notes {
        out.push_str(&format!("- {note}\n"));
    }
    let json = json!({
        "run": sizes.name,
        "machine": {
            "cores": machine.cores, "cpu": machine.cpu, "memory": machine.memory,
            "chromium": machine.chromium,
            "load_1m_at_start": machine.load.parse::<f64>().ok(),
        },
        "existing_tool_note": "figures of the existing tool were measured separately, not in this run",
        "took_s": took.as_secs_f64(),
        "figures": figures,
    });
    (out, json)
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
}
