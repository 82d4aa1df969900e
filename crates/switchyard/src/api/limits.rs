//! The request's own limits on the answer: `stop` sequences and `max_tokens`.
//!
//! A site has no such settings, so the gateway enforces them on the answer text as it relays
//! it. [`Gate`] sits between the lane's events and the client: it holds back only as many
//! characters as a stop sequence could still need (the longest one minus one), cuts the answer
//! before the first match, even one that spans two pieces, and cuts it at `max_tokens` answer
//! tokens (counted with [`super::tokens`], an estimate). Either cut ends the answer with its
//! finish reason (`stop`, `length`); the caller then stops the site. Thinking text passes
//! through untouched and is counted for usage, not against `max_tokens`.

use crate::providers::{FinishReason, StreamEvent};

use super::tokens;

/// OpenAI's limit on stop sequences.
pub const MAX_STOPS: usize = 4;

/// What the client asked to limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Non-empty stop sequences.
    pub stops: Vec<String>,
    /// The most answer tokens to relay.
    pub max_tokens: Option<u64>,
}

/// Applies [`Limits`] to one answer.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    /// Characters a stop sequence could still complete: the longest one's length minus one.
    hold: usize,
    /// Answer text received and not yet released.
    held: String,
    /// Answer tokens released so far.
    answer_tokens: u64,
    /// Thinking tokens seen so far.
    reasoning_tokens: u64,
    /// Set once the answer was cut.
    ended: Option<FinishReason>,
    /// The usage is wanted: tokens are counted even without `max_tokens`. Counting is the
    /// costliest step of a relayed piece (the BPE encoder), so a streaming client that asked
    /// for neither a limit nor usage does not pay for it.
    usage: bool,
}

impl Gate {
    pub fn new(limits: Limits) -> Gate {
        let hold = (limits.stops.iter())
            .map(|s| s.chars().count().saturating_sub(1))
            .max()
            .unwrap_or(0);
        Gate {
            limits,
            hold,
            held: String::new(),
            answer_tokens: 0,
            reasoning_tokens: 0,
            usage: true,
            ended: None,
        }
    }

    /// Whether the answer was cut (and why); nothing more is released after that.
    #[cfg(test)]
    pub fn ended(&self) -> Option<FinishReason> {
        self.ended
    }

    /// A gate that counts tokens only where `max_tokens` needs them (no usage is reported).
    pub fn without_usage(mut self) -> Gate {
        self.usage = false;
        self
    }

    /// Whether tokens are counted: for the usage, or for `max_tokens`.
    fn counting(&self) -> bool {
        self.usage || self.limits.max_tokens.is_some()
    }

    /// Estimated completion tokens: the answer released plus the thinking seen (0 for a gate
    /// [`Gate::without_usage`] with no `max_tokens`).
    pub fn completion_tokens(&self) -> u64 {
        self.answer_tokens + self.reasoning_tokens
    }

    /// Feeds one event; appends what may reach the client to `out`. Returns the finish reason
    /// when this event made the gate cut the answer.
    pub fn push(&mut self, event: StreamEvent, out: &mut Vec<StreamEvent>) -> Option<FinishReason> {
        if self.ended.is_some() {
            return None;
        }
        match event {
            StreamEvent::Text(text) => {
                self.held.push_str(&text);
                if let Some(at) = self.first_stop() {
                    let before = self.held[..at].to_owned();
                    self.held.clear();
                    let cut = self.release(before, out);
                    return self.end(cut.unwrap_or(FinishReason::Stop));
                }
                let keep = self.hold_start();
                let ready = self.held[..keep].to_owned();
                self.held.drain(..keep);
                let cut = self.release(ready, out);
                cut.and_then(|reason| self.end(reason))
            }
            StreamEvent::Reasoning(text) => {
                if self.counting() {
                    self.reasoning_tokens += tokens::count(&text);
                }
                out.push(StreamEvent::Reasoning(text));
                None
            }
            StreamEvent::Finished(reason) => {
                let rest = std::mem::take(&mut self.held);
                if let Some(cut) = self.release(rest, out) {
                    return self.end(cut);
                }
                out.push(StreamEvent::Finished(reason));
                None
            }
            other => {
                out.push(other);
                None
            }
        }
    }

    /// Releases the held-back text at the end of a stream that ended without a finish event
    /// (an error): the client should see every character that was not part of a stop sequence.
    pub fn flush(&mut self, out: &mut Vec<StreamEvent>) {
        if self.ended.is_none() {
            let rest = std::mem::take(&mut self.held);
            if let Some(reason) = self.release(rest, out) {
                self.end(reason);
            }
        }
    }

    fn end(&mut self, reason: FinishReason) -> Option<FinishReason> {
        self.ended = Some(reason);
        self.held.clear();
        Some(reason)
    }

    /// Byte offset of the earliest stop match in the held text.
    fn first_stop(&self) -> Option<usize> {
        (self.limits.stops.iter())
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
    }

    /// Byte offset where the last `hold` characters of the held text start.
    fn hold_start(&self) -> usize {
        if self.hold == 0 {
            return self.held.len();
        }
        (self.held.char_indices().rev())
            .nth(self.hold - 1)
            .map_or(0, |(i, _)| i)
    }

    /// Sends `text` on, within `max_tokens`; returns `Length` when the limit cut it.
    fn release(&mut self, text: String, out: &mut Vec<StreamEvent>) -> Option<FinishReason> {
        if text.is_empty() {
            return None;
        }
        if !self.counting() {
            out.push(StreamEvent::Text(text));
            return None;
        }
        let n = tokens::count(&text);
        if let Some(max) = self.limits.max_tokens
            && self.answer_tokens + n >= max
        {
            let allowed = max - self.answer_tokens;
            let head = if self.answer_tokens + n == max {
                text
            } else {
                tokens::prefix(&text, allowed)
            };
            self.answer_tokens = max;
            if !head.is_empty() {
                out.push(StreamEvent::Text(head));
            }
            return Some(FinishReason::Length);
        }
        self.answer_tokens += n;
        out.push(StreamEvent::Text(text));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> StreamEvent {
        StreamEvent::Text(s.to_owned())
    }

    /// Feeds `pieces` then a site finish; returns the released answer and the finish reason.
    fn run(limits: Limits, pieces: &[&str]) -> (String, Option<FinishReason>) {
        let mut gate = Gate::new(limits);
        let mut out = Vec::new();
        for p in pieces {
            gate.push(text(p), &mut out);
        }
        gate.push(StreamEvent::Finished(FinishReason::Stop), &mut out);
        let answer = out
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let finish = out.iter().find_map(|e| match e {
            StreamEvent::Finished(r) => Some(*r),
            _ => None,
        });
        (answer, gate.ended().or(finish))
    }

    fn stops(list: &[&str]) -> Limits {
        Limits {
            stops: list.iter().map(|s| s.to_string()).collect(),
            max_tokens: None,
        }
    }

    #[test]
    fn a_stop_split_across_pieces_is_cut_exactly() {
        let (answer, finish) = run(stops(&[" w5"]), &["Echo", " w1", " w2 w", "5 w6", " w7"]);
        assert_eq!(answer, "Echo w1 w2");
        assert_eq!(finish, Some(FinishReason::Stop));
    }

    #[test]
    fn the_earliest_of_several_stops_wins_and_no_match_passes_everything() {
        let (answer, _) = run(stops(&["zz", "b"]), &["aa", "ab", "zz"]);
        assert_eq!(answer, "aaa");
        let (answer, finish) = run(stops(&["nah"]), &["no", "p", "e!", "x"]);
        assert_eq!(
            (answer.as_str(), finish),
            ("nope!x", Some(FinishReason::Stop))
        );
        let (answer, _) = run(stops(&["nope"]), &["no", "p", "e!", "x"]);
        assert_eq!(answer, "");
        let (answer, finish) = run(stops(&["xyz"]), &["ab", "xy"]);
        assert_eq!(answer, "abxy", "held text is released at the end");
        assert_eq!(finish, Some(FinishReason::Stop));
    }

    #[test]
    fn any_split_of_an_answer_gives_the_same_cut() {
        let answer = "Once upon a time «END» and more text";
        for cut in 1..answer.len() {
            if !answer.is_char_boundary(cut) {
                continue;
            }
            let (a, b) = answer.split_at(cut);
            let (got, finish) = run(stops(&["«END»"]), &[a, b]);
            assert_eq!(got, "Once upon a time ", "cut at {cut}");
            assert_eq!(finish, Some(FinishReason::Stop));
        }
    }

    #[test]
    fn max_tokens_cuts_with_length() {
        let limits = Limits {
            stops: vec![],
            max_tokens: Some(3),
        };
        let (answer, finish) = run(limits, &["Echo hello", " w1 w2 w3 w4 w5"]);
        assert_eq!(tokens::count(&answer), 3, "{answer:?}");
        assert!("Echo hello w1 w2".starts_with(&answer), "{answer:?}");
        assert_eq!(finish, Some(FinishReason::Length));
        let limits = Limits {
            stops: vec![],
            max_tokens: Some(100),
        };
        let (answer, finish) = run(limits, &["short"]);
        assert_eq!(
            (answer.as_str(), finish),
            ("short", Some(FinishReason::Stop))
        );
    }

    #[test]
    fn thinking_passes_and_counts_only_for_usage() {
        let mut gate = Gate::new(Limits {
            stops: vec!["x".into()],
            max_tokens: Some(1),
        });
        let mut out = Vec::new();
        gate.push(StreamEvent::Reasoning("x x x x".into()), &mut out);
        assert_eq!(out, vec![StreamEvent::Reasoning("x x x x".into())]);
        assert!(gate.ended().is_none());
        assert!(gate.completion_tokens() >= 4);
        gate.push(text("hello there"), &mut out);
        assert_eq!(gate.ended(), Some(FinishReason::Length));
    }
}
