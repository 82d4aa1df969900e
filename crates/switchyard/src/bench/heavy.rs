//! `switchyard bench heavy`: the memory and tee-capture relay rows with pages as heavy as the
//! real sites', next to the same rows with the replicas' own light pages.
//!
//! For light and then heavy pages ([`ReplicaServer::set_heavy`]: megabytes of script, a
//! retained heap, a re-render of the whole answer per streamed piece), a fresh
//! [`BENCH_PRIMARY`] replica and a gateway with one lane of it, `capture = "tee"` (the capture
//! that reads what the page itself receives, so the page's own work is on its path), run
//! [`ROUNDS`] stamped requests of [`STAMPS`] pieces [`DELAY_MS`] apart. Relay latency is stamp →
//! client receipt, as in `switchyard bench`; memory is the PSS of the Chromium tree and of this
//! process once the requests are done. Nothing is asserted.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchyard_replicas::{Knobs, ReplicaServer};

use super::report::{self, Machine, machine, percentile};
use super::{DELAY_MS, STAMPS, SseBuffer, delta_content, now_us, stamped, stamps};
use crate::browser::procs;
use crate::config::{self, Config};
use crate::demo::{BENCH_PRIMARY, replica_site};
use crate::gateway::Gateway;

/// Stamped requests per page kind.
const ROUNDS: usize = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What one page kind measured.
struct Measured {
    heavy: bool,
    relay_ms: Vec<f64>,
    browser_kib: u64,
    own_kib: u64,
}

/// Runs the light and the heavy measurement and prints (and writes) the table.
pub async fn run(out: Option<PathBuf>, json_out: Option<PathBuf>) -> Result<(), String> {
    let began = std::time::Instant::now();
    let machine = machine().await;
    let mut measured = Vec::new();
    for heavy in [false, true] {
        tracing::info!(
            "bench heavy: {} pages",
            if heavy { "heavy" } else { "light" }
        );
        measured.push(one_kind(heavy).await?);
    }
    let run = render(&machine, &measured, began.elapsed());
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

async fn one_kind(heavy: bool) -> Result<Measured, String> {
    let site = replica_site(BENCH_PRIMARY).ok_or("the bench provider has no replica site")?;
    let knobs = Knobs {
        delay_ms: DELAY_MS,
        ..Knobs::default()
    };
    let replica = ReplicaServer::start(site, knobs)
        .await
        .map_err(|e| format!("cannot start the {BENCH_PRIMARY} replica: {e}"))?;
    replica.set_heavy(heavy);
    let toml = format!(
        "provider = \"{p}\"\n[server]\nport = 0\n[browser]\nisolation = \"context\"\n\
         [auth]\nrequire_key = false\n[providers.{p}]\nenabled = true\nbase_url = \"{}\"\n\
         capture = \"tee\"\n",
        replica.base_url(),
        p = BENCH_PRIMARY.prefix(),
    );
    let gateway = async {
        let table = config::parse_table(&toml, "bench settings")?;
        Gateway::start(Config::from_table(table, "bench settings")?).await
    }
    .await;
    let gateway = match gateway {
        Ok(g) => g,
        Err(e) => {
            replica.shutdown().await;
            return Err(e);
        }
    };
    let result = measure(&gateway, heavy).await;
    gateway.shutdown().await;
    replica.shutdown().await;
    result
}

async fn measure(gateway: &Gateway, heavy: bool) -> Result<Measured, String> {
    let pid = (gateway.browser_pid())
        .ok_or("the gateway reports no shared browser, so memory cannot be read")?;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the bench's HTTP client: {e}"))?;
    let url = format!("{}/v1/chat/completions", gateway.base_url());
    let model = format!("{}-chat", BENCH_PRIMARY.prefix());
    stream(
        &client,
        &url,
        &model,
        "bench warm-up replica:chunks=2 replica:delay_ms=0",
    )
    .await?;
    let mut relay_ms = Vec::new();
    for i in 0..ROUNDS {
        relay_ms.extend(stream(&client, &url, &model, &stamped(&format!("[heavy-{i}]"))).await?);
    }
    let (browser_kib, own_kib) = tokio::task::spawn_blocking(move || {
        (procs::tree_pss_kib(pid), procs::pss_kib(std::process::id()))
    })
    .await
    .unwrap_or((0, 0));
    Ok(Measured {
        heavy,
        relay_ms,
        browser_kib,
        own_kib,
    })
}

/// One streaming request; returns receive time − stamp per stamped piece, ms.
async fn stream(
    client: &reqwest::Client,
    url: &str,
    model: &str,
    prompt: &str,
) -> Result<Vec<f64>, String> {
    let body = json!({"model": model, "stream": true,
                      "messages": [{"role": "user", "content": prompt}]});
    let resp = (client.post(url).json(&body).send().await)
        .map_err(|e| format!("the request failed: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(format!(
            "HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        ));
    }
    let (mut events, mut body, mut out) = (SseBuffer::default(), resp.bytes_stream(), Vec::new());
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(|e| format!("the stream broke: {e}"))?;
        let at = now_us() as f64;
        for data in events.push(&bytes) {
            if data == "[DONE]" {
                return Ok(out);
            }
            let content = delta_content(&data)?;
            out.extend(stamps(&content).map(|t| (at - t as f64) / 1000.0));
        }
    }
    Err("the stream ended without [DONE]".to_owned())
}

fn render(machine: &Machine, measured: &[Measured], took: Duration) -> Value {
    let mut figures = Vec::new();
    let mib = |kib: u64| kib as f64 / 1024.0;
    for m in measured {
        let pages = if m.heavy { "heavy" } else { "light" };
        let setup = format!(
            "1 {} lane, tee capture, {pages} pages",
            BENCH_PRIMARY.display_name()
        );
        let note = format!(
            "{} stamps from {ROUNDS} requests of {STAMPS} pieces {DELAY_MS} ms apart",
            m.relay_ms.len()
        );
        let mut row = |key: String, measure: &str, value: Option<f64>, cell: String| {
            figures.push(json!({
                "key": key, "measure": measure, "setup": setup, "value": value, "cell": cell,
                "existing_tool": "—", "samples": m.relay_ms.len(), "samples_note": note,
                "heavy": m.heavy,
            }));
        };
        for p in [50.0, 99.0] {
            let v = percentile(&m.relay_ms, p);
            row(
                format!("{pages}_tee_relay_p{p:.0}_ms"),
                &format!("relay latency per chunk (stamp → client), p{p:.0}"),
                v,
                v.map_or("n/a".into(), |v| format!("{v:.2} ms")),
            );
        }
        row(
            format!("{pages}_browser_pss_mib"),
            "Chromium tree PSS after the requests",
            Some(mib(m.browser_kib)),
            format!("{:.1} MiB", mib(m.browser_kib)),
        );
        row(
            format!("{pages}_own_pss_mib"),
            "gateway process PSS after the requests",
            Some(mib(m.own_kib)),
            format!("{:.1} MiB", mib(m.own_kib)),
        );
    }
    let notes = [
        "Heavy pages load /__replica/heavy.js: about 3 MB of generated script (3,000 functions, \
         parsed and run at load), a heap of their results kept alive, and a MutationObserver \
         that re-renders the changed element's whole text into a fresh tree of paragraphs and \
         word spans (laid out, off screen) on every change, as a markdown renderer does per \
         streamed piece."
            .to_owned(),
        "Tee capture reads the page's own response through CDP, so the page's rendering shares \
         the renderer with the events the relay waits for; replay capture sends the request \
         itself and is not slowed by the page."
            .to_owned(),
        format!("Run time: {:.1} s.", took.as_secs_f64()),
    ];
    report::run_json("heavy", machine, figures, &notes, took)
}
