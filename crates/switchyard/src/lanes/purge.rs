//! Idle purges: a lane that has served requests has its renderer collect its garbage while it
//! is idle, so a long run does not keep what the page scripts and the site's work left behind.
//!
//! V8 and Blink's heap collect on their own, but keep their pages between those collections
//! and let their limits grow with the garbage: a soak's renderers rose steadily (about 3 MiB
//! per 1,000 requests each, on top of some 50 MiB of garbage each kept), and one forced full
//! collection (`Tab::collect_garbage`) took a DeepSeek replica lane's renderer from about 99 to
//! 49 MiB of anonymous memory. So a lane purges:
//!
//! - at its first idle moment after [`PURGE_EVERY`] requests since its last purge (a busy
//!   lane, whose next request is often already in its inbox when one ends), or
//! - after [`PURGE_WHEN_IDLE`] idle with any request since its last purge (a quiet lane).
//!
//! **Never before a waiting request.** The supervisor starts a purge only once the next chat is
//! prepared and nothing waits in the lane's inbox; a request that arrives during the
//! collection (tens of ms on the renderer's main thread, which any page step would wait for
//! anyway) waits for its end, as it waits for a preparation. A purge that fails or times out
//! (the call is bounded) puts the lane into recovery with a log line, as a failed preparation
//! does: a renderer that does not answer it would not answer the next request either. Each
//! purge counts on the lane's row (`purges` on `/api/lanes`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::lane::Lane;

/// Requests after which a lane purges at its first idle moment.
pub const PURGE_EVERY: u32 = 50;
/// How long a lane idles after a request before it purges anyway.
pub const PURGE_WHEN_IDLE: Duration = Duration::from_secs(3);

/// Requests the lane's page served since its last purge. Written by the lane's own tasks.
#[derive(Debug, Default)]
pub struct Purge {
    since: AtomicU32,
}

impl Purge {
    /// The page served one more request.
    pub fn served(&self) {
        self.since.fetch_add(1, Ordering::Relaxed);
    }

    /// How long the lane should stay idle before it purges; `None` when there is nothing to
    /// purge (no request since the last purge).
    pub fn due_after(&self) -> Option<Duration> {
        due_after(self.since.load(Ordering::Relaxed))
    }

    fn done(&self) {
        self.since.store(0, Ordering::Relaxed);
    }
}

fn due_after(since: u32) -> Option<Duration> {
    match since {
        0 => None,
        n if n >= PURGE_EVERY => Some(Duration::ZERO),
        _ => Some(PURGE_WHEN_IDLE),
    }
}

impl Lane {
    /// Has the page's renderer collect its garbage; returns the milliseconds it took. `Err`:
    /// the call failed or timed out, and the lane must recover.
    pub async fn purge_memory(&self) -> Result<u128, String> {
        let began = Instant::now();
        let served = self.purge.since.load(Ordering::Relaxed);
        (self.tab.collect_garbage().await)
            .map_err(|e| format!("could not purge the page's memory while idle: {e}"))?;
        self.purge.done();
        let ms = began.elapsed().as_millis();
        tracing::debug!(lane = %self.spec.id, ms, served, "purged the page's memory while idle");
        self.note(format!(
            "purged the page's memory after {served} requests ({ms} ms)"
        ));
        Ok(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_purges_at_once_after_enough_requests_and_later_after_fewer() {
        assert_eq!(due_after(0), None, "nothing served: nothing to purge");
        assert_eq!(due_after(1), Some(PURGE_WHEN_IDLE));
        assert_eq!(due_after(PURGE_EVERY - 1), Some(PURGE_WHEN_IDLE));
        assert_eq!(due_after(PURGE_EVERY), Some(Duration::ZERO));
        assert_eq!(due_after(PURGE_EVERY * 3), Some(Duration::ZERO));
        let purge = Purge::default();
        assert_eq!(purge.due_after(), None);
        for _ in 0..PURGE_EVERY {
            purge.served();
        }
        assert_eq!(purge.due_after(), Some(Duration::ZERO));
        purge.done();
        assert_eq!(purge.due_after(), None);
    }
}
