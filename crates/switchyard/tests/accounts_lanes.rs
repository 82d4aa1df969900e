//! Account-backed lanes (issue 15): full-parallel lanes capped by the saved accounts, the pinned
//! account on lane 1, each lane signed in through the replica's own sign-in form with its own
//! account, and a restart (in both isolation modes) that finds the lanes signed in without
//! signing in again. Real headless Chromium against the DeepSeek replica, which checks the
//! session cookie and names each request's account.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard::accounts::{Keys, Secret, Store};
use switchyard::config::Config;
use switchyard::demo::replica_site;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer};

/// Every log line of this test process, to check the start-up lines.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,chromiumoxide=error",
            ))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        std::io::stderr().write_all(data)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

/// A data dir with a key file and a store of DeepSeek accounts `(email, password, pinned)`.
struct Setup {
    kind: ProviderKind,
    dir: TempDir,
    key: PathBuf,
    replica: ReplicaServer,
}

impl Setup {
    async fn new(rows: &[(&str, &str, bool)]) -> Setup {
        Self::of(ProviderKind::DeepSeek, rows).await
    }

    async fn of(kind: ProviderKind, rows: &[(&str, &str, bool)]) -> Setup {
        logs();
        let dir = TempDir(std::env::temp_dir().join(format!(
            "switchyard-accounts-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        let key = dir.0.join("accounts.key");
        std::fs::write(&key, (0..32).map(|_| fastrand::u8(..)).collect::<Vec<u8>>()).unwrap();
        let mut store = Store::open(&store_path(&dir.0), &keys(&key)).unwrap();
        for (email, password, pinned) in rows {
            store
                .add(kind, email, Some(Secret::new((*password).to_owned())))
                .unwrap();
            if *pinned {
                store.set_pinned(kind, email, true).unwrap();
            }
        }
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

    async fn gateway(&self, isolation: &str, instances: u32) -> Gateway {
        let toml = format!(
            "provider = \"{p}\"\ndata_dir = \"{}\"\n\
             [server]\nport = 0\nshutdown_grace_secs = 2\n\
             [browser]\nisolation = \"{isolation}\"\n\
             [runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.{p}]\nbase_url = \"{}\"\ninstances = {instances}\n\
             [accounts]\nkey_file = \"{}\"\n",
            self.dir.0.display(),
            self.replica.base_url(),
            self.key.display(),
            p = self.kind.prefix(),
        );
        Gateway::start(Config::from_toml_str(&toml, "test").unwrap())
            .await
            .unwrap()
    }
}

fn store_path(dir: &Path) -> PathBuf {
    dir.join("accounts").join("accounts.enc")
}

fn keys(key: &Path) -> Keys {
    Keys::new(None, Some(key.to_owned()))
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

async fn chat(gw: &Gateway, kind: ProviderKind, text: &str) -> Value {
    let model = format!("{}-chat", kind.prefix());
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.base_url()))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The accounts the replica saw on completed requests whose prompt contains `tag`.
async fn accounts_of(replica: &ReplicaServer, tag: &str, n: usize) -> BTreeSet<String> {
    let pred = |log: &[ReceivedRequest]| {
        log.iter()
            .filter(|r| r.prompt.contains(tag) && r.ended_us.is_some())
            .count()
            >= n
    };
    let log = match replica.wait_for(pred, DEADLINE).await {
        Ok(log) => log,
        Err(log) => panic!("the replica did not see {n} requests tagged {tag}: {log:#?}"),
    };
    log.iter()
        .filter(|r| r.prompt.contains(tag))
        .map(|r| {
            r.account
                .clone()
                .expect("a request with an account session")
        })
        .collect()
}

/// Three instances asked, two accounts saved: two lanes, the reference's warning, the pinned
/// account on lane 1 (logged `[PINNED]`), each lane signed in by the form with its own account,
/// and after a restart both lanes serve again without a second sign-in.
async fn capped_pinned_signed_in_and_restarted(kind: ProviderKind, isolation: &str) {
    let s = Setup::of(
        kind,
        &[
            ("bee@example.com", "pw-bee", false),
            ("Ant@Example.com", "pw-ant", true),
        ],
    )
    .await;
    s.replica.add_account("ant@example.com", "pw-ant");
    s.replica.add_account("bee@example.com", "pw-bee");

    let gw = s.gateway(isolation, 3).await;
    let rows = lanes(&gw).await;
    let ids: Vec<&str> = rows.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let key = kind.storage_key();
    assert_eq!(ids, [format!("{key}:1"), format!("{key}:2")], "{rows:#?}");
    let name = kind.display_name();
    assert_eq!(rows[0]["account"], "Ant@Example.com", "pinned on lane 1");
    assert_eq!(rows[1]["account"], "bee@example.com");
    let log = logged();
    assert!(
        log.contains(&format!(
            "Full Parallelization: {name} requested 3 instances, but only 2 saved \
                 account(s) are available. Launching 2."
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "{name} 1: startup profile -> Ant@Example.com [PINNED]"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("{name} 2: startup profile -> bee@example.com\n"))
            || log.contains(&format!("{name} 2: startup profile -> bee@example.com ")),
        "{log}"
    );
    assert_eq!(s.replica.sign_ins("ant@example.com"), 1);
    assert_eq!(s.replica.sign_ins("bee@example.com"), 1);

    // Two requests at once: one per lane, each under its own account.
    let (a, b) = tokio::join!(
        chat(&gw, s.kind, "first run one"),
        chat(&gw, s.kind, "first run two")
    );
    for reply in [&a, &b] {
        assert!(
            reply["choices"][0]["message"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{reply}"
        );
    }
    let seen = accounts_of(&s.replica, "first run", 2).await;
    assert_eq!(
        seen,
        BTreeSet::from(["ant@example.com".to_owned(), "bee@example.com".to_owned()])
    );
    gw.shutdown().await;

    // The store now holds the last use (and, in context isolation, the sessions), sealed.
    let bytes = std::fs::read(store_path(&s.dir.0)).unwrap();
    for plain in [&b"example.com"[..], b"pw-ant", b"replica_account"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "the store holds {:?} in clear",
            String::from_utf8_lossy(plain)
        );
    }
    let store = Store::open(&store_path(&s.dir.0), &keys(&s.key)).unwrap();
    let rows = store.accounts(kind);
    assert!(rows.iter().all(|r| r.last_used_ms.is_some()), "{rows:?}");
    if isolation == "context" {
        assert!(rows.iter().all(|r| r.session.is_some()), "{rows:?}");
    }

    // A restart: the lanes come up signed in (the replica checks the cookie) with no new
    // sign-in, each on the same account as before.
    let gw = s.gateway(isolation, 3).await;
    let rows = lanes(&gw).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[0]["account"], "Ant@Example.com");
    let (a, b) = tokio::join!(
        chat(&gw, s.kind, "second run one"),
        chat(&gw, s.kind, "second run two")
    );
    assert!(a["choices"][0]["message"]["content"].is_string(), "{a}");
    assert!(b["choices"][0]["message"]["content"].is_string(), "{b}");
    let seen = accounts_of(&s.replica, "second run", 2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        s.replica.sign_ins("ant@example.com"),
        1,
        "no second sign-in"
    );
    assert_eq!(
        s.replica.sign_ins("bee@example.com"),
        1,
        "no second sign-in"
    );
    gw.shutdown().await;
    s.replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_isolation_caps_pins_signs_in_and_restores_the_session() {
    capped_pinned_signed_in_and_restarted(ProviderKind::DeepSeek, "context").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glm_lanes_sign_in_on_the_auth_page_and_stay_signed_in() {
    capped_pinned_signed_in_and_restarted(ProviderKind::Glm, "context").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_isolation_caps_pins_signs_in_and_keeps_the_profile() {
    capped_pinned_signed_in_and_restarted(ProviderKind::DeepSeek, "process").await;
}

/// A saved password the site refuses: the lane fails to start with the site's message and what
/// to do; no account means a manual lane that reports the sign-in it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_names_the_account_and_the_fix() {
    let s = Setup::new(&[("ant@example.com", "wrong", false)]).await;
    s.replica.add_account("ant@example.com", "right");
    let toml_err = match Gateway::start(
        Config::from_toml_str(
            &format!(
                "provider = \"deepseek\"\ndata_dir = \"{}\"\n[server]\nport = 0\n\
                 [providers.deepseek]\nbase_url = \"{}\"\n\
                 [accounts]\nkey_file = \"{}\"\nauto_login = true\n",
                s.dir.0.display(),
                s.replica.base_url(),
                s.key.display()
            ),
            "test",
        )
        .unwrap(),
    )
    .await
    {
        Ok(_) => panic!("a lane with a refused password must not start"),
        Err(e) => e,
    };
    assert!(
        toml_err.contains("the site refused the sign-in of ant@example.com")
            && toml_err.contains("Incorrect email or password")
            && toml_err.contains("switchyard accounts edit --provider deepseek"),
        "{toml_err}"
    );
    assert_eq!(s.replica.sign_ins("ant@example.com"), 0);
    s.replica.shutdown().await;
}
