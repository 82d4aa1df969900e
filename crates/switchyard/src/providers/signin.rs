//! Automatic sign-in: fills a provider's sign-in form with a saved account (behavior-spec §7.4,
//! provider-wire-formats §2.1, §3.1).
//!
//! Only the providers whose reference fills the form have a script here; the others sign in by
//! hand (`switchyard login`). A script fills the form and submits it, then waits for the form's
//! error; on success the page navigates to the chat, which ends the script's context, and the
//! lane's ready check decides.

use std::time::Duration;

use serde_json::json;

use super::Driver;
use crate::browser::Tab;
use crate::models::ProviderKind;

/// The sign-in script of a provider, and the page it runs on (a path under the base URL;
/// `None`: the page the site redirected to).
struct SignIn {
    script: &'static str,
    page: Option<&'static str>,
}

fn of(kind: ProviderKind) -> Option<SignIn> {
    match kind {
        ProviderKind::DeepSeek => Some(SignIn {
            script: include_str!("deepseek/signin.js"),
            page: None,
        }),
        ProviderKind::Glm => Some(SignIn {
            script: include_str!("glm/signin.js"),
            page: Some("/auth"),
        }),
        _ => None,
    }
}

/// What the sign-in attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The form was submitted and the page left it (the ready check says whether it worked).
    Submitted,
    /// The site refused the email and password, with its message.
    Refused(String),
    /// The provider has no automatic sign-in.
    Unsupported,
}

impl Driver {
    /// Whether this provider signs in by filling its form.
    pub fn fills_sign_in(self) -> bool {
        of(self.provider()).is_some()
    }

    /// Fills and submits the site's sign-in form with `email` and `password`. The password
    /// reaches only the page.
    pub async fn sign_in(
        self,
        tab: &Tab,
        base_url: &str,
        email: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<SignInOutcome, String> {
        let Some(how) = of(self.provider()) else {
            return Ok(SignInOutcome::Unsupported);
        };
        if let Some(page) = how.page {
            let url = format!("{base_url}{page}");
            tab.goto(&url, timeout)
                .await
                .map_err(|e| format!("could not open the sign-in page {url}: {e}"))?;
        }
        let args = json!({
            "email": email,
            "password": password,
            "timeout_ms": timeout.as_millis() as u64,
        });
        let script = self.script(how.script, &args);
        match tab
            .eval("signing in", &script, timeout + tab.cdp_timeout())
            .await
        {
            Ok(value) => match value["state"].as_str() {
                Some("refused") => Ok(SignInOutcome::Refused(
                    value["message"].as_str().unwrap_or_default().to_owned(),
                )),
                Some("no_form") => Err("the sign-in form was not found on the page".to_owned()),
                _ => Ok(SignInOutcome::Submitted),
            },
            // The page navigated away from the form (what a successful sign-in does), which
            // ends the script's context; the ready check that follows tells.
            Err(crate::browser::BrowserError::Script { cause, .. })
                if cause.contains("timed out") =>
            {
                Err(format!("the sign-in did not finish: {cause}"))
            }
            Err(e @ crate::browser::BrowserError::Timeout { .. }) => Err(e.to_string()),
            Err(_) => Ok(SignInOutcome::Submitted),
        }
    }
}
