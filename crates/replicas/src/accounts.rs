//! Accounts of a replica site: a sign-in form and a cookie session, as strict as the sites'.
//!
//! A replica has no accounts until a test (or `switchyard demo`) registers one with
//! [`crate::ReplicaServer::add_account`]; until then the sites that model accounts behave as
//! before (an anonymous, always signed-in page). Once one is registered, DeepSeek's, GLM's,
//! Kimi's and AI Studio's pages ask for a sign-in unless the request carries an account session
//! cookie (`replica_account`) that the replica issued for a registered account; the sign-in form
//! posts the email and password, and a right pair gets a fresh session cookie. Kimi and AI
//! Studio sign in through Google's pages instead ([`crate::google_signin`]), which check the
//! password and open the session ([`Accounts::open_session`]); Kimi's page also sends the
//! session token as its bearer token. The completion
//! refuses a request without a valid session, and every accepted request names its account in
//! [`crate::ReceivedRequest::account`], so a test can assert which account a lane used.
//! DeepSeek's page also keeps the API token in local storage (`userToken`), as the site does:
//! its completion wants the same account's token as `authorization: Bearer`, and its page goes
//! to the sign-in page at once when the token is missing, so a lane restored without its local
//! storage shows up as a sign-in page view ([`crate::ReplicaServer::sign_in_page_views`]).

use std::collections::HashMap;

use axum::http::HeaderMap;

use crate::server::cookie;

/// The cookie that carries a signed-in account's session.
pub(crate) const ACCOUNT_COOKIE: &str = "replica_account";

/// The registered accounts and the sessions issued to them.
#[derive(Default)]
pub(crate) struct Accounts {
    /// Lowercased email → password.
    users: HashMap<String, String>,
    /// Session token → lowercased email.
    sessions: HashMap<String, String>,
    /// Sign-ins that succeeded, per lowercased email.
    sign_ins: HashMap<String, u32>,
    /// Accounts whose every completion is answered as rate limited.
    limited: std::collections::HashSet<String>,
    /// Sites that sign in by an emailed code (Perplexity): per lowercased email, the attempts
    /// so far and the code last sent (the "mailbox").
    codes: HashMap<String, (u32, String)>,
    /// Accounts whose Google sign-in asks for a second step after the password (a phone
    /// confirmation; see [`crate::google_signin`]).
    second_step: std::collections::HashSet<String>,
    /// How often a sign-in page was served.
    sign_in_views: u32,
}

impl Accounts {
    /// Registers an account (or changes its password).
    pub(crate) fn add(&mut self, email: &str, password: &str) {
        self.users
            .insert(email.trim().to_lowercase(), password.to_owned());
    }

    /// Whether the site asks for a sign-in: once any account is registered.
    pub(crate) fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Checks a sign-in; a right pair gets a new session token.
    pub(crate) fn sign_in(&mut self, email: &str, password: &str) -> Option<String> {
        if !self.check(email, password) {
            return None;
        }
        Some(self.open_session(email))
    }

    /// Whether `email` is a registered account.
    pub(crate) fn known(&self, email: &str) -> bool {
        self.users.contains_key(&email.trim().to_lowercase())
    }

    /// Whether the password is the account's.
    pub(crate) fn check(&self, email: &str, password: &str) -> bool {
        self.users
            .get(&email.trim().to_lowercase())
            .is_some_and(|p| p == password)
    }

    /// A new session of a registered account whose password was checked elsewhere (Google's
    /// sign-in pages), counted as a sign-in.
    pub(crate) fn open_session(&mut self, email: &str) -> String {
        let key = email.trim().to_lowercase();
        let token = crate::server::random_hex();
        self.sessions.insert(token.clone(), key.clone());
        *self.sign_ins.entry(key).or_default() += 1;
        token
    }

    /// The account a session token belongs to (a token sent as a bearer header).
    pub(crate) fn of_token(&self, token: &str) -> Option<String> {
        self.sessions.get(token).cloned()
    }

    /// Makes the account's Google sign-in ask for a phone confirmation after the password.
    pub(crate) fn set_second_step(&mut self, email: &str, on: bool) {
        let key = email.trim().to_lowercase();
        if on {
            self.second_step.insert(key);
        } else {
            self.second_step.remove(&key);
        }
    }

    /// Whether the account's Google sign-in asks for a second step.
    pub(crate) fn needs_second_step(&self, email: &str) -> bool {
        self.second_step.contains(&email.trim().to_lowercase())
    }

    /// Sends a sign-in code to a registered account (a new one per attempt, the same for the
    /// same email and attempt number, so a test run is repeatable); `None` for an unknown email.
    pub(crate) fn send_code(&mut self, email: &str) -> Option<String> {
        let key = email.trim().to_lowercase();
        if !self.users.contains_key(&key) {
            return None;
        }
        let attempt = self.codes.get(&key).map_or(0, |(n, _)| *n) + 1;
        let code = code_for(&key, attempt);
        self.codes.insert(key, (attempt, code.clone()));
        Some(code)
    }

    /// The code last sent to `email`, still unused.
    pub(crate) fn last_code(&self, email: &str) -> Option<String> {
        self.codes
            .get(&email.trim().to_lowercase())
            .map(|(_, code)| code.clone())
            .filter(|code| !code.is_empty())
    }

    /// Checks an emailed code; the right one (once) gets a new session token and counts as a
    /// sign-in.
    pub(crate) fn redeem_code(&mut self, email: &str, code: &str) -> Option<String> {
        let key = email.trim().to_lowercase();
        let entry = self.codes.get_mut(&key)?;
        if entry.1.is_empty() || entry.1 != code.trim() {
            return None;
        }
        entry.1.clear();
        let token = crate::server::random_hex();
        self.sessions.insert(token.clone(), key.clone());
        *self.sign_ins.entry(key).or_default() += 1;
        Some(token)
    }

    /// The account whose session the request's cookie carries, if the replica issued it.
    pub(crate) fn of(&self, headers: &HeaderMap) -> Option<String> {
        let token = cookie(headers, ACCOUNT_COOKIE)?;
        self.sessions.get(&token).cloned()
    }

    /// How often the account signed in through the form.
    pub(crate) fn sign_ins(&self, email: &str) -> u32 {
        self.sign_ins
            .get(&email.trim().to_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Makes every completion of the account answer as rate limited (or not).
    pub(crate) fn set_limited(&mut self, email: &str, limited: bool) {
        let key = email.trim().to_lowercase();
        if limited {
            self.limited.insert(key);
        } else {
            self.limited.remove(&key);
        }
    }

    /// Whether the account is rate limited.
    pub(crate) fn is_limited(&self, email: &str) -> bool {
        self.limited.contains(&email.trim().to_lowercase())
    }

    /// The account whose session token the request carries as `authorization: Bearer <token>`
    /// (sites that keep their API token in the page's local storage).
    pub(crate) fn of_bearer(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let token = value.strip_prefix("Bearer ")?.trim();
        self.sessions.get(token).cloned()
    }

    /// Counts a served sign-in page.
    pub(crate) fn viewed_sign_in(&mut self) {
        self.sign_in_views += 1;
    }

    /// How often a sign-in page was served.
    pub(crate) fn sign_in_views(&self) -> u32 {
        self.sign_in_views
    }

    /// Ends every session (as the site expiring them would).
    pub(crate) fn end_sessions(&mut self) {
        self.sessions.clear();
    }
}

/// The 6-digit code of an attempt: digits of SHA-256 of the email and the attempt number.
fn code_for(key: &str, attempt: u32) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{key}#{attempt}").as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    format!("{n:06}")
}

/// The state of a request as far as accounts go.
pub(crate) enum Access {
    /// No account is registered: the site is open.
    Open,
    /// A valid session of this account (lowercased email).
    Account(String),
    /// Accounts are registered and the request carries no valid session.
    Denied,
}

/// Reads the request's account session.
pub(crate) fn access(accounts: &Accounts, headers: &HeaderMap) -> Access {
    if !accounts.required() {
        return Access::Open;
    }
    match accounts.of(headers) {
        Some(email) => Access::Account(email),
        None => Access::Denied,
    }
}

/// The `Set-Cookie` value of a new session.
pub(crate) fn session_cookie(token: &str) -> String {
    format!("{ACCOUNT_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000")
}

/// The sign-in form's body: `{"email": …, "password": …}`.
#[derive(serde::Deserialize)]
pub(crate) struct SignInBody {
    pub email: String,
    pub password: String,
}

// === Sites whose session cookie has its own name (Qwen, HuggingChat, MiMo) ===

impl Accounts {
    /// The account (lowercased email or username) of a session token the replica issued.
    pub(crate) fn session(&self, token: &str) -> Option<String> {
        self.sessions.get(token).cloned()
    }
}

/// [`access`] for a site whose session rides in its own cookie `name` (Qwen's `token`,
/// HuggingChat's `hf-chat`, MiMo's `xiaomichatbot_ph`; quotes around the value are dropped, as
/// the sites quote some of theirs). An empty value is no session.
pub(crate) fn access_by_cookie(accounts: &Accounts, headers: &HeaderMap, name: &str) -> Access {
    if !accounts.required() {
        return Access::Open;
    }
    let token = cookie(headers, name).map(|t| t.trim_matches('"').to_owned());
    match token
        .filter(|t| !t.is_empty())
        .and_then(|t| accounts.session(&t))
    {
        Some(account) => Access::Account(account),
        None => Access::Denied,
    }
}
