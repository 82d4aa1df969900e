//! `RoutingTable`: which provider, mode and UI model a request's `model` string selects, and the
//! `/v1/models` list, for one fixed set of running providers.
//!
//! The table is built once per runtime (and again whenever the running set, a provider's model
//! labels or the UMM setting change) and is then read-only, so routing is a lookup in two
//! precomputed lists:
//! - `listed`: the `/v1/models` entries, in listing order;
//! - `accepted`: every string the runtime accepts, in lookup priority order (Universal Model
//!   Names, then real-model IDs, then legacy IDs, as the reference resolves a mode), each with
//!   what it selects. It holds more than `listed` only in single-provider mode, where
//!   provider-prefixed forms are accepted without being listed.

use std::collections::HashMap;

use serde::Serialize;

use super::ids::{self, Mode, ThinkingOverride};
use super::{ModelError, ProviderKind};

/// One running provider and the UI model labels its driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderModels {
    /// The provider.
    pub provider: ProviderKind,
    /// Model picker labels (`Gemini 3.1 Pro`), in the driver's order. Used only while Universal
    /// Model Names is on, and ignored for providers without real-model IDs
    /// ([`ProviderKind::has_real_models`]).
    pub real_model_labels: Vec<String>,
}

impl ProviderModels {
    /// A provider with the given model picker labels.
    pub fn with_labels(provider: ProviderKind, labels: &[&str]) -> ProviderModels {
        ProviderModels {
            provider,
            real_model_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }
}

/// What a routed `model` string selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// The provider that serves the request.
    pub provider: ProviderKind,
    /// The behavior mode.
    pub mode: Mode,
    /// DeepSeek Expert mode (`deepseek-expert-*`, `intenserp-expert-*`); always false elsewhere.
    pub expert: bool,
    /// The ID was a Universal Model Name (`intenserp-*`): the provider keeps the model chosen in
    /// its settings.
    pub universal: bool,
    /// The UI model label a real-model ID selects for this request, as the driver reported it.
    pub real_model: Option<String>,
    /// The AI Studio Thinking Level suffix the ID carried, if any.
    pub thinking_level: Option<ThinkingOverride>,
}

/// One `/v1/models` item; the API layer adds `object` and `created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelEntry {
    /// The model ID a client sends back.
    pub id: String,
    /// The owning provider's model prefix.
    pub owned_by: &'static str,
}

/// An accepted string and what it selects.
#[derive(Debug, Clone)]
struct Accepted {
    /// Lowercase ID.
    id: String,
    provider: ProviderKind,
    mode: Mode,
    expert: bool,
    universal: bool,
    real_model: Option<String>,
}

impl Accepted {
    fn behavior(provider: ProviderKind, id: &ids::BehaviorId, universal: bool) -> Accepted {
        Accepted {
            id: id.id.to_owned(),
            provider,
            mode: id.mode,
            expert: id.expert,
            universal,
            real_model: None,
        }
    }

    fn choice(&self, thinking_level: Option<ThinkingOverride>) -> ModelChoice {
        ModelChoice {
            provider: self.provider,
            mode: self.mode,
            expert: self.expert,
            universal: self.universal,
            real_model: self.real_model.clone(),
            thinking_level,
        }
    }
}

/// The model catalog of one running runtime.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    /// Running providers in lane order, distinct, never empty.
    providers: Vec<ProviderKind>,
    /// The one running provider when single-provider rules apply; `None` in parallel mode.
    single: Option<ProviderKind>,
    /// Universal Model Names is on.
    umm: bool,
    /// `/v1/models` entries in listing order.
    listed: Vec<ModelEntry>,
    /// Every accepted string in lookup priority order.
    accepted: Vec<Accepted>,
}

impl RoutingTable {
    /// Builds the table for the running providers, given in lane order.
    ///
    /// A provider given twice keeps its first position and labels. Returns `None` when no
    /// provider runs: there is nothing to route to (the API answers 503 `Driver is not running`)
    /// and `/v1/models` is `data: []`.
    pub fn new(
        providers: impl IntoIterator<Item = ProviderModels>,
        umm: bool,
    ) -> Option<RoutingTable> {
        let mut running: Vec<ProviderModels> = Vec::new();
        for entry in providers {
            if running.iter().all(|seen| seen.provider != entry.provider) {
                running.push(entry);
            }
        }
        let (single, (listed, accepted)) = match running.as_slice() {
            [] => return None,
            [only] => (Some(only.provider), single_provider(only, umm)),
            several => (None, multi_provider(several, umm)),
        };
        let providers = running.iter().map(|entry| entry.provider).collect();
        Some(RoutingTable {
            providers,
            single,
            umm,
            listed,
            accepted,
        })
    }

    /// Running providers in lane order.
    pub fn providers(&self) -> &[ProviderKind] {
        &self.providers
    }

    /// Providers in Parallel routing applies: two or more distinct providers run.
    pub fn is_parallel(&self) -> bool {
        self.providers.len() >= 2
    }

    /// Universal Model Names is on.
    pub fn umm(&self) -> bool {
        self.umm
    }

    /// The `/v1/models` entries (behavior-spec §3.7). Single provider: its legacy IDs, or with
    /// UMM its `intenserp-*` IDs then its real-model IDs. Several providers: for each in lane
    /// order, its legacy IDs, then with UMM its real-model IDs with conflict prefixing.
    pub fn list(&self) -> Vec<ModelEntry> {
        self.listed.clone()
    }

    /// Routes a request's `model` string (behavior-spec §3.5, §3.8, §4.4). Matching ignores
    /// case and surrounding whitespace.
    ///
    /// Single-provider rules (one provider runs): the target is always that provider, and the
    /// string must be one of its accepted IDs. Providers in Parallel: the string must equal
    /// exactly one listed ID, or an AI Studio listed ID plus a Thinking Level suffix.
    ///
    /// # Errors
    /// [`ModelError::Unsupported`] in single-provider mode; in parallel mode
    /// [`ModelError::ProviderNotEnabled`] for a legacy ID of a provider that is not running,
    /// else [`ModelError::NotRoutable`]. Each is an HTTP 400 for the client.
    pub fn route(&self, model: &str) -> Result<ModelChoice, ModelError> {
        let trimmed = model.trim();
        let normalized = trimmed.to_lowercase();
        if let Some(choice) = self.lookup(&normalized) {
            return Ok(choice);
        }
        if let Some(provider) = self.single {
            return Err(ModelError::Unsupported {
                model: trimmed.to_owned(),
                provider,
                supported: self.listed.iter().map(|entry| entry.id.clone()).collect(),
                note_prefixed: self.umm,
            });
        }
        match not_running_owner(&normalized, &self.providers) {
            Some(provider) => Err(ModelError::ProviderNotEnabled { provider }),
            None => Err(ModelError::NotRoutable { umm: self.umm }),
        }
    }

    /// Finds the one provider that accepts `normalized`, first as written, then (for AI Studio
    /// only) without a Thinking Level suffix. A string two providers accept routes nowhere.
    fn lookup(&self, normalized: &str) -> Option<ModelChoice> {
        if let Some(found) = self.unique_match(normalized) {
            return Some(found.choice(None));
        }
        let (rest, level) = ids::split_thinking_suffix(normalized)?;
        let found = self.unique_match(rest)?;
        let suffix_allowed = found.provider == ProviderKind::AiStudio && !found.universal;
        suffix_allowed.then(|| found.choice(Some(level)))
    }

    /// The highest-priority entry for `id`, if exactly one provider accepts it.
    fn unique_match(&self, id: &str) -> Option<&Accepted> {
        let mut matches = self.accepted.iter().filter(|entry| entry.id == id);
        let first = matches.next()?;
        matches
            .all(|other| other.provider == first.provider)
            .then_some(first)
    }
}

/// The provider among those not running whose legacy ID `normalized` is (AI Studio also with a
/// Thinking Level suffix).
fn not_running_owner(normalized: &str, running: &[ProviderKind]) -> Option<ProviderKind> {
    let is_legacy = |kind: ProviderKind, id: &str| ids::legacy_ids(kind).iter().any(|b| b.id == id);
    ProviderKind::ALL
        .into_iter()
        .filter(|kind| !running.contains(kind))
        .find(|&kind| {
            is_legacy(kind, normalized)
                || (kind == ProviderKind::AiStudio
                    && ids::split_thinking_suffix(normalized)
                        .is_some_and(|(rest, _)| is_legacy(kind, rest)))
        })
}

/// A provider's real-model ID bases with the label each selects, skipping labels that slug to
/// nothing and later labels that slug to a base already seen. Empty unless UMM is on and the
/// provider has real-model IDs.
fn real_model_bases(entry: &ProviderModels, umm: bool) -> Vec<(String, String)> {
    let mut bases: Vec<(String, String)> = Vec::new();
    if !umm || !entry.provider.has_real_models() {
        return bases;
    }
    for label in &entry.real_model_labels {
        let label = label.trim();
        let base = ids::real_model_slug(label);
        if !base.is_empty() && bases.iter().all(|(seen, _)| *seen != base) {
            bases.push((base, label.to_owned()));
        }
    }
    bases
}

/// An accepted real-model ID `<id_base>-<mode>` selecting `label`.
fn real_model(provider: ProviderKind, id_base: &str, mode: Mode, label: &str) -> Accepted {
    Accepted {
        id: format!("{id_base}-{}", mode.suffix()),
        provider,
        mode,
        expert: false,
        universal: false,
        real_model: Some(label.to_owned()),
    }
}

/// Pushes `entry` unless the same provider already accepts the same ID.
fn push_unique(accepted: &mut Vec<Accepted>, entry: Accepted) {
    if !accepted
        .iter()
        .any(|seen| seen.provider == entry.provider && seen.id == entry.id)
    {
        accepted.push(entry);
    }
}

/// The single-provider catalog (behavior-spec §3.3, §3.8): every legacy ID is accepted; with
/// UMM the `intenserp-*` IDs and real-model IDs (bare and provider-prefixed) are accepted too,
/// and they replace the legacy IDs in the listing.
fn single_provider(entry: &ProviderModels, umm: bool) -> (Vec<ModelEntry>, Vec<Accepted>) {
    let provider = entry.provider;
    let mut accepted = Vec::new();
    if umm {
        for id in ids::universal_ids(provider) {
            push_unique(&mut accepted, Accepted::behavior(provider, id, true));
        }
    }
    let bases = real_model_bases(entry, umm);
    for (base, label) in &bases {
        for mode in Mode::LISTING_ORDER {
            push_unique(&mut accepted, real_model(provider, base, mode, label));
        }
    }
    let listed_count = accepted.len();
    for (base, label) in &bases {
        let prefixed = ids::with_provider_prefix(provider, base);
        for mode in Mode::LISTING_ORDER {
            push_unique(&mut accepted, real_model(provider, &prefixed, mode, label));
        }
    }
    for id in ids::legacy_ids(provider) {
        push_unique(&mut accepted, Accepted::behavior(provider, id, false));
    }
    let listed_entries = if umm {
        &accepted[..listed_count]
    } else {
        &accepted[..]
    };
    let listed = listed_entries
        .iter()
        .map(|a| ModelEntry {
            id: a.id.clone(),
            owned_by: provider.prefix(),
        })
        .collect();
    (listed, accepted)
}

/// The Providers in Parallel catalog (behavior-spec §3.5, §3.7): every provider's legacy IDs,
/// plus with UMM the real-model IDs, where an ID claimed by more than one provider is replaced
/// by its provider-prefixed form. Only listed IDs are accepted.
fn multi_provider(running: &[ProviderModels], umm: bool) -> (Vec<ModelEntry>, Vec<Accepted>) {
    let bases: Vec<Vec<(String, String)>> = running
        .iter()
        .map(|entry| real_model_bases(entry, umm))
        .collect();

    let mut claims: HashMap<String, Vec<ProviderKind>> = HashMap::new();
    let mut claim = |id: String, provider: ProviderKind| {
        let owners = claims.entry(id).or_default();
        if !owners.contains(&provider) {
            owners.push(provider);
        }
    };
    for (entry, provider_bases) in running.iter().zip(&bases) {
        for id in ids::legacy_ids(entry.provider) {
            claim(id.id.to_owned(), entry.provider);
        }
        for (base, _) in provider_bases {
            for mode in Mode::LISTING_ORDER {
                claim(format!("{base}-{}", mode.suffix()), entry.provider);
            }
        }
    }
    let conflicting = |id: &str| claims.get(id).is_some_and(|owners| owners.len() > 1);

    let mut real = Vec::new();
    let mut legacy = Vec::new();
    let mut listed = Vec::new();
    for (entry, provider_bases) in running.iter().zip(&bases) {
        let provider = entry.provider;
        for id in ids::legacy_ids(provider) {
            push_unique(&mut legacy, Accepted::behavior(provider, id, false));
            listed.push(ModelEntry {
                id: id.id.to_owned(),
                owned_by: provider.prefix(),
            });
        }
        for (base, label) in provider_bases {
            for mode in Mode::LISTING_ORDER {
                let bare = format!("{base}-{}", mode.suffix());
                let id_base = if conflicting(&bare) {
                    ids::with_provider_prefix(provider, base)
                } else {
                    base.clone()
                };
                let entry = real_model(provider, &id_base, mode, label);
                let owned_by = provider.prefix();
                // A label whose ID equals one of the provider's own legacy IDs is listed once.
                if !listed
                    .iter()
                    .any(|e: &ModelEntry| e.owned_by == owned_by && e.id == entry.id)
                {
                    listed.push(ModelEntry {
                        id: entry.id.clone(),
                        owned_by,
                    });
                }
                push_unique(&mut real, entry);
            }
        }
    }
    real.extend(legacy);
    (listed, real)
}
