//! The store's encryption: where the key comes from, and the file's layout.
//!
//! The key is 32 bytes, never written anywhere by switchyard: Argon2id of
//! `SWITCHYARD_PASSPHRASE` (salt and cost in the file header), or the contents of the key file
//! the user names in `accounts.key_file` (32 random bytes: raw, hex or base64). The header says
//! which of the two sealed the file, so a store is always opened with its own kind of key.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! "SWYDACCT" | version 1 | kind: 1 passphrase, 2 key file
//! | (passphrase only) m_cost KiB u32, t_cost u32, p_cost u32, salt [16]
//! | key check [8] | nonce [24] | XChaCha20-Poly1305 ciphertext and tag
//! ```
//!
//! Everything before the ciphertext is its associated data, so an altered header fails to
//! open. The key check (the first 8 bytes of SHA-256 of a label and the key) tells a wrong
//! key from a damaged file; it reveals nothing the tag does not: both need the key to test.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AccountsError, ErrorKind, PASSPHRASE_ENV, Secret};

const MAGIC: &[u8; 8] = b"SWYDACCT";
const VERSION: u8 = 1;
const KIND_PASSPHRASE: u8 = 1;
const KIND_KEY_FILE: u8 = 2;
const SALT_BYTES: usize = 16;
const CHECK_BYTES: usize = 8;
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// Argon2id's cost, stored in the header so a store opens with the cost it was sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes of parallelism.
    pub p_cost: u32,
}

impl KdfParams {
    /// What a new store gets: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation, with
    /// one lane for small machines): a fraction of a second per `switchyard accounts` call.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// The most a header may ask for, so an altered file cannot make opening it take all
    /// memory: 1 GiB, 64 passes, 16 lanes.
    fn within_bounds(self) -> bool {
        self.m_cost <= 1024 * 1024
            && (1..=64).contains(&self.t_cost)
            && (1..=16).contains(&self.p_cost)
    }
}

/// Where the store's key can come from: the passphrase (from `SWITCHYARD_PASSPHRASE`) and the
/// key file (`accounts.key_file`). Neither is the key itself until [`Keys::key_for`] asks.
#[derive(Debug, Default)]
pub struct Keys {
    passphrase: Option<Secret>,
    key_file: Option<PathBuf>,
}

impl Keys {
    pub fn new(passphrase: Option<Secret>, key_file: Option<PathBuf>) -> Keys {
        Keys {
            passphrase,
            key_file,
        }
    }

    /// The passphrase from `SWITCHYARD_PASSPHRASE` (if set) and the configured key file.
    pub fn from_env(key_file: Option<&Path>) -> Keys {
        Keys {
            passphrase: std::env::var(PASSPHRASE_ENV).ok().map(Secret::new),
            key_file: key_file.map(Path::to_owned),
        }
    }

    fn no_key() -> AccountsError {
        AccountsError::new(
            ErrorKind::NoKey,
            format!(
                "the saved accounts need a key, and none was given: set {PASSPHRASE_ENV} (for \
                 example `read -rs {PASSPHRASE_ENV} && export {PASSPHRASE_ENV}`), or name a key \
                 file of 32 random bytes kept outside data_dir in the config \
                 (`[accounts] key_file = \"/path/accounts.key\"`, made with \
                 `head -c 32 /dev/urandom > /path/accounts.key && chmod 600 /path/accounts.key`)"
            ),
        )
    }

    fn passphrase(&self) -> Result<&Secret, AccountsError> {
        match &self.passphrase {
            None => Err(AccountsError::new(
                ErrorKind::NoKey,
                format!(
                    "the saved accounts were sealed with a passphrase: set {PASSPHRASE_ENV} to it \
                     (for example `read -rs {PASSPHRASE_ENV} && export {PASSPHRASE_ENV}`)"
                ),
            )),
            Some(p) if p.is_empty() => Err(AccountsError::new(
                ErrorKind::NoKey,
                format!("{PASSPHRASE_ENV} is set but empty; set it to the store's passphrase"),
            )),
            Some(p) => Ok(p),
        }
    }

    fn key_file(&self) -> Result<&Path, AccountsError> {
        self.key_file.as_deref().ok_or_else(|| {
            AccountsError::new(
                ErrorKind::NoKey,
                "the saved accounts were sealed with a key file: name it in the config \
                 (`[accounts] key_file = \"/path/accounts.key\"`)",
            )
        })
    }
}

/// A derived key and the header that says how to derive it again.
pub(super) struct Sealer {
    key: Zeroizing<[u8; KEY_BYTES]>,
    header: Vec<u8>,
}

impl Sealer {
    /// A key for a new store: the key file when one is named, else the passphrase with a fresh
    /// salt and `params`.
    pub(super) fn create(keys: &Keys, params: KdfParams) -> Result<Sealer, AccountsError> {
        let mut header = MAGIC.to_vec();
        header.push(VERSION);
        let key = if keys.key_file.is_some() {
            header.push(KIND_KEY_FILE);
            read_key_file(keys.key_file()?)?
        } else if keys.passphrase.is_some() {
            header.push(KIND_PASSPHRASE);
            let mut salt = [0u8; SALT_BYTES];
            getrandom::fill(&mut salt).map_err(|e| {
                AccountsError::new(
                    ErrorKind::Io,
                    format!("the operating system gave no random bytes: {e}"),
                )
            })?;
            for n in [params.m_cost, params.t_cost, params.p_cost] {
                header.extend_from_slice(&n.to_le_bytes());
            }
            header.extend_from_slice(&salt);
            derive(keys.passphrase()?, &salt, params)?
        } else {
            return Err(Keys::no_key());
        };
        header.extend_from_slice(&key_check(&key));
        Ok(Sealer { key, header })
    }

    /// The key for an existing store, from its header; also returns where the ciphertext
    /// (after the nonce) starts. A wrong key is refused here, before anything is decrypted.
    fn for_file(keys: &Keys, bytes: &[u8], path: &Path) -> Result<(Sealer, usize), AccountsError> {
        let damaged = |what: &str| {
            AccountsError::new(
                ErrorKind::Damaged,
                format!(
                    "{}: {what}; it is not a switchyard accounts store or it was damaged \
                     (restore it from a backup, or move it away to start an empty store)",
                    path.display()
                ),
            )
        };
        if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(damaged("the file does not start like a store"));
        }
        if bytes[MAGIC.len()] != VERSION {
            return Err(damaged(&format!(
                "the store has version {}, this switchyard reads version {VERSION}",
                bytes[MAGIC.len()]
            )));
        }
        let mut at = MAGIC.len() + 2;
        let key = match bytes[MAGIC.len() + 1] {
            KIND_PASSPHRASE => {
                let params_len = 12 + SALT_BYTES;
                let Some(fields) = bytes.get(at..at + params_len) else {
                    return Err(damaged("the header is cut short"));
                };
                let n = |i: usize| {
                    u32::from_le_bytes([fields[i], fields[i + 1], fields[i + 2], fields[i + 3]])
                };
                let params = KdfParams {
                    m_cost: n(0),
                    t_cost: n(4),
                    p_cost: n(8),
                };
                if !params.within_bounds() {
                    return Err(damaged(&format!(
                        "the header asks for an Argon2 cost out of bounds ({params:?})"
                    )));
                }
                let salt = &fields[12..];
                at += params_len;
                derive(keys.passphrase()?, salt, params)?
            }
            KIND_KEY_FILE => read_key_file(keys.key_file()?)?,
            other => return Err(damaged(&format!("unknown key kind {other}"))),
        };
        let Some(check) = bytes.get(at..at + CHECK_BYTES) else {
            return Err(damaged("the header is cut short"));
        };
        if check != key_check(&key) {
            let which = if bytes[MAGIC.len() + 1] == KIND_PASSPHRASE {
                format!("the passphrase in {PASSPHRASE_ENV}")
            } else {
                "the key file named in accounts.key_file".to_owned()
            };
            return Err(AccountsError::new(
                ErrorKind::WrongKey,
                format!(
                    "{}: {which} is not the one this store was sealed with; nothing was read or \
                     changed",
                    path.display()
                ),
            ));
        }
        at += CHECK_BYTES;
        let header = bytes[..at].to_vec();
        Ok((Sealer { key, header }, at))
    }

    /// Seals `plain` under a fresh random nonce.
    pub(super) fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, AccountsError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| {
            AccountsError::new(
                ErrorKind::Io,
                format!("the operating system gave no random bytes: {e}"),
            )
        })?;
        let mut out = self.header.clone();
        out.extend_from_slice(&nonce);
        let cipher = XChaCha20Poly1305::new(self.key.as_ref().into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &out,
                },
            )
            .map_err(|_| AccountsError::new(ErrorKind::Io, "the store could not be encrypted"))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

/// Opens a sealed file: its sealer (to write it again under the same key) and its plain bytes.
pub(super) fn open(
    keys: &Keys,
    bytes: &[u8],
    path: &Path,
) -> Result<(Sealer, Zeroizing<Vec<u8>>), AccountsError> {
    let (sealer, at) = Sealer::for_file(keys, bytes, path)?;
    let damaged = || {
        AccountsError::new(
            ErrorKind::Damaged,
            format!(
                "{}: the key is right but the contents do not check out (the file was cut short \
                 or altered); restore it from a backup",
                path.display()
            ),
        )
    };
    let Some(nonce) = bytes.get(at..at + NONCE_BYTES) else {
        return Err(damaged());
    };
    let cipher = XChaCha20Poly1305::new(sealer.key.as_ref().into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: &bytes[at + NONCE_BYTES..],
                aad: &bytes[..at + NONCE_BYTES],
            },
        )
        .map_err(|_| damaged())?;
    Ok((sealer, Zeroizing::new(plain)))
}

fn derive(
    passphrase: &Secret,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; KEY_BYTES]>, AccountsError> {
    let bad = |e: argon2::Error| {
        AccountsError::new(
            ErrorKind::Damaged,
            format!("Argon2 refused its parameters: {e}"),
        )
    };
    let argon_params =
        argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(KEY_BYTES))
            .map_err(bad)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut memory = vec![argon2::Block::default(); argon.params().block_count()];
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    argon
        .hash_password_into_with_memory(
            passphrase.expose().as_bytes(),
            salt,
            key.as_mut(),
            &mut memory,
        )
        .map_err(bad)?;
    Ok(key)
}

fn key_check(key: &[u8; KEY_BYTES]) -> [u8; CHECK_BYTES] {
    let mut h = Sha256::new();
    h.update(b"switchyard accounts key check v1");
    h.update(key);
    let digest = h.finalize();
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(&digest[..CHECK_BYTES]);
    out
}

/// 32 bytes from the key file: raw, or written as hex or base64.
fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; KEY_BYTES]>, AccountsError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        AccountsError::new(
            ErrorKind::NoKey,
            format!(
                "{}: cannot read the accounts key file (accounts.key_file): {e}",
                path.display()
            ),
        )
    })?);
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(
            "{} (accounts.key_file) can be read by other users; run `chmod 600 {}`.",
            path.display(),
            path.display()
        );
    }
    let decoded: Option<Zeroizing<Vec<u8>>> = if bytes.len() == KEY_BYTES {
        Some(Zeroizing::new(bytes.to_vec()))
    } else {
        std::str::from_utf8(&bytes).ok().and_then(|text| {
            let text = text.trim();
            hex(text)
                .or_else(|| STANDARD.decode(text).ok())
                .map(Zeroizing::new)
        })
    };
    match decoded {
        Some(key) if key.len() == KEY_BYTES => {
            let mut out = Zeroizing::new([0u8; KEY_BYTES]);
            out.copy_from_slice(&key);
            Ok(out)
        }
        _ => Err(AccountsError::new(
            ErrorKind::NoKey,
            format!(
                "{}: the accounts key file must hold 32 random bytes (raw, or as 64 hex digits or \
                 base64); make one with `head -c 32 /dev/urandom > {}`",
                path.display(),
                path.display()
            ),
        )),
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap enough for tests; never used outside them.
    pub(crate) const CHEAP: KdfParams = KdfParams {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn pass(p: &str) -> Keys {
        Keys::new(Some(Secret::new(p.into())), None)
    }

    #[test]
    fn a_sealed_text_opens_only_with_its_key() {
        let path = Path::new("test.enc");
        let sealer = Sealer::create(&pass("right"), CHEAP).unwrap();
        let sealed = sealer.seal(b"hello accounts").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        let (_, plain) = open(&pass("right"), &sealed, path).unwrap();
        assert_eq!(plain.as_slice(), b"hello accounts");

        let e = open(&pass("wrong"), &sealed, path).err().unwrap();
        assert_eq!(e.kind, ErrorKind::WrongKey);
        assert!(
            e.message().contains("SWITCHYARD_PASSPHRASE is not the one"),
            "{e}"
        );
        let e = open(&Keys::default(), &sealed, path).err().unwrap();
        assert_eq!(e.kind, ErrorKind::NoKey);

        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let e = open(&pass("right"), &flipped, path).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Damaged);
        let e = open(&pass("right"), &sealed[..sealed.len() - 20], path)
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Damaged);
        let e = open(&pass("right"), b"{\"json\": 1}", path).err().unwrap();
        assert!(e.message().contains("does not start like a store"), "{e}");
    }

    #[test]
    fn a_key_file_is_raw_hex_or_base64_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-keyfile-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k");
        let raw = [7u8; 32];
        for content in [
            raw.to_vec(),
            "07".repeat(32).into_bytes(),
            format!("{}\n", STANDARD.encode(raw)).into_bytes(),
        ] {
            std::fs::write(&file, content).unwrap();
            assert_eq!(*read_key_file(&file).unwrap(), raw);
        }
        std::fs::write(&file, "password").unwrap();
        let e = read_key_file(&file).err().unwrap();
        assert!(e.message().contains("must hold 32 random bytes"), "{e}");
        let keys = Keys::new(None, Some(file.clone()));
        std::fs::write(&file, raw).unwrap();
        let sealed = Sealer::create(&keys, CHEAP).unwrap().seal(b"x").unwrap();
        assert_eq!(sealed[MAGIC.len() + 1], KIND_KEY_FILE);
        assert!(open(&keys, &sealed, &file).is_ok());
        std::fs::write(&file, [8u8; 32]).unwrap();
        assert_eq!(
            open(&keys, &sealed, &file).err().unwrap().kind,
            ErrorKind::WrongKey
        );
        let e = open(&pass("p"), &sealed, &file).err().unwrap();
        assert!(e.message().contains("sealed with a key file"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_altered_cost_is_refused_before_any_work() {
        let mut sealed = Sealer::create(&pass("p"), CHEAP)
            .unwrap()
            .seal(b"x")
            .unwrap();
        sealed[MAGIC.len() + 2..MAGIC.len() + 6].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = open(&pass("p"), &sealed, Path::new("f")).err().unwrap();
        assert!(e.message().contains("out of bounds"), "{e}");
    }
}
