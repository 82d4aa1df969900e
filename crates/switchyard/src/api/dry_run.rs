//! Dry Run Mode (`api.dry_run = true`): every request is shaped, shown, and answered 418.
//!
//! No browser starts. The last captured request (the client's JSON and the shaped result a
//! driver would have received) is logged and served at `GET /api/dry-run/last`, so formatting,
//! names, macros and efforts can be checked without touching a site.

use std::sync::Mutex;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use super::error::ApiError;
use crate::ids::unix_now;
use crate::shaping::{DeepThinkEffort, RequestKind, ShapedRequest};

/// The last captured request.
#[derive(Default)]
pub struct DryRun {
    last: Mutex<Option<Value>>,
}

impl DryRun {
    /// Records a shaped request and returns the 418 the client gets.
    pub fn capture(&self, raw: &Value, shaped: &ShapedRequest, messages: usize) -> ApiError {
        let t = &shaped.toggles;
        let record = json!({
            "captured_at": unix_now(),
            "request": raw,
            "shaped": {
                "provider": shaped.provider.prefix(),
                "kind": match shaped.kind { RequestKind::Chat => "chat", RequestKind::Text => "text" },
                "messages": messages,
                "model": shaped.client_model,
                "mode": shaped.mode.suffix(),
                "prompt": shaped.prompt,
                "system": shaped.system,
                "toggles": {
                    "thinking": t.thinking,
                    "search": t.search,
                    "expert": t.expert,
                    "send_as_file": t.send_as_file,
                    "url_context": t.url_context,
                },
                "send_thinking": shaped.send_thinking,
                "real_model": shaped.real_model,
                "deep_think_effort": shaped.deep_think_effort.map(|e| match e {
                    DeepThinkEffort::High => "high",
                    DeepThinkEffort::Max => "max",
                }),
                "thinking_effort": shaped.thinking_effort,
                "inference_provider": shaped.inference_provider,
                "thinking_level": shaped.thinking_level.map(|l| l.suffix()),
            },
        });
        info!(
            provider = shaped.provider.prefix(),
            mode = shaped.mode.suffix(),
            thinking = t.thinking,
            search = t.search,
            "Dry Run captured a request; the prompt a driver would type:\n{}",
            shaped.prompt
        );
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
        ApiError {
            status: StatusCode::IM_A_TEAPOT,
            message: "I'm a teapot: Dry Run Mode captured the request. It is now inspectable at \
                      GET /api/dry-run/last."
                .to_owned(),
            kind: "dry_run",
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// The last capture, if any.
    pub fn last(&self) -> Option<Value> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
