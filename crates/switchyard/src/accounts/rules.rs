//! The save rules of the reference's account manager (behavior-spec §7.2), checked on a
//! provider's whole list of rows before anything is kept: a valid email (HuggingChat: or a
//! username without whitespace), a password except for Perplexity, no identity twice, at most
//! one pinned row, and at least one enabled row when there are rows. Errors read `Row N: …`,
//! N counting from 1 in the order `switchyard accounts list` shows.

use super::{Account, AccountsError, ErrorKind, identity_key};
use crate::models::ProviderKind;

/// The reference's text for a second pinned row.
pub const ONE_PINNED: &str = "Only one row can be pinned at a time.";
/// The reference's text for a list with every row disabled.
pub const ONE_ENABLED: &str = "At least one saved account must stay enabled.";

/// Whether `provider` signs in without a password (an emailed code).
pub fn password_free(provider: ProviderKind) -> bool {
    crate::providers::spec(provider)
        .site
        .options
        .passwordless_sign_in
}

/// Whether `provider`'s sign-in takes a username as well as an email address.
fn takes_username(provider: ProviderKind) -> bool {
    crate::providers::spec(provider)
        .site
        .options
        .username_sign_in
}

/// A disabled row loses its pin (the reference's rule), then every rule is checked.
pub fn normalize_and_check(
    provider: ProviderKind,
    rows: &mut [Account],
) -> Result<(), AccountsError> {
    for row in rows.iter_mut() {
        row.email = row.email.trim().to_owned();
        if row.disabled {
            row.pinned = false;
        }
    }
    check(provider, rows)
}

/// Every rule, first failure first.
pub fn check(provider: ProviderKind, rows: &[Account]) -> Result<(), AccountsError> {
    let refuse = |n: usize, text: String| {
        Err(AccountsError::new(
            ErrorKind::Rule,
            format!("{provider}: Row {n}: {text}"),
        ))
    };
    let mut pinned = None;
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        let email = row.email.trim();
        if email.is_empty() {
            return refuse(n, "Email is required.".to_owned());
        }
        if !valid_identity(provider, email) {
            return refuse(
                n,
                if takes_username(provider) {
                    format!("`{email}` is not a valid email address or a username without spaces.")
                } else {
                    format!("`{email}` is not a valid email address.")
                },
            );
        }
        if let Some(first) = rows[..i]
            .iter()
            .position(|other| identity_key(&other.email) == identity_key(email))
        {
            return refuse(
                n,
                format!("`{email}` is already saved in row {}.", first + 1),
            );
        }
        if !password_free(provider) && row.password.as_ref().is_none_or(|p| p.is_empty()) {
            return refuse(n, "Password is required.".to_owned());
        }
        if row.pinned {
            if pinned.is_some() {
                return refuse(n, ONE_PINNED.to_owned());
            }
            pinned = Some(n);
        }
    }
    if !rows.is_empty() && rows.iter().all(|r| r.disabled) {
        return Err(AccountsError::new(
            ErrorKind::Rule,
            format!("{provider}: {ONE_ENABLED}"),
        ));
    }
    Ok(())
}

/// An email address (one `@`, a local part, a dotted domain, no whitespace), or for
/// HuggingChat also a username without whitespace.
fn valid_identity(provider: ProviderKind, text: &str) -> bool {
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if takes_username(provider) && !text.contains('@') {
        return true;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Secret;

    fn row(email: &str, password: Option<&str>) -> Account {
        Account {
            email: email.into(),
            password: password.map(|p| Secret::new(p.into())),
            ..Account::default()
        }
    }

    fn refused(provider: ProviderKind, rows: &[Account]) -> String {
        check(provider, rows).unwrap_err().message().to_owned()
    }

    #[test]
    fn the_reference_rules_name_the_row() {
        let ds = ProviderKind::DeepSeek;
        assert!(check(ds, &[]).is_ok());
        assert!(check(ds, &[row("a@x.io", Some("p"))]).is_ok());
        assert_eq!(
            refused(ds, &[row("a@x.io", Some("p")), row("  ", Some("p"))]),
            "DeepSeek: Row 2: Email is required."
        );
        assert_eq!(
            refused(ds, &[row("not-an-email", Some("p"))]),
            "DeepSeek: Row 1: `not-an-email` is not a valid email address."
        );
        for bad in ["a@b", "@x.io", "a b@x.io", "a@x..io", "a@.x.io", "a@x.io."] {
            assert!(check(ds, &[row(bad, Some("p"))]).is_err(), "{bad}");
        }
        assert_eq!(
            refused(ds, &[row("a@x.io", None)]),
            "DeepSeek: Row 1: Password is required."
        );
        assert_eq!(
            refused(ds, &[row("a@x.io", Some(""))]),
            "DeepSeek: Row 1: Password is required."
        );
        assert_eq!(
            refused(ds, &[row("a@x.io", Some("p")), row("A@X.io", Some("q"))]),
            "DeepSeek: Row 2: `A@X.io` is already saved in row 1."
        );
        let mut two = [row("a@x.io", Some("p")), row("b@x.io", Some("q"))];
        two[0].pinned = true;
        two[1].pinned = true;
        assert_eq!(
            refused(ds, &two),
            "DeepSeek: Row 2: Only one row can be pinned at a time."
        );
        for r in &mut two {
            r.pinned = false;
            r.disabled = true;
        }
        assert_eq!(
            refused(ds, &two),
            "DeepSeek: At least one saved account must stay enabled."
        );
    }

    #[test]
    fn perplexity_needs_no_password_and_huggingchat_takes_a_username() {
        assert!(check(ProviderKind::Perplexity, &[row("a@x.io", None)]).is_ok());
        assert!(check(ProviderKind::HuggingChat, &[row("some_user", Some("p"))]).is_ok());
        assert_eq!(
            refused(ProviderKind::HuggingChat, &[row("some user", Some("p"))]),
            "HuggingChat: Row 1: `some user` is not a valid email address or a username without \
             spaces."
        );
        assert!(check(ProviderKind::Glm, &[row("some_user", Some("p"))]).is_err());
    }

    #[test]
    fn a_disabled_row_loses_its_pin() {
        let mut rows = [row("a@x.io", Some("p")), row(" b@x.io ", Some("q"))];
        rows[0].pinned = true;
        rows[0].disabled = true;
        normalize_and_check(ProviderKind::Glm, &mut rows).unwrap();
        assert!(!rows[0].pinned);
        assert_eq!(rows[1].email, "b@x.io");
    }
}
