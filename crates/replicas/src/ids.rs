//! Small helpers for identifiers and wall-clock timestamps.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A random-looking version-4 UUID string. Not cryptographic: the replicas only need ids that
/// are unique within a process and look like the real sites' ids.
pub(crate) fn uuid() -> String {
    let hi = random_u64();
    let lo = random_u64();
    let time_hi = (hi & 0x0fff) | 0x4000;
    let clock = ((lo >> 48) & 0x3fff) | 0x8000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        time_hi,
        clock,
        lo & 0xffff_ffff_ffff
    )
}

/// A random hex string of `len` characters (for PoW challenges, salts, signatures).
pub(crate) fn hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(len);
    out
}

/// 64 pseudo-random bits: a per-process random hasher over a counter and the clock.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u64(now_us());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_v4_shape_and_differs() {
        let a = uuid();
        let b = uuid();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(hex(40).chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hex(40).len(), 40);
    }
}
