//! The settings that decide who may call the gateway: the IP allowlist, the names the `Host`
//! header may carry, the browser origins allowed to call it, and API keys. SECURITY.md says
//! what each one protects against.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;

use super::ConfigError;
use super::raw::{RawAuth, RawServer};

/// Who may use the operator routes (`/api/*`, the inspection and control routes; `/`, the
/// dashboard; `/metrics`) when API keys are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRoutes {
    /// Any valid API key.
    #[default]
    SameKeys,
    /// Only keys made with `switchyard keys add NAME --admin`.
    AdminKeys,
}

/// `[auth]`, validated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `Some(false)`: keys are never asked for; `Some(true)`: always (start fails without a
    /// key); `None`: asked for when the key file holds a key at start.
    pub require_key: Option<bool>,
    /// Where `switchyard keys` keeps the key hashes (default `<data_dir>/keys.toml`).
    pub keys_file: PathBuf,
    pub admin_routes: AdminRoutes,
}

/// The parts of `[server]` that guard the listener.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Serve a non-loopback address with neither keys nor an allowlist.
    pub allow_open: bool,
    /// Extra names the `Host` header may carry (lowercase, no port, no trailing dot).
    pub hostnames: Vec<String>,
    /// Client addresses allowed in; empty allows every address.
    pub ip_allowlist: IpAllowlist,
}

/// `server.ip_allowlist`: single addresses and CIDR ranges.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as the IPv4 address they carry, on both
/// sides, and any loopback address matches an entry that covers any loopback address
/// (`127.0.0.1` lets `::1` in, as in the reference).
#[derive(Debug, Clone, Default)]
pub struct IpAllowlist {
    nets: Vec<IpNet>,
}

impl IpAllowlist {
    /// Parses entries such as `192.168.1.20`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(entries: &[String]) -> Result<IpAllowlist, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let text = entry.trim();
            let net = if text.contains('/') {
                text.parse::<IpNet>().map_err(|_| {
                    format!("`{entry}` is not an IP address or a CIDR range such as 10.0.0.0/8")
                })?
            } else {
                IpNet::from(text.parse::<IpAddr>().map_err(|_| {
                    format!("`{entry}` is not an IP address or a CIDR range such as 10.0.0.0/8")
                })?)
            };
            nets.push(canonical_net(net));
        }
        Ok(IpAllowlist { nets })
    }

    /// True when no entry is set: every address may call.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` may call (an empty list allows all).
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        if ip.is_loopback() && self.nets.iter().any(covers_loopback) {
            return true;
        }
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) as the IPv4 range it covers.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n.trunc());
    }
    net.trunc()
}

fn covers_loopback(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.network().is_loopback() || n.contains(&Ipv4Addr::LOCALHOST),
        IpNet::V6(n) => n.contains(&Ipv6Addr::LOCALHOST),
    }
}

pub(super) fn access(
    raw: &RawServer,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<Access, ConfigError> {
    let ip_allowlist = IpAllowlist::parse(raw.ip_allowlist.as_deref().unwrap_or_default())
        .map_err(|e| bad("server.ip_allowlist", e))?;
    let mut hostnames = Vec::new();
    for name in raw.hostnames.iter().flatten() {
        let clean = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let plain = !clean.is_empty()
            && clean
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !plain {
            return Err(bad(
                "server.hostnames",
                format!("`{name}` is not a host name such as `gateway.lan` (no scheme, no port)"),
            ));
        }
        hostnames.push(clean);
    }
    Ok(Access {
        allow_open: raw.allow_open.unwrap_or(false),
        hostnames,
        ip_allowlist,
    })
}

/// `api.cors_origins`: each `scheme://host[:port]`, `null` or `*`, lowercased, without a
/// trailing slash.
pub(super) fn cors_origins(
    raw: Option<&[String]>,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for origin in raw.unwrap_or_default() {
        let clean = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let ok = clean == "*"
            || clean == "null"
            || clean.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty()
                    && !rest.contains('/')
            });
        if !ok {
            return Err(bad(
                "api.cors_origins",
                format!(
                    "`{origin}` is not an origin such as `http://localhost:8000` (scheme, host \
                     and port, no path), `null` or `*`"
                ),
            ));
        }
        out.push(clean);
    }
    Ok(out)
}

pub(super) fn auth(raw: Option<RawAuth>, data_dir: &Path) -> Result<AuthConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    Ok(AuthConfig {
        require_key: raw.require_key,
        keys_file: raw
            .keys_file
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("keys.toml")),
        admin_routes: raw.admin_routes.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn list(entries: &[&str]) -> IpAllowlist {
        IpAllowlist::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_ranges_allow_inside_and_deny_outside() {
        let l = list(&["10.0.0.0/8", "192.168.1.20", "fd00::/8"]);
        assert!(l.allows(ip("10.1.2.3")));
        assert!(l.allows(ip("192.168.1.20")));
        assert!(!l.allows(ip("192.168.1.21")));
        assert!(!l.allows(ip("11.0.0.1")));
        assert!(l.allows(ip("fd12::1")));
        assert!(!l.allows(ip("fe80::1")));
        assert!(!l.allows(ip("127.0.0.1")), "loopback is not listed");
        assert!(list(&[]).allows(ip("8.8.8.8")), "an empty list allows all");
        // A range written with host bits set still means the range.
        assert!(list(&["10.1.2.3/16"]).allows(ip("10.1.200.1")));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4_on_both_sides() {
        let l = list(&["10.0.0.0/8"]);
        assert!(l.allows(ip("::ffff:10.9.9.9")));
        assert!(!l.allows(ip("::ffff:11.9.9.9")));
        let mapped = list(&["::ffff:192.168.0.0/112", "::ffff:172.16.0.1"]);
        assert!(mapped.allows(ip("192.168.4.4")));
        assert!(mapped.allows(ip("172.16.0.1")));
        assert!(!mapped.allows(ip("192.169.0.1")));
    }

    #[test]
    fn any_loopback_matches_any_loopback() {
        for entry in ["127.0.0.1", "::1", "127.0.0.0/8", "::ffff:127.0.0.1"] {
            let l = list(&[entry]);
            for client in ["127.0.0.1", "::1", "127.0.0.2", "::ffff:127.0.0.1"] {
                assert!(l.allows(ip(client)), "{entry} should let {client} in");
            }
            assert!(!l.allows(ip("10.0.0.1")), "{entry}");
        }
    }

    #[test]
    fn bad_entries_name_the_key() {
        let err = |t: &str| Config::from_toml_str(t, "s.toml").unwrap_err().0;
        assert_eq!(
            err("[server]\nip_allowlist = [\"10.0.0.0/33\"]"),
            "s.toml: server.ip_allowlist: `10.0.0.0/33` is not an IP address or a CIDR range \
             such as 10.0.0.0/8"
        );
        assert!(err("[server]\nip_allowlist = [\"lan\"]").contains("`lan`"));
        assert!(
            err("[server]\nhostnames = [\"http://gw.lan\"]").contains("server.hostnames"),
            "a scheme is refused"
        );
        assert!(err("[api]\ncors_origins = [\"localhost:8000\"]").contains("api.cors_origins"));
        assert!(err("[api]\ncors_origins = [\"http://a.example/app\"]").contains("no path"));
        assert!(err("[auth]\nadmin_routes = \"open\"").contains("auth.admin_routes"));
    }

    #[test]
    fn security_settings_are_read_and_normalised() {
        let c = Config::from_toml_str(
            "data_dir = \"d\"\n[server]\nhostnames = [\"GW.lan.\"]\nip_allowlist = [\"10.0.0.0/8\"]\n\
             allow_open = true\n[api]\ncors_origins = [\"HTTP://Localhost:8000/\", \"*\"]\n\
             [auth]\nrequire_key = true\nadmin_routes = \"admin_keys\"\n[browser]\nno_sandbox = true\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.server.access.hostnames, ["gw.lan"]);
        assert!(c.server.access.allow_open);
        assert!(c.server.access.ip_allowlist.allows(ip("10.0.0.1")));
        assert_eq!(c.api.cors_origins, ["http://localhost:8000", "*"]);
        assert_eq!(c.auth.require_key, Some(true));
        assert_eq!(c.auth.admin_routes, AdminRoutes::AdminKeys);
        assert_eq!(c.auth.keys_file, Path::new("d/keys.toml"));
        assert!(c.browser.no_sandbox);
        let d = Config::from_toml_str("", "x").unwrap();
        assert!(d.api.cors_origins.is_empty());
        assert!(d.server.access.ip_allowlist.is_empty());
        assert!(!d.server.access.allow_open);
        assert_eq!(d.auth.require_key, None);
        assert!(!d.browser.no_sandbox);
    }
}
