//! A small HTTP/1.1 client for the `berth serve` tests: raw requests on
//! real sockets, one response read off the wire at a time (so kept-alive
//! connections and pipelining can be tested too).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Reads a request head (up to the blank line, at most 64 reads of 1 KiB)
/// as a test server does before it answers; what came, if the peer stops.
pub fn read_request_head(stream: &mut impl Read) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..64 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    request
}

/// The token `berth serve --token` printed in its start-up lines.
pub fn token_from_log(log: &str) -> String {
    let line = log.lines().find(|l| l.contains("token required")).unwrap_or_else(|| panic!("no token line:\n{log}"));
    line.split("?token=").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("a token").to_string()
}

/// One response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to berth serve");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    stream
}

/// Reads one response from `stream` (a socket, or a `BufReader` over one
/// for many responses); `head_only` for HEAD requests (no body whatever
/// Content-Length says). None if the server closed first.
pub fn read_response(stream: &mut impl Read, head_only: bool) -> Option<Response> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    // The head, byte by byte (bounded: heads are small).
    while !raw.ends_with(b"\r\n\r\n") {
        assert!(raw.len() < 64 * 1024, "response head too large");
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => raw.push(byte[0]),
            Err(e) if raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a response head: {e} (got {:?})", String::from_utf8_lossy(&raw)),
        }
    }
    let head = String::from_utf8(raw).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    assert!(status_line.starts_with("HTTP/1.1 "), "status line: {status_line}");
    let status: u16 = status_line[9..12].parse().expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap_or_else(|| panic!("header line {l:?}"));
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut response = Response { status, headers, body: Vec::new() };
    let length: usize = response.header("Content-Length").map(|v| v.parse().expect("a length")).unwrap_or(0);
    if !head_only && status != 304 && status != 204 {
        response.body = vec![0; length];
        stream.read_exact(&mut response.body).expect("the body");
    }
    Some(response)
}

/// Sends `raw` on a new connection and reads one response.
pub fn send_raw(port: u16, raw: &[u8]) -> Option<Response> {
    let mut stream = connect(port);
    stream.write_all(raw).expect("send the request");
    let head_only = raw.starts_with(b"HEAD ");
    read_response(&mut stream, head_only)
}

/// `METHOD PATH` with Host 127.0.0.1 and `headers`, on a new connection.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    send_raw(port, raw.as_bytes()).unwrap_or_else(|| panic!("no response to {method} {path}"))
}

pub fn get(port: u16, path: &str) -> Response {
    request(port, "GET", path, &[])
}

pub fn get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    request(port, "GET", path, headers)
}
