//! The model-ID vocabulary: behavior modes, the fixed behavior IDs, AI Studio Thinking Level
//! suffixes, and the slug rule that turns a UI model label into a real-model ID base.
//!
//! Everything here is a table or a pure function of one string; [`super::RoutingTable`] combines
//! them into the IDs a running runtime accepts.

use super::ProviderKind;

/// The behavior a model ID asks for (behavior-spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Follow the provider's behavior settings (or its active loadout).
    Auto,
    /// Force thinking off; "Send Thinking" is forced off too.
    Chat,
    /// Force thinking on; "Send Thinking" still follows the setting.
    Reasoner,
}

impl Mode {
    /// The order in which each real-model label expands to IDs (behavior-spec §3.4), which is
    /// also the order of the `intenserp-*` IDs in `/v1/models`.
    pub const LISTING_ORDER: [Mode; 3] = [Mode::Auto, Mode::Reasoner, Mode::Chat];

    /// The ID suffix without its dash: `auto`, `chat` or `reasoner`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Chat => "chat",
            Mode::Reasoner => "reasoner",
        }
    }
}

/// A fixed behavior ID: a legacy provider-prefixed ID such as `deepseek-expert-chat`, or a
/// Universal Model Name such as `intenserp-auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BehaviorId {
    /// The ID exactly as listed, lowercase.
    pub id: &'static str,
    /// The behavior it selects.
    pub mode: Mode,
    /// Whether it selects DeepSeek's Expert mode instead of the default Instant mode.
    pub expert: bool,
}

const fn behavior(id: &'static str, mode: Mode, expert: bool) -> BehaviorId {
    BehaviorId { id, mode, expert }
}

/// Legacy IDs per provider, in the `/v1/models` order of behavior-spec §3.2: auto, chat,
/// reasoner (and DeepSeek's Expert trio after its Instant trio).
const LEGACY_IDS: [(ProviderKind, &[BehaviorId]); 9] = [
    (
        ProviderKind::DeepSeek,
        &[
            behavior("deepseek-auto", Mode::Auto, false),
            behavior("deepseek-chat", Mode::Chat, false),
            behavior("deepseek-reasoner", Mode::Reasoner, false),
            behavior("deepseek-expert-auto", Mode::Auto, true),
            behavior("deepseek-expert-chat", Mode::Chat, true),
            behavior("deepseek-expert-reasoner", Mode::Reasoner, true),
        ],
    ),
    (
        ProviderKind::Glm,
        &trio(["glm-auto", "glm-chat", "glm-reasoner"]),
    ),
    (
        ProviderKind::Moonshot,
        &trio(["moonshot-auto", "moonshot-chat", "moonshot-reasoner"]),
    ),
    (
        ProviderKind::Qwen,
        &trio(["qwen-auto", "qwen-chat", "qwen-reasoner"]),
    ),
    (
        ProviderKind::Perplexity,
        &trio(["perplexity-auto", "perplexity-chat", "perplexity-reasoner"]),
    ),
    (
        ProviderKind::HuggingChat,
        &trio([
            "huggingchat-auto",
            "huggingchat-chat",
            "huggingchat-reasoner",
        ]),
    ),
    (
        ProviderKind::AiStudio,
        &trio(["aistudio-auto", "aistudio-chat", "aistudio-reasoner"]),
    ),
    (
        ProviderKind::Mimo,
        &trio(["mimo-auto", "mimo-chat", "mimo-reasoner"]),
    ),
    // The dummy provider's IDs name what its lanes do, not a mode (`providers::dummy`).
    (
        ProviderKind::Dummy,
        &[
            behavior("dummy-instant", Mode::Chat, false),
            behavior("dummy-slow", Mode::Chat, false),
            behavior("dummy-flaky", Mode::Chat, false),
            behavior("dummy-error", Mode::Chat, false),
        ],
    ),
];

/// Builds an auto/chat/reasoner trio without Expert mode.
const fn trio(ids: [&'static str; 3]) -> [BehaviorId; 3] {
    [
        behavior(ids[0], Mode::Auto, false),
        behavior(ids[1], Mode::Chat, false),
        behavior(ids[2], Mode::Reasoner, false),
    ]
}

/// Universal Model Names every provider accepts in single-provider mode with UMM on
/// (behavior-spec §3.3), in listing order.
const UNIVERSAL_IDS: [BehaviorId; 3] = [
    behavior("intenserp-auto", Mode::Auto, false),
    behavior("intenserp-reasoner", Mode::Reasoner, false),
    behavior("intenserp-chat", Mode::Chat, false),
];

/// The Universal Model Names only DeepSeek adds, selecting its Expert mode.
const DEEPSEEK_UNIVERSAL_EXPERT_IDS: [BehaviorId; 3] = [
    behavior("intenserp-expert-auto", Mode::Auto, true),
    behavior("intenserp-expert-reasoner", Mode::Reasoner, true),
    behavior("intenserp-expert-chat", Mode::Chat, true),
];

/// The provider-prefixed ("legacy") behavior IDs of `kind`, accepted in every runtime mode.
pub fn legacy_ids(kind: ProviderKind) -> &'static [BehaviorId] {
    LEGACY_IDS
        .iter()
        .find(|(owner, _)| *owner == kind)
        .map_or(&[], |(_, ids)| *ids)
}

/// The `intenserp-*` IDs `kind` accepts in single-provider mode with UMM on, in listing order.
pub fn universal_ids(kind: ProviderKind) -> impl Iterator<Item = &'static BehaviorId> {
    let expert: &'static [BehaviorId] = match kind {
        ProviderKind::DeepSeek => &DEEPSEEK_UNIVERSAL_EXPERT_IDS,
        _ => &[],
    };
    UNIVERSAL_IDS.iter().chain(expert)
}

/// A Google AI Studio Thinking Level, as named in its settings and ID suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThinkingLevel {
    /// `-minimal`
    Minimal,
    /// `-low`
    Low,
    /// `-medium`
    Medium,
    /// `-high`
    High,
}

/// A relative Thinking Level tier, `-r0` (lowest, no `<think>`) to `-r4` (highest). The driver
/// maps a tier onto the levels the selected model offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThinkingTier {
    /// `-r0`
    R0,
    /// `-r1`
    R1,
    /// `-r2`
    R2,
    /// `-r3`
    R3,
    /// `-r4`
    R4,
}

impl ThinkingTier {
    /// The tier number, 0 to 4.
    pub const fn index(self) -> u8 {
        match self {
            ThinkingTier::R0 => 0,
            ThinkingTier::R1 => 1,
            ThinkingTier::R2 => 2,
            ThinkingTier::R3 => 3,
            ThinkingTier::R4 => 4,
        }
    }
}

/// A per-request Thinking Level override carried by an AI Studio ID suffix
/// (`aistudio-auto-high`, `gemini-3-1-pro-reasoner-r4`), keeping which form was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThinkingOverride {
    /// A named level: `-minimal`, `-low`, `-medium`, `-high`.
    Level(ThinkingLevel),
    /// A tier: `-r0` … `-r4`.
    Tier(ThinkingTier),
}

/// Every suffix with its override, dash included.
const THINKING_SUFFIXES: [(&str, ThinkingOverride); 9] = [
    ("-minimal", ThinkingOverride::Level(ThinkingLevel::Minimal)),
    ("-low", ThinkingOverride::Level(ThinkingLevel::Low)),
    ("-medium", ThinkingOverride::Level(ThinkingLevel::Medium)),
    ("-high", ThinkingOverride::Level(ThinkingLevel::High)),
    ("-r0", ThinkingOverride::Tier(ThinkingTier::R0)),
    ("-r1", ThinkingOverride::Tier(ThinkingTier::R1)),
    ("-r2", ThinkingOverride::Tier(ThinkingTier::R2)),
    ("-r3", ThinkingOverride::Tier(ThinkingTier::R3)),
    ("-r4", ThinkingOverride::Tier(ThinkingTier::R4)),
];

impl ThinkingOverride {
    /// The ID suffix without its dash: `minimal` … `high`, `r0` … `r4`.
    pub fn suffix(self) -> &'static str {
        THINKING_SUFFIXES
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(suffix, _)| suffix.trim_start_matches('-'))
    }
}

/// Splits one trailing AI Studio Thinking Level suffix off `id` (ASCII case-insensitive):
/// `aistudio-auto-high` → (`aistudio-auto`, High). Only one suffix is removed, and an ID without
/// one gives `None`. Whether the rest is a valid ID is the caller's question.
pub fn split_thinking_suffix(id: &str) -> Option<(&str, ThinkingOverride)> {
    THINKING_SUFFIXES.iter().find_map(|&(suffix, value)| {
        let cut = id.len().checked_sub(suffix.len())?;
        let tail = id.get(cut..)?;
        let rest = id.get(..cut)?;
        (tail.eq_ignore_ascii_case(suffix) && !rest.is_empty()).then_some((rest, value))
    })
}

/// Turns a UI model label into a real-model ID base (behavior-spec §3.4): lowercase; each run
/// of whitespace or dots becomes `-`; every character outside `[a-z0-9-]` is removed (so `/`
/// disappears rather than becoming `-`); repeated `-` collapse; leading and trailing `-` go.
///
/// `GLM-5.1` → `glm-5-1`, `Best (Auto)` → `best-auto`. A label with no letters or digits
/// gives an empty base, which callers skip.
pub fn real_model_slug(label: &str) -> String {
    let mut slug = String::with_capacity(label.len());
    for c in label.to_lowercase().chars() {
        let kept = match c {
            'a'..='z' | '0'..='9' => c,
            '-' | '.' => '-',
            c if c.is_whitespace() => '-',
            _ => continue,
        };
        if kept == '-' && (slug.is_empty() || slug.ends_with('-')) {
            continue;
        }
        slug.push(kept);
    }
    if slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// The provider-prefixed form of a real-model ID base: `perplexity-gemini-3-1-pro`. A base that
/// already is the prefix or starts with `<prefix>-` (`glm-5-1`, `mimo-v2-5-pro`) is returned as
/// it is, so no ID ever carries the prefix twice.
pub fn with_provider_prefix(kind: ProviderKind, base: &str) -> String {
    let prefix = kind.prefix();
    let already = base
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'));
    if already {
        base.to_owned()
    } else {
        format!("{prefix}-{base}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        let table: &[(&str, &str)] = &[
            ("GLM-5.1", "glm-5-1"),
            ("Gemini 3.1 Pro", "gemini-3-1-pro"),
            ("Qwen3.5-Plus", "qwen3-5-plus"),
            ("MiMo-V2.5-Pro", "mimo-v2-5-pro"),
            ("Claude Sonnet 4.6", "claude-sonnet-4-6"),
            ("Best (Auto)", "best-auto"),
            ("deepseek-ai/DeepSeek-V3.2", "deepseek-aideepseek-v3-2"),
            ("meta / llama", "meta-llama"),
            ("Gemma 4 26B-A4B", "gemma-4-26b-a4b"),
            ("  GPT-5.5  ", "gpt-5-5"),
            ("a . . b", "a-b"),
            ("--x--y--", "x-y"),
            ("Kimi_K2", "kimik2"),
            ("Été 2", "t-2"),
            ("", ""),
            ("(?)", ""),
        ];
        for &(label, expected) in table {
            assert_eq!(real_model_slug(label), expected, "slug of {label:?}");
        }
    }

    #[test]
    fn provider_prefix_is_never_doubled() {
        let table: &[(ProviderKind, &str, &str)] = &[
            (
                ProviderKind::Perplexity,
                "gemini-3-1-pro",
                "perplexity-gemini-3-1-pro",
            ),
            (
                ProviderKind::AiStudio,
                "gemini-3-1-pro",
                "aistudio-gemini-3-1-pro",
            ),
            (ProviderKind::Glm, "glm-5-1", "glm-5-1"),
            (ProviderKind::Glm, "glm", "glm"),
            (ProviderKind::Glm, "glm5", "glm-glm5"),
            (ProviderKind::Mimo, "mimo-v2-5-pro", "mimo-v2-5-pro"),
            (ProviderKind::Qwen, "qwen3-5-plus", "qwen-qwen3-5-plus"),
            (
                ProviderKind::HuggingChat,
                "qwen3-5-plus",
                "huggingchat-qwen3-5-plus",
            ),
        ];
        for &(kind, base, expected) in table {
            assert_eq!(with_provider_prefix(kind, base), expected, "{kind} {base}");
        }
    }

    #[test]
    fn thinking_suffixes() {
        use ThinkingLevel::*;
        use ThinkingOverride::{Level, Tier};
        use ThinkingTier::*;
        let table: &[(&str, Option<(&str, ThinkingOverride)>)] = &[
            (
                "aistudio-auto-minimal",
                Some(("aistudio-auto", Level(Minimal))),
            ),
            ("aistudio-auto-low", Some(("aistudio-auto", Level(Low)))),
            (
                "aistudio-chat-medium",
                Some(("aistudio-chat", Level(Medium))),
            ),
            (
                "aistudio-reasoner-high",
                Some(("aistudio-reasoner", Level(High))),
            ),
            ("aistudio-auto-r0", Some(("aistudio-auto", Tier(R0)))),
            ("aistudio-auto-r1", Some(("aistudio-auto", Tier(R1)))),
            ("aistudio-auto-r2", Some(("aistudio-auto", Tier(R2)))),
            ("aistudio-auto-r3", Some(("aistudio-auto", Tier(R3)))),
            (
                "aistudio-reasoner-r4",
                Some(("aistudio-reasoner", Tier(R4))),
            ),
            ("AISTUDIO-AUTO-HIGH", Some(("AISTUDIO-AUTO", Level(High)))),
            (
                "gemini-3-1-pro-reasoner-r4",
                Some(("gemini-3-1-pro-reasoner", Tier(R4))),
            ),
            (
                "aistudio-auto-high-low",
                Some(("aistudio-auto-high", Level(Low))),
            ),
            ("aistudio-auto", None),
            ("aistudio-auto-r5", None),
            ("aistudio-autohigh", None),
            ("-high", None),
            ("", None),
        ];
        for &(id, expected) in table {
            assert_eq!(split_thinking_suffix(id), expected, "split {id:?}");
        }
        let suffixes = [Level(Minimal), Level(High), Tier(R0), Tier(R4)].map(|t| t.suffix());
        assert_eq!(suffixes, ["minimal", "high", "r0", "r4"]);
        assert_eq!(R3.index(), 3);
    }

    #[test]
    fn behavior_id_tables() {
        let legacy: Vec<Vec<&str>> = ProviderKind::ALL
            .iter()
            .map(|&kind| legacy_ids(kind).iter().map(|b| b.id).collect())
            .collect();
        assert_eq!(
            legacy,
            [
                vec![
                    "deepseek-auto",
                    "deepseek-chat",
                    "deepseek-reasoner",
                    "deepseek-expert-auto",
                    "deepseek-expert-chat",
                    "deepseek-expert-reasoner",
                ],
                vec!["glm-auto", "glm-chat", "glm-reasoner"],
                vec!["moonshot-auto", "moonshot-chat", "moonshot-reasoner"],
                vec!["qwen-auto", "qwen-chat", "qwen-reasoner"],
                vec!["perplexity-auto", "perplexity-chat", "perplexity-reasoner"],
                vec![
                    "huggingchat-auto",
                    "huggingchat-chat",
                    "huggingchat-reasoner"
                ],
                vec!["aistudio-auto", "aistudio-chat", "aistudio-reasoner"],
                vec!["mimo-auto", "mimo-chat", "mimo-reasoner"],
            ]
        );
        let universal: Vec<&str> = universal_ids(ProviderKind::DeepSeek)
            .map(|b| b.id)
            .collect();
        assert_eq!(
            universal,
            [
                "intenserp-auto",
                "intenserp-reasoner",
                "intenserp-chat",
                "intenserp-expert-auto",
                "intenserp-expert-reasoner",
                "intenserp-expert-chat",
            ]
        );
        let universal: Vec<&str> = universal_ids(ProviderKind::Glm).map(|b| b.id).collect();
        assert_eq!(
            universal,
            ["intenserp-auto", "intenserp-reasoner", "intenserp-chat"]
        );
    }
}
