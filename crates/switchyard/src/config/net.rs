//! Where the lanes' traffic goes: remote browsers (`browser.endpoints`) and per-provider
//! proxies (`providers.<p>.proxy`).

use std::fmt;

use super::ConfigError;

/// The most lanes one endpoint may be given (`max_lanes`).
pub const MAX_ENDPOINT_LANES: i64 = 256;

/// One already running Chromium the lanes attach to, from `browser.endpoints`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As written: `ws://…/devtools/browser/<id>`, or `http://host:9222` (resolved through
    /// `/json/version`). May carry a token (a browser grid's `?token=`), so it is never shown.
    pub url: String,
    /// How many lanes it takes; `None`: no limit.
    pub max_lanes: Option<u32>,
}

impl Endpoint {
    /// The URL as logs and `/api/lanes` show it: no user info, query values redacted.
    pub fn shown(&self) -> String {
        shown_url(&self.url)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.shown())
            .field("max_lanes", &self.max_lanes)
            .finish()
    }
}

/// A URL without its credentials: user info becomes `<redacted>`, and so does every query value.
pub fn shown_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return "<unparsable URL>".to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("<redacted>");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "<redacted>".to_owned()))
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // `<` and `>` come back percent-encoded from the URL parser; show them plainly.
    parsed.to_string().replace("%3Credacted%3E", "<redacted>")
}

/// `browser.endpoints`: each entry a URL string or a table `{ url = "…", max_lanes = N }`.
pub(super) fn endpoints(
    raw: Option<&[toml::Value]>,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<Vec<Endpoint>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in raw.unwrap_or_default().iter().enumerate() {
        let key = format!("browser.endpoints[{i}]");
        let (url, max_lanes) = match entry {
            toml::Value::String(url) => (url.clone(), None),
            toml::Value::Table(t) => {
                if let Some(unknown) = t.keys().find(|k| *k != "url" && *k != "max_lanes") {
                    return Err(bad(
                        &key,
                        format!("unknown field `{unknown}`, expected `url` or `max_lanes`"),
                    ));
                }
                let Some(toml::Value::String(url)) = t.get("url") else {
                    return Err(bad(
                        &format!("{key}.url"),
                        "a DevTools URL is required".into(),
                    ));
                };
                let max = match t.get("max_lanes") {
                    None => None,
                    Some(toml::Value::Integer(n)) if (1..=MAX_ENDPOINT_LANES).contains(n) => {
                        Some(*n as u32)
                    }
                    Some(other) => {
                        let what = match other {
                            toml::Value::Integer(n) => n.to_string(),
                            other => format!("a {}", other.type_str()),
                        };
                        return Err(bad(
                            &format!("{key}.max_lanes"),
                            format!("{what} is out of range; allowed 1..={MAX_ENDPOINT_LANES}"),
                        ));
                    }
                };
                (url.clone(), max)
            }
            other => {
                return Err(bad(
                    &key,
                    format!(
                        "expected a URL string or a table {{ url = \"…\", max_lanes = N }}, found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let ok = reqwest::Url::parse(&url).ok().filter(|u| {
            matches!(u.scheme(), "ws" | "wss" | "http" | "https") && u.host_str().is_some()
        });
        if ok.is_none() {
            return Err(bad(
                &key,
                format!(
                    "`{}` is not a DevTools endpoint; expected ws://host:port/devtools/browser/<id> \
                     or http://host:port (a Chromium started with --remote-debugging-port)",
                    shown_url(&url)
                ),
            ));
        }
        let endpoint = Endpoint { url, max_lanes };
        if out.contains(&endpoint) {
            return Err(bad(&key, format!("{} is listed twice", endpoint.shown())));
        }
        out.push(endpoint);
    }
    Ok(out)
}

/// A lane's proxy (`providers.<p>.proxy`): `http`, `https`, `socks4` or `socks5`, with an
/// optional user and password (http and https only: Chromium cannot sign in to a SOCKS proxy).
///
/// Its `Debug` and `Display` never show the password; only [`ProxyUrl::with_credentials`] does,
/// for the replay's HTTP client.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: reqwest::Url,
}

impl ProxyUrl {
    /// Parses and checks a proxy URL; `key` names it in errors (which never repeat a password).
    pub fn parse(
        text: &str,
        key: &str,
        bad: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<ProxyUrl, ConfigError> {
        let wrong = |why: &str| {
            bad(
                key,
                format!(
                    "`{}` {why}; expected a URL such as http://host:3128, \
                     http://user:password@host:3128 or socks5://host:1080",
                    shown_url(text)
                ),
            )
        };
        let url = reqwest::Url::parse(text).map_err(|_| wrong("is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https" | "socks4" | "socks5") {
            return Err(wrong(
                "has a scheme other than http, https, socks4 or socks5",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(wrong("names no host"));
        }
        if url.port_or_known_default().is_none() {
            return Err(wrong("names no port"));
        }
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() {
            return Err(wrong(
                "has a path or query, which a proxy URL does not take",
            ));
        }
        let proxy = ProxyUrl { url };
        if proxy.credentials().is_some() && proxy.url.scheme().starts_with("socks") {
            return Err(wrong(
                "has a user and password, but Chromium cannot sign in to a SOCKS proxy; use an \
                 http(s) proxy for that, or a SOCKS proxy without credentials",
            ));
        }
        Ok(proxy)
    }

    /// `scheme://host:port`, what Chromium's `--proxy-server` and a browser context's
    /// `proxyServer` take (they take no credentials).
    pub fn server(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        let port = self.url.port_or_known_default().unwrap_or_default();
        format!("{}://{host}:{port}", self.url.scheme())
    }

    /// The user and password, percent-decoded, if the URL has them.
    pub fn credentials(&self) -> Option<(String, String)> {
        if self.url.username().is_empty() && self.url.password().is_none() {
            return None;
        }
        Some((
            percent_decode(self.url.username()),
            percent_decode(self.url.password().unwrap_or_default()),
        ))
    }

    /// The whole URL with its credentials, for the replay's HTTP client only.
    pub fn with_credentials(&self) -> &str {
        self.url.as_str()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.credentials().is_some() {
            let rest = self.server();
            let (scheme, hostport) = rest.split_once("://").unwrap_or(("", &rest));
            write!(f, "{scheme}://<redacted>@{hostport}")
        } else {
            f.write_str(&self.server())
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// Percent-decoding of a URL's user or password (`%40` → `@`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(key: &str, msg: String) -> ConfigError {
        ConfigError(format!("x.toml: {key}: {msg}"))
    }

    #[test]
    fn proxies_parse_and_never_show_their_password() {
        let p = ProxyUrl::parse(
            "http://me:s%40cret@10.0.0.2:3128",
            "providers.mimo.proxy",
            &bad,
        )
        .unwrap();
        assert_eq!(p.server(), "http://10.0.0.2:3128");
        assert_eq!(
            p.credentials(),
            Some(("me".to_owned(), "s@cret".to_owned()))
        );
        assert_eq!(p.to_string(), "http://<redacted>@10.0.0.2:3128");
        assert!(!format!("{p:?}").contains("cret"));
        let s = ProxyUrl::parse("socks5://127.0.0.1:1080", "k", &bad).unwrap();
        assert_eq!(s.server(), "socks5://127.0.0.1:1080");
        assert_eq!(s.credentials(), None);
        let d = ProxyUrl::parse("http://proxy.lan", "k", &bad).unwrap();
        assert_eq!(d.server(), "http://proxy.lan:80");
    }

    #[test]
    fn bad_proxies_name_the_key_and_hide_the_password() {
        for (text, want) in [
            ("ftp://h:1", "scheme other than"),
            ("http://h:1/path", "path or query"),
            ("socks5://h", "names no port"),
            (
                "socks5://u:topsecret@h:1080",
                "cannot sign in to a SOCKS proxy",
            ),
            ("not a url", "is not a URL"),
        ] {
            let e = ProxyUrl::parse(text, "providers.mimo.proxy", &bad)
                .unwrap_err()
                .0;
            assert!(e.starts_with("x.toml: providers.mimo.proxy: "), "{e}");
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("topsecret"), "{e}");
        }
    }

    #[test]
    fn endpoints_take_strings_and_tables() {
        let v: toml::Table = toml::from_str(
            "e = [\"http://127.0.0.1:9222\", { url = \"ws://h:1/devtools/browser/x?token=abc\", max_lanes = 4 }]",
        )
        .unwrap();
        let list = v["e"].as_array().unwrap();
        let eps = endpoints(Some(list), &bad).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].max_lanes, None);
        assert_eq!(eps[1].max_lanes, Some(4));
        assert_eq!(
            eps[1].shown(),
            "ws://h:1/devtools/browser/x?token=<redacted>"
        );
        for (text, want) in [
            (
                "e = [\"ftp://h\"]",
                "browser.endpoints[0]: `ftp://h/` is not a DevTools endpoint",
            ),
            (
                "e = [{ url = \"ws://h:1\", max = 2 }]",
                "unknown field `max`",
            ),
            (
                "e = [{ url = \"ws://h:1\", max_lanes = 0 }]",
                "browser.endpoints[0].max_lanes: 0",
            ),
            ("e = [{ max_lanes = 2 }]", "browser.endpoints[0].url"),
            ("e = [3]", "expected a URL string or a table"),
            ("e = [\"ws://h:1\", \"ws://h:1\"]", "listed twice"),
        ] {
            let v: toml::Table = toml::from_str(text).unwrap();
            let e = endpoints(Some(v["e"].as_array().unwrap()), &bad)
                .unwrap_err()
                .0;
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
