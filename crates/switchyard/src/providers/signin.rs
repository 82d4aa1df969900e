//! Automatic sign-in: fills a provider's sign-in form with a saved account (behavior-spec §7.4,
//! provider-wire-formats §2.1, §3.1, §4.1, §8.1).
//!
//! Each provider that fills its form names the script and page in its own spec
//! ([`super::spec::SignInForm`]); the others sign in by hand (`switchyard login`). A script fills the form and submits it, then waits for the form's
//! error; on success the page navigates to the chat, which ends the script's context, and the
//! lane's ready check decides.
//!
//! A site that signs in through Google (Kimi, AI Studio) names a [`SignInFlow`]: its script
//! opens Google's pages (Kimi: the login modal's Google button, clicked with the pointer, opens
//! a popup, which [`crate::browser::Chromium::popup_of`] finds among the browser's pages by
//! its opener; AI Studio: the site already redirected the lane's page there), then
//! [`GOOGLE_STEP`] runs on each of Google's pages in turn: the identifier (`input#identifierId`)
//! and the password (`input[name=Passwd]`) are filled and submitted with Enter after a short
//! pause, a consent button (Continue, Continue as …, Allow) is pressed. Google's error text is
//! a refusal; a second step ("2-Step Verification", "Check your phone", …) needs a person, and
//! so does a flow that does not end in time or a site that does not show the account signed
//! in within [`SignInFlow::return_timeout`] afterwards. The pages are recognised by their
//! fields, never by their host.

use std::time::Duration;

use serde_json::json;

use super::Driver;
use super::spec::SignInFlow;
use crate::browser::{BrowserError, Chromium, Rect, Tab};

/// The step script of Google's sign-in pages (for [`SignInFlow::step`]).
pub(super) const GOOGLE_STEP: &str = include_str!("google_signin.js");

/// The bound of one step on Google's pages (a page to load and be recognised, a submit to
/// leave the page).
const STEP: Duration = Duration::from_secs(8);
/// How long the popup may take to appear after the click that opens it.
const POPUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon the site is looked at again after the sign-in when it is not signed in yet.
const RETURN_POLL: Duration = Duration::from_millis(200);
/// The most pages one flow may go through before it counts as going round in circles.
const MOST_STEPS: u32 = 12;

/// What the sign-in attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The form was submitted and the page left it (the ready check says whether it worked).
    Submitted,
    /// The site refused the email and password, with its message.
    Refused(String),
    /// The sign-in needs a person (a second step such as a phone confirmation, or a flow that
    /// did not come back in time), with what the pages showed.
    Manual(String),
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

    /// Fills and submits the site's sign-in form with `email` and `password` (through the
    /// identity provider's pages, where the site signs in that way; a popup they open is
    /// found in `browser`). The password reaches only the page.
    pub async fn sign_in(
        self,
        tab: &Tab,
        browser: &Chromium,
        base_url: &str,
        email: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<SignInOutcome, String> {
        let Some(how) = self.sign_in_form() else {
            return Ok(SignInOutcome::Unsupported);
        };
        if let Some(domain) = how.flow.as_ref().and_then(|f| f.placeholder_domain) {
            if email.trim().to_lowercase().ends_with(&format!("@{domain}")) {
                return Err(format!(
                    "{email} is a placeholder address, not a real account; remove it and add \
                     the account's own email (`switchyard accounts remove --provider {p} \
                     {email}`, then `switchyard accounts add --provider {p} EMAIL`)",
                    p = self.provider().prefix()
                ));
            }
        }
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
            "step_ms": STEP.as_millis() as u64,
        });
        let script = self.script(how.script, &args);
        let result = tab
            .eval("signing in", &script, timeout + tab.cdp_timeout())
            .await;
        if let Some(flow) = &how.flow {
            let value = result.map_err(|e| format!("opening the sign-in failed: {e}"))?;
            return self
                .walk_flow(tab, browser, flow, &value, email, password)
                .await;
        }
        match result {
            Ok(value) => match value["state"].as_str() {
                Some("refused") => Ok(SignInOutcome::Refused(
                    value["message"].as_str().unwrap_or_default().to_owned(),
                )),
                Some("no_form") => Err("the sign-in form was not found on the page".to_owned()),
                _ => Ok(SignInOutcome::Submitted),
            },
            // The page navigated away from the form (what a successful sign-in does), which
            // ends the script's context; the ready check that follows tells.
            Err(BrowserError::Script { cause, .. }) if cause.contains("timed out") => {
                Err(format!("the sign-in did not finish: {cause}"))
            }
            Err(e @ BrowserError::Timeout { .. }) => Err(e.to_string()),
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

    /// The identity provider's part: opens its pages as the site's script said (`opened`),
    /// walks them, closes a popup left open, and waits for the site to show it signed in.
    async fn walk_flow(
        self,
        tab: &Tab,
        browser: &Chromium,
        flow: &SignInFlow,
        opened: &serde_json::Value,
        email: &str,
        password: &str,
    ) -> Result<SignInOutcome, String> {
        let name = flow.name;
        let popup = match opened["state"].as_str() {
            Some("popup") if flow.popup => {
                let rect = rect_of(&opened["rect"])
                    .ok_or("the sign-in script named no button to open the popup")?;
                tab.human_click(rect)
                    .await
                    .map_err(|e| format!("clicking the {name} sign-in button failed: {e}"))?;
                let popup = browser.popup_of(tab, POPUP_TIMEOUT).await.map_err(|e| {
                    format!("the {name} sign-in popup did not open ({e}); is a popup blocker on?")
                })?;
                Some(popup)
            }
            Some("flow") if !flow.popup => None,
            Some("no_form") => {
                return Err(format!("the {name} sign-in was not found on the page"));
            }
            other => {
                return Err(format!(
                    "the sign-in script answered {other:?}, which this flow does not expect"
                ));
            }
        };
        let pages = popup.as_ref().unwrap_or(tab);
        let walked = self
            .walk_pages(pages, popup.is_some(), browser, flow, email, password)
            .await;
        if let Some(popup) = popup {
            // The popup closes itself at the end of a sign-in; one left open (a refusal, a
            // second step) is closed, so the lane's context keeps no stray page.
            if browser.is_open(&popup).await.unwrap_or(false) {
                popup.close(browser).await;
            }
        }
        match walked? {
            None => {}
            Some(outcome) => return Ok(outcome),
        }
        self.await_return(tab, flow, email).await
    }

    /// Runs the step script on each of the identity provider's pages until they are left (or
    /// the popup closed): `Some(outcome)` when they refused or need a person.
    async fn walk_pages(
        self,
        pages: &Tab,
        popup: bool,
        browser: &Chromium,
        flow: &SignInFlow,
        email: &str,
        password: &str,
    ) -> Result<Option<SignInOutcome>, String> {
        let name = flow.name;
        let args = json!({
            "email": email,
            "password": password,
            "step_ms": STEP.as_millis() as u64,
        });
        let script = self.script(flow.step, &args);
        let deadline = tokio::time::Instant::now() + flow.timeout;
        for step in 1..=MOST_STEPS {
            if tokio::time::Instant::now() >= deadline {
                return Ok(Some(SignInOutcome::Manual(format!(
                    "{name}'s sign-in did not finish within {}s",
                    flow.timeout.as_secs()
                ))));
            }
            if popup && !browser.is_open(pages).await.map_err(|e| e.to_string())? {
                tracing::debug!(step, "the {name} sign-in popup closed itself");
                return Ok(None);
            }
            let bound = STEP * 3 + pages.cdp_timeout();
            let step_done = pages.eval("a step of the sign-in", &script, bound);
            // A call into a popup that closes meanwhile gets no answer: watch for the close.
            let result = if popup {
                tokio::select! {
                    result = step_done => result,
                    () = closed(browser, pages) => {
                        tracing::debug!(step, "the {name} sign-in popup closed itself");
                        return Ok(None);
                    }
                }
            } else {
                step_done.await
            };
            match result {
                Ok(value) => {
                    let message = value["message"].as_str().unwrap_or_default().to_owned();
                    match value["state"].as_str() {
                        Some("refused") => return Ok(Some(SignInOutcome::Refused(message))),
                        Some("manual") => return Ok(Some(SignInOutcome::Manual(message))),
                        Some("other") => return Ok(None),
                        Some("stuck") => return Err(format!("{name}'s sign-in: {message}")),
                        _ => tracing::debug!(step, "a {name} sign-in step: {value}"),
                    }
                }
                Err(e @ BrowserError::Timeout { .. }) => {
                    return Err(format!("{name}'s sign-in page hung: {e}"));
                }
                // The step submitted and the page went on (ending the script's context), or
                // the popup closed; the next round looks at what is there now.
                Err(e) => tracing::debug!(step, cause = %e, "a {name} sign-in step left its page"),
            }
        }
        Ok(Some(SignInOutcome::Manual(format!(
            "{name}'s sign-in went through {MOST_STEPS} pages without coming back to the site"
        ))))
    }

    /// Waits up to the flow's return timeout for the site to show the account signed in.
    async fn await_return(
        self,
        tab: &Tab,
        flow: &SignInFlow,
        email: &str,
    ) -> Result<SignInOutcome, String> {
        let deadline = tokio::time::Instant::now() + flow.return_timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(SignInOutcome::Manual(format!(
                    "the site did not show {email} signed in within {}s of {}'s sign-in",
                    flow.return_timeout.as_secs(),
                    flow.name
                )));
            }
            match self.wait_ready(tab, left).await {
                Ok(()) | Err(super::DriverError::NotEnglish(_)) => {
                    return Ok(SignInOutcome::Submitted);
                }
                // Still signed out (the site may be reloading signed in), or between two
                // documents: look again until the deadline.
                Err(e) => {
                    tracing::debug!(cause = %e, "waiting for the site after the sign-in");
                    tokio::time::sleep(RETURN_POLL).await;
                }
            }
        }
    }
}

/// Resolves once `tab`'s page is gone (looked at every [`RETURN_POLL`]; a failed look counts
/// as still open).
async fn closed(browser: &Chromium, tab: &Tab) {
    loop {
        tokio::time::sleep(RETURN_POLL).await;
        if let Ok(false) = browser.is_open(tab).await {
            return;
        }
    }
}

/// A `{x, y, width, height}` box a script answered.
fn rect_of(value: &serde_json::Value) -> Option<Rect> {
    Some(Rect {
        x: value["x"].as_f64()?,
        y: value["y"].as_f64()?,
        width: value["width"].as_f64()?,
        height: value["height"].as_f64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_needs_all_four_numbers() {
        let r = rect_of(&json!({"x": 1, "y": 2.5, "width": 30, "height": 4})).unwrap();
        assert_eq!((r.x, r.y, r.width, r.height), (1.0, 2.5, 30.0, 4.0));
        assert!(rect_of(&json!({"x": 1, "y": 2})).is_none());
    }
}
