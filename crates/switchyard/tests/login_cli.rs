//! `switchyard login` (issue 15): the binary, headless through its scripting switch, signs in
//! to a replica in real Chromium and saves the session (the store in `context` isolation, the
//! account's profile in `process` isolation); a gateway started afterwards, with
//! `auto_login` off, finds its lane signed in without a new sign-in (the replica counts them).
//! Without a display and without the switch, it says how to get one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard::accounts::{Keys, Secret, Store};
use switchyard::config::Config;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReplicaServer, Site};
use tokio::io::AsyncWriteExt;

/// How long one login run may take.
const LOGIN_DEADLINE: Duration = Duration::from_secs(90);

/// A data dir with a key file, a config file for `kind`'s replica and (optionally) a store.
struct Setup {
    kind: ProviderKind,
    dir: TempDir,
    key: PathBuf,
    config: PathBuf,
    replica: ReplicaServer,
    isolation: &'static str,
    auto_login: bool,
}

impl Setup {
    async fn new(kind: ProviderKind, site: Site, isolation: &'static str) -> Setup {
        let dir = TempDir::new("login");
        let key = dir.0.join("accounts.key");
        std::fs::write(&key, (0..32).map(|_| fastrand::u8(..)).collect::<Vec<u8>>()).unwrap();
        let replica = ReplicaServer::start(site, Knobs::instant()).await.unwrap();
        let config = dir.0.join("switchyard.toml");
        let s = Setup {
            kind,
            dir,
            key,
            config,
            replica,
            isolation,
            auto_login: false,
        };
        std::fs::write(&s.config, s.toml()).unwrap();
        s
    }

    fn toml(&self) -> String {
        format!(
            "provider = \"{p}\"\ndata_dir = \"{}\"\n\
             [server]\nport = 0\nshutdown_grace_secs = 2\n\
             [browser]\nisolation = \"{}\"\n\
             [runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.{p}]\nbase_url = \"{}\"\ninstances = 2\n\
             [accounts]\nkey_file = \"{}\"\nauto_login = {}\n",
            self.dir.0.display(),
            self.isolation,
            self.replica.base_url(),
            self.key.display(),
            self.auto_login,
            p = self.kind.prefix(),
        )
    }

    fn store_path(&self) -> PathBuf {
        self.dir.0.join("accounts").join("accounts.enc")
    }

    fn store(&self) -> Store {
        Store::open(&self.store_path(), &Keys::new(None, Some(self.key.clone()))).unwrap()
    }

    fn save_account(&self, email: &str, password: &str) {
        let mut store = self.store();
        store
            .add(self.kind, email, Some(Secret::new(password.to_owned())))
            .unwrap();
        store.save().unwrap();
    }

    /// Starts `switchyard login` headless, with `stdin` piped.
    fn login(&self, account: &str) -> tokio::process::Child {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("--config")
            .arg(&self.config)
            .args([
                "login",
                "--provider",
                self.kind.prefix(),
                "--account",
                account,
            ])
            .env("SWITCHYARD_LOGIN_HEADLESS", "1")
            .env_remove("SWITCHYARD_PASSPHRASE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().unwrap()
    }

    async fn gateway(&self) -> Gateway {
        Gateway::start(Config::from_toml_str(&self.toml(), "test").unwrap())
            .await
            .unwrap()
    }
}

async fn finish(child: tokio::process::Child) -> Output {
    tokio::time::timeout(LOGIN_DEADLINE, child.wait_with_output())
        .await
        .expect("the login ended in time")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn lanes(gw: &Gateway) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{}/api/lanes", gw.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["lanes"].as_array().unwrap().clone()
}

/// Asks one question and returns the account the site saw it under.
async fn ask(gw: &Gateway, s: &Setup, tag: &str) -> Option<String> {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.base_url()))
        .json(&json!({"model": format!("{}-chat", s.kind.prefix()),
                      "messages": [{"role": "user", "content": tag}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let log = s
        .replica
        .wait_for(
            |log| {
                log.iter()
                    .any(|r| r.prompt.contains(tag) && r.ended_us.is_some())
            },
            DEADLINE,
        )
        .await
        .unwrap();
    log.into_iter()
        .find(|r| r.prompt.contains(tag))
        .and_then(|r| r.account)
}

/// Login with `--account` fills DeepSeek's form with the saved password and saves the session;
/// the lane of a gateway started next (full-parallel, two saved accounts, `auto_login` off) on
/// that account is signed in by it, with no second sign-in, while the other account's lane
/// signs in through the form.
async fn login_then_serve(isolation: &'static str) {
    let s = Setup::new(ProviderKind::DeepSeek, Site::DeepSeek, isolation).await;
    s.replica.add_account("ant@example.com", "pw-ant");
    s.replica.add_account("bee@example.com", "pw-bee");
    s.save_account("Ant@Example.com", "pw-ant");
    s.save_account("bee@example.com", "pw-bee");

    let out = finish(s.login("ant@example.com")).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Signed in to DeepSeek as ant@example.com"),
        "{stdout}"
    );
    assert_eq!(s.replica.sign_ins("ant@example.com"), 1, "{stderr}");
    let row = s.store().accounts(s.kind)[0].clone();
    assert_eq!(row.email, "Ant@Example.com");
    if isolation == "context" {
        assert!(
            stdout.contains(&s.store_path().display().to_string()),
            "{stdout}"
        );
        let session = row.session.expect("the session saved with the account");
        assert!(
            session.cookies.iter().any(|c| c.name == "replica_account"),
            "{session:?}"
        );
    } else {
        let profile = s
            .dir
            .0
            .join("profiles")
            .join("deepseek")
            .join(row.profile_name());
        assert!(stdout.contains(&profile.display().to_string()), "{stdout}");
        assert!(profile.is_dir());
        let session = row
            .session
            .expect("the session saved with the account beside the profile");
        assert!(
            session.cookies.iter().any(|c| c.name == "replica_account"),
            "{session:?}"
        );
    }

    assert_eq!(s.replica.sign_ins("bee@example.com"), 0);

    // `auto_login` is off; the full-parallel lanes hold the saved accounts.
    let gw = s.gateway().await;
    let rows = lanes(&gw).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let held: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["account"].as_str()).collect();
    assert_eq!(held, ["Ant@Example.com", "bee@example.com"].into());
    assert!(rows.iter().all(|r| r["state"] == "ready"), "{rows:#?}");
    let (a, b) = tokio::join!(
        ask(&gw, &s, "after login one"),
        ask(&gw, &s, "after login two")
    );
    let seen: std::collections::BTreeSet<String> = [a.unwrap(), b.unwrap()].into();
    assert_eq!(
        seen,
        ["ant@example.com".to_owned(), "bee@example.com".to_owned()].into()
    );
    assert_eq!(
        s.replica.sign_ins("ant@example.com"),
        1,
        "the lane on the logged-in account used the saved session, no second sign-in"
    );
    assert_eq!(
        s.replica.sign_ins("bee@example.com"),
        1,
        "the other signed in by the form"
    );
    gw.shutdown().await;
    s.replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_the_session_in_the_store_and_a_lane_uses_it() {
    login_then_serve("context").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_the_accounts_profile_and_a_lane_uses_it() {
    login_then_serve("process").await;
}

/// An account that is not saved is refused before any browser starts, with the command that
/// saves it; a wrong saved password is the site's refusal, and nothing is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refuses_an_unsaved_account_and_a_wrong_password() {
    let s = Setup::new(ProviderKind::DeepSeek, Site::DeepSeek, "context").await;
    s.replica.add_account("ant@example.com", "pw-ant");
    let out = finish(s.login("ant@example.com")).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is not a saved DeepSeek account")
            && stderr.contains("switchyard accounts add --provider deepseek ant@example.com"),
        "{stderr}"
    );

    s.save_account("ant@example.com", "wrong");
    let out = finish(s.login("ant@example.com")).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the site refused the sign-in of ant@example.com")
            && stderr.contains("nothing was saved"),
        "{stderr}"
    );
    assert!(s.store().accounts(s.kind)[0].session.is_none());
    assert_eq!(s.replica.sign_ins("ant@example.com"), 0);
    s.replica.shutdown().await;
}

/// No display (and no headless switch): a non-zero exit that says how to get one, before
/// anything starts.
#[test]
fn without_a_display_login_says_how_to_get_one() {
    let dir = TempDir::new("login-display");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(&dir.0)
        .args(["login", "--provider", "glm"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("SWITCHYARD_LOGIN_HEADLESS")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for needle in [
        "no display",
        "ssh -X",
        "xvfb-run",
        "VNC viewer",
        "sign in by themselves",
    ] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
    assert!(!dir.0.join("switchyard-data").exists(), "nothing was made");
}

async fn write_line(child: &mut tokio::process::Child, line: &str) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(line.as_bytes()).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    stdin.flush().await.unwrap();
}

/// Waits for the replica to email a code to `email` (the login's output if it ends first).
async fn code_in_mailbox(
    replica: &ReplicaServer,
    email: &str,
    child: tokio::process::Child,
) -> (String, tokio::process::Child) {
    let deadline = tokio::time::Instant::now() + LOGIN_DEADLINE;
    let mut child = child;
    loop {
        if let Some(code) = replica.sign_in_code(email) {
            return (code, child);
        }
        let ended = child.try_wait().unwrap().is_some();
        if ended || tokio::time::Instant::now() >= deadline {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "no sign-in code was emailed to {email}: {}\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Perplexity signs in by an emailed code: the login types the email, reads the code from
/// stdin (a wrong one first, which the site refuses and the login asks again), saves the
/// account (it had none: Perplexity needs no password) with its session, and a lane of the
/// next start is signed in by it. Once the site ends the session, a lane says it needs
/// `switchyard login` instead of starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perplexity_login_reads_the_emailed_code_from_stdin() {
    let mut s = Setup::new(ProviderKind::Perplexity, Site::Perplexity, "context").await;
    s.auto_login = true;
    std::fs::write(&s.config, s.toml()).unwrap();
    s.replica.add_account("pat@example.com", "");

    let (code, mut child) =
        code_in_mailbox(&s.replica, "pat@example.com", s.login("Pat@Example.com")).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    write_line(&mut child, wrong).await;
    // The refused code is not used up; the right one still works.
    write_line(&mut child, &code).await;
    let out = finish(child).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Enter the 6-digit code emailed to Pat@Example.com"),
        "{stderr}"
    );
    assert!(
        stderr.contains("The site refused the code: Invalid code"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Signed in to Perplexity as Pat@Example.com")
            && stdout.contains("the account was added"),
        "{stdout}"
    );
    assert!(!stdout.contains(&code) && !stderr.contains(&format!("`{code}`")));
    assert_eq!(s.replica.sign_ins("pat@example.com"), 1);
    let rows = s.store().accounts(s.kind).to_vec();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].password.is_none());
    let session = rows[0].session.clone().expect("the session");
    assert!(
        session
            .cookies
            .iter()
            .any(|c| c.name == "__Secure-next-auth.session-token" && c.secure),
        "{session:?}"
    );

    let gw = s.gateway().await;
    let lanes = lanes(&gw).await;
    assert_eq!(lanes[0]["account"], "Pat@Example.com", "{lanes:#?}");
    assert_eq!(
        ask(&gw, &s, "after the code").await.as_deref(),
        Some("pat@example.com")
    );
    assert_eq!(s.replica.sign_ins("pat@example.com"), 1);
    gw.shutdown().await;

    // The site ends the session: the lane cannot sign in by itself and says what to run.
    s.replica.end_account_sessions();
    let e = Gateway::start(Config::from_toml_str(&s.toml(), "test").unwrap())
        .await
        .err()
        .expect("no lane can start signed out");
    assert!(
        e.contains("switchyard login --provider perplexity --account Pat@Example.com"),
        "{e}"
    );
    s.replica.shutdown().await;
}
