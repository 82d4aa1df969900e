//! `ProviderKind`: the closed set of provider sites and every name each one goes by.
//!
//! One provider has four spellings, each with a single use:
//! - the **model prefix** (`glm`) starts its behavior IDs and is the `owned_by` of `/v1/models`;
//! - the **display name** (`GLM Chat`) appears in logs, lane labels and error texts;
//! - the **storage key** (`glm_chat`) names profile folders, slot IDs (`glm_chat:1`) and stored
//!   accounts, and never changes once data has been written under it;
//! - the **aliases** are what a user may type in a setting; [`ProviderKind::from_name`] accepts
//!   them all (behavior-spec Appendix B).

use std::fmt;

/// One provider chat web app that switchyard can drive.
///
/// The variant order is the fixed lane order of behavior-spec §4.2; [`ProviderKind::ALL`]
/// repeats it for iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// DeepSeek (`chat.deepseek.com`): Instant and Expert modes, no real-model IDs.
    DeepSeek,
    /// GLM Chat (`chat.z.ai`).
    Glm,
    /// Moonshot / Kimi (`kimi.ai`): Kimi K3, K3 Swarm, K2.8, Instant.
    Moonshot,
    /// QwenLM (`chat.qwen.ai`).
    Qwen,
    /// Perplexity (`perplexity.ai`).
    Perplexity,
    /// HuggingChat (`huggingface.co/chat`): its model list is read live after login.
    HuggingChat,
    /// Google AI Studio (`aistudio.google.com`): also takes Thinking Level suffixes.
    AiStudio,
    /// Xiaomi MiMo (`aistudio.xiaomimimo.com`).
    Mimo,
    /// The dummy provider (`[dummy] lanes = N`, `switchyard demo --dummy-lanes N`): lanes with
    /// no browser and no site behind them, answering by model ID, for tests and load runs. Not
    /// in [`ProviderKind::ALL`] (that is the sites), not a `provider =` or `[providers.*]` name.
    Dummy,
}

impl ProviderKind {
    /// Every provider, in the fixed order of behavior-spec §4.2.
    pub const ALL: [ProviderKind; 8] = [
        ProviderKind::DeepSeek,
        ProviderKind::Glm,
        ProviderKind::Moonshot,
        ProviderKind::Qwen,
        ProviderKind::Perplexity,
        ProviderKind::HuggingChat,
        ProviderKind::AiStudio,
        ProviderKind::Mimo,
    ];

    /// The model-ID prefix (`glm` in `glm-auto`), also the `owned_by` value of `/v1/models`.
    pub const fn prefix(self) -> &'static str {
        match self {
            ProviderKind::DeepSeek => "deepseek",
            ProviderKind::Glm => "glm",
            ProviderKind::Moonshot => "moonshot",
            ProviderKind::Qwen => "qwen",
            ProviderKind::Perplexity => "perplexity",
            ProviderKind::HuggingChat => "huggingchat",
            ProviderKind::AiStudio => "aistudio",
            ProviderKind::Mimo => "mimo",
            ProviderKind::Dummy => "dummy",
        }
    }

    /// The human name used in logs, lane labels and every API error text.
    pub const fn display_name(self) -> &'static str {
        match self {
            ProviderKind::DeepSeek => "DeepSeek",
            ProviderKind::Glm => "GLM Chat",
            ProviderKind::Moonshot => "Moonshot",
            ProviderKind::Qwen => "QwenLM",
            ProviderKind::Perplexity => "Perplexity",
            ProviderKind::HuggingChat => "HuggingChat",
            ProviderKind::AiStudio => "Google AI Studio",
            ProviderKind::Mimo => "Xiaomi MiMo",
            ProviderKind::Dummy => "Dummy",
        }
    }

    /// The stable key for on-disk data and slot IDs (`moonshot_kimi:1`).
    pub const fn storage_key(self) -> &'static str {
        match self {
            ProviderKind::DeepSeek => "deepseek",
            ProviderKind::Glm => "glm_chat",
            ProviderKind::Moonshot => "moonshot_kimi",
            ProviderKind::Qwen => "qwenlm",
            ProviderKind::Perplexity => "perplexity",
            ProviderKind::HuggingChat => "huggingchat",
            ProviderKind::AiStudio => "aistudio",
            ProviderKind::Mimo => "mimo",
            ProviderKind::Dummy => "dummy",
        }
    }

    /// Extra names a user may write for this provider, lowercase (behavior-spec Appendix B plus
    /// the reference's enum names such as `qwen_lm` and `ai_studio`). The prefix, storage key and
    /// display name are accepted too and are not repeated here.
    const fn aliases(self) -> &'static [&'static str] {
        match self {
            ProviderKind::DeepSeek => &["deepseek"],
            ProviderKind::Glm => &[
                "glm", "glm_chat", "glm chat", "z.ai", "zai", "zhipu", "zhipuai",
            ],
            ProviderKind::Moonshot => &[
                "moonshot",
                "moonshot_kimi",
                "moonshot kimi",
                "moonshot / kimi",
                "moonshot/kimi",
                "kimi",
                "kimi ai",
                "kimi-ai",
            ],
            ProviderKind::Qwen => &[
                "qwen",
                "qwenlm",
                "qwen_lm",
                "qwen lm",
                "qwen-lm",
                "qwen ai",
                "qwenai",
                "qwen chat",
                "chat.qwen.ai",
            ],
            ProviderKind::Perplexity => &[
                "perplexity",
                "perplexity ai",
                "perplexity.ai",
                "pplx",
                "pplx ai",
                "pplx.ai",
            ],
            ProviderKind::HuggingChat => &[
                "huggingchat",
                "hugging chat",
                "hugging-chat",
                "huggingface",
                "hugging face",
                "hugging-face",
                "hf",
                "hf chat",
                "huggingface chat",
                "hugging face chat",
                "huggingface.co/chat",
            ],
            ProviderKind::AiStudio => &[
                "google ai studio",
                "google-ai-studio",
                "google_ai_studio",
                "ai studio",
                "ai-studio",
                "ai_studio",
                "aistudio",
                "aistudio.google.com",
                "maker suite",
                "makersuite",
                "gemini",
                "gemini web",
            ],
            ProviderKind::Mimo => &[
                "mimo",
                "xiaomi mimo",
                "xiaomi-mimo",
                "xiaomi_mimo",
                "xiaomimimo",
                "aistudio.xiaomimimo.com",
            ],
            ProviderKind::Dummy => &[],
        }
    }

    /// Parses a provider name as a user writes it in a setting: the prefix, storage key,
    /// display name or any alias, case-insensitive and trimmed.
    ///
    /// Returns `None` for an empty or unknown name; the caller decides the fallback
    /// (the reference treats both as DeepSeek, warning on the unknown one).
    pub fn from_name(name: &str) -> Option<ProviderKind> {
        let wanted = name.trim();
        if wanted.is_empty() {
            return None;
        }
        ProviderKind::ALL.into_iter().find(|kind| {
            [kind.prefix(), kind.storage_key(), kind.display_name()]
                .into_iter()
                .chain(kind.aliases().iter().copied())
                .any(|candidate| candidate.eq_ignore_ascii_case(wanted))
        })
    }

    /// Whether the provider exposes real-model IDs when Universal Model Names is on
    /// (behavior-spec §3.4): every provider with a UI model picker, so not DeepSeek. Moonshot's
    /// picker (Kimi K3, …) gives them too (provider-wire-formats §4.3: `kimi-k3-*`, …).
    pub const fn has_real_models(self) -> bool {
        !matches!(self, ProviderKind::DeepSeek | ProviderKind::Dummy)
    }

    /// Whether the provider's lanes are pages in Chromium. Only the dummy provider's are not:
    /// its lanes answer from a script of their own (`lanes::dummy`).
    pub const fn runs_in_browser(self) -> bool {
        !matches!(self, ProviderKind::Dummy)
    }
}

impl fmt::Display for ProviderKind {
    /// Writes the display name, as every user-facing text does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::ProviderKind::{self, *};

    #[test]
    fn names_per_provider() {
        // (kind, prefix, display name, storage key, has real models)
        let table: [(ProviderKind, &str, &str, &str, bool); 8] = [
            (DeepSeek, "deepseek", "DeepSeek", "deepseek", false),
            (Glm, "glm", "GLM Chat", "glm_chat", true),
            (Moonshot, "moonshot", "Moonshot", "moonshot_kimi", true),
            (Qwen, "qwen", "QwenLM", "qwenlm", true),
            (Perplexity, "perplexity", "Perplexity", "perplexity", true),
            (
                HuggingChat,
                "huggingchat",
                "HuggingChat",
                "huggingchat",
                true,
            ),
            (AiStudio, "aistudio", "Google AI Studio", "aistudio", true),
            (Mimo, "mimo", "Xiaomi MiMo", "mimo", true),
        ];
        assert_eq!(
            table.map(|row| row.0),
            ProviderKind::ALL,
            "ALL keeps the §4.2 order"
        );
        for (kind, prefix, display, storage, real) in table {
            assert_eq!(kind.prefix(), prefix);
            assert_eq!(kind.display_name(), display);
            assert_eq!(kind.to_string(), display);
            assert_eq!(kind.storage_key(), storage);
            assert_eq!(kind.has_real_models(), real, "{kind}");
        }
    }

    #[test]
    fn from_name_accepts_every_spelling() {
        let table: &[(&str, Option<ProviderKind>)] = &[
            ("DeepSeek", Some(DeepSeek)),
            ("  deepseek  ", Some(DeepSeek)),
            ("GLM Chat", Some(Glm)),
            ("glm", Some(Glm)),
            ("GLM_CHAT", Some(Glm)),
            ("z.ai", Some(Glm)),
            ("Zai", Some(Glm)),
            ("zhipu", Some(Glm)),
            ("ZhipuAI", Some(Glm)),
            ("Moonshot", Some(Moonshot)),
            ("moonshot_kimi", Some(Moonshot)),
            ("Moonshot / Kimi", Some(Moonshot)),
            ("kimi", Some(Moonshot)),
            ("Kimi AI", Some(Moonshot)),
            ("QwenLM", Some(Qwen)),
            ("qwen", Some(Qwen)),
            ("QWEN_LM", Some(Qwen)),
            ("Qwen Chat", Some(Qwen)),
            ("chat.qwen.ai", Some(Qwen)),
            ("Perplexity", Some(Perplexity)),
            ("pplx", Some(Perplexity)),
            ("perplexity.ai", Some(Perplexity)),
            ("HuggingChat", Some(HuggingChat)),
            ("Hugging Face", Some(HuggingChat)),
            ("HF", Some(HuggingChat)),
            ("huggingface.co/chat", Some(HuggingChat)),
            ("Google AI Studio", Some(AiStudio)),
            ("ai studio", Some(AiStudio)),
            ("AISTUDIO", Some(AiStudio)),
            ("AI_STUDIO", Some(AiStudio)),
            ("gemini", Some(AiStudio)),
            ("makersuite", Some(AiStudio)),
            ("Xiaomi MiMo", Some(Mimo)),
            ("mimo", Some(Mimo)),
            ("aistudio.xiaomimimo.com", Some(Mimo)),
            ("", None),
            ("   ", None),
            ("openai", None),
            ("deep seek", None),
        ];
        for &(name, expected) in table {
            assert_eq!(
                ProviderKind::from_name(name),
                expected,
                "from_name({name:?})"
            );
        }
    }
}
