//! Per-message macros: `[[think]]`, `[[nosearch]]`, `[[r3]]` … typed into a message to change
//! one request's switches (behavior-spec §3.10).
//!
//! # Rules
//! - **Syntax.** `[[`, optional spaces/tabs, a name of ASCII letters, digits, `_` and `-`,
//!   optional spaces/tabs, `]]` (the reference's `\[\[\s*([a-zA-Z0-9_-]+)\s*\]\]`, except that
//!   a macro may not span lines). The name is matched ASCII case-insensitively: `[[ NoThink ]]`
//!   is `[[nothink]]`. A name this provider does not know is not a macro and stays in the text
//!   untouched, like any other `[[x]]`.
//! - **Where.** Chat requests: only the **last `user` message** is read and cleaned
//!   ([`strip_chat_macros`]); macros elsewhere stay as text. Text completions: the whole raw
//!   prompt ([`extract_macros`]). Either way, when two macros set the same switch the later
//!   one wins.
//! - **Which.** Every provider knows the shared set (the reference's
//!   `COMMON_REQUEST_MACRO_ACTIONS`):
//!
//!   | Macro | Sets |
//!   |---|---|
//!   | `think`, `r1` | thinking on |
//!   | `nothink`, `no_think`, `r0` | thinking off |
//!   | `search` / `nosearch`, `no_search`, `no-search` | search on / off |
//!   | `file`, `sendfile` / `nofile`, `no_file` | send as text file on / off |
//!
//!   A provider's own macros (`macros` of its spec, `providers/<p>/mod.rs`) are looked up
//!   before the shared set and may change a shared name's effects; one provider's macros are
//!   unknown on the others and stay in the text.
//! - **Whitespace.** A removed macro takes the spaces/tabs after it with it when it stood at
//!   the start of a line or after whitespace (`a [[think]] b` → `a b`, `[[think]] b` → `b`);
//!   at the end of a line the spaces/tabs before it go too (`a [[think]]` → `a`). Indentation
//!   and every line without a macro are left alone. A line that held only macros and
//!   whitespace is removed with its line break. Text without a recognised macro comes back
//!   byte for byte. (The reference just deletes the macro and leaves the whitespace.)
//!
//! Pure: no IO, no settings; the caller applies [`MacroOverrides`] over the provider settings.

use super::ChatMessage;
use crate::models::{ProviderKind, ThinkingTier};

/// The switches the macros of one request set; `None` leaves the setting alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacroOverrides {
    /// Thinking / DeepThink / Deep Think on or off.
    pub thinking: Option<bool>,
    /// Web search on or off.
    pub search: Option<bool>,
    /// Send the prompt as a `.txt` upload instead of typing it.
    pub send_as_file: Option<bool>,
    /// URL Context on or off.
    pub url_context: Option<bool>,
    /// Thinking Level tier (`[[r0]]`…`[[r4]]`), mapped per model by the driver.
    pub tier: Option<ThinkingTier>,
    /// CAARS: only ever `Some(false)` (`[[nocaars]]`), it can be turned off, not on.
    pub caars: Option<bool>,
}

impl MacroOverrides {
    /// Whether no macro set anything.
    pub fn is_empty(&self) -> bool {
        *self == MacroOverrides::default()
    }
}

/// A provider's macro table: lowercase names and their effects.
pub type MacroTable = &'static [(&'static str, &'static [Effect])];

/// One effect of a macro; a macro has one or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Thinking(bool),
    Search(bool),
    SendAsFile(bool),
    UrlContext(bool),
    Tier(ThinkingTier),
    Caars(bool),
}

impl Effect {
    fn apply(self, overrides: &mut MacroOverrides) {
        match self {
            Effect::Thinking(on) => overrides.thinking = Some(on),
            Effect::Search(on) => overrides.search = Some(on),
            Effect::SendAsFile(on) => overrides.send_as_file = Some(on),
            Effect::UrlContext(on) => overrides.url_context = Some(on),
            Effect::Tier(tier) => overrides.tier = Some(tier),
            Effect::Caars(on) => overrides.caars = Some(on),
        }
    }
}

pub const THINK_ON: &[Effect] = &[Effect::Thinking(true)];
pub const THINK_OFF: &[Effect] = &[Effect::Thinking(false)];
pub const SEARCH_ON: &[Effect] = &[Effect::Search(true)];
pub const SEARCH_OFF: &[Effect] = &[Effect::Search(false)];
pub const FILE_ON: &[Effect] = &[Effect::SendAsFile(true)];
pub const FILE_OFF: &[Effect] = &[Effect::SendAsFile(false)];
pub const URL_ON: &[Effect] = &[Effect::UrlContext(true)];
pub const URL_OFF: &[Effect] = &[Effect::UrlContext(false)];

/// The shared set, lowercase names.
const SHARED: MacroTable = &[
    ("think", THINK_ON),
    ("r1", THINK_ON),
    ("nothink", THINK_OFF),
    ("no_think", THINK_OFF),
    ("r0", THINK_OFF),
    ("search", SEARCH_ON),
    ("nosearch", SEARCH_OFF),
    ("no_search", SEARCH_OFF),
    ("no-search", SEARCH_OFF),
    ("file", FILE_ON),
    ("sendfile", FILE_ON),
    ("nofile", FILE_OFF),
    ("no_file", FILE_OFF),
];

/// The effects of macro `name` (any case) on `provider`, or `None` when it is not a macro there.
fn lookup(provider: ProviderKind, name: &str) -> Option<&'static [Effect]> {
    crate::providers::spec(provider)
        .requests
        .macros
        .iter()
        .chain(SHARED)
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, effects)| *effects)
}

/// Removes the macros `provider` knows from `text` and returns the cleaned text and what they
/// set, the later macro winning. Used as is for a text-completion prompt.
pub fn extract_macros(provider: ProviderKind, text: &str) -> (String, MacroOverrides) {
    let mut overrides = MacroOverrides::default();
    let mut kept: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let (line, cr) = match raw.strip_suffix('\r') {
            Some(line) => (line, "\r"),
            None => (raw, ""),
        };
        let (cleaned, removed) = clean_line(provider, line, &mut overrides);
        if removed && cleaned.trim().is_empty() {
            continue;
        }
        kept.push(format!("{cleaned}{cr}"));
    }
    (kept.join("\n"), overrides)
}

/// Reads and removes the macros of the last `user` message, in place. Other messages are not
/// touched, and a chat without a user message gives no overrides.
pub fn strip_chat_macros(provider: ProviderKind, messages: &mut [ChatMessage]) -> MacroOverrides {
    let Some(last_user) = messages.iter_mut().rev().find(|m| m.role == "user") else {
        return MacroOverrides::default();
    };
    let (cleaned, overrides) = extract_macros(provider, &last_user.content);
    if !overrides.is_empty() {
        last_user.content = cleaned;
    }
    overrides
}

/// Cleans one line (no `\n`), applying the effects in order. Returns the line and whether a
/// macro was removed from it.
fn clean_line(
    provider: ProviderKind,
    line: &str,
    overrides: &mut MacroOverrides,
) -> (String, bool) {
    let mut out = String::with_capacity(line.len());
    let mut removed = false;
    let mut rest = line;
    while let Some(open) = rest.find("[[") {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let Some((name, len)) = parse_macro(rest) else {
            out.push('[');
            rest = &rest[1..];
            continue;
        };
        let Some(effects) = lookup(provider, name) else {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        };
        for effect in effects {
            effect.apply(overrides);
        }
        removed = true;
        let after = &rest[len..];
        let after_trimmed = after.trim_start_matches(is_blank);
        if after_trimmed.is_empty() {
            // End of line: drop the whitespace on both sides.
            out.truncate(out.trim_end_matches(is_blank).len());
            rest = after_trimmed;
        } else if out.is_empty() || out.ends_with(is_blank) {
            // Start of line or after whitespace: the whitespace before it is enough.
            rest = after_trimmed;
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    (out, removed)
}

/// Parses `[[ name ]]` at the start of `text`: the name and the length of the whole macro.
fn parse_macro(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix("[[")?;
    let name_start = inner.trim_start_matches(is_blank);
    let name_len = name_start
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(name_start.len());
    if name_len == 0 {
        return None;
    }
    let (name, after_name) = name_start.split_at(name_len);
    let close = after_name.trim_start_matches(is_blank).strip_prefix("]]")?;
    Some((name, text.len() - close.len()))
}

/// Spaces and tabs: the whitespace a macro may sit in without changing lines.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ThinkingTier::{R0, R1, R2, R3, R4};

    const ALL_BUT_AI_STUDIO: [ProviderKind; 7] = [
        ProviderKind::DeepSeek,
        ProviderKind::Glm,
        ProviderKind::Moonshot,
        ProviderKind::Qwen,
        ProviderKind::Perplexity,
        ProviderKind::HuggingChat,
        ProviderKind::Mimo,
    ];

    fn set(f: impl FnOnce(&mut MacroOverrides)) -> MacroOverrides {
        let mut o = MacroOverrides::default();
        f(&mut o);
        o
    }

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content, None)
    }

    #[test]
    fn shared_set_on_every_provider_but_ai_studio() {
        let table: Vec<(&str, MacroOverrides)> = vec![
            ("think", set(|o| o.thinking = Some(true))),
            ("r1", set(|o| o.thinking = Some(true))),
            ("nothink", set(|o| o.thinking = Some(false))),
            ("no_think", set(|o| o.thinking = Some(false))),
            ("r0", set(|o| o.thinking = Some(false))),
            ("search", set(|o| o.search = Some(true))),
            ("nosearch", set(|o| o.search = Some(false))),
            ("no_search", set(|o| o.search = Some(false))),
            ("no-search", set(|o| o.search = Some(false))),
            ("file", set(|o| o.send_as_file = Some(true))),
            ("sendfile", set(|o| o.send_as_file = Some(true))),
            ("nofile", set(|o| o.send_as_file = Some(false))),
            ("no_file", set(|o| o.send_as_file = Some(false))),
        ];
        for provider in ALL_BUT_AI_STUDIO {
            for (name, expected) in &table {
                let text = format!("Hello [[{name}]] there");
                assert_eq!(
                    extract_macros(provider, &text),
                    ("Hello there".to_owned(), *expected),
                    "{provider} {name}"
                );
            }
        }
    }

    #[test]
    fn ai_studio_set() {
        let table: Vec<(&str, MacroOverrides)> = vec![
            ("think", set(|o| o.thinking = Some(true))),
            ("nothink", set(|o| o.thinking = Some(false))),
            ("no_think", set(|o| o.thinking = Some(false))),
            (
                "r0",
                set(|o| {
                    o.thinking = Some(false);
                    o.tier = Some(R0);
                }),
            ),
            ("r1", set(|o| o.tier = Some(R1))),
            ("r2", set(|o| o.tier = Some(R2))),
            ("r3", set(|o| o.tier = Some(R3))),
            ("r4", set(|o| o.tier = Some(R4))),
            ("search", set(|o| o.search = Some(true))),
            ("nosearch", set(|o| o.search = Some(false))),
            ("no_search", set(|o| o.search = Some(false))),
            ("no-search", set(|o| o.search = Some(false))),
            ("url", set(|o| o.url_context = Some(true))),
            ("urlcontext", set(|o| o.url_context = Some(true))),
            ("url_context", set(|o| o.url_context = Some(true))),
            ("nourl", set(|o| o.url_context = Some(false))),
            ("no_url", set(|o| o.url_context = Some(false))),
            ("no-url", set(|o| o.url_context = Some(false))),
            ("nocaars", set(|o| o.caars = Some(false))),
            ("nocars", set(|o| o.caars = Some(false))),
            ("file", set(|o| o.send_as_file = Some(true))),
            ("sendfile", set(|o| o.send_as_file = Some(true))),
            ("nofile", set(|o| o.send_as_file = Some(false))),
            ("no_file", set(|o| o.send_as_file = Some(false))),
        ];
        for (name, expected) in table {
            let text = format!("Hello [[{name}]] there");
            assert_eq!(
                extract_macros(ProviderKind::AiStudio, &text),
                ("Hello there".to_owned(), expected),
                "{name}"
            );
        }
    }

    #[test]
    fn macros_of_the_other_set_stay() {
        for provider in ALL_BUT_AI_STUDIO {
            for name in [
                "r2",
                "r3",
                "r4",
                "url",
                "urlcontext",
                "url_context",
                "nourl",
                "no_url",
                "no-url",
                "nocaars",
                "nocars",
            ] {
                let text = format!("Hello [[{name}]] there");
                assert_eq!(
                    extract_macros(provider, &text),
                    (text.clone(), MacroOverrides::default()),
                    "{provider} {name}"
                );
            }
        }
    }

    #[test]
    fn spelling_case_and_inner_whitespace() {
        // (text, cleaned, thinking)
        let table: [(&str, &str, Option<bool>); 12] = [
            ("[[THINK]] x", "x", Some(true)),
            ("[[NoThink]] x", "x", Some(false)),
            ("[[ nothink ]] x", "x", Some(false)),
            ("[[\tno_think\t]] x", "x", Some(false)),
            ("[[  R1]] x", "x", Some(true)),
            // Not macros: inner space, missing bracket, empty, a newline inside.
            ("[[no think]] x", "[[no think]] x", None),
            ("[think] x", "[think] x", None),
            ("[[think] x", "[[think] x", None),
            ("[[]] x", "[[]] x", None),
            ("[[ think\n]] x", "[[ think\n]] x", None),
            // A stray bracket before a macro stays.
            ("[[[think]]] x", "[] x", Some(true)),
            ("x [[think]]]", "x ]", Some(true)),
        ];
        for (text, cleaned, thinking) in table {
            let (out, overrides) = extract_macros(ProviderKind::DeepSeek, text);
            assert_eq!(
                (out.as_str(), overrides.thinking),
                (cleaned, thinking),
                "{text:?}"
            );
        }
    }

    #[test]
    fn unknown_macros_stay_untouched() {
        let text = "Keep [[ ooc ]] and [[IR2u]] and [[x-y_z]] and [[no_think ]]!";
        let (out, overrides) = extract_macros(ProviderKind::Glm, text);
        assert_eq!(out, "Keep [[ ooc ]] and [[IR2u]] and [[x-y_z]] and !");
        assert_eq!(overrides, set(|o| o.thinking = Some(false)));
    }

    #[test]
    fn whitespace_is_tidied() {
        let table: [(&str, &str); 16] = [
            ("Hello [[think]] world", "Hello world"),
            ("Hello [[think]]", "Hello"),
            ("Hello [[think]]   ", "Hello"),
            ("[[think]] Hello", "Hello"),
            ("\t[[think]]\tHello", "\tHello"),
            ("  indented [[think]] text", "  indented text"),
            ("Hello[[think]] world", "Hello world"),
            ("Hello [[think]]world", "Hello world"),
            ("Hello[[think]]world", "Helloworld"),
            ("a [[think]] [[search]] b", "a b"),
            ("a [[think]][[search]] b", "a b"),
            ("[[think]]\nHello", "Hello"),
            ("Hello\n[[think]]", "Hello"),
            ("Hello\n  [[think]] [[search]]  \nBye", "Hello\nBye"),
            ("Hello\r\n[[think]]\r\nBye\r\n", "Hello\r\nBye\r\n"),
            ("[[think]]", ""),
        ];
        for (text, cleaned) in table {
            assert_eq!(
                extract_macros(ProviderKind::DeepSeek, text).0,
                cleaned,
                "{text:?}"
            );
        }
    }

    #[test]
    fn text_without_macros_is_unchanged() {
        for text in ["", "\n\n  spaced  \n", "Hello  [[ooc]]  world \n", "a\r\nb"] {
            assert_eq!(
                extract_macros(ProviderKind::DeepSeek, text),
                (text.to_owned(), MacroOverrides::default())
            );
        }
    }

    #[test]
    fn the_later_macro_wins() {
        // (provider, prompt, cleaned, overrides)
        let table: Vec<(ProviderKind, &str, &str, MacroOverrides)> = vec![
            (
                ProviderKind::DeepSeek,
                "[[think]] Story so far.\nMore. [[nothink]] [[search]]\n[[nosearch]]",
                "Story so far.\nMore.",
                set(|o| {
                    o.thinking = Some(false);
                    o.search = Some(false);
                }),
            ),
            (
                ProviderKind::Qwen,
                "[[nothink]][[r1]] go [[file]] [[no_file]] [[sendfile]]",
                "go",
                set(|o| {
                    o.thinking = Some(true);
                    o.send_as_file = Some(true);
                }),
            ),
            (
                ProviderKind::AiStudio,
                "[[r4]] [[r2]] [[url]] [[no-url]] go [[nocaars]]",
                "go",
                set(|o| {
                    o.tier = Some(R2);
                    o.url_context = Some(false);
                    o.caars = Some(false);
                }),
            ),
            (
                ProviderKind::AiStudio,
                "[[r0]] [[r3]] go",
                "go",
                set(|o| {
                    o.thinking = Some(false);
                    o.tier = Some(R3);
                }),
            ),
            (
                ProviderKind::AiStudio,
                "[[r3]] [[r0]] [[think]] go",
                "go",
                set(|o| {
                    o.thinking = Some(true);
                    o.tier = Some(R0);
                }),
            ),
        ];
        for (provider, prompt, cleaned, expected) in table {
            assert_eq!(
                extract_macros(provider, prompt),
                (cleaned.to_owned(), expected),
                "{prompt:?}"
            );
        }
    }

    #[test]
    fn chat_reads_only_the_last_user_message() {
        let mut chat = vec![
            msg("system", "Rules [[think]]"),
            msg("user", "Earlier [[search]]"),
            msg("assistant", "Reply [[nosearch]]"),
            msg("user", "Now [[nothink]] please"),
            msg("assistant", "Prefill [[think]]"),
        ];
        let overrides = strip_chat_macros(ProviderKind::DeepSeek, &mut chat);
        assert_eq!(overrides, set(|o| o.thinking = Some(false)));
        assert_eq!(
            chat,
            vec![
                msg("system", "Rules [[think]]"),
                msg("user", "Earlier [[search]]"),
                msg("assistant", "Reply [[nosearch]]"),
                msg("user", "Now please"),
                msg("assistant", "Prefill [[think]]"),
            ]
        );
    }

    #[test]
    fn chat_without_macros_or_user_is_untouched() {
        let original = vec![msg("system", "[[think]]"), msg("assistant", "[[search]]")];
        let mut chat = original.clone();
        assert!(strip_chat_macros(ProviderKind::Glm, &mut chat).is_empty());
        assert_eq!(chat, original);

        let original = vec![msg("user", "Hi  [[ooc]] \n")];
        let mut chat = original.clone();
        assert!(strip_chat_macros(ProviderKind::Glm, &mut chat).is_empty());
        assert_eq!(chat, original);
    }

    #[test]
    fn chat_keeps_the_name_and_can_empty_the_message() {
        let mut chat = vec![ChatMessage {
            role: "user".into(),
            content: "[[nothink]]\n[[search]]".into(),
            name: Some("Bob".into()),
        }];
        let overrides = strip_chat_macros(ProviderKind::Moonshot, &mut chat);
        assert_eq!(
            overrides,
            set(|o| {
                o.thinking = Some(false);
                o.search = Some(true);
            })
        );
        assert_eq!(
            chat,
            vec![ChatMessage {
                role: "user".into(),
                content: String::new(),
                name: Some("Bob".into()),
            }]
        );
    }
}
