//! Per-request directives, chosen by the prompt (tensorzero "dummy" style).
//!
//! The replica scans the prompt for `replica:` tokens. Each one overrides a [`Knobs`] field or
//! injects a fault for that request only:
//!
//! | directive | effect |
//! |---|---|
//! | `replica:chunks=N` | N answer pieces (at least 1) |
//! | `replica:delay_ms=N` | N ms between stream events |
//! | `replica:first_delay_ms=N` | N ms before the first body byte |
//! | `replica:stamp` | answer pieces after the first carry ` «t=<µs at emission>»` (the process's monotonic clock, `clock::monotonic_us`) |
//! | `replica:fault=NAME` | one of [`Fault`]'s names |
//! | `replica:blocks=N` | AI Studio: the chat's first N runs come back blocked (a run is counted by the "Continue." nudges before it) |
//!
//! A token may sit anywhere, even inside punctuation (`(replica:chunks=3)`); a number is read up
//! to its first non-digit. Unknown keys, unknown fault names and unreadable numbers are ignored
//! (with a `warn` log), so a typo changes nothing rather than failing the request.
//! The directives stay in the prompt, and so in the echoed answer.

use std::time::Duration;

use crate::knobs::Knobs;

/// A fault injected into one request by `replica:fault=NAME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `rate_limit`: DeepSeek and MiMo answer HTTP 429 with their JSON error; GLM answers HTTP
    /// 200 with a single `MODEL_CONCURRENCY_LIMIT` error event; Qwen answers HTTP 200 with its
    /// bare JSON refusal (`"code":"RateLimited"`); HuggingChat answers HTTP 200 with a `status`
    /// `error` update ("You are sending too many messages…").
    RateLimit,
    /// `empty`: DeepSeek sends a snapshot with no fragments, then FINISHED; GLM, MiMo and
    /// HuggingChat send a 200 body with no events at all.
    Empty,
    /// `stall`: send the first event(s), then nothing more and never end, until the client goes.
    Stall,
    /// `slow_first`: hold the first body byte until the client goes away.
    SlowFirst,
    /// `blocked`: the site's content filter refuses the prompt (MiMo: a `sensitive_query`
    /// event; Qwen: a `data_inspection_failed` error event). Sites without such a reply answer
    /// normally.
    Blocked,
    /// `upgrade_required`: the account's credits are used up (HuggingChat: HTTP 402 and the
    /// page's "Upgrade Required"). Sites without credits answer normally.
    UpgradeRequired,
}

impl Fault {
    /// Every fault, in a stable order.
    pub const ALL: [Fault; 6] = [
        Fault::RateLimit,
        Fault::Empty,
        Fault::Stall,
        Fault::SlowFirst,
        Fault::Blocked,
        Fault::UpgradeRequired,
    ];

    /// The name used in `replica:fault=NAME` and in `Outcome::Fault(NAME)`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimit => "rate_limit",
            Fault::Empty => "empty",
            Fault::Stall => "stall",
            Fault::SlowFirst => "slow_first",
            Fault::Blocked => "blocked",
            Fault::UpgradeRequired => "upgrade_required",
        }
    }

    /// Inverse of [`Fault::name`].
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.name() == name)
    }
}

/// The directives found in one prompt; `None` means "use the knob".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `replica:chunks=N`.
    pub chunks: Option<usize>,
    /// `replica:delay_ms=N`.
    pub delay_ms: Option<u64>,
    /// `replica:first_delay_ms=N`.
    pub first_delay_ms: Option<u64>,
    /// `replica:stamp`.
    pub stamp: bool,
    /// `replica:fault=NAME`; the last one wins.
    pub fault: Option<Fault>,
    /// `replica:blocks=N`.
    pub blocks: Option<u64>,
}

/// The marker that starts a directive.
const MARKER: &str = "replica:";

impl Directives {
    /// Scans `prompt` for directives.
    pub fn parse(prompt: &str) -> Directives {
        let mut out = Directives::default();
        for (start, _) in prompt.match_indices(MARKER) {
            let rest = &prompt[start + MARKER.len()..];
            let key_len = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            let key = &rest[..key_len];
            let value = rest[key_len..].strip_prefix('=').map(|v| {
                let end = v
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(v.len());
                &v[..end]
            });
            out.apply(key, value);
        }
        out
    }

    /// Applies one `key[=value]` pair.
    fn apply(&mut self, key: &str, value: Option<&str>) {
        let number = || {
            value.and_then(|v| {
                let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
                v[..digits].parse::<u64>().ok()
            })
        };
        match key {
            "chunks" => match number() {
                Some(n) => self.chunks = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                None => tracing::warn!(?value, "replica: unreadable chunks directive"),
            },
            "delay_ms" => match number() {
                Some(n) => self.delay_ms = Some(n),
                None => tracing::warn!(?value, "replica: unreadable delay_ms directive"),
            },
            "first_delay_ms" => match number() {
                Some(n) => self.first_delay_ms = Some(n),
                None => tracing::warn!(?value, "replica: unreadable first_delay_ms directive"),
            },
            "stamp" => self.stamp = true,
            "blocks" => match number() {
                Some(n) => self.blocks = Some(n),
                None => tracing::warn!(?value, "replica: unreadable blocks directive"),
            },
            "fault" => match value.and_then(Fault::from_name) {
                Some(fault) => self.fault = Some(fault),
                None => tracing::warn!(?value, "replica: unknown fault directive"),
            },
            _ => tracing::warn!(key, "replica: unknown directive"),
        }
    }
}

/// The effective behaviour of one request: knobs with the directives applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Answer pieces, at least 1.
    pub chunks: usize,
    /// Pause between two emitted events.
    pub delay: Duration,
    /// Pause before the first body byte.
    pub first_delay: Duration,
    /// Whether answer pieces after the first carry an emission timestamp.
    pub stamp: bool,
    /// The injected fault, if any.
    pub fault: Option<Fault>,
    /// How many runs of the chat come back blocked (`replica:blocks=N`; 0 without it).
    pub blocks: u64,
}

impl Plan {
    /// Combines the replica's knobs with the directives of `prompt`.
    pub fn new(knobs: Knobs, prompt: &str) -> Plan {
        let d = Directives::parse(prompt);
        Plan {
            chunks: d.chunks.unwrap_or(knobs.chunks).max(1),
            delay: Duration::from_millis(d.delay_ms.unwrap_or(knobs.delay_ms)),
            first_delay: Duration::from_millis(d.first_delay_ms.unwrap_or(knobs.first_delay_ms)),
            stamp: d.stamp,
            fault: d.fault,
            blocks: d.blocks.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_directive() {
        let d = Directives::parse(
            "hi replica:chunks=3 replica:delay_ms=5, (replica:first_delay_ms=70) \
             replica:stamp replica:fault=stall. replica:blocks=2",
        );
        assert_eq!(
            d,
            Directives {
                chunks: Some(3),
                delay_ms: Some(5),
                first_delay_ms: Some(70),
                stamp: true,
                fault: Some(Fault::Stall),
                blocks: Some(2),
            }
        );
    }

    #[test]
    fn ignores_typos_and_unknown_names() {
        let d = Directives::parse("replica:chunk=3 replica:fault=explode replica:delay_ms=x");
        assert_eq!(d, Directives::default());
    }

    #[test]
    fn plan_applies_overrides_and_clamps_chunks() {
        let knobs = Knobs::default();
        let plan = Plan::new(knobs, "replica:chunks=0 replica:fault=rate_limit");
        assert_eq!(plan.chunks, 1);
        assert_eq!(plan.delay, Duration::from_millis(20));
        assert_eq!(plan.fault, Some(Fault::RateLimit));
        assert_eq!(Plan::new(knobs, "plain").chunks, 8);
    }

    #[test]
    fn fault_names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
        }
    }
}
