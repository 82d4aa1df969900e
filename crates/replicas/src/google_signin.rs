//! A replica of Google's sign-in pages (accounts.google.com), which Kimi and AI Studio sign in
//! through. Served by the replica server of those sites on Google's own paths, so a driver
//! recognises the pages by their fields (as it must on the real site), not by their host.
//!
//! Routes:
//! - `GET /ServiceLogin?continue=<path>`: a sign-in to a Google service (AI Studio redirects a
//!   signed-out visitor here). On success the browser goes back to `continue` with the site's
//!   account session cookie (`replica_account`, see [`crate::accounts`]).
//! - `GET /o/oauth2/v2/auth?client_id=…&redirect_uri=<path>&state=…`: an OAuth sign-in (Kimi's
//!   "Continue with Google" popup). On success, and after the consent page, the browser goes to
//!   `redirect_uri?code=…&state=…`; the site redeems the one-time code ([`redeem`]) for the
//!   account.
//! - `GET|POST /v3/signin/identifier?TL=<flow>`: the identifier page, `input#identifierId`
//!   (type email, name `identifier`) and Next (`#identifierNext button`); Enter in the field
//!   submits it (the page's script, as Google's does). An unknown address is refused with
//!   Google's text ("Couldn't find your Google Account").
//! - `GET|POST /v3/signin/challenge/pwd?TL=<flow>`: the password page, `input[name=Passwd]`
//!   (type password) and Next; a wrong password shows "Wrong password. Try again or click
//!   Forgot password to reset it."
//! - `GET /v3/signin/challenge/dp?TL=<flow>`: "2-Step Verification · Check your phone", for an
//!   account that needs a second step ([`crate::ReplicaServer::require_second_step`]). The
//!   page has no field and never goes on by itself: only a person with the phone could.
//! - `GET|POST /signin/oauth/id?TL=<flow>`: the OAuth consent page ("Sign in to <client>",
//!   buttons Cancel and Continue).
//!
//! Errors are shown in an `aria-live="assertive"` element, as on Google's pages. A flow id that
//! this server did not issue gets HTTP 400. Every page is `lang="en"`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::accounts;
use crate::server::{AppState, random_hex};

const IDENTIFIER_PATH: &str = "/v3/signin/identifier";
const PASSWORD_PATH: &str = "/v3/signin/challenge/pwd";
const SECOND_STEP_PATH: &str = "/v3/signin/challenge/dp";
const CONSENT_PATH: &str = "/signin/oauth/id";

const UNKNOWN_ACCOUNT: &str = "Couldn't find your Google Account";
const WRONG_PASSWORD: &str = "Wrong password. Try again or click Forgot password to reset it.";

/// One sign-in in progress.
struct Flow {
    /// Where a Google-service sign-in returns (a path on this server).
    continue_to: String,
    /// The OAuth client's return, for an OAuth sign-in.
    oauth: Option<OAuth>,
    /// The account, once the identifier page accepted it.
    email: Option<String>,
    /// The password was right.
    verified: bool,
}

struct OAuth {
    client: String,
    redirect_uri: String,
    state: String,
}

/// The flows in progress and the OAuth codes not yet redeemed.
#[derive(Default)]
pub(crate) struct Flows {
    flows: HashMap<String, Flow>,
    /// One-time code → lowercased email.
    codes: HashMap<String, String>,
}

/// The routes of Google's sign-in pages, merged into a site's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceLogin", get(service_login))
        .route("/o/oauth2/v2/auth", get(oauth))
        .route(IDENTIFIER_PATH, get(identifier_page).post(identifier_post))
        .route(PASSWORD_PATH, get(password_page).post(password_post))
        .route(SECOND_STEP_PATH, get(second_step_page))
        .route(CONSENT_PATH, get(consent_page).post(consent_post))
}

/// Where a site sends a signed-out visitor: the sign-in that returns to `path_and_query`.
pub(crate) fn sign_in_url(path_and_query: &str) -> String {
    format!("/ServiceLogin?continue={}", percent_encode(path_and_query))
}

/// Redeems an OAuth code (once): the account it was issued to.
pub(crate) fn redeem(app: &AppState, code: &str) -> Option<String> {
    flows(app).codes.remove(code)
}

fn flows(app: &AppState) -> std::sync::MutexGuard<'_, Flows> {
    app.shared.google.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path on this server (no scheme, no host, no `//`), or `None`.
fn local_path(url: &str) -> Option<String> {
    (url.starts_with('/') && !url.starts_with("//") && !url.contains('\\')).then(|| url.to_owned())
}

fn start(app: &AppState, flow: Flow) -> Response {
    let id = random_hex();
    flows(app).flows.insert(id.clone(), flow);
    Redirect::to(&format!("{IDENTIFIER_PATH}?TL={id}")).into_response()
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(page("Error", &format!("<p>{}</p>", escape(why)))),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ServiceLogin {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

async fn service_login(State(app): State<AppState>, Query(q): Query<ServiceLogin>) -> Response {
    let Some(continue_to) = local_path(q.continue_to.as_deref().unwrap_or("/")) else {
        return bad_request("continue must be a page of this site");
    };
    start(
        &app,
        Flow {
            continue_to,
            oauth: None,
            email: None,
            verified: false,
        },
    )
}

#[derive(Deserialize)]
struct OAuthQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

async fn oauth(State(app): State<AppState>, Query(q): Query<OAuthQuery>) -> Response {
    let (Some(client), Some(redirect_uri), Some(state)) = (q.client_id, q.redirect_uri, q.state)
    else {
        return bad_request("client_id, redirect_uri and state are required");
    };
    let Some(redirect_uri) = local_path(&redirect_uri) else {
        return bad_request("redirect_uri is not registered for this client");
    };
    start(
        &app,
        Flow {
            continue_to: "/".to_owned(),
            oauth: Some(OAuth {
                client,
                redirect_uri,
                state,
            }),
            email: None,
            verified: false,
        },
    )
}

#[derive(Deserialize)]
struct FlowQuery {
    #[serde(rename = "TL")]
    tl: String,
}

/// The client's name the pages show ("Google AI Studio" for a service sign-in).
fn client_name(flow: &Flow) -> String {
    match &flow.oauth {
        Some(o) if o.client.starts_with("kimi") => "Kimi".to_owned(),
        Some(o) => o.client.clone(),
        None => "Google AI Studio".to_owned(),
    }
}

async fn identifier_page(State(app): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let flows = flows(&app);
    let Some(flow) = flows.flows.get(&q.tl) else {
        return bad_request("this sign-in expired; start again");
    };
    Html(identifier_html(&q.tl, &client_name(flow), "", "")).into_response()
}

fn identifier_html(tl: &str, client: &str, value: &str, error: &str) -> String {
    page(
        "Sign in - Google Accounts",
        &format!(
            r#"<div id="initialView">
<h1 id="headingText"><span>Sign in</span></h1>
<div id="headingSubtext"><span>to continue to {client}</span></div>
<form method="post" action="{IDENTIFIER_PATH}?TL={tl}" novalidate>
<input type="email" id="identifierId" name="identifier" autocomplete="username" spellcheck="false" aria-label="Email or phone" value="{value}">
<div class="o6cuMc" aria-live="assertive">{error}</div>
<div id="identifierNext"><button type="submit">Next</button></div>
</form></div>"#,
            client = escape(client),
            value = escape(value),
            error = escape(error),
        ),
    )
}

#[derive(Deserialize)]
struct IdentifierForm {
    #[serde(default)]
    identifier: String,
}

async fn identifier_post(
    State(app): State<AppState>,
    Query(q): Query<FlowQuery>,
    Form(form): Form<IdentifierForm>,
) -> Response {
    let email = form.identifier.trim().to_lowercase();
    let known = app.shared.accounts().known(&email);
    let mut flows = flows(&app);
    let Some(flow) = flows.flows.get_mut(&q.tl) else {
        return bad_request("this sign-in expired; start again");
    };
    if email.is_empty() {
        let html = identifier_html(
            &q.tl,
            &client_name(flow),
            "",
            "Enter an email or phone number",
        );
        return Html(html).into_response();
    }
    if !known {
        tracing::info!(%email, "google sign-in replica: unknown account");
        let html = identifier_html(&q.tl, &client_name(flow), &form.identifier, UNKNOWN_ACCOUNT);
        return Html(html).into_response();
    }
    flow.email = Some(email);
    flow.verified = false;
    Redirect::to(&format!("{PASSWORD_PATH}?TL={}", q.tl)).into_response()
}

fn password_html(tl: &str, email: &str, error: &str) -> String {
    page(
        "Sign in - Google Accounts",
        &format!(
            r#"<div id="passwordView">
<h1 id="headingText"><span>Welcome</span></h1>
<div id="profileIdentifier" data-email="{email}">{email}</div>
<form method="post" action="{PASSWORD_PATH}?TL={tl}" novalidate>
<input type="password" name="Passwd" autocomplete="current-password" aria-label="Enter your password">
<div class="OyEIQ" aria-live="assertive">{error}</div>
<div id="passwordNext"><button type="submit">Next</button></div>
</form></div>"#,
            email = escape(email),
            error = escape(error),
        ),
    )
}

async fn password_page(State(app): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let flows = flows(&app);
    match flows.flows.get(&q.tl).and_then(|f| f.email.as_deref()) {
        Some(email) => Html(password_html(&q.tl, email, "")).into_response(),
        None => bad_request("this sign-in expired; start again"),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(rename = "Passwd", default)]
    passwd: String,
}

async fn password_post(
    State(app): State<AppState>,
    Query(q): Query<FlowQuery>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(email) = flows(&app).flows.get(&q.tl).and_then(|f| f.email.clone()) else {
        return bad_request("this sign-in expired; start again");
    };
    let (right, second_step) = {
        let accounts = app.shared.accounts();
        (
            accounts.check(&email, &form.passwd),
            accounts.needs_second_step(&email),
        )
    };
    if form.passwd.is_empty() {
        return Html(password_html(&q.tl, &email, "Enter a password")).into_response();
    }
    if !right {
        tracing::info!(%email, "google sign-in replica: wrong password");
        return Html(password_html(&q.tl, &email, WRONG_PASSWORD)).into_response();
    }
    if second_step {
        tracing::info!(%email, "google sign-in replica: the account needs its phone");
        return Redirect::to(&format!("{SECOND_STEP_PATH}?TL={}", q.tl)).into_response();
    }
    finish(&app, &q.tl, &email)
}

/// The password was right: a service sign-in returns to the site with its session; an OAuth
/// sign-in asks for consent first.
fn finish(app: &AppState, tl: &str, email: &str) -> Response {
    let mut flows = flows(app);
    let Some(flow) = flows.flows.get_mut(tl) else {
        return bad_request("this sign-in expired; start again");
    };
    flow.verified = true;
    if flow.oauth.is_some() {
        return Redirect::to(&format!("{CONSENT_PATH}?TL={tl}")).into_response();
    }
    let Some(flow) = flows.flows.remove(tl) else {
        return bad_request("this sign-in expired; start again");
    };
    drop(flows);
    let token = app.shared.accounts().open_session(email);
    (
        [(header::SET_COOKIE, accounts::session_cookie(&token))],
        Redirect::to(&flow.continue_to),
    )
        .into_response()
}

async fn second_step_page(State(app): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let flows = flows(&app);
    let Some(email) = flows.flows.get(&q.tl).and_then(|f| f.email.as_deref()) else {
        return bad_request("this sign-in expired; start again");
    };
    Html(page(
        "Sign in - Google Accounts",
        &format!(
            r#"<div id="challengeView">
<h1 id="headingText"><span>2-Step Verification</span></h1>
<div>To help keep your account safe, Google wants to make sure it's really you trying to sign in</div>
<div id="profileIdentifier">{}</div>
<h2>Check your phone</h2>
<div>Google sent a notification to your phone. Tap <strong>Yes</strong> on the notification to verify it's you.</div>
<div><button type="button">Resend it</button> <button type="button">Try another way</button></div>
</div>"#,
            escape(email)
        ),
    ))
    .into_response()
}

async fn consent_page(State(app): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let flows = flows(&app);
    let Some(flow) = flows.flows.get(&q.tl).filter(|f| f.verified) else {
        return bad_request("this sign-in expired; start again");
    };
    let client = escape(&client_name(flow));
    let email = escape(flow.email.as_deref().unwrap_or_default());
    Html(page(
        "Sign in - Google Accounts",
        &format!(
            r#"<div id="consentView">
<h1 id="headingText"><span>Sign in to {client}</span></h1>
<div id="profileIdentifier">{email}</div>
<div>By continuing, Google will share your name, email address, language preference and profile picture with {client}.</div>
<form method="post" action="{CONSENT_PATH}?TL={tl}">
<button type="button" onclick="window.close()">Cancel</button>
<button type="submit">Continue</button>
</form></div>"#,
            tl = q.tl,
        ),
    ))
    .into_response()
}

async fn consent_post(State(app): State<AppState>, Query(q): Query<FlowQuery>) -> Response {
    let mut flows = flows(&app);
    let Some(flow) = flows.flows.remove(&q.tl).filter(|f| f.verified) else {
        return bad_request("this sign-in expired; start again");
    };
    let (Some(oauth), Some(email)) = (flow.oauth, flow.email) else {
        return bad_request("this sign-in is not an OAuth sign-in");
    };
    let code = random_hex();
    flows.codes.insert(code.clone(), email);
    let sep = if oauth.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Redirect::to(&format!(
        "{}{sep}code={code}&state={}",
        oauth.redirect_uri,
        percent_encode(&oauth.state)
    ))
    .into_response()
}

/// A Google sign-in page around `body`; Enter in a field submits its form.
fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font: 14px/1.5 system-ui, sans-serif; display: flex; justify-content: center; padding-top: 60px; }}
form, #initialView, #passwordView, #challengeView, #consentView {{ display: flex; flex-direction: column; gap: 10px; width: 360px; }}
input {{ padding: 10px; font: inherit; }} [aria-live] {{ color: #d93025; min-height: 1.5em; }}</style></head>
<body>{body}
<script>
  // As Google's page script does: Enter in a field submits its form.
  for (const input of document.querySelectorAll('form input')) {{
    input.addEventListener('keydown', (event) => {{
      if (event.key === 'Enter') {{
        event.preventDefault();
        input.form.requestSubmit();
      }}
    }});
  }}
</script>
</body></html>"#
    )
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `encodeURIComponent` (UTF-8 percent escapes of everything but unreserved characters).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(
            local_path("/prompts/new_chat?incognito=true").as_deref(),
            Some("/prompts/new_chat?incognito=true")
        );
        assert!(local_path("//evil.example/").is_none());
        assert!(local_path("https://evil.example/").is_none());
        assert_eq!(percent_encode("/a?b=c d"), "%2Fa%3Fb%3Dc%20d");
    }
}
