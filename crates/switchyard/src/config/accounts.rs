//! `[accounts]`: where the saved accounts live and how a lane chooses one (see
//! `crate::accounts`).

use std::path::{Path, PathBuf};

use super::ConfigError;
use super::raw::RawAccounts;

/// `[accounts]`, validated.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// The encrypted store: `<data_dir>/accounts/accounts.enc`.
    pub store: PathBuf,
    /// `accounts.key_file`: a file of 32 random bytes, the store's key instead of
    /// `SWITCHYARD_PASSPHRASE`. Meant to live outside `data_dir`.
    pub key_file: Option<PathBuf>,
    /// `accounts.prefer_least_used`: never-used accounts first, then the oldest last use
    /// (else random); the pinned account always comes first.
    pub prefer_least_used: bool,
    /// `accounts.auto_login`: a lane that is not full-parallel takes a saved account (pinned,
    /// else by `prefer_least_used`) and fills the site's sign-in form with it when the site
    /// asks. Off: such a lane has no account (`manual`). Full-parallel lanes always hold one.
    pub auto_login: bool,
    /// `accounts.retry_with_another_account`: a request whose first attempt fails early (no
    /// meaningful text yet, not a non-retryable failure) moves its lane to a spare account and
    /// is tried once more.
    pub retry_with_another_account: bool,
}

pub(super) fn accounts(
    raw: Option<RawAccounts>,
    data_dir: &Path,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<AccountsConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let key_file = match raw.key_file.as_deref() {
        None => None,
        Some(text) if text.trim().is_empty() => {
            return Err(bad(
                "accounts.key_file",
                "must not be empty; remove the key to use SWITCHYARD_PASSPHRASE".to_owned(),
            ));
        }
        Some(text) => Some(PathBuf::from(text)),
    };
    Ok(AccountsConfig {
        store: data_dir.join("accounts").join(crate::accounts::STORE_FILE),
        key_file,
        prefer_least_used: raw.prefer_least_used.unwrap_or(false),
        auto_login: raw.auto_login.unwrap_or(false),
        retry_with_another_account: raw.retry_with_another_account.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn the_store_lives_under_data_dir_and_the_key_file_is_named() {
        let c = Config::from_toml_str(
            "data_dir = \"d\"\n[accounts]\nkey_file = \"/keys/a.key\"\nprefer_least_used = true\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.accounts.store, Path::new("d/accounts/accounts.enc"));
        assert_eq!(
            c.accounts.key_file.as_deref(),
            Some(Path::new("/keys/a.key"))
        );
        assert!(c.accounts.prefer_least_used);
        let d = Config::from_toml_str("", "x").unwrap();
        assert!(d.accounts.key_file.is_none() && !d.accounts.prefer_least_used);
        let e = Config::from_toml_str("[accounts]\nkey_file = \"\"\n", "x.toml").unwrap_err();
        assert!(
            e.0.starts_with("x.toml: accounts.key_file: must not be empty"),
            "{e}"
        );
        let e = Config::from_toml_str("[accounts]\npassphrase = \"x\"\n", "x.toml").unwrap_err();
        assert!(e.0.contains("accounts.passphrase: unknown field"), "{e}");
    }
}
