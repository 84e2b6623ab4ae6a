//! What `probe` and `scan` are pointed at, and the addresses that names.
//!
//! `probe` takes `PORT` (meaning localhost), `HOST:PORT`, `[IPV6]:PORT` or a
//! URL (`http://host:port/path`, `https://...`); `scan` takes a host. Port
//! numbers go through the one port parser every command uses
//! ([`berth_inventory::target::parse_port`]), so the messages match.
//!
//! `localhost` always stands for both 127.0.0.1 and ::1, whatever
//! /etc/hosts says: clients differ in which one they try first, and the
//! point of probing localhost is to see both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use serde::Serialize;

use crate::error::Error;
use berth_inventory::target::parse_port;

/// How the target asked to be spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed `probe` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// What the user typed.
    pub text: String,
    /// The host as named (`localhost` when only a port was given); IPv6
    /// literals without brackets.
    pub host: String,
    pub port: u16,
    /// Set for URLs only.
    pub scheme: Option<Scheme>,
    /// The path and query of a URL (`/` when it had none); None otherwise.
    pub path: Option<String>,
}

const FORMS: &str = "use PORT, HOST:PORT, [IPV6]:PORT, http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH";

impl ProbeTarget {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let original = text.trim();
        if original.is_empty() {
            return Err(Error::Usage(format!("no target given; {FORMS}")));
        }
        if let Some((scheme, rest)) = original.split_once("://") {
            return Self::parse_url(original, scheme, rest);
        }
        let (host, port_text) = split_host_port(original)?;
        let port = port_of(original, port_text)?;
        let host = match host {
            None => "localhost".to_string(),
            Some(host) => check_host(original, host)?,
        };
        Ok(ProbeTarget { text: original.to_string(), host, port, scheme: None, path: None })
    }

    fn parse_url(original: &str, scheme: &str, rest: &str) -> Result<Self, Error> {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(Error::Usage(format!(
                    "'{original}': unknown scheme '{other}': berth probes http:// and https:// URLs, \
                     or any TCP port as HOST:PORT"
                )))
            }
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(Error::Usage(format!("'{original}': credentials in URLs are not supported")));
        }
        // The fragment stays with the client; a query alone gets the root path.
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let (host, port) = match authority.strip_prefix('[').and_then(|b| b.split_once(']')) {
            // [v6] alone takes the scheme's port; [v6]:PORT goes through split_host_port.
            Some((host, "")) => (Some(host), scheme.default_port()),
            _ if authority.contains(':') => {
                let (host, port_text) = split_host_port(authority)?;
                (host, port_of(original, port_text)?)
            }
            _ => (Some(authority), scheme.default_port()),
        };
        let host = match host {
            Some(host) if !host.is_empty() => check_host(original, host)?,
            _ => return Err(Error::Usage(format!("'{original}': the URL names no host; {FORMS}"))),
        };
        Ok(ProbeTarget { text: original.to_string(), host, port, scheme: Some(scheme), path: Some(path) })
    }
}

/// `host[:port]` for a Host header or a URL, IPv6 in brackets.
pub fn host_header(host: &str, scheme: Scheme, port: u16) -> String {
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    if port == scheme.default_port() {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port`, `[v6]:port`, `:port` and `port` (host None).
fn split_host_port(text: &str) -> Result<(Option<&str>, &str), Error> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| Error::Usage(format!("'{text}': missing ']' after the IPv6 address; {FORMS}")))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| Error::Usage(format!("'{text}': expected ':PORT' after ']'; {FORMS}")))?;
        return Ok((Some(host), port));
    }
    if text.matches(':').count() > 1 {
        return Err(Error::Usage(format!("'{text}': write IPv6 addresses in brackets, as [::1]:PORT")));
    }
    Ok(match text.split_once(':') {
        Some(("", port)) => (None, port),
        Some((host, port)) => (Some(host), port),
        None if text.bytes().all(|b| b.is_ascii_digit()) => (None, text),
        None => return Err(Error::Usage(format!("'{text}': no port given; {FORMS}"))),
    })
}

/// The port of `original`, with the whole input quoted when it was more than the port.
fn port_of(original: &str, port_text: &str) -> Result<u16, Error> {
    parse_port(port_text).map_err(|e| {
        if port_text == original {
            Error::Usage(e.0)
        } else {
            Error::Usage(format!("'{original}': {}", e.0))
        }
    })
}

/// An IP literal, or a name made of the characters DNS names use.
fn check_host(original: &str, host: &str) -> Result<String, Error> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(host.to_string());
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !host.starts_with(['-', '.']);
    if valid {
        Ok(host.to_string())
    } else {
        Err(Error::Usage(format!("'{original}': '{host}' is not a host name or IP address; {FORMS}")))
    }
}

/// Every address `host` stands for, in the resolver's order, without
/// duplicates. `localhost` is 127.0.0.1 and ::1, always.
pub fn resolve(host: &str) -> Result<Vec<IpAddr>, Error> {
    let bare = host.trim_end_matches('.');
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    // RFC 6761: names under .invalid never resolve; say so without asking DNS.
    if bare.to_ascii_lowercase().ends_with(".invalid") || bare.eq_ignore_ascii_case("invalid") {
        return Err(unknown_host(host, "no such host"));
    }
    let found = (host, 0u16).to_socket_addrs().map_err(|e| unknown_host(host, &e.to_string()))?;
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in found {
        if !addresses.contains(&address.ip()) {
            addresses.push(address.ip());
        }
    }
    if addresses.is_empty() {
        return Err(unknown_host(host, "no addresses"));
    }
    Ok(addresses)
}

/// The one address `scan` uses for `host`: an IP literal as given, 127.0.0.1
/// for localhost, otherwise the resolver's first answer (IPv4 preferred, as
/// scanning one address is the point). Resolved once.
pub fn resolve_one(host: &str) -> Result<IpAddr, Error> {
    let host = host.trim();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(Error::Usage("no host given: name an IP address or a host name".into()));
    }
    if host.parse::<IpAddr>().is_err() {
        check_host(host, host).map_err(|_| {
            Error::Usage(format!("'{host}' is not a host name or IP address: name one, as 127.0.0.1, ::1 or myhost"))
        })?;
    }
    let addresses = resolve(host)?;
    Ok(addresses.iter().copied().find(IpAddr::is_ipv4).unwrap_or(addresses[0]))
}

fn unknown_host(host: &str, why: &str) -> Error {
    let why = why.trim_start_matches("failed to lookup address information: ");
    Error::Usage(format!("cannot resolve '{host}': {why}; check the name, or give an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ProbeTarget {
        ProbeTarget::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn accepted_forms() {
        let t = parse("8080");
        assert_eq!((t.host.as_str(), t.port, t.scheme, t.path), ("localhost", 8080, None, None));
        assert_eq!(parse(":8080").host, "localhost");
        assert_eq!(parse("127.0.0.1:22").host, "127.0.0.1");
        assert_eq!(parse("[::1]:5432").host, "::1");
        assert_eq!(parse("db.internal:5432").host, "db.internal");
        let t = parse("https://localhost:8443/health?x=1#top");
        assert_eq!((t.scheme, t.port, t.path.as_deref()), (Some(Scheme::Https), 8443, Some("/health?x=1")));
        let t = parse("http://[::1]/");
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        let t = parse("HTTPS://example.test");
        assert_eq!((t.port, t.path.as_deref()), (443, Some("/")));
        assert_eq!(parse("http://h:81?q").path.as_deref(), Some("/?q"));
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "",
            "0",
            "70000",
            "abc",
            "host",
            "host:",
            "::1:80",
            "[::1]80",
            "ftp://localhost:21",
            "http://",
            "http://:80/",
            "http://user:pw@host/",
            "http://host:0/",
            "bad host:80",
        ] {
            assert!(ProbeTarget::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(ProbeTarget::parse("gopher://x:70").unwrap_err().to_string().contains("unknown scheme"));
    }

    #[test]
    fn localhost_is_both_families() {
        assert_eq!(
            resolve("localhost").unwrap(),
            vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(Ipv6Addr::LOCALHOST)]
        );
        assert_eq!(resolve_one("localhost").unwrap(), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(resolve_one("[::1]").unwrap(), IpAddr::from(Ipv6Addr::LOCALHOST));
        assert!(resolve("no-such-host.invalid").is_err());
        assert!(resolve_one("bad host").is_err());
    }

    #[test]
    fn host_headers() {
        assert_eq!(host_header("::1", Scheme::Http, 8080), "[::1]:8080");
        assert_eq!(host_header("example.test", Scheme::Https, 443), "example.test");
    }
}
