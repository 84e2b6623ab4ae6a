//! Parsing one HTTP/1.x request head, with limits.
//!
//! The head is parsed in place (httparse, no copies): [`Request`] borrows
//! the connection's read buffer and keeps only the headers berth acts on.
//! Limits are what keep a hostile client cheap: a head larger than
//! [`MAX_HEAD`] or with more than [`MAX_HEADERS`] fields is answered 431
//! and the connection closed; anything malformed is 400 and closed.

/// Largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;

/// Most header fields accepted in one request.
pub const MAX_HEADERS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Other,
}

/// Content codings the client accepts (Accept-Encoding), as far as berth
/// can produce them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encodings {
    pub gzip: bool,
    pub br: bool,
}

/// The parts of a request head berth acts on. Header values are raw bytes
/// from the buffer; absent headers are None.
#[derive(Debug, Default)]
pub struct Request<'b> {
    pub method: Option<Method>,
    pub method_text: &'b str,
    /// The request target as sent (origin-form `/path?query` for anything
    /// berth serves).
    pub target: &'b str,
    /// HTTP/1.0 or HTTP/1.1: the minor version.
    pub minor_version: u8,
    pub host: Option<&'b [u8]>,
    /// More than one Host header: a request smuggling attempt or a broken client.
    pub duplicate_host: bool,
    pub accept: Option<&'b [u8]>,
    pub accept_encoding: Encodings,
    pub range: Option<&'b [u8]>,
    pub if_none_match: Option<&'b [u8]>,
    pub if_modified_since: Option<&'b [u8]>,
    pub if_range: Option<&'b [u8]>,
    pub authorization: Option<&'b [u8]>,
    pub cookie: Option<&'b [u8]>,
    pub origin: Option<&'b [u8]>,
    pub access_control_request_method: Option<&'b [u8]>,
    pub access_control_request_headers: Option<&'b [u8]>,
    /// The client wants the connection kept open after this response.
    pub keep_alive: bool,
    /// The request carries a body (Content-Length > 0 or any
    /// Transfer-Encoding). berth never reads bodies: it answers and closes,
    /// so a body can never be mistaken for the next request.
    pub has_body: bool,
    /// Content-Length, when sent (checked: one number).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` is the last coding: the body comes in
    /// chunks. Any other Transfer-Encoding cannot be read (see
    /// [`Request::unreadable_body`]).
    pub chunked: bool,
    /// A Transfer-Encoding other than chunked alone, whose body berth
    /// cannot delimit.
    pub other_coding: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before the body.
    pub expect_continue: bool,
    /// The whole head as received, for handlers that read headers the core
    /// does not keep (see [`Request::header`]).
    pub raw_head: &'b [u8],
    /// Bytes of the head, to consume from the buffer.
    pub head_len: usize,
}

impl<'b> Request<'b> {
    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Other)
    }

    /// Every header field of the request, in order: name and trimmed
    /// value, from the head httparse has already checked (so a plain
    /// split at the first colon is exact). For handlers that read headers
    /// the core does not keep (mock's parameters, Prefer, Content-Type);
    /// the core's own fields above stay the fast path.
    pub fn headers(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + 'b {
        let head = self.raw_head;
        head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, trim(&line[colon + 1..])))
        })
    }
}

/// Why a head was refused; each maps to a status and closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// 400: not HTTP/1.x, or malformed.
    Malformed,
    /// 431: too large or too many fields.
    TooLarge,
    /// 400: a Content-Length that is not one number (empty, not digits,
    /// or two different values); the body's end is unknown.
    BadLength,
    /// 400: both Content-Length and Transfer-Encoding (request smuggling).
    BothFramings,
}

/// The outcome of trying to parse the bytes received so far.
// Matched as soon as it is returned, once per request: boxing the request
// would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed<'b> {
    Complete(Request<'b>),
    /// The head is not complete yet: read more.
    Partial,
    Error(HeadError),
}

/// Parses the request head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut raw = httparse::Request::new(&mut headers);
    let head_len = match raw.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD { Parsed::Error(HeadError::TooLarge) } else { Parsed::Partial };
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error(HeadError::TooLarge),
        Err(_) => return Parsed::Error(HeadError::Malformed),
    };
    if head_len > MAX_HEAD {
        return Parsed::Error(HeadError::TooLarge);
    }
    let method_text = raw.method.unwrap_or("");
    let minor_version = raw.version.unwrap_or(1);
    let mut request = Request {
        method: Some(match method_text {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }),
        method_text,
        target: raw.path.unwrap_or(""),
        minor_version,
        keep_alive: minor_version >= 1,
        raw_head: &buf[..head_len],
        head_len,
        ..Request::default()
    };
    let mut content_length = None;
    for header in raw.headers.iter() {
        let name = header.name.as_bytes();
        let value = trim(header.value);
        // Dispatch on length first: most names are then ruled out by one compare.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if request.host.is_some() {
                    request.duplicate_host = true;
                }
                request.host = Some(value);
            }
            5 if name.eq_ignore_ascii_case(b"range") => request.range = Some(value),
            6 if name.eq_ignore_ascii_case(b"accept") => request.accept = Some(value),
            6 if name.eq_ignore_ascii_case(b"cookie") => request.cookie = Some(value),
            6 if name.eq_ignore_ascii_case(b"origin") => request.origin = Some(value),
            8 if name.eq_ignore_ascii_case(b"if-range") => request.if_range = Some(value),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        request.keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && minor_version == 0 {
                        request.keep_alive = true;
                    }
                }
            }
            13 if name.eq_ignore_ascii_case(b"authorization") => request.authorization = Some(value),
            13 if name.eq_ignore_ascii_case(b"if-none-match") => request.if_none_match = Some(value),
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let length = parse_content_length(value).ok_or(HeadError::BadLength);
                match (length, content_length) {
                    (Ok(length), None) => content_length = Some(length),
                    (Ok(length), Some(earlier)) if length == earlier => {}
                    _ => return Parsed::Error(HeadError::BadLength),
                }
                request.has_body |= length.is_ok_and(|n| n > 0);
            }
            15 if name.eq_ignore_ascii_case(b"accept-encoding") => {
                request.accept_encoding = parse_accept_encoding(value)
            }
            17 if name.eq_ignore_ascii_case(b"if-modified-since") => request.if_modified_since = Some(value),
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                request.has_body = true;
                // RFC 9112 §6.1: chunked must be the last coding; a body in
                // any other framing cannot be delimited.
                // Only `chunked` alone is read; `gzip, chunked` and the like are not.
                if value.eq_ignore_ascii_case(b"chunked") && !request.chunked {
                    request.chunked = true;
                } else {
                    request.other_coding = true;
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                request.expect_continue = value.eq_ignore_ascii_case(b"100-continue")
            }
            29 if name.eq_ignore_ascii_case(b"access-control-request-method") => {
                request.access_control_request_method = Some(value)
            }
            30 if name.eq_ignore_ascii_case(b"access-control-request-headers") => {
                request.access_control_request_headers = Some(value)
            }
            _ => {}
        }
    }
    if request.chunked && content_length.is_some() {
        // Both framings (RFC 9112 §6.3: a smuggling attempt): refused.
        return Parsed::Error(HeadError::BothFramings);
    }
    request.content_length = content_length;
    Parsed::Complete(request)
}

/// A Content-Length value: `1*DIGIT` (RFC 9110 §8.6), or a list of the
/// same number repeated (`5, 5`), which the RFC lets a recipient take as
/// that number. None for anything else: empty, signs, spaces inside a
/// number, different numbers, more than fits in 64 bits.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for item in value.split(|&b| b == b',').map(trim) {
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = item.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
        match length {
            Some(earlier) if earlier != n => return None,
            _ => length = Some(n),
        }
    }
    length
}

/// Accept-Encoding: which of gzip and br the client takes (q > 0).
fn parse_accept_encoding(value: &[u8]) -> Encodings {
    let mut accepted = Encodings::default();
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        let refused = parts.any(|p| {
            let p = trim(p);
            p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") && trim(&p[2..]).iter().all(|&b| b == b'0' || b == b'.')
        });
        if refused {
            continue;
        }
        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            accepted.gzip = true;
        } else if coding.eq_ignore_ascii_case(b"br") {
            accepted.br = true;
        } else if coding == b"*" {
            accepted.gzip = true;
            accepted.br = true;
        }
    }
    accepted
}

/// Does the Accept header ask for JSON rather than a page? Browsers send
/// text/html first; scripts that want JSON say application/json.
pub fn wants_json(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept else { return false };
    let mentions = |what: &[u8]| accept.windows(what.len()).any(|w| w.eq_ignore_ascii_case(what));
    mentions(b"application/json") && !mentions(b"text/html")
}

/// A `%` not followed by two hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedEscape;

/// The bytes of `raw` percent-decoded once: `%XY` (two hex digits, either
/// case) is the byte it stands for; a `%` without two hex digits after it
/// is `Err(MalformedEscape)` in its place, and decoding goes on after it.
/// The server's one percent-decoder: request paths refuse a malformed
/// escape (the site's `path::decode`); the log's token masking reads it as a plain `%`.
pub fn percent_decoded(raw: &[u8]) -> impl Iterator<Item = Result<u8, MalformedEscape>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let byte = *raw.get(i)?;
        i += 1;
        if byte != b'%' {
            return Some(Ok(byte));
        }
        let hex = |at: usize| raw.get(at).and_then(|&c| (c as char).to_digit(16));
        match (hex(i), hex(i + 1)) {
            (Some(high), Some(low)) => {
                i += 2;
                Some(Ok((high << 4 | low) as u8))
            }
            _ => Some(Err(MalformedEscape)),
        }
    })
}

/// `raw` percent-decoded into text: a malformed escape stays a plain `%`
/// (as a browser reads it) and bytes that are not UTF-8 become U+FFFD.
/// For handlers that match decoded text (mock's paths and `$ref`s).
pub fn percent_decoded_text(raw: &str) -> String {
    let bytes: Vec<u8> = percent_decoded(raw.as_bytes()).map(|byte| byte.unwrap_or(b'%')).collect();
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

pub(crate) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if first.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = bytes {
        if last.is_ascii_whitespace() {
            bytes = rest;
        } else {
            break;
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(text: &str) -> Request<'_> {
        match parse(text.as_bytes()) {
            Parsed::Complete(request) => request,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_browser_request() {
        let r = complete(
            "GET /a?b HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip, deflate, br\r\nRange: bytes=0-9\r\n\r\n",
        );
        assert_eq!(r.method(), Method::Get);
        assert_eq!(r.target, "/a?b");
        assert_eq!(r.host, Some(&b"localhost:8080"[..]));
        assert_eq!(r.accept_encoding, Encodings { gzip: true, br: true });
        assert_eq!(r.range, Some(&b"bytes=0-9"[..]));
        assert!(r.keep_alive);
        assert!(!r.has_body);
    }

    #[test]
    fn connection_and_bodies() {
        assert!(!complete("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(complete("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").has_body);
        assert!(!complete("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body);
        assert!(complete("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").has_body);
        assert!(complete("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").duplicate_host);
        assert!(complete("GET / HTTP/1.1\r\nContent-Length: 00\r\n\r\n").keep_alive);
        assert!(!complete("GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n").has_body);
        assert!(complete("GET / HTTP/1.1\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n").has_body);
    }

    #[test]
    fn content_length_is_one_number() {
        for bad in
            ["", " ", "abc", "-1", "+1", "1 2", "0x10", "1.0", "5,", ",5", "5, 6", "99999999999999999999999", "\u{663}"]
        {
            let text = format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {bad}\r\n\r\n");
            assert!(matches!(parse(text.as_bytes()), Parsed::Error(HeadError::BadLength)), "{bad:?}");
        }
        let two = "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n";
        assert!(matches!(parse(two.as_bytes()), Parsed::Error(HeadError::BadLength)));
        let empty_second = "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length:\r\n\r\n";
        assert!(matches!(parse(empty_second.as_bytes()), Parsed::Error(HeadError::BadLength)));
        assert_eq!(parse_content_length(b"18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn limits() {
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n"), Parsed::Partial));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(parse(big.as_bytes()), Parsed::Error(HeadError::TooLarge)));
        let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(text.as_bytes()), Parsed::Error(HeadError::TooLarge)));
        assert!(matches!(parse(b"GET / HTTP/2.0\r\n\r\n"), Parsed::Error(HeadError::Malformed)));
        assert!(matches!(parse(b"GET /\0 HTTP/1.1\r\n\r\n"), Parsed::Error(HeadError::Malformed)));
    }

    #[test]
    fn accept_encoding_q_values() {
        assert_eq!(parse_accept_encoding(b"gzip;q=0, br"), Encodings { gzip: false, br: true });
        assert_eq!(parse_accept_encoding(b"identity"), Encodings::default());
        assert_eq!(parse_accept_encoding(b"*"), Encodings { gzip: true, br: true });
        assert_eq!(parse_accept_encoding(b"gzip;q=0.5"), Encodings { gzip: true, br: false });
    }

    #[test]
    fn json_or_page() {
        assert!(wants_json(Some(b"application/json")));
        assert!(!wants_json(Some(b"text/html,application/xhtml+xml,*/*;q=0.8")));
        assert!(!wants_json(None));
    }

    #[test]
    fn percent_decoding_once() {
        let decoded: Vec<_> = percent_decoded(b"a%2Fb%zz%4").collect();
        let m = Err(MalformedEscape);
        assert_eq!(decoded, [Ok(b'a'), Ok(b'/'), Ok(b'b'), m, Ok(b'z'), Ok(b'z'), m, Ok(b'4')]);
        assert_eq!(percent_decoded(b"%252e%C3%a9").collect::<Result<Vec<_>, _>>(), Ok(b"%2e\xc3\xa9".to_vec()));
        assert_eq!(percent_decoded(b"%").collect::<Vec<_>>(), [m]);
    }
}
