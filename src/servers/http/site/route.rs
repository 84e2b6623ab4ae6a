//! From a parsed request to a response, in the order that keeps it safe:
//! Host (DNS rebinding) and request form first, then the method, then
//! authentication, then the path, and only then the file system.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::files::{self, Coding, Kind, Source};
use crate::servers::http::guard::{Auth, AuthCheck, HostCheck};
use super::listing;
use super::path::{self, OpenError, Opened, PathError};
use crate::servers::http::request::{wants_json, Method, Request};
use crate::servers::http::response::{Body, Head, Reply};
use super::{freshness, Site};

/// The connection's reusable buffers and facts, lent to one request.
pub struct Exchange<'a> {
    /// The response head is written here.
    pub head: &'a mut Vec<u8>,
    /// The decoded request path.
    pub path: &'a mut String,
    /// Header lines every response to this request carries (CORS,
    /// Set-Cookie, Connection).
    pub extra: &'a mut Vec<u8>,
    /// The address the client connected to (for `--expose` Host checks).
    pub local: Option<IpAddr>,
}

/// What [`handle`] made of a request.
#[derive(Debug)]
pub enum Routed {
    /// The answer: its head is in `exchange.head`.
    Reply(Reply),
    /// A directory listing, to be built off the event loop
    /// ([`listing::Job::build`]) and then answered with [`listing_reply`].
    Listing { job: listing::Job, close: bool },
}

impl From<Reply> for Routed {
    fn from(reply: Reply) -> Self {
        Routed::Reply(reply)
    }
}

/// Answers one request: the head goes to `exchange.head` and the body is
/// returned, or the listing to build is.
pub fn handle(site: &Site, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Routed {
    exchange.extra.clear();
    let host = site.guard.check_host(request, exchange.local);
    // A request berth cannot make sense of ends its connection (as nginx
    // does after a 400): what follows it cannot be trusted to be a request.
    let bad_host = matches!(host, HostCheck::Missing | HostCheck::Invalid);
    let close = !request.keep_alive || request.has_body || bad_host;
    if close {
        exchange.extra.extend_from_slice(b"Connection: close\r\n");
    } else if request.minor_version == 0 {
        exchange.extra.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if site.guard.has_cors() {
        exchange.extra.extend_from_slice(b"Vary: Origin\r\n");
        if let Some(origin) = site.guard.cors_origin(request) {
            push_line(exchange.extra, "Access-Control-Allow-Origin", origin.as_bytes());
            exchange.extra.extend_from_slice(
                b"Access-Control-Expose-Headers: Content-Length, Content-Range, Content-Encoding, ETag, Accept-Ranges\r\n",
            );
            if site.guard.auth.is_some() {
                exchange.extra.extend_from_slice(b"Access-Control-Allow-Credentials: true\r\n");
            }
        }
    }
    match route(site, request, exchange, host) {
        Routed::Reply(mut reply) => {
            reply.close |= close;
            Routed::Reply(reply)
        }
        Routed::Listing { job, close: listing_close } => Routed::Listing { job, close: close || listing_close },
    }
}

fn route(site: &Site, request: &Request<'_>, exchange: &mut Exchange<'_>, host: HostCheck) -> Routed {
    match host {
        HostCheck::Allowed => {}
        HostCheck::Missing => {
            return error(
                exchange,
                request,
                400,
                "berth: an HTTP/1.1 request needs exactly one Host header\n",
                "no Host",
            )
            .into()
        }
        HostCheck::Invalid => {
            return error(
                exchange,
                request,
                400,
                "berth: the Host header must be a host name or address with an optional :port, and nothing else\n",
                "invalid Host",
            )
            .into()
        }
        HostCheck::Foreign => {
            return error(
                exchange,
                request,
                421,
                "berth: this server answers only requests for localhost, 127.0.0.1, [::1] and *.localhost, \
                 so that other web sites cannot reach it through DNS rebinding. \
                 To use another name, start it with --allow-host NAME.\n",
                "Host not allowed",
            )
            .into();
        }
    }
    if !request.target.starts_with('/') {
        return error(
            exchange,
            request,
            400,
            "berth: the request target must be a path (/...), not an absolute URL or '*'\n",
            "not a path",
        )
        .into();
    }
    let (raw_path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.target, None),
    };
    match request.method() {
        Method::Get | Method::Head => {}
        Method::Options => return options(site, request, exchange).into(),
        Method::Other => {
            exchange.extra.extend_from_slice(b"Allow: GET, HEAD, OPTIONS\r\n");
            return error(exchange, request, 405, "berth: only GET and HEAD are served\n", "method not allowed").into();
        }
    }
    match site.guard.check_auth(request, query) {
        AuthCheck::Allowed => {}
        AuthCheck::AllowedSetCookie => {
            if let Some(Auth::Token { token, cookie }) = &site.guard.auth {
                let value = format!("{cookie}={token}; Path=/; HttpOnly; SameSite=Strict");
                push_line(exchange.extra, "Set-Cookie", value.as_bytes());
                // Keep the token out of Referer headers sent to other sites.
                exchange.extra.extend_from_slice(b"Referrer-Policy: no-referrer\r\n");
            }
        }
        AuthCheck::Denied => {
            let (challenge, message): (&[u8], &str) = match site.guard.auth {
                Some(Auth::Basic { .. }) => {
                    (b"Basic realm=\"berth\", charset=\"UTF-8\"", "berth: this server needs a user name and password\n")
                }
                _ => (
                    b"Bearer realm=\"berth\"",
                    "berth: this server needs its token: open the URL with ?token=TOKEN that berth printed, \
                     or send Authorization: Bearer TOKEN\n",
                ),
            };
            push_line(exchange.extra, "WWW-Authenticate", challenge);
            return error(exchange, request, 401, message, "no valid credentials").into();
        }
    }
    let trailing_slash = match path::decode(raw_path, site.hidden, exchange.path) {
        Ok(slash) => slash,
        Err(PathError::Bad(why)) => {
            let message = format!("berth: refused: {why}\n");
            return error(exchange, request, 400, message, why).into();
        }
        Err(PathError::Hidden) => return not_found(exchange, request, "hidden file; --hidden serves it").into(),
        Err(PathError::TooDeep) => {
            let message = format!("berth: refused: the path has more than {} segments\n", path::MAX_SEGMENTS);
            return error(exchange, request, 414, message, "path too deep").into();
        }
    };
    let relative = std::mem::take(exchange.path);
    let routed = serve_path(site, request, exchange, &relative, trailing_slash, query);
    *exchange.path = relative;
    routed
}

/// A decoded path: a file, a directory (index.html or a listing), or
/// nothing (404, or index.html with `--spa`).
fn serve_path(
    site: &Site,
    request: &Request<'_>,
    exchange: &mut Exchange<'_>,
    relative: &str,
    trailing_slash: bool,
    query: Option<&str>,
) -> Routed {
    // The fast path: a small file in the cache, unchanged since last checked.
    let generation = freshness::generation();
    if let Some(entry) = files::lookup_unchanged(relative, generation) {
        if entry.in_memory() {
            return files::respond(exchange.head, request, &entry, Source::Memory, exchange.extra).into();
        }
    }
    // Everything else starts with the safe open, and what it opened says
    // what it is: no path is stat'ed, so nothing can change between a look
    // and the open.
    let opened = match site.root.open_beneath(relative) {
        Ok(opened) => opened,
        Err(OpenError::NotFound) => {
            files::forget(relative);
            let spa_index = site.spa.then(|| serve_if_file(site, request, exchange, "index.html", generation));
            return spa_index.flatten().unwrap_or_else(|| not_found(exchange, request, "no such file")).into();
        }
        Err(e) => {
            files::forget(relative);
            return open_error(exchange, request, e).into();
        }
    };
    if opened.info.kind == Kind::File {
        return serve_file(site, request, exchange, relative, opened, generation).into();
    }
    if !trailing_slash && !relative.is_empty() {
        return redirect_to_dir(exchange, request, relative, query).into();
    }
    let index = if relative.is_empty() { "index.html".to_string() } else { format!("{relative}/index.html") };
    match serve_if_file(site, request, exchange, &index, generation) {
        Some(reply) => reply.into(),
        None => serve_listing(site, request, relative, opened.file),
    }
}

/// Serves `relative` when it is a regular file; None when it is not (or
/// is not there), for the caller to answer otherwise.
fn serve_if_file(
    site: &Site,
    request: &Request<'_>,
    exchange: &mut Exchange<'_>,
    relative: &str,
    generation: Option<u64>,
) -> Option<Reply> {
    if let Some(entry) = files::lookup_unchanged(relative, generation) {
        if entry.in_memory() {
            return Some(files::respond(exchange.head, request, &entry, Source::Memory, exchange.extra));
        }
    }
    let opened = site.root.open_beneath(relative).ok().filter(|opened| opened.info.kind == Kind::File)?;
    Some(serve_file(site, request, exchange, relative, opened, generation))
}

/// A regular file, just opened beneath the root: from the cache when the
/// descriptor's fstat (`opened.info`, taken under freshness `generation`)
/// matches the entry, otherwise read (and cached).
fn serve_file(
    site: &Site,
    request: &Request<'_>,
    exchange: &mut Exchange<'_>,
    relative: &str,
    opened: Opened,
    generation: Option<u64>,
) -> Reply {
    let Opened { file, info } = opened;
    if let Some(entry) = files::lookup(relative, &info, generation) {
        // Large files: the cache holds only the head parts; the content
        // comes from this descriptor.
        let source = if entry.in_memory() { Source::Memory } else { Source::Disk(file) };
        return files::respond(exchange.head, request, &entry, source, exchange.extra);
    }
    match files::load(&site.root, relative, &file, info) {
        Ok(entry) => {
            let source = if entry.in_memory() { Source::Memory } else { Source::Disk(file) };
            files::respond(exchange.head, request, &entry, source, exchange.extra)
        }
        Err(e) => open_error(exchange, request, OpenError::Other(e)),
    }
}

/// A directory without index.html: a [`listing::Job`] for the server to run
/// off the event loop; [`listing_reply`] answers with what it built.
fn serve_listing(site: &Site, request: &Request<'_>, relative: &str, dir: std::fs::File) -> Routed {
    let accepts = request.accept_encoding;
    let coding = if accepts.br {
        Coding::Br
    } else if accepts.gzip {
        Coding::Gzip
    } else {
        Coding::Identity
    };
    let job = listing::Job {
        dir,
        root: Arc::clone(&site.root),
        relative: relative.to_string(),
        hidden: site.hidden,
        json: wants_json(request.accept),
        coding,
    };
    Routed::Listing { job, close: false }
}

/// The answer to a request routed to a listing, once the listing is built
/// (or failed to be); the head goes to `exchange.head`.
pub fn listing_reply(
    request: &Request<'_>,
    exchange: &mut Exchange<'_>,
    built: io::Result<listing::Built>,
    close: bool,
) -> Reply {
    let built = match built {
        Ok(built) => built,
        Err(e) => {
            let mut reply = open_error(exchange, request, OpenError::from(e));
            reply.close |= close;
            return reply;
        }
    };
    let mut head = Head::start(exchange.head, 200);
    if let Some(encoding) = built.encoding {
        head.header("Content-Encoding", encoding);
    }
    head.number("Content-Length", built.body.len() as u64)
        .header("Content-Type", built.content_type)
        .header("Cache-Control", b"no-cache")
        .header("Vary", b"Accept, Accept-Encoding")
        .header("X-Content-Type-Options", b"nosniff")
        .header("Content-Security-Policy", b"default-src 'none'; style-src 'unsafe-inline'")
        .raw(exchange.extra)
        .finish();
    let body = if request.method() == Method::Head { Body::Empty } else { Body::Bytes(built.body) };
    Reply { status: 200, body, close, note: None }
}

/// `/dir` → 301 to `/dir/`, so that relative links in the page resolve.
fn redirect_to_dir(exchange: &mut Exchange<'_>, request: &Request<'_>, relative: &str, query: Option<&str>) -> Reply {
    let mut location = String::with_capacity(relative.len() + 8);
    for segment in relative.split('/') {
        location.push('/');
        path::encode_segment(segment, &mut location);
    }
    location.push('/');
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    push_line(exchange.extra, "Location", location.as_bytes());
    error(exchange, request, 301, "berth: a directory: its URL ends with /\n", "")
}

/// OPTIONS: a CORS preflight from an allowed origin gets the methods and
/// headers it asks about; anything else only learns the allowed methods.
fn options(site: &Site, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
    let preflight = site.guard.cors_origin(request).is_some() && request.access_control_request_method.is_some();
    if preflight {
        exchange.extra.extend_from_slice(b"Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n");
        if let Some(asked) = request.access_control_request_headers {
            // Only header-name characters: nothing else is echoed.
            if asked.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b',' | b' ')) {
                push_line(exchange.extra, "Access-Control-Allow-Headers", asked);
            }
        }
        exchange.extra.extend_from_slice(b"Access-Control-Max-Age: 600\r\n");
    } else {
        exchange.extra.extend_from_slice(b"Allow: GET, HEAD, OPTIONS\r\n");
    }
    let mut head = Head::start(exchange.head, 204);
    head.raw(exchange.extra).finish();
    Reply { status: 204, body: Body::Empty, close: false, note: None }
}

fn open_error(exchange: &mut Exchange<'_>, request: &Request<'_>, failure: OpenError) -> Reply {
    match failure {
        OpenError::NotFound => not_found(exchange, request, "no such file"),
        OpenError::Symlink => error(
            exchange,
            request,
            403,
            "berth: refused: this path goes through a symbolic link \
             (--follow-symlinks follows links that stay inside the served directory)\n",
            "symlink (no --follow-symlinks)",
        ),
        OpenError::Outside => error(
            exchange,
            request,
            403,
            "berth: refused: this path leads outside the served directory\n",
            "symlink leads outside DIR",
        ),
        OpenError::NotRegular => {
            error(exchange, request, 403, "berth: not a regular file or directory\n", "not a regular file")
        }
        OpenError::Denied => error(exchange, request, 403, "berth: permission denied\n", "permission denied"),
        OpenError::Other(_) => error(exchange, request, 500, "berth: could not read this file\n", "read error"),
    }
}

fn not_found(exchange: &mut Exchange<'_>, request: &Request<'_>, note: &'static str) -> Reply {
    error(exchange, request, 404, "berth: not found\n", note)
}

/// A short plain-text answer (errors, redirects); `message` is a static
/// text or one built for this request (both become the body without
/// copying a static one).
fn error(
    exchange: &mut Exchange<'_>,
    request: &Request<'_>,
    status: u16,
    message: impl Into<Bytes>,
    note: &'static str,
) -> Reply {
    let body: Bytes = message.into();
    let mut head = Head::start(exchange.head, status);
    head.number("Content-Length", body.len() as u64)
        .header("Content-Type", b"text/plain; charset=utf-8")
        .header("Cache-Control", b"no-store")
        .header("X-Content-Type-Options", b"nosniff")
        .raw(exchange.extra)
        .finish();
    let body = if request.method() == Method::Head { Body::Empty } else { Body::Bytes(body) };
    Reply { status, body, close: false, note: (!note.is_empty()).then_some(note) }
}

fn push_line(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}
