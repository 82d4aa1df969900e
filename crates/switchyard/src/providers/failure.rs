//! The site's own failure answers, read as typed failures.
//!
//! When a site answers its completion request with an HTTP error, the provider's
//! `classify` (see [`super::spec::ProviderSpec`]) turns status and body into a [`SiteFailure`]:
//! what kind of failure it is and the site's own words. [`SiteFailure::message`] words it for the
//! user. Most sites use [`classify_http`]; a site with failure texts of its own wraps it.

/// What went wrong on the site's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Too many requests for now (HTTP 429, "rate limit", "too many requests").
    RateLimited,
    /// The account's quota is used up ("quota", "limit reached").
    QuotaExhausted,
    /// The session ended; someone has to sign in again (HTTP 401, 403).
    SignInLost,
    /// The site refused the content ("content blocked", "prohibited use policy").
    ContentBlocked,
    /// Any other failure.
    Other,
}

impl FailureKind {
    /// The hint the user message carries after the status.
    fn hint(self) -> &'static str {
        match self {
            FailureKind::RateLimited => {
                " (rate limited; slow down or add lanes with other accounts)"
            }
            FailureKind::QuotaExhausted => {
                " (the account's quota is used up; wait or add lanes with other accounts)"
            }
            FailureKind::SignInLost => " (the session may have expired; sign in again)",
            FailureKind::ContentBlocked => " (the site blocked this content)",
            FailureKind::Other => "",
        }
    }
}

/// One failure answer of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFailure {
    pub kind: FailureKind,
    /// The HTTP status of the answer.
    pub status: i64,
    /// The site's own message (its JSON `msg`/`message`/`detail`/`error`, else the start of
    /// the body), trimmed; may be empty.
    pub detail: String,
}

impl SiteFailure {
    /// The text the user sees: `<provider> answered HTTP <status> (<hint>): <detail>`.
    pub fn message(&self, provider: &str) -> String {
        let (status, hint) = (self.status, self.kind.hint());
        if self.detail.is_empty() {
            format!("{provider} answered HTTP {status}{hint}.")
        } else {
            format!("{provider} answered HTTP {status}{hint}: {}", self.detail)
        }
    }
}

/// Rate-limit-like texts (behavior-spec §7.5), lowercase.
const RATE_LIMIT_TEXTS: &[&str] = &["rate limit", "too many requests"];
/// Quota texts, lowercase.
const QUOTA_TEXTS: &[&str] = &["quota", "limit reached"];
/// Content-refusal texts (provider-wire-formats §8, and the reference's non-retryable
/// "sensitive query"), lowercase.
const BLOCKED_TEXTS: &[&str] = &[
    "content blocked",
    "could not generate output",
    "prohibited use policy",
    "sensitive query",
];

/// The shared reading of an HTTP failure: the status first (429 rate limit, 401/403 sign-in
/// lost), then the site's message against the rate-limit, quota and content-refusal texts.
pub fn classify_http(status: i64, body: &[u8]) -> SiteFailure {
    let detail = site_message(body);
    let lower = detail.to_lowercase();
    let has = |texts: &[&str]| texts.iter().any(|t| lower.contains(t));
    let kind = match status {
        429 => FailureKind::RateLimited,
        401 | 403 => FailureKind::SignInLost,
        _ if has(QUOTA_TEXTS) => FailureKind::QuotaExhausted,
        _ if has(RATE_LIMIT_TEXTS) => FailureKind::RateLimited,
        _ if has(BLOCKED_TEXTS) => FailureKind::ContentBlocked,
        _ => FailureKind::Other,
    };
    SiteFailure {
        kind,
        status,
        detail,
    }
}

/// The site's message in a failure body: a JSON `msg`, `message`, `detail` or `error` (or
/// `error.message`), else the first 300 characters of the body; trimmed.
pub fn site_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            ["msg", "message", "detail", "error"]
                .iter()
                .find_map(|k| match &v[*k] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Object(o) => {
                        o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                    }
                    _ => None,
                })
        })
        .unwrap_or_else(|| text.chars().take(300).collect());
    detail.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::FailureKind::*;
    use super::*;

    fn message(provider: &str, status: i64, body: &[u8]) -> String {
        classify_http(status, body).message(provider)
    }

    #[test]
    fn http_errors_quote_the_site_message() {
        assert_eq!(
            message(
                "DeepSeek",
                429,
                br#"{"code":40029,"msg":"Too many requests, please slow down.","data":null}"#
            ),
            "DeepSeek answered HTTP 429 (rate limited; slow down or add lanes with other \
             accounts): Too many requests, please slow down."
        );
        assert_eq!(
            message("GLM Chat", 500, b"oops"),
            "GLM Chat answered HTTP 500: oops"
        );
        assert_eq!(message("GLM Chat", 502, b""), "GLM Chat answered HTTP 502.");
        assert_eq!(
            message("X", 400, br#"{"error":{"message":"bad"}}"#),
            "X answered HTTP 400: bad"
        );
        assert_eq!(
            message("X", 401, b"  "),
            "X answered HTTP 401 (the session may have expired; sign in again)."
        );
    }

    #[test]
    fn failures_are_classified_by_status_then_text() {
        let table: &[(i64, &[u8], FailureKind)] = &[
            (429, b"", RateLimited),
            (429, b"quota exceeded", RateLimited),
            (401, b"", SignInLost),
            (403, br#"{"detail":"Forbidden"}"#, SignInLost),
            (400, br#"{"msg":"Daily quota exhausted"}"#, QuotaExhausted),
            (500, b"Usage LIMIT REACHED for today", QuotaExhausted),
            (503, br#"{"message":"Rate limit exceeded"}"#, RateLimited),
            (400, b"Too Many Requests", RateLimited),
            (
                400,
                br#"{"error":"Content blocked by policy"}"#,
                ContentBlocked,
            ),
            (200, b"provider-side sensitive query filter", ContentBlocked),
            (500, b"internal error", Other),
            (502, b"", Other),
        ];
        for &(status, body, kind) in table {
            let failure = classify_http(status, body);
            assert_eq!(
                failure.kind,
                kind,
                "{status} {:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(failure.status, status);
        }
    }

    #[test]
    fn blocked_content_texts_are_recognised_in_stream_errors() {
        let kind = |text: &str| classify_http(200, text.as_bytes()).kind;
        assert_eq!(
            kind("Xiaomi MiMo blocked this request: its provider-side Sensitive Query filter"),
            ContentBlocked
        );
        assert_eq!(kind("Gemini: Content blocked"), ContentBlocked);
        assert_eq!(kind("GLM Chat is currently at capacity."), Other);
    }

    #[test]
    fn the_site_message_is_picked_from_json_or_the_body_start() {
        assert_eq!(site_message(br#"{"detail":" x "}"#), "x");
        assert_eq!(site_message(br#"{"error":{"message":"m"}}"#), "m");
        assert_eq!(site_message(br#"{"other":1}"#), r#"{"other":1}"#);
        assert_eq!(site_message(&[b'a'; 400]).len(), 300);
    }
}
