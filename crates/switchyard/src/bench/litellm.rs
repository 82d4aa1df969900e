//! `switchyard bench overhead --compare-litellm`: the same open-loop load straight to
//! switchyard's dummy lanes and through LiteLLM's proxy in front of them, in one run.
//!
//! One gateway with [`LANES`] dummy lanes serves both paths. LiteLLM is installed from PyPI
//! (`litellm[proxy]`) into `target/litellm-venv` on first use (`python3 -m venv`, then pip),
//! configured with one `openai/`-style model whose `api_base` is the gateway's `/v1`, and
//! started as `litellm --config … --port …` on loopback. For each rate and delivery the load
//! runs first direct, then through LiteLLM:
//! - **switchyard's added latency**: the gateway's own overhead histogram (`GET /api/stats`,
//!   total minus lane time) after the direct run; it cannot be reset, so it holds every request
//!   since the gateway started, the earlier cells' and LiteLLM's (which reach the same gateway);
//! - **LiteLLM's added latency**: client latency through LiteLLM minus client latency direct, at
//!   the same percentile (what putting LiteLLM in the path costs);
//! - **the ratio** of the two at p50 (the target: ours ≥ 10× below LiteLLM's).
//!
//! Without python3 and its venv module, or if the install fails, the LiteLLM rows say why and
//! the direct rows are still reported. Nothing is asserted.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::report::{self, Machine, machine, percentile};
use crate::config::{self, Config};
use crate::gateway::Gateway;

/// Dummy lanes behind the gateway (as `bench overhead`).
const LANES: u32 = 64;
/// The model both paths ask for.
const MODEL: &str = "dummy-instant";
/// A request slower than this counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long LiteLLM may take to start answering (it imports a lot of Python).
const LITELLM_START: Duration = Duration::from_secs(180);
/// How long the one-time install may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);
/// The most requests one cell sends.
const MAX_REQUESTS: u64 = 1_000_000;

/// What one load run saw from the client.
#[derive(Default)]
struct Load {
    latency_ms: Vec<f64>,
    failed: usize,
    achieved_qps: f64,
}

/// One rate and delivery: direct, and through LiteLLM when it runs.
struct Cell {
    qps: u32,
    stream: bool,
    direct: Load,
    /// The gateway's overhead histogram after the direct run: p50, p99 (ms).
    ours_p50_ms: Option<f64>,
    ours_p99_ms: Option<f64>,
    via: Option<Load>,
}

/// Runs the comparison and prints (and writes) its table and figures.
pub async fn run(
    qps: Vec<u32>,
    duration: Duration,
    out: Option<PathBuf>,
    json_out: Option<PathBuf>,
) -> Result<(), String> {
    if qps.is_empty() || qps.contains(&0) {
        return Err("--qps takes rates above 0, such as --qps 1000,5000".to_owned());
    }
    if duration.is_zero() {
        return Err("--duration must be above 0 seconds".to_owned());
    }
    if (qps.iter().max())
        .is_some_and(|m| f64::from(*m) * duration.as_secs_f64() > MAX_REQUESTS as f64)
    {
        return Err(format!(
            "more than {MAX_REQUESTS} requests a cell; lower --qps or --duration"
        ));
    }
    let began = std::time::Instant::now();
    let machine = machine().await;
    let data_dir = std::env::temp_dir().join(format!(
        "switchyard-bench-litellm-{}-{}",
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
    let result = measure(&gateway, &qps, duration).await;
    gateway.shutdown().await;
    let _ = tokio::fs::remove_dir_all(&data_dir).await;
    let (cells, litellm) = result?;
    let run = render(&machine, duration, &cells, &litellm, began.elapsed());
    report::publish(&run, out.as_deref(), json_out.as_deref()).await
}

/// What became of LiteLLM: its version when it ran, or why it did not.
enum LiteLlm {
    Ran { version: String },
    Skipped(String),
}

async fn measure(
    gateway: &Gateway,
    qps: &[u32],
    duration: Duration,
) -> Result<(Vec<Cell>, LiteLlm), String> {
    let base = gateway.base_url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the bench's HTTP client: {e}"))?;
    let proxy = match LiteLlmProxy::start(&format!("{base}/v1")).await {
        Ok(p) => Some(p),
        Err(why) => {
            tracing::warn!("bench overhead: LiteLLM is left out: {why}");
            return direct_only(&client, &base, qps, duration, why).await;
        }
    };
    let mut cells = Vec::new();
    let version = proxy.as_ref().map_or(String::new(), |p| p.version.clone());
    for &rate in qps {
        for stream in [false, true] {
            tracing::info!("bench overhead vs LiteLLM: {rate} QPS, stream {stream}");
            let mut cell = direct_cell(&client, &base, rate, stream, duration).await;
            if let Some(p) = &proxy {
                let url = format!("{}/v1/chat/completions", p.base);
                warm(&client, &url, stream).await;
                cell.via = Some(load(&client, &url, rate, stream, duration).await);
            }
            cells.push(cell);
        }
    }
    if let Some(p) = proxy {
        p.stop().await;
    }
    Ok((cells, LiteLlm::Ran { version }))
}

async fn direct_only(
    client: &reqwest::Client,
    base: &str,
    qps: &[u32],
    duration: Duration,
    why: String,
) -> Result<(Vec<Cell>, LiteLlm), String> {
    let mut cells = Vec::new();
    for &rate in qps {
        for stream in [false, true] {
            cells.push(direct_cell(client, base, rate, stream, duration).await);
        }
    }
    Ok((cells, LiteLlm::Skipped(why)))
}

/// The direct run of one cell, with the gateway's overhead histogram after it (which holds
/// every request since the gateway started, LiteLLM's earlier ones included).
async fn direct_cell(
    client: &reqwest::Client,
    base: &str,
    qps: u32,
    stream: bool,
    duration: Duration,
) -> Cell {
    let url = format!("{base}/v1/chat/completions");
    warm(client, &url, stream).await;
    let direct = load(client, &url, qps, stream, duration).await;
    let stats: Value = match client.get(format!("{base}/api/stats")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    Cell {
        qps,
        stream,
        direct,
        ours_p50_ms: stats["overhead"]["p50_ms"].as_f64(),
        ours_p99_ms: stats["overhead"]["p99_ms"].as_f64(),
        via: None,
    }
}

fn body(stream: bool) -> String {
    json!({"model": MODEL, "stream": stream,
           "messages": [{"role": "user", "content": "bench"}]})
    .to_string()
}

/// A few requests outside the measurement, to open connections and warm caches.
async fn warm(client: &reqwest::Client, url: &str, stream: bool) {
    let body = Arc::new(body(stream));
    futures::future::join_all((0..16).map(|_| send(client, url, &body))).await;
}

/// The open-loop load of `bench overhead`: request `i` goes at `start + i / qps` (at once if
/// the sender is late) and is timed from that scheduled moment.
async fn load(
    client: &reqwest::Client,
    url: &str,
    qps: u32,
    stream: bool,
    duration: Duration,
) -> Load {
    let body = Arc::new(body(stream));
    let total = (f64::from(qps) * duration.as_secs_f64()).ceil() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(qps));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(total as usize);
    let start = Instant::now();
    for next in 0..total {
        let at = start + interval.mul_f64(next as f64);
        tokio::time::sleep_until(at).await;
        let (client, url, body, done_tx) = (
            client.clone(),
            url.to_owned(),
            body.clone(),
            done_tx.clone(),
        );
        tasks.push(crate::tasks::spawn("bench-request", async move {
            let ok = send(&client, &url, &body).await;
            let _ = done_tx.send((ok, at.elapsed()));
        }));
    }
    drop(done_tx);
    let sent = tasks.len();
    futures::future::join_all(tasks).await;
    let elapsed = start.elapsed();
    let mut out = Load::default();
    while let Ok((ok, took)) = done.try_recv() {
        if ok {
            out.latency_ms.push(took.as_secs_f64() * 1e3);
        }
    }
    out.failed = sent - out.latency_ms.len();
    out.achieved_qps = out.latency_ms.len() as f64 / elapsed.as_secs_f64();
    out
}

/// Sends one request and reads the whole answer; `true` for a complete 200.
async fn send(client: &reqwest::Client, url: &str, body: &Arc<String>) -> bool {
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", master_key()))
        .body(body.as_str().to_owned())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => resp.bytes().await.is_ok(),
        _ => false,
    }
}

// === LiteLLM ===

/// The LiteLLM proxy configuration: one model, answered by an OpenAI-compatible server at
/// `api_base`, and the key clients must send (LiteLLM refuses to start without one).
pub(super) fn litellm_config(model: &str, api_base: &str, master_key: &str) -> String {
    format!(
        "model_list:\n  - model_name: {model}\n    litellm_params:\n      model: openai/{model}\n      \
         api_base: {api_base}\n      api_key: sk-none\nlitellm_settings:\n  drop_params: true\n  \
         telemetry: false\n  request_timeout: 30\ngeneral_settings:\n  master_key: {master_key}\n"
    )
}

/// The proxy's master key for this run: random, so no other local user can guess it while the
/// proxy listens. Every bench request carries it (the gateway, which requires none, ignores it).
fn master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let hex: String = (0..32)
            .map(|_| format!("{:02x}", fastrand::u8(..)))
            .collect();
        format!("sk-{hex}")
    })
}

/// The venv LiteLLM is installed into.
fn venv_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("litellm-venv")
}

/// A running LiteLLM proxy; killed when stopped or dropped.
struct LiteLlmProxy {
    child: tokio::process::Child,
    base: String,
    version: String,
    _config: tempfile_dir::Dir,
}

mod tempfile_dir {
    //! A throwaway folder, removed on drop.
    pub(super) struct Dir(pub(super) std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl LiteLlmProxy {
    async fn start(api_base: &str) -> Result<LiteLlmProxy, String> {
        let venv = venv_dir();
        let bin = install(&venv).await?;
        let version = pip_version(&venv).await;
        let dir = std::env::temp_dir().join(format!(
            "switchyard-litellm-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dir = tempfile_dir::Dir(dir);
        let config = dir.0.join("config.yaml");
        std::fs::write(&config, litellm_config(MODEL, api_base, master_key()))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.0.join("litellm.log"))
            .map_err(|e| format!("cannot create LiteLLM's log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open LiteLLM's log: {e}"))?;
        let child = tokio::process::Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut proxy = LiteLlmProxy {
            child,
            base: format!("http://127.0.0.1:{port}"),
            version,
            _config: dir,
        };
        let ready = format!("{}/health/liveliness", proxy.base);
        let deadline = Instant::now() + LITELLM_START;
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                let log = std::fs::read_to_string(proxy._config.0.join("litellm.log"))
                    .unwrap_or_default();
                let tail: String = log
                    .chars()
                    .rev()
                    .take(800)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(format!("LiteLLM exited at start ({status}): {tail}"));
            }
            let up = client
                .get(&ready)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return Ok(proxy);
            }
            if Instant::now() > deadline {
                proxy.stop().await;
                return Err(format!(
                    "LiteLLM did not answer {ready} within {} s",
                    LITELLM_START.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A free loopback port (bound, then released for LiteLLM to take).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port for LiteLLM: {e}"))
}

/// The `litellm` command of the venv, installing it first if it is not there.
async fn install(venv: &Path) -> Result<PathBuf, String> {
    let bin = venv.join("bin").join("litellm");
    if bin.exists() {
        return Ok(bin);
    }
    tracing::info!(
        "bench overhead: installing litellm[proxy] from PyPI into {} (once)",
        venv.display()
    );
    run_step(
        tokio::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(venv),
        "python3 -m venv (python3 with its venv module is needed for --compare-litellm)",
    )
    .await?;
    run_step(
        tokio::process::Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "litellm[proxy]",
        ]),
        "pip install litellm[proxy]",
    )
    .await?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "pip installed litellm but {} is missing",
            bin.display()
        ))
    }
}

async fn run_step(cmd: &mut tokio::process::Command, what: &str) -> Result<(), String> {
    let run = cmd.stdin(Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(INSTALL_TIMEOUT, run).await {
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => Err(format!(
            "{what} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(Err(e)) => Err(format!("{what} could not run: {e}")),
        Err(_) => Err(format!(
            "{what} took more than {} s",
            INSTALL_TIMEOUT.as_secs()
        )),
    }
}

/// LiteLLM's version as pip knows it, or `unknown`.
async fn pip_version(venv: &Path) -> String {
    let out = tokio::process::Command::new(venv.join("bin").join("pip"))
        .args(["show", "litellm"])
        .stdin(Stdio::null())
        .output()
        .await;
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

// === report ===

/// `via − direct` at percentile `p`, when both ran.
fn added_ms(direct: &Load, via: &Load, p: f64) -> Option<f64> {
    Some(percentile(&via.latency_ms, p)? - percentile(&direct.latency_ms, p)?)
}

/// LiteLLM's added latency over ours; `None` when ours is not above 0.
pub(super) fn ratio(litellm_added_ms: Option<f64>, ours_ms: Option<f64>) -> Option<f64> {
    match (litellm_added_ms, ours_ms) {
        (Some(l), Some(o)) if o > 0.0 => Some(l / o),
        _ => None,
    }
}

fn render(
    machine: &Machine,
    duration: Duration,
    cells: &[Cell],
    litellm: &LiteLlm,
    took: Duration,
) -> Value {
    let mut figures = Vec::new();
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.3} ms"));
    let tool = match litellm {
        LiteLlm::Ran { version } => format!("LiteLLM {version}"),
        LiteLlm::Skipped(_) => "LiteLLM (not run)".to_owned(),
    };
    for c in cells {
        let delivery = if c.stream {
            "streaming"
        } else {
            "non-streaming"
        };
        let setup = format!(
            "{} QPS open loop for {} s, {delivery} {MODEL}, {LANES} dummy lanes",
            c.qps,
            duration.as_secs_f64()
        );
        let load_note = |l: &Load| {
            format!(
                "{} answered, {} failed, {:.0} QPS achieved",
                l.latency_ms.len(),
                l.failed,
                l.achieved_qps
            )
        };
        let direct_note = load_note(&c.direct);
        let via_note = c.via.as_ref().map_or("not run".to_owned(), load_note);
        let mut row = |key: &str, measure: &str, value: Option<f64>, cell: String, note: &str| {
            figures.push(json!({
                "key": key, "measure": measure, "setup": setup, "value": value, "cell": cell,
                "qps": c.qps, "stream": c.stream, "duration_s": duration.as_secs_f64(),
                "existing_tool": tool, "samples_note": note,
            }));
        };
        row(
            "overhead_p50_ms",
            "switchyard's added latency (own histogram), p50",
            c.ours_p50_ms,
            ms(c.ours_p50_ms),
            &direct_note,
        );
        row(
            "overhead_p99_ms",
            "switchyard's added latency (own histogram), p99",
            c.ours_p99_ms,
            ms(c.ours_p99_ms),
            &direct_note,
        );
        for p in [50.0, 99.0] {
            let v = percentile(&c.direct.latency_ms, p);
            row(
                &format!("client_latency_direct_p{p:.0}_ms"),
                &format!("client latency straight to switchyard, p{p:.0}"),
                v,
                ms(v),
                &direct_note,
            );
        }
        if let Some(via) = &c.via {
            for p in [50.0, 99.0] {
                let v = percentile(&via.latency_ms, p);
                row(
                    &format!("client_latency_via_litellm_p{p:.0}_ms"),
                    &format!("client latency through LiteLLM, p{p:.0}"),
                    v,
                    ms(v),
                    &via_note,
                );
                let added = added_ms(&c.direct, via, p);
                row(
                    &format!("litellm_added_p{p:.0}_ms"),
                    &format!("LiteLLM's added latency (through it − direct), p{p:.0}"),
                    added,
                    ms(added),
                    &via_note,
                );
            }
            let r = ratio(added_ms(&c.direct, via, 50.0), c.ours_p50_ms);
            row(
                "litellm_to_ours_ratio_p50",
                "LiteLLM's added latency ÷ switchyard's, p50 (target ≥ 10)",
                r,
                r.map_or("n/a".to_owned(), |r| format!("{r:.0}×")),
                &via_note,
            );
        }
    }
    let mut notes = vec![
        "Open loop, as `bench overhead`: request i is sent at start + i/QPS and timed from that \
         scheduled moment; one gateway with dummy lanes serves both paths; the LiteLLM run of a \
         cell follows its direct run."
            .to_owned(),
        "switchyard's added latency is its own overhead histogram (total minus lane time) read \
         after the cell's direct run; it holds every request since the gateway started, \
         including the earlier cells' and those LiteLLM forwarded to it. LiteLLM's is client latency through it minus client latency direct, \
         at the same percentile: everything LiteLLM adds, including its queueing when it cannot \
         keep up with the rate (see its achieved QPS and failures)."
            .to_owned(),
        "LiteLLM, the gateway, its dummy lanes and the client share this machine's cores."
            .to_owned(),
    ];
    match litellm {
        LiteLlm::Ran { version } => notes.push(format!(
            "LiteLLM {version} from PyPI (litellm[proxy]) in {}, one proxy process, model \
             openai/{MODEL} with api_base at the gateway's /v1.",
            venv_dir().display()
        )),
        LiteLlm::Skipped(why) => notes.push(format!("LiteLLM was not run: {why}.")),
    }
    notes.push(format!("Run time: {:.1} s.", took.as_secs_f64()));
    report::run_json("overhead-vs-litellm", machine, figures, &notes, took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_points_an_openai_model_at_the_gateway() {
        let yaml = litellm_config("dummy-instant", "http://127.0.0.1:4000/v1", "sk-k");
        assert_eq!(
            yaml,
            "model_list:\n  - model_name: dummy-instant\n    litellm_params:\n      \
             model: openai/dummy-instant\n      api_base: http://127.0.0.1:4000/v1\n      \
             api_key: sk-none\nlitellm_settings:\n  drop_params: true\n  telemetry: false\n  \
             request_timeout: 30\ngeneral_settings:\n  master_key: sk-k\n"
        );
    }

    #[test]
    fn the_ratio_needs_both_figures_and_ours_above_zero() {
        assert_eq!(ratio(Some(30.0), Some(0.5)), Some(60.0));
        assert_eq!(ratio(Some(30.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }
}
