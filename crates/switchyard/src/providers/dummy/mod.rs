//! The dummy provider: no site, no browser. Its lanes (`lanes::dummy`) play a script that
//! [`script`] writes from the model ID and the prompt, so every answer is deterministic:
//!
//! - `dummy-instant`: the whole answer at once, in 3 chunks;
//! - `dummy-slow`: 10 chunks, 50 ms apart;
//! - `dummy-flaky`: 6 chunks, and (by its seed) a failure mid-stream;
//! - `dummy-error`: an error before any text, as a site's failure answer would be.
//!
//! The first chunk echoes the prompt's length and a digest of it (`sha256:` and the first 16
//! hex digits of the SHA-256 of the prompt as typed), so a test can tell its answer from
//! another's. Directives anywhere in the prompt change one request, as the replicas' do:
//! `dummy:chunks=N` (1..=10000 text chunks), `dummy:delay_ms=N` (pause before each chunk,
//! 0..=60000), `dummy:seed=N` and `dummy:fail_after=N` (flaky only). A flaky request's seed is
//! `dummy:seed=N`, else the first 8 bytes of the digest; an odd seed fails after
//! `1 + (seed / 2) % (chunks - 1)` chunks, an even one completes. `dummy:fail_after=N` fails
//! after exactly N chunks (N below the chunk count), whatever the seed.

use std::time::Duration;

use sha2::{Digest, Sha256};
use switchyard_decode::{FinishReason, StreamEvent};

use super::DEFAULT_MAX_PROMPT_CHARS;
use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults, SiteOptions};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Dummy,
    site: SiteDefaults {
        base_url: "http://dummy.invalid",
        first_chunk_timeout_secs: 45,
        idle_timeout_secs: 75,
        capture: CaptureMode::Tee,
        max_prompt_chars: DEFAULT_MAX_PROMPT_CHARS,
        file_upload: None,
        models: &[],
        default_model: None,
        options: SiteOptions::NONE,
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
        system_field_limit: None,
        thinking_toggle: true,
    },
    classify: classify_http,
    // No page: the lane plays [`script`] instead.
    driver: None,
};

/// Largest `dummy:chunks`.
const MAX_CHUNKS: u64 = 10_000;
/// Largest `dummy:delay_ms`.
const MAX_DELAY_MS: u64 = 60_000;

/// One event of a dummy answer and the pause before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub pause: Duration,
    pub event: StreamEvent,
}

/// A dummy answer: its events in order. `failed` says that it ends with an error a site would
/// have sent (the lane records it as a site failure).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub steps: Vec<Step>,
    pub failed: bool,
}

/// The dummy answer to `prompt` for the dummy model ID `model`, for the lane `label` (named in
/// error texts).
pub fn script(model: &str, prompt: &str, label: &str) -> Script {
    let model = model.trim().to_lowercase();
    let digest = Sha256::digest(prompt.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let (chunks, delay) = match model.as_str() {
        "dummy-slow" => (10, 50),
        "dummy-flaky" => (6, 0),
        _ => (3, 0),
    };
    let chunks = directive(prompt, "chunks").map_or(chunks, |n| n.clamp(1, MAX_CHUNKS));
    let pause =
        Duration::from_millis(directive(prompt, "delay_ms").map_or(delay, |d| d.min(MAX_DELAY_MS)));
    let text = |i: u64| {
        if i == 1 {
            format!("[{model} sha256:{hex} chars:{}]", prompt.chars().count())
        } else {
            format!(" chunk {i}/{chunks}")
        }
    };
    let mut steps = Vec::new();
    let mut push = |pause: Duration, event: StreamEvent| steps.push(Step { pause, event });
    match model.as_str() {
        "dummy-instant" | "dummy-slow" => {
            for i in 1..=chunks {
                push(pause, StreamEvent::Text(text(i)));
            }
            push(Duration::ZERO, StreamEvent::Finished(FinishReason::Stop));
            Script {
                steps,
                failed: false,
            }
        }
        "dummy-flaky" => {
            let mut seed_bytes = [0u8; 8];
            seed_bytes.copy_from_slice(&digest[..8]);
            let seed = directive(prompt, "seed").unwrap_or(u64::from_be_bytes(seed_bytes));
            let fail_after = match directive(prompt, "fail_after") {
                Some(n) => (n < chunks).then_some(n),
                None if seed % 2 == 1 && chunks >= 2 => Some(1 + (seed / 2) % (chunks - 1)),
                None => None,
            };
            for i in 1..=fail_after.unwrap_or(chunks) {
                push(pause, StreamEvent::Text(text(i)));
            }
            match fail_after {
                Some(k) => {
                    push(
                        pause,
                        StreamEvent::Error(format!(
                            "Dummy ({label}): the dummy stream broke off after {k} of {chunks} \
                             chunks (dummy-flaky, seed {seed}); send it again."
                        )),
                    );
                    Script {
                        steps,
                        failed: true,
                    }
                }
                None => {
                    push(Duration::ZERO, StreamEvent::Finished(FinishReason::Stop));
                    Script {
                        steps,
                        failed: false,
                    }
                }
            }
        }
        "dummy-error" => {
            push(
                pause,
                StreamEvent::Error(format!(
                    "Dummy ({label}): dummy-error always fails, as a site that answers with an \
                     error would."
                )),
            );
            Script {
                steps,
                failed: true,
            }
        }
        other => {
            push(
                Duration::ZERO,
                StreamEvent::Error(format!(
                    "Dummy ({label}): `{other}` is not a dummy model; use dummy-instant, \
                     dummy-slow, dummy-flaky or dummy-error."
                )),
            );
            Script {
                steps,
                failed: true,
            }
        }
    }
}

/// The number after `dummy:<key>=` in the prompt, if any.
fn directive(prompt: &str, key: &str) -> Option<u64> {
    let marker = format!("dummy:{key}=");
    let at = prompt.find(&marker)? + marker.len();
    let digits: String = prompt[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &Script) -> Vec<&str> {
        s.steps
            .iter()
            .filter_map(|s| match &s.event {
                StreamEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn instant_answers_at_once_with_the_prompts_digest() {
        let s = script("Dummy-Instant", "hello", "Dummy 1");
        assert!(!s.failed);
        assert_eq!(s.steps.len(), 4);
        assert!(s.steps.iter().all(|s| s.pause.is_zero()));
        // SHA-256("hello") starts 2cf24dba5fb0a30e.
        assert_eq!(
            texts(&s),
            [
                "[dummy-instant sha256:2cf24dba5fb0a30e chars:5]",
                " chunk 2/3",
                " chunk 3/3"
            ]
        );
        assert_eq!(s.steps[3].event, StreamEvent::Finished(FinishReason::Stop));
        assert_eq!(
            s,
            script("dummy-instant", "hello", "Dummy 1"),
            "deterministic"
        );
    }

    #[test]
    fn slow_is_paced_and_its_pace_and_count_come_from_the_prompt() {
        let s = script("dummy-slow", "hi", "Dummy 1");
        assert_eq!(texts(&s).len(), 10);
        assert_eq!(s.steps[0].pause, Duration::from_millis(50));
        let s = script(
            "dummy-slow",
            "hi dummy:chunks=4 dummy:delay_ms=7",
            "Dummy 1",
        );
        assert_eq!(texts(&s).len(), 4);
        assert!(
            s.steps[..4]
                .iter()
                .all(|s| s.pause == Duration::from_millis(7))
        );
        let s = script("dummy-slow", "dummy:chunks=0 dummy:delay_ms=99999999", "x");
        assert_eq!(texts(&s).len(), 1, "at least one chunk");
        assert_eq!(s.steps[0].pause, Duration::from_millis(MAX_DELAY_MS));
    }

    #[test]
    fn flaky_fails_by_its_seed_or_where_told() {
        let odd = script("dummy-flaky", "dummy:seed=3", "Dummy 2");
        assert!(odd.failed);
        // 1 + (3 / 2) % 5 = 2 chunks, then the error.
        assert_eq!(texts(&odd).len(), 2);
        let StreamEvent::Error(msg) = &odd.steps[2].event else {
            panic!("{odd:?}");
        };
        assert!(
            msg.contains("Dummy (Dummy 2)") && msg.contains("seed 3"),
            "{msg}"
        );
        let even = script("dummy-flaky", "dummy:seed=4", "Dummy 2");
        assert!(!even.failed);
        assert_eq!(texts(&even).len(), 6);
        let told = script("dummy-flaky", "dummy:seed=4 dummy:fail_after=5", "x");
        assert!(told.failed);
        assert_eq!(texts(&told).len(), 5);
        let past_the_end = script("dummy-flaky", "dummy:seed=3 dummy:fail_after=6", "x");
        assert!(
            !past_the_end.failed,
            "fail_after at the chunk count completes"
        );
    }

    #[test]
    fn error_fails_before_any_text() {
        let s = script("dummy-error", "hi", "Dummy 1");
        assert!(s.failed);
        assert!(texts(&s).is_empty());
        assert!(
            matches!(&s.steps[0].event, StreamEvent::Error(m) if m.contains("Dummy (Dummy 1)"))
        );
    }
}
