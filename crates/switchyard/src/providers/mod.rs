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
pub use driver::{ChatSetup, Driver, DriverError, SendState, StopHints};
pub use failure::{FailureKind, SiteFailure};
pub use signin::SignInOutcome;
pub use spec::{DriverSpec, FileUpload, Nudge, ProviderSpec, SignInFlow, SignInForm, SiteOptions};
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

/// One model of a site's live model list, as its driver read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveModel {
    /// The site's id (`openai/gpt-oss-120b`).
    pub id: String,
    /// The name it shows.
    pub name: String,
}

impl LiveModel {
    /// Whether a configured or requested model names this one: its id, the id's last part, or
    /// its name (the reference's matching).
    pub fn matches(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        self.id == wanted || self.id.rsplit('/').next() == Some(wanted) || self.name == wanted
    }
}

/// The live model lists drivers reported ([`SiteOptions::live_models`]), per provider: the
/// union over its lanes, kept for the process (the reference caches the list after sign-in).
static LIVE_MODELS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<ProviderKind, Vec<LiveModel>>>,
> = std::sync::LazyLock::new(Default::default);

/// Records the model list a lane of `kind` read from its site.
pub fn report_live_models(kind: ProviderKind, models: Vec<LiveModel>) {
    let mut all = LIVE_MODELS.lock().unwrap_or_else(|e| e.into_inner());
    let known = all.entry(kind).or_default();
    let before = known.len();
    for model in models {
        if !known.contains(&model) {
            known.push(model);
        }
    }
    if known.len() != before {
        LIVE_GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(provider = %kind, models = known.len(), "the site's live model list is known");
    }
}

/// Grows whenever a live model list gains a model (the routing table is built again).
static LIVE_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times the live model lists have changed so far.
pub fn live_models_generation() -> u64 {
    LIVE_GENERATION.load(std::sync::atomic::Ordering::SeqCst)
}

/// The model labels a running provider offers for real-model IDs: its configured `models`,
/// or, where the site's list is read live and none are configured, the names on that list once
/// a lane has read it.
pub fn model_labels(kind: ProviderKind, configured: &[String]) -> Vec<String> {
    if configured.is_empty() && spec(kind).site.options.live_models {
        return live_models(kind)
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.name)
            .collect();
    }
    configured.to_vec()
}

/// The live model list of `kind`, once a lane has read it.
pub fn live_models(kind: ProviderKind) -> Option<Vec<LiveModel>> {
    let all = LIVE_MODELS.lock().unwrap_or_else(|e| e.into_inner());
    all.get(&kind).filter(|m| !m.is_empty()).cloned()
}

/// Why a request for `model` (the site label or id it selects) on `kind` is refused before it
/// is queued: a paid model without `assume_paid_model_access`, or a model the site's live list
/// does not have. `None`: it may go.
pub fn refuse_model(
    kind: ProviderKind,
    model: Option<&str>,
    settings: &crate::config::ProviderConfig,
) -> Option<String> {
    let model = model?;
    let options = &spec(kind).site.options;
    if !settings.assume_paid_model_access && options.paid_models.contains(&model) {
        return Some(format!(
            "{model} is a paid model on {kind}, and this gateway does not assume paid access; \
             set providers.{}.assume_paid_model_access = true if the account pays, or pick \
             another model (GET /v1/models).",
            kind.prefix()
        ));
    }
    if options.live_models {
        let list = live_models(kind)?;
        if !list.iter().any(|m| m.matches(model)) {
            let ids: Vec<String> = list.iter().map(|m| format!("`{}`", m.id)).collect();
            return Some(format!(
                "Model `{model}` is not available on {kind}. The site serves {}.",
                ids.join(", ")
            ));
        }
    }
    None
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
    fn site_options_belong_to_their_sites() {
        for kind in ProviderKind::ALL {
            let o = &spec(kind).site.options;
            assert_eq!(
                o.passwordless_sign_in,
                kind == ProviderKind::Perplexity,
                "{kind}"
            );
            assert_eq!(
                o.username_sign_in,
                kind == ProviderKind::HuggingChat,
                "{kind}"
            );
            assert_eq!(o.live_models, kind == ProviderKind::HuggingChat, "{kind}");
            assert_eq!(
                o.humanize_mouse.is_some(),
                kind == ProviderKind::AiStudio,
                "{kind}"
            );
            assert_eq!(
                !o.paid_models.is_empty(),
                kind == ProviderKind::AiStudio,
                "{kind}"
            );
            let nudges = spec(kind)
                .driver
                .as_ref()
                .is_some_and(|d| d.nudge.is_some());
            assert_eq!(nudges, kind == ProviderKind::AiStudio, "{kind}");
            // Paid models are models the site offers.
            assert!(
                o.paid_models
                    .iter()
                    .all(|m| spec(kind).site.models.contains(m))
            );
        }
    }

    #[test]
    fn paid_models_and_models_off_the_live_list_are_refused() {
        let config = crate::config::Config::from_toml_str("", "x.toml").unwrap();
        let studio = config.provider(ProviderKind::AiStudio);
        let why = refuse_model(ProviderKind::AiStudio, Some("Gemini 2.5 Pro"), studio);
        assert!(why.is_some_and(|w| w.contains("assume_paid_model_access")));
        assert_eq!(
            refuse_model(ProviderKind::AiStudio, Some("Gemini 3.1 Pro"), studio),
            None
        );
        let mut paid = studio.clone();
        paid.assume_paid_model_access = true;
        assert_eq!(
            refuse_model(ProviderKind::AiStudio, Some("Gemini 2.5 Pro"), &paid),
            None
        );
        // A live list is checked once known: by id, basename or name.
        let hf = config.provider(ProviderKind::HuggingChat);
        assert_eq!(refuse_model(ProviderKind::HuggingChat, Some("x"), hf), None);
        report_live_models(
            ProviderKind::HuggingChat,
            vec![LiveModel {
                id: "openai/gpt-oss-120b".into(),
                name: "gpt-oss 120B".into(),
            }],
        );
        for ok in ["openai/gpt-oss-120b", "gpt-oss-120b", "gpt-oss 120B"] {
            assert_eq!(refuse_model(ProviderKind::HuggingChat, Some(ok), hf), None);
        }
        let why = refuse_model(ProviderKind::HuggingChat, Some("nope"), hf).unwrap();
        assert!(why.contains("`openai/gpt-oss-120b`"), "{why}");
        assert_eq!(refuse_model(ProviderKind::HuggingChat, None, hf), None);
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
