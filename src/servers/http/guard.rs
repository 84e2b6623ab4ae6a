//! Who may read a berth HTTP server's answers: CORS and authentication,
//! for handlers to apply in their own order (the site checks the method
//! first, then credentials, then the path). The Host check, which every
//! server needs before anything else, is the core's own ([`super::host`]).
//!
//! - **CORS** ([`Guard::cors_origin`]): without `--cors`, no CORS headers at
//!   all, so other sites' scripts cannot read responses; with it, only the
//!   exact origins named, and `Vary: Origin` so caches keep them apart.
//! - **Authentication** ([`Guard::check_auth`]): HTTP basic (`--auth`) or a
//!   random token (`--token`), compared in constant time.

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
        Ok(Auth::Token { token: random_hex()?, cookie: format!("berth_token_{port}") })
    }
}

/// 128 bits from the kernel, as 32 hex digits (tokens, login codes).
pub fn random_hex() -> Result<String, std::io::Error> {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom fills the buffer we own, up to its length.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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

/// Who may read one server's answers.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Origins allowed by `--cors`, exactly as given.
    pub cors: Vec<String>,
    pub auth: Option<Auth>,
}

impl Guard {
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
