//! DeepSeek (chat.deepseek.com): page scripts and stream endpoint.
//!
//! The model type picker selects Instant or Expert (`deepseek-expert-*` IDs); the DeepThink and
//! Search toggles follow the request. The answer streams from `/api/v0/chat/completion` as
//! DeepSeek's path/operation/value patch stream, decoded by `switchyard_decode::deepseek`.

use super::Scripts;

/// The completion request (and the regenerate request, for later reuse support).
pub const STREAM_PATHS: &[&str] = &["/api/v0/chat/completion", "/api/v0/chat/regenerate"];

pub(super) static SCRIPTS: Scripts = Scripts {
    ready: concat!(include_str!("hooks.js"), include_str!("ready.js")),
    prepare: concat!(include_str!("hooks.js"), include_str!("prepare.js")),
    send: concat!(include_str!("hooks.js"), include_str!("send.js")),
    stop: concat!(include_str!("hooks.js"), include_str!("stop.js")),
};
