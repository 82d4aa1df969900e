//! The deterministic reply every replica streams, so tests can assert it end to end.
//!
//! - Reasoning (only with thinking on): `Thinking about "<first 60 chars of the prompt, line
//!   breaks as spaces>" (search <on|off>).`, streamed in 3 roughly equal pieces. A site that
//!   streams summaries sends that text as the title, then a fixed thought
//!   ([`Site::summary_thought`]).
//! - Answer piece 0: `Echo [<site>, model=<model>, thinking=<on|off>, search=<on|off>]: <prompt>`;
//!   pieces 1..N-1: ` w<i>`, or ` «t=<µs>»` with `replica:stamp` (µs on [`crate::clock::monotonic_us`]).
//!
//! [`Expected`] computes the text a client should end up with for a logged request.

use crate::clock::monotonic_us;
use crate::faults::Plan;
use crate::knobs::Knobs;
use crate::log::ReceivedRequest;
use crate::site::Site;

/// How many characters of the prompt the reasoning quotes.
const REASONING_PROMPT_CHARS: usize = 60;

/// The toggles and text one reply depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub site: Site,
    pub model: &'a str,
    pub thinking: bool,
    pub search: bool,
    pub prompt: &'a str,
}

/// One answer piece, rendered when it is emitted (a stamp must carry the emission time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Fixed text.
    Text(String),
    /// ` «t=<µs at emission>»`, on [`crate::clock::monotonic_us`].
    Stamp,
}

impl Piece {
    /// The text of this piece, now.
    pub(crate) fn render(&self) -> String {
        match self {
            Piece::Text(text) => text.clone(),
            Piece::Stamp => format!(" «t={}»", monotonic_us()),
        }
    }
}

fn on_off(flag: bool) -> &'static str {
    if flag { "on" } else { "off" }
}

/// The full reasoning text for a prompt.
pub(crate) fn reasoning(prompt: &str, search: bool) -> String {
    let head: String = prompt
        .chars()
        .take(REASONING_PROMPT_CHARS)
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("Thinking about \"{head}\" (search {}).", on_off(search))
}

/// The reasoning split into 3 pieces of roughly equal character counts.
pub(crate) fn reasoning_pieces(prompt: &str, search: bool) -> [String; 3] {
    let text = reasoning(prompt, search);
    let chars: Vec<char> = text.chars().collect();
    let third = chars.len() / 3;
    [
        chars[..third].iter().collect(),
        chars[third..2 * third].iter().collect(),
        chars[2 * third..].iter().collect(),
    ]
}

/// The first answer piece: the echo line.
pub(crate) fn echo(subject: &Subject<'_>) -> String {
    format!(
        "Echo [{}, model={}, thinking={}, search={}]: {}",
        subject.site.name(),
        subject.model,
        on_off(subject.thinking),
        on_off(subject.search),
        subject.prompt
    )
}

/// All `chunks` answer pieces.
pub(crate) fn answer_pieces(subject: &Subject<'_>, chunks: usize, stamp: bool) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(chunks.max(1));
    pieces.push(Piece::Text(echo(subject)));
    for i in 1..chunks {
        pieces.push(if stamp {
            Piece::Stamp
        } else {
            Piece::Text(format!(" w{i}"))
        });
    }
    pieces
}

/// What a client should receive for one logged request (ignoring faults and stamps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The whole reasoning text, when thinking was on and the site streams it.
    pub reasoning: Option<String>,
    /// The whole answer text.
    pub answer: String,
}

impl Expected {
    /// The reply the replica of `site` streams for `request` under `knobs` (directives in the
    /// prompt applied). With `replica:stamp` the answer's stamped pieces cannot be predicted;
    /// compare only the echo line then.
    pub fn for_request(site: Site, request: &ReceivedRequest, knobs: Knobs) -> Expected {
        let subject = Subject {
            site,
            model: &request.model,
            thinking: request.thinking,
            search: request.search,
            prompt: &request.prompt,
        };
        let echoed = site.echo_model(request);
        let subject = Subject {
            model: &echoed,
            ..subject
        };
        let plan = Plan::new(knobs, &request.prompt);
        Expected {
            reasoning: (request.thinking && site.streams_thinking()).then(|| {
                let text = reasoning(&request.prompt, request.search);
                match site.summary_thought() {
                    Some(thought) => format!("{text}\n{thought}"),
                    None => text,
                }
            }),
            answer: answer_pieces(&subject, plan.chunks, false)
                .iter()
                .map(Piece::render)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(prompt: &str) -> Subject<'_> {
        Subject {
            site: Site::DeepSeek,
            model: "default",
            thinking: true,
            search: false,
            prompt,
        }
    }

    #[test]
    fn reasoning_quotes_sixty_chars_on_one_line() {
        let prompt = format!("a\nb{}", "x".repeat(100));
        let text = reasoning(&prompt, true);
        assert_eq!(
            text,
            format!("Thinking about \"a b{}\" (search on).", "x".repeat(57))
        );
        let pieces = reasoning_pieces(&prompt, true);
        assert_eq!(pieces.concat(), text);
        let lens: Vec<usize> = pieces.iter().map(|p| p.chars().count()).collect();
        assert!(
            lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 2,
            "{lens:?}"
        );
    }

    #[test]
    fn answer_has_echo_then_words_or_stamps() {
        let s = subject("hi");
        let words: String = answer_pieces(&s, 3, false)
            .iter()
            .map(Piece::render)
            .collect();
        assert_eq!(
            words,
            "Echo [DeepSeek, model=default, thinking=on, search=off]: hi w1 w2"
        );
        let stamped = answer_pieces(&s, 2, true);
        assert_eq!(stamped[1], Piece::Stamp);
        let rendered = stamped[1].render();
        assert!(
            rendered.starts_with(" «t=") && rendered.ends_with('»'),
            "{rendered}"
        );
    }
}
