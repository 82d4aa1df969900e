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
use std::path::{Path, PathBuf};

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard::accounts::{Keys, Secret, Store};
use switchyard::config::Config;
use switchyard::demo::replica_site;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer};

fn logged() -> String {
    common::logs::text()
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
        common::logs::capture();
        let dir = TempDir::new("accounts");
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
        self.gateway_with(isolation, instances, "").await
    }

    /// [`Setup::gateway`] with more `[accounts]` keys.
    async fn gateway_with(&self, isolation: &str, instances: u32, accounts: &str) -> Gateway {
        let toml = format!(
            "provider = \"{p}\"\ndata_dir = \"{}\"\n\
             [server]\nport = 0\nshutdown_grace_secs = 2\n\
             [browser]\nisolation = \"{isolation}\"\n\
             [runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.{p}]\nbase_url = \"{}\"\ninstances = {instances}\n\
             [accounts]\nkey_file = \"{}\"\n{accounts}\n",
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
    let (status, body) = try_chat(gw, kind, text).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn try_chat(gw: &Gateway, kind: ProviderKind, text: &str) -> (u16, Value) {
    let model = format!("{}-chat", kind.prefix());
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.base_url()))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn content(reply: &Value) -> &str {
    reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

async fn switch(gw: &Gateway, lane: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/lanes/{lane}/switch-account", gw.base_url()))
        .send()
        .await
        .unwrap()
}

const ROTATE: &str = "retry_with_another_account = true";

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
    // Each lane's own Chromium exited by itself after `Browser.close` (writing its profile's
    // cookies) rather than being killed on a deadline.
    let log = logged();
    assert!(!log.contains("killing it"), "{log}");

    // The store now holds the last use and the sessions, sealed.
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
    assert!(rows.iter().all(|r| r.session.is_some()), "{rows:?}");
    if isolation == "process" {
        // Lane 1's profile loses its local storage, as when Chromium closed before writing it
        // out: the store fills it in, while lane 2's profile still has its own.
        let ant = switchyard::accounts::Account {
            email: "Ant@Example.com".to_owned(),
            ..Default::default()
        };
        let storage = s
            .dir
            .0
            .join("profiles")
            .join(key)
            .join(ant.profile_name())
            .join("Default/Local Storage");
        if storage.exists() {
            std::fs::remove_dir_all(&storage).unwrap();
        }
    }

    // A restart: the lanes come up signed in (the replica checks the cookie) with no new
    // sign-in, each on the same account as before. Where the site keeps its token in local
    // storage (DeepSeek), the first page already had it: no sign-in page was shown.
    let views = s.replica.sign_in_page_views();
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
    assert_eq!(
        s.replica.sign_in_page_views(),
        views,
        "a restored lane went by the sign-in page"
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

/// A lane whose account the site rate-limits moves to the spare account (never a sibling's),
/// restarts on it, signs in, and the client gets its answer; the two lanes still hold two
/// different accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_lane_rotates_to_the_spare_account_and_answers() {
    rotates_to_the_spare("context").await;
}

/// The same with a Chromium per lane: the lane relaunches on the spare account's own profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_isolation_rotation_relaunches_on_the_spares_profile() {
    rotates_to_the_spare("process").await;
}

async fn rotates_to_the_spare(isolation: &str) {
    let s = Setup::new(&[
        ("ant@example.com", "pw-ant", true),
        ("bee@example.com", "pw-bee", false),
        ("cat@example.com", "pw-cat", false),
    ])
    .await;
    for (email, pw) in [
        ("ant@example.com", "pw-ant"),
        ("bee@example.com", "pw-bee"),
        ("cat@example.com", "pw-cat"),
    ] {
        s.replica.add_account(email, pw);
    }
    s.replica.rate_limit_account("ant@example.com", true);
    let gw = s.gateway_with(isolation, 2, ROTATE).await;
    let before = lanes(&gw).await;
    assert_eq!(before[0]["account"], "ant@example.com", "pinned on lane 1");
    let sibling = before[1]["account"].as_str().unwrap().to_owned();

    // One request per lane: lane 1's is refused as rate limited, moves, and is answered.
    let (a, b) = tokio::join!(
        try_chat(&gw, s.kind, "rotation one"),
        try_chat(&gw, s.kind, "rotation two")
    );
    for (status, body) in [&a, &b] {
        assert_eq!(*status, 200, "{body}");
        assert!(!content(body).is_empty(), "{body}");
    }
    let after = lanes(&gw).await;
    let held: Vec<&str> = after
        .iter()
        .map(|l| l["account"].as_str().unwrap())
        .collect();
    assert_eq!(held[1], sibling, "the sibling kept its account");
    assert_ne!(held[0], held[1], "two lanes never hold one account");
    assert!(
        held[0] != "ant@example.com" && held[0] != sibling,
        "lane 1 took the spare: {held:?}"
    );
    let log = s.replica.requests();
    assert!(
        log.iter()
            .any(|r| r.account.as_deref() == Some("ant@example.com")
                && r.outcome == switchyard_replicas::Outcome::Fault("rate_limit".into())),
        "{log:#?}"
    );
    assert_eq!(
        accounts_of(&s.replica, "rotation", 2)
            .await
            .into_iter()
            .filter(|a| a != "ant@example.com")
            .count(),
        2,
        "both answers came from the two other accounts"
    );
    assert_eq!(s.replica.sign_ins(held[0]), 1, "the spare signed in once");
    let logged = logged();
    assert!(
        logged.contains("Account rotation: switching accounts due to: DeepSeek answered HTTP 429"),
        "{logged}"
    );
    // Lane 1 serves again on its new account.
    let again = chat(&gw, s.kind, "rotation three").await;
    assert!(!content(&again).is_empty());
    if isolation == "process" {
        let spare = switchyard::accounts::Account {
            email: held[0].to_owned(),
            ..Default::default()
        };
        let profile = s.dir.0.join("profiles/deepseek").join(spare.profile_name());
        assert!(
            profile.is_dir(),
            "the spare's own profile: {}",
            profile.display()
        );
    }
    gw.shutdown().await;
    s.replica.shutdown().await;
}

/// No spare account: the rate-limited lane's client gets the site's failure, that lane goes
/// offline with the reference's message, and its sibling keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_spare_the_lane_goes_offline_and_its_sibling_serves() {
    let s = Setup::new(&[
        ("ant@example.com", "pw-ant", true),
        ("bee@example.com", "pw-bee", false),
    ])
    .await;
    s.replica.add_account("ant@example.com", "pw-ant");
    s.replica.add_account("bee@example.com", "pw-bee");
    s.replica.rate_limit_account("ant@example.com", true);
    let gw = s.gateway_with("context", 2, ROTATE).await;

    // Switch Account by hand with no spare: refused, the lane keeps its account.
    let resp = switch(&gw, "deepseek:2").await;
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no spare saved account")),
        "{body}"
    );
    assert_eq!(switch(&gw, "deepseek:9").await.status(), 404);
    assert_eq!(lanes(&gw).await[1]["account"], "bee@example.com");

    let (a, b) = tokio::join!(
        try_chat(&gw, s.kind, "no spare one"),
        try_chat(&gw, s.kind, "no spare two")
    );
    let (ok, failed): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|(st, _)| *st == 200);
    assert_eq!(ok.len(), 1, "{ok:?} {failed:?}");
    assert_eq!(failed[0].0, 429, "{failed:?}");
    assert!(
        failed[0].1["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("429")),
        "{failed:?}"
    );
    let until = tokio::time::Instant::now() + DEADLINE;
    let rows = loop {
        let rows = lanes(&gw).await;
        // The sibling may still be finishing its request (saving the session) for a moment.
        if rows[0]["state"] == "offline" && rows[1]["state"] == "ready" {
            break rows;
        }
        assert!(tokio::time::Instant::now() < until, "{rows:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        rows[0]["reason"],
        "Account rotation: no spare account available; this instance will stay offline until \
         the next service restart."
    );
    assert!(rows[0]["account"].is_null(), "{rows:#?}");
    assert_eq!(rows[1]["account"], "bee@example.com");
    assert_eq!(rows[1]["state"], "ready");
    for n in 0..2 {
        let reply = chat(&gw, s.kind, &format!("after {n}")).await;
        assert!(!content(&reply).is_empty());
    }
    let seen = accounts_of(&s.replica, "after", 2).await;
    assert_eq!(seen, BTreeSet::from(["bee@example.com".to_owned()]));
    gw.shutdown().await;
    s.replica.shutdown().await;
}

/// `POST /api/lanes/{id}/switch-account`: the lane moves to the spare account (never a
/// sibling's), restarts, signs in with it and serves under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_account_by_hand_moves_a_lane_to_the_spare() {
    let s = Setup::new(&[
        ("ant@example.com", "pw-ant", true),
        ("bee@example.com", "pw-bee", false),
        ("cat@example.com", "pw-cat", false),
    ])
    .await;
    for (email, pw) in [
        ("ant@example.com", "pw-ant"),
        ("bee@example.com", "pw-bee"),
        ("cat@example.com", "pw-cat"),
    ] {
        s.replica.add_account(email, pw);
    }
    let gw = s.gateway("context", 2).await;
    let before = lanes(&gw).await;
    let sibling = before[1]["account"].as_str().unwrap().to_owned();
    let resp = switch(&gw, "deepseek:1").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let now = body["account"].as_str().unwrap().to_owned();
    assert!(now != "ant@example.com" && now != sibling, "{body}");
    let after = lanes(&gw).await;
    assert_eq!(after[0]["account"], now.as_str());
    assert_eq!(after[1]["account"], sibling.as_str());
    assert_eq!(s.replica.sign_ins(&now), 1);
    // Lane 2 now switches to the account lane 1 gave up.
    let resp = switch(&gw, "deepseek:2").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["account"], "ant@example.com");
    let (a, b) = tokio::join!(
        chat(&gw, s.kind, "switched one"),
        chat(&gw, s.kind, "switched two")
    );
    assert!(!content(&a).is_empty() && !content(&b).is_empty());
    let seen = accounts_of(&s.replica, "switched", 2).await;
    assert_eq!(
        seen,
        BTreeSet::from(["ant@example.com".to_owned(), now.clone()])
    );
    gw.shutdown().await;
    s.replica.shutdown().await;
}
