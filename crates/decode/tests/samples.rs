//! Every decoder against its sample bodies (`samples/<provider>/<name>.body`), whole and split
//! at random points, and against random and mutated bodies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;
use switchyard_decode::aistudio::AiStudioDecoder;
use switchyard_decode::deepseek::DeepSeekDecoder;
use switchyard_decode::glm::GlmDecoder;
use switchyard_decode::huggingchat::HuggingChatDecoder;
use switchyard_decode::mimo::MimoDecoder;
use switchyard_decode::moonshot::MoonshotDecoder;
use switchyard_decode::perplexity::PerplexityDecoder;
use switchyard_decode::qwen::QwenDecoder;
use switchyard_decode::{Decode, StreamEvent, coalesce};

/// A sample body and the events it must give.
struct Sample {
    path: PathBuf,
    body: Vec<u8>,
    expected: Vec<StreamEvent>,
}

fn samples(provider: &str) -> Vec<Sample> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(provider);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "body"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "samples in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let events = std::fs::read_to_string(path.with_extension("events")).unwrap();
            let expected = events
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            Sample {
                body: std::fs::read(&path).unwrap(),
                path,
                expected,
            }
        })
        .collect()
}

fn new_decoder(provider: &str) -> Box<dyn Decode> {
    match provider {
        "aistudio" => Box::new(AiStudioDecoder::new()),
        "deepseek" => Box::new(DeepSeekDecoder::new()),
        "glm" => Box::new(GlmDecoder::new()),
        "huggingchat" => Box::new(HuggingChatDecoder::new()),
        "mimo" => Box::new(MimoDecoder::new()),
        "moonshot" => Box::new(MoonshotDecoder::new()),
        "perplexity" => Box::new(PerplexityDecoder::new()),
        "qwen" => Box::new(QwenDecoder::new()),
        other => panic!("no decoder for {other}"),
    }
}

/// Feeds `body` cut at `cuts` (any order, any duplicates) and finishes.
fn decode_in_pieces(decoder: &mut dyn Decode, body: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut events = Vec::new();
    let mut from = 0;
    for cut in cuts {
        decoder.feed(&body[from..cut], &mut events);
        from = cut;
    }
    decoder.feed(&body[from..], &mut events);
    decoder.finish(&mut events);
    events
}

/// The answer and the thinking the events add up to.
fn final_text(events: &[StreamEvent]) -> (String, String) {
    let mut text = String::new();
    let mut reasoning = String::new();
    for event in events {
        match event {
            StreamEvent::Text(t) => text.push_str(t),
            StreamEvent::Reasoning(r) => reasoning.push_str(r),
            _ => {}
        }
    }
    (text, reasoning)
}

fn no_empty_deltas(events: &[StreamEvent]) -> bool {
    !events
        .iter()
        .any(|e| matches!(e, StreamEvent::Text(s) | StreamEvent::Reasoning(s) if s.is_empty()))
}

/// Cases per property: quick in CI; `PROPTEST_CASES=10000` for a long run.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// Cases for the never-panic properties: 10,000 each, as bad input must never hurt (a few
/// seconds per decoder in a debug build).
fn hostile() -> Config {
    Config {
        cases: 10_000,
        ..config()
    }
}

fn whole_samples_decode_to_their_events(provider: &str) {
    for sample in samples(provider) {
        let mut decoder = new_decoder(provider);
        let events = decode_in_pieces(decoder.as_mut(), &sample.body, &[]);
        assert_eq!(events, sample.expected, "{}", sample.path.display());
        assert_eq!(
            decoder.report().problem(),
            None,
            "{}",
            sample.path.display()
        );
        assert!(
            decoder.report().unknown.is_empty(),
            "{:?}",
            decoder.report()
        );
    }
}

/// The property of issue 10: wherever the network cuts a sample body, the text deltas add up
/// to the final answer and the reasoning deltas to the final thinking (and every other event
/// is the same).
fn split_samples_add_up_to_the_final_answer(provider: &str) {
    let samples = samples(provider);
    let strategy = (
        0..samples.len(),
        prop::collection::vec(any::<usize>(), 0..12),
    );
    proptest!(config(), |((index, cuts) in strategy)| {
        let sample = &samples[index];
        let mut decoder = new_decoder(provider);
        let events = decode_in_pieces(decoder.as_mut(), &sample.body, &cuts);
        prop_assert_eq!(final_text(&events), final_text(&sample.expected));
        prop_assert_eq!(coalesce(&events), coalesce(&sample.expected));
        prop_assert!(no_empty_deltas(&events));
        prop_assert_eq!(decoder.report().problem(), None);
    });
}

fn random_bytes_never_panic(provider: &str) {
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<usize>(), 0..6),
    );
    proptest!(hostile(), |((body, cuts) in strategy)| {
        let mut decoder = new_decoder(provider);
        let events = decode_in_pieces(decoder.as_mut(), &body, &cuts);
        prop_assert!(no_empty_deltas(&events));
    });
}

/// A sample with bytes replaced, inserted or removed: still no panic, no empty delta, and the
/// report says the body ended only if an end event came.
fn mutated_samples_never_panic(provider: &str) {
    let samples = samples(provider);
    let edit = (any::<usize>(), any::<u8>(), 0..3u8);
    let strategy = (
        0..samples.len(),
        prop::collection::vec(edit, 1..8),
        prop::collection::vec(any::<usize>(), 0..6),
    );
    proptest!(hostile(), |((index, edits, cuts) in strategy)| {
        let mut body = samples[index].body.clone();
        for (at, byte, kind) in edits {
            let at = at % (body.len() + 1);
            match kind {
                0 if at < body.len() => body[at] = byte,
                1 => body.insert(at, byte),
                _ if at < body.len() => {
                    body.remove(at);
                }
                _ => {}
            }
        }
        let mut decoder = new_decoder(provider);
        let events = decode_in_pieces(decoder.as_mut(), &body, &cuts);
        prop_assert!(no_empty_deltas(&events));
        let ended = events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finished(_) | StreamEvent::Error(_)));
        if decoder.report().ended {
            prop_assert!(ended, "{:?}", events);
        }
    });
}

/// The tests, once per decoder.
macro_rules! decoder_properties {
    ($($provider:ident),*) => {$(
        mod $provider {
            #[test]
            fn whole_samples_decode_to_their_events() {
                super::whole_samples_decode_to_their_events(stringify!($provider));
            }

            #[test]
            fn split_samples_add_up_to_the_final_answer() {
                super::split_samples_add_up_to_the_final_answer(stringify!($provider));
            }

            #[test]
            fn random_bytes_never_panic() {
                super::random_bytes_never_panic(stringify!($provider));
            }

            #[test]
            fn mutated_samples_never_panic() {
                super::mutated_samples_never_panic(stringify!($provider));
            }
        }
    )*};
}

decoder_properties!(
    aistudio,
    deepseek,
    glm,
    huggingchat,
    mimo,
    moonshot,
    perplexity,
    qwen
);
