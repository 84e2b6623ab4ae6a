//! The Host guard: which names a berth HTTP server answers to. The core
//! applies it to every request before a handler sees one, so that no
//! handler can forget it.
//!
//! A web page the user visits can make the browser send requests to
//! 127.0.0.1 under the page's own domain by re-pointing that domain's DNS
//! at 127.0.0.1 ("DNS rebinding"). Such requests carry the attacker's name
//! in Host, so answering only Host headers that name loopback (or a name
//! the user allowed) stops them.
//!
//! The names allowed besides loopback live here, in the core's
//! [`Options`](super::Options): the command that starts a server puts in
//! `--allow-host` and whatever names its handler answers for (a proxy's
//! virtual hosts, later), before the server starts.

use std::net::IpAddr;

use super::request::Request;

/// The outcome of the Host check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCheck {
    Allowed,
    /// HTTP/1.1 without Host (or with two): 400.
    Missing,
    /// A Host value that is not `host[:port]` as a whole: 400.
    Invalid,
    /// A name that is neither loopback nor allowed: 421.
    Foreign,
}

impl HostCheck {
    /// A Host berth cannot make sense of ends its connection (as nginx
    /// does after a 400): what follows it cannot be trusted to be a request.
    pub fn ends_connection(self) -> bool {
        matches!(self, HostCheck::Missing | HostCheck::Invalid)
    }

    /// What the core answers instead of the handler when the Host is not
    /// allowed; None when it is.
    pub fn refusal(self) -> Option<Refusal> {
        let (status, message, note) = match self {
            HostCheck::Allowed => return None,
            HostCheck::Missing => (400, "berth: an HTTP/1.1 request needs exactly one Host header\n", "no Host"),
            HostCheck::Invalid => (
                400,
                "berth: the Host header must be a host name or address with an optional :port, and nothing else\n",
                "invalid Host",
            ),
            HostCheck::Foreign => (
                421,
                "berth: this server answers only requests for localhost, 127.0.0.1, [::1] and *.localhost, \
                 so that other web sites cannot reach it through DNS rebinding. \
                 To use another name, start it with --allow-host NAME.\n",
                "Host not allowed",
            ),
        };
        Some(Refusal { status, message, note })
    }
}

/// The core's answer to a request whose Host is not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// The plain-text body.
    pub message: &'static str,
    /// Why, for the log line.
    pub note: &'static str,
}

/// The names one server answers to, besides loopback.
#[derive(Clone, Debug, Default)]
pub struct HostGuard {
    /// Extra Host names allowed (`--allow-host`), lowercase.
    pub allowed_hosts: Vec<String>,
    /// With `--expose`, the machine's own addresses the server is reachable
    /// at (every interface address for a wildcard bind, else the one bound):
    /// an IP literal cannot be re-pointed by DNS.
    pub allowed_addresses: Vec<IpAddr>,
    /// With `--expose`, a Host naming the very address the client connected
    /// to is allowed too (an address the machine was given after start).
    pub allow_local_address: bool,
}

impl HostGuard {
    /// Checks the Host header of a request that arrived at `local`.
    ///
    /// The value must parse as a whole as `host[:port]` (see
    /// [`parse_host`]); anything else is refused with 400, as RFC 9112
    /// §3.2 asks for an invalid Host, rather than judged by a part of it:
    /// `[::1].evil.example` is not `[::1]`.
    pub fn check(&self, request: &Request<'_>, local: Option<IpAddr>) -> HostCheck {
        if request.duplicate_host {
            return HostCheck::Missing;
        }
        let Some(host) = request.host else {
            // HTTP/1.0 clients may omit Host; browsers (the only way to
            // rebind) always send it.
            return if request.minor_version == 0 { HostCheck::Allowed } else { HostCheck::Missing };
        };
        if host.is_empty() {
            return HostCheck::Missing;
        }
        let Some(host) = parse_host(host) else { return HostCheck::Invalid };
        let loopback = match host.address {
            Some(address) => canonical(address).is_loopback(),
            None => is_localhost(host.name),
        };
        if loopback || self.allowed_hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host.name)) {
            return HostCheck::Allowed;
        }
        if let Some(address) = host.address {
            if self.allowed_addresses.iter().any(|allowed| canonical(*allowed) == canonical(address)) {
                return HostCheck::Allowed;
            }
        }
        if let (true, Some(address), Some(local)) = (self.allow_local_address, host.address, local) {
            if address == local || canonical(address) == canonical(local) {
                return HostCheck::Allowed;
            }
        }
        HostCheck::Foreign
    }
}

/// A Host header value taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostParts<'h> {
    /// The host as written, brackets kept, without the port and without one
    /// trailing dot (`localhost.` names the same host as `localhost`).
    pub name: &'h str,
    /// The address, when the host is an IP literal (`127.0.0.1`, `[::1]`).
    pub address: Option<IpAddr>,
}

/// Parses a whole Host value, `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986
/// §3.2.2): a bracketed IPv6 literal, a dotted IPv4 address or a reg-name,
/// then optionally `:` and digits, and nothing else. None for anything
/// else: text after `]` (`[::1].evil.example`), an unbracketed IPv6
/// address, userinfo (`user@host`), spaces or other characters a host
/// cannot have, a port that is not digits, an empty host.
pub fn parse_host(value: &[u8]) -> Option<HostParts<'_>> {
    let value = std::str::from_utf8(value).ok()?;
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if !port.unwrap_or_default().bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(literal) = host.strip_prefix('[') {
        let address = literal.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(HostParts { name: host, address: Some(IpAddr::V6(address)) });
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || !name.bytes().all(is_reg_name_byte) {
        return None;
    }
    let address = name.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4);
    Some(HostParts { name, address })
}

/// The bytes of a reg-name (RFC 3986 §3.2.2): unreserved, sub-delims and
/// `%` of pct-encoded. Not `:`, `@`, `[`, `]`, `/`, spaces or controls.
fn is_reg_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&byte)
}

/// `localhost` and `*.localhost` (RFC 6761: always this machine), a name
/// already without its trailing dot. The labels before `.localhost` must be
/// DNS labels (letters, digits, `-`, `_`), none empty.
fn is_localhost(name: &str) -> bool {
    const SUFFIX: &str = ".localhost";
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let Some(split) = name.len().checked_sub(SUFFIX.len()) else { return false };
    if split == 0 || !name.is_char_boundary(split) || !name[split..].eq_ignore_ascii_case(SUFFIX) {
        return false;
    }
    name[..split]
        .split('.')
        .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// IPv4-mapped IPv6 addresses as IPv4, so ::ffff:127.0.0.1 is loopback.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_host(host: Option<&'static str>, minor: u8) -> Request<'static> {
        Request { host: host.map(str::as_bytes), minor_version: minor, ..Request::default() }
    }

    #[test]
    fn loopback_names() {
        let guard = HostGuard::default();
        let check = |host: &'static str| guard.check(&request_with_host(Some(host), 1), None);
        for name in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "a-b.c_d.localhost",
            "localhost.",
            "app.localhost.",
            "127.0.0.1",
            "127.1.2.3",
            "127.0.0.1.",
            "[::1]",
            "[::ffff:127.0.0.1]",
        ] {
            assert_eq!(check(name), HostCheck::Allowed, "{name}");
            let with_port: &'static str = Box::leak(format!("{name}:8080").into_boxed_str());
            assert_eq!(check(with_port), HostCheck::Allowed, "{with_port}");
        }
        for name in [
            "evil.example",
            "localhost.evil.example",
            "0.0.0.0",
            "[::]",
            "203.0.113.1",
            "notlocalhost",
            "localhost..",
            "127.1",
            "2130706433",
            "a!b.localhost",
            "x%20y.localhost",
            "..localhost",
        ] {
            assert_eq!(check(name), HostCheck::Foreign, "{name}");
        }
    }

    #[test]
    fn a_host_must_parse_as_a_whole() {
        let guard = HostGuard { allowed_hosts: vec!["myhost.lan".into()], ..HostGuard::default() };
        let check = |host: &'static str| guard.check(&request_with_host(Some(host), 1), None);
        for invalid in [
            "[::1].evil.com",
            "[::1]evil.com:80",
            "[::1]:80.evil.com",
            "[::1]:8x",
            "[::1]:80:80",
            "[::1",
            "[::1]]",
            "[evil.com]",
            "[127.0.0.1]",
            "[::1%25lo]",
            "::1",
            "::1:80",
            "user@localhost",
            "evil.com@localhost",
            "localhost@evil.com",
            "local host",
            "localhost :80",
            "localhost:80 ",
            "localhost:x",
            "localhost:-1",
            "localhost:80:80",
            "localhost/evil",
            "localhost\\evil",
            ".",
            ":80",
            "x y.localhost",
            "myhost.lan:80x",
            "loc\u{0}alhost",
            "localhost\t.evil",
        ] {
            assert_eq!(check(invalid), HostCheck::Invalid, "{invalid:?}");
        }
        // A port may be empty (RFC 3986: port = *DIGIT).
        assert_eq!(check("localhost:"), HostCheck::Allowed);
        assert_eq!(check("[::1]:"), HostCheck::Allowed);
        assert_eq!(check("myhost.lan."), HostCheck::Allowed);
        assert_eq!(check("myhost.lan.."), HostCheck::Foreign);
        assert_eq!(parse_host(b"[::1]:80"), Some(HostParts { name: "[::1]", address: Some("::1".parse().unwrap()) }));
        assert_eq!(parse_host(b"Example.com.:80"), Some(HostParts { name: "Example.com", address: None }));
    }

    #[test]
    fn host_header() {
        let guard = HostGuard { allowed_hosts: vec!["myhost.lan".into()], ..HostGuard::default() };
        let check = |host, minor| guard.check(&request_with_host(host, minor), None);
        assert_eq!(check(Some("localhost:62893"), 1), HostCheck::Allowed);
        assert_eq!(check(Some("[::1]:80"), 1), HostCheck::Allowed);
        assert_eq!(check(Some("MyHost.LAN:8080"), 1), HostCheck::Allowed);
        assert_eq!(check(Some("evil.example"), 1), HostCheck::Foreign);
        assert_eq!(check(Some("127.0.0.1.evil.example"), 1), HostCheck::Foreign);
        assert_eq!(check(Some("localhost:x"), 1), HostCheck::Invalid);
        assert_eq!(check(Some(""), 1), HostCheck::Missing);
        assert_eq!(check(None, 1), HostCheck::Missing);
        assert_eq!(check(None, 0), HostCheck::Allowed);
    }

    #[test]
    fn exposed_address_literal() {
        let guard = HostGuard { allow_local_address: true, ..HostGuard::default() };
        let request = request_with_host(Some("198.51.100.5:62893"), 1);
        assert_eq!(guard.check(&request, Some("198.51.100.5".parse().unwrap())), HostCheck::Allowed);
        assert_eq!(guard.check(&request, Some("198.51.100.6".parse().unwrap())), HostCheck::Foreign);
    }

    #[test]
    fn the_machines_own_addresses_with_expose() {
        let guard = HostGuard {
            allowed_addresses: vec!["198.51.100.5".parse().unwrap(), "2001:db8::5".parse().unwrap()],
            allowed_hosts: vec!["myhost".into()],
            ..HostGuard::default()
        };
        let check = |host: &'static str| guard.check(&request_with_host(Some(host), 1), None);
        assert_eq!(check("198.51.100.5:62893"), HostCheck::Allowed);
        assert_eq!(check("[2001:db8::5]:62893"), HostCheck::Allowed);
        assert_eq!(check("[::ffff:198.51.100.5]"), HostCheck::Allowed);
        assert_eq!(check("myhost:62893"), HostCheck::Allowed);
        assert_eq!(check("198.51.100.6"), HostCheck::Foreign);
        assert_eq!(check("evil.example"), HostCheck::Foreign);
    }
}
