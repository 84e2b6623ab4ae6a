//! The core with a handler that is not the site: a few lines that answer
//! fixed bytes, or hold a request in a blocking job until the test lets it
//! go. The header timeout, the connection cap and the Host guard belong to
//! the core, so they must hold for this handler as they do for serve.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
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
/// job until [`Gate::open`], and `/file`, which sends [`Fixed::file`] as a
/// [`Body::File`].
struct Fixed {
    gate: Arc<Gate>,
    file: Option<PathBuf>,
}

impl Handler for Fixed {
    type Scratch = ();

    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, _: &mut ()) -> Answer {
        if request.target == "/held" {
            *self.gate.held.lock().unwrap() += 1;
            self.gate.changed.notify_all();
            return Answer::Blocking(Box::new(Held { gate: self.gate.clone(), released: false }));
        }
        if let (Some(path), "/file") = (&self.file, request.target) {
            let file = std::fs::File::open(path).expect("the test's file");
            let len = file.metadata().expect("its size").len();
            Head::start(exchange.head, 200).number("Content-Length", len).raw(exchange.extra).finish();
            return Reply { status: 200, body: Body::File { file, offset: 0, len }, close: false, note: None }.into();
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
    start_with(limits, allowed_hosts, None, None)
}

/// [`start`], over TLS when `tls` is set, with `file` served at `/file`.
fn start_with(
    limits: Limits,
    allowed_hosts: &[&str],
    tls: Option<Arc<rustls::ServerConfig>>,
    file: Option<PathBuf>,
) -> (SocketAddr, Arc<Gate>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let hosts =
        HostGuard { allowed_hosts: allowed_hosts.iter().map(|h| h.to_string()).collect(), ..HostGuard::default() };
    let options = Options { limits, quiet: true, hosts, workers: 1, blocking_jobs: None, tls };
    let gate = Arc::new(Gate::default());
    let handler = Fixed { gate: gate.clone(), file };
    std::thread::spawn(move || server::run(handler, options, listener));
    (address, gate)
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(STEP)).expect("timeout");
    stream
}

/// Reads one response: its status and body (by Content-Length).
fn read_response(stream: &mut impl Read) -> (u16, String) {
    let (status, body) = read_response_bytes(stream);
    (status, String::from_utf8(body).expect("a text body"))
}

/// Reads one response: its status and body (by Content-Length), as bytes.
fn read_response_bytes(stream: &mut impl Read) -> (u16, Vec<u8>) {
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
    (status, body)
}

fn get(stream: &mut (impl Read + Write), path: &str, host: Option<&str>) -> (u16, String) {
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

mod tls {
    //! The same core over TLS: the handshake, then the same request loop
    //! (keep-alive, files, the header timeout) over the decrypted stream.

    use super::*;
    use crate::servers::http::site::path::tests::Scratch;
    use crate::servers::http::tls::server_config;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    /// A certificate for localhost and 127.0.0.1 and its key, as PEM files
    /// in a scratch directory, and the certificate itself for clients.
    struct Credentials {
        dir: Scratch,
        cert: CertificateDer<'static>,
    }

    impl Credentials {
        fn new(tag: &str) -> Credentials {
            let dir = Scratch::new(tag);
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("a certificate");
            dir.write("cert.pem", &made.cert.pem());
            dir.write("key.pem", &made.signing_key.serialize_pem());
            Credentials { cert: made.cert.der().clone(), dir }
        }

        fn cert_path(&self) -> PathBuf {
            self.dir.0.join("cert.pem")
        }

        fn key_path(&self) -> PathBuf {
            self.dir.0.join("key.pem")
        }

        fn server_config(&self) -> Arc<rustls::ServerConfig> {
            server_config(&self.cert_path(), &self.key_path()).expect("a server config")
        }

        /// A client trusting only this certificate, for one TLS version.
        fn client_config(&self, version: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
            let mut roots = RootCertStore::empty();
            roots.add(self.cert.clone()).expect("a root");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        }
    }

    type Tls = StreamOwned<ClientConnection, TcpStream>;

    /// An HTTPS connection to `address`, handshake done, reads bounded by [`STEP`].
    fn connect_tls(address: SocketAddr, config: Arc<ClientConfig>) -> Tls {
        let name = ServerName::try_from("localhost").expect("a name");
        let connection = ClientConnection::new(config, name).expect("a client");
        let mut tls = StreamOwned::new(connection, connect(address));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("the handshake");
        }
        tls
    }

    /// The server closed the connection: EOF (or a reset, or a TLS error)
    /// after at most a few bytes, and not a read timeout.
    fn closed_by_server(stream: &mut impl Read) -> bool {
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => return !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            }
        }
        false
    }

    #[test]
    fn https_requests_share_a_kept_alive_connection() {
        let credentials = Credentials::new("tls-keepalive");
        let (address, _) = start_with(limits(), &[], Some(credentials.server_config()), None);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let mut tls = connect_tls(address, credentials.client_config(version));
            assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "ALPN");
            assert_eq!(get(&mut tls, "/", Some("localhost")), (200, "fixed\n".into()), "{version:?}");
            assert_eq!(get(&mut tls, "/again", Some("localhost")), (200, "fixed\n".into()), "{version:?}");
            // The Host guard holds over TLS too: no Host is 400 and the end.
            assert_eq!(get(&mut tls, "/", None).0, 400);
            assert!(closed_by_server(&mut tls), "open after a request without Host");
        }
    }

    #[test]
    fn a_file_body_arrives_whole_over_tls() {
        let credentials = Credentials::new("tls-file");
        // 3 MiB and a bit, not a multiple of the 64 KiB chunks, no period
        // that a repeated or dropped chunk would hide.
        let content: Vec<u8> =
            (0..3 * 1024 * 1024 + 12_345u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let path = credentials.dir.0.join("big.bin");
        std::fs::write(&path, &content).expect("the file");
        let (address, _) = start_with(limits(), &[], Some(credentials.server_config()), Some(path));
        let mut tls = connect_tls(address, credentials.client_config(&rustls::version::TLS13));
        write!(tls, "GET /file HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
        let (status, body) = read_response_bytes(&mut tls);
        assert_eq!(status, 200);
        assert_eq!(body.len(), content.len(), "length");
        assert!(body == content, "the body differs from the file");
        // And the connection goes on.
        assert_eq!(get(&mut tls, "/", Some("localhost")), (200, "fixed\n".into()));
    }

    #[test]
    fn plain_http_to_the_tls_port_is_refused() {
        let credentials = Credentials::new("tls-plain");
        let (address, _) = start_with(limits(), &[], Some(credentials.server_config()), None);
        let mut stream = connect(address);
        let (status, text) = get(&mut stream, "/", Some("localhost"));
        assert_eq!(status, 400);
        assert!(text.contains("HTTPS"), "{text}");
        assert!(closed_by_server(&mut stream), "open after plain HTTP");
        // Bytes that are neither TLS nor HTTP: closed without an answer.
        let mut stream = connect(address);
        stream.write_all(&[0u8; 16]).expect("send");
        assert!(closed_by_server(&mut stream), "open after garbage");
    }

    #[test]
    fn a_stalled_handshake_is_cut_off_by_the_header_timeout() {
        let credentials = Credentials::new("tls-stall");
        let timeout = Duration::from_millis(300);
        let (address, _) =
            start_with(Limits { header_timeout: timeout, ..limits() }, &[], Some(credentials.server_config()), None);
        // Nothing at all.
        let mut silent = connect(address);
        assert!(closed_by_server(&mut silent), "open after sending nothing");
        // Half a ClientHello.
        let mut hello = Vec::new();
        let name = ServerName::try_from("localhost").expect("a name");
        let mut client =
            ClientConnection::new(credentials.client_config(&rustls::version::TLS13), name).expect("a client");
        client.write_tls(&mut hello).expect("a ClientHello");
        assert_eq!(hello[0], 0x16, "a handshake record");
        let mut half = connect(address);
        half.write_all(&hello[..hello.len() / 2]).expect("send");
        assert!(closed_by_server(&mut half), "open after half a ClientHello");
        // A handshake, then half a head: 408, over TLS.
        let mut tls = connect_tls(address, credentials.client_config(&rustls::version::TLS13));
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").expect("send");
        assert_eq!(read_response(&mut tls).0, 408);
        assert!(closed_by_server(&mut tls), "open after 408");
    }

    #[test]
    fn bad_certificate_or_key_files_are_usage_errors_naming_the_file() {
        let credentials = Credentials::new("tls-errors");
        let (cert, key) = (credentials.cert_path(), credentials.key_path());
        let message = |cert: &std::path::Path, key: &std::path::Path| match server_config(cert, key) {
            Err(crate::error::Error::Usage(message)) => message,
            Err(other) => panic!("not a usage error: {other}"),
            Ok(_) => panic!("accepted {} and {}", cert.display(), key.display()),
        };
        let missing = credentials.dir.0.join("missing.pem");
        let text = message(&missing, &key);
        assert!(text.contains(&*missing.to_string_lossy()) && text.contains("does not exist"), "{text}");
        let text = message(&cert, &missing);
        assert!(text.contains(&*missing.to_string_lossy()) && text.contains("does not exist"), "{text}");

        // The certificate given as the key, and the key as the certificate.
        let text = message(&cert, &cert);
        assert!(text.contains(&*cert.to_string_lossy()) && text.contains("no private key"), "{text}");
        let text = message(&key, &key);
        assert!(text.contains(&*key.to_string_lossy()) && text.contains("no certificate"), "{text}");

        // Another certificate's key.
        let other = rcgen::KeyPair::generate().expect("a key");
        credentials.dir.write("other.pem", &other.serialize_pem());
        let other = credentials.dir.0.join("other.pem");
        let text = message(&cert, &other);
        assert!(
            text.contains(&*other.to_string_lossy())
                && text.contains(&*cert.to_string_lossy())
                && text.contains("does not match"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");

        // And the right pair is accepted.
        assert!(server_config(&cert, &key).is_ok());
    }
}
