//! Writing response heads into a reused buffer, and the bodies that follow.
//!
//! Heads are written straight into the connection's buffer (no header map,
//! no allocation per response); the parts that do not change between
//! requests for the same file are precomputed by the site
//! ([`super::site::files`]).

use std::cell::RefCell;
use std::fs::File;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// What follows the head.
#[derive(Debug)]
pub enum Body {
    Empty,
    /// From memory: a cached file (or a slice of it), a listing, an error text.
    Bytes(Bytes),
    /// From disk with sendfile(2): `len` bytes from `offset`.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// A response ready to send: the head is in the connection's buffer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
    /// Why berth refused, for the log line.
    pub note: Option<&'static str>,
}

/// The reason phrase of a status (RFC 9110 and the registry's common
/// ones); mock answers whatever a spec documents. Clients ignore the
/// phrase, so an unlisted code gets a neutral one.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// A response head being written into `buf`.
pub struct Head<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Head<'a> {
    /// Clears `buf` and writes the status line.
    pub fn start(buf: &'a mut Vec<u8>, status: u16) -> Head<'a> {
        buf.clear();
        buf.extend_from_slice(b"HTTP/1.1 ");
        push_number(buf, u64::from(status));
        buf.push(b' ');
        buf.extend_from_slice(reason(status).as_bytes());
        buf.extend_from_slice(b"\r\n");
        Head { buf }
    }

    pub fn header(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Lines already formatted ("Name: value\r\n..."), precomputed per file.
    pub fn raw(&mut self, lines: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(lines);
        self
    }

    pub fn number(&mut self, name: &str, value: u64) -> &mut Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        push_number(self.buf, value);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// `Content-Range: bytes START-END/SIZE` (END inclusive).
    pub fn content_range(&mut self, start: u64, end: u64, size: u64) -> &mut Self {
        self.buf.extend_from_slice(b"Content-Range: bytes ");
        push_number(self.buf, start);
        self.buf.push(b'-');
        push_number(self.buf, end);
        self.buf.push(b'/');
        push_number(self.buf, size);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Date, then the blank line that ends the head.
    pub fn finish(&mut self) {
        self.buf.extend_from_slice(b"Date: ");
        with_date(|date| self.buf.extend_from_slice(date));
        self.buf.extend_from_slice(b"\r\n\r\n");
    }
}

/// A header line ("Name: value\r\n") added to `buf`: the lines a handler
/// puts in [`super::Exchange::extra`] (Allow, Location, WWW-Authenticate ...).
pub fn push_header_line(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

pub fn push_number(buf: &mut Vec<u8>, value: u64) {
    let mut formatter = itoa::Buffer::new();
    buf.extend_from_slice(formatter.format(value).as_bytes());
}

thread_local! {
    /// The Date header changes once a second: format it once a second per thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

fn with_date(use_date: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == 29 {
                cached.1.copy_from_slice(text.as_bytes());
                cached.0 = second;
            }
        }
        use_date(&cached.1);
    });
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head() {
        let mut buf = Vec::new();
        let mut head = Head::start(&mut buf, 206);
        head.number("Content-Length", 10).content_range(0, 9, 100).header("ETag", b"\"x\"");
        head.finish();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.starts_with("HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nContent-Range: bytes 0-9/100\r\nETag: \"x\"\r\nDate: "));
        assert!(text.ends_with(" GMT\r\n\r\n"));
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_html("<a href=\"x\">&'", &mut out);
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
