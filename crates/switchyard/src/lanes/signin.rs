//! A lane whose site asks for a sign-in: fill the form with the lane's saved account, or say
//! how to sign in by hand.

use tracing::{info, warn};

use super::lane::{Lane, READY_TIMEOUT};
use crate::providers::{DriverError, SignInOutcome};

/// Signs the lane's page in with its account (the site showed its sign-in form at `url`), then
/// waits for the chat UI. A lane without an account, a provider without automatic sign-in, or
/// a refused password is an error that says what to do.
pub(super) async fn sign_in(lane: &Lane, url: &str) -> Result<(), String> {
    let label = &lane.spec.label;
    let provider = lane.spec.provider.prefix();
    let Some(held) = lane.accounts.held(&lane.spec.id) else {
        return Err(format!(
            "{url}: the site asks for a sign-in and the lane has no saved account; add one \
             (`switchyard accounts add --provider {provider} EMAIL`, and `[accounts] auto_login = \
             true` for a lane that is not full-parallel) or sign in by hand with `switchyard \
             login --provider {provider}`, then restart"
        ));
    };
    if !lane.driver.fills_sign_in() {
        return Err(format!(
            "{url}: the site asks for a sign-in and {} signs in by hand; run `switchyard login \
             --provider {provider} --account {}`, then restart",
            lane.spec.provider, held.email
        ));
    }
    let Some(password) = held.password.as_ref() else {
        return Err(format!(
            "{url}: the site asks for a sign-in and the saved account {} has no password; set \
             one with `switchyard accounts edit --provider {provider} {}`",
            held.email, held.email
        ));
    };
    info!(lane = %lane.spec.id, "{label}: signing in as {}", held.email);
    let base = lane.settings.base_url.trim_end_matches('/');
    let outcome = lane
        .driver
        .sign_in(
            &lane.tab,
            &lane.browser,
            base,
            &held.email,
            password.expose(),
            READY_TIMEOUT,
        )
        .await
        .map_err(|e| format!("{label}: signing in as {} failed: {e}", held.email))?;
    match outcome {
        SignInOutcome::Submitted => {}
        SignInOutcome::Refused(message) => {
            warn!(lane = %lane.spec.id, "{label}: the site refused the sign-in of {}: {message}", held.email);
            return Err(format!(
                "{label}: the site refused the sign-in of {}: {message}; check the password \
                 (`switchyard accounts edit --provider {provider} {}`)",
                held.email, held.email
            ));
        }
        SignInOutcome::Manual(message) => {
            warn!(lane = %lane.spec.id, "{label}: the sign-in of {} needs a person: {message}", held.email);
            return Err(format!(
                "{label}: manual sign-in needed for {}: {message}. Sign in by hand once \
                 (`switchyard login --provider {provider} --account {}`), then restart",
                held.email, held.email
            ));
        }
        SignInOutcome::Unsupported => {
            return Err(format!("{url}: {}", DriverError::SignInRequired));
        }
    }
    // The page is on its way to the chat; the first ready check may meet the page between two
    // documents, so one more try follows a failed call (not a sign-in form).
    let mut tries = 0;
    loop {
        tries += 1;
        match lane.driver.wait_ready(&lane.tab, READY_TIMEOUT).await {
            Ok(()) => break,
            Err(DriverError::SignInRequired) => {
                return Err(format!(
                    "{label}: {url} still asks for a sign-in after signing in as {}",
                    held.email
                ));
            }
            Err(DriverError::Browser(e)) if tries < 3 => {
                tracing::debug!(lane = %lane.spec.id, cause = %e, "ready check after sign-in, again");
            }
            Err(e) => return Err(format!("{url} did not become ready after signing in: {e}")),
        }
    }
    info!(lane = %lane.spec.id, "{label}: signed in as {}", held.email);
    super::session::save(lane).await;
    Ok(())
}
