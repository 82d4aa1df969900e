//! The running gateway's saved accounts: the one place that decides which lane holds which
//! account.
//!
//! [`Pool`] owns the open [`Store`] and the map of lane → account. Every choice goes through
//! [`Pool::assign`] or [`Pool::rotate`], which pick with every other lane's account in the held
//! set and refuse (with an error line) a pick another lane already holds, so two lanes never hold
//! one account, also under rotation. Last use and a lane's session are written back to the
//! store file from here (and nowhere else while the gateway runs).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use tracing::{error, warn};

use super::{AccountId, AccountsError, ErrorKind, Keys, Secret, Session, Store, select};
use crate::config::AccountsConfig;
use crate::ids::LaneId;
use crate::models::ProviderKind;

/// What a lane holds: its account's identity and what signing in needs. The password stays a
/// [`Secret`].
#[derive(Clone, Debug)]
pub struct Held {
    pub id: AccountId,
    /// The identity as saved (shown on `/api/lanes` and in the start-up log).
    pub email: String,
    pub password: Option<Secret>,
    pub pinned: bool,
    /// The account's profile folder name (`Account::profile_name`).
    pub profile: String,
}

/// Why a lane could not move to another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSpare {
    /// Every other selectable account is held by a sibling lane (or there is none).
    NoneFree,
}

/// The saved accounts of the running gateway.
pub struct Pool {
    inner: Mutex<Inner>,
    prefer_least_used: bool,
    /// `accounts.retry_with_another_account`.
    retry: bool,
}

struct Inner {
    store: Option<Store>,
    /// Kept to open the store again when a `switchyard accounts` call changed it meanwhile.
    keys: Option<Keys>,
    /// Why the store could not be read (every lane is then manual).
    unreadable: Option<String>,
    held: HashMap<LaneId, Held>,
    rng: fastrand::Rng,
}

impl Pool {
    /// Opens the configured store. No file: no accounts, quietly. A store that cannot be read
    /// (no key, wrong key, damaged) is a warning and no accounts: lanes start manual.
    pub fn open(config: &AccountsConfig) -> Pool {
        let keys = Keys::from_env(config.key_file.as_deref());
        let (store, unreadable) = if !Store::exists(&config.store) {
            (None, None)
        } else {
            match Store::open(&config.store, &keys) {
                Ok(store) => (Some(store), None),
                Err(e) => {
                    warn!(
                        "saved accounts cannot be read, so every lane starts without one \
                         (manual): {e}"
                    );
                    (None, Some(e.message().to_owned()))
                }
            }
        };
        let mut pool = Pool::new(store, Some(keys), unreadable, config.prefer_least_used);
        pool.retry = config.retry_with_another_account;
        pool
    }

    /// Whether a request that fails early is tried again on another account.
    pub fn retries(&self) -> bool {
        self.retry
    }

    /// A pool over an open store (tests), or none.
    pub fn from_store(store: Option<Store>, prefer_least_used: bool) -> Pool {
        Pool::new(store, None, None, prefer_least_used)
    }

    fn new(
        store: Option<Store>,
        keys: Option<Keys>,
        unreadable: Option<String>,
        prefer_least_used: bool,
    ) -> Pool {
        Pool {
            inner: Mutex::new(Inner {
                store,
                keys,
                unreadable,
                held: HashMap::new(),
                rng: fastrand::Rng::new(),
            }),
            prefer_least_used,
            retry: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a store file was found (readable or not).
    pub fn has_store(&self) -> bool {
        let inner = self.lock();
        inner.store.is_some() || inner.unreadable.is_some()
    }

    /// How many of the provider's saved accounts can back a lane; `Err` when the store could
    /// not be read.
    pub fn selectable(&self, provider: ProviderKind) -> Result<usize, String> {
        let inner = self.lock();
        if let Some(why) = &inner.unreadable {
            return Err(why.clone());
        }
        let Some(store) = &inner.store else {
            return Ok(0);
        };
        let held = HashSet::new();
        let mut rng = fastrand::Rng::with_seed(0);
        Ok(select::order(provider, store.accounts(provider), &held, false, &mut rng).len())
    }

    /// Gives `lane` an account of `provider` that no other lane holds (the pinned one first,
    /// then least used or random), or `None` (manual) when none is free. A lane that held one
    /// gives it up first.
    pub fn assign(&self, lane: &LaneId, provider: ProviderKind) -> Option<Held> {
        let mut inner = self.lock();
        inner.held.remove(lane);
        let pick = inner.pick(provider, None, self.prefer_least_used)?;
        inner.hold(lane, pick)
    }

    /// Moves `lane` to another account of its provider that no sibling holds: least used or
    /// random (the pinned row is not preferred: it is the one the lane may be leaving). With
    /// no spare the lane keeps nothing.
    pub fn rotate(&self, lane: &LaneId, provider: ProviderKind) -> Result<Held, NoSpare> {
        let mut inner = self.lock();
        let own = inner.held.remove(lane).map(|h| h.id);
        let Some(pick) = inner.pick(provider, own.as_ref(), self.prefer_least_used) else {
            return Err(NoSpare::NoneFree);
        };
        let held = inner.hold(lane, pick).ok_or(NoSpare::NoneFree)?;
        crate::metrics::account_rotated(provider);
        Ok(held)
    }

    /// Whether [`Pool::rotate`] would find an account for `lane` now.
    pub fn has_spare(&self, lane: &LaneId, provider: ProviderKind) -> bool {
        let mut inner = self.lock();
        let own = inner.held.get(lane).map(|h| h.id.clone());
        inner
            .pick(
                provider,
                Some(own.as_ref().unwrap_or(&AccountId {
                    provider,
                    key: String::new(),
                })),
                self.prefer_least_used,
            )
            .is_some()
    }

    /// The account `lane` holds.
    pub fn held(&self, lane: &LaneId) -> Option<Held> {
        self.lock().held.get(lane).cloned()
    }

    /// The lane gives its account up (it closed for good).
    pub fn release(&self, lane: &LaneId) {
        self.lock().held.remove(lane);
    }

    /// Every lane's account (for checks and the board).
    pub fn holders(&self) -> Vec<(LaneId, AccountId)> {
        self.lock()
            .held
            .iter()
            .map(|(l, h)| (l.clone(), h.id.clone()))
            .collect()
    }

    /// Stamps the start of a request attempt on the lane's account and writes the store.
    pub fn mark_used(&self, lane: &LaneId) {
        let now = now_ms();
        self.write(lane, "the last use", |store, id| store.mark_used(id, now));
    }

    /// The saved session of the lane's account.
    pub fn session(&self, lane: &LaneId) -> Option<Session> {
        let inner = self.lock();
        let id = &inner.held.get(lane)?.id;
        inner.store.as_ref()?.session(id).cloned()
    }

    /// Keeps the lane's session with its account and writes the store.
    pub fn save_session(&self, lane: &LaneId, session: Session) {
        self.write(lane, "the session", move |store, id| {
            store.set_session(id, Some(session.clone()))
        });
    }

    /// Applies `change` to the lane's account and saves; when the file changed on disk
    /// meanwhile (a `switchyard accounts` call), opens it again and applies the change there.
    fn write(
        &self,
        lane: &LaneId,
        what: &str,
        change: impl Fn(&mut Store, &AccountId) -> Result<(), AccountsError>,
    ) {
        let mut inner = self.lock();
        let Some(id) = inner.held.get(lane).map(|h| h.id.clone()) else {
            return;
        };
        let Inner { store, keys, .. } = &mut *inner;
        let Some(store) = store.as_mut() else {
            return;
        };
        let mut result = change(store, &id).and_then(|()| store.save());
        if let (Err(e), Some(keys)) = (&result, keys.as_ref()) {
            if e.kind == ErrorKind::Changed {
                result = Store::open(store.path(), keys).and_then(|mut fresh| {
                    change(&mut fresh, &id)?;
                    fresh.save()?;
                    *store = fresh;
                    Ok(())
                });
            }
        }
        if let Err(e) = result {
            warn!(lane = %lane, "could not save {what} of the lane's account: {e}");
        }
    }
}

impl Inner {
    /// The first free account of `provider`, skipping every held one and `also`.
    fn pick(
        &mut self,
        provider: ProviderKind,
        also: Option<&AccountId>,
        prefer_least_used: bool,
    ) -> Option<Held> {
        let store = self.store.as_ref()?;
        let mut taken: HashSet<AccountId> = self.held.values().map(|h| h.id.clone()).collect();
        taken.extend(also.cloned());
        let rows = store.accounts(provider);
        let account = match also {
            // Rotation: the pinned row is not put first.
            Some(_) => {
                let mut list =
                    select::order(provider, rows, &taken, prefer_least_used, &mut self.rng);
                if let Some(at) = list.iter().position(|a| a.pinned) {
                    let pinned = list.remove(at);
                    list.push(pinned);
                }
                list.into_iter().next()
            }
            None => select::pick(provider, rows, &taken, prefer_least_used, &mut self.rng),
        }?;
        Some(Held {
            id: account.id(provider),
            email: account.email.clone(),
            password: account.password.clone(),
            pinned: account.pinned,
            profile: account.profile_name(),
        })
    }

    /// Records that `lane` holds `pick`, refusing one another lane holds.
    fn hold(&mut self, lane: &LaneId, pick: Held) -> Option<Held> {
        if let Some((other, _)) = self.held.iter().find(|(_, h)| h.id == pick.id) {
            error!(lane = %lane, other = %other, "an account was about to back two lanes; refused (a bug)");
            return None;
        }
        self.held.insert(lane.clone(), pick.clone());
        Some(pick)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::KdfParams;

    fn store(rows: &[(&str, bool)]) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sy-pool-{}", fastrand::u64(..)));
        let path = dir.join("accounts.enc");
        let keys = Keys::new(Some(Secret::new("pw".into())), None);
        let cheap = KdfParams {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        };
        let mut s = Store::open_with(&path, &keys, cheap).unwrap();
        for (email, pinned) in rows {
            s.add(ProviderKind::DeepSeek, email, Some(Secret::new("p".into())))
                .unwrap();
            if *pinned {
                s.set_pinned(ProviderKind::DeepSeek, email, true).unwrap();
            }
        }
        s.save().unwrap();
        (s, dir)
    }

    fn lane(n: u32) -> LaneId {
        LaneId(format!("deepseek:{n}"))
    }

    #[test]
    fn lanes_get_distinct_accounts_pinned_first_and_run_out() {
        let (s, dir) = store(&[("a@x.io", false), ("b@x.io", true), ("c@x.io", false)]);
        let pool = Pool::from_store(Some(s), true);
        assert_eq!(pool.selectable(ProviderKind::DeepSeek), Ok(3));
        let first = pool.assign(&lane(1), ProviderKind::DeepSeek).unwrap();
        assert!(first.pinned && first.email == "b@x.io");
        let second = pool.assign(&lane(2), ProviderKind::DeepSeek).unwrap();
        let third = pool.assign(&lane(3), ProviderKind::DeepSeek).unwrap();
        let mut all = vec![first.email, second.email, third.email];
        all.sort();
        assert_eq!(all, ["a@x.io", "b@x.io", "c@x.io"]);
        assert!(pool.assign(&lane(4), ProviderKind::DeepSeek).is_none());
        assert!(pool.assign(&lane(1), ProviderKind::Glm).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn rotation_takes_a_spare_never_a_siblings_and_then_runs_out() {
        let (s, dir) = store(&[("a@x.io", true), ("b@x.io", false), ("c@x.io", false)]);
        let pool = Pool::from_store(Some(s), false);
        let one = pool.assign(&lane(1), ProviderKind::DeepSeek).unwrap();
        let two = pool.assign(&lane(2), ProviderKind::DeepSeek).unwrap();
        let moved = pool.rotate(&lane(1), ProviderKind::DeepSeek).unwrap();
        assert_ne!(moved.id, one.id);
        assert_ne!(moved.id, two.id);
        let ids: HashSet<AccountId> = pool.holders().into_iter().map(|(_, a)| a).collect();
        assert_eq!(ids.len(), 2, "two lanes, two accounts");
        // The only free account now is lane 1's old one; lane 2 may take it, lane 1's is taken.
        let back = pool.rotate(&lane(2), ProviderKind::DeepSeek).unwrap();
        assert_eq!(back.id, one.id);
        assert_eq!(
            pool.rotate(&lane(1), ProviderKind::DeepSeek).map(|h| h.id),
            Ok(two.id),
        );
        assert_eq!(
            pool.rotate(&lane(2), ProviderKind::DeepSeek).map(|h| h.id),
            Ok(moved.id.clone())
        );
        // Three lanes on three accounts: no spare for anyone, and the lane keeps nothing.
        assert_eq!(
            pool.assign(&lane(3), ProviderKind::DeepSeek).map(|h| h.id),
            Some(one.id.clone())
        );
        assert_eq!(
            pool.rotate(&lane(3), ProviderKind::DeepSeek).map(|h| h.id),
            Err(NoSpare::NoneFree)
        );
        assert!(pool.held(&lane(3)).is_none() && pool.held(&lane(1)).is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_lane_with_no_spare_ends_up_without_an_account() {
        let (s, dir) = store(&[("a@x.io", false)]);
        let pool = Pool::from_store(Some(s), false);
        pool.assign(&lane(1), ProviderKind::DeepSeek).unwrap();
        assert_eq!(
            pool.rotate(&lane(1), ProviderKind::DeepSeek).map(|h| h.id),
            Err(NoSpare::NoneFree)
        );
        assert!(pool.held(&lane(1)).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn last_use_and_sessions_reach_the_file() {
        let (s, dir) = store(&[("a@x.io", false)]);
        let path = s.path().to_owned();
        let pool = Pool::from_store(Some(s), false);
        pool.assign(&lane(1), ProviderKind::DeepSeek).unwrap();
        pool.mark_used(&lane(1));
        pool.save_session(
            &lane(1),
            Session {
                saved_ms: 7,
                ..Session::default()
            },
        );
        let keys = Keys::new(Some(Secret::new("pw".into())), None);
        let again = Store::open(&path, &keys).unwrap();
        let row = &again.accounts(ProviderKind::DeepSeek)[0];
        assert!(row.last_used_ms.is_some());
        assert_eq!(row.session.as_ref().map(|s| s.saved_ms), Some(7));
        assert_eq!(pool.session(&lane(1)).map(|s| s.saved_ms), Some(7));
        let _ = std::fs::remove_dir_all(dir);
    }
}
