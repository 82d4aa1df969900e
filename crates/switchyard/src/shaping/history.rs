//! Earlier answers as the front-end sends them back.
//!
//! A `-reasoner` answer streamed with inline thinking (`<think>…</think>` in `content`) is saved
//! by front-ends such as SillyTavern exactly as received, and sent back in the next request's
//! assistant messages. Typed into the site, that old thinking wastes the context and steers the
//! model, so (with `formatting.strip_history_thinking`, on by default) it is removed from every
//! assistant message before the chat is formatted.

use super::ChatMessage;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Removes `<think>…</think>` blocks from the assistant messages. An unclosed `<think>` (an
/// answer cut off inside its thinking) is removed to the end of the message. Text around a block
/// is kept, and the whitespace a removed block leaves at the start of the message is trimmed.
pub fn strip_thinking(messages: &mut [ChatMessage]) {
    for message in messages.iter_mut().filter(|m| m.role == "assistant") {
        if message.content.contains(OPEN) {
            message.content = without_thinking(&message.content);
        }
    }
}

fn without_thinking(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut removed_at_start = false;
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        if out.trim().is_empty() {
            removed_at_start = true;
        }
        match rest[open + OPEN.len()..].find(CLOSE) {
            Some(close) => rest = &rest[open + OPEN.len() + close + CLOSE.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    if removed_at_start {
        out.trim_start().to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content, None)
    }

    #[test]
    fn thinking_leaves_earlier_answers_only() {
        let mut chat = vec![
            msg("user", "Q <think>mine</think> stays"),
            msg("assistant", "<think>plan the reply</think>\n\nHello!"),
            msg("assistant", "A<think>x</think>B<think>y</think>C"),
            msg("assistant", "cut off <think>never closed"),
            msg("assistant", "no thinking here"),
        ];
        strip_thinking(&mut chat);
        let got: Vec<&str> = chat.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            got,
            [
                "Q <think>mine</think> stays",
                "Hello!",
                "ABC",
                "cut off ",
                "no thinking here"
            ]
        );
    }
}
