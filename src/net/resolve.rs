//! What `probe` and `scan` are pointed at, and the addresses that names.
//!
//! `probe` takes `PORT` (meaning localhost), `HOST:PORT`, `[IPV6]:PORT` or a
//! URL (`http://host:port/path`, `https://...`); `scan` takes a host. Port
//! numbers go through the one port parser every command uses
//! ([`berth_inventory::target::parse_port_in`]), and every refusal is
//! worded as [`berth_inventory::target::refusal`] words it, so the
//! messages match.
//!
//! `localhost` always stands for both 127.0.0.1 and ::1, whatever
//! /etc/hosts says: clients differ in which one they try first, and the
//! point of probing localhost is to see both.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use serde::Serialize;

use crate::error::Error;
use berth_inventory::target::{parse_port_in, refusal};

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

/// What `probe` is pointed at, the end of each refusal of a target.
const FORMS: &str =
    "a target is a port 1-65535, HOST:PORT, [IPV6]:PORT, http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH";

/// What `connect` is pointed at: as for probe, without URLs.
const CONNECT_FORMS: &str = "a target is a port 1-65535, HOST:PORT or [IPV6]:PORT";

/// What a host may be.
const HOST_RULE: &str = "a host is a name, as localhost or db.internal, or an IP address";

/// `invalid WHAT 'PART' [in 'WHOLE']: EXPECTED`, the one wording (see
/// [`berth_inventory::target::refusal`]).
fn refused(what: &str, part: &str, whole: &str, expected: &str) -> Error {
    refusal(what, part, whole, expected).into()
}

impl ProbeTarget {
    /// PORT, HOST:PORT, `[IPV6]:PORT` or an http(s) URL (`probe`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_as(text, FORMS)
    }

    /// PORT, HOST:PORT or `[IPV6]:PORT`, not a URL (`connect`).
    pub fn parse_address(text: &str) -> Result<Self, Error> {
        let original = text.trim();
        if original.contains("://") {
            return Err(refused("target", original, original, &format!("connect takes no URL; {CONNECT_FORMS}")));
        }
        Self::parse_as(text, CONNECT_FORMS)
    }

    /// `forms` ends each refusal: what the command takes.
    fn parse_as(text: &str, forms: &str) -> Result<Self, Error> {
        let original = text.trim();
        if original.is_empty() {
            return Err(refused("target", original, original, forms));
        }
        if let Some((scheme, rest)) = original.split_once("://") {
            return Self::parse_url(original, scheme, rest);
        }
        let (host, port_text) = split_host_port(original, original, forms)?;
        let port = parse_port_in(port_text, original, forms)?;
        let host = match host {
            None => "localhost".to_string(),
            Some(host) => check_host(original, host, forms)?,
        };
        Ok(ProbeTarget { text: original.to_string(), host, port, scheme: None, path: None })
    }

    fn parse_url(original: &str, scheme: &str, rest: &str) -> Result<Self, Error> {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => {
                return Err(refused(
                    "scheme",
                    scheme,
                    original,
                    "berth probes http:// and https:// URLs, or any TCP port as HOST:PORT",
                ))
            }
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(refused("URL", original, original, &format!("credentials (USER@) are not supported; {FORMS}")));
        }
        // The fragment stays with the client; a query alone gets the root path.
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let (host, port) = match authority.strip_prefix('[').and_then(|b| b.split_once(']')) {
            // [v6] alone takes the scheme's port; [v6]:PORT goes through split_host_port.
            Some((host, "")) => (Some(host), scheme.default_port()),
            _ if authority.contains(':') => {
                let (host, port_text) = split_host_port(authority, original, FORMS)?;
                (host, parse_port_in(port_text, original, FORMS)?)
            }
            _ => (Some(authority), scheme.default_port()),
        };
        let host = match host {
            Some(host) if !host.is_empty() => check_host(original, host, FORMS)?,
            _ => return Err(refused("URL", original, original, &format!("it names no host; {FORMS}"))),
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

/// Splits `host:port`, `[v6]:port`, `:port` and `port` (host None); `text`
/// is a piece of `original`, which refusals quote.
fn split_host_port<'a>(text: &'a str, original: &str, forms: &str) -> Result<(Option<&'a str>, &'a str), Error> {
    let target = |why: &str| refused("target", original, original, &format!("{why}; {forms}"));
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| target("missing ']' after the IPv6 address"))?;
        let port = after.strip_prefix(':').ok_or_else(|| target("expected ':PORT' after ']'"))?;
        return Ok((Some(host), port));
    }
    if text.matches(':').count() > 1 {
        let example = match text.rsplit_once(':') {
            Some((address, port)) if !address.is_empty() && !port.is_empty() => format!("[{address}]:{port}"),
            _ => "[::1]:PORT".to_string(),
        };
        return Err(target(&format!("write IPv6 addresses in brackets, as {example}")));
    }
    Ok(match text.split_once(':') {
        Some(("", port)) => (None, port),
        Some((host, port)) => (Some(host), port),
        None if text.bytes().all(|b| b.is_ascii_digit()) => (None, text),
        None => return Err(target(&format!("a host needs a port, as {text}:80"))),
    })
}

/// Whether `host` is an IP literal, or a name made of the characters DNS
/// names use.
fn host_like(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !host.starts_with(['-', '.']))
}

/// `host` as [`host_like`] accepts it, refused as a piece of `original`.
fn check_host(original: &str, host: &str, forms: &str) -> Result<String, Error> {
    if host_like(host) {
        Ok(host.to_string())
    } else {
        Err(refused("host", host, original, &format!("{HOST_RULE}; {forms}")))
    }
}

/// `scan HOST`: a name or an IP address (brackets around IPv6 allowed),
/// checked as it is typed; it is resolved when the scan starts.
pub fn parse_host(text: &str) -> Result<String, Error> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(trimmed);
    if !host_like(bare) {
        return Err(refused("host", text, text, HOST_RULE));
    }
    Ok(text.to_string())
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
    parse_host(host)?;
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
        let says = |bad: &str| ProbeTarget::parse(bad).unwrap_err().to_string();
        assert!(says("gopher://x:70").starts_with("invalid scheme 'gopher' in 'gopher://x:70': "));
        assert_eq!(says("host:99999"), format!("invalid port '99999' in 'host:99999': {FORMS}"));
        assert_eq!(says("bad host:80"), format!("invalid host 'bad host' in 'bad host:80': {HOST_RULE}; {FORMS}"));
        assert!(says("0").starts_with("invalid port '0': 0 asks for any free port"), "{}", says("0"));
        let connect = ProbeTarget::parse_address("http://x/").unwrap_err().to_string();
        assert!(connect.starts_with("invalid target 'http://x/': connect takes no URL"), "{connect}");
        let connect = ProbeTarget::parse_address("abc").unwrap_err().to_string();
        assert_eq!(connect, format!("invalid target 'abc': a host needs a port, as abc:80; {CONNECT_FORMS}"));
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
