//! Xiaomi MiMo (aistudio.xiaomimimo.com): site defaults only; no driver in this build yet, so it
//! runs in Dry Run Mode only. It only tees, answers can take long to start (150 s), no system
//! field; `reasoning_effort` follows the generic rule and the shared macros apply.

use super::failure::classify_http;
use super::spec::{ProviderSpec, RequestSwitches, SiteDefaults};
use crate::config::CaptureMode;
use crate::models::ProviderKind;
use crate::shaping::effort;

pub static SPEC: ProviderSpec = ProviderSpec {
    kind: ProviderKind::Mimo,
    site: SiteDefaults {
        base_url: "https://aistudio.xiaomimimo.com",
        first_chunk_timeout_secs: 150,
        idle_timeout_secs: 75,
        capture: CaptureMode::Tee,
        models: &["MiMo-V2.5-Pro", "MiMo-V2.5"],
        default_model: Some("MiMo-V2.5-Pro"),
    },
    requests: RequestSwitches {
        effort: effort::generic,
        macros: &[],
        system_field: false,
    },
    classify: classify_http,
    driver: None,
};
