//! Providers: everything the gateway knows of each site beyond its catalog entry.
//!
//! One folder per provider (`deepseek/`, `glm/`, …) holds its [`ProviderSpec`]: site defaults
//! (base URL, timeouts, capture, model picker labels), the request switches it honours (its
//! `reasoning_effort` mapping, its own macros, the system field), the classification of its
//! failure answers ([`failure`]), and, when this build can drive it, its page scripts, stream
//! endpoint paths and decoder. Config, shaping and the lanes read specs through [`spec()`] and
//! never match on a provider.
//!
//! This file is the registry: the one list of the providers this build has. [`spec()`] matches on
//! every [`ProviderKind`], so a catalog entry without a folder does not compile, and a provider
//! runs in lanes when its spec has a driver part ([`ProviderSpec::implemented`]). [`Driver`]
//! (`driver.rs`) runs a spec's page scripts in a lane's page.
//!
//! The dummy provider (`dummy/`) has a spec without a driver, like a site not yet implemented;
//! its lanes play [`dummy::script`] instead of driving a page (`lanes::dummy`).
//!
//! Architecture Invariant: nothing outside `providers/` names a specific provider, except
//! `ProviderKind` (the catalog, `models/`) and the demo's provider → replica map. Drivers receive a
//! finished [`ShapedRequest`](crate::shaping::ShapedRequest); they never see chat
//! messages.

mod aistudio;
mod deepseek;
mod doctor;
mod driver;
pub mod dummy;
pub mod failure;
mod glm;
mod huggingchat;
mod mimo;
mod moonshot;
mod perplexity;
mod qwen;
mod signin;
pub mod spec;

use crate::models::ProviderKind;

pub use doctor::{HookCheck, HookStatus};
pub use driver::{Driver, DriverError, SendState, StopHints};
pub use failure::{FailureKind, SiteFailure};
pub use signin::SignInOutcome;
pub use spec::{DriverSpec, FileUpload, ProviderSpec};
pub use switchyard_decode::{Decode, FinishReason, StreamEvent, Usage};

/// The provider that runs when the configuration names none.
pub const DEFAULT_PROVIDER: ProviderKind = ProviderKind::DeepSeek;

/// The model a request without `model` asks for (the reference's default).
pub const DEFAULT_MODEL: &str = "deepseek-auto";

/// The prompt size every spec uses until a site's own limit is known (the reference states
/// none): 500,000 characters, well above the 200,000-character chats every driver is tested
/// with. `providers.<p>.max_prompt_chars` overrides it.
pub const DEFAULT_MAX_PROMPT_CHARS: usize = 500_000;

/// The spec of a provider.
pub fn spec(kind: ProviderKind) -> &'static ProviderSpec {
    match kind {
        ProviderKind::DeepSeek => &deepseek::SPEC,
        ProviderKind::Glm => &glm::SPEC,
        ProviderKind::Moonshot => &moonshot::SPEC,
        ProviderKind::Qwen => &qwen::SPEC,
        ProviderKind::Perplexity => &perplexity::SPEC,
        ProviderKind::HuggingChat => &huggingchat::SPEC,
        ProviderKind::AiStudio => &aistudio::SPEC,
        ProviderKind::Mimo => &mimo::SPEC,
        ProviderKind::Dummy => &dummy::SPEC,
    }
}

/// The providers whose driver is in this build, in the fixed lane order.
pub fn implemented() -> impl Iterator<Item = ProviderKind> {
    ProviderKind::ALL
        .into_iter()
        .filter(|k| spec(*k).implemented())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_its_own_spec() {
        for kind in ProviderKind::ALL {
            assert_eq!(spec(kind).kind, kind);
        }
        assert!(DEFAULT_MODEL.starts_with(&format!("{}-", DEFAULT_PROVIDER.prefix())));
        assert!(spec(DEFAULT_PROVIDER).implemented());
        assert_eq!(
            implemented().collect::<Vec<_>>(),
            [
                ProviderKind::DeepSeek,
                ProviderKind::Glm,
                ProviderKind::Moonshot,
                ProviderKind::Qwen,
                ProviderKind::Perplexity,
                ProviderKind::HuggingChat,
                ProviderKind::AiStudio,
                ProviderKind::Mimo
            ]
        );
    }

    #[test]
    fn site_defaults_follow_the_reference() {
        use ProviderKind::*;
        /// (kind, default label, label count, first-chunk s, idle s, system field)
        type Row = (ProviderKind, Option<&'static str>, usize, u64, u64, bool);
        let table: [Row; 8] = [
            (DeepSeek, None, 0, 45, 75, false),
            (Glm, Some("GLM-5.2"), 5, 45, 75, false),
            (Moonshot, Some("Kimi K3"), 4, 45, 75, false),
            (Qwen, Some("Qwen3.5-Plus"), 1, 150, 75, false),
            (Perplexity, Some("Best (Auto)"), 9, 45, 600, true),
            (HuggingChat, None, 0, 150, 75, true),
            (AiStudio, Some("Gemini 3.1 Pro"), 9, 180, 75, true),
            (Mimo, Some("MiMo-V2.5-Pro"), 2, 150, 75, false),
        ];
        for (kind, default, count, first, idle, system) in table {
            let s = spec(kind);
            assert_eq!(s.site.default_model, default, "{kind}");
            assert_eq!(s.site.models.len(), count, "{kind}");
            if let Some(label) = default {
                assert!(s.site.models.contains(&label), "{kind}");
            }
            assert_eq!(
                kind.has_real_models(),
                !s.site.models.is_empty() || kind == HuggingChat
            );
            assert_eq!(s.site.first_chunk_timeout_secs, first, "{kind}");
            assert_eq!(s.site.idle_timeout_secs, idle, "{kind}");
            assert_eq!(s.requests.system_field, system, "{kind}");
            assert!(s.site.base_url.starts_with("https://"), "{kind}");
            assert!(!s.site.base_url.ends_with('/'), "{kind}");
        }
    }

    #[test]
    fn drivers_have_stream_paths_scripts_and_a_decoder() {
        for kind in implemented() {
            let s = spec(kind);
            let Some(driver) = &s.driver else {
                unreachable!("implemented() lists only providers with a driver");
            };
            assert!(!driver.stream_paths.is_empty(), "{kind}");
            assert!(driver.stream_paths.iter().all(|p| p.starts_with('/')));
            for script in [
                driver.scripts.ready,
                driver.scripts.prepare,
                driver.scripts.send,
                driver.scripts.stop,
            ] {
                assert!(!script.trim().is_empty(), "{kind}");
            }
            assert!(s.decoder().is_some(), "{kind}");
        }
        assert!(spec(ProviderKind::Dummy).decoder().is_none());
    }
}
