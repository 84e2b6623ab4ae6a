//! The core with a handler that is not the site: a few lines that answer
//! fixed bytes, or hold a request in a blocking job until the test lets it
//! go. The header timeout, the connection cap and the Host guard belong to
//! the core, so they must hold for this handler as they do for serve.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::host::HostGuard;
use super::request::Request;
use super::response::{Body, Head, Reply};
use super::{server, Answer, Blocking, Exchange, Handler, Limits, Options};

/// How long any one step of these tests may take.
const STEP: Duration = Duration::from_secs(5);

/// Answers `fixed\n` to everything but `/held`, which waits in a blocking
/// job until [`Gate::open`].
struct Fixed {
    gate: Arc<Gate>,
}

impl Handler for Fixed {
    type Scratch = ();

    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, _: &mut ()) -> Answer {
        if request.target == "/held" {
            *self.gate.held.lock().unwrap() += 1;
            self.gate.changed.notify_all();
            return Answer::Blocking(Box::new(Held { gate: self.gate.clone(), released: false }));
        }
        Head::start(exchange.head, 200).number("Content-Length", 6).raw(exchange.extra).finish();
        Reply { status: 200, body: Body::Bytes(Bytes::from_static(b"fixed\n")), close: false, note: None }.into()
    }
}

/// Where held requests wait, and how many have arrived.
#[derive(Default)]
struct Gate {
    held: Mutex<usize>,
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Waits (boundedly) until `count` requests are held.
    fn wait_for_held(&self, count: usize) {
        let held = self.held.lock().unwrap();
        let (held, _) = self.changed.wait_timeout_while(held, STEP, |held| *held < count).unwrap();
        assert_eq!(*held, count, "held requests");
    }
}

struct Held {
    gate: Arc<Gate>,
    released: bool,
}

impl Blocking for Held {
    fn run(&mut self) {
        let open = self.gate.open.lock().unwrap();
        let (open, _) = self.gate.changed.wait_timeout_while(open, STEP, |open| !*open).unwrap();
        self.released = *open;
    }

    fn reply(self: Box<Self>, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
        let text = if self.released { "released\n" } else { "still held\n" };
        exchange.text(request, 200, text, "")
    }
}

/// Starts the core with [`Fixed`] on a loopback port (one worker; the
/// server lives as long as the test process).
fn start(limits: Limits, allowed_hosts: &[&str]) -> (SocketAddr, Arc<Gate>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let hosts =
        HostGuard { allowed_hosts: allowed_hosts.iter().map(|h| h.to_string()).collect(), ..HostGuard::default() };
    let options = Options { limits, quiet: true, hosts, workers: 1 };
    let gate = Arc::new(Gate::default());
    let handler = Fixed { gate: gate.clone() };
    std::thread::spawn(move || server::run(handler, options, listener));
    (address, gate)
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    stream
}

/// Reads one response: its status and body (by Content-Length).
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut received = Vec::new();
    let mut byte = [0u8; 1];
    while !received.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("a response head"), 1, "closed before a response");
        received.push(byte[0]);
    }
    let head = String::from_utf8(received).expect("an ASCII head");
    let status = head[9..12].parse().expect("a status");
    let length: usize =
        head.lines().find_map(|line| line.strip_prefix("Content-Length: ")).map_or(0, |n| n.parse().expect("a length"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the body");
    (status, String::from_utf8(body).expect("a text body"))
}

fn get(stream: &mut TcpStream, path: &str, host: Option<&str>) -> (u16, String) {
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\n{host}\r\n").expect("send");
    read_response(stream)
}

/// The connection was closed by the server: EOF (or a reset) before any byte.
fn is_closed(stream: &mut TcpStream) -> bool {
    matches!(stream.read(&mut [0u8; 1]), Ok(0) | Err(_))
}

fn limits() -> Limits {
    Limits {
        max_connections: 16,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        send_timeout: Duration::from_secs(10),
    }
}

#[test]
fn the_host_guard_applies_to_any_handler() {
    let (address, _) = start(limits(), &["myhost.lan"]);
    let mut stream = connect(address);
    assert_eq!(get(&mut stream, "/", Some("localhost:1")), (200, "fixed\n".into()));
    assert_eq!(get(&mut stream, "/", Some("myhost.lan")), (200, "fixed\n".into()));
    let (status, text) = get(&mut stream, "/", Some("evil.example"));
    assert_eq!(status, 421);
    assert!(text.contains("DNS rebinding"), "{text}");
    // Still open after a 421; a request without Host is 400 and the end.
    assert_eq!(get(&mut stream, "/", Some("127.0.0.1")), (200, "fixed\n".into()));
    assert_eq!(get(&mut stream, "/", None).0, 400);
    assert!(is_closed(&mut stream), "open after a request without Host");
}

#[test]
fn a_slow_head_times_out_for_any_handler() {
    let timeout = Duration::from_millis(300);
    let (address, _) = start(Limits { header_timeout: timeout, ..limits() }, &[]);
    let mut stream = connect(address);
    let sent = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").expect("send");
    assert_eq!(read_response(&mut stream).0, 408);
    assert!(sent.elapsed() >= timeout, "408 after {:?}", sent.elapsed());
    assert!(is_closed(&mut stream), "open after 408");
}

#[test]
fn the_connection_cap_holds_for_any_handler() {
    let (address, gate) = start(Limits { max_connections: 2, ..limits() }, &[]);
    // At the cap, a newcomer is served, and the connection that waited
    // longest for a request makes room.
    // Each idle connection is answered once first, so the server has
    // accepted both before the newcomer comes (a sleep here raced with a
    // busy machine, where the second was not yet accepted).
    let mut idle = [connect(address), connect(address)];
    for stream in &mut idle {
        assert_eq!(get(stream, "/", Some("localhost")), (200, "fixed\n".into()));
    }
    let mut newcomer = connect(address);
    assert_eq!(get(&mut newcomer, "/", Some("localhost")), (200, "fixed\n".into()));
    let closed = idle.iter_mut().map(is_closed_now).filter(|&closed| closed).count();
    assert_eq!(closed, 1, "one idle connection makes room");
    drop((idle, newcomer));

    // When every connection is busy (here in blocking jobs), a newcomer
    // gets 503; the held requests are answered once they are let go.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = connect(address);
            stream.write_all(b"GET /held HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
            stream
        })
        .collect();
    gate.wait_for_held(2);
    let mut refused = connect(address);
    let (status, text) = read_response(&mut refused);
    assert_eq!(status, 503, "{text}");
    gate.open();
    for mut stream in held {
        assert_eq!(read_response(&mut stream), (200, "released\n".into()));
    }
}

/// Closed already: EOF within a moment, not merely no data yet.
fn is_closed_now(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    match stream.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        Ok(_) => false,
    }
}
