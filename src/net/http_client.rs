//! berth's HTTP client (the server is `servers::http`), with two callers:
//! [`converse`], the HTTP facts `probe` reports (status, Server header, the
//! chain of redirects), and [`fetch`], one request with its body for the
//! audit's probes.
//!
//! One request per connection (`Connection: close`), HTTP/1.1, reading
//! only the status line and headers (at most 16 KiB). Redirects (301, 302,
//! 303, 307, 308 with a Location) are followed up to five times, and only
//! to the same host — possibly another port or scheme of it, reached at the
//! same address that is being probed — so a probe of localhost never wanders
//! off to the internet. A redirect elsewhere is reported, not followed.

use crate::analysis::plural;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serde::Serialize;

use super::deadline::DeadlineStream;
use super::resolve::{host_header, Scheme};
use super::tls_client;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;
/// The most bytes of a response head berth reads.
const MAX_HEAD: usize = 16 * 1024;

/// One request and its answer.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub url: String,
    pub status: u16,
    pub reason: String,
    pub server: Option<String>,
    /// The Location header of a redirect.
    pub location: Option<String>,
}

/// The HTTP conversation with one address.
#[derive(Clone, Debug, Serialize)]
pub struct HttpReport {
    /// HEAD when berth guessed HTTP from the port, GET for a URL.
    pub method: &'static str,
    /// The status of the last answer.
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// The Server header of the last answer.
    pub server: Option<String>,
    /// Every request made, the first one first.
    pub hops: Vec<Hop>,
    /// Why a redirect was not followed (another host, too many, a loop).
    pub stopped: Option<String>,
    /// Why the last request got no answer.
    pub error: Option<String>,
}

/// Where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub scheme: Scheme,
    /// As named in the URL (no brackets around IPv6).
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl Location {
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme.name(), host_header(&self.host, self.scheme, self.port), self.path)
    }
}

/// A readable, writable connection whose every read and write ends by a
/// deadline: plain TCP ([`DeadlineStream`]) or TLS over it
/// ([`tls_client::TlsStream`]). Only those two implement it, so no request can be
/// sent over a stream that could outlast its deadline.
pub trait Transport: Read + Write {}
impl Transport for DeadlineStream {}
impl Transport for tls_client::TlsStream {}

/// Sends the first request over `first` (already connected to `start`),
/// then follows same-host redirects with new connections to `address`,
/// all of it by `deadline` (the deadline of `first` too).
pub fn converse(
    first: &mut dyn Transport,
    start: Location,
    address: IpAddr,
    method: &'static str,
    deadline: Instant,
) -> HttpReport {
    let mut report =
        HttpReport { method, status: None, reason: None, server: None, hops: Vec::new(), stopped: None, error: None };
    let mut current = start.clone();
    let mut owned: Option<Box<dyn Transport>> = None;
    // Bounded: one first request and at most MAX_REDIRECTS more.
    for round in 0..=MAX_REDIRECTS {
        let transport: &mut dyn Transport = match owned.as_deref_mut() {
            Some(transport) => transport,
            None => &mut *first,
        };
        let head = match request(transport, &current, method) {
            Ok(head) => head,
            Err(e) => {
                report.error = Some(e);
                break;
            }
        };
        let hop = Hop {
            url: current.url(),
            status: head.status,
            reason: head.reason.clone(),
            server: head.header("server").map(str::to_string),
            location: head.header("location").map(str::to_string),
        };
        report.status = Some(hop.status);
        report.reason = Some(hop.reason.clone());
        report.server = hop.server.clone();
        let redirect = matches!(hop.status, 301 | 302 | 303 | 307 | 308);
        let location = hop.location.clone();
        report.hops.push(hop);
        let Some(location) = location.filter(|_| redirect) else { break };
        let Some(next) = resolve_location(&current, &location) else {
            report.stopped = Some(format!("cannot follow the redirect to '{location}'"));
            break;
        };
        if !next.host.eq_ignore_ascii_case(&start.host) {
            report.stopped = Some(format!("redirect to another host ({}) not followed", next.host));
            break;
        }
        if report.hops.iter().any(|h| h.url == next.url()) {
            report.stopped = Some(format!("redirect loop: {} again", next.url()));
            break;
        }
        if round == MAX_REDIRECTS {
            report.stopped = Some(format!("more than {MAX_REDIRECTS} redirects; stopped"));
            break;
        }
        match open(&next, address, deadline) {
            Ok(transport) => owned = Some(transport),
            Err(e) => {
                report.error = Some(format!("{}: {e}", next.url()));
                break;
            }
        }
        current = next;
    }
    report
}

/// A new connection to `location`'s port at `address`, with TLS for https,
/// bounded by `deadline`.
fn open(location: &Location, address: IpAddr, deadline: Instant) -> Result<Box<dyn Transport>, String> {
    let tcp = DeadlineStream::connect(&SocketAddr::new(address, location.port), deadline)
        .map_err(|e| super::error_text(&e))?;
    match location.scheme {
        Scheme::Http => Ok(Box::new(tcp)),
        Scheme::Https => match tls_client::handshake(tcp, &location.host, address, true) {
            (_, Some(session)) => Ok(Box::new(session)),
            (report, None) => Err(report.error.unwrap_or_else(|| "TLS handshake failed".into())),
        },
    }
}

/// The status line and headers of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one request and reads the head of the answer, by the deadline of
/// `transport`.
fn request(transport: &mut dyn Transport, to: &Location, method: &str) -> Result<Head, String> {
    let text = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        to.path,
        host_header(&to.host, to.scheme, to.port),
        env!("CARGO_PKG_VERSION"),
    );
    transport.write_all(text.as_bytes()).and_then(|()| transport.flush()).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => "timed out sending the request: the server did not take it in time".to_string(),
        _ => format!("sending the request: {}", super::error_text(&e)),
    })?;
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Bounded by MAX_HEAD bytes and the deadline (each read ends by it).
    loop {
        // Another protocol's answer is known by its first bytes: no need to
        // wait for a blank line that will never come.
        let prefix = buffer.len().min(5);
        if buffer[..prefix] != b"HTTP/"[..prefix] {
            return Err(FetchError::NotHttp(buffer.iter().copied().take(64).collect()).to_string());
        }
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            return parse_head(&buffer[..end]);
        }
        if buffer.len() >= MAX_HEAD {
            return Err(format!("no end of the response headers within {MAX_HEAD} bytes"));
        }
        match transport.read(&mut chunk) {
            Ok(0) if buffer.is_empty() => return Err("the server closed the connection without an HTTP answer".into()),
            Ok(0) => return parse_head(&buffer),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(match buffer.len() {
                    0 => "timed out: no HTTP answer in time".to_string(),
                    n => format!(
                        "timed out with {} of the answer come, before the end of its headers",
                        plural(n, "byte", "bytes")
                    ),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A server of another protocol that drops what it does not
            // understand closes with the request unread: a reset.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && buffer.is_empty() => {
                return Err("the server reset the connection without an HTTP answer".into())
            }
            Err(e) => return Err(format!("reading the answer: {}", super::error_text(&e))),
        }
    }
}

/// Whether a server that got no HTTP answer out of `report` may speak TLS
/// instead: it closed or reset the connection without a byte, or its first
/// bytes are a TLS record (an alert, 0x15 0x03, or a handshake, 0x16 0x03,
/// as TLS servers send to a plain-text client). Read from the words this
/// module writes, so the test stays beside them.
pub fn may_be_tls(report: &HttpReport) -> bool {
    let Some(error) = report.error.as_deref() else { return false };
    report.status.is_none()
        && (error.ends_with("without an HTTP answer")
            || error.starts_with(r#"not an HTTP answer: "\u{15}\u{3}"#)
            || error.starts_with(r#"not an HTTP answer: "\u{16}\u{3}"#))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses "HTTP/1.1 200 OK" and the header lines after it.
pub fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/"), status) else {
        let shown: String = status_line.chars().take(60).collect();
        return Err(format!("not an HTTP answer: {shown:?}"));
    };
    let reason = parts.next().unwrap_or_default().trim().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Ok(Head { status, reason, headers })
}

/// Where a Location header points, relative to the request it answered:
/// absolute URLs, scheme-relative (`//host/path`), absolute paths and
/// relative paths. None for schemes other than http and https.
pub fn resolve_location(base: &Location, location: &str) -> Option<Location> {
    let location = location.trim();
    let absolute = location.split_once("://").is_some_and(|(scheme, _)| !scheme.contains('/'));
    if absolute {
        let target = super::resolve::ProbeTarget::parse(location).ok()?;
        return Some(Location {
            scheme: target.scheme?,
            host: target.host,
            port: target.port,
            path: target.path.unwrap_or_else(|| "/".into()),
        });
    }
    if let Some(rest) = location.strip_prefix("//") {
        return resolve_location(base, &format!("{}://{rest}", base.scheme.name()));
    }
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        // Relative to the directory of the current path (query dropped).
        let current = base.path.split('?').next().unwrap_or("/");
        let directory = &current[..current.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{location}", if directory.is_empty() { "/" } else { directory })
    };
    Some(Location { scheme: base.scheme, host: base.host.clone(), port: base.port, path })
}

// ------------------------------------------------------------------ fetch

/// One request the audit (or mock's `--proxy`) sends: the method, the
/// path, the Host header, any other headers (Origin, Upgrade, ...) and a
/// body (sent with its Content-Length; empty is none). `Connection:
/// close` is added.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// A response: the head and at most the body limit of the body (chunked
/// bodies are decoded). A 101 Switching Protocols has no body here: the
/// connection is dropped as soon as the head is read.
#[derive(Clone, Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    /// More body came than the limit; only the first bytes are kept.
    pub truncated: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Where `fetch` connects: an address, and the TLS server name when the
/// service speaks HTTPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub address: SocketAddr,
    pub tls_name: Option<String>,
}

/// Why `fetch` got no HTTP answer. Callers tell a silent server from a
/// closed one from one speaking another protocol (the audit identifies
/// Redis and memcached by their answer to an HTTP request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The connection could not be made (refused, unreachable).
    Connect(String),
    /// The TLS handshake failed.
    Tls(String),
    /// Nothing came back before the deadline (or the request could not
    /// be sent in time).
    TimedOut,
    /// The answer began but was still coming when the deadline passed: a
    /// slow server, or one that trickles bytes to hold the client. The
    /// bytes that came.
    Stalled(usize),
    /// The server closed the connection without answering.
    Closed,
    /// The server answered with something that is not HTTP (its first bytes).
    NotHttp(Vec<u8>),
    /// Anything else: a failed write or read, headers too long, bad chunking.
    Other(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Tls(e) => f.write_str(e),
            FetchError::TimedOut => f.write_str("no answer before the deadline"),
            FetchError::Stalled(bytes) => {
                write!(f, "timed out with {} of the answer come, not all of it", plural(*bytes, "byte", "bytes"))
            }
            FetchError::Closed => f.write_str("the server closed the connection without an HTTP answer"),
            FetchError::NotHttp(bytes) => {
                // Escaped as probe shows banners: a binary protocol's answer
                // is bytes, not text (`\u{0}`, `\xff`), and never reaches the
                // terminal raw.
                let shown = crate::printable::printable_bytes(&bytes[..bytes.len().min(60)]);
                write!(f, "not an HTTP answer: \"{shown}\"")
            }
            FetchError::Other(e) => f.write_str(e),
        }
    }
}

/// What the head reader returns when the answer is not HTTP.
const NOT_HTTP: usize = usize::MAX;

/// Sends one request on a new connection and reads the answer, all before
/// `deadline`. Every read and write ends by the deadline ([`DeadlineStream`]),
/// so a server that accepts and never answers, answers a byte at a time, or
/// never reads, costs the caller no more than its budget.
pub fn fetch(
    endpoint: &Endpoint,
    request: &Request,
    deadline: Instant,
    body_limit: usize,
) -> Result<Response, FetchError> {
    let tcp = DeadlineStream::connect(&endpoint.address, deadline).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => FetchError::TimedOut,
        _ => FetchError::Connect(super::error_text(&e)),
    })?;
    let mut connection: Box<dyn Transport> = match &endpoint.tls_name {
        None => Box::new(tcp),
        Some(name) => match tls_client::handshake(tcp, name, endpoint.address.ip(), true) {
            (_, Some(session)) => Box::new(session),
            (report, None) => {
                return Err(FetchError::Tls(report.error.unwrap_or_else(|| "TLS handshake failed".into())))
            }
        },
    };
    let mut text = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", request.method, request.path, request.host);
    for (name, value) in request.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("user-agent")) {
        text.push_str(&format!("User-Agent: berth/{}\r\n", env!("CARGO_PKG_VERSION")));
    }
    if !request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("connection")) {
        text.push_str("Connection: close\r\n");
    }
    if !request.body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(request.body);
    connection.write_all(&bytes).and_then(|()| connection.flush()).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => FetchError::TimedOut,
        _ => FetchError::Other(format!("sending the request: {}", super::error_text(&e))),
    })?;

    let mut reader = BodyReader { connection, buffer: Vec::with_capacity(4096), received: 0, eof: false };
    // Stops as soon as the answer cannot be HTTP: a server of another
    // protocol may answer and keep the connection open.
    let end = reader.fill_until(
        |buffer| match buffer.len() >= 5 && !buffer.starts_with(b"HTTP/") {
            true => Some(NOT_HTTP),
            false => find(buffer, b"\r\n\r\n"),
        },
        MAX_HEAD,
    );
    let end = match end {
        Err(FetchError::Stalled(_)) if !reader.buffer.is_empty() && !reader.buffer.starts_with(b"HTTP/") => {
            Some(NOT_HTTP)
        }
        other => other?,
    };
    let Some(end) = end.filter(|&end| end != NOT_HTTP) else {
        if end == Some(NOT_HTTP) {
            return Err(FetchError::NotHttp(reader.buffer.iter().copied().take(64).collect()));
        }
        return Err(if reader.buffer.is_empty() {
            FetchError::Closed
        } else if !reader.buffer.starts_with(b"HTTP/") {
            FetchError::NotHttp(reader.buffer.iter().copied().take(64).collect())
        } else if reader.buffer.len() >= MAX_HEAD {
            FetchError::Other(format!("no end of the response headers within {MAX_HEAD} bytes"))
        } else {
            FetchError::Other("the answer ended inside its headers".into())
        });
    };
    let head = parse_head(&reader.buffer[..end])
        .map_err(|_| FetchError::NotHttp(reader.buffer.iter().copied().take(64).collect()))?;
    reader.buffer.drain(..end + 4);
    let no_body = request.method.eq_ignore_ascii_case("HEAD")
        || head.status == 101
        || head.status == 204
        || head.status == 304
        || (100..200).contains(&head.status);
    if no_body {
        return Ok(Response { head, body: Vec::new(), truncated: false });
    }
    let chunked = head.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = head.header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
    let (body, truncated) = if chunked {
        reader.chunked(body_limit)?
    } else {
        let want = length.unwrap_or(usize::MAX).min(body_limit.saturating_add(1));
        reader.fill_until(|buffer| (buffer.len() >= want).then_some(want), want)?;
        let mut body = std::mem::take(&mut reader.buffer);
        let truncated = body.len() > body_limit;
        body.truncate(length.unwrap_or(usize::MAX).min(body_limit));
        (body, truncated)
    };
    Ok(Response { head, body, truncated })
}

/// Reads from a connection into a buffer until a condition holds, the
/// buffer is full, the server closes, or the connection's deadline passes.
struct BodyReader {
    connection: Box<dyn Transport>,
    buffer: Vec<u8>,
    /// Bytes of the answer read so far (the buffer is drained as it is parsed).
    received: usize,
    eof: bool,
}

impl BodyReader {
    /// Reads until `done` returns a value (returned), `limit` bytes are
    /// buffered or the server closed (None). Err when the deadline passes:
    /// TimedOut if nothing came at all, Stalled if the answer had begun.
    fn fill_until(&mut self, done: impl Fn(&[u8]) -> Option<usize>, limit: usize) -> Result<Option<usize>, FetchError> {
        let mut chunk = [0u8; 8192];
        // Bounded by `limit` bytes, the server's close and the deadline.
        loop {
            if let Some(found) = done(&self.buffer) {
                return Ok(Some(found));
            }
            if self.eof || self.buffer.len() >= limit {
                return Ok(None);
            }
            match self.connection.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.received += n;
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(match self.received {
                        0 => FetchError::TimedOut,
                        n => FetchError::Stalled(n),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A TLS peer that closes without close_notify, or a reset
                // after the answer: keep what came.
                Err(_) if !self.buffer.is_empty() => self.eof = true,
                Err(e) => return Err(FetchError::Other(format!("reading the answer: {}", super::error_text(&e)))),
            }
        }
    }

    /// Decodes a chunked body, keeping at most `limit` bytes.
    fn chunked(&mut self, limit: usize) -> Result<(Vec<u8>, bool), FetchError> {
        let mut body = Vec::new();
        // Bounded: each round consumes one chunk; the reads are bounded as above.
        for _ in 0..100_000 {
            let Some(line_end) = self.fill_until(|b| find(b, b"\r\n"), MAX_HEAD)? else { break };
            let size_text = String::from_utf8_lossy(&self.buffer[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| FetchError::Other(format!("bad chunk size {size_text:?}")))?;
            self.buffer.drain(..line_end + 2);
            if size == 0 {
                return Ok((body, false));
            }
            let room = limit.saturating_sub(body.len());
            let want = size.min(room);
            self.fill_until(|b| (b.len() >= want).then_some(want), want)?;
            let have = want.min(self.buffer.len());
            body.extend(self.buffer.drain(..have));
            if size > room {
                return Ok((body, true));
            }
            self.fill_until(|b| (b.len() >= size - want + 2).then_some(0), size - want + 2)?;
            let skip = (size - want + 2).min(self.buffer.len());
            self.buffer.drain(..skip);
            if self.eof && self.buffer.is_empty() {
                break;
            }
        }
        Ok((body, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_may_be_what_a_server_that_refused_http_speaks() {
        let refused = |error: String| HttpReport {
            method: "HEAD",
            status: None,
            reason: None,
            server: None,
            hops: Vec::new(),
            stopped: None,
            error: Some(error),
        };
        assert!(may_be_tls(&refused(FetchError::Closed.to_string())));
        assert!(may_be_tls(&refused("the server reset the connection without an HTTP answer".into())));
        assert!(may_be_tls(&refused(FetchError::NotHttp(b"\x15\x03\x03\x00\x02\x02\x32".to_vec()).to_string())));
        assert!(!may_be_tls(&refused(FetchError::NotHttp(b"\x00\x00\x00\x08SRV".to_vec()).to_string())));
        assert!(!may_be_tls(&refused("timed out: no HTTP answer in time".into())));
    }

    fn base() -> Location {
        Location { scheme: Scheme::Http, host: "localhost".into(), port: 8080, path: "/a/b?x=1".into() }
    }

    #[test]
    fn locations() {
        let at = |s: &str| resolve_location(&base(), s).map(|l| l.url());
        assert_eq!(at("/c").as_deref(), Some("http://localhost:8080/c"));
        assert_eq!(at("c").as_deref(), Some("http://localhost:8080/a/c"));
        assert_eq!(at("https://localhost/z").as_deref(), Some("https://localhost/z"));
        assert_eq!(at("//other.test:81/q").as_deref(), Some("http://other.test:81/q"));
        assert_eq!(at("http://[::1]:9/").as_deref(), Some("http://[::1]:9/"));
        assert_eq!(at("ftp://localhost/"), None);
    }

    #[test]
    fn heads() {
        let head = parse_head(b"HTTP/1.1 301 Moved Permanently\r\nServer: x/1\r\nlocation: /next").unwrap();
        assert_eq!((head.status, head.reason.as_str()), (301, "Moved Permanently"));
        assert_eq!(head.header("Location"), Some("/next"));
        assert_eq!(head.header("SERVER"), Some("x/1"));
        assert!(parse_head(b"SSH-2.0-OpenSSH_9.6").is_err());
        assert_eq!(parse_head(b"HTTP/1.0 204").unwrap().reason, "");
    }
}
