//! Who may call: the checks every request passes before any route runs.
//!
//! In order: the client's IP against `server.ip_allowlist` (403), the `Host` header against the
//! bound address, `localhost` and `server.hostnames` (421, against DNS rebinding), the `Origin`
//! header against `api.cors_origins` (403, so no web page can use the gateway unless the user
//! lets it; a CORS preflight from an allowed origin is answered here), then the API key (401).
//! All of it happens before a body is read or a lane is asked, and every refusal is in OpenAI's
//! error shape. The matched key's name travels on as a [`Caller`] request extension.
//!
//! `/health` and `/ready` need no key, so probes work, and neither do the dashboard's sign-in
//! routes; the IP, `Host` and `Origin` checks still apply to them. The operator routes
//! (`/api/*`, `/metrics`, and the dashboard: `/` and `/dashboard/*`) take only admin keys under
//! `auth.admin_routes = "admin_keys"`; for them only, the key may also come in the dashboard's
//! `HttpOnly` sign-in cookie, and a browser asking for `/` without a key gets the sign-in form
//! (401). SECURITY.md explains the threat model behind each check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::{debug, info, warn};

use super::error::ApiError;
use crate::config::{Access, AdminRoutes, Config};
use crate::keys::KeyRing;

/// Routes that answer without a key: liveness and readiness probes.
const OPEN_PATHS: &[&str] = &["/health", "/ready"];

/// The operator routes besides `/api/*`: the dashboard at `/` and the Prometheus metrics.
/// With `auth.admin_routes = "admin_keys"` they, like `/api/*`, take only admin keys.
const ADMIN_PATHS: &[&str] = &["/", "/metrics"];

/// Whether `path` is an operator route (see [`ADMIN_PATHS`]).
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/api/") || ADMIN_PATHS.contains(&path)
}

/// Who called, as the guard found out: set on every request that passed it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The name of the API key used; `None` when keys are off.
    pub key_name: Option<String>,
}

/// The checks, built once at start from the config and the key file.
pub struct Guard {
    /// The address the listener is bound to (its port does not matter to the `Host` check).
    bound: IpAddr,
    access: Access,
    /// `api.cors_origins`, normalised; `*` allows every origin.
    cors_origins: Vec<String>,
    /// Present when keys are required.
    keys: Option<KeyRing>,
    admin_routes: AdminRoutes,
}

impl Guard {
    /// Reads the key file and decides the policy. Refuses a non-loopback address that neither
    /// keys nor an allowlist protect, unless `server.allow_open = true`.
    pub fn from_config(config: &Config) -> Result<Guard, String> {
        let auth = &config.auth;
        let ring = KeyRing::open(&auth.keys_file)?;
        let keys = match auth.require_key {
            Some(false) => {
                if !ring.is_empty() {
                    info!(
                        "auth.require_key = false: the {} key(s) in {} are not asked for.",
                        ring.len(),
                        ring.path().display()
                    );
                }
                None
            }
            Some(true) if ring.is_empty() => {
                return Err(format!(
                    "auth.require_key = true, but {} holds no key. Make one with `switchyard \
                     keys add NAME` (it is printed once), or remove auth.require_key.",
                    auth.keys_file.display()
                ));
            }
            None if ring.is_empty() => None,
            _ => Some(ring),
        };
        let access = config.server.access.clone();
        let host = config.server.host;
        let protected = keys.is_some() || !access.ip_allowlist.is_empty();
        if !host.is_loopback() && !protected {
            if !access.allow_open {
                return Err(format!(
                    "server.host = {host} lets other machines reach the gateway, and neither \
                     API keys nor server.ip_allowlist protect it: anyone who can reach this \
                     machine could use your signed-in accounts. Make a key with `switchyard \
                     keys add NAME`, or set server.ip_allowlist, or set server.allow_open = \
                     true to serve without protection (see SECURITY.md)."
                ));
            }
            warn!(
                "UNPROTECTED: server.allow_open = true and server.host = {host}: anyone who can \
                 reach this machine can use your signed-in provider accounts. Add a key \
                 (`switchyard keys add NAME`) or set server.ip_allowlist."
            );
        }
        match &keys {
            Some(ring) => info!(
                "API keys are required ({} key(s) in {}).",
                ring.len(),
                ring.path().display()
            ),
            None => info!(
                "API keys are off: every program that can reach {host} may call the API \
                 (`switchyard keys add NAME` turns them on)."
            ),
        }
        if !access.ip_allowlist.is_empty() {
            info!("Only addresses in server.ip_allowlist may call the API.");
        }
        Ok(Guard {
            bound: host,
            access,
            cors_origins: config.api.cors_origins.clone(),
            keys,
            admin_routes: auth.admin_routes,
        })
    }

    /// Checks a key a person types into the dashboard's sign-in form: it must be in the key
    /// file and may use the admin routes. `Ok(None)` when keys are off (nothing to check).
    pub fn admin_key(&self, token: &str) -> Result<Option<String>, String> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        match keys.find(token) {
            None => {
                warn!("Refused a dashboard sign-in with a key that is not in the key file.");
                Err("That key is not in the key file.".to_owned())
            }
            Some((name, admin)) => {
                if self.admin_routes == AdminRoutes::AdminKeys && !admin {
                    warn!("Refused a dashboard sign-in with the non-admin key `{name}`.");
                    Err(format!(
                        "The API key `{name}` is not an admin key (auth.admin_routes = \
                         \"admin_keys\"); use one made by `switchyard keys add NAME --admin`."
                    ))
                } else {
                    Ok(Some(name))
                }
            }
        }
    }

    /// Whether the `Host` header's name is one this gateway answers to.
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let (ip, bound) = (ip.to_canonical(), self.bound.to_canonical());
            return bound.is_unspecified()
                || ip == bound
                || (ip.is_loopback() && bound.is_loopback());
        }
        self.access.hostnames.contains(&name)
    }

    /// Whether a page at `origin` may call: listed, `*`, or the gateway's own origin.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.cors_origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        host.is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            origin == format!("http://{h}") || origin == format!("https://{h}")
        })
    }
}

/// The lowercase host name of a `Host` value, without port and trailing dot (`[::1]` keeps its
/// brackets).
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map(|(ip, _)| format!("{ip}]"))
            .unwrap_or(host.clone())
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
            _ => host.clone(),
        }
    };
    name.trim_end_matches('.').to_owned()
}

/// The middleware: refuses, answers a preflight, or passes the request on with its [`Caller`].
pub async fn check(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if !guard.access.ip_allowlist.is_empty()
        && !client.is_some_and(|ip| guard.access.ip_allowlist.allows(ip))
    {
        let ip = client.map_or("unknown".to_owned(), |ip| ip.to_canonical().to_string());
        warn!("Blocked request from IP {ip}: not in whitelist (server.ip_allowlist).");
        return refusal(
            StatusCode::FORBIDDEN,
            "permission_error",
            "ip_not_allowed",
            "Client IP not allowed".to_owned(),
        );
    }

    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(host) = host
        && !guard.host_allowed(host)
    {
        warn!(
            "Refused a request for Host `{host}`: not this gateway's address, localhost or a \
             name in server.hostnames (a DNS rebinding page looks like this)."
        );
        return refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request_error",
            "host_not_allowed",
            format!(
                "Host `{}` is not a name of this gateway. Call it by its address or localhost, \
                 or add the name to server.hostnames.",
                host_name(host)
            ),
        );
    }

    let origin = match headers.get(header::ORIGIN) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            if !guard.origin_allowed(text, host) {
                warn!(
                    "Refused a request from the web page at `{text}`: its origin is not in \
                     api.cors_origins."
                );
                return refusal(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "origin_not_allowed",
                    format!(
                        "Requests from web pages at `{text}` are not allowed. Add the origin \
                         to api.cors_origins to let that page call switchyard."
                    ),
                );
            }
            Some(value.clone())
        }
    };
    if let Some(origin) = &origin
        && req.method() == Method::OPTIONS
        && let Some(method) = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&guard, origin, method, headers);
    }

    if let Some(keys) = &guard.keys
        && !OPEN_PATHS.contains(&req.uri().path())
        && !crate::dashboard::is_sign_in_path(req.uri().path())
    {
        let path = req.uri().path();
        let inspect = is_admin_path(path) || crate::dashboard::is_admin_path(path);
        // A person signed in to the dashboard presents the key in its cookie; it counts for
        // the admin routes only, so a page elsewhere cannot spend it on /v1 (SECURITY.md).
        let token = presented_key(headers).or_else(|| {
            inspect
                .then(|| crate::dashboard::cookie_key(headers))
                .flatten()
        });
        let sign_in = crate::dashboard::wants_sign_in(path, headers);
        let Some(token) = token else {
            if sign_in {
                return crate::dashboard::sign_in_page(
                    StatusCode::UNAUTHORIZED,
                    "Sign in with an API key that may use the admin routes.",
                );
            }
            return with_cors(&guard, origin.as_ref(), unauthorized("Missing API key"));
        };
        let Some((name, admin)) = keys.find(token) else {
            warn!("Refused a request with an API key that is not in the key file.");
            if sign_in {
                return crate::dashboard::sign_in_page(
                    StatusCode::UNAUTHORIZED,
                    "That key is not (or no longer) in the key file; sign in again.",
                );
            }
            return with_cors(&guard, origin.as_ref(), unauthorized("Invalid API key"));
        };
        if inspect && guard.admin_routes == AdminRoutes::AdminKeys && !admin {
            if sign_in {
                return crate::dashboard::sign_in_page(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "The API key `{name}` is not an admin key (auth.admin_routes = \
                         \"admin_keys\"); sign in with one made by `switchyard keys add NAME \
                         --admin`."
                    ),
                );
            }
            return with_cors(
                &guard,
                origin.as_ref(),
                refusal(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "admin_key_required",
                    format!(
                        "The API key `{name}` may not use {}; auth.admin_routes = \
                         \"admin_keys\" asks for a key made with `switchyard keys add NAME \
                         --admin`.",
                        req.uri().path()
                    ),
                ),
            );
        }
        if inspect {
            debug!("Authenticated request using API key: {name}");
        } else {
            info!("Authenticated request using API key: {name}");
        }
        req.extensions_mut().insert(Caller {
            key_name: Some(name),
        });
    } else {
        req.extensions_mut().insert(Caller::default());
    }
    let resp = next.run(req).await;
    with_cors(&guard, origin.as_ref(), resp)
}

/// The token of `Authorization: Bearer <key>` (any case), else of `x-api-key`. An empty token
/// counts as none.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let v = v.trim_start();
            (v.len() >= 7 && v[..7].eq_ignore_ascii_case("bearer ")).then(|| v[7..].trim())
        })
        .filter(|t| !t.is_empty());
    let token = bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })?;
    (!token.is_empty()).then_some(token)
}

/// A CORS preflight from an allowed origin, as the reference answers it, but naming the origin.
fn preflight(guard: &Guard, origin: &HeaderValue, method: &HeaderValue, h: &HeaderMap) -> Response {
    let allowed = matches!(
        method
            .to_str()
            .map(|m| m.trim().to_ascii_uppercase())
            .as_deref(),
        Ok("GET" | "POST" | "OPTIONS")
    );
    if !allowed {
        return (StatusCode::BAD_REQUEST, "Disallowed CORS method").into_response();
    }
    let allow_headers = h
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Content-Type, Authorization"));
    let mut resp = (StatusCode::OK, "OK").into_response();
    let out = resp.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    with_cors(guard, Some(origin), resp)
}

/// Names an allowed origin in the response: its own value, or `*` when the user wrote `*`.
fn with_cors(guard: &Guard, origin: Option<&HeaderValue>, mut resp: Response) -> Response {
    let Some(origin) = origin else {
        return resp;
    };
    let h = resp.headers_mut();
    if guard.cors_origins.iter().any(|o| o == "*") {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

fn unauthorized(message: &str) -> Response {
    let code = if message == "Missing API key" {
        "missing_api_key"
    } else {
        "invalid_api_key"
    };
    let mut resp = refusal(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        code,
        message.to_owned(),
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

fn refusal(
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
) -> Response {
    let mut e = ApiError::new(status, kind, message);
    e.code = Some(code);
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bound: &str, hostnames: &[&str], origins: &[&str]) -> Guard {
        Guard {
            bound: bound.parse().unwrap(),
            access: Access {
                hostnames: hostnames.iter().map(|s| s.to_string()).collect(),
                ..Access::default()
            },
            cors_origins: origins.iter().map(|s| s.to_string()).collect(),
            keys: None,
            admin_routes: AdminRoutes::SameKeys,
        }
    }

    #[test]
    fn operator_routes_are_api_the_dashboard_and_metrics() {
        for admin in ["/", "/metrics", "/api/lanes", "/api/queue/stop"] {
            assert!(is_admin_path(admin), "{admin}");
        }
        for open in [
            "/v1/models",
            "/v1/chat/completions",
            "/models",
            "/metrics2",
            "/apix",
        ] {
            assert!(!is_admin_path(open), "{open}");
        }
    }

    #[test]
    fn the_host_must_name_this_gateway() {
        let g = guard("127.0.0.1", &["gw.lan"], &[]);
        for ok in [
            "127.0.0.1:7777",
            "127.0.0.1",
            "localhost:7777",
            "LOCALHOST.",
            "app.localhost:1",
            "[::1]:7777",
            "gw.lan:7777",
            "GW.LAN",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:7777",
            "192.168.1.5:7777",
            "gw.lan.evil",
            "localhost.evil",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let any = guard("0.0.0.0", &[], &[]);
        assert!(any.host_allowed("192.168.1.5:7777"));
        assert!(!any.host_allowed("rebind.evil.example:7777"));
    }

    #[test]
    fn origins_pass_when_listed_starred_or_the_gateway_itself() {
        let g = guard("127.0.0.1", &[], &["http://localhost:8000"]);
        assert!(g.origin_allowed("http://localhost:8000", None));
        assert!(g.origin_allowed("HTTP://localhost:8000/", None));
        assert!(!g.origin_allowed("http://evil.example", Some("127.0.0.1:7777")));
        assert!(!g.origin_allowed("null", None));
        assert!(g.origin_allowed("http://127.0.0.1:7777", Some("127.0.0.1:7777")));
        assert!(guard("127.0.0.1", &[], &["*"]).origin_allowed("http://evil.example", None));
    }

    #[test]
    fn a_key_comes_from_bearer_in_any_case_or_x_api_key() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert_eq!(
            presented_key(&h(&[("authorization", "Bearer sy-1")])),
            Some("sy-1")
        );
        assert_eq!(
            presented_key(&h(&[("authorization", "bearer  sy-1 ")])),
            Some("sy-1")
        );
        assert_eq!(presented_key(&h(&[("x-api-key", "sy-2")])), Some("sy-2"));
        assert_eq!(presented_key(&h(&[("authorization", "Bearer ")])), None);
        assert_eq!(presented_key(&h(&[("authorization", "Basic abc")])), None);
        assert_eq!(presented_key(&h(&[])), None);
    }
}
