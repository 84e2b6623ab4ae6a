//! Who may talk to a berth HTTP server, checked before anything is served.
//! Shared by every HTTP server berth starts (serve now; mock and proxy later).
//!
//! - **Host** ([`Guard::check_host`]): a web page the user visits can make
//!   the browser send requests to 127.0.0.1 under the page's own domain by
//!   re-pointing that domain's DNS at 127.0.0.1 ("DNS rebinding"). Such
//!   requests carry the attacker's name in Host, so answering only Host
//!   headers that name loopback (or a name the user allowed) stops them.
//! - **CORS** ([`Guard::cors_origin`]): without `--cors`, no CORS headers at
//!   all, so other sites' scripts cannot read responses; with it, only the
//!   exact origins named, and `Vary: Origin` so caches keep them apart.
//! - **Authentication** ([`Guard::check_auth`]): HTTP basic (`--auth`) or a
//!   random token (`--token`), compared in constant time.

use std::net::IpAddr;

use super::request::{trim, Request};

/// The authentication a server requires, if any.
#[derive(Clone, Debug)]
pub enum Auth {
    /// HTTP basic: the expected `user:password` bytes.
    Basic { credentials: Vec<u8> },
    /// A bearer token, also accepted as `?token=` (which sets `cookie`, so a
    /// browser can go on navigating) and from that cookie.
    Token { token: String, cookie: String },
}

impl Auth {
    /// Parses `--auth USER:PASSWORD`.
    pub fn basic(text: &str) -> Result<Auth, String> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(Auth::Basic { credentials: text.as_bytes().to_vec() })
            }
            Some(_) => Err("--auth needs a non-empty user and password: --auth USER:PASSWORD".into()),
            None => Err("--auth takes USER:PASSWORD, with a colon between them".into()),
        }
    }

    /// A new random token (128 bits from the kernel, hex), with a cookie
    /// name unique to the port (cookies are shared by every port of a host).
    pub fn random_token(port: u16) -> Result<Auth, std::io::Error> {
        let mut bytes = [0u8; 16];
        // SAFETY: getrandom fills the buffer we own, up to its length.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        if n != bytes.len() as isize {
            return Err(std::io::Error::last_os_error());
        }
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Auth::Token { token, cookie: format!("berth_token_{port}") })
    }
}

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

/// The outcome of the authentication check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthCheck {
    /// No authentication required, or valid credentials.
    Allowed,
    /// The token came in the query: allowed, and the response sets the cookie.
    AllowedSetCookie,
    Denied,
}

/// The access policy of one server.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Extra Host names allowed (`--allow-host`), lowercase.
    pub allowed_hosts: Vec<String>,
    /// With `--expose`, a Host naming the very address the client connected
    /// to is allowed: an IP literal cannot be re-pointed by DNS.
    pub allow_local_address: bool,
    /// Origins allowed by `--cors`, exactly as given.
    pub cors: Vec<String>,
    pub auth: Option<Auth>,
}

impl Guard {
    /// Checks the Host header of a request that arrived at `local`.
    ///
    /// The value must parse as a whole as `host[:port]` (see
    /// [`parse_host`]); anything else is refused with 400, as RFC 9112
    /// §3.2 asks for an invalid Host, rather than judged by a part of it:
    /// `[::1].evil.example` is not `[::1]`.
    pub fn check_host(&self, request: &Request<'_>, local: Option<IpAddr>) -> HostCheck {
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
        if let (true, Some(address), Some(local)) = (self.allow_local_address, host.address, local) {
            if address == local || canonical(address) == canonical(local) {
                return HostCheck::Allowed;
            }
        }
        HostCheck::Foreign
    }

    /// The Access-Control-Allow-Origin value for this request: the Origin
    /// itself when it is one of the `--cors` origins, otherwise none.
    pub fn cors_origin<'r>(&self, request: &Request<'r>) -> Option<&'r str> {
        let origin = std::str::from_utf8(request.origin?).ok()?;
        self.cors.iter().any(|allowed| allowed == origin).then_some(origin)
    }

    /// Whether responses depend on Origin (so they need `Vary: Origin`).
    pub fn has_cors(&self) -> bool {
        !self.cors.is_empty()
    }

    /// Checks credentials: the Authorization header (Basic or Bearer), the
    /// token cookie, or `token=` in `query`.
    pub fn check_auth(&self, request: &Request<'_>, query: Option<&str>) -> AuthCheck {
        match &self.auth {
            None => AuthCheck::Allowed,
            Some(Auth::Basic { credentials }) => {
                let given =
                    request.authorization.and_then(|value| scheme_value(value, b"basic")).and_then(base64_decode);
                match given {
                    Some(given) if constant_time_eq(&given, credentials) => AuthCheck::Allowed,
                    _ => AuthCheck::Denied,
                }
            }
            Some(Auth::Token { token, cookie }) => {
                let token = token.as_bytes();
                if let Some(bearer) = request.authorization.and_then(|value| scheme_value(value, b"bearer")) {
                    if constant_time_eq(bearer, token) {
                        return AuthCheck::Allowed;
                    }
                }
                if let Some(given) = request.cookie.and_then(|value| cookie_value(value, cookie.as_bytes())) {
                    if constant_time_eq(given, token) {
                        return AuthCheck::Allowed;
                    }
                }
                if let Some(given) = query.and_then(|q| query_value(q, "token")) {
                    if constant_time_eq(given.as_bytes(), token) {
                        return AuthCheck::AllowedSetCookie;
                    }
                }
                AuthCheck::Denied
            }
        }
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

/// `Basic abc=` with scheme `basic` → `abc=` (schemes are case-insensitive).
fn scheme_value<'v>(value: &'v [u8], scheme: &[u8]) -> Option<&'v [u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    value[..space].eq_ignore_ascii_case(scheme).then(|| trim(&value[space + 1..]))
}

/// The value of cookie `name` in a Cookie header.
fn cookie_value<'v>(header: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    header.split(|&b| b == b';').map(trim).find_map(|pair| {
        let eq = pair.iter().position(|&b| b == b'=')?;
        (&pair[..eq] == name).then(|| &pair[eq + 1..])
    })
}

/// The raw value of `name=` in a query string.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Compares without an early exit, so the time taken says nothing about
/// how much of a guess was right. (The length is not secret.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an early exit.
    std::hint::black_box(difference) == 0
}

/// Standard base64 (padding optional), for Basic credentials.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        _ => text,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_host(host: Option<&'static str>, minor: u8) -> Request<'static> {
        Request { host: host.map(str::as_bytes), minor_version: minor, ..Request::default() }
    }

    #[test]
    fn loopback_names() {
        let guard = Guard::default();
        let check = |host: &'static str| guard.check_host(&request_with_host(Some(host), 1), None);
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
        let guard = Guard { allowed_hosts: vec!["myhost.lan".into()], ..Guard::default() };
        let check = |host: &'static str| guard.check_host(&request_with_host(Some(host), 1), None);
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
        let guard = Guard { allowed_hosts: vec!["myhost.lan".into()], ..Guard::default() };
        let check = |host, minor| guard.check_host(&request_with_host(host, minor), None);
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
        let guard = Guard { allow_local_address: true, ..Guard::default() };
        let request = request_with_host(Some("198.51.100.5:62893"), 1);
        assert_eq!(guard.check_host(&request, Some("198.51.100.5".parse().unwrap())), HostCheck::Allowed);
        assert_eq!(guard.check_host(&request, Some("198.51.100.6".parse().unwrap())), HostCheck::Foreign);
    }

    #[test]
    fn basic_and_token() {
        let basic = Guard { auth: Some(Auth::basic("alice:s3cret").unwrap()), ..Guard::default() };
        let with_auth = |value: &'static str| Request { authorization: Some(value.as_bytes()), ..Request::default() };
        assert_eq!(basic.check_auth(&with_auth("Basic YWxpY2U6czNjcmV0"), None), AuthCheck::Allowed);
        assert_eq!(basic.check_auth(&with_auth("basic YWxpY2U6czNjcmV0"), None), AuthCheck::Allowed);
        assert_eq!(basic.check_auth(&with_auth("Basic YWxpY2U6d3Jvbmc="), None), AuthCheck::Denied);
        assert_eq!(basic.check_auth(&Request::default(), None), AuthCheck::Denied);
        assert!(Auth::basic("nocolon").is_err());
        assert!(Auth::basic(":x").is_err());

        let auth = Auth::Token { token: "abc123".into(), cookie: "berth_token_1".into() };
        let token = Guard { auth: Some(auth), ..Guard::default() };
        assert_eq!(token.check_auth(&with_auth("Bearer abc123"), None), AuthCheck::Allowed);
        assert_eq!(token.check_auth(&with_auth("Bearer abc124"), None), AuthCheck::Denied);
        assert_eq!(token.check_auth(&Request::default(), Some("a=1&token=abc123")), AuthCheck::AllowedSetCookie);
        let cookie = Request { cookie: Some(b"x=1; berth_token_1=abc123"), ..Request::default() };
        assert_eq!(token.check_auth(&cookie, None), AuthCheck::Allowed);
        let other_port = Request { cookie: Some(b"berth_token_2=abc123"), ..Request::default() };
        assert_eq!(token.check_auth(&other_port, None), AuthCheck::Denied);
    }

    #[test]
    fn cors_exact_origin_only() {
        let guard = Guard { cors: vec!["http://localhost:3000".into()], ..Guard::default() };
        let with_origin = |origin: &'static str| Request { origin: Some(origin.as_bytes()), ..Request::default() };
        assert_eq!(guard.cors_origin(&with_origin("http://localhost:3000")), Some("http://localhost:3000"));
        assert_eq!(guard.cors_origin(&with_origin("http://localhost:3001")), None);
        assert_eq!(guard.cors_origin(&with_origin("http://localhost:3000.evil.example")), None);
        assert_eq!(Guard::default().cors_origin(&with_origin("http://localhost:3000")), None);
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"YWxpY2U6czNjcmV0").unwrap(), b"alice:s3cret");
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(base64_decode(b"YQ").unwrap(), b"a");
        assert!(base64_decode(b"Y!==").is_none());
    }
}
