//! `switchyard accounts`: list, add, edit, remove, pin, unpin, disable, enable, rekey.
//!
//! Passwords never come from the command line (it shows in `ps` and the shell history): a
//! prompt without echo when stdin is a terminal (asked twice), else one line of stdin, so
//! `printf '%s\n' "$PW" | switchyard accounts add …` works in scripts. `list` prints the rows
//! on stdout (never a password); every other message goes to stderr.

use std::io::{BufRead, IsTerminal};
use std::time::{Duration, UNIX_EPOCH};

use super::{Keys, Secret, Store, rules};
use crate::config::Config;
use crate::models::ProviderKind;

/// The `accounts` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the saved accounts (provider, row, email, pinned, disabled, last used); never a
    /// password.
    List {
        /// Only this provider (a model prefix or alias).
        #[arg(long)]
        provider: Option<String>,
    },
    /// Save an account; the password is prompted for (no echo) or read as one line of stdin
    /// (not for Perplexity, which signs in by an emailed code).
    Add {
        #[arg(long)]
        provider: String,
        /// The sign-in email (HuggingChat: or the username).
        email: String,
    },
    /// Change an account's email and/or password.
    Edit {
        #[arg(long)]
        provider: String,
        email: String,
        /// The new email.
        #[arg(long)]
        new_email: Option<String>,
        /// Ask for a new password (prompt, or one line of stdin).
        #[arg(long)]
        password: bool,
    },
    /// Remove an account.
    Remove {
        #[arg(long)]
        provider: String,
        email: String,
    },
    /// Pin an account: lanes take it first (at most one per provider).
    Pin {
        #[arg(long)]
        provider: String,
        email: String,
    },
    /// Unpin an account.
    Unpin {
        #[arg(long)]
        provider: String,
        email: String,
    },
    /// Disable an account: never taken (it loses its pin).
    Disable {
        #[arg(long)]
        provider: String,
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        provider: String,
        email: String,
    },
    /// Re-encrypt the store under a new key, atomically: the current key opens it (as for the
    /// other commands), the new passphrase comes from `SWITCHYARD_NEW_PASSPHRASE`, a prompt
    /// (asked twice) or one line of stdin, never the command line; or `--new-key-file`.
    Rekey {
        /// Seal with this key file (32 random bytes) instead of a new passphrase.
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
    },
}

/// Where `accounts rekey` reads the new passphrase first.
pub const NEW_PASSPHRASE_ENV: &str = "SWITCHYARD_NEW_PASSPHRASE";

/// Runs one subcommand against the configured store.
pub fn run(config: &Config, action: &Action) -> Result<(), String> {
    let path = &config.accounts.store;
    let keys = || {
        warn_if_beside_the_data(config);
        Keys::from_env(config.accounts.key_file.as_deref())
    };
    if let Action::List { provider } = action {
        let only = provider.as_deref().map(provider_kind).transpose()?;
        if !Store::exists(path) {
            eprintln!(
                "No saved accounts ({} does not exist yet); `switchyard accounts add --provider P \
                 EMAIL` saves one.",
                path.display()
            );
            return Ok(());
        }
        let store = Store::open(path, &keys())?;
        list(&store, only);
        return Ok(());
    }
    if let Action::Rekey { new_key_file } = action {
        if !Store::exists(path) {
            return Err(format!(
                "{}: there is no accounts store to re-encrypt yet",
                path.display()
            ));
        }
        let mut store = Store::open(path, &keys())?;
        let new = match new_key_file {
            Some(file) => Keys::new(None, Some(file.clone())),
            None => match std::env::var(NEW_PASSPHRASE_ENV) {
                Ok(p) if !p.is_empty() => Keys::new(Some(Secret::new(p)), None),
                _ => Keys::new(Some(read_password("New passphrase: ")?), None),
            },
        };
        store.rekey(&new)?;
        eprintln!(
            "Re-encrypted {} under the new key; give the gateway and `switchyard accounts` the \
             new passphrase or key file from now on.",
            path.display()
        );
        return Ok(());
    }
    let (provider, email) = match action {
        Action::List { .. } | Action::Rekey { .. } => return Ok(()),
        Action::Add { provider, email }
        | Action::Edit {
            provider, email, ..
        }
        | Action::Remove { provider, email }
        | Action::Pin { provider, email }
        | Action::Unpin { provider, email }
        | Action::Disable { provider, email }
        | Action::Enable { provider, email } => (provider_kind(provider)?, email.as_str()),
    };
    // The key is checked before a password is asked for: a wrong passphrase stops here.
    let mut store = Store::open(path, &keys())?;
    let done = match action {
        Action::List { .. } | Action::Rekey { .. } => return Ok(()),
        Action::Add { .. } => {
            let password = if rules::password_free(provider) {
                None
            } else {
                Some(read_password(&format!(
                    "Password for {} ({provider}): ",
                    email.trim()
                ))?)
            };
            let row = store.add(provider, email, password)?;
            format!("Saved {provider} account `{}` as row {row}", email.trim())
        }
        Action::Edit {
            new_email,
            password,
            ..
        } => {
            if new_email.is_none() && !password {
                return Err("nothing to change: give --new-email NEW and/or --password".to_owned());
            }
            if *password && rules::password_free(provider) {
                return Err(format!(
                    "{provider} signs in by an emailed code and keeps no password"
                ));
            }
            let password = if *password {
                Some(read_password(&format!(
                    "New password for {} ({provider}): ",
                    email.trim()
                ))?)
            } else {
                None
            };
            store.edit(provider, email, new_email.as_deref(), password)?;
            format!("Changed {provider} account `{}`", email.trim())
        }
        Action::Remove { .. } => {
            store.remove(provider, email)?;
            format!("Removed {provider} account `{}`", email.trim())
        }
        Action::Pin { .. } => {
            store.set_pinned(provider, email, true).map_err(|e| {
                match store.accounts(provider).iter().find(|a| a.pinned) {
                    Some(other) => format!(
                        "{e} (`{}` is pinned; `switchyard accounts unpin --provider {} {}` first)",
                        other.email,
                        provider.prefix(),
                        other.email
                    ),
                    None => e.to_string(),
                }
            })?;
            format!("Pinned {provider} account `{}`", email.trim())
        }
        Action::Unpin { .. } => {
            store.set_pinned(provider, email, false)?;
            format!("Unpinned {provider} account `{}`", email.trim())
        }
        Action::Disable { .. } => {
            let was_pinned = store
                .row(provider, email)
                .is_some_and(|n| store.accounts(provider)[n - 1].pinned);
            store.set_disabled(provider, email, true)?;
            format!(
                "Disabled {provider} account `{}`{}",
                email.trim(),
                if was_pinned {
                    " (it is no longer pinned)"
                } else {
                    ""
                }
            )
        }
        Action::Enable { .. } => {
            store.set_disabled(provider, email, false)?;
            format!("Enabled {provider} account `{}`", email.trim())
        }
    };
    store.save()?;
    eprintln!("{done} in {}.", path.display());
    Ok(())
}

fn list(store: &Store, only: Option<ProviderKind>) {
    let mut any = false;
    println!("PROVIDER\tROW\tEMAIL\tPINNED\tDISABLED\tLAST USED");
    for (provider, rows) in store.providers() {
        if only.is_some_and(|p| p != provider) {
            continue;
        }
        for (i, a) in rows.iter().enumerate() {
            any = true;
            let last = a
                .last_used_ms
                .map(|ms| crate::artifacts::rfc3339(UNIX_EPOCH + Duration::from_millis(ms)))
                .unwrap_or_else(|| "never".to_owned());
            println!(
                "{}\t{}\t{}\t{}\t{}\t{last}",
                provider.prefix(),
                i + 1,
                a.email,
                if a.pinned { "pinned" } else { "-" },
                if a.disabled { "disabled" } else { "-" },
            );
        }
    }
    if !any {
        eprintln!("No saved accounts; `switchyard accounts add --provider P EMAIL` saves one.");
    }
}

fn provider_kind(name: &str) -> Result<ProviderKind, String> {
    ProviderKind::from_name(name).ok_or_else(|| {
        format!(
            "unknown provider `{name}`; expected one of {}",
            ProviderKind::ALL
                .iter()
                .map(|k| k.prefix())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A prompt without echo (asked twice) on a terminal, else one line of stdin.
fn read_password(prompt: &str) -> Result<Secret, String> {
    if std::io::stdin().is_terminal() {
        let first = Secret::new(
            rpassword::prompt_password(prompt)
                .map_err(|e| format!("cannot read the password: {e}"))?,
        );
        let again = Secret::new(
            rpassword::prompt_password("Again: ")
                .map_err(|e| format!("cannot read the password: {e}"))?,
        );
        if first != again {
            return Err("the two passwords differ; nothing was changed".to_owned());
        }
        return Ok(first);
    }
    let mut line = Secret::new(String::new());
    let mut buf = String::new();
    let read = std::io::stdin().lock().read_line(&mut buf);
    // Moved into a Secret at once, so it is wiped whatever happens next.
    line.0 = std::mem::take(&mut buf);
    read.map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let trimmed = line.expose().trim_end_matches(['\n', '\r']).to_owned();
    Ok(Secret::new(trimmed))
}

/// A key file inside `data_dir` sits beside the data it protects: say so.
fn warn_if_beside_the_data(config: &Config) {
    let Some(key_file) = &config.accounts.key_file else {
        return;
    };
    let (Ok(key), Ok(data)) = (
        std::fs::canonicalize(key_file),
        std::fs::canonicalize(&config.data_dir),
    ) else {
        return;
    };
    if key.starts_with(&data) {
        tracing::warn!(
            "accounts.key_file ({}) is inside data_dir ({}): whoever copies data_dir gets the key \
             too; keep the key file elsewhere.",
            key_file.display(),
            config.data_dir.display()
        );
    }
}
