//! Automatic sign-in: fills a provider's sign-in form with a saved account (behavior-spec §7.4,
//! provider-wire-formats §2.1, §3.1).
//!
//! Each provider that fills its form names the script and page in its own spec
//! ([`super::spec::SignInForm`]); the others sign in by hand (`switchyard login`). A script fills the form and submits it, then waits for the form's
//! error; on success the page navigates to the chat, which ends the script's context, and the
//! lane's ready check decides.

use std::time::Duration;

use serde_json::json;

use super::Driver;
use crate::browser::Tab;

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
    fn sign_in_form(self) -> Option<&'static super::spec::SignInForm> {
        self.spec.sign_in.as_ref()
    }

    /// Whether this provider signs in by filling its form.
    pub fn fills_sign_in(self) -> bool {
        self.sign_in_form().is_some()
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
        let Some(how) = self.sign_in_form() else {
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

    /// Whether this provider signs in by an emailed code (`switchyard login` asks for it).
    pub fn signs_in_by_code(self) -> bool {
        super::spec(self.provider())
            .site
            .options
            .code_sign_in
            .is_some()
    }

    /// Starts the sign-in by an emailed code for `email` on the site's page (opening the start
    /// page first). `Submitted`: the site says it sent the code.
    pub async fn start_code_sign_in(
        self,
        tab: &Tab,
        base_url: &str,
        email: &str,
        timeout: Duration,
    ) -> Result<SignInOutcome, String> {
        let Some(how) = super::spec(self.provider())
            .site
            .options
            .code_sign_in
            .as_ref()
        else {
            return Ok(SignInOutcome::Unsupported);
        };
        let url = self.start_url(base_url);
        tab.goto(&url, timeout)
            .await
            .map_err(|e| format!("could not open {url}: {e}"))?;
        let args = json!({ "email": email, "timeout_ms": timeout.as_millis() as u64 });
        let value = tab
            .eval(
                "asking for a sign-in code",
                &self.script(how.start, &args),
                timeout + tab.cdp_timeout(),
            )
            .await
            .map_err(|e| format!("asking for the sign-in code failed: {e}"))?;
        match value["state"].as_str() {
            Some("sent") => Ok(SignInOutcome::Submitted),
            Some("refused") => Ok(SignInOutcome::Refused(
                value["message"].as_str().unwrap_or_default().to_owned(),
            )),
            _ => Err("the sign-in form was not found on the page".to_owned()),
        }
    }

    /// Types the emailed code into the site's code inputs.
    pub async fn enter_sign_in_code(
        self,
        tab: &Tab,
        code: &str,
        timeout: Duration,
    ) -> Result<SignInOutcome, String> {
        let Some(how) = super::spec(self.provider())
            .site
            .options
            .code_sign_in
            .as_ref()
        else {
            return Ok(SignInOutcome::Unsupported);
        };
        let args = json!({ "code": code, "timeout_ms": timeout.as_millis() as u64 });
        match tab
            .eval(
                "entering the sign-in code",
                &self.script(how.enter, &args),
                timeout + tab.cdp_timeout(),
            )
            .await
        {
            Ok(value) => match value["state"].as_str() {
                Some("refused") => Ok(SignInOutcome::Refused(
                    value["message"].as_str().unwrap_or_default().to_owned(),
                )),
                Some("no_form") => Err("the code inputs were not found on the page".to_owned()),
                _ => Ok(SignInOutcome::Submitted),
            },
            Err(crate::browser::BrowserError::Script { cause, .. })
                if cause.contains("timed out") =>
            {
                Err(format!("the sign-in did not finish: {cause}"))
            }
            Err(e @ crate::browser::BrowserError::Timeout { .. }) => Err(e.to_string()),
            // The page left the code form (a successful sign-in navigates).
            Err(_) => Ok(SignInOutcome::Submitted),
        }
    }
}
