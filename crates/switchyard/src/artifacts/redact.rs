//! Redaction: what never reaches a capture file or a failure bundle.
//!
//! Header values whose name says credential (cookies, authorization, anything with `token`,
//! `secret`, `session`, `auth`, `key`, `password`, `csrf`, `signature`) become `<redacted>`, and
//! so do URL query values with such names. The values found that way are also *scrubbed* from
//! the free text of a bundle (page HTML, frames, log lines): wherever one appears, it is
//! replaced.

/// What a redacted value becomes.
pub const REDACTED: &str = "<redacted>";

/// Words that mark a header or query parameter as a credential.
const SECRET_WORDS: &[&str] = &[
    "cookie",
    "authorization",
    "token",
    "secret",
    "session",
    "auth",
    "key",
    "password",
    "csrf",
    "signature",
];

/// Secrets shorter than this are not scrubbed from free text (they would hit ordinary words).
const MIN_SCRUBBED_LEN: usize = 6;

/// Whether a header or query parameter with this name holds a credential.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// The headers with credential values replaced.
pub fn headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret(name) {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect()
}

/// The URL with credential query values replaced (`?token=<redacted>&x=1`).
pub fn url(url: &str) -> String {
    let Some((base, rest)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret(name) => format!("{name}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    match fragment {
        Some(f) => format!("{base}?{query}#{f}"),
        None => format!("{base}?{query}"),
    }
}

/// The credential values in these headers and this URL: whole values, each cookie's value, and
/// secret query values.
pub fn secrets(headers: &[(String, String)], url: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in headers.iter().filter(|(n, _)| is_secret(n)) {
        out.push(value.clone());
        let lower = name.to_ascii_lowercase();
        if lower == "cookie" {
            for pair in value.split(';') {
                if let Some((_, v)) = pair.split_once('=') {
                    out.push(v.trim().to_owned());
                }
            }
        } else if lower == "set-cookie" {
            let first = value.split(';').next().unwrap_or("");
            if let Some((_, v)) = first.split_once('=') {
                out.push(v.trim().to_owned());
            }
        } else if let Some(token) = value.strip_prefix("Bearer ") {
            out.push(token.trim().to_owned());
        }
    }
    if let Some((_, query)) = url.and_then(|u| u.split_once('?')) {
        let query = query.split('#').next().unwrap_or(query);
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=').filter(|(n, _)| is_secret(n)) {
                let _ = name;
                out.push(value.to_owned());
            }
        }
    }
    out.retain(|s| s.len() >= MIN_SCRUBBED_LEN);
    // Longest first, so a whole value goes before a part of it.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `bytes` with every occurrence of every secret replaced by [`REDACTED`].
pub fn scrub(bytes: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for secret in secrets {
        let needle = secret.as_bytes();
        if needle.is_empty() || out.len() < needle.len() {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                next.extend_from_slice(REDACTED.as_bytes());
                i += needle.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// [`scrub`] for text.
pub fn scrub_text(text: &str, secrets: &[String]) -> String {
    String::from_utf8_lossy(&scrub(text.as_bytes(), secrets)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn credential_headers_are_redacted_and_others_kept() {
        let got = headers(&h(&[
            ("Cookie", "a=1"),
            ("set-cookie", "s=2; Path=/"),
            ("Authorization", "Bearer xyz"),
            ("x-csrf-token", "t"),
            ("X-Api-Key", "k"),
            ("content-type", "text/event-stream"),
            ("x-ds-pow-response", "abc"),
        ]));
        let values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                REDACTED,
                REDACTED,
                REDACTED,
                REDACTED,
                REDACTED,
                "text/event-stream",
                "abc"
            ]
        );
    }

    #[test]
    fn urls_lose_credential_query_values_only() {
        assert_eq!(
            url("https://x.ai/api?token=abc&chat_id=7&access_key=k#f"),
            "https://x.ai/api?token=<redacted>&chat_id=7&access_key=<redacted>#f"
        );
        assert_eq!(url("https://x.ai/api/v2"), "https://x.ai/api/v2");
    }

    #[test]
    fn secrets_include_each_cookie_value_and_are_scrubbed() {
        let hs = h(&[
            (
                "cookie",
                "replica_session=0123456789abcdef; theme=dark-mode",
            ),
            ("authorization", "Bearer tok-123456"),
            ("accept", "text/event-stream"),
        ]);
        let s = secrets(&hs, Some("http://h/p?session=sessval99"));
        assert!(s.contains(&"0123456789abcdef".to_owned()));
        assert!(s.contains(&"dark-mode".to_owned()));
        assert!(s.contains(&"tok-123456".to_owned()));
        assert!(s.contains(&"sessval99".to_owned()));
        assert!(!s.iter().any(|v| v == "text/event-stream"));
        let text = "<p>0123456789abcdef and tok-123456</p>";
        assert_eq!(scrub_text(text, &s), "<p><redacted> and <redacted></p>");
    }
}
