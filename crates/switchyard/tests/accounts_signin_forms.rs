//! Automatic sign-in on Qwen, HuggingChat and Xiaomi MiMo (issue 15): a lane with a saved
//! account meets the site signed out, fills the site's own sign-in form by itself and serves a
//! request the replica names that account on; a password the site refuses leaves no lane,
//! with the site's message and the fix; and two full-parallel lanes with two accounts each
//! hold their own. Real headless Chromium against the replicas, which check the session cookie
//! of each site (Qwen's `token`, HuggingChat's `hf-chat`, MiMo's `userId` and pass token).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{DEADLINE, TempDir};
use serde_json::{Value, json};
use switchyard::accounts::{Keys, Secret, Store};
use switchyard::config::Config;
use switchyard::demo::replica_site;
use switchyard::gateway::Gateway;
use switchyard::models::ProviderKind;
use switchyard_replicas::{Knobs, ReceivedRequest, ReplicaServer};

/// A data dir with a key file and a store of `kind`'s accounts, and `kind`'s replica with the
/// accounts it accepts.
struct Setup {
    kind: ProviderKind,
    dir: TempDir,
    key: PathBuf,
    replica: ReplicaServer,
}

impl Setup {
    /// `saved`: the store's `(account, password)` rows; `registered`: the replica's.
    async fn new(kind: ProviderKind, saved: &[(&str, &str)], registered: &[(&str, &str)]) -> Setup {
        let dir = TempDir::new("signin-forms");
        let key = dir.0.join("accounts.key");
        std::fs::write(&key, (0..32).map(|_| fastrand::u8(..)).collect::<Vec<u8>>()).unwrap();
        let keys = Keys::new(None, Some(key.clone()));
        let mut store = Store::open(&dir.0.join("accounts").join("accounts.enc"), &keys).unwrap();
        for (account, password) in saved {
            store
                .add(kind, account, Some(Secret::new((*password).to_owned())))
                .unwrap();
        }
        store.save().unwrap();
        let replica = ReplicaServer::start(replica_site(kind).unwrap(), Knobs::instant())
            .await
            .unwrap();
        for (account, password) in registered {
            replica.add_account(account, password);
        }
        Setup {
            kind,
            dir,
            key,
            replica,
        }
    }

    /// The config: `kind` at its replica with `provider` more keys in its table, `runtime` (the
    /// `[runtime]` table or nothing) and `[accounts]` with the key file and `accounts` keys.
    fn config(&self, runtime: &str, provider: &str, accounts: &str) -> Config {
        let toml = format!(
            "provider = \"{p}\"\ndata_dir = \"{}\"\n\
             [server]\nport = 0\nshutdown_grace_secs = 2\n\
             {runtime}\
             [providers.{p}]\nbase_url = \"{}\"\n{provider}\n\
             [accounts]\nkey_file = \"{}\"\n{accounts}\n",
            self.dir.0.display(),
            self.replica.base_url(),
            self.key.display(),
            p = self.kind.prefix(),
        );
        Config::from_toml_str(&toml, "test").unwrap()
    }

    /// One lane on the saved account (`auto_login`, as a lane that is not full-parallel needs).
    fn one_lane(&self) -> Config {
        self.config("", "", "auto_login = true")
    }

    /// `n` full-parallel lanes, one per saved account.
    async fn parallel_lanes(&self, n: u32) -> Gateway {
        let runtime = "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n";
        Gateway::start(self.config(runtime, &format!("instances = {n}"), ""))
            .await
            .unwrap()
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
    let content = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!content.is_empty(), "{body}");
    body
}

/// The accounts the replica saw on the ended requests whose prompt contains `tag`, once it saw
/// `n` of them.
async fn accounts_of(replica: &ReplicaServer, tag: &str, n: usize) -> BTreeSet<Option<String>> {
    let tagged = |r: &&ReceivedRequest| r.prompt.contains(tag) && r.ended_us.is_some();
    let log = match replica
        .wait_for(|log| log.iter().filter(tagged).count() >= n, DEADLINE)
        .await
    {
        Ok(log) => log,
        Err(log) => panic!("the replica did not see {n} requests tagged {tag}: {log:#?}"),
    };
    log.iter()
        .filter(tagged)
        .map(|r| r.account.clone())
        .collect()
}

/// One lane, one saved account the replica knows: the lane signs in through the site's form
/// by itself (once), and its request is served under that account.
async fn signs_in_and_serves(kind: ProviderKind, account: &str) {
    let s = Setup::new(kind, &[(account, "pw-right")], &[(account, "pw-right")]).await;
    let gw = Gateway::start(s.one_lane()).await.unwrap();
    assert_eq!(
        s.replica.sign_ins(account),
        1,
        "one sign-in through the form"
    );
    chat(&gw, kind, "signed in lane").await;
    let seen = accounts_of(&s.replica, "signed in lane", 1).await;
    assert_eq!(seen, BTreeSet::from([Some(account.to_lowercase())]));
    gw.shutdown().await;
    s.replica.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen_signs_in_on_its_auth_page() {
    signs_in_and_serves(ProviderKind::Qwen, "Ant@Example.com").await;
}

/// HuggingChat takes a username as well as an email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingchat_signs_in_on_the_hugging_face_login_with_a_username() {
    signs_in_and_serves(ProviderKind::HuggingChat, "ant-hf").await;
}

/// Two full-parallel MiMo lanes, two accounts: each lane follows the app's redirect to the
/// Xiaomi Account login, signs in with its own account, and two requests at once are served
/// one under each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimo_parallel_lanes_each_sign_in_with_their_own_account() {
    let accounts = [("ant@example.com", "pw-ant"), ("bee@example.com", "pw-bee")];
    let s = Setup::new(ProviderKind::Mimo, &accounts, &accounts).await;
    let gw = s.parallel_lanes(2).await;
    for (account, _) in accounts {
        assert_eq!(s.replica.sign_ins(account), 1, "{account} signed in once");
    }
    tokio::join!(
        chat(&gw, s.kind, "parallel one"),
        chat(&gw, s.kind, "parallel two")
    );
    let seen = accounts_of(&s.replica, "parallel", 2).await;
    assert_eq!(
        seen,
        BTreeSet::from([
            Some("ant@example.com".to_owned()),
            Some("bee@example.com".to_owned())
        ])
    );
    gw.shutdown().await;
    s.replica.shutdown().await;
}

/// A saved password each site refuses: no lane starts, and the error names the account, the
/// site's own message and the command that fixes it; the replica saw no completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_leaves_no_lane_and_says_what_to_do() {
    for (kind, account, message) in [
        (
            ProviderKind::Qwen,
            "ant@example.com",
            "The email or password provided is incorrect",
        ),
        (
            ProviderKind::HuggingChat,
            "ant-hf",
            "Invalid username or password.",
        ),
        (
            ProviderKind::Mimo,
            "ant@example.com",
            "Incorrect account or password",
        ),
    ] {
        let s = Setup::new(kind, &[(account, "wrong")], &[(account, "right")]).await;
        let err = match Gateway::start(s.one_lane()).await {
            Ok(_) => panic!("{kind:?}: a lane with a refused password must not start"),
            Err(e) => e,
        };
        let fix = format!("switchyard accounts edit --provider {}", kind.prefix());
        assert!(
            err.contains(&format!("the site refused the sign-in of {account}"))
                && err.contains(message)
                && err.contains(&fix),
            "{kind:?}: {err}"
        );
        assert_eq!(s.replica.sign_ins(account), 0, "{kind:?}");
        assert!(s.replica.requests().is_empty(), "{kind:?}");
        s.replica.shutdown().await;
    }
}
