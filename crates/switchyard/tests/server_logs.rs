//! Logs fit for a server, and `switchyard status`, on the built binary: with stdout and stderr
//! piped (a log file, a pipe, a service manager) the log has no ANSI colour codes, and no
//! secret the gateway was given (API keys, a wrong key a client sent, a proxy's password, the
//! accounts passphrase and an account's password) appears in anything it printed;
//! `--log-format json` writes one JSON object a line, each with a level and a message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard_replicas::{Knobs, ReplicaServer, Site};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

const PROXY_SECRET: &str = "proxy-pw-Zq81x";
const PASSPHRASE: &str = "passphrase-Kx93m";
const ACCOUNT_SECRET: &str = "account-pw-Vt27c";
const WRONG_KEY: &str = "sy-not-a-key-Wm55r";

/// Runs the binary to its end.
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut input, stdin.as_bytes())
        .await
        .unwrap();
    drop(input);
    tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("the command ends")
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running `switchyard serve` whose stdout and stderr lines are collected.
struct Served {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    switchyard::tasks::spawn("child-output", async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Served {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(args)
            .current_dir(dir)
            .env("TMPDIR", dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Served {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a stdout line holding `needle`.
    async fn line_with(&self, needle: &str) -> String {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no {needle:?} on stdout; stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the exit; returns every line printed (stdout, then stderr).
    async fn stop(mut self) -> (Vec<String>, Vec<String>) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the gateway exits after SIGTERM")
            .unwrap();
        assert!(exit.success(), "{exit:?}");
        // The readers reach the end of both pipes once the process is gone.
        let until = tokio::time::Instant::now() + DEADLINE;
        while Arc::strong_count(&self.stdout) > 1 || Arc::strong_count(&self.stderr) > 1 {
            assert!(tokio::time::Instant::now() < until, "the pipes closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (out, err)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_logs_have_no_colour_and_no_secret_and_status_prints_the_tables() {
    let dir = TempDir::new("logs");
    let replica = ReplicaServer::start(Site::DeepSeek, Knobs::default())
        .await
        .unwrap();
    // The DeepSeek lane goes through a proxy with a password that nothing listens behind (a
    // port just freed; Chromium refuses low ports like 9 before trying): its start fails, and
    // the failure is logged.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "provider = \"deepseek\"\ndata_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = 2\n\
         [providers.deepseek]\nbase_url = \"{}\"\ncapture = \"tee\"\n\
         proxy = \"http://sy-user:{PROXY_SECRET}@127.0.0.1:{dead}\"\n[dummy]\nlanes = 1\n",
        dir.0.join("data").display(),
        replica.base_url()
    );
    std::fs::write(dir.0.join("switchyard.toml"), config).unwrap();
    let conf = ["--config", "switchyard.toml"];

    let keys = run(
        &dir.0,
        &[&conf[..], &["keys", "add", "ops", "--admin"]].concat(),
        &[],
        "",
    )
    .await;
    assert!(keys.status.success(), "{}", text(&keys));
    let key = String::from_utf8(keys.stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert!(key.starts_with("sy-"), "{key}");
    let env = [("SWITCHYARD_PASSPHRASE", PASSPHRASE)];
    let account = run(
        &dir.0,
        &[
            &conf[..],
            &[
                "accounts",
                "add",
                "--provider",
                "deepseek",
                "me@example.com",
            ],
        ]
        .concat(),
        &env,
        &format!("{ACCOUNT_SECRET}\n"),
    )
    .await;
    assert!(account.status.success(), "{}", text(&account));

    let served = Served::start(&dir.0, &[&conf[..], &["serve"]].concat(), &env);
    let line = served
        .line_with("switchyard is serving the OpenAI API at ")
        .await;
    let base = line
        .rsplit_once(" at ")
        .map(|(_, url)| url.trim_end_matches("/v1").to_owned())
        .unwrap();

    let client = reqwest::Client::new();
    let chat = json!({"model": "dummy-instant",
                      "messages": [{"role": "user", "content": "hi"}]});
    let ok = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let refused = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(WRONG_KEY)
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Wait until the proxied lane's start has ended (it fails), so its log lines are in.
    let until = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let lanes: Value = client
            .get(format!("{base}/api/lanes"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ds = lanes["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["provider"] == "deepseek")
            .cloned()
            .unwrap();
        if ds["state"] != "starting" {
            assert_eq!(ds["state"], "failed", "{ds}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the proxied lane left `starting`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // `switchyard status`, with the key from --key and from the environment.
    let status = run(&dir.0, &["status", "--url", &base, "--key", &key], &[], "").await;
    assert!(status.status.success(), "{}", text(&status));
    let tables = String::from_utf8(status.stdout.clone()).unwrap();
    assert!(tables.starts_with("Lanes (2)\nLANE "), "{tables}");
    assert!(tables.contains("dummy:1"), "{tables}");
    assert!(tables.contains("\nRunning (0)\n"), "{tables}");
    assert!(tables.contains("\nPending (0)\n"), "{tables}");
    let by_env = run(
        &dir.0,
        &["status", "--url", &base],
        &[("SWITCHYARD_API_KEY", &key)],
        "",
    )
    .await;
    assert!(by_env.status.success(), "{}", text(&by_env));
    let no_key = run(&dir.0, &["status", "--url", &base], &[], "").await;
    assert!(!no_key.status.success());
    let said = String::from_utf8_lossy(&no_key.stderr).into_owned();
    assert!(
        said.contains("401") && said.contains("--key") && said.contains("SWITCHYARD_API_KEY"),
        "{said}"
    );

    let (out, err) = served.stop().await;
    let all = [
        out.join("\n"),
        err.join("\n"),
        text(&keys),
        text(&account),
        text(&status),
        text(&no_key),
    ]
    .join("\n");
    assert!(
        out.iter().any(|l| l.contains("API keys are required")),
        "the log was captured: {out:?}"
    );
    assert!(
        out.iter().any(|l| l.contains("DeepSeek failed to start")),
        "the proxied lane's failure was logged: {out:?}"
    );
    assert!(
        !all.contains("\x1b["),
        "no ANSI codes in piped output:\n{all}"
    );
    for (what, secret) in [
        ("the API key", key.as_str()),
        ("the wrong key", WRONG_KEY),
        ("the proxy's password", PROXY_SECRET),
        ("the passphrase", PASSPHRASE),
        ("the account's password", ACCOUNT_SECRET),
    ] {
        // The key is printed once, on `keys add`'s stdout, by design; nowhere else.
        let haystack = if what == "the API key" {
            all.replacen(&key, "", 1)
        } else {
            all.clone()
        };
        assert!(!haystack.contains(secret), "{what} was printed:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_when_the_gateway_cannot_be_reached() {
    let dir = TempDir::new("status");
    let out = run(&dir.0, &["status", "--url", "http://127.0.0.1:9"], &[], "").await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("cannot reach the gateway at http://127.0.0.1:9") && said.contains("--url"),
        "{said}"
    );
    assert!(out.stdout.is_empty(), "no table without a gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_level_and_message() {
    let dir = TempDir::new("json-logs");
    let config = format!(
        "data_dir = \"{}\"\n[server]\nport = 0\nshutdown_grace_secs = 2\n[dummy]\nlanes = 1\nonly = true\n",
        dir.0.join("data").display()
    );
    std::fs::write(dir.0.join("switchyard.toml"), config).unwrap();
    let served = Served::start(
        &dir.0,
        &[
            "--log-format",
            "json",
            "serve",
            "--config",
            "switchyard.toml",
        ],
        &[],
    );
    let line = served
        .line_with("switchyard is serving the OpenAI API")
        .await;
    let event: Value = serde_json::from_str(&line).unwrap();
    let base = event["url"].as_str().unwrap().to_owned();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "dummy-instant",
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (out, err) = served.stop().await;
    assert!(out.len() >= 3, "{out:?}");
    for line in out.iter().chain(&err).filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["message"].is_string(), "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
    }
    assert!(
        out.iter().any(|l| l.contains("switchyard stopped.")),
        "{out:?}"
    );
}
