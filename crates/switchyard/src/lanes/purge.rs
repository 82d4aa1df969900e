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
//! **A reload now and then.** What a collection cannot free is what the document itself
//! keeps, and a chat page that never navigates keeps it for good: Blink bounds the frame's
//! undo stack at 1,000 typed steps (each holding the text it typed), the performance
//! timeline's resource entries at 250, and so on. They fill during a lane's first thousand
//! requests and are what a long soak still gained between its 1,000th and 3,000th request.
//! So once a page served `providers.<p>.refresh_every` requests (default 250, 0 never), its
//! next purge reloads it instead (`Lane::refresh`: the start page again in the same context,
//! a new document, the sign-in checked, a fresh chat shown; unlike a recovery it puts back no
//! saved cookies, which the site may have rotated since), as a person who keeps a tab open
//! for days reloads it now and then. It counts as `refreshes` on `/api/lanes`, and a
//! reload that fails sends the lane into recovery like a failed purge.
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

/// Requests whose DevTools network records a page may keep before a request clears them
/// itself; below that they are cleared while the lane is idle, off the requests' way.
pub const RECORDS_KEPT: u32 = 8;

/// Requests the lane's page served since its last purge, since it was loaded, and since its
/// network records were cleared. Written by the lane's own tasks.
#[derive(Debug, Default)]
pub struct Purge {
    since: AtomicU32,
    since_load: AtomicU32,
    recorded: AtomicU32,
}

/// What an idle purge does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tidy {
    /// A full garbage collection in the page's renderer.
    Collect,
    /// The page is loaded again (`providers.<p>.refresh_every` requests on it).
    Reload,
}

impl Purge {
    /// The page served one more request.
    pub fn served(&self) {
        self.since.fetch_add(1, Ordering::Relaxed);
        self.since_load.fetch_add(1, Ordering::Relaxed);
    }

    /// The page was (re)loaded: a new document, nothing to purge yet (a navigation also drops
    /// the network records).
    pub fn page_loaded(&self) {
        self.since.store(0, Ordering::Relaxed);
        self.since_load.store(0, Ordering::Relaxed);
        self.recorded.store(0, Ordering::Relaxed);
    }

    /// Whether the request now starting clears the network records itself: the lane had no
    /// idle moment to do it for [`RECORDS_KEPT`] requests.
    pub fn records_due_now(&self) -> bool {
        records_due_now(self.recorded.load(Ordering::Relaxed))
    }

    /// A request goes to the site: the page keeps its network records from here.
    pub fn recording(&self) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the page keeps records an idle moment should clear.
    pub fn records_kept(&self) -> bool {
        self.recorded.load(Ordering::Relaxed) > 0
    }

    fn records_cleared(&self) {
        self.recorded.store(0, Ordering::Relaxed);
    }

    /// How long the lane should stay idle before it purges; `None` when there is nothing to
    /// purge (no request since the last purge).
    pub fn due_after(&self) -> Option<Duration> {
        due_after(self.since.load(Ordering::Relaxed))
    }

    /// Whether the due purge collects garbage or reloads the page, with `refresh_every` the
    /// provider's setting (0: never reload).
    pub fn kind(&self, refresh_every: u32) -> Tidy {
        kind(self.since_load.load(Ordering::Relaxed), refresh_every)
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

fn records_due_now(recorded: u32) -> bool {
    recorded >= RECORDS_KEPT
}

fn kind(since_load: u32, refresh_every: u32) -> Tidy {
    if refresh_every > 0 && since_load >= refresh_every {
        Tidy::Reload
    } else {
        Tidy::Collect
    }
}

impl Lane {
    /// The due idle purge: a garbage collection, or a reload of the page once it served
    /// `refresh_every` requests. `Err`: the call failed or timed out, and the lane must recover.
    pub async fn purge_or_refresh(&self) -> Result<Tidy, String> {
        match self.purge.kind(self.settings.refresh_every) {
            Tidy::Collect => self.purge_memory().await.map(|_| Tidy::Collect),
            Tidy::Reload => {
                let began = Instant::now();
                let served = self.purge.since_load.load(Ordering::Relaxed);
                (self.refresh().await)
                    .map_err(|e| format!("could not reload the page while idle: {e}"))?;
                let ms = began.elapsed().as_millis();
                tracing::info!(
                    lane = %self.spec.id,
                    ms,
                    served,
                    "{}: reloaded its page while idle after {served} requests on it \
                     (providers.{}.refresh_every)",
                    self.spec.label,
                    self.spec.provider.prefix()
                );
                self.note(format!(
                    "reloaded the page after {served} requests on it ({ms} ms)"
                ));
                Ok(Tidy::Reload)
            }
        }
    }

    /// Clears the page's DevTools network records (`Tab::forget_network_records`: Blink keeps
    /// about five per request until the page navigates). Only between requests, with nothing
    /// armed.
    pub async fn forget_network_records(&self) -> Result<(), crate::browser::BrowserError> {
        self.tab.forget_network_records().await?;
        self.purge.records_cleared();
        Ok(())
    }

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

    #[test]
    fn network_records_wait_for_an_idle_moment_unless_a_busy_lane_kept_too_many() {
        let purge = Purge::default();
        assert!(!purge.records_kept(), "a new page has none");
        for _ in 0..RECORDS_KEPT {
            assert!(!purge.records_due_now());
            purge.recording();
        }
        assert!(purge.records_kept());
        // The next request would find RECORDS_KEPT requests' records: it clears them first.
        assert!(purge.records_due_now());
        purge.records_cleared();
        assert!(!purge.records_kept());
        purge.recording();
        assert!(!purge.records_due_now());
        assert!(
            purge.records_kept(),
            "the request that cleared them left its own"
        );
        purge.page_loaded();
        assert!(!purge.records_kept(), "a navigation drops them");
    }

    #[test]
    fn a_page_is_reloaded_once_it_served_refresh_every_requests_and_never_with_zero() {
        assert_eq!(kind(0, 250), Tidy::Collect);
        assert_eq!(kind(249, 250), Tidy::Collect);
        assert_eq!(kind(250, 250), Tidy::Reload);
        assert_eq!(kind(900, 250), Tidy::Reload);
        assert_eq!(kind(1_000_000, 0), Tidy::Collect, "0: never");
        let purge = Purge::default();
        for _ in 0..3 {
            purge.served();
        }
        // A purge resets what it collects, not the page's age.
        purge.done();
        assert_eq!(purge.kind(3), Tidy::Reload);
        assert_eq!(purge.due_after(), None, "nothing served since the purge");
        purge.served();
        assert_eq!(purge.due_after(), Some(PURGE_WHEN_IDLE));
        purge.page_loaded();
        assert_eq!(purge.kind(3), Tidy::Collect);
        assert_eq!(purge.due_after(), None, "a new document: nothing to purge");
    }
}
