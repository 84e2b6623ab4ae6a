//! Parsing what users type for a port: `62893`, `:62893`, `127.0.0.1:62893`,
//! `[::1]:62893`, `localhost:62893`, `tcp/62893`, `udp/53`, and deciding
//! which sockets such a target names. Every command that takes a port uses
//! this one parser.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::scope::{covers_ipv4, covers_ipv6, unmapped};
use crate::{Protocol, Socket};

/// A port as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortTarget {
    /// Only this protocol, if the user said `tcp/` or `udp/`.
    pub protocol: Option<Protocol>,
    /// Only sockets that take traffic for one of these addresses; None: any address.
    pub addresses: Option<Vec<IpAddr>>,
    /// The port, 1 to 65535.
    pub port: u16,
    /// What the user typed, for messages.
    pub text: String,
}

/// Why a target did not parse; the message says what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// What a target may be, the end of every refusal of one.
const FORMS: &str = "a target is a port 1-65535, ADDRESS:PORT, [IPV6]:PORT, localhost:PORT, tcp/PORT or udp/PORT";

/// What a port number may be.
pub const PORT_RULE: &str = "a port is a number 1-65535";

/// The one wording of a refused part of what the user typed, as berth
/// refuses every value: `invalid WHAT 'PART': EXPECTED`, and `invalid WHAT
/// 'PART' in 'WHOLE': EXPECTED` when PART is only a piece of the input
/// (`invalid port '99999' in 'abc:99999'`), so the message says which piece
/// is wrong. (The CLI adds `for --FLAG` after the quoted input of a flag.)
pub fn refusal(what: &str, part: &str, whole: &str, expected: &str) -> TargetError {
    if part == whole {
        TargetError(format!("invalid {what} '{part}': {expected}"))
    } else {
        TargetError(format!("invalid {what} '{part}' in '{whole}': {expected}"))
    }
}

/// Parses a port number from 1 to 65535 in `text`, a piece of `whole`; the
/// refusal ends with `expected` (what `whole` may be). Port 0 is refused
/// saying what it would mean (any free port), since it names no socket.
pub fn parse_port_in(text: &str, whole: &str, expected: &str) -> Result<u16, TargetError> {
    let trimmed = text.trim();
    let number = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        trimmed.parse::<u32>().ok()
    } else {
        None
    };
    match number {
        Some(n @ 1..=65535) => Ok(n as u16),
        Some(0) => Err(refusal("port", text, whole, &format!("0 asks for any free port and names none; {expected}"))),
        _ => Err(refusal("port", text, whole, expected)),
    }
}

/// Parses a port number from 1 to 65535: `invalid port 'abc': a port is a
/// number 1-65535` when it is not one.
pub fn parse_port(text: &str) -> Result<u16, TargetError> {
    parse_port_in(text, text, PORT_RULE)
}

/// `127.0.0.1:80`, `[::1]:80`: how an address with a port is written
/// everywhere berth shows one, in messages and tables alike (IPv6 in
/// brackets, so the port cannot be read as part of the address).
pub fn address_with_port(address: IpAddr, port: u16) -> String {
    SocketAddr::new(address, port).to_string()
}

impl PortTarget {
    /// Parses one of the forms in the module docs; `localhost` stands for
    /// both 127.0.0.1 and ::1, and `*` for any address. The error says what
    /// was wrong and which forms are accepted.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let original = text.trim();
        let lower = original.to_ascii_lowercase();
        let target = |why: &str| refusal("target", original, original, &format!("{why}; {FORMS}"));
        // to_ascii_lowercase keeps byte offsets, so the prefix length holds for both.
        let (protocol, rest) = if lower.starts_with("tcp/") {
            (Some(Protocol::Tcp), &original[4..])
        } else if lower.starts_with("udp/") {
            (Some(Protocol::Udp), &original[4..])
        } else if let Some((protocol, _)) = original.split_once('/') {
            return Err(refusal("protocol", protocol, original, "use tcp/PORT or udp/PORT"));
        } else {
            (None, original)
        };

        let (host, port_text) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) =
                bracketed.split_once(']').ok_or_else(|| target("missing ']' after the IPv6 address"))?;
            let port = after.strip_prefix(':').ok_or_else(|| target("expected ':PORT' after ']'"))?;
            (Some(host), port)
        } else if rest.matches(':').count() > 1 {
            // `::1:80`: the last colon most likely starts the port.
            let example = match rest.rsplit_once(':') {
                Some((address, port)) if !address.is_empty() && !port.is_empty() => format!("[{address}]:{port}"),
                _ => "[::1]:PORT".to_string(),
            };
            return Err(target(&format!("write IPv6 addresses in brackets, as {example}")));
        } else if let Some((host, port)) = rest.split_once(':') {
            (if host.is_empty() { None } else { Some(host) }, port)
        } else {
            (None, rest)
        };

        let port = parse_port_in(port_text, original, FORMS)?;
        let addresses = match host {
            None | Some("*") => None,
            Some(host) => Some(resolve_host(host).ok_or_else(|| {
                refusal("address", host, original, &format!("use an IP address, localhost or *; {FORMS}"))
            })?),
        };
        Ok(PortTarget { protocol, addresses, port, text: original.to_string() })
    }

    /// True when `socket`'s local end is what this target names: same port,
    /// same protocol if given, and an address that takes traffic for one of
    /// the target's addresses (a wildcard bind takes traffic for all).
    pub fn matches_local(&self, socket: &Socket) -> bool {
        socket.local.port() == self.port
            && self.protocol.is_none_or(|p| p == socket.protocol)
            && self.addresses.as_ref().is_none_or(|list| list.iter().any(|&wanted| takes_traffic_for(socket, wanted)))
    }
}

/// IP literals and `localhost` (both loopback families, as resolvers give it).
fn resolve_host(host: &str) -> Option<Vec<IpAddr>> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    host.parse::<IpAddr>().ok().map(|ip| vec![ip])
}

/// Would `socket` receive traffic sent to `wanted` on its port?
pub fn takes_traffic_for(socket: &Socket, wanted: IpAddr) -> bool {
    let local = unmapped(socket.local.ip());
    let wanted = unmapped(wanted);
    if local == wanted {
        return true;
    }
    if !local.is_unspecified() {
        return false;
    }
    match wanted {
        IpAddr::V4(_) => covers_ipv4(socket),
        IpAddr::V6(_) => covers_ipv6(socket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_with_ports() {
        assert_eq!(address_with_port(ip("::1"), 80), "[::1]:80");
        assert_eq!(address_with_port(ip("127.0.0.1"), 80), "127.0.0.1:80");
    }

    #[test]
    fn accepted_forms() {
        let t = PortTarget::parse("62893").unwrap();
        assert_eq!((t.protocol, t.addresses.clone(), t.port), (None, None, 62893));
        assert_eq!(PortTarget::parse(":62893").unwrap().port, 62893);
        assert_eq!(PortTarget::parse("127.0.0.1:62893").unwrap().addresses, Some(vec![ip("127.0.0.1")]));
        assert_eq!(PortTarget::parse("[::1]:62893").unwrap().addresses, Some(vec![ip("::1")]));
        assert_eq!(PortTarget::parse("localhost:62893").unwrap().addresses, Some(vec![ip("127.0.0.1"), ip("::1")]));
        let t = PortTarget::parse("tcp/62893").unwrap();
        assert_eq!((t.protocol, t.port), (Some(Protocol::Tcp), 62893));
        let t = PortTarget::parse("UDP/53").unwrap();
        assert_eq!((t.protocol, t.port), (Some(Protocol::Udp), 53));
        let t = PortTarget::parse("tcp/[::1]:8080").unwrap();
        assert_eq!((t.protocol, t.addresses.clone(), t.port), (Some(Protocol::Tcp), Some(vec![ip("::1")]), 8080));
        assert_eq!(PortTarget::parse("*:80").unwrap().addresses, None);
    }

    #[test]
    fn rejected_forms_say_why() {
        for bad in [
            "",
            "0",
            "65536",
            "99999999999",
            "-1",
            "abc",
            "12ab",
            "sctp/80",
            "::1:80",
            "[::1]80",
            "[::1:80",
            "foo.example:80",
            "127.0.0.1:",
            "1.2.3:80",
            "tcp/",
            ":",
        ] {
            let err = PortTarget::parse(bad).expect_err(bad);
            assert!(!err.0.is_empty());
        }
        let says = |bad: &str| PortTarget::parse(bad).unwrap_err().0;
        assert_eq!(says("abc"), format!("invalid port 'abc': {FORMS}"));
        assert_eq!(says("65536"), format!("invalid port '65536': {FORMS}"));
        assert!(says("0").starts_with("invalid port '0': 0 asks for any free port"), "{}", says("0"));
        // Which part of the input is wrong.
        assert_eq!(says("abc:99999"), format!("invalid port '99999' in 'abc:99999': {FORMS}"));
        assert!(says("1.2.3:80").starts_with("invalid address '1.2.3' in '1.2.3:80': "), "{}", says("1.2.3:80"));
        assert!(says("sctp/80").starts_with("invalid protocol 'sctp' in 'sctp/80': use tcp/PORT"));
        assert!(says("::1:80").starts_with("invalid target '::1:80': write IPv6 addresses in brackets, as [::1]:80"));
        assert!(says("[::1]80").starts_with("invalid target '[::1]80': expected ':PORT' after ']'"));
    }
}
