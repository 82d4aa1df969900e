//! The page side of `switchyard doctor`: how each hook of a driver's table is found on the page.
//!
//! `doctor.js` runs every way of the driver's `hooks.js` table and reports, per hook, the way
//! that matched (0 is the preferred way: role, accessible name or text; later ways are
//! fallbacks such as class names) or that none did.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Driver, DriverError, SendState};
use crate::browser::Tab;

const DOCTOR: &str = include_str!("doctor.js");

/// How one hook was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStatus {
    /// By its preferred way.
    Found,
    /// Only by a fallback way: the site changed something; the lane still works.
    Fallback,
    /// By no way: the lane cannot do this step.
    Missing,
    /// Not checked (why).
    Skipped(String),
}

/// The report for one hook.
#[derive(Debug, Clone)]
pub struct HookCheck {
    pub hook: String,
    pub status: HookStatus,
    /// The way that matched, or every way tried when none did, or what was seen instead.
    pub how: String,
}

impl HookCheck {
    /// A hook checked outside the table (sign-in state, the stream endpoint).
    pub fn new(hook: &str, status: HookStatus, how: impl Into<String>) -> HookCheck {
        HookCheck {
            hook: hook.to_owned(),
            status,
            how: how.into(),
        }
    }
}

#[derive(Deserialize)]
struct RawCheck {
    hook: String,
    way: Option<u32>,
    how: Option<String>,
    tried: Vec<String>,
}

impl From<RawCheck> for HookCheck {
    fn from(raw: RawCheck) -> HookCheck {
        let (status, how) = match (raw.way, raw.how) {
            (Some(0), Some(how)) => (HookStatus::Found, how),
            (Some(_), Some(how)) => (HookStatus::Fallback, how),
            _ => (
                HookStatus::Missing,
                format!("tried: {}", raw.tried.join("; ")),
            ),
        };
        HookCheck {
            hook: raw.hook,
            status,
            how,
        }
    }
}

impl Driver {
    /// Checks every hook of the table except Stop (which shows only while an answer streams).
    pub async fn check_hooks(self, tab: &Tab) -> Result<Vec<HookCheck>, DriverError> {
        self.run_doctor(tab, &json!({ "mode": "hooks" }), tab.cdp_timeout())
            .await
    }

    /// While an answer streams: waits up to `wait` for the Stop control.
    pub async fn check_stop(
        self,
        tab: &Tab,
        sent: &SendState,
        wait: Duration,
    ) -> Result<HookCheck, DriverError> {
        let args =
            json!({ "mode": "stop", "signature": sent.signature, "ms": wait.as_millis() as u64 });
        let mut checks = self
            .run_doctor(tab, &args, wait + tab.cdp_timeout())
            .await?;
        Ok(checks
            .pop()
            .unwrap_or_else(|| HookCheck::new("stop", HookStatus::Missing, "no report")))
    }

    async fn run_doctor(
        self,
        tab: &Tab,
        args: &serde_json::Value,
        bound: Duration,
    ) -> Result<Vec<HookCheck>, DriverError> {
        let value = tab
            .eval("checking the page hooks", &self.script(DOCTOR, args), bound)
            .await?;
        let raw: Vec<RawCheck> = serde_json::from_value(value).map_err(|e| {
            DriverError::Browser(crate::browser::BrowserError::Script {
                what: "checking the page hooks".into(),
                cause: format!("unexpected report: {e}"),
            })
        })?;
        Ok(raw.into_iter().map(HookCheck::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_map_to_found_fallback_and_missing() {
        let raw = |way, how: Option<&str>| RawCheck {
            hook: "send".into(),
            way,
            how: how.map(str::to_owned),
            tried: vec!["a".into(), "b".into()],
        };
        let found = HookCheck::from(raw(Some(0), Some("a")));
        assert_eq!((found.status, found.how.as_str()), (HookStatus::Found, "a"));
        let fallback = HookCheck::from(raw(Some(1), Some("b")));
        assert_eq!(fallback.status, HookStatus::Fallback);
        let missing = HookCheck::from(raw(None, None));
        assert_eq!(missing.status, HookStatus::Missing);
        assert_eq!(missing.how, "tried: a; b");
    }
}
