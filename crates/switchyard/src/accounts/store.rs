//! The store file: read and decrypted once at open, changed in memory under the rules, and
//! written back whole and atomically by [`Store::save`].
//!
//! Atomic means: the sealed bytes go to a temporary file in the same folder (mode 0600,
//! fsynced), which is renamed over the store, then the folder is fsynced. A crash at any point
//! leaves either the old file or the new one, never a mix; a leftover temporary file is never
//! read. [`Store::save`] refuses to write when the file changed on disk since it was read
//! (another `switchyard accounts` call, or the gateway stamping last use), so no change is lost
//! silently. A write holds an exclusive lock on `<store>.lock` (`fs4`'s `try_lock`, an advisory
//! `flock`) from that check to the rename, so two switchyard processes never write the
//! store at once; the lock file names the holder's pid, and a writer that cannot get the lock
//! within [`LOCK_WAIT`] is refused with that pid and the lock file's path.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::seal::{self, KdfParams, Keys, Sealer};
use super::{Account, AccountId, AccountsError, ErrorKind, Secret, Session, identity_key, rules};
use crate::models::ProviderKind;

/// The plain contents, as sealed: `{"version":1,"providers":{"<storage key>":[rows]}}`.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    /// Keyed by `ProviderKind::storage_key`; a key this build does not know is kept as is.
    #[serde(default)]
    providers: BTreeMap<String, Vec<Account>>,
}

const CONTENTS_VERSION: u32 = 1;

/// The open store. Holds the derived key (wiped on drop) so it can be written back without
/// asking for the passphrase again.
pub struct Store {
    path: PathBuf,
    sealer: Sealer,
    contents: Contents,
    /// The file as read (`None`: it did not exist), to notice a write by someone else.
    stamp: Option<Stamp>,
}

type Stamp = (i64, i64, u64, u64);

impl Store {
    /// Opens the store at `path`, or an empty one (written on the first [`Store::save`]) when
    /// there is no file yet. A wrong or missing key is an error and touches nothing.
    pub fn open(path: &Path, keys: &Keys) -> Result<Store, AccountsError> {
        Self::open_with(path, keys, KdfParams::DEFAULT)
    }

    /// As [`Store::open`], with the Argon2 cost a new store gets (an existing one keeps its
    /// own): tests use a cheap one.
    pub(crate) fn open_with(
        path: &Path,
        keys: &Keys,
        params: KdfParams,
    ) -> Result<Store, AccountsError> {
        let io = |what: &str, e: std::io::Error| {
            AccountsError::new(
                ErrorKind::Io,
                format!("{}: cannot {what}: {e}", path.display()),
            )
        };
        let stamp = stamp(path);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Store {
                    path: path.to_owned(),
                    sealer: Sealer::create(keys, params)?,
                    contents: Contents {
                        version: CONTENTS_VERSION,
                        providers: BTreeMap::new(),
                    },
                    stamp: None,
                });
            }
            Err(e) => return Err(io("read the accounts store", e)),
        };
        let (sealer, plain) = seal::open(keys, &bytes, path)?;
        let contents: Contents = serde_json::from_slice(&plain).map_err(|e| {
            AccountsError::new(
                ErrorKind::Damaged,
                format!(
                    "{}: the decrypted store does not parse: {e}",
                    path.display()
                ),
            )
        })?;
        if contents.version != CONTENTS_VERSION {
            return Err(AccountsError::new(
                ErrorKind::Damaged,
                format!(
                    "{}: the store's contents have version {}, this switchyard reads version \
                     {CONTENTS_VERSION}",
                    path.display(),
                    contents.version
                ),
            ));
        }
        Ok(Store {
            path: path.to_owned(),
            sealer,
            contents,
            stamp,
        })
    }

    /// Whether a store file exists at `path` (no key needed to ask).
    pub fn exists(path: &Path) -> bool {
        path.exists()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A provider's rows, in order (row N is index N-1).
    pub fn accounts(&self, provider: ProviderKind) -> &[Account] {
        self.contents
            .providers
            .get(provider.storage_key())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every provider with rows.
    pub fn providers(&self) -> impl Iterator<Item = (ProviderKind, &[Account])> {
        ProviderKind::ALL
            .into_iter()
            .map(|kind| (kind, self.accounts(kind)))
            .filter(|(_, rows)| !rows.is_empty())
    }

    /// The row of `email` (1-based), if saved.
    pub fn row(&self, provider: ProviderKind, email: &str) -> Option<usize> {
        let key = identity_key(email);
        self.accounts(provider)
            .iter()
            .position(|a| a.key() == key)
            .map(|i| i + 1)
    }

    /// Adds a row; returns its row number. Refused when the identity is already saved or a
    /// rule fails.
    pub fn add(
        &mut self,
        provider: ProviderKind,
        email: &str,
        password: Option<Secret>,
    ) -> Result<usize, AccountsError> {
        if let Some(row) = self.row(provider, email) {
            return Err(AccountsError::new(
                ErrorKind::Rule,
                format!(
                    "{provider}: Row {row}: `{}` is already saved; change it with `switchyard \
                     accounts edit --provider {} {}`",
                    email.trim(),
                    provider.prefix(),
                    email.trim()
                ),
            ));
        }
        let mut rows = self.accounts(provider).to_vec();
        rows.push(Account {
            email: email.trim().to_owned(),
            password: if rules::password_free(provider) {
                None
            } else {
                password
            },
            ..Account::default()
        });
        let n = rows.len();
        self.commit(provider, rows)?;
        Ok(n)
    }

    /// Changes a row's identity and/or password.
    pub fn edit(
        &mut self,
        provider: ProviderKind,
        email: &str,
        new_email: Option<&str>,
        password: Option<Secret>,
    ) -> Result<(), AccountsError> {
        self.change(provider, email, |row| {
            if let Some(new) = new_email {
                row.email = new.trim().to_owned();
            }
            if let Some(p) = password {
                row.password = Some(p);
            }
        })
    }

    pub fn remove(&mut self, provider: ProviderKind, email: &str) -> Result<(), AccountsError> {
        let at = self.index(provider, email)?;
        let mut rows = self.accounts(provider).to_vec();
        rows.remove(at);
        self.commit(provider, rows)
    }

    /// Pins a row (taken first by every choice) or unpins it. Pinning refuses while another
    /// row is pinned, and a disabled row cannot be pinned.
    pub fn set_pinned(
        &mut self,
        provider: ProviderKind,
        email: &str,
        pinned: bool,
    ) -> Result<(), AccountsError> {
        let at = self.index(provider, email)?;
        if pinned && self.accounts(provider)[at].disabled {
            return Err(AccountsError::new(
                ErrorKind::Rule,
                format!(
                    "{provider}: Row {}: `{}` is disabled, and a disabled row loses its pin; \
                     enable it first",
                    at + 1,
                    email.trim()
                ),
            ));
        }
        self.change(provider, email, |row| row.pinned = pinned)
    }

    /// Disables a row (never taken; it loses its pin) or enables it again.
    pub fn set_disabled(
        &mut self,
        provider: ProviderKind,
        email: &str,
        disabled: bool,
    ) -> Result<(), AccountsError> {
        self.change(provider, email, |row| row.disabled = disabled)
    }

    /// Stamps the start of a request attempt on the account (in memory; [`Store::save`] keeps
    /// it).
    pub fn mark_used(&mut self, id: &AccountId, at_ms: u64) -> Result<(), AccountsError> {
        let row = self.row_mut(id)?;
        row.last_used_ms = Some(at_ms);
        Ok(())
    }

    /// The saved session of the account, if any.
    pub fn session(&self, id: &AccountId) -> Option<&Session> {
        self.accounts(id.provider)
            .iter()
            .find(|a| a.key() == id.key)
            .and_then(|a| a.session.as_ref())
    }

    /// Keeps (or with `None` forgets) the account's session (in memory; [`Store::save`] keeps
    /// it).
    pub fn set_session(
        &mut self,
        id: &AccountId,
        session: Option<Session>,
    ) -> Result<(), AccountsError> {
        self.row_mut(id)?.session = session;
        Ok(())
    }

    /// Re-encrypts the store under `keys` (a new passphrase or key file) and writes it
    /// atomically: until the rename the old file, under the old key, is the store.
    pub fn rekey(&mut self, keys: &Keys) -> Result<(), AccountsError> {
        self.rekey_with(keys, KdfParams::DEFAULT)
    }

    pub(crate) fn rekey_with(
        &mut self,
        keys: &Keys,
        params: KdfParams,
    ) -> Result<(), AccountsError> {
        let old = std::mem::replace(&mut self.sealer, Sealer::create(keys, params)?);
        if let Err(e) = self.save() {
            self.sealer = old;
            return Err(e);
        }
        Ok(())
    }

    /// Writes the store atomically (see the module docs). Refused, writing nothing, when the
    /// file changed on disk since it was read.
    pub fn save(&mut self) -> Result<(), AccountsError> {
        let _lock = lock(&self.path)?;
        if stamp(&self.path) != self.stamp {
            return Err(AccountsError::new(
                ErrorKind::Changed,
                format!(
                    "{}: the store changed on disk since it was read (another `switchyard \
                     accounts` or a running gateway wrote it); nothing was written, run the \
                     command again",
                    self.path.display()
                ),
            ));
        }
        let plain = Zeroizing::new(serde_json::to_vec(&self.contents).map_err(|e| {
            AccountsError::new(
                ErrorKind::Io,
                format!("the store could not be written out: {e}"),
            )
        })?);
        let sealed = self.sealer.seal(&plain)?;
        write_atomic(&self.path, &sealed).map_err(|e| {
            AccountsError::new(
                ErrorKind::Io,
                format!(
                    "{}: cannot write the accounts store: {e}",
                    self.path.display()
                ),
            )
        })?;
        self.stamp = stamp(&self.path);
        Ok(())
    }

    fn index(&self, provider: ProviderKind, email: &str) -> Result<usize, AccountsError> {
        self.row(provider, email).map(|n| n - 1).ok_or_else(|| {
            let known: Vec<&str> = self
                .accounts(provider)
                .iter()
                .map(|a| a.email.as_str())
                .collect();
            AccountsError::new(
                ErrorKind::NotFound,
                format!(
                    "{provider} has no saved account `{}` (saved: {})",
                    email.trim(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
    }

    fn row_mut(&mut self, id: &AccountId) -> Result<&mut Account, AccountsError> {
        self.contents
            .providers
            .get_mut(id.provider.storage_key())
            .and_then(|rows| rows.iter_mut().find(|a| a.key() == id.key))
            .ok_or_else(|| {
                AccountsError::new(
                    ErrorKind::NotFound,
                    format!("{} has no saved account `{}`", id.provider, id.key),
                )
            })
    }

    /// Applies `f` to a copy of the row, checks the rules, then keeps it.
    fn change(
        &mut self,
        provider: ProviderKind,
        email: &str,
        f: impl FnOnce(&mut Account),
    ) -> Result<(), AccountsError> {
        let at = self.index(provider, email)?;
        let mut rows = self.accounts(provider).to_vec();
        f(&mut rows[at]);
        self.commit(provider, rows)
    }

    /// Checks a provider's new rows and keeps them; on a broken rule nothing changes.
    fn commit(
        &mut self,
        provider: ProviderKind,
        mut rows: Vec<Account>,
    ) -> Result<(), AccountsError> {
        rules::normalize_and_check(provider, &mut rows)?;
        if rows.is_empty() {
            self.contents.providers.remove(provider.storage_key());
        } else {
            self.contents
                .providers
                .insert(provider.storage_key().to_owned(), rows);
        }
        Ok(())
    }
}

/// How long a write waits for another process's write to finish before it is refused.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The lock file of a store: `<store>.lock` beside it.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Takes the store's write lock (released when the file is dropped), polling up to
/// [`LOCK_WAIT`] while another process holds it; then refused, naming the holder.
fn lock(path: &Path) -> Result<std::fs::File, AccountsError> {
    let at = lock_path(path);
    let io = |e: std::io::Error| {
        AccountsError::new(
            ErrorKind::Io,
            format!("{}: cannot open the store's lock file: {e}", at.display()),
        )
    };
    if let Some(dir) = at.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&at)
        .map_err(io)?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => break,
            Err(fs4::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(fs4::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&at).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    format!("process {holder}")
                };
                return Err(AccountsError::new(
                    ErrorKind::Locked,
                    format!(
                        "{}: {who} is writing the accounts store (it holds {} for more than \
                         {}s); nothing was written. Wait for it, or stop that process, and \
                         run the command again",
                        path.display(),
                        at.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    // The holder's pid, for the message another writer shows.
    let _ = file
        .set_len(0)
        .and_then(|()| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(file)
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

/// Temp file in the same folder (mode 0600, fsynced), renamed over `path`, folder fsynced.
/// The folder is made with mode 0700 when missing.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{:08x}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(bytes)?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!(
                "switchyard-accounts-{}-{}-{name}",
                std::process::id(),
                fastrand::u32(..)
            ))
            .join("accounts")
            .join(crate::accounts::STORE_FILE)
    }

    fn keys(p: &str) -> Keys {
        Keys::new(Some(Secret::new(p.into())), None)
    }

    fn pw(p: &str) -> Option<Secret> {
        Some(Secret::new(p.into()))
    }

    /// How many Qwen rows the store at `path` holds, opened afresh with passphrase `key`.
    fn qwen_rows(path: &Path, key: &str) -> usize {
        Store::open(path, &keys(key))
            .unwrap()
            .accounts(ProviderKind::Qwen)
            .len()
    }

    fn cleanup(path: &Path) {
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn rows_survive_a_round_trip_and_nothing_is_in_clear() {
        let path = temp("roundtrip");
        let mut store = Store::open_with(&path, &keys("pass"), CHEAP).unwrap();
        assert_eq!(
            store
                .add(
                    ProviderKind::DeepSeek,
                    "Alice@Example.com",
                    pw("s3cret-one")
                )
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .add(ProviderKind::DeepSeek, "bob@example.com", pw("s3cret-two"))
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .add(ProviderKind::Perplexity, "carol@example.com", pw("ignored"))
                .unwrap(),
            1
        );
        store
            .set_pinned(ProviderKind::DeepSeek, "bob@example.com", true)
            .unwrap();
        let id = store.accounts(ProviderKind::DeepSeek)[0].id(ProviderKind::DeepSeek);
        store.mark_used(&id, 1234).unwrap();
        store.save().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        for clear in ["Alice", "example.com", "s3cret", "carol", "deepseek"] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{clear} in clear"
            );
        }
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );

        let again = Store::open(&path, &keys("pass")).unwrap();
        let rows = again.accounts(ProviderKind::DeepSeek);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "Alice@Example.com");
        assert_eq!(rows[0].password.as_ref().unwrap().expose(), "s3cret-one");
        assert_eq!(rows[0].last_used_ms, Some(1234));
        assert!(rows[1].pinned && !rows[0].pinned);
        assert!(
            again.accounts(ProviderKind::Perplexity)[0]
                .password
                .is_none()
        );
        assert_eq!(
            again.row(ProviderKind::DeepSeek, "alice@example.com"),
            Some(1)
        );
        cleanup(&path);
    }

    #[test]
    fn a_wrong_passphrase_is_refused_and_the_file_is_untouched() {
        let path = temp("wrong");
        let mut store = Store::open_with(&path, &keys("right"), CHEAP).unwrap();
        store.add(ProviderKind::Glm, "a@x.io", pw("p")).unwrap();
        store.save().unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = Store::open(&path, &keys("wrong")).err().unwrap();
        assert_eq!(e.kind, ErrorKind::WrongKey);
        assert!(
            e.message()
                .contains("not the one this store was sealed with"),
            "{e}"
        );
        let e = Store::open(&path, &Keys::default()).err().unwrap();
        assert_eq!(e.kind, ErrorKind::NoKey);
        assert!(e.message().contains("SWITCHYARD_PASSPHRASE"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        cleanup(&path);
    }

    #[test]
    fn no_key_at_all_says_how_to_give_one() {
        let path = temp("nokey");
        let e = Store::open(&path, &Keys::default()).err().unwrap();
        assert_eq!(e.kind, ErrorKind::NoKey);
        assert!(
            e.message().contains("set SWITCHYARD_PASSPHRASE") && e.message().contains("key_file"),
            "{e}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_write_while_another_process_holds_the_lock_is_refused_and_names_it() {
        let path = temp("locked");
        let mut store = Store::open_with(&path, &keys("k"), CHEAP).unwrap();
        store.add(ProviderKind::Qwen, "a@x.io", pw("p")).unwrap();
        store.save().unwrap();
        // Another process's writer: an open file description holding the lock, its pid inside.
        let other = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(lock_path(&path))
            .unwrap();
        fs4::FileExt::lock(&other).unwrap();
        std::fs::write(lock_path(&path), "4242").unwrap();
        store.add(ProviderKind::Qwen, "b@x.io", pw("q")).unwrap();
        let err = store.save().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Locked, "{}", err.message());
        assert!(
            err.message().contains("process 4242")
                && err
                    .message()
                    .contains(&lock_path(&path).display().to_string()),
            "{}",
            err.message()
        );
        assert_eq!(qwen_rows(&path, "k"), 1, "nothing was written");
        fs4::FileExt::unlock(&other).unwrap();
        store.save().unwrap();
        assert_eq!(qwen_rows(&path, "k"), 2);
        cleanup(&path);
    }

    #[test]
    fn rekey_seals_under_the_new_key_only() {
        let path = temp("rekey");
        let mut store = Store::open_with(&path, &keys("old"), CHEAP).unwrap();
        store.add(ProviderKind::Qwen, "a@x.io", pw("p")).unwrap();
        store.save().unwrap();
        store.rekey_with(&keys("new"), CHEAP).unwrap();
        assert!(
            Store::open(&path, &keys("old")).is_err(),
            "the old key no longer opens it"
        );
        let mut again = Store::open(&path, &keys("new")).unwrap();
        assert_eq!(again.accounts(ProviderKind::Qwen)[0].email, "a@x.io");
        again.add(ProviderKind::Qwen, "b@x.io", pw("q")).unwrap();
        again.save().unwrap();
        assert_eq!(qwen_rows(&path, "new"), 2);
        cleanup(&path);
    }

    #[test]
    fn a_write_cut_before_its_rename_leaves_the_old_store_readable() {
        let path = temp("crash");
        let mut store = Store::open_with(&path, &keys("k"), CHEAP).unwrap();
        store.add(ProviderKind::Qwen, "a@x.io", pw("p")).unwrap();
        store.save().unwrap();
        let dir = path.parent().unwrap();
        // What a crash between write and rename leaves: a cut temp file beside the store.
        let sealed = std::fs::read(&path).unwrap();
        std::fs::write(
            dir.join(format!(
                ".{}.999999.deadbeef.tmp",
                crate::accounts::STORE_FILE
            )),
            &sealed[..sealed.len() / 2],
        )
        .unwrap();
        std::fs::write(
            dir.join(format!(
                ".{}.999998.00000000.tmp",
                crate::accounts::STORE_FILE
            )),
            b"",
        )
        .unwrap();

        let mut again = Store::open(&path, &keys("k")).unwrap();
        assert_eq!(again.accounts(ProviderKind::Qwen)[0].email, "a@x.io");
        again.add(ProviderKind::Qwen, "b@x.io", pw("q")).unwrap();
        again.save().unwrap();
        assert_eq!(qwen_rows(&path, "k"), 2);
        cleanup(&path);
    }

    #[test]
    fn a_refused_change_changes_nothing() {
        let path = temp("rules");
        let mut store = Store::open_with(&path, &keys("k"), CHEAP).unwrap();
        store.add(ProviderKind::Glm, "a@x.io", pw("p")).unwrap();
        store.add(ProviderKind::Glm, "b@x.io", pw("q")).unwrap();
        store.set_pinned(ProviderKind::Glm, "a@x.io", true).unwrap();
        let e = store
            .set_pinned(ProviderKind::Glm, "b@x.io", true)
            .unwrap_err();
        assert_eq!(
            e.message(),
            "GLM Chat: Row 2: Only one row can be pinned at a time."
        );
        assert!(!store.accounts(ProviderKind::Glm)[1].pinned);
        let e = store.add(ProviderKind::Glm, "A@X.io", pw("r")).unwrap_err();
        assert!(
            e.message().contains("Row 1: `A@X.io` is already saved"),
            "{e}"
        );
        let e = store.add(ProviderKind::Glm, "c@x.io", None).unwrap_err();
        assert_eq!(e.message(), "GLM Chat: Row 3: Password is required.");
        assert_eq!(store.accounts(ProviderKind::Glm).len(), 2);

        store
            .set_disabled(ProviderKind::Glm, "a@x.io", true)
            .unwrap();
        assert!(
            !store.accounts(ProviderKind::Glm)[0].pinned,
            "a disabled row loses its pin"
        );
        let e = store
            .set_disabled(ProviderKind::Glm, "b@x.io", true)
            .unwrap_err();
        assert_eq!(
            e.message(),
            "GLM Chat: At least one saved account must stay enabled."
        );
        let e = store.remove(ProviderKind::Glm, "b@x.io").unwrap_err();
        assert!(e.message().contains("must stay enabled"), "{e}");
        let e = store
            .set_pinned(ProviderKind::Glm, "a@x.io", true)
            .unwrap_err();
        assert!(e.message().contains("is disabled"), "{e}");
        let e = store.remove(ProviderKind::Glm, "zed@x.io").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message().contains("saved: a@x.io, b@x.io"), "{e}");
        store
            .edit(ProviderKind::Glm, "b@x.io", Some("b2@x.io"), pw("new"))
            .unwrap();
        assert_eq!(store.accounts(ProviderKind::Glm)[1].email, "b2@x.io");
        assert!(
            store
                .edit(ProviderKind::Glm, "b2@x.io", Some("A@x.io"), None)
                .is_err()
        );
        assert!(!path.exists(), "nothing is written before save");
    }

    #[test]
    fn a_store_changed_by_someone_else_is_not_overwritten() {
        let path = temp("changed");
        let mut first = Store::open_with(&path, &keys("k"), CHEAP).unwrap();
        first.add(ProviderKind::Glm, "a@x.io", pw("p")).unwrap();
        first.save().unwrap();
        let mut a = Store::open(&path, &keys("k")).unwrap();
        let mut b = Store::open(&path, &keys("k")).unwrap();
        a.add(ProviderKind::Glm, "b@x.io", pw("q")).unwrap();
        a.save().unwrap();
        b.add(ProviderKind::Glm, "c@x.io", pw("r")).unwrap();
        let e = b.save().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Changed);
        let rows = Store::open(&path, &keys("k"))
            .unwrap()
            .accounts(ProviderKind::Glm)
            .len();
        assert_eq!(rows, 2);
        cleanup(&path);
    }

    #[test]
    fn sessions_are_kept_per_account() {
        let path = temp("session");
        let mut store = Store::open_with(&path, &keys("k"), CHEAP).unwrap();
        store.add(ProviderKind::Glm, "a@x.io", pw("p")).unwrap();
        let id = AccountId {
            provider: ProviderKind::Glm,
            key: "a@x.io".into(),
        };
        let mut session = Session {
            saved_ms: 5,
            ..Session::default()
        };
        session
            .local_storage
            .entry("https://chat.z.ai".into())
            .or_default()
            .insert("token".into(), Secret::new("tok-value".into()));
        store.set_session(&id, Some(session)).unwrap();
        store.save().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"tok-value"));
        let again = Store::open(&path, &keys("k")).unwrap();
        let s = again.session(&id).unwrap();
        assert_eq!(
            s.local_storage["https://chat.z.ai"]["token"].expose(),
            "tok-value"
        );
        cleanup(&path);
    }
}
