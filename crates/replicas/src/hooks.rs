//! Page hook changes: a replica can play a site that renamed one of the hooks a driver uses.
//!
//! A site redesign renames class names, or changes the accessible names and texts, or both.
//! [`crate::ReplicaServer::change_hook`] makes the replica's page do that to one hook, so a test
//! can check that a driver survives a renamed class (it finds the hook the other way) and that
//! `switchyard doctor` names a hook that cannot be found any more. The driver is not told: the
//! page itself changes. The hook names are those of the page's own table (in its `app.js`):
//!
//! - DeepSeek: `chat_box`, `new_chat`, `model_picker`, `deep_think`, `search`, `send`.
//! - GLM: `chat_box`, `new_chat`, `model_picker`, `deep_think`, `search`, `send`.
//! - MiMo: `chat_box`, `new_chat`, `model_picker`, `search`, `send`.
//! - Perplexity: `chat_box`, `new_chat`, `send`.
//! - AI Studio: `chat_box`, `send`.
//! - Qwen, HuggingChat: none yet; their pages ignore a change.
//!
//! The page reads the change from `<meta name="replica-hook-change" content="HOOK:HOW">`, which
//! the server fills in when it serves the page.

use serde::{Deserialize, Serialize};

/// What changed about one hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookChange {
    /// Its role, accessible name, placeholder or text changed (its class names stayed).
    Name,
    /// Its class names and id changed (its role and text stayed).
    Class,
    /// Both: nothing a driver knew about it is left.
    All,
}

impl HookChange {
    fn word(self) -> &'static str {
        match self {
            HookChange::Name => "name",
            HookChange::Class => "class",
            HookChange::All => "all",
        }
    }
}

const PLACEHOLDER: &str = r#"<meta name="replica-hook-change" content="">"#;

/// The page with the change (if any) written into its meta tag.
pub(crate) fn page(html: &str, change: Option<&(String, HookChange)>) -> String {
    match change {
        None => html.to_owned(),
        Some((hook, how)) => {
            let hook: String = hook
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            html.replacen(
                PLACEHOLDER,
                &format!(
                    r#"<meta name="replica-hook-change" content="{hook}:{}">"#,
                    how.word()
                ),
                1,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_lands_in_the_meta_tag() {
        let html = format!("<head>{PLACEHOLDER}</head>");
        assert_eq!(page(&html, None), html);
        let changed = page(&html, Some(&("send\"x".into(), HookChange::All)));
        assert_eq!(
            changed,
            r#"<head><meta name="replica-hook-change" content="sendx:all"></head>"#
        );
    }
}
