//! Start-up refusals, seen as a user sees them: run the binary, read what it prints, check the
//! exit code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

use std::process::{Command, Output};

fn switchyard(args: &[&str], config: Option<&str>, env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-startup-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.current_dir(&dir).args(args);
    if let Some(text) = config {
        let path = dir.join("switchyard.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(&path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_config_with_a_typo_is_refused_naming_file_key_and_choices() {
    let out = switchyard(&["serve"], Some("[runtime]\nmode = \"parallel\"\n"), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("switchyard.toml: runtime.mode: unknown variant `parallel`"),
        "{err}"
    );
    assert!(err.contains("`full_parallel_lanes`"), "{err}");

    let out = switchyard(&["serve"], Some("[browser]\nheadles = true\n"), &[]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("browser.headles: unknown field `headles`"),
        "{err}"
    );
}

#[test]
fn an_out_of_range_instance_count_is_refused() {
    let out = switchyard(
        &["serve"],
        Some("[providers.deepseek]\ninstances = 40\n"),
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("providers.deepseek.instances: 40 is out of range; allowed 1..=32"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config", "/nonexistent/switchyard.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/switchyard.toml: cannot read the file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_chromium_says_how_to_install_it() {
    let out = switchyard(
        &["serve"],
        Some("[server]\nport = 0\n"),
        &[("SWITCHYARD_CHROMIUM", "/nonexistent/chromium")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("SWITCHYARD_CHROMIUM points at /nonexistent/chromium"),
        "{err}"
    );

    let out = switchyard(
        &["serve"],
        Some("[server]\nport = 0\n[browser]\nexecutable = \"/nonexistent/chrome\"\n"),
        &[],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("browser.executable points at /nonexistent/chrome"),
        "{err}"
    );
}

#[test]
fn a_busy_port_is_refused_before_any_browser_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = switchyard(
        &["serve"],
        Some(&format!("[server]\nport = {port}\n")),
        // A Chromium that does not exist: reaching the browser step would fail differently.
        &[("SWITCHYARD_CHROMIUM", "/nonexistent/chromium")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Port {port} is already in use")),
        "{err}"
    );
}

#[test]
fn demo_modes_are_spelled_like_the_config_values() {
    let out = switchyard(&["demo", "--mode", "fast"], None, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("provider_lanes, concurrent_provider_lanes, full_parallel_lanes"),
        "{err}"
    );
}
