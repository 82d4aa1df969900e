//! SIGTERM, as systemd, Docker and Kubernetes send it: the built binary serves against a
//! replica, a stream is live, the process gets SIGTERM. The stream must end with an error
//! event and `[DONE]`, the site must be told to stop, the process must exit 0, and neither a
//! Chromium process nor anything in its temp dir (throwaway profile, Chromium's singleton
//! directories) may remain.
//!
//! SIGHUP reloads the config file (the same as `POST /api/config/reload`) and the process goes
//! on serving, with the same browser and its live stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{DEADLINE, TempDir, parse_sse};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use switchyard_replicas::{Knobs, Outcome, ReplicaServer, Site};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `switchyard serve`: the child, the API's base URL, and its later stdout lines.
struct Served {
    child: Child,
    base: String,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Starts `switchyard serve` with `config`, its temp dir at `tmp`; returns the child and its
/// stdout lines (read on, so the child never blocks on a full pipe).
fn spawn(
    dir: &Path,
    tmp: &Path,
    config: &str,
) -> (Child, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .current_dir(dir)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    switchyard::tasks::spawn("child-stdout", async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for a stdout line containing `needle`; returns it.
async fn line_with(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    needle: &str,
) -> String {
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.recv().await {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("switchyard exited before printing {needle:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} within the deadline"))
}

/// Starts `switchyard serve` and waits until it serves; the base URL comes from the line the
/// binary prints then.
async fn serve(dir: &Path, tmp: &Path, config: &str) -> Served {
    let (child, mut lines) = spawn(dir, tmp, config);
    let serving = line_with(&mut lines, "switchyard is serving the OpenAI API at ").await;
    let base = serving
        .rsplit_once(" at ")
        .map(|(_, url)| url.trim_end_matches("/v1").to_owned())
        .unwrap();
    Served { child, base, lines }
}

/// Sends `signal` (`TERM`, `KILL`) to `pid`.
fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The replica and config of one DeepSeek lane with a long answer; `grace` seconds of
/// shutdown grace.
async fn long_answers(dir: &Path, grace: u64) -> (ReplicaServer, String) {
    let knobs = Knobs {
        chunks: 2000,
        delay_ms: 25,
        first_delay_ms: 0,
    };
    let replica = ReplicaServer::start(Site::DeepSeek, knobs).await.unwrap();
    let config = format!(
        "provider = \"deepseek\"\ndata_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = {grace}\n\
         [providers.deepseek]\nbase_url = \"{}\"\n",
        dir.join("data").display(),
        replica.base_url()
    );
    (replica, config)
}

/// Starts a long streamed answer and reads until it is under way.
async fn live_stream(base: &str) -> (BoxStream<'static, reqwest::Result<bytes::Bytes>>, String) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "deepseek-chat", "stream": true,
                      "messages": [{"role": "user", "content": "a long one"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream().boxed();
    let mut seen = String::new();
    while !seen.contains(" w2") {
        let bytes = body.next().await.expect("more stream").unwrap();
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    (body, seen)
}

async fn browser_pid(base: &str) -> u32 {
    let lanes: Value = reqwest::get(format!("{base}/api/lanes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    lanes["lanes"][0]["browser_pid"].as_u64().unwrap() as u32
}

/// Whether any process still running names `needle` on its command line (Chromium's browser
/// and its helpers carry the profile path or were started from it).
fn processes_naming(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// A process that exists and is not a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_live_streams_cleans_up_and_exits_zero() {
    let dir = TempDir::new("sigterm");
    let tmp = dir.0.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (replica, config) = long_answers(&dir.0, 1).await;
    let Served {
        mut child, base, ..
    } = serve(&dir.0, &tmp, &config).await;
    let browser = browser_pid(&base).await;
    assert!(alive(browser), "Chromium runs");
    assert!(
        !entries(&tmp).is_empty(),
        "the throwaway profile is in TMPDIR"
    );

    let (mut body, mut seen) = live_stream(&base).await;
    kill("TERM", child.id().unwrap());

    // The stream ends (within the grace period plus the stop), with an error event and [DONE].
    tokio::time::timeout(DEADLINE, async {
        while let Some(bytes) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&bytes.unwrap()));
        }
    })
    .await
    .expect("the stream ends after SIGTERM");
    let s = parse_sse(&seen);
    assert_eq!(
        s.error.as_deref(),
        Some("switchyard is shutting down; the request was stopped."),
        "{seen}"
    );
    assert!(s.done, "{seen}");

    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("switchyard exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");

    // The site was told to stop (the replay capture's own stop_stream, from the page).
    let log = replica
        .wait_for(
            |log| log.len() == 1 && log[0].outcome == Outcome::Stopped && log[0].stop_called,
            DEADLINE,
        )
        .await
        .unwrap_or_else(|log| panic!("the replica saw no stop: {log:#?}"));
    assert!(log[0].chunks_sent < 2000);

    // Nothing of Chromium remains: not the browser, not a helper, not a file in its TMPDIR.
    let until = tokio::time::Instant::now() + DEADLINE;
    let tmp_text = tmp.display().to_string();
    loop {
        let left = processes_naming(&tmp_text);
        if !alive(browser) && left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "Chromium processes remain: browser {browser} alive = {}, others {left:?}",
            alive(browser)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries(&tmp), Vec::<PathBuf>::new(), "TMPDIR is left empty");
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file_and_keeps_serving() {
    let dir = TempDir::new("sighup");
    let tmp = dir.0.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (replica, config) = long_answers(&dir.0, 1).await;
    let Served {
        mut child,
        base,
        mut lines,
    } = serve(&dir.0, &tmp, &config).await;
    let browser = browser_pid(&base).await;
    let client = reqwest::Client::new();
    let long_prompt = |n: usize| {
        // Expert mode has no file upload, so too long is a 413.
        json!({"model": "deepseek-expert-chat",
               "messages": [{"role": "user", "content": "y".repeat(n)}]})
    };

    // A stream is live while the file changes and SIGHUP arrives.
    let (mut body, mut seen) = live_stream(&base).await;
    // The provider's table is the file's last one: the new key joins it.
    std::fs::write(
        dir.0.join("switchyard.toml"),
        format!("{config}max_prompt_chars = 1000\n"),
    )
    .unwrap();
    let pid = child.id().unwrap();
    kill("HUP", pid);
    let line = line_with(&mut lines, "Config reloaded").await;
    assert!(
        line.contains("providers.deepseek.max_prompt_chars"),
        "the log line says what changed: {line}"
    );
    // The new limit applies to the next request, before it is queued behind the live one.
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&long_prompt(1500))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // The live stream goes on, on the same browser.
    tokio::time::timeout(DEADLINE, async {
        while !seen.contains(" w40") {
            let bytes = body.next().await.expect("more stream").unwrap();
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    })
    .await
    .expect("the stream goes on after SIGHUP");
    assert!(!seen.contains("\"error\""), "{seen}");
    assert_eq!(browser_pid(&base).await, browser);

    // A bad file: refused, logged, the process serves on with the last good config.
    std::fs::write(
        dir.0.join("switchyard.toml"),
        "[runtime]\nmode = \"bogus\"\n",
    )
    .unwrap();
    kill("HUP", pid);
    let line = line_with(&mut lines, "Config reload refused").await;
    assert!(line.contains("runtime.mode"), "{line}");
    drop(body);
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&long_prompt(1500))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "the last good config stays");

    kill("TERM", pid);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("switchyard exits after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let dir = TempDir::new("sigterm2");
    let tmp = dir.0.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // A grace far longer than the test's deadline: only the second signal can end it in time.
    let (replica, config) = long_answers(&dir.0, 600).await;
    let Served {
        mut child,
        base,
        mut lines,
    } = serve(&dir.0, &tmp, &config).await;
    let browser = browser_pid(&base).await;
    let (_body, _) = live_stream(&base).await;
    let pid = child.id().unwrap();
    kill("TERM", pid);
    line_with(&mut lines, "SIGTERM received: shutting down").await;
    kill("TERM", pid);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the second signal exits at once")
        .unwrap();
    assert_eq!(status.code(), Some(130), "exit status {status:?}");
    // Exiting at once leaves the browser to the system; this test cleans it up.
    if alive(browser) {
        kill("KILL", browser);
    }
    replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_start_up_lets_the_start_finish_then_cleans_up() {
    let dir = TempDir::new("sigterm3");
    let tmp = dir.0.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (replica, config) = long_answers(&dir.0, 1).await;
    let (mut child, mut lines) = spawn(&dir.0, &tmp, &config);
    // The lanes are starting (the signal listeners are up before this line).
    line_with(&mut lines, "Starting lanes").await;
    kill("TERM", child.id().unwrap());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("switchyard exits after SIGTERM during start-up")
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    let tmp_text = tmp.display().to_string();
    let until = tokio::time::Instant::now() + DEADLINE;
    while !processes_naming(&tmp_text).is_empty() {
        assert!(
            tokio::time::Instant::now() < until,
            "Chromium processes remain: {:?}",
            processes_naming(&tmp_text)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries(&tmp), Vec::<PathBuf>::new(), "TMPDIR is left empty");
    replica.shutdown().await;
}
