//! Remote browsers (`browser.endpoints`): lanes attach to Chromiums started outside switchyard,
//! spread over them, and move to the other one when one is killed (`kill -9`), on real
//! Chromium against the replicas.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{DEADLINE, Harness};
use serde_json::Value;
use switchyard::models::ProviderKind;
use switchyard_replicas::Knobs;

const GLM: ProviderKind = ProviderKind::Glm;

/// A Chromium started by the test, as an operator would start one for switchyard; killed and
/// its profile removed on drop.
struct RemoteChromium {
    child: Child,
    profile: PathBuf,
    /// `ws://127.0.0.1:<port>/devtools/browser/<id>`.
    ws: String,
    port: u16,
}

impl RemoteChromium {
    async fn start() -> RemoteChromium {
        Self::start_on(0).await
    }

    /// On a given DevTools port (0: any free one).
    async fn start_on(port: u16) -> RemoteChromium {
        let profile = std::env::temp_dir().join(format!(
            "switchyard-remote-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut cmd = Command::new("/usr/lib/chromium/chromium");
        cmd.args([
            "--headless=new",
            "--no-first-run",
            "--disable-gpu",
            "--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup",
        ])
        .arg(format!("--remote-debugging-port={port}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--no-sandbox");
        }
        // A process group of its own, so the drop guard ends its child processes too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("Chromium at /usr/lib/chromium/chromium");
        let mut remote = RemoteChromium {
            child,
            profile,
            ws: String::new(),
            port: 0,
        };
        // Chromium writes its port and browser path once it listens (on a port it picked); on
        // a given port, its /json/version answers once it listens.
        let file = remote.profile.join("DevToolsActivePort");
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            if port != 0 {
                let version = reqwest::get(format!("http://127.0.0.1:{port}/json/version")).await;
                if let Ok(v) = version {
                    let v: Value = v.json().await.unwrap();
                    remote.port = port;
                    remote.ws = v["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
                    return remote;
                }
            } else if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    remote.port = port.trim().parse().unwrap();
                    remote.ws = format!("ws://127.0.0.1:{}{}", remote.port, path.trim());
                    return remote;
                }
            }
            assert!(
                tokio::time::Instant::now() < until,
                "Chromium did not start listening for DevTools"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill_9(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }

    /// Whether the process still runs (not reaped, not a zombie).
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for RemoteChromium {
    fn drop(&mut self) {
        // The whole group (browser, renderers, utility processes), which this test started.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.pid())])
            .status();
        let _ = self.child.wait();
        // A child still exiting may write one last file: try again a few times.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap()
}

fn endpoints(lanes: &[Value]) -> BTreeSet<String> {
    lanes
        .iter()
        .filter_map(|l| l["endpoint"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_spread_over_two_remote_browsers_and_move_when_one_is_killed() {
    let mut first = RemoteChromium::start().await;
    let second = RemoteChromium::start().await;
    // The first by its http address (resolved through /json/version), the second by its
    // websocket, with a capacity.
    let config = format!(
        "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n[providers.glm]\ninstances = 3\n\
         [browser]\nendpoints = [\"http://127.0.0.1:{}\", {{ url = \"{}\", max_lanes = 4 }}]\n",
        first.port, second.ws
    );
    let h = Harness::single(GLM, Knobs::default(), &config).await;
    let first_shown = format!("http://127.0.0.1:{}/", first.port);
    let lanes = h
        .wait_lanes("three lanes ready", |l| {
            l.len() == 3 && l.iter().all(|l| l["state"] == "ready")
        })
        .await;
    assert_eq!(
        endpoints(&lanes),
        BTreeSet::from([first_shown.clone(), second.ws.clone()]),
        "the lanes land on both browsers: {lanes:#?}"
    );
    assert!(
        lanes.iter().all(|l| l["browser_pid"].is_null()),
        "a remote browser has no pid of ours: {lanes:#?}"
    );
    let on_first: Vec<String> = lanes
        .iter()
        .filter(|l| l["endpoint"] == first_shown.as_str())
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!on_first.is_empty());
    let (status, body) = h.chat("glm-chat", "before the kill").await;
    assert_eq!(status, 200, "{body}");

    // Mid-run: a request streams while the first browser dies.
    let (tx, stream) = tokio::sync::oneshot::channel();
    let request = h
        .client
        .post(h.url("/v1/chat/completions"))
        .json(&serde_json::json!({
        "model": "glm-chat", "stream": true,
        "messages": [{"role": "user",
                      "content": "during the kill replica:chunks=200 replica:delay_ms=10"}]}));
    switchyard::tasks::spawn("test-client", async move {
        let text = request.send().await.unwrap().text().await.unwrap();
        let _ = tx.send(text);
    });
    h.wait_lanes("a lane is busy", |l| l.iter().any(|l| l["state"] == "busy"))
        .await;
    first.kill_9();

    let lanes = h
        .wait_lanes("every lane back, on the second browser", |l| {
            l.iter()
                .all(|l| l["state"] == "ready" && l["endpoint"] == second.ws.as_str())
        })
        .await;
    for id in &on_first {
        let lane = lanes.iter().find(|l| l["id"] == id.as_str()).unwrap();
        assert!(
            lane["restarts"].as_u64().unwrap() >= 1,
            "{id} recovered: {lane:#}"
        );
    }
    // The streamed answer ended one way or the other, with [DONE].
    let text = stream.await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // Every lane answers, now all on the second browser.
    let answers = futures::future::join_all((0..3).map(|i| {
        let h = &h;
        async move { h.chat("glm-chat", &format!("after the kill {i}")).await }
    }))
    .await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
        assert!(
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains("after the kill"),
            "{body}"
        );
    }
    let site = h.replica(GLM).base_url();
    h.shutdown().await;
    // switchyard never closes a remote browser: the second one still runs, without the pages
    // (and contexts) switchyard opened on it.
    let mut second = second;
    assert!(second.running(), "the remote browser was left running");
    let targets: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", second.port))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !targets.to_string().contains(site.as_str()),
        "switchyard closed its own pages: {targets:#}"
    );
}

/// `switchyard doctor` with an endpoint: no Chromium of its own (the configured executable does
/// not even exist), its page in a context on the remote browser, which it leaves running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_sites_in_a_remote_browser_and_leaves_it_running() {
    let mut remote = RemoteChromium::start().await;
    let glm =
        switchyard_replicas::ReplicaServer::start(switchyard_replicas::Site::Glm, Knobs::default())
            .await
            .unwrap();
    let dir = common::TempDir::new("remote-doctor");
    let config = dir.0.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "provider = \"glm\"\ndata_dir = \"{}\"\n[providers.glm]\nbase_url = \"{}\"\n\
             [browser]\nendpoints = [\"http://127.0.0.1:{}\"]\n\
             executable = \"/nonexistent/chromium\"\n",
            dir.0.join("data").display(),
            glm.base_url(),
            remote.port
        ),
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(&config)
        .arg("doctor")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("doctor ends")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every hook found"), "{stdout}");
    assert!(remote.running(), "doctor left the remote browser running");
    let targets: Value = reqwest::get(format!("http://127.0.0.1:{}/json/list", remote.port))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !targets.to_string().contains(glm.base_url().as_str()),
        "doctor closed its page: {targets:#}"
    );
    glm.shutdown().await;
}

/// The only endpoint dies: its lanes keep trying with backoff and come back once a browser
/// answers at that address again (an `http://` endpoint is resolved afresh each time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_endpoint_left_the_lanes_reconnect_when_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut remote = RemoteChromium::start_on(port).await;
    let config = format!("[browser]\nendpoints = [\"http://127.0.0.1:{port}\"]\n");
    let h = Harness::single(GLM, Knobs::default(), &config).await;
    h.wait_lanes("the lane is ready", |l| l[0]["state"] == "ready")
        .await;
    remote.kill_9();
    // It keeps trying, and says why it cannot come back yet.
    h.wait_lanes("the lane cannot reach any browser", |l| {
        l[0]["state"] != "ready"
            && l[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("no browser endpoint"))
    })
    .await;
    let _back = RemoteChromium::start_on(port).await;
    let lanes = h
        .wait_lanes("the lane is back on the new browser", |l| {
            l[0]["state"] == "ready" && l[0]["restarts"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(lanes[0]["endpoint"], format!("http://127.0.0.1:{port}/"));
    let (status, body) = h.chat("glm-chat", "after the restart").await;
    assert_eq!(status, 200, "{body}");
    h.shutdown().await;
}
