//! The sites this crate can replicate.

use serde::{Deserialize, Serialize};

/// One provider chat web app that has a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Site {
    /// chat.deepseek.com: patch-stream SSE at `POST /api/v0/chat/completion`.
    DeepSeek,
    /// chat.z.ai (GLM Chat): `chat:completion` SSE at `POST /api/v2/chat/completions`.
    Glm,
    /// chat.qwen.ai (QwenLM): OpenAI-like `choices[0].delta` SSE at
    /// `POST /api/v2/chat/completions?chat_id=…`.
    Qwen,
    /// aistudio.xiaomimimo.com (Xiaomi MiMo): named-event SSE at `POST /open-apis/bot/chat`.
    Mimo,
    /// www.kimi.ai (Moonshot / Kimi): Connect streaming envelopes at
    /// `POST /apiv2/kimi.gateway.chat.v1.ChatService/Chat`.
    Moonshot,
    /// www.perplexity.ai: `event:` SSE with JSON-Patch answer blocks at
    /// `POST /rest/sse/perplexity_ask`.
    Perplexity,
    /// huggingface.co/chat (HuggingChat): JSON message updates one per line at
    /// `POST /chat/conversation/<id>`; the app lives under `/chat`.
    HuggingChat,
    /// aistudio.google.com (Google AI Studio): the XSSI guard, then nested JSON+protobuf arrays
    /// at `POST …/MakerSuiteService/GenerateContent`.
    AiStudio,
}

impl Site {
    /// Every replicated site, in a stable order.
    pub const ALL: [Site; 8] = [
        Site::DeepSeek,
        Site::Glm,
        Site::Qwen,
        Site::Mimo,
        Site::Moonshot,
        Site::Perplexity,
        Site::HuggingChat,
        Site::AiStudio,
    ];

    /// Display name; also the name echoed in the deterministic answer (`Echo [DeepSeek, …]`).
    pub fn name(self) -> &'static str {
        match self {
            Site::DeepSeek => "DeepSeek",
            Site::Glm => "GLM",
            Site::Qwen => "Qwen",
            Site::Mimo => "MiMo",
            Site::Moonshot => "Kimi",
            Site::Perplexity => "Perplexity",
            Site::HuggingChat => "HuggingChat",
            Site::AiStudio => "AI Studio",
        }
    }

    /// Lower-case identifier (`deepseek`, `glm`, `qwen`, `mimo`, `moonshot`, `perplexity`), as used in serde and on command lines.
    pub fn slug(self) -> &'static str {
        match self {
            Site::DeepSeek => "deepseek",
            Site::Glm => "glm",
            Site::Qwen => "qwen",
            Site::Mimo => "mimo",
            Site::Moonshot => "moonshot",
            Site::Perplexity => "perplexity",
            Site::HuggingChat => "huggingchat",
            Site::AiStudio => "aistudio",
        }
    }

    /// For a site that streams thinking as a titled summary: the thought that follows the
    /// title (the shared reasoning text) in every reply; `None` for sites that stream the
    /// reasoning itself.
    pub fn summary_thought(self) -> Option<&'static str> {
        match self {
            Site::Qwen => Some(crate::qwen::THOUGHT),
            Site::DeepSeek
            | Site::Glm
            | Site::Mimo
            | Site::Moonshot
            | Site::Perplexity
            | Site::HuggingChat
            | Site::AiStudio => None,
        }
    }

    /// Whether the site streams its thinking where a client can get it. Perplexity keeps its
    /// thinking in plan blocks, which never reach a client, so its replies carry none.
    pub fn streams_thinking(self) -> bool {
        self != Site::Perplexity
    }

    /// Where the app lives on its origin: HuggingChat's under `/chat` (huggingface.co/chat),
    /// the others at the root. [`crate::ReplicaServer::base_url`] ends with it.
    pub fn base_path(self) -> &'static str {
        match self {
            Site::HuggingChat => "/chat",
            _ => "",
        }
    }

    /// The model as the echo line names it: the logged model, and for HuggingChat also the
    /// thinking effort and inference provider the request carried
    /// (`<model>, effort=<e>, provider=<p>`).
    pub fn echo_model(self, request: &crate::ReceivedRequest) -> String {
        match self {
            Site::HuggingChat => crate::huggingchat::echo_model(
                &request.model,
                request.effort.as_deref().unwrap_or(""),
                request.inference_provider.as_deref().unwrap_or(""),
            ),
            Site::AiStudio => crate::aistudio::echo_model(request),
            _ => request.model.clone(),
        }
    }

    /// Inverse of [`Site::slug`].
    pub fn from_slug(slug: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|site| site.slug() == slug)
    }
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for site in Site::ALL {
            assert_eq!(Site::from_slug(site.slug()), Some(site));
        }
        assert_eq!(Site::from_slug("kimi"), None);
    }
}
