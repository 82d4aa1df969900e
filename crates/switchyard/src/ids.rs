//! Identifiers shared by the API, the scheduler and the lanes.

use std::fmt;

use serde::Serialize;

/// A lane: one live page of one provider, named `<provider storage key>:<n>` (1-based), as in
/// the reference's execution slot ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LaneId(pub String);

impl fmt::Display for LaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client request: 8 random hex characters, as in the reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn random() -> Self {
        RequestId(format!("{:08x}", fastrand::u32(..)))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Seconds since the Unix epoch, for `created` fields and queue timestamps.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
