//! Model-ID catalog and routing: what a request's `model` string means and which provider
//! serves it (behavior-spec §3, §4.2, §4.4).
//!
//! The `model` field is mostly a behavior preset, not a model choice. Every accepted ID resolves
//! to a [`ModelChoice`]: a provider, a [`Mode`] (auto, chat, reasoner), DeepSeek's Expert flag,
//! and, for real-model IDs, the UI model label to select for that one request.
//!
//! # Vocabulary
//! - **Legacy IDs** are provider-prefixed behavior IDs (`glm-chat`, `deepseek-expert-auto`),
//!   always accepted by their provider.
//! - **Universal Model Names** (UMM, off by default) adds `intenserp-{auto,reasoner,chat}` in
//!   single-provider mode, and **real-model IDs** built from UI model labels with
//!   [`real_model_slug`] (`Gemini 3.1 Pro` → `gemini-3-1-pro-{auto,reasoner,chat}`).
//! - **Providers in Parallel** routing applies when two or more distinct providers run. A
//!   string must then equal exactly one listed ID; real-model IDs claimed by more than one
//!   provider are listed only in their provider-prefixed form.
//! - Google AI Studio IDs may end in a Thinking Level suffix (`-high`, `-r4`), which becomes
//!   [`ModelChoice::thinking_level`].
//!
//! # Boundaries
//! This module is pure: no IO, no async, no settings. It depends on `std` and `serde` only and
//! knows nothing else of switchyard. Callers pass in the running providers (lane order, locked
//! providers left out), their drivers' model labels and the UMM switch, and turn a
//! [`ModelError`] into an HTTP 400. Provider locks (403), the 503 when nothing runs, the
//! `reasoning_effort` rewrite and per-account model availability belong to the caller.
//!
//! **Architecture Invariant:** [`ProviderKind`] is the one closed list of providers; code that
//! must name a provider matches on it.

mod error;
mod ids;
mod provider;
mod route;

#[cfg(test)]
mod tests;

pub use error::ModelError;
pub use ids::{
    BehaviorId, Mode, ThinkingLevel, ThinkingOverride, ThinkingTier, legacy_ids, real_model_slug,
    split_thinking_suffix, universal_ids, with_provider_prefix,
};
pub use provider::ProviderKind;
pub use route::{ModelChoice, ModelEntry, ProviderModels, RoutingTable};
