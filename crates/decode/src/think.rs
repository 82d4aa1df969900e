//! Thinking inline in the answer text, between `<think>` and `</think>`, as MiMo and
//! HuggingChat's reasoning models stream it.
//!
//! A tag may be cut across two pieces of the stream, so a tail that may be the start of a tag
//! is held back until the next piece shows what it is; at the end of the body a held tail is
//! plain text of the side it is on.

const OPEN_THINK: &str = "<think>";
const CLOSE_THINK: &str = "</think>";

/// A piece of content, on one side of the `<think>` tags.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Reasoning(String),
    Text(String),
}

/// Splits content that arrives in pieces at the `<think>` / `</think>` tags.
#[derive(Debug, Default)]
pub(crate) struct ThinkSplitter {
    /// Whether the last piece ended inside `<think>`.
    inside: bool,
    /// A tail that may be the start of a cut tag, kept until the next piece.
    held: String,
}

impl ThinkSplitter {
    pub(crate) fn push(&mut self, piece: &str) -> Vec<Piece> {
        let mut text = std::mem::take(&mut self.held);
        text.push_str(piece);
        let mut out = Vec::new();
        let mut rest = text.as_str();
        loop {
            let tag = if self.inside { CLOSE_THINK } else { OPEN_THINK };
            if let Some(at) = rest.find(tag) {
                self.emit(&rest[..at], &mut out);
                rest = &rest[at + tag.len()..];
                self.inside = !self.inside;
                continue;
            }
            // Tags are ASCII, so the cut falls on a character boundary.
            let (body, tail) = rest.split_at(rest.len() - cut_tag_len(rest, tag));
            self.emit(body, &mut out);
            self.held = tail.to_owned();
            return out;
        }
    }

    /// The held tail as plain text of the current side.
    pub(crate) fn flush(&mut self) -> Vec<Piece> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        self.emit(&held, &mut out);
        out
    }

    fn emit(&self, text: &str, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        out.push(if self.inside {
            Piece::Reasoning(text.to_owned())
        } else {
            Piece::Text(text.to_owned())
        });
    }
}

/// The length of the longest end of `text` that is a proper start of the ASCII `tag`.
fn cut_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&len| text.ends_with(&tag[..len]))
        .unwrap_or(0)
}
