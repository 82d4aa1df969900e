//! Retry With Another Account (`accounts.retry_with_another_account`, behavior-spec §6.5, §7.5).
//!
//! A request's first attempt on a lane that holds a saved account may be tried once more on
//! another account: when it failed early (the client got nothing meaningful yet), with a site
//! failure (a rate limit, an empty reply, the site's error) whose text is not one of the
//! reference's non-retryable phrases. The relay then keeps the error from the client and the
//! supervisor moves that one lane to a spare account ([`switch`]: one no sibling lane holds,
//! through `accounts::Pool::rotate`), restarts only that lane on it, and runs the request again;
//! the second attempt's outcome is final. With no spare, the client gets the first error and
//! the lane goes offline until the next restart ([`NO_SPARE`]); the other lanes keep serving.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{info, warn};

use super::board::Board;
use super::host::BrowserHost;
use super::lane::Lane;

/// The reference's line (and the offline lane's reason) when no spare account is left.
pub const NO_SPARE: &str = "Account rotation: no spare account available; this instance will \
                            stay offline until the next service restart.";

/// Failures another account would not fix (behavior-spec §7.5), lowercase.
const NON_RETRYABLE: &[&str] = &[
    "peak hours",
    "at capacity",
    "model concurrency limit",
    "concurrency limit",
    "regeneration limit",
    "sensitive query",
    "provider-side sensitive",
    "data_inspection_failed",
    "qwen censored",
];

/// Texts logged as a rate limit (behavior-spec §7.5), lowercase.
const RATE_LIMIT_LIKE: &[&str] = &[
    "rate limit",
    "too many requests",
    "429",
    "quota",
    "limit reached",
];

/// Whether a failure's text is one another account would not fix.
pub fn non_retryable(message: &str) -> bool {
    let lower = message.to_lowercase();
    NON_RETRYABLE.iter().any(|p| lower.contains(p))
}

/// Whether a failure's text reads as a rate limit.
pub fn rate_limit_like(message: &str) -> bool {
    let lower = message.to_lowercase();
    RATE_LIMIT_LIKE.iter().any(|p| lower.contains(p))
}

/// One request attempt on a lane, as far as rotation goes.
#[derive(Default)]
pub struct Attempt {
    /// A failure of this attempt may be retried on another account.
    allowed: AtomicBool,
    /// The client got something meaningful (text or thinking) already.
    answered: AtomicBool,
}

impl Attempt {
    /// A new attempt begins; `allowed` when it is the request's first on a lane with an
    /// account and rotation is on.
    pub fn begin(&self, allowed: bool) {
        self.allowed.store(allowed, Ordering::SeqCst);
        self.answered.store(false, Ordering::SeqCst);
    }

    /// The relay forwarded meaningful output: from now on the attempt's failure is final.
    pub fn answered(&self) {
        self.answered.store(true, Ordering::SeqCst);
    }

    /// Whether a site failure with `message` goes to another account instead of the client.
    pub fn retries(&self, message: &str) -> bool {
        self.allowed.load(Ordering::SeqCst)
            && !self.answered.load(Ordering::SeqCst)
            && !non_retryable(message)
    }
}

/// Why a lane could not move to another account.
#[derive(Debug)]
pub enum SwitchError {
    /// No saved account is free ([`NO_SPARE`]).
    NoSpare,
    /// The lane could not be opened again on the new account.
    Restart(String),
}

/// Moves the lane to a spare account (one no sibling holds) and restarts only this lane on it:
/// its own Chromium on the new account's profile (`process` isolation), else a fresh context
/// with the new account's saved session. Returns the new account's email.
pub(super) async fn switch(
    lane: &mut Lane,
    board: &Board,
    reason: &str,
) -> Result<String, SwitchError> {
    let id = lane.spec.id.clone();
    if rate_limit_like(reason) {
        info!(lane = %id, "Account rotation: the failure looks like a rate limit: {reason}");
    }
    info!(lane = %id, "Account rotation: switching accounts due to: {reason}");
    let held = match lane.accounts.rotate(&id, lane.spec.provider) {
        Ok(held) => held,
        Err(_) => {
            board.set_account(&id, None);
            warn!(lane = %id, "{NO_SPARE}");
            return Err(SwitchError::NoSpare);
        }
    };
    board.set_account(&id, Some(&held.email));
    info!(lane = %id, "{}: now holds {}", lane.spec.label, held.email);
    info!(lane = %id, "Account rotation: restarting driver to re-auth with a different profile...");
    let restarted = match &lane.host {
        BrowserHost::Own(opts) => {
            let mut opts = opts.clone();
            opts.user_data_dir = opts
                .user_data_dir
                .as_ref()
                .map(|dir| dir.with_file_name(&held.profile));
            lane.host = BrowserHost::Own(opts);
            lane.relaunch(board).await
        }
        _ => lane.new_context().await,
    };
    restarted.map_err(SwitchError::Restart)?;
    board.restarted(&id);
    Ok(held.email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_references_phrases_decide() {
        assert!(non_retryable("Server at capacity, try later"));
        assert!(non_retryable("DATA_INSPECTION_FAILED"));
        assert!(!non_retryable(
            "DeepSeek answered HTTP 429 (rate limited): Too many requests"
        ));
        assert!(rate_limit_like("Too Many Requests"));
        assert!(rate_limit_like("daily quota used up"));
        assert!(!rate_limit_like("DeepSeek returned an empty reply"));
    }

    #[test]
    fn only_a_first_attempt_with_nothing_sent_retries() {
        let a = Attempt::default();
        assert!(!a.retries("rate limit"), "not allowed by default");
        a.begin(true);
        assert!(a.retries("rate limit"));
        assert!(!a.retries("at capacity"));
        a.answered();
        assert!(!a.retries("rate limit"), "the client has text already");
        a.begin(false);
        assert!(!a.retries("rate limit"), "the second attempt is final");
    }
}
