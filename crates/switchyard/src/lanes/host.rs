//! Where a lane's browser comes from, and how a dead one is replaced.
//!
//! In `context` isolation every lane lives in one shared Chromium ([`SharedBrowser`]). When it
//! dies, each of its lanes notices on its own; the first to ask for a replacement relaunches it,
//! the others get that new browser. In `process` isolation a lane relaunches its own Chromium on
//! its own profile. With `browser.endpoints` ([`RemotePool`]) a lane lives in a context on one
//! of the remote browsers and moves to another when its endpoint is lost.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::browser::{Chromium, LaunchOptions};
use crate::config::Endpoint;
use crate::ids::LaneId;

/// The one Chromium all lanes share in `context` isolation, relaunched when it dies.
pub struct SharedBrowser {
    opts: LaunchOptions,
    current: Mutex<Arc<Chromium>>,
    /// Serialises relaunches, so a dead browser is replaced once however many lanes ask.
    relaunch: tokio::sync::Mutex<()>,
}

impl SharedBrowser {
    pub async fn launch(opts: LaunchOptions) -> Result<Arc<SharedBrowser>, String> {
        let browser = Chromium::launch(&opts).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(SharedBrowser {
            opts,
            current: Mutex::new(browser),
            relaunch: tokio::sync::Mutex::new(()),
        }))
    }

    /// The browser lanes open pages in now.
    pub fn current(&self) -> Arc<Chromium> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A live browser instead of `dead`: the one another lane relaunched already, or a new one.
    pub async fn replace(&self, dead: &Arc<Chromium>) -> Result<Arc<Chromium>, String> {
        let _one_at_a_time = self.relaunch.lock().await;
        let current = self.current();
        if !current.is_closed() {
            return Ok(current);
        }
        if !Arc::ptr_eq(&current, dead) {
            warn!(pid = ?current.pid(), "the relaunched shared browser is gone too");
        }
        // Reap the dead process and remove its throwaway profile.
        current.close().await;
        info!(old_pid = ?current.pid(), "the shared browser died; relaunching it");
        let browser = Chromium::launch(&self.opts)
            .await
            .map_err(|e| format!("could not relaunch the shared browser: {e}"))?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = browser.clone();
        Ok(browser)
    }
}

/// How a lane gets a browser.
#[derive(Clone)]
pub enum BrowserHost {
    /// `context` isolation: a context in the shared browser.
    Shared(Arc<SharedBrowser>),
    /// `process` isolation: the lane's own browser, launched with these options (its profile).
    Own(LaunchOptions),
    /// `browser.endpoints`: a context on one of the remote browsers.
    Remote(Arc<RemotePool>),
}

impl BrowserHost {
    /// Whether the lane's browser is a headless one switchyard launched (not a remote one).
    pub fn launched_headless(&self) -> bool {
        match self {
            BrowserHost::Shared(shared) => shared.opts.headless,
            BrowserHost::Own(opts) => opts.headless,
            BrowserHost::Remote(_) => false,
        }
    }

    /// Whether the lane owns its browser (and closes it with itself).
    pub fn owns_browser(&self) -> bool {
        matches!(self, BrowserHost::Own(_))
    }

    /// A live browser for `lane` to replace `dead` (which the caller no longer uses).
    pub async fn replace(
        &self,
        lane: &LaneId,
        dead: &Arc<Chromium>,
    ) -> Result<Arc<Chromium>, String> {
        match self {
            BrowserHost::Remote(pool) => pool.acquire(lane).await,
            BrowserHost::Shared(shared) => shared.replace(dead).await,
            BrowserHost::Own(opts) => {
                dead.close().await;
                Chromium::launch(opts)
                    .await
                    .map_err(|e| format!("could not relaunch the lane's browser: {e}"))
            }
        }
    }

    /// The lane is gone: a remote endpoint gets its slot back.
    pub fn release(&self, lane: &LaneId) {
        if let BrowserHost::Remote(pool) = self {
            pool.release(lane);
        }
    }
}

/// `browser.endpoints`: the remote Chromiums the lanes attach to, each with its capacity.
///
/// A lane holds a slot on one endpoint. [`RemotePool::acquire`] gives a lane the endpoint with
/// the most free capacity (one known to be down last), attaching to it if needed; one connection
/// per endpoint is shared by its lanes. When an endpoint's connection ends, each of its lanes
/// asks again ([`BrowserHost::replace`]) and lands on another endpoint with free capacity, or
/// gets an error, and its supervisor tries again with backoff (which reconnects the endpoint
/// once it is back). switchyard never kills or closes a remote browser: at shutdown it
/// disposes its own contexts and drops its connections.
pub struct RemotePool {
    endpoints: Vec<Remote>,
    cdp_timeout: std::time::Duration,
    /// Which endpoint each lane holds a slot on.
    slots: Mutex<std::collections::HashMap<LaneId, usize>>,
}

struct Remote {
    endpoint: Endpoint,
    /// The connection its lanes share; serialises attaching.
    browser: tokio::sync::Mutex<Option<Arc<Chromium>>>,
    /// Its connection ended, or the last attempt to attach failed: tried last.
    down: std::sync::atomic::AtomicBool,
}

impl RemotePool {
    pub fn new(endpoints: &[Endpoint], cdp_timeout: std::time::Duration) -> Arc<RemotePool> {
        Arc::new(RemotePool {
            endpoints: endpoints
                .iter()
                .map(|e| Remote {
                    endpoint: e.clone(),
                    browser: tokio::sync::Mutex::new(None),
                    down: std::sync::atomic::AtomicBool::new(false),
                })
                .collect(),
            cdp_timeout,
            slots: Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<LaneId, usize>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live browser for `lane` on the endpoint with the most free capacity (the lane gives
    /// up the slot it held). Tries the candidates in order; the error says why none would do.
    pub async fn acquire(&self, lane: &LaneId) -> Result<Arc<Chromium>, String> {
        self.release(lane);
        let mut tried = Vec::new();
        while let Some(index) = self.reserve(lane, &tried) {
            tried.push(index);
            let remote = &self.endpoints[index];
            let mut current = remote.browser.lock().await;
            if let Some(browser) = current.as_ref() {
                if !browser.is_closed() {
                    return Ok(browser.clone());
                }
                // The connection ended (the browser died or went away): attach again.
                *current = None;
            }
            match Chromium::connect(&remote.endpoint, self.cdp_timeout).await {
                Ok(browser) => {
                    remote.down.store(false, Ordering::Relaxed);
                    *current = Some(browser.clone());
                    return Ok(browser);
                }
                Err(e) => {
                    remote.down.store(true, Ordering::Relaxed);
                    warn!(lane = %lane, cause = %e, "a remote browser is not reachable");
                    self.release(lane);
                }
            }
        }
        let shown: Vec<String> = self.endpoints.iter().map(|r| r.endpoint.shown()).collect();
        Err(if tried.is_empty() {
            format!(
                "every browser endpoint is at its max_lanes ({})",
                shown.join(", ")
            )
        } else {
            format!(
                "no browser endpoint with free capacity could be reached ({})",
                shown.join(", ")
            )
        })
    }

    /// Reserves a slot for `lane` on the best endpoint not yet `tried` ([`rank`]). Whether an
    /// endpoint is attached yet does not count, so lanes that start together spread the same
    /// way however fast each attaches.
    fn reserve(&self, lane: &LaneId, tried: &[usize]) -> Option<usize> {
        let mut slots = self.slots();
        let mut lanes = vec![0u32; self.endpoints.len()];
        for &i in slots.values() {
            lanes[i] += 1;
        }
        let candidates: Vec<Candidate> = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, remote)| Candidate {
                max_lanes: remote.endpoint.max_lanes,
                lanes: lanes[i],
                // A connection that ended counts as down before anyone tried again; one being
                // attached (locked) counts by its last attempt.
                down: remote.down.load(Ordering::Relaxed)
                    || remote
                        .browser
                        .try_lock()
                        .ok()
                        .and_then(|b| b.as_ref().map(|b| b.is_closed()))
                        .unwrap_or(false),
                tried: tried.contains(&i),
            })
            .collect();
        let best = rank(&candidates)?;
        slots.insert(lane.clone(), best);
        Some(best)
    }

    /// Gives up the lane's slot (it closed, or moves elsewhere).
    pub fn release(&self, lane: &LaneId) {
        self.slots().remove(lane);
    }

    /// Drops every connection (shutdown). The remote browsers keep running.
    pub async fn disconnect(&self) {
        for remote in &self.endpoints {
            if let Some(browser) = remote.browser.lock().await.take() {
                browser.close().await;
            }
        }
    }
}

/// What [`rank`] knows of one endpoint.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    max_lanes: Option<u32>,
    lanes: u32,
    down: bool,
    tried: bool,
}

/// The endpoint a new lane goes to: among those not tried and not full, one not known to be
/// down first, then the most free slots, then the fewest lanes, then config order. An endpoint
/// without `max_lanes` is never full and counts as having as many slots as the largest
/// `max_lanes` given (so endpoints without limits share the lanes evenly).
fn rank(candidates: &[Candidate]) -> Option<usize> {
    let nominal = candidates
        .iter()
        .filter_map(|c| c.max_lanes)
        .max()
        .unwrap_or(u32::MAX / 2);
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.tried)
        .filter(|(_, c)| c.max_lanes.is_none_or(|max| c.lanes < max))
        .min_by_key(|(i, c)| {
            let free = c.max_lanes.unwrap_or(nominal).saturating_sub(c.lanes);
            (c.down, std::cmp::Reverse(free), c.lanes, *i)
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(max: &[Option<u32>], lanes: usize) -> Vec<u32> {
        let mut c: Vec<Candidate> = max
            .iter()
            .map(|&max_lanes| Candidate {
                max_lanes,
                lanes: 0,
                down: false,
                tried: false,
            })
            .collect();
        for _ in 0..lanes {
            if let Some(i) = rank(&c) {
                c[i].lanes += 1;
            }
        }
        c.iter().map(|c| c.lanes).collect()
    }

    #[test]
    fn lanes_spread_by_free_capacity_and_never_overfill() {
        assert_eq!(spread(&[None, None], 5), [3, 2]);
        assert_eq!(spread(&[Some(4), Some(2)], 4), [3, 1]);
        assert_eq!(
            spread(&[Some(1), Some(1)], 3),
            [1, 1],
            "no slot left for the third"
        );
        assert_eq!(spread(&[None, Some(4)], 4), [2, 2]);
        assert_eq!(
            spread(&[None, Some(2)], 6),
            [4, 2],
            "an endpoint without a limit takes the rest"
        );
    }

    #[test]
    fn an_endpoint_known_down_goes_last_and_a_tried_one_is_skipped() {
        let c = |down, tried, lanes| Candidate {
            max_lanes: Some(4),
            lanes,
            down,
            tried,
        };
        assert_eq!(rank(&[c(true, false, 0), c(false, false, 3)]), Some(1));
        assert_eq!(
            rank(&[c(true, false, 0), c(false, true, 3)]),
            Some(0),
            "down, but the last hope"
        );
        assert_eq!(rank(&[c(false, true, 0), c(false, false, 4)]), None);
    }
}
