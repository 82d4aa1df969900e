//! Saved accounts: the sign-in identities of each provider, kept encrypted under `data_dir`.
//!
//! - [`Store`] is the file (`<data_dir>/accounts/accounts.enc`): every provider's rows, sealed
//!   with XChaCha20-Poly1305 under a key that is never stored beside it (derived from
//!   `SWITCHYARD_PASSPHRASE` with Argon2id, or read from `accounts.key_file`; see [`Keys`]).
//!   Writes are atomic, and every change is checked against the reference's rules first
//!   (`Row N: …` messages), so a refused change touches nothing.
//! - [`select`] is the pure account choice: pinned first, then least used or random, never a
//!   disabled row or one another lane holds.
//! - [`cli`] is `switchyard accounts list|add|edit|remove|pin|unpin|disable|enable`.
//!
//! A row belongs to one provider and is named by its identity ([`AccountId`]: the provider and
//! the lowercased, trimmed email). The running gateway will keep the store in one owner task
//! (lanes hold an account for life; they ask that task to stamp last use and to save a
//! lane's session), so nothing else writes the file while it runs.

pub mod cli;
mod pool;
mod rules;
mod seal;
pub mod select;
mod store;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::models::ProviderKind;

pub use pool::{Held, NoSpare, Pool};
pub use seal::{KdfParams, Keys};
pub use store::Store;

/// The name of the store file inside its folder.
pub const STORE_FILE: &str = "accounts.enc";
/// The environment variable the store's key is derived from.
pub const PASSPHRASE_ENV: &str = "SWITCHYARD_PASSPHRASE";

/// One saved account of one provider.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The sign-in identity as typed (trimmed): an email address; for HuggingChat also a
    /// username. Personal, so it lives only in the encrypted file and on `accounts list`.
    pub email: String,
    /// Absent for Perplexity, which signs in by an emailed code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Taken first; at most one row per provider.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pinned: bool,
    /// Never taken.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Unix milliseconds of the start of the last request attempt on this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ms: Option<u64>,
    /// The signed-in state of a browser context (`isolation = "context"`), saved by the lane
    /// that holds the account and restored into its next fresh context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Account {
    /// The identity's key: lowercased and trimmed, as rows are compared.
    pub fn key(&self) -> String {
        identity_key(&self.email)
    }

    /// The account's id among all providers' rows.
    pub fn id(&self, provider: ProviderKind) -> AccountId {
        AccountId {
            provider,
            key: self.key(),
        }
    }

    /// The name of the account's own browser profile folder: the first 16 hex digits of
    /// SHA-256 of the lowercased, trimmed email (behavior-spec §7.3), so the folder name does
    /// not show the email.
    pub fn profile_name(&self) -> String {
        let digest = Sha256::digest(self.key().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("pinned", &self.pinned)
            .field("disabled", &self.disabled)
            .field("last_used_ms", &self.last_used_ms)
            .field("session", &self.session.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// An account among every provider's rows: what a lane holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId {
    pub provider: ProviderKind,
    /// The lowercased, trimmed email ([`Account::key`]).
    pub key: String,
}

/// Lowercased and trimmed: how identities are compared.
pub fn identity_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A password, cookie or storage value: wiped from memory when dropped, never shown by
/// `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that types it into a page.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// What keeps a browser context signed in: its cookies and the site origins' local storage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub cookies: Vec<SessionCookie>,
    /// Origin (`https://chat.example.com`) → key → value.
    #[serde(default)]
    pub local_storage: BTreeMap<String, BTreeMap<String, Secret>>,
    /// Unix milliseconds when the lane saved it.
    pub saved_ms: u64,
}

/// One cookie as CDP's `Network.setCookie` takes it back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCookie {
    pub name: String,
    pub value: Secret,
    pub domain: String,
    pub path: String,
    /// Unix seconds; `None` for a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<f64>,
    #[serde(default)]
    pub http_only: bool,
    #[serde(default)]
    pub secure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
}

/// What went wrong with the store; [`AccountsError::kind`] lets a caller tell a missing or
/// wrong key from a refused change.
#[derive(Debug, Clone)]
pub struct AccountsError {
    pub kind: ErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Neither a passphrase nor a key file was given (or not the one the file needs).
    NoKey,
    /// The passphrase or key file is not the one the store was sealed with.
    WrongKey,
    /// The file is not a store, is cut short, or was altered.
    Damaged,
    /// A change broke a rule (`Row N: …`).
    Rule,
    /// No such account.
    NotFound,
    /// The file changed on disk since it was read; nothing was written.
    Changed,
    /// Reading or writing failed.
    Io,
    /// Another process holds the store's write lock; nothing was written.
    Locked,
}

impl AccountsError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> AccountsError {
        AccountsError {
            kind,
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AccountsError {}

impl From<AccountsError> for String {
    fn from(e: AccountsError) -> String {
        e.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_sessions_never_show_in_debug() {
        let account = Account {
            email: "a@example.com".into(),
            password: Some(Secret::new("hunter2".into())),
            session: Some(Session {
                cookies: vec![SessionCookie {
                    name: "sid".into(),
                    value: Secret::new("cookie-value".into()),
                    ..SessionCookie::default()
                }],
                ..Session::default()
            }),
            ..Account::default()
        };
        let shown = format!("{account:?}");
        assert!(shown.contains("a@example.com"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("cookie-value"),
            "{shown}"
        );
    }

    #[test]
    fn the_profile_name_hides_the_email_and_ignores_case() {
        let a = Account {
            email: " Someone@Example.com ".into(),
            ..Account::default()
        };
        let b = Account {
            email: "someone@example.com".into(),
            ..Account::default()
        };
        assert_eq!(a.profile_name(), b.profile_name());
        assert_eq!(a.profile_name().len(), 16);
        assert!(a.profile_name().chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.id(ProviderKind::Glm), b.id(ProviderKind::Glm));
    }
}
