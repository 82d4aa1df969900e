//! GLM Chat (chat.z.ai): page scripts and stream endpoint.
//!
//! Deep Think is set through its effort menu (GLM-5.2 and newer) or the classic switch; web
//! search is the unlabeled toggle before it. The answer streams from `/api/v2/chat/completions`
//! (older builds: `/api/chat/completions`) as `chat:completion` SSE events, decoded by
//! `switchyard_decode::glm`.

use super::Scripts;

pub const STREAM_PATHS: &[&str] = &["/api/v2/chat/completions", "/api/chat/completions"];

pub(super) static SCRIPTS: Scripts = Scripts {
    ready: concat!(include_str!("hooks.js"), include_str!("ready.js")),
    prepare: concat!(include_str!("hooks.js"), include_str!("prepare.js")),
    send: concat!(include_str!("hooks.js"), include_str!("send.js")),
    stop: concat!(include_str!("hooks.js"), include_str!("stop.js")),
};
