//! `switchyard doctor`, run as a user runs it: the binary against replicas on loopback (started
//! here, with a config file pointing at them), real headless Chromium, stdout and the exit code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use switchyard_replicas::{HookChange, Knobs, Outcome, ReplicaServer, Site};

/// Answers long enough that the probe sees the Stop control before they end.
const SLOW: Knobs = Knobs {
    chunks: 300,
    delay_ms: 20,
    first_delay_ms: 0,
};

struct Sites {
    deepseek: ReplicaServer,
    glm: ReplicaServer,
    dir: PathBuf,
}

impl Sites {
    async fn start() -> Sites {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-doctor-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Sites {
            deepseek: ReplicaServer::start(Site::DeepSeek, SLOW).await.unwrap(),
            glm: ReplicaServer::start(Site::Glm, SLOW).await.unwrap(),
            dir,
        }
    }

    /// Runs `switchyard --config <both replicas> doctor <args>`.
    async fn doctor(&self, args: &[&str]) -> (Output, String) {
        let config = self.dir.join("switchyard.toml");
        std::fs::write(
            &config,
            format!(
                "provider = \"deepseek\"\ndata_dir = \"{}\"\n\
                 [runtime]\nproviders_in_parallel = true\n\
                 [providers.deepseek]\nbase_url = \"{}\"\n\
                 [providers.glm]\nenabled = true\nbase_url = \"{}\"\n",
                self.dir.join("data").display(),
                self.deepseek.base_url(),
                self.glm.base_url()
            ),
        )
        .unwrap();
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("--config")
            .arg(&config)
            .arg("doctor")
            .args(args)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("doctor ends")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out, stdout)
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The status word doctor printed for `hook` in the table of `site` (e.g. "DeepSeek").
fn status<'a>(stdout: &'a str, site: &str, hook: &str) -> &'a str {
    let table = stdout
        .split("\n\n")
        .find(|t| t.starts_with(site))
        .unwrap_or_else(|| panic!("no table for {site}:\n{stdout}"));
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(hook))
        .unwrap_or_else(|| panic!("no line for {hook}:\n{table}"));
    line.split_whitespace().nth(1).unwrap()
}

const HOOKS: [&str; 9] = [
    "signed_in",
    "chat_box",
    "new_chat",
    "model_picker",
    "deep_think",
    "search",
    "send",
    "stream",
    "stop",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hook_is_found_on_the_replicas_and_the_probe_is_stopped() {
    let sites = Sites::start().await;
    let (out, stdout) = sites.doctor(&["--probe"]).await;
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for site in ["DeepSeek", "GLM"] {
        for hook in HOOKS {
            assert_eq!(
                status(&stdout, site, hook),
                "found",
                "{site} {hook}:\n{stdout}"
            );
        }
    }
    assert!(
        stdout.ends_with("every hook found (0 by a fallback way)\n"),
        "{stdout}"
    );
    // A screenshot per site, a real PNG.
    let shots: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("screenshot: "))
        .map(PathBuf::from)
        .collect();
    assert_eq!(shots.len(), 2, "{stdout}");
    for shot in shots {
        let bytes = std::fs::read(&shot).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{}", shot.display());
    }
    // Each site got the probe, and the page's Stop reached it.
    for site in [&sites.deepseek, &sites.glm] {
        let log = site
            .wait_for(
                |log| log.len() == 1 && log[0].outcome != Outcome::Streaming,
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|log| panic!("{log:#?}"));
        assert_eq!(log[0].prompt, "Reply with the single word: pong");
        assert_eq!(log[0].outcome, Outcome::Stopped);
        assert!(log[0].stop_called && log[0].chunks_sent < 300);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_hook_is_named_and_the_check_fails() {
    let sites = Sites::start().await;
    sites.deepseek.change_hook(Some(("send", HookChange::All)));
    let (out, stdout) = sites.doctor(&["--provider", "deepseek", "--probe"]).await;
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(status(&stdout, "DeepSeek", "send"), "MISSING", "{stdout}");
    for hook in [
        "chat_box",
        "new_chat",
        "model_picker",
        "deep_think",
        "search",
    ] {
        assert_eq!(
            status(&stdout, "DeepSeek", hook),
            "found",
            "{hook}:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("GLM"),
        "--provider checks one site:\n{stdout}"
    );
    assert!(stdout.ends_with("missing: deepseek send\n"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("some page hooks are missing"), "{stderr}");
    // Nothing was sent with a hook missing.
    assert!(sites.deepseek.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_name_or_class_falls_back_and_the_lane_steps_still_work() {
    let sites = Sites::start().await;
    // DeepSeek's send control loses its role; GLM's loses its id.
    sites.deepseek.change_hook(Some(("send", HookChange::Name)));
    sites.glm.change_hook(Some(("send", HookChange::Class)));
    let (out, stdout) = sites.doctor(&["--probe"]).await;
    assert!(out.status.success(), "{stdout}");
    for site in ["DeepSeek", "GLM"] {
        assert_eq!(
            status(&stdout, site, "send"),
            "fallback",
            "{site}:\n{stdout}"
        );
        // The probe went through the fallback: Send and the stream worked.
        for hook in ["stream", "new_chat"] {
            assert_eq!(
                status(&stdout, site, hook),
                "found",
                "{site} {hook}:\n{stdout}"
            );
        }
    }
    // DeepSeek stops with the send control (found the fallback way); GLM has its own Stop.
    assert_eq!(status(&stdout, "DeepSeek", "stop"), "fallback", "{stdout}");
    assert_eq!(status(&stdout, "GLM", "stop"), "found", "{stdout}");
    assert!(
        stdout.ends_with("every hook found (3 by a fallback way)\n"),
        "{stdout}"
    );
    for site in [&sites.deepseek, &sites.glm] {
        let log = site
            .wait_for(
                |log| log.len() == 1 && log[0].outcome == Outcome::Stopped,
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|log| panic!("{log:#?}"));
        assert!(log[0].stop_called);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_demo_every_hook_is_found() {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-doctor-demo-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("over.toml"),
        format!("data_dir = \"{}\"\n", dir.join("data").display()),
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(dir.join("over.toml"))
        .args(["doctor", "--demo", "--probe"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("doctor ends")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{stdout}");
    for site in ["DeepSeek", "GLM"] {
        for hook in HOOKS {
            assert_eq!(
                status(&stdout, site, hook),
                "found",
                "{site} {hook}:\n{stdout}"
            );
        }
    }
    assert!(
        stdout.ends_with("every hook found (0 by a fallback way)\n"),
        "{stdout}"
    );
}

/// Runs `switchyard doctor --provider mimo --probe` against a MiMo replica.
async fn mimo_doctor(replica: &ReplicaServer) -> (Output, String) {
    provider_doctor("mimo", replica).await
}

/// Runs `switchyard doctor --provider <prefix> --probe` against `replica`.
async fn provider_doctor(prefix: &str, replica: &ReplicaServer) -> (Output, String) {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-doctor-{prefix}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "provider = \"{prefix}\"\ndata_dir = \"{}\"\n[providers.{prefix}]\nbase_url = \"{}\"\n",
            dir.join("data").display(),
            replica.base_url()
        ),
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--config")
        .arg(&config)
        .args(["doctor", "--provider", prefix, "--probe"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("doctor ends")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// Perplexity: every hook found and Stop pressed by the probe; a composer that lost its id is
/// still found (by its role); a signed-out session is named, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_hooks_the_probe_a_fallback_and_a_signed_out_site() {
    let replica = ReplicaServer::start(Site::Perplexity, SLOW).await.unwrap();
    let (out, stdout) = provider_doctor("perplexity", &replica).await;
    assert!(out.status.success(), "{stdout}");
    for hook in [
        "signed_in",
        "chat_box",
        "new_chat",
        "mode",
        "sources",
        "send",
        "stream",
        "stop",
    ] {
        assert_eq!(
            status(&stdout, "Perplexity", hook),
            "found",
            "{hook}:\n{stdout}"
        );
    }
    let log = replica
        .wait_for(
            |log| log.len() == 1 && log[0].outcome == Outcome::Stopped,
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|log| panic!("{log:#?}"));
    assert!(log[0].stop_called, "the probe pressed Stop");

    replica.change_hook(Some(("send", HookChange::Class)));
    let (out, stdout) = provider_doctor("perplexity", &replica).await;
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        status(&stdout, "Perplexity", "send"),
        "fallback",
        "{stdout}"
    );
    replica.change_hook(None);

    replica.set_signed_in(false);
    let (out, stdout) = provider_doctor("perplexity", &replica).await;
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(
        status(&stdout, "Perplexity", "signed_in"),
        "MISSING",
        "{stdout}"
    );
    assert_eq!(replica.requests().len(), 2, "nothing was sent signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimo_first_run_modals_are_dismissed_and_a_signed_out_site_is_named() {
    let replica = ReplicaServer::start(Site::Mimo, SLOW).await.unwrap();
    // A fresh profile meets the announcement, the cookie banner and the user agreement first.
    let (out, stdout) = mimo_doctor(&replica).await;
    assert!(out.status.success(), "{stdout}");
    for hook in [
        "signed_in",
        "chat_box",
        "new_chat",
        "model_picker",
        "search",
        "send",
    ] {
        assert_eq!(
            status(&stdout, "Xiaomi MiMo", hook),
            "found",
            "{hook}:\n{stdout}"
        );
    }
    assert_eq!(replica.requests().len(), 1, "the probe sent one request");

    replica.set_signed_in(false);
    let (out, stdout) = mimo_doctor(&replica).await;
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(
        status(&stdout, "Xiaomi MiMo", "signed_in"),
        "MISSING",
        "{stdout}"
    );
    assert!(stdout.contains("sign in once"), "{stdout}");
    assert_eq!(replica.requests().len(), 1, "nothing was sent signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moonshot_first_run_notice_is_dismissed_and_a_signed_out_site_is_named() {
    let replica = ReplicaServer::start(Site::Moonshot, SLOW).await.unwrap();
    let (out, stdout) = provider_doctor("moonshot", &replica).await;
    assert!(out.status.success(), "{stdout}");
    for hook in [
        "signed_in",
        "chat_box",
        "new_chat",
        "model_picker",
        "search",
        "send",
        "stop",
    ] {
        assert_eq!(
            status(&stdout, "Moonshot", hook),
            "found",
            "{hook}:\n{stdout}"
        );
    }
    assert_eq!(replica.requests().len(), 1, "the probe sent one request");

    replica.set_signed_in(false);
    let (out, stdout) = provider_doctor("moonshot", &replica).await;
    assert!(!out.status.success(), "{stdout}");
    assert_eq!(
        status(&stdout, "Moonshot", "signed_in"),
        "MISSING",
        "{stdout}"
    );
    assert_eq!(replica.requests().len(), 1, "nothing was sent signed out");
}
