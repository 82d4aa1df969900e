//! Automatic sign-in through Google (issue 15) for the two sites that sign in that way: Kimi
//! (its login modal's Google button opens Google's sign-in in a popup) and AI Studio (a
//! signed-out visitor is redirected to Google's sign-in). Real headless Chromium against the
//! replicas, which serve Google's pages on Google's paths, check the session on every
//! completion and name its account. A lane with a saved account signs in by itself and serves
//! a request under that account; a wrong password is the refusal Google shows; an account that
//! needs its phone is a manual sign-in, and a placeholder address is refused before trying.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::path::PathBuf;

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard::accounts::{Keys, Secret, Store};
use switchyard::config::Config;
use switchyard::demo::replica_site;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, Outcome, ReplicaServer};

/// A data dir with a key file, a store holding one account of `kind`, and the site's replica.
struct Setup {
    kind: ProviderKind,
    dir: TempDir,
    key: PathBuf,
    replica: ReplicaServer,
}

impl Setup {
    async fn new(kind: ProviderKind, email: &str, password: &str) -> Setup {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("SWITCHYARD_LOG").unwrap_or_else(|_| "warn".to_owned()),
            ))
            .with_test_writer()
            .try_init();
        let dir = TempDir::new("google-signin");
        let key = dir.0.join("accounts.key");
        std::fs::write(&key, (0..32).map(|_| fastrand::u8(..)).collect::<Vec<u8>>()).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let keys = Keys::new(None, Some(key.clone()));
        let mut store = Store::open(&dir.0.join("accounts").join("accounts.enc"), &keys).unwrap();
        store
            .add(kind, email, Some(Secret::new(password.to_owned())))
            .unwrap();
        store.save().unwrap();
        let site = replica_site(kind).unwrap();
        let replica = ReplicaServer::start(site, Knobs::instant()).await.unwrap();
        Setup {
            kind,
            dir,
            key,
            replica,
        }
    }

    /// A gateway with one full-parallel lane of the site, which takes the saved account.
    async fn gateway(&self) -> Result<Gateway, String> {
        let toml = format!(
            "provider = \"{p}\"\ndata_dir = \"{}\"\n\
             [server]\nport = 0\nshutdown_grace_secs = 2\n\
             \
             [providers.{p}]\nbase_url = \"{}\"\ninstances = 1\n\
             [accounts]\nkey_file = \"{}\"\nauto_login = true\n",
            self.dir.0.display(),
            self.replica.base_url(),
            self.key.display(),
            p = self.kind.prefix(),
        );
        Gateway::start(Config::from_toml_str(&toml, "test").unwrap()).await
    }

    /// The start error of a lane that must not come up.
    async fn start_error(&self) -> String {
        match self.gateway().await {
            Ok(gw) => {
                gw.shutdown().await;
                panic!("the lane must not start")
            }
            Err(e) => e,
        }
    }
}

async fn chat(gw: &Gateway, kind: ProviderKind, text: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.base_url()))
        .json(&json!({
            "model": format!("{}-chat", kind.prefix()),
            "messages": [{"role": "user", "content": text}],
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The lane signs in through Google by itself and serves a request the replica names the
/// account of; after a restart the saved session serves with no second sign-in; the
/// completion without a session is refused.
async fn signs_in_and_serves(kind: ProviderKind) {
    let s = Setup::new(kind, "Ada@Example.com", "pw-ada").await;
    s.replica.add_account("ada@example.com", "pw-ada");
    let gw = s.gateway().await.unwrap();
    assert_eq!(s.replica.sign_ins("ada@example.com"), 1);

    let reply = chat(&gw, kind, "hello through google").await;
    let text = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty(), "{reply}");
    let log = s
        .replica
        .wait_for(
            |log| {
                log.iter()
                    .any(|r| r.prompt.contains("through google") && r.ended_us.is_some())
            },
            DEADLINE,
        )
        .await
        .unwrap();
    let served = log
        .iter()
        .find(|r| r.prompt.contains("through google"))
        .unwrap();
    assert_eq!(served.account.as_deref(), Some("ada@example.com"));
    assert_eq!(served.outcome, Outcome::Completed, "{served:?}");
    gw.shutdown().await;

    // A restart finds the lane signed in from the saved session: no second Google sign-in.
    let gw = s.gateway().await.unwrap();
    chat(&gw, kind, "hello again").await;
    assert_eq!(
        s.replica.sign_ins("ada@example.com"),
        1,
        "no second sign-in"
    );
    let again = s.replica.requests();
    let again = again
        .iter()
        .find(|r| r.prompt.contains("hello again"))
        .unwrap();
    assert_eq!(again.account.as_deref(), Some("ada@example.com"));
    gw.shutdown().await;

    // The site itself refuses a completion without the account's session.
    let path = match kind {
        ProviderKind::Moonshot => "/apiv2/kimi.gateway.chat.v1.ChatService/Chat",
        _ => {
            "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService/GenerateContent"
        }
    };
    let status = reqwest::Client::new()
        .post(format!("{}{path}", s.replica.base_url()))
        .header("authorization", "Bearer not-a-session")
        .body("[]")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    s.replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kimi_signs_in_through_the_google_popup_and_serves_under_the_account() {
    signs_in_and_serves(ProviderKind::Moonshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aistudio_signs_in_on_the_google_redirect_and_serves_under_the_account() {
    signs_in_and_serves(ProviderKind::AiStudio).await;
}

/// A wrong password: the lane does not start, with Google's text and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_in_the_kimi_popup_is_refused() {
    let s = Setup::new(ProviderKind::Moonshot, "ada@example.com", "wrong").await;
    s.replica.add_account("ada@example.com", "pw-ada");
    let err = s.start_error().await;
    assert!(
        err.contains("the site refused the sign-in of ada@example.com")
            && err.contains("Wrong password")
            && err.contains("switchyard accounts edit --provider moonshot"),
        "{err}"
    );
    assert_eq!(s.replica.sign_ins("ada@example.com"), 0);
    s.replica.shutdown().await;
}

/// An account whose sign-in asks for its phone: a manual sign-in, said once (no loop); a
/// placeholder address is refused before Google's pages are tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_step_needs_a_manual_sign_in_and_a_placeholder_is_refused() {
    let s = Setup::new(ProviderKind::AiStudio, "ada@example.com", "pw-ada").await;
    s.replica.add_account("ada@example.com", "pw-ada");
    s.replica.require_second_step("ada@example.com", true);
    let err = s.start_error().await;
    assert!(
        err.contains("manual sign-in needed for ada@example.com")
            && err.contains("2-Step Verification")
            && err.contains("switchyard login --provider aistudio"),
        "{err}"
    );
    assert_eq!(s.replica.sign_ins("ada@example.com"), 0);
    s.replica.shutdown().await;

    let s = Setup::new(ProviderKind::AiStudio, "nobody@notanemail.notanemail", "pw").await;
    s.replica.add_account("nobody@notanemail.notanemail", "pw");
    let err = s.start_error().await;
    assert!(
        err.contains("placeholder address") && err.contains("nobody@notanemail.notanemail"),
        "{err}"
    );
    assert_eq!(s.replica.sign_ins("nobody@notanemail.notanemail"), 0);
    s.replica.shutdown().await;
}
