//! From a request the core has admitted to a response, in the order that
//! keeps it safe: the request form first, then the method, then
//! authentication, then the path, and only then the file system. (The
//! Host check, DNS rebinding, comes before all of it, in the core.)

use std::io;
use std::sync::Arc;

use super::files::{self, Coding, Kind, Source};
use super::listing;
use super::path::{self, OpenError, Opened, PathError};
use super::{freshness, Site};
use crate::servers::http::guard::{Auth, AuthCheck};
use crate::servers::http::request::{wants_json, Method, Request};
use crate::servers::http::response::{push_header_line, Body, Head, Reply};
use crate::servers::http::{Answer, Blocking, Exchange};

/// The lines every response of the site carries, the core's refusals
/// included: with `--cors`, `Vary: Origin`, and for an allowed origin the
/// CORS headers that let its scripts read the response.
pub fn cors_headers(site: &Site, request: &Request<'_>, extra: &mut Vec<u8>) {
    if site.guard.has_cors() {
        extra.extend_from_slice(b"Vary: Origin\r\n");
        if let Some(origin) = site.guard.cors_origin(request) {
            push_header_line(extra, "Access-Control-Allow-Origin", origin.as_bytes());
            extra.extend_from_slice(
                b"Access-Control-Expose-Headers: Content-Length, Content-Range, Content-Encoding, ETag, Accept-Ranges\r\n",
            );
            if site.guard.auth.is_some() {
                extra.extend_from_slice(b"Access-Control-Allow-Credentials: true\r\n");
            }
        }
    }
}

/// Answers one request the core has admitted (its Host is allowed): the
/// head goes to `exchange.head` and the body is returned, or the listing
/// to build is. `decoded` is the connection's buffer for the decoded path.
pub fn route(site: &Site, request: &Request<'_>, exchange: &mut Exchange<'_>, decoded: &mut String) -> Answer {
    if !request.target.starts_with('/') {
        return exchange
            .text(
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
            return exchange.text(request, 405, "berth: only GET and HEAD are served\n", "method not allowed").into();
        }
    }
    match site.guard.check_auth(request, query) {
        AuthCheck::Allowed => {}
        AuthCheck::AllowedSetCookie => {
            if let Some(Auth::Token { token, cookie }) = &site.guard.auth {
                let value = format!("{cookie}={token}; Path=/; HttpOnly; SameSite=Strict");
                push_header_line(exchange.extra, "Set-Cookie", value.as_bytes());
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
            push_header_line(exchange.extra, "WWW-Authenticate", challenge);
            return exchange.text(request, 401, message, "no valid credentials").into();
        }
    }
    let trailing_slash = match path::decode(raw_path, site.hidden, decoded) {
        Ok(slash) => slash,
        Err(PathError::Bad(why)) => {
            let message = format!("berth: refused: {why}\n");
            return exchange.text(request, 400, message, why).into();
        }
        Err(PathError::Hidden) => return not_found(exchange, request, "hidden file; --hidden serves it").into(),
        Err(PathError::TooDeep) => {
            let message = format!("berth: refused: the path has more than {} segments\n", path::MAX_SEGMENTS);
            return exchange.text(request, 414, message, "path too deep").into();
        }
    };
    serve_path(site, request, exchange, decoded, trailing_slash, query)
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
) -> Answer {
    // The fast path: a small file in the cache, unchanged since last checked.
    let generation = freshness::generation();
    if let Some(reply) = from_memory(request, exchange, relative, generation) {
        return reply.into();
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

/// The fast path: `relative` from the cache when it is held in memory and
/// nothing watched has changed since it was checked (no open, no stat).
fn from_memory(
    request: &Request<'_>,
    exchange: &mut Exchange<'_>,
    relative: &str,
    generation: Option<u64>,
) -> Option<Reply> {
    let entry = files::lookup_unchanged(relative, generation).filter(|entry| entry.in_memory())?;
    Some(files::respond(exchange.head, request, &entry, Source::Memory, exchange.extra))
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
    if let Some(reply) = from_memory(request, exchange, relative, generation) {
        return Some(reply);
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
        Err(_) => open_error(exchange, request, OpenError::Other),
    }
}

/// A directory without index.html: a [`listing::Job`] for the core to run
/// off the event loop ([`ListingBuild`]).
fn serve_listing(site: &Site, request: &Request<'_>, relative: &str, dir: std::fs::File) -> Answer {
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
    Answer::Blocking(Box::new(ListingBuild { job, built: None }))
}

/// A listing being built off the event loop: the job, then what it built.
struct ListingBuild {
    job: listing::Job,
    /// None until the build has run (and still None if it panicked).
    built: Option<io::Result<listing::Built>>,
}

impl Blocking for ListingBuild {
    fn run(&mut self) {
        self.built = Some(self.job.build());
    }

    fn reply(self: Box<Self>, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
        let built = self.built.unwrap_or_else(|| Err(io::Error::other("the listing build did not finish")));
        listing_reply(request, exchange, built)
    }
}

/// The answer to a request routed to a listing, once the listing is built
/// (or failed to be); the head goes to `exchange.head`.
fn listing_reply(request: &Request<'_>, exchange: &mut Exchange<'_>, built: io::Result<listing::Built>) -> Reply {
    let built = match built {
        Ok(built) => built,
        Err(e) => return open_error(exchange, request, OpenError::from(e)),
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
    Reply { status: 200, body, close: false, note: None }
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
    push_header_line(exchange.extra, "Location", location.as_bytes());
    exchange.text(request, 301, "berth: a directory: its URL ends with /\n", "")
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
                push_header_line(exchange.extra, "Access-Control-Allow-Headers", asked);
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
        OpenError::Symlink => exchange.text(
            request,
            403,
            "berth: refused: this path goes through a symbolic link \
             (--follow-symlinks follows links that stay inside the served directory)\n",
            "symlink (no --follow-symlinks)",
        ),
        OpenError::Outside => exchange.text(
            request,
            403,
            "berth: refused: this path leads outside the served directory\n",
            "symlink leads outside DIR",
        ),
        OpenError::NotRegular => {
            exchange.text(request, 403, "berth: not a regular file or directory\n", "not a regular file")
        }
        OpenError::Denied => exchange.text(request, 403, "berth: permission denied\n", "permission denied"),
        OpenError::Other => exchange.text(request, 500, "berth: could not read this file\n", "read error"),
    }
}

fn not_found(exchange: &mut Exchange<'_>, request: &Request<'_>, note: &'static str) -> Reply {
    exchange.text(request, 404, "berth: not found\n", note)
}
