//! What the sites send that their decoders do not know.
//!
//! A decoder skips an event kind, patch operation or fragment type it has no rule for and says
//! so with [`StreamEvent::Unknown`](crate::providers::StreamEvent::Unknown), once per kind and
//! body. This module logs each kind once per process (with its provider and name) and counts the
//! bodies that carried it, so a change on a site shows up in the log without flooding it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::models::ProviderKind;

/// Bodies seen per provider and unknown kind, since the process started.
static SEEN: Mutex<BTreeMap<(ProviderKind, String), u64>> = Mutex::new(BTreeMap::new());

/// Counts one more body with `kind`; returns the count so far.
fn count(provider: ProviderKind, kind: &str) -> u64 {
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    let count = seen.entry((provider, kind.to_owned())).or_insert(0);
    *count += 1;
    *count
}

/// Notes that a body of `provider`, decoded in `lane`, carried `kind`.
pub(super) fn note(provider: ProviderKind, lane: &str, kind: &str) {
    let bodies = count(provider, kind);
    if bodies == 1 {
        tracing::warn!(
            %provider,
            lane,
            kind,
            "the site sent something its decoder does not know, and it was skipped; later \
             ones are counted at debug level. If answers look wrong, decode a capture of the \
             body with `switchyard decode` and report it"
        );
    } else {
        tracing::debug!(%provider, lane, kind, bodies, "unknown stream kind again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_counted_per_provider() {
        let kind = "phase:unit-test-only";
        assert_eq!(count(ProviderKind::Glm, kind), 1);
        assert_eq!(count(ProviderKind::Glm, kind), 2);
        assert_eq!(count(ProviderKind::DeepSeek, kind), 1);
    }
}
