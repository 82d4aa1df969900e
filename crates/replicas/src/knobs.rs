//! Pacing knobs that apply to every completion request of one replica.
//!
//! A request may override them with directives in its prompt (see [`crate::faults`]).

use serde::{Deserialize, Serialize};

/// How a replica paces its answer. Missing JSON fields take the [`Default`] values, so
/// `POST /__replica/knobs {"delay_ms":0}` changes only the delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Number of answer pieces (the echo line, then ` w1`, ` w2`, …). Values below 1 count as 1.
    pub chunks: usize,
    /// Pause between two emitted stream events, in milliseconds.
    pub delay_ms: u64,
    /// Pause before the first byte of the stream body, in milliseconds.
    pub first_delay_ms: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            chunks: 8,
            delay_ms: 20,
            first_delay_ms: 0,
        }
    }
}

impl Knobs {
    /// Knobs for tests that want the whole stream at once: default chunks, no delays.
    pub fn instant() -> Self {
        Knobs {
            delay_ms: 0,
            first_delay_ms: 0,
            ..Knobs::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_defaults() {
        let knobs: Knobs = serde_json::from_str(r#"{"delay_ms":0}"#).unwrap();
        assert_eq!(
            knobs,
            Knobs {
                chunks: 8,
                delay_ms: 0,
                first_delay_ms: 0
            }
        );
    }
}
