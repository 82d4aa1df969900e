//! `ModelError`: why a request's `model` string was refused, with the exact client-facing texts
//! of behavior-spec §2.9. Every variant is an HTTP 400 `invalid_request_error`; the API layer
//! chooses the status and wire shape, this module only the words.

use std::fmt;

use super::ProviderKind;

/// A `model` string the running runtime cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// Providers in Parallel is active and the string matches no listed ID (or more than one).
    NotRoutable {
        /// Universal Model Names is on; the text then also explains real-model IDs.
        umm: bool,
    },
    /// Providers in Parallel is active and the string names a provider that is not running.
    ProviderNotEnabled {
        /// The provider the ID belongs to.
        provider: ProviderKind,
    },
    /// The routed provider does not accept the string.
    Unsupported {
        /// The requested model, trimmed, in the client's own case; empty when none was sent.
        model: String,
        /// The provider the request was routed to.
        provider: ProviderKind,
        /// The IDs the provider lists in `/v1/models`, in that order.
        supported: Vec<String>,
        /// Single-provider runtime with UMM on: provider-prefixed IDs are accepted though not
        /// listed, and the text says so.
        note_prefixed: bool,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::NotRoutable { umm } => {
                f.write_str(
                    "Providers in Parallel requires routable model IDs, such as provider-prefixed \
                     behavior IDs (for example `deepseek-auto` or `glm-chat`). Universal model \
                     names like `intenserp-auto` are not valid here.",
                )?;
                if *umm {
                    f.write_str(
                        " Universal Model Names can also expose real-model IDs here; only exact \
                         conflicts get provider-prefixed forms like \
                         `aistudio-gemini-3-1-pro-reasoner`.",
                    )?;
                }
                Ok(())
            }
            ModelError::ProviderNotEnabled { provider } => {
                write!(
                    f,
                    "Provider `{provider}` is not enabled in Providers in Parallel."
                )
            }
            ModelError::Unsupported {
                model,
                provider,
                supported,
                note_prefixed,
            } => {
                let shown = if model.is_empty() { "<empty>" } else { model };
                write!(
                    f,
                    "Unsupported model `{shown}` for provider `{provider}`. Supported IDs: "
                )?;
                for (index, id) in supported.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}`{id}`")?;
                }
                f.write_str(".")?;
                if *note_prefixed {
                    f.write_str(" Provider-prefixed IDs are also still accepted.")?;
                }
                if *provider == ProviderKind::AiStudio {
                    f.write_str(
                        " Google AI Studio also accepts legacy IDs with Thinking Level suffixes \
                         like `aistudio-auto-high` or `aistudio-auto-r4`.",
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ModelError {}
