//! Which saved account a lane takes (behavior-spec §6.2–6.3, §7.4), as pure functions.
//!
//! Only *selectable* rows count: enabled, with an identity, with a password (Perplexity needs
//! none), each identity once. Among them, the pinned row comes first; the rest follow least
//! used first with `accounts.prefer_least_used` (never used, then the oldest last use; ties in
//! random order), else in random order. A row another lane holds is never taken: the caller
//! passes the held set, so two lanes can never hold one account.

use std::collections::HashSet;

use super::{Account, AccountId, rules};
use crate::models::ProviderKind;

/// Whether a row can back a lane.
pub fn selectable(provider: ProviderKind, account: &Account) -> bool {
    !account.disabled
        && !account.email.trim().is_empty()
        && (rules::password_free(provider)
            || account.password.as_ref().is_some_and(|p| !p.is_empty()))
}

/// The selectable rows not in `held`, in the order lanes take them. `rng` decides ties and the
/// random order (seeded in tests).
pub fn order<'a>(
    provider: ProviderKind,
    rows: &'a [Account],
    held: &HashSet<AccountId>,
    prefer_least_used: bool,
    rng: &mut fastrand::Rng,
) -> Vec<&'a Account> {
    let mut seen = HashSet::new();
    let mut free: Vec<&Account> = rows
        .iter()
        .filter(|a| selectable(provider, a))
        .filter(|a| seen.insert(a.key()))
        .filter(|a| !held.contains(&a.id(provider)))
        .collect();
    let pinned = free.iter().position(|a| a.pinned).map(|i| free.remove(i));
    rng.shuffle(&mut free);
    if prefer_least_used {
        // Stable, so equal stamps keep the shuffled order; `None` (never used) sorts first.
        free.sort_by_key(|a| a.last_used_ms);
    }
    pinned.into_iter().chain(free).collect()
}

/// The account a lane should take, if any is free.
pub fn pick<'a>(
    provider: ProviderKind,
    rows: &'a [Account],
    held: &HashSet<AccountId>,
    prefer_least_used: bool,
    rng: &mut fastrand::Rng,
) -> Option<&'a Account> {
    order(provider, rows, held, prefer_least_used, rng)
        .into_iter()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Secret;

    const P: ProviderKind = ProviderKind::DeepSeek;

    fn row(email: &str, last: Option<u64>) -> Account {
        Account {
            email: email.into(),
            password: Some(Secret::new("p".into())),
            last_used_ms: last,
            ..Account::default()
        }
    }

    fn emails(list: &[&Account]) -> Vec<String> {
        list.iter().map(|a| a.email.clone()).collect()
    }

    fn rng(seed: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(seed)
    }

    #[test]
    fn pinned_first_then_never_used_then_oldest() {
        let mut rows = vec![
            row("new@x.io", Some(300)),
            row("old@x.io", Some(100)),
            row("never@x.io", None),
            row("pin@x.io", Some(999)),
            row("mid@x.io", Some(200)),
        ];
        rows[3].pinned = true;
        for seed in 0..20 {
            let got = order(P, &rows, &HashSet::new(), true, &mut rng(seed));
            assert_eq!(
                emails(&got),
                ["pin@x.io", "never@x.io", "old@x.io", "mid@x.io", "new@x.io"]
            );
        }
    }

    #[test]
    fn without_least_used_the_order_is_random_but_pinned_stays_first() {
        let mut rows: Vec<Account> = (0..6)
            .map(|i| row(&format!("a{i}@x.io"), Some(i)))
            .collect();
        rows[4].pinned = true;
        let mut orders = HashSet::new();
        for seed in 0..30 {
            let got = order(P, &rows, &HashSet::new(), false, &mut rng(seed));
            assert_eq!(got[0].email, "a4@x.io");
            assert_eq!(got.len(), 6);
            orders.insert(emails(&got));
        }
        assert!(
            orders.len() > 5,
            "a seeded shuffle gives different orders: {orders:?}"
        );
        let same_seed: Vec<_> = (0..2)
            .map(|_| emails(&order(P, &rows, &HashSet::new(), false, &mut rng(7))))
            .collect();
        assert_eq!(same_seed[0], same_seed[1]);
    }

    #[test]
    fn disabled_passwordless_duplicate_and_held_rows_are_never_picked() {
        let mut rows = vec![
            row("off@x.io", None),
            row("nopass@x.io", None),
            row("held@x.io", None),
            row("free@x.io", Some(5)),
            row("FREE@x.io", None),
        ];
        rows[0].disabled = true;
        rows[1].password = None;
        rows[2].pinned = true;
        let held: HashSet<AccountId> = [rows[2].id(P)].into();
        for seed in 0..10 {
            let got = order(P, &rows, &held, true, &mut rng(seed));
            assert_eq!(
                emails(&got),
                ["free@x.io"],
                "held pinned row skipped, duplicate ignored"
            );
        }
        let all: HashSet<AccountId> = [rows[2].id(P), rows[3].id(P)].into();
        assert!(pick(P, &rows, &all, true, &mut rng(1)).is_none());
        // Perplexity signs in by emailed code: no password needed.
        assert_eq!(
            pick(
                ProviderKind::Perplexity,
                &rows[1..2],
                &HashSet::new(),
                false,
                &mut rng(1)
            )
            .map(|a| a.email.as_str()),
            Some("nopass@x.io")
        );
    }
}
