//! API keys: made by `switchyard keys add NAME`, stored only as salted SHA-256 hashes in the
//! key file (`auth.keys_file`, default `<data_dir>/keys.toml`).
//!
//! A key is 32 random bytes from the operating system, written `sy-<base64url>`; it is printed
//! once and never stored. Since a key carries 256 bits of entropy, one salted SHA-256 is enough
//! to make a stolen key file useless (there is no password to guess). A presented key is hashed
//! with every entry's salt and compared in constant time, without stopping at the first match.
//!
//! The file is written atomically (a temporary file in the same folder, then a rename) with mode
//! 0600 in a folder created with mode 0700. [`KeyRing`] is the running gateway's view of it: it
//! re-reads the file when it changes, so `keys add` and `keys remove` apply without a restart.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::warn;

/// The prefix of every key, so a leaked one is recognisable.
pub const KEY_PREFIX: &str = "sy-";
/// Bytes of randomness in a key.
const KEY_BYTES: usize = 32;
const SALT_BYTES: usize = 16;

/// One stored key: its name and hash, never the key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    pub name: String,
    /// May use `/api/*` when `auth.admin_routes = "admin_keys"`.
    #[serde(default)]
    pub admin: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    salt: String,
    sha256: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileText {
    #[serde(default)]
    keys: Vec<StoredKey>,
}

/// Reads the key file; a missing file holds no keys.
pub fn load(path: &Path) -> Result<Vec<StoredKey>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: cannot read the key file: {e}", path.display())),
    };
    let file: KeyFileText =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message().trim()))?;
    for key in &file.keys {
        if decode(&key.salt).is_none() || decode(&key.sha256).is_none_or(|h| h.len() != 32) {
            return Err(format!(
                "{}: the entry `{}` is damaged; remove it with `switchyard keys remove {}`",
                path.display(),
                key.name,
                key.name
            ));
        }
    }
    Ok(file.keys)
}

/// Makes a new key named `name`, stores its hash, and returns the key (the only time it exists).
pub fn add(path: &Path, name: &str, admin: bool) -> Result<String, String> {
    check_name(name)?;
    let mut keys = load(path)?;
    if keys.iter().any(|k| k.name == name) {
        return Err(format!(
            "a key named `{name}` already exists in {}; remove it first (`switchyard keys remove \
             {name}`) or choose another name",
            path.display()
        ));
    }
    let mut secret = [0u8; KEY_BYTES];
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut secret)
        .and_then(|()| getrandom::fill(&mut salt))
        .map_err(|e| format!("the operating system gave no random bytes: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    keys.push(StoredKey {
        name: name.to_owned(),
        admin,
        created: crate::ids::unix_now(),
        salt: STANDARD.encode(salt),
        sha256: STANDARD.encode(hash(&salt, &key)),
    });
    save(path, &keys)?;
    Ok(key)
}

/// Removes the key named `name`.
pub fn remove(path: &Path, name: &str) -> Result<(), String> {
    let mut keys = load(path)?;
    let before = keys.len();
    keys.retain(|k| k.name != name);
    if keys.len() == before {
        let known: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        return Err(format!(
            "no key named `{name}` in {} (keys: {})",
            path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    save(path, &keys)
}

/// The entry `token` is the key of, if any. Every entry is hashed and compared in constant
/// time, whether or not an earlier one matched.
pub fn find<'k>(keys: &'k [StoredKey], token: &str) -> Option<&'k StoredKey> {
    let mut found = None;
    for key in keys {
        let (Some(salt), Some(stored)) = (decode(&key.salt), decode(&key.sha256)) else {
            continue;
        };
        let same: bool = hash(&salt, token).as_slice().ct_eq(&stored).into();
        if same && found.is_none() {
            found = Some(key);
        }
    }
    found
}

fn hash(salt: &[u8], key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(key.as_bytes());
    h.finalize().into()
}

fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Names show in logs and `/api/queue`: short, plain, unique.
fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a key name: use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        ))
    }
}

/// Writes the whole file atomically: mode 0600, in a folder made with mode 0700.
fn save(path: &Path, keys: &[StoredKey]) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{}: cannot {what}: {e}", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail("create its folder", e))?;
    let mut text = String::from(
        "# switchyard API keys: only salted SHA-256 hashes, never the keys themselves.\n\
         # Manage with `switchyard keys add NAME`, `switchyard keys list`, `switchyard keys remove NAME`.\n",
    );
    for k in keys {
        // Names are checked to be plain (no quotes or backslashes), salts and hashes are
        // base64, so the values need no escaping.
        text.push_str(&format!(
            "\n[[keys]]\nname = \"{}\"\nadmin = {}\ncreated = {}\nsalt = \"{}\"\nsha256 = \"{}\"\n",
            k.name, k.admin, k.created, k.salt, k.sha256
        ));
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            // The mode above only applies to a new file; a leftover one is tightened too.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write the key file", e));
    }
    Ok(())
}

/// The running gateway's keys: the file as last read, re-read when it changes on disk.
pub struct KeyRing {
    path: PathBuf,
    state: RwLock<Loaded>,
}

#[derive(Default)]
struct Loaded {
    /// Modification time, size and inode of the file as read; `None` when it was missing.
    stamp: Option<(i64, i64, u64, u64)>,
    keys: Vec<StoredKey>,
}

impl KeyRing {
    /// Reads the key file (a missing one holds no keys).
    pub fn open(path: &Path) -> Result<KeyRing, String> {
        let stamp = stamp(path);
        let keys = load(path)?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.mode() & 0o077 != 0
        {
            warn!(
                "{} can be read by other users; run `chmod 600 {}`.",
                path.display(),
                path.display()
            );
        }
        Ok(KeyRing {
            path: path.to_owned(),
            state: RwLock::new(Loaded { stamp, keys }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many keys the file held when last read.
    pub fn len(&self) -> usize {
        self.state.read().map(|s| s.keys.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry `token` is the key of, re-reading the file first if it changed. A file that
    /// no longer parses keeps the keys read before (and says so in the log).
    pub fn find(&self, token: &str) -> Option<(String, bool)> {
        self.refresh();
        let state = self.state.read().ok()?;
        find(&state.keys, token).map(|k| (k.name.clone(), k.admin))
    }

    fn refresh(&self) {
        let now = stamp(&self.path);
        let changed = self.state.read().map(|s| s.stamp != now).unwrap_or(false);
        if !changed {
            return;
        }
        let Ok(mut state) = self.state.write() else {
            return;
        };
        match load(&self.path) {
            Ok(keys) => {
                tracing::info!(
                    "API keys reloaded from {}: {} key(s).",
                    self.path.display(),
                    keys.len()
                );
                state.keys = keys;
            }
            Err(e) => warn!("{e}; keeping the keys read before."),
        }
        state.stamp = now;
    }
}

fn stamp(path: &Path) -> Option<(i64, i64, u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!(
                "switchyard-keys-{}-{}-{name}",
                std::process::id(),
                fastrand::u32(..)
            ))
            .join("keys.toml")
    }

    #[test]
    fn a_key_is_stored_only_as_a_hash_and_found_again() {
        let path = temp("roundtrip");
        let key = add(&path, "laptop", false).unwrap();
        let admin = add(&path, "ops", true).unwrap();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == 3 + 43, "{key}");
        assert_ne!(key, admin);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&key[3..]), "the key itself is never written");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        let keys = load(&path).unwrap();
        assert_eq!(find(&keys, &key).map(|k| k.name.as_str()), Some("laptop"));
        assert!(find(&keys, &admin).unwrap().admin);
        assert!(find(&keys, "sy-wrong").is_none());
        assert!(find(&keys, "").is_none());
        assert!(find(&keys, &key[..key.len() - 1]).is_none());

        let e = add(&path, "laptop", false).unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        remove(&path, "laptop").unwrap();
        assert!(find(&load(&path).unwrap(), &key).is_none());
        let e = remove(&path, "laptop").unwrap_err();
        assert!(
            e.contains("no key named `laptop`") && e.contains("ops"),
            "{e}"
        );
        let e = add(&path, "my key", false).unwrap_err();
        assert!(e.contains("is not a key name"), "{e}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn the_ring_sees_keys_added_and_removed_after_it_opened() {
        let path = temp("ring");
        let ring = KeyRing::open(&path).unwrap();
        assert!(ring.is_empty());
        let key = add(&path, "late", false).unwrap();
        assert_eq!(ring.find(&key), Some(("late".to_owned(), false)));
        remove(&path, "late").unwrap();
        assert_eq!(ring.find(&key), None);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_path() {
        let path = temp("damaged");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "[[keys]]\nname = \"x\"\nsalt = \"!!\"\nsha256 = \"\"\n",
        )
        .unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.contains("the entry `x` is damaged"), "{e}");
        std::fs::write(&path, "[[keys]]\nname = \"x\"\nkey = \"plain\"\n").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.contains("unknown field `key`"), "{e}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
