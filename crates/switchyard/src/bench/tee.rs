//! `switchyard bench tee`: only the 8-lane tee setup of `switchyard bench` (one lane per
//! provider with a replica, every one with `capture = "tee"`, streaming at once), with as many
//! rounds as asked, so the tee path's tail can be measured and compared on its own without the
//! minutes the whole bench takes.
//!
//! The setup, the requests and the figure (stamp → client receipt per answer piece) are the
//! whole bench's (`Rig`, `eight_lanes`); memory is sampled as there unless `--no-memory`,
//! because the sampler's `/proc` reads take CPU from the runs. The 1-minute load average is
//! noted at start and end: other work on the machine moves the tail more than anything here.
//! Nothing is asserted.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::report::{self, machine, percentile};
use super::{
    DELAY_MS, Peak, QUICK, Rig, STAMPS, Sizes, all_providers, eight_lanes, with_memory_peak,
};
use crate::config::CaptureMode;

/// Runs `rounds` rounds of the 8-lane tee setup and prints (and writes) the table.
pub async fn run(
    rounds: usize,
    memory: bool,
    hide: bool,
    out: Option<PathBuf>,
    json_out: Option<PathBuf>,
) -> Result<(), String> {
    if rounds == 0 {
        return Err("--rounds must be at least 1".to_owned());
    }
    let began = std::time::Instant::now();
    let machine = machine().await;
    let sizes = Sizes {
        name: "tee",
        rounds,
        ..QUICK
    };
    tracing::info!("bench tee: 8 lanes, tee capture, {rounds} rounds");
    let rig = Rig::start_with(&all_providers(CaptureMode::Tee), &[], false, hide).await?;
    let result = match (memory, rig.gateway.browser_pid()) {
        (true, Some(pid)) => {
            let (out, peak) = with_memory_peak(pid, eight_lanes(&rig, sizes)).await;
            out.map(|out| (out, Some(peak)))
        }
        (true, None) => {
            Err("the gateway reports no shared browser, so memory cannot be read".into())
        }
        (false, _) => eight_lanes(&rig, sizes).await.map(|out| (out, None)),
    };
    rig.shutdown().await;
    let (eight, peak) = result?;
    let load_at_end = load_1m().await;
    let mut figures = Vec::new();
    let mut row = |key: String, setup: String, values: &[f64], p: f64| {
        let v = percentile(values, p);
        figures.push(json!({
            "key": key,
            "measure": format!("relay latency per chunk (stamp → client), p{p:.0}"),
            "setup": setup,
            "value": v,
            "cell": v.map_or("n/a".into(), |v| format!("{v:.2} ms")),
            "existing_tool": "—",
            "samples": values.len(),
            "samples_note": format!("{} stamps", values.len()),
        }));
    };
    let all = eight.all_relay_ms();
    let lanes = eight.relay_ms.len();
    for p in [50.0, 99.0, 100.0] {
        row(
            format!("tee_relay_p{p:.0}_ms"),
            format!("{lanes} lanes streaming at once, tee capture"),
            &all,
            p,
        );
    }
    for (kind, _, values) in &eight.relay_ms {
        for p in [50.0, 99.0] {
            row(
                format!("tee_relay_{}_p{p:.0}_ms", kind.prefix()),
                format!("the {} lane of the {lanes}", kind.display_name()),
                values,
                p,
            );
        }
    }
    let count = eight.delivery["count"].as_u64().unwrap_or(0);
    for p in [50, 99, 100] {
        let key = if p == 100 {
            "max_ms".to_owned()
        } else {
            format!("p{p}_ms")
        };
        let v = eight.delivery[key.as_str()].as_f64();
        figures.push(json!({
            "key": format!("tee_delivery_p{p}_ms"),
            "measure": format!("tee delivery (renderer's dataReceived → page task), p{p}"),
            "setup": format!("{lanes} lanes streaming at once, tee capture"),
            "value": v,
            "cell": v.map_or("n/a".into(), |v| format!("{v:.2} ms")),
            "existing_tool": "—",
            "samples": count,
            "samples_note": format!("{count} chunks"),
        }));
    }
    let mut notes = vec![
        format!(
            "{rounds} rounds; each round one stamped request per lane, all at once, of {STAMPS} \
             pieces {DELAY_MS} ms apart. p100 is the largest sample."
        ),
        "Tee delivery: for every teed chunk, the page task's CLOCK_MONOTONIC when it handles \
         the chunk's Network.dataReceived minus the event's own timestamp, which the renderer \
         takes on its main thread on the same clock; the rest of the relay figure is before \
         the renderer (network service, the renderer's queue) or after the page task (decoder, \
         SSE, the client)."
            .to_owned(),
        if hide {
            "The pages are minimized while they stream (`hide_while_streaming`, the default)."
                .to_owned()
        } else {
            "The pages stay shown while they stream (--shown: `hide_while_streaming = false`)."
                .to_owned()
        },
        format!(
            "Load average (1 min): {} at start, {} at end.",
            machine.load,
            load_at_end.as_deref().unwrap_or("?")
        ),
    ];
    notes.push(match peak {
        Some(Peak {
            samples,
            sampling_cpu,
            ..
        }) => format!(
            "Memory was sampled as in `switchyard bench` ({samples} samples, {:.2} s of CPU).",
            sampling_cpu.as_secs_f64()
        ),
        None => "Memory was not sampled (--no-memory).".to_owned(),
    });
    let took = began.elapsed();
    notes.push(format!("Run time: {:.1} s.", took.as_secs_f64()));
    let run: Value = report::run_json("tee", &machine, figures, &notes, took);
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

async fn load_1m() -> Option<String> {
    let text = tokio::fs::read_to_string("/proc/loadavg").await.ok()?;
    text.split_whitespace().next().map(str::to_owned)
}
