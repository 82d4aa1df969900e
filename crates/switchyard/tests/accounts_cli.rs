//! `switchyard accounts`, run as a user runs it: the built binary with `SWITCHYARD_PASSPHRASE`
//! (or a key file) and a temporary data dir, passwords on stdin. Checks what reaches the
//! screen, and that the file on disk holds no email or password in clear.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Setup {
    dir: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, extra: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-accounts-cli-{}-{}-{name}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("switchyard.toml");
        std::fs::write(
            &config,
            format!("data_dir = \"{}\"\n{extra}", dir.join("data").display()),
        )
        .unwrap();
        Setup { dir, config }
    }

    fn store(&self) -> PathBuf {
        self.dir.join("data/accounts/accounts.enc")
    }

    /// Runs `switchyard --config … accounts ARGS` with `passphrase` (none: unset) and `stdin`.
    fn run(&self, passphrase: Option<&str>, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("accounts")
            .args(args)
            .env_remove("SWITCHYARD_PASSPHRASE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = passphrase {
            cmd.env("SWITCHYARD_PASSPHRASE", p);
        }
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        // A command that reads no password may exit before reading; that is fine.
        let _ = pipe.write_all(stdin.as_bytes());
        drop(pipe);
        child.wait_with_output().unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(out: &Output) -> (String, String) {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}\n{stdout}");
    (stdout, stderr)
}

fn failed(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

const PASS: &str = "correct horse battery staple";

#[test]
fn accounts_are_added_listed_pinned_and_kept_encrypted() {
    let s = Setup::new("main", "");
    let (_, err) = ok(&s.run(Some(PASS), &["list"], ""));
    assert!(err.contains("No saved accounts"), "{err}");
    assert!(!s.store().exists(), "list creates nothing");

    let (_, err) = ok(&s.run(
        Some(PASS),
        &["add", "--provider", "deepseek", "Alice@Example.com"],
        "pw-alice-123\n",
    ));
    assert!(
        err.contains("Saved DeepSeek account `Alice@Example.com` as row 1"),
        "{err}"
    );
    ok(&s.run(
        Some(PASS),
        &["add", "--provider", "DeepSeek", "bob@example.com"],
        "pw-bob-456\r\n",
    ));
    // Perplexity signs in by an emailed code: no password is read.
    ok(&s.run(
        Some(PASS),
        &["add", "--provider", "perplexity", "carol@example.com"],
        "",
    ));
    ok(&s.run(
        Some(PASS),
        &["pin", "--provider", "deepseek", "alice@example.com"],
        "",
    ));

    let (list, _) = ok(&s.run(Some(PASS), &["list"], ""));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines,
        [
            "PROVIDER\tROW\tEMAIL\tPINNED\tDISABLED\tLAST USED",
            "deepseek\t1\tAlice@Example.com\tpinned\t-\tnever",
            "deepseek\t2\tbob@example.com\t-\t-\tnever",
            "perplexity\t1\tcarol@example.com\t-\t-\tnever",
        ]
    );
    let (only, _) = ok(&s.run(Some(PASS), &["list", "--provider", "pplx"], ""));
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(!list.contains("pw-"), "list never prints a password");

    let bytes = std::fs::read(s.store()).unwrap();
    for clear in [
        "alice",
        "bob@",
        "carol",
        "example.com",
        "pw-alice",
        "pw-bob",
        "deepseek",
        "perplexity",
    ] {
        assert!(
            !contains(&bytes, clear),
            "`{clear}` is in the file in clear"
        );
    }
    assert_eq!(std::fs::metadata(s.store()).unwrap().mode() & 0o777, 0o600);

    // The reference's rules, row-numbered.
    let err = failed(&s.run(
        Some(PASS),
        &["pin", "--provider", "deepseek", "bob@example.com"],
        "",
    ));
    assert!(
        err.contains("DeepSeek: Row 2: Only one row can be pinned at a time.")
            && err.contains("unpin --provider deepseek Alice@Example.com"),
        "{err}"
    );
    let err = failed(&s.run(
        Some(PASS),
        &["add", "--provider", "deepseek", "dave@example.com"],
        "\n",
    ));
    assert!(
        err.contains("DeepSeek: Row 3: Password is required."),
        "{err}"
    );
    let err = failed(&s.run(
        Some(PASS),
        &["add", "--provider", "glm", "not an email"],
        "pw\n",
    ));
    assert!(
        err.contains("Row 1: `not an email` is not a valid email"),
        "{err}"
    );
    ok(&s.run(
        Some(PASS),
        &["disable", "--provider", "deepseek", "alice@example.com"],
        "",
    ));
    let err = failed(&s.run(
        Some(PASS),
        &["disable", "--provider", "deepseek", "bob@example.com"],
        "",
    ));
    assert!(
        err.contains("DeepSeek: At least one saved account must stay enabled."),
        "{err}"
    );
    let (list, _) = ok(&s.run(Some(PASS), &["list", "--provider", "deepseek"], ""));
    assert!(
        list.contains("deepseek\t1\tAlice@Example.com\t-\tdisabled\tnever"),
        "a disabled row loses its pin: {list}"
    );

    ok(&s.run(
        Some(PASS),
        &[
            "edit",
            "--provider",
            "deepseek",
            "bob@example.com",
            "--new-email",
            "robert@example.com",
            "--password",
        ],
        "pw-robert-789\n",
    ));
    ok(&s.run(
        Some(PASS),
        &["remove", "--provider", "perplexity", "carol@example.com"],
        "",
    ));
    let (list, _) = ok(&s.run(Some(PASS), &["list"], ""));
    assert!(
        list.contains("robert@example.com") && !list.contains("carol"),
        "{list}"
    );
    let err = failed(&s.run(
        Some(PASS),
        &["remove", "--provider", "deepseek", "nobody@example.com"],
        "",
    ));
    assert!(
        err.contains("DeepSeek has no saved account `nobody@example.com`"),
        "{err}"
    );
    let err = failed(&s.run(Some(PASS), &["add", "--provider", "chatgpt", "a@b.io"], ""));
    assert!(err.contains("unknown provider `chatgpt`"), "{err}");
}

#[test]
fn a_wrong_or_missing_passphrase_is_refused_and_touches_nothing() {
    let s = Setup::new("wrong", "");
    ok(&s.run(
        Some(PASS),
        &["add", "--provider", "qwen", "a@example.com"],
        "secret-pw\n",
    ));
    let before = std::fs::read(s.store()).unwrap();
    let stamp = std::fs::metadata(s.store()).unwrap().mtime_nsec();

    let err = failed(&s.run(
        Some("wrong passphrase"),
        &["add", "--provider", "qwen", "b@example.com"],
        "other-pw\n",
    ));
    assert!(
        err.contains(
            "the passphrase in SWITCHYARD_PASSPHRASE is not the one this store was sealed with"
        ),
        "{err}"
    );
    let err = failed(&s.run(Some("wrong passphrase"), &["list"], ""));
    assert!(err.contains("is not the one"), "{err}");
    let err = failed(&s.run(None, &["list"], ""));
    assert!(
        err.contains("sealed with a passphrase: set SWITCHYARD_PASSPHRASE"),
        "{err}"
    );
    assert_eq!(std::fs::read(s.store()).unwrap(), before, "bytes unchanged");
    assert_eq!(std::fs::metadata(s.store()).unwrap().mtime_nsec(), stamp);
    let mut names: Vec<String> = std::fs::read_dir(s.store().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The writers' lock file stays beside the store once a write has taken it (README).
    assert_eq!(
        names,
        ["accounts.enc", "accounts.enc.lock"],
        "no temp file left behind"
    );

    let fresh = Setup::new("nokey", "");
    let err = failed(&fresh.run(None, &["add", "--provider", "glm", "a@example.com"], "pw\n"));
    assert!(
        err.contains("none was given: set SWITCHYARD_PASSPHRASE") && err.contains("key_file"),
        "{err}"
    );
    assert!(!fresh.store().exists());
}

#[test]
fn a_key_file_outside_the_data_dir_works_without_a_passphrase() {
    let keys = Setup::new("keyfile-dir", "");
    let key_file: &Path = &keys.dir.join("accounts.key");
    std::fs::write(key_file, [42u8; 32]).unwrap();
    let s = Setup::new(
        "keyfile",
        &format!("[accounts]\nkey_file = \"{}\"\n", key_file.display()),
    );
    ok(&s.run(
        None,
        &["add", "--provider", "huggingface", "some_user"],
        "hf-password\n",
    ));
    let (list, _) = ok(&s.run(None, &["list"], ""));
    assert!(
        list.contains("huggingchat\t1\tsome_user\t-\t-\tnever"),
        "{list}"
    );
    let bytes = std::fs::read(s.store()).unwrap();
    assert!(!contains(&bytes, "some_user") && !contains(&bytes, "hf-password"));
    std::fs::write(key_file, [43u8; 32]).unwrap();
    let err = failed(&s.run(None, &["list"], ""));
    assert!(
        err.contains("the key file named in accounts.key_file is not the one"),
        "{err}"
    );
}

#[test]
fn rekey_moves_the_store_to_a_new_passphrase_then_to_a_key_file() {
    let s = Setup::new("rekey", "");
    // Nothing to re-encrypt yet: said, and no file made.
    let err = failed(&s.run(Some(PASS), &["rekey"], ""));
    assert!(
        err.contains("there is no accounts store to re-encrypt yet"),
        "{err}"
    );
    assert!(!s.store().exists());

    ok(&s.run(
        Some(PASS),
        &["add", "--provider", "deepseek", "kept@example.com"],
        "kept-pw\n",
    ));
    let before = std::fs::read(s.store()).unwrap();

    // The new passphrase as one line of stdin (no terminal), never the command line.
    let (_, said) = ok(&s.run(Some(PASS), &["rekey"], "a new passphrase\n"));
    assert!(said.contains("Re-encrypted"), "{said}");
    let after = std::fs::read(s.store()).unwrap();
    assert_ne!(after, before, "sealed again under the new key");
    assert!(!contains(&after, "kept@example.com") && !contains(&after, "kept-pw"));
    let err = failed(&s.run(Some(PASS), &["list"], ""));
    assert!(
        err.contains("is not the one this store was sealed with"),
        "{err}"
    );
    let (list, _) = ok(&s.run(Some("a new passphrase"), &["list"], ""));
    assert!(list.contains("kept@example.com"), "{list}");

    // Then to a key file, which the config names from then on.
    let key_file = s.dir.join("new.key");
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    let key_arg = key_file.display().to_string();
    ok(&s.run(
        Some("a new passphrase"),
        &["rekey", "--new-key-file", &key_arg],
        "",
    ));
    let err = failed(&s.run(Some("a new passphrase"), &["list"], ""));
    assert!(err.contains("sealed with a key file"), "{err}");
    std::fs::write(
        &s.config,
        format!(
            "data_dir = \"{}\"\n[accounts]\nkey_file = \"{key_arg}\"\n",
            s.dir.join("data").display()
        ),
    )
    .unwrap();
    let (list, _) = ok(&s.run(None, &["list"], ""));
    assert!(list.contains("kept@example.com"), "{list}");
}
