//! The one clock that replica stamps and log times are read from.
//!
//! A wall clock can step (NTP, a manual change) between a stamp and its reading, which would
//! turn a latency into nonsense or a negative number. Every time a replica records or writes
//! into a stream is therefore microseconds on a monotonic clock, counted from an epoch fixed the
//! first time anyone in the process asks. A client in the same process (the bench, the tests)
//! reads [`monotonic_us`] too, so a stamp and its receipt are on the same scale.

use std::sync::OnceLock;
use std::time::Instant;

/// The process-wide epoch of [`monotonic_us`].
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since this process's monotonic epoch. Never goes backwards.
pub fn monotonic_us() -> u64 {
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards() {
        let mut last = monotonic_us();
        for _ in 0..1000 {
            let now = monotonic_us();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
    }
}
