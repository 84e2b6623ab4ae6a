//! `berth proxy` against real clients: curl (HTTP/1.1 and HTTP/2), Python's
//! urllib and a rustls client of the test's own, each trusting only the
//! root the proxy made in a scratch XDG_DATA_HOME, in front of small
//! backends on threads of the test (an echo of the request head, a byte
//! counter, a WebSocket echo, an event stream, a kept-alive one, ones that
//! answer early or die mid-answer). Forwarded headers both ways, upgrades,
//! a streamed gibibyte each way with the proxy's peak memory, unbuffered
//! events, multiplexing, a backend that comes and goes, IPv6-only backends,
//! the token and its one-time login, basic auth, CORS, the Host allow-list
//! and --name, the redirect from plain http, connection limits and the
//! handshake limit, signals, first runs racing to make the CA, and bad input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::http::read_response;
use crate::common::*;

const CURL: &str = "curl";
const PYTHON: &str = "python3";
const GIB: u64 = 1 << 30;

// ---------------------------------------------------------------- the proxy

/// A HOME and XDG_DATA_HOME of the test's own, where the proxy makes its CA.
struct Home {
    dir: ScratchDir,
}

impl Home {
    fn new(tag: &str) -> Home {
        let dir = ScratchDir::new(tag);
        std::fs::create_dir_all(dir.path.join("data")).expect("create XDG_DATA_HOME");
        Home { dir }
    }

    fn home(&self) -> String {
        self.dir.path.display().to_string()
    }

    fn data(&self) -> String {
        self.dir.path.join("data").display().to_string()
    }

    fn ca_file(&self, name: &str) -> PathBuf {
        self.dir.path.join("data/berth/ca").join(name)
    }

    /// The root the proxy's certificates chain to (what clients trust).
    fn root_pem(&self) -> PathBuf {
        self.ca_file("root.pem")
    }

    /// `berth proxy TARGET ARGS --port 0`, ready once it says where it proxies.
    fn proxy(&self, target: &str, args: &[&str]) -> ServeChild {
        let mut all = vec![target];
        all.extend_from_slice(args);
        let (home, data) = (self.home(), self.data());
        let env = [("HOME", home.as_str()), ("XDG_DATA_HOME", data.as_str())];
        ServeChild::launch_url("proxy", "berth: proxying ", &all, &env, |_| {}, https_url_in)
    }

    /// `berth ARGS` run to its end with this HOME.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        run_berth(args, &[("HOME", &self.home()), ("XDG_DATA_HOME", &self.data())])
    }
}

/// The proxy's own URL in its ready line ("berth: proxying BACKEND at
/// https://localhost:PORT/"): the one https URL there.
fn https_url_in(line: &str) -> Option<&str> {
    line.split_whitespace().find(|word| word.starts_with("https://"))
}

/// Whether this machine has an IPv6 loopback (the proxy listens on ::1 too
/// only then); the parts of tests over ::1 are left out without one.
fn has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// The proxy's peak resident memory so far (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read the proxy's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("a VmHWM line")
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .expect("VmHWM in kB")
}

// ---------------------------------------------------------------- curl

/// What curl got: status and HTTP version (from -w), the last response
/// head's headers and the body (from -D -), and curl's own stderr.
#[derive(Debug)]
struct Got {
    status: u16,
    version: String,
    headers: Vec<(String, String)>,
    body: String,
    /// curl's exit code (0, or why the transfer failed).
    code: i32,
    #[allow(dead_code)] // read through Debug, in failure messages
    stderr: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

const MARK: &str = "\n@@curl-wrote@@ ";

/// curl ARGS trusting the proxy's root (and no proxy from the environment).
fn curl(home: &Home, args: &[&str]) -> Got {
    require_program(CURL, "curl");
    let mut command = Command::new(CURL);
    command
        .args(["-sS", "--noproxy", "*", "--max-time", "30", "-D", "-", "-w"])
        .arg(format!("{MARK}%{{http_code}} %{{http_version}}"))
        .arg("--cacert")
        .arg(home.root_pem())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_within(command, &format!("curl {args:?}"), Duration::from_secs(60));
    let (mut rest, trailer) =
        out.stdout.rsplit_once(MARK).unwrap_or_else(|| panic!("curl {args:?} wrote no trailer: {out:?}"));
    let (status, version) = trailer.trim().split_once(' ').expect("code and version");
    // -D - writes every head (an interim 100's too) before the body: the last one is the answer's.
    let mut headers = Vec::new();
    for _ in 0..10 {
        if !rest.starts_with("HTTP/") {
            break;
        }
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        rest = body;
    }
    Got {
        status: status.parse().expect("a status code"),
        version: version.to_string(),
        headers,
        body: rest.to_string(),
        code: out.code,
        stderr: out.stderr,
    }
}

// ---------------------------------------------------------------- backends

/// A request as a backend read it: the request line and headers (the body,
/// if any, is left for the answer to read).
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    head: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Conn = BufReader<TcpStream>;

/// A plain HTTP/1.1 backend on 127.0.0.1: each connection on a thread of its
/// own, one request read, `answer` called with it, the connection closed.
struct Backend {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: ServerThread,
}

impl Backend {
    fn start(answer: impl Fn(&Seen, &mut Conn) + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
        Backend::on(listener, answer)
    }

    fn on(listener: TcpListener, answer: impl Fn(&Seen, &mut Conn) + Send + Sync + 'static) -> Backend {
        Backend::on_for(listener, Duration::from_secs(30), answer)
    }

    /// As [`Backend::on`], accepting for `lifetime` rather than 30 s.
    fn on_for(
        listener: TcpListener,
        lifetime: Duration,
        answer: impl Fn(&Seen, &mut Conn) + Send + Sync + 'static,
    ) -> Backend {
        let port = listener.local_addr().expect("the backend's address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let log = seen.clone();
        // At most 64 connections, each on its own thread (the proxy may hold
        // several at once), each bounded by the socket time-outs.
        let server = ServerThread::start_for(listener, 64, lifetime, move |stream| {
            let (log, answer) = (log.clone(), answer.clone());
            let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
            std::thread::spawn(move || {
                let mut conn = BufReader::with_capacity(64 * 1024, stream);
                if let Some(request) = read_head(&mut conn) {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
                    answer(&request, &mut conn);
                }
            });
        });
        Backend { port, seen, server }
    }

    fn target(&self) -> String {
        self.port.to_string()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connections the backend took.
    fn connections(&self) -> usize {
        self.server.accepted()
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A request head, line by line (bounded); None if the peer closed first.
fn read_head(conn: &mut Conn) -> Option<Seen> {
    let mut head = String::new();
    let mut ended = false;
    for _ in 0..200 {
        let before = head.len();
        if conn.read_line(&mut head).ok()? == 0 {
            return None;
        }
        if head[before..].trim().is_empty() {
            ended = true;
            break;
        }
    }
    if !ended {
        return None;
    }
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    Some(Seen { method, target, headers, head })
}

/// Reads the request's body to its end (Content-Length or chunked) and
/// counts its bytes.
fn count_body(seen: &Seen, conn: &mut Conn) -> std::io::Result<u64> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let chunked = seen.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if !chunked {
        let length: u64 =
            seen.header("content-length").map_or(Ok(0), str::parse).map_err(|e| invalid(format!("{e}")))?;
        return std::io::copy(&mut conn.by_ref().take(length), &mut std::io::sink());
    }
    let mut total = 0;
    let mut line = String::new();
    // Bounded: a gibibyte in chunks of at least 16 bytes.
    for _ in 0..(GIB * 2 / 16) {
        line.clear();
        conn.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or_default().to_string();
        let size = u64::from_str_radix(&size_text, 16).map_err(|e| invalid(format!("chunk size {line:?}: {e}")))?;
        if size == 0 {
            for _ in 0..100 {
                line.clear();
                if conn.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    break;
                }
            }
            return Ok(total);
        }
        let copied = std::io::copy(&mut conn.by_ref().take(size), &mut std::io::sink())?;
        if copied != size {
            return Err(invalid(format!("chunk of {size} bytes ended after {copied}")));
        }
        total += size;
        line.clear();
        conn.read_line(&mut line)?;
    }
    Err(invalid("too many chunks".to_string()))
}

/// A complete response with Content-Length, then the connection closes.
fn respond(conn: &mut Conn, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let stream = conn.get_mut();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// A backend that answers every request with the request's head.
fn echo_backend() -> Backend {
    Backend::start(|seen, conn| {
        let _ = count_body(seen, conn);
        respond(conn, "200 OK", "text/plain", seen.head.as_bytes());
    })
}

// ---------------------------------------------------------------- a TLS client

fn tls_config(home: &Home, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(home.root_pem()).expect("read root.pem");
    for cert in certs {
        roots.add(cert.expect("a certificate in root.pem")).expect("a root rustls takes");
    }
    assert!(!roots.is_empty(), "no certificate in {}", home.root_pem().display());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to the proxy on 127.0.0.1 for the name localhost, the
/// handshake done (so a certificate the root does not vouch for fails here).
fn tls_connect(config: &Arc<rustls::ClientConfig>, port: u16) -> Tls {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    tcp.set_write_timeout(Some(Duration::from_secs(10))).expect("write timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let connection = rustls::ClientConnection::new(config.clone(), name).expect("a TLS client");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    for _ in 0..10 {
        if !tls.conn.is_handshaking() {
            break;
        }
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake with the proxy (trusting root.pem)");
    }
    assert!(!tls.conn.is_handshaking(), "the TLS handshake did not finish");
    tls
}

// ---------------------------------------------------------------- WebSocket

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn ws_accept(key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, format!("{key}{WS_GUID}").as_bytes());
    data_encoding::BASE64.encode(digest.as_ref())
}

/// One frame: (opcode, payload, was it masked).
fn read_frame(reader: &mut impl Read) -> std::io::Result<(u8, Vec<u8>, bool)> {
    let mut two = [0u8; 2];
    reader.read_exact(&mut two)?;
    let opcode = two[0] & 0x0f;
    let masked = two[1] & 0x80 != 0;
    let length = match two[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            reader.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    assert!(length <= 1 << 20, "a frame of {length} bytes");
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; length as usize];
    reader.read_exact(&mut payload)?;
    if masked {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Ok((opcode, payload, masked))
}

/// One final frame; masked with `mask` when given (client to server).
fn write_frame(writer: &mut impl Write, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> std::io::Result<()> {
    let mut frame = vec![0x80 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    writer.write_all(&frame)?;
    writer.flush()
}

/// A WebSocket echo: the handshake, then every data frame sent back
/// unmasked (a frame that came unmasked is answered with a close 1002).
fn websocket_backend() -> Backend {
    Backend::start(|seen, conn| {
        if seen.target == "/refuse" {
            respond(conn, "403 Forbidden", "text/plain", b"not you\n");
            return;
        }
        let upgrade = seen.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let Some(key) = seen.header("sec-websocket-key").filter(|_| upgrade) else {
            respond(conn, "426 Upgrade Required", "text/plain", b"a WebSocket endpoint\n");
            return;
        };
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            ws_accept(key)
        );
        if conn.get_mut().write_all(head.as_bytes()).is_err() {
            return;
        }
        for _ in 0..100 {
            let Ok((opcode, payload, masked)) = read_frame(conn) else { return };
            let stream = conn.get_mut();
            if !masked {
                let _ = write_frame(stream, 0x8, &1002u16.to_be_bytes(), None);
                return;
            }
            let reply = match opcode {
                0x8 => write_frame(stream, 0x8, &payload, None),
                0x9 => write_frame(stream, 0xA, &payload, None),
                _ => write_frame(stream, opcode, &payload, None),
            };
            if opcode == 0x8 || reply.is_err() {
                return;
            }
        }
    })
}

// ---------------------------------------------------------------- tests

fn both_http_versions_and_python_get_the_backends_answer() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-versions");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    assert!(proxy.url.starts_with("https://localhost:"), "ready URL {}", proxy.url);
    assert!(home.root_pem().is_file(), "no CA root at {}:\n{}", home.root_pem().display(), proxy.stderr());
    let url = format!("{}hello?x=1", proxy.url);

    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let got = curl(&home, &[flag, &url]);
        assert_eq!((got.status, got.version.as_str()), (200, version), "curl {flag}: {got:?}");
        assert!(got.body.starts_with("GET /hello?x=1 HTTP/1.1\r\n"), "curl {flag}: the backend's answer? {got:?}");
    }
    assert_eq!(backend.hits(), 2);

    // The IPv6 loopback too, and both addresses by number (the leaf names them).
    let addresses: &[&str] = if has_ipv6_loopback() { &["127.0.0.1", "[::1]"] } else { &["127.0.0.1"] };
    if has_ipv6_loopback() {
        let got = curl(&home, &["--resolve", &format!("localhost:{}:[::1]", proxy.port), &url]);
        assert_eq!(got.status, 200, "over ::1: {got:?}");
    }
    for address in addresses {
        let got = curl(&home, &[&format!("https://{address}:{}/by-address", proxy.port)]);
        assert_eq!(got.status, 200, "https://{address}: {got:?}");
    }

    let python = require_program(PYTHON, "python3");
    let script = "import ssl, sys, urllib.request\n\
                  ctx = ssl.create_default_context(cafile=sys.argv[1])\n\
                  opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))\n\
                  with opener.open(sys.argv[2], timeout=10) as r:\n    \
                      sys.stdout.write('%d %d\\n' % (r.status, r.version))\n    \
                      sys.stdout.write(r.read().decode())\n";
    let mut command = Command::new(python);
    command
        .args(["-c", script])
        .arg(home.root_pem())
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_within(command, "python3 urllib", Duration::from_secs(30));
    assert_eq!(out.code, 0, "python3 urllib failed: {out:?}");
    assert!(out.stdout.starts_with("200 11\nGET /hello?x=1 HTTP/1.1\r\n"), "python3 urllib: {out:?}");

    // And a rustls client of our own, offering only h2 (the proxy picks it).
    let tls = tls_connect(&tls_config(&home, &[b"h2", b"http/1.1"]), proxy.port);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]), "ALPN picked by the proxy");
}

fn forwarded_headers_reach_the_backend_and_host_is_the_backends() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-forwarded");
    let backend = echo_backend();
    let proxy = home.proxy(&format!("127.0.0.1:{}", backend.port), &[]);
    let front = format!("localhost:{}", proxy.port);
    let back = format!("127.0.0.1:{}", backend.port);

    let mut clients = vec![("--http1.1", "127.0.0.1", "127.0.0.1"), ("--http2", "127.0.0.1", "127.0.0.1")];
    if has_ipv6_loopback() {
        clients.push(("--http1.1", "[::1]", "::1"));
    }
    for (flag, pin, client) in clients {
        let before = backend.hits();
        let got = curl(&home, &[flag, "--resolve", &format!("{front}:{pin}"), &format!("{}headers", proxy.url)]);
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(backend.hits(), before + 1);
        let seen = backend.seen().pop().expect("a request");
        let what = format!("{flag} from {client}, the backend saw:\n{}", seen.head);
        assert_eq!(seen.header("host"), Some(back.as_str()), "{what}");
        assert_eq!(seen.header("x-forwarded-for"), Some(client), "{what}");
        assert_eq!(seen.header("x-forwarded-proto"), Some("https"), "{what}");
        assert_eq!(seen.header("x-forwarded-host"), Some(front.as_str()), "{what}");
        assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/headers"), "{what}");
    }

    // What a client claims of earlier hops is not passed on, nor the
    // headers its Connection names.
    let got = curl(
        &home,
        &[
            "--http1.1",
            "--resolve",
            &format!("{front}:127.0.0.1"),
            "-H",
            "X-Forwarded-For: 203.0.113.9",
            "-H",
            "X-Forwarded-Host: evil.example",
            "-H",
            "X-Forwarded-Proto: http",
            "-H",
            "Connection: keep-alive, X-Hop-Secret",
            "-H",
            "X-Hop-Secret: 1",
            "-H",
            "X-End-To-End: kept",
            &proxy.url,
        ],
    );
    assert_eq!(got.status, 200, "{got:?}");
    let seen = backend.seen().pop().expect("a request");
    let forwarded_for: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(forwarded_for, ["127.0.0.1"], "a spoofed X-Forwarded-For came through:\n{}", seen.head);
    assert_eq!(seen.header("x-forwarded-host"), Some(front.as_str()), "{}", seen.head);
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"), "{}", seen.head);
    assert_eq!(seen.header("x-hop-secret"), None, "a header Connection names crossed the proxy:\n{}", seen.head);
    assert_eq!(seen.header("x-end-to-end"), Some("kept"), "{}", seen.head);
    drop(proxy);

    let proxy = home.proxy(&backend.target(), &["--preserve-host"]);
    let front = format!("localhost:{}", proxy.port);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, &proxy.url]);
        assert_eq!(got.status, 200, "--preserve-host {flag}: {got:?}");
        let seen = backend.seen().pop().expect("a request");
        assert_eq!(
            seen.header("host"),
            Some(front.as_str()),
            "--preserve-host {flag}, the backend saw:\n{}",
            seen.head
        );
        assert_eq!(seen.header("x-forwarded-host"), Some(front.as_str()), "{}", seen.head);
    }
}

/// Sends a WebSocket upgrade for `path` (with `extra` header lines) and
/// reads the answer's head; returns the key sent too.
fn ws_upgrade(tls: &mut Tls, port: u16, path: &str, extra: &str) -> (crate::common::http::Response, String) {
    let key = data_encoding::BASE64.encode(&random_bytes(16, u64::from(port)));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tls.write_all(request.as_bytes()).expect("send the upgrade");
    (read_response(tls, true).expect("an answer to the upgrade"), key)
}

fn websocket_frames_echo_through_the_proxy() {
    let _serial = serial();
    let home = Home::new("proxy-ws");
    let backend = websocket_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    let config = tls_config(&home, &[b"http/1.1"]);

    // An upgrade the backend refuses: its answer, whole.
    let mut tls = tls_connect(&config, proxy.port);
    let (response, _) = ws_upgrade(&mut tls, proxy.port, "/refuse", "");
    let seen = backend.seen().pop().expect("the upgrade at the backend");
    assert_eq!(
        seen.target, "/refuse",
        "the backend got the upgrade's request line in absolute form (HTTP/1.1 origin servers route on origin-form):\n{}",
        seen.head
    );
    assert_eq!(response.status, 403, "{response:?}");
    let mut body = vec![0u8; 8];
    tls.read_exact(&mut body).expect("the refusal's body");
    assert_eq!(body, b"not you\n");
    drop(tls);

    let mut tls = tls_connect(&config, proxy.port);
    let (response, key) = ws_upgrade(&mut tls, proxy.port, "/socket", "");
    assert_eq!(response.status, 101, "{response:?}\n{}", proxy.stderr());
    assert_eq!(response.header("sec-websocket-accept"), Some(ws_accept(&key).as_str()), "{response:?}");
    assert!(response.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")), "{response:?}");

    // A short text frame, a long binary one (64-bit length), a ping.
    let long = random_bytes(70_000, 16);
    let frames: [(u8, &[u8], u8); 3] =
        [(0x1, b"hello through berth", 0x1), (0x2, &long, 0x2), (0x9, b"are you there", 0xA)];
    for (i, (opcode, payload, answer)) in frames.into_iter().enumerate() {
        write_frame(&mut tls, opcode, payload, Some([1, 2, 3, i as u8])).expect("send a frame");
        let (got_opcode, got, masked) = read_frame(&mut tls).expect("the echo");
        assert_eq!((got_opcode, masked), (answer, false), "frame {i}: opcode and mask of the echo");
        assert!(got == payload, "frame {i}: the echo differs ({} bytes, sent {})", got.len(), payload.len());
    }
    write_frame(&mut tls, 0x8, &1000u16.to_be_bytes(), Some([9, 9, 9, 9])).expect("send a close");
    let (opcode, payload, _) = read_frame(&mut tls).expect("the close echoed");
    assert_eq!((opcode, payload), (0x8, 1000u16.to_be_bytes().to_vec()));
    assert_eq!(backend.hits(), 2);
    drop(proxy);

    // Behind --token: refused without it, through with the bearer or cookie.
    let proxy = home.proxy(&backend.target(), &["--token=ws-token-5678"]);
    let cookie = format!("berth_token_{}", proxy.port);
    for (extra, status) in [
        (String::new(), 401),
        ("Authorization: Bearer ws-token-5678\r\n".to_string(), 101),
        (format!("Cookie: {cookie}=ws-token-5678\r\n"), 101),
    ] {
        let mut tls = tls_connect(&config, proxy.port);
        let (response, _) = ws_upgrade(&mut tls, proxy.port, "/socket", &extra);
        assert_eq!(response.status, status, "{extra:?}: {response:?}");
        if status == 101 {
            write_frame(&mut tls, 0x1, b"authorised", Some([5, 6, 7, 8])).expect("send a frame");
            assert_eq!(read_frame(&mut tls).expect("the echo").1, b"authorised");
        }
    }
    assert_eq!(backend.hits(), 4, "an upgrade without the token reached the backend");
}

fn a_gibibyte_streams_each_way_in_bounded_memory() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-gib");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
    let backend = Backend::on_for(listener, Duration::from_secs(300), |seen, conn| {
        if seen.method == "GET" {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {GIB}\r\nConnection: close\r\n\r\n");
            let stream = conn.get_mut();
            let zeros = vec![0u8; 64 * 1024];
            let _ = stream.write_all(head.as_bytes());
            for _ in 0..(GIB / zeros.len() as u64) {
                if stream.write_all(&zeros).is_err() {
                    return;
                }
            }
            return;
        }
        match count_body(seen, conn) {
            Ok(n) => respond(conn, "200 OK", "text/plain", format!("received {n}").as_bytes()),
            Err(e) => respond(conn, "400 Bad Request", "text/plain", format!("{e}").as_bytes()),
        }
    });
    let proxy = home.proxy(&backend.target(), &[]);

    let upload = |flag: &str| {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "head -c {GIB} /dev/zero | curl -sS --noproxy '*' --max-time 100 {flag} --cacert \"$1\" -T - -w ' %{{http_code}}' \"$2\""
            ))
            .arg("sh")
            .arg(home.root_pem())
            .arg(format!("{}upload", proxy.url))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let out = run_within(command, &format!("a 1 GiB upload {flag}"), Duration::from_secs(120));
        eprintln!("1 GiB up {flag} in {:?}", started.elapsed());
        assert_eq!(out.stdout, format!("received {GIB} 200"), "upload {flag}: {out:?}\n{}", proxy.stderr());
    };
    upload("--http1.1");
    upload("--http2");

    for flag in ["--http1.1", "--http2"] {
        let mut command = Command::new(CURL);
        command
            .args([
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "100",
                flag,
                "-o",
                "/dev/null",
                "-w",
                "%{size_download} %{http_code}",
            ])
            .arg("--cacert")
            .arg(home.root_pem())
            .arg(format!("{}download", proxy.url))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let out = run_within(command, "a 1 GiB download", Duration::from_secs(120));
        eprintln!("1 GiB down {flag} in {:?}", started.elapsed());
        assert_eq!(out.stdout, format!("{GIB} 200"), "download {flag}: {out:?}\n{}", proxy.stderr());
    }

    let peak = peak_kib(proxy.pid());
    eprintln!("the proxy's peak RSS: {peak} KiB");
    assert!(peak < 100 * 1024, "the proxy peaked at {peak} KiB streaming 4 GiB");
}

const EVENTS: usize = 5;
const EVENT_GAP: Duration = Duration::from_millis(200);

/// Arrival times of the events, as `feed` reports text arriving.
fn events_arrived(mut feed: impl FnMut() -> Option<(Vec<u8>, Instant)>) -> Vec<Instant> {
    let mut text = Vec::new();
    let mut arrived = Vec::new();
    // Bounded: EVENTS events, each read bounded by the client's time-outs.
    for _ in 0..10_000 {
        if arrived.len() == EVENTS {
            break;
        }
        let Some((bytes, at)) = feed() else { break };
        text.extend_from_slice(&bytes);
        while arrived.len() < EVENTS && contains(&text, format!("data: event {}\n", arrived.len()).as_bytes()) {
            arrived.push(at);
        }
    }
    arrived
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_unbuffered(what: &str, sent: &[Instant], arrived: &[Instant]) {
    assert_eq!(arrived.len(), EVENTS, "{what}: {} of {EVENTS} events arrived", arrived.len());
    assert_eq!(sent.len(), EVENTS, "{what}: the backend sent {} events", sent.len());
    let lags: Vec<Duration> = sent.iter().zip(arrived).map(|(s, a)| a.saturating_duration_since(*s)).collect();
    eprintln!("{what}: event lags {lags:?}");
    for (i, lag) in lags.iter().enumerate() {
        // Well under the gap: a proxy that holds an event until the next
        // write shows the whole gap or more.
        assert!(
            *lag < Duration::from_millis(150),
            "{what}: event {i} took {lag:?} (sent every {EVENT_GAP:?}): {lags:?}"
        );
    }
}

fn server_sent_events_pass_unbuffered() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-sse");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let backend = Backend::start(move |_, conn| {
        let stream = conn.get_mut();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                    Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        for i in 0..EVENTS {
            let event = format!("id: {i}\ndata: event {i}\n\n");
            log.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
            if stream.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(EVENT_GAP);
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    let proxy = home.proxy(&backend.target(), &[]);
    let take_sent = || std::mem::take(&mut *sent.lock().unwrap_or_else(|p| p.into_inner()));

    // HTTP/1.1, our own client.
    let mut tls = tls_connect(&tls_config(&home, &[b"http/1.1"]), proxy.port);
    let request = format!(
        "GET /events HTTP/1.1\r\nHost: localhost:{}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
        proxy.port
    );
    tls.write_all(request.as_bytes()).expect("send the request");
    let mut buffer = vec![0u8; 16 * 1024];
    let arrived = events_arrived(|| match tls.read(&mut buffer) {
        Ok(0) => None,
        Ok(n) => Some((buffer[..n].to_vec(), Instant::now())),
        Err(e) => panic!("reading the events: {e}"),
    });
    drop(tls);
    assert_unbuffered("HTTP/1.1", &take_sent(), &arrived);

    // HTTP/2, curl -N, line by line as curl writes them.
    let mut child = Command::new(CURL)
        .args(["-sSN", "--noproxy", "*", "--max-time", "10", "--http2", "--cacert"])
        .arg(home.root_pem())
        .arg(format!("{}events", proxy.url))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start curl");
    let stdout = child.stdout.take().expect("curl's stdout");
    let _curl = KillOnDrop(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        for _ in 0..100 {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap_or(0) == 0 || sender.send((line.into_bytes(), Instant::now())).is_err()
            {
                break;
            }
        }
    });
    let arrived = events_arrived(|| receiver.recv_timeout(Duration::from_secs(10)).ok());
    assert_unbuffered("HTTP/2", &take_sent(), &arrived);
}

fn a_backend_down_gets_a_502_naming_it_then_200_once_up() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-502");
    let port = free_port();
    let proxy = home.proxy(&port.to_string(), &[]);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, &proxy.url]);
        assert_eq!(got.status, 502, "{flag}, nothing on {port}: {got:?}");
        // A port alone is localhost:PORT (each connection tries 127.0.0.1 and ::1).
        assert!(got.body.contains(&format!("localhost:{port}")), "the 502 page does not name the backend: {got:?}");
    }
    assert!(proxy.stderr().lines().count() < 20, "the proxy's log:\n{}", proxy.stderr());

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the backend's port");
    let backend = Backend::on(listener, |_, conn| respond(conn, "200 OK", "text/plain", b"back again\n"));
    let got = curl(&home, &[&proxy.url]);
    assert_eq!((got.status, got.body.as_str()), (200, "back again\n"), "{got:?}");
    assert_eq!(backend.hits(), 1);
}

fn a_token_guards_the_proxy_and_its_login_works_once() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-token");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--token"]);
    assert!(proxy.wait_for_stderr("berth_login=", Duration::from_secs(5)), "no login URL:\n{}", proxy.stderr());
    let log = proxy.stderr();
    let token = log
        .lines()
        .find_map(|l| l.strip_prefix("berth: token "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token line:\n{log}"))
        .to_string();
    let login = log
        .split_whitespace()
        .find(|w| w.contains("berth_login="))
        .unwrap_or_else(|| panic!("no login URL:\n{log}"))
        .trim_matches(|c: char| "\"'<>()".contains(c))
        .to_string();
    assert!(login.starts_with("https://"), "login URL {login}");

    for headers in [vec![], vec!["-H", "Authorization: Bearer wrong-token"], vec!["-H", "Cookie: berth=forged"]] {
        let mut args = headers.clone();
        args.push(&proxy.url);
        let got = curl(&home, &args);
        assert_eq!(got.status, 401, "{headers:?}: {got:?}");
    }
    assert_eq!(backend.hits(), 0, "the backend saw a request without the token");

    let bearer = format!("Authorization: Bearer {token}");
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, "-H", &bearer, "-H", "Cookie: app=1", &proxy.url]);
        assert_eq!(got.status, 200, "{flag} with the token: {got:?}");
        let seen = backend.seen().pop().expect("a request");
        assert_eq!(seen.header("authorization"), None, "{flag}: the token reached the backend:\n{}", seen.head);
        assert_eq!(seen.header("cookie"), Some("app=1"), "{flag}: the backend's own cookie:\n{}", seen.head);
    }
    assert_eq!(backend.hits(), 2);

    let first = curl(&home, &[&login]);
    assert!(matches!(first.status, 302 | 303 | 307), "the login URL: {first:?}");
    let cookie = first.header("set-cookie").unwrap_or_else(|| panic!("no cookie: {first:?}")).to_string();
    assert!(cookie.to_ascii_lowercase().contains("httponly"), "cookie {cookie}");
    let location = first.header("location").unwrap_or_else(|| panic!("no Location: {first:?}"));
    assert!(!location.contains("berth_login"), "the redirect keeps the code: {location}");
    let pair = cookie.split(';').next().expect("name=value").trim().to_string();

    let again = curl(&home, &[&login]);
    assert!(again.status >= 400, "the login URL worked twice: {again:?}");
    assert_eq!(again.header("set-cookie"), None, "a second cookie: {again:?}");
    assert_eq!(backend.hits(), 2, "the login reached the backend");

    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, "-H", &format!("Cookie: {pair}"), &format!("{}after-login", proxy.url)]);
        assert_eq!(got.status, 200, "{flag} with the cookie {pair}: {got:?}");
        assert!(got.body.starts_with("GET /after-login "), "{got:?}");
        let seen = backend.seen().pop().expect("a request");
        assert_eq!(seen.header("cookie"), None, "{flag}: berth's cookie reached the backend:\n{}", seen.head);
    }
    drop(proxy);

    // A token given.
    let proxy = home.proxy(&backend.target(), &["--token=given-token-1234"]);
    assert_eq!(curl(&home, &["-H", "Authorization: Bearer given-token-1234", &proxy.url]).status, 200);
    assert_eq!(curl(&home, &["-H", &bearer, &proxy.url]).status, 401, "the earlier run's token still works");
}

fn basic_auth_guards_the_proxy() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-auth");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--auth", "alice:wonder land"]);
    for args in [vec![], vec!["-u", "alice:wrong"], vec!["-u", "bob:wonder land"]] {
        let mut all = args.clone();
        all.push(&proxy.url);
        let got = curl(&home, &all);
        assert_eq!(got.status, 401, "{args:?}: {got:?}");
        let challenge =
            got.header("www-authenticate").unwrap_or_else(|| panic!("{args:?}: no WWW-Authenticate: {got:?}"));
        assert!(challenge.starts_with("Basic"), "{challenge}");
    }
    assert_eq!(backend.hits(), 0);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, "-u", "alice:wonder land", &proxy.url]);
        assert_eq!(got.status, 200, "{flag}: {got:?}");
    }
    assert_eq!(backend.hits(), 2);
}

fn foreign_host_headers_are_refused_unless_allowed() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-host");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    for flag in ["--http1.1", "--http2"] {
        for host in ["evil.example", "evil.example:443", &format!("evil.example:{}", proxy.port)] {
            let got = curl(&home, &[flag, "-H", &format!("Host: {host}"), &proxy.url]);
            assert_eq!(got.status, 421, "{flag} Host {host}: {got:?}");
        }
        // The names the proxy answers to.
        for host in [
            format!("localhost:{}", proxy.port),
            format!("LocalHost:{}", proxy.port),
            format!("127.0.0.1:{}", proxy.port),
            format!("[::1]:{}", proxy.port),
            "localhost".to_string(),
        ] {
            let got = curl(&home, &[flag, "-H", &format!("Host: {host}"), &proxy.url]);
            assert_eq!(got.status, 200, "{flag} Host {host}: {got:?}");
        }
    }
    // A rebound name for real (its SNI too): the leaf does not name it, and
    // a client that skips the check still meets the Host guard.
    let connect_to = format!("evil.example:{0}:127.0.0.1:{0}", proxy.port);
    let evil = format!("https://evil.example:{}/", proxy.port);
    let got = curl(&home, &["--connect-to", &connect_to, &evil]);
    assert_eq!((got.status, got.code), (0, 60), "a leaf for evil.example? {got:?}");
    let got = curl(&home, &["-k", "--connect-to", &connect_to, &evil]);
    assert_eq!(got.status, 421, "Host evil.example, certificate unchecked: {got:?}");
    assert_eq!(backend.hits(), 10, "the backend saw a foreign Host");
    drop(proxy);

    let proxy = home.proxy(&backend.target(), &["--allow-host", "myapp.test"]);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, "-H", "Host: myapp.test", &proxy.url]);
        assert_eq!(got.status, 200, "{flag} Host myapp.test, allowed: {got:?}");
        let seen = backend.seen().pop().expect("a request");
        assert_eq!(seen.header("x-forwarded-host"), Some("myapp.test"), "{}", seen.head);
        let got = curl(&home, &[flag, "-H", "Host: evil.example", &proxy.url]);
        assert_eq!(got.status, 421, "{flag} Host evil.example beside an allowed one: {got:?}");
    }
    assert_eq!(backend.hits(), 12);
}

/// The documented `--name myapp.localhost --preserve-host`: a leaf for the
/// name (inside the CA's localhost subtree), the name allowed as a Host, and
/// the backend told it.
fn a_name_under_localhost_gets_a_certificate_and_is_allowed() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-name");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--name", "myapp.localhost", "--preserve-host"]);
    let front = format!("myapp.localhost:{}", proxy.port);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, "--resolve", &format!("{front}:127.0.0.1"), &format!("https://{front}/app")]);
        assert_eq!(got.status, 200, "{flag}: {got:?}");
        let seen = backend.seen().pop().expect("a request");
        assert_eq!(seen.header("host"), Some(front.as_str()), "{}", seen.head);
    }
    // Another name under localhost has no leaf of its own.
    let other = format!("other.localhost:{}", proxy.port);
    let got = curl(&home, &["--resolve", &format!("{other}:127.0.0.1"), &format!("https://{other}/")]);
    assert_eq!((got.status, got.code), (0, 60), "a leaf for other.localhost? {got:?}");
}

fn plain_http_is_redirected_to_https() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-redirect");
    let backend = echo_backend();
    let http_port = free_port();
    let proxy = home.proxy(&backend.target(), &["--http-port", &http_port.to_string()]);
    let up = poll_until(Duration::from_secs(5), || TcpStream::connect(("127.0.0.1", http_port)).ok());
    assert!(up.is_some(), "nothing listens on --http-port {http_port}:\n{}", proxy.stderr());

    let plain = format!("http://localhost:{http_port}/some/path?x=1");
    let got = curl(&home, &[&plain]);
    assert_eq!(got.status, 308, "{got:?}");
    let location = got.header("location").unwrap_or_else(|| panic!("no Location: {got:?}"));
    assert_eq!(location, format!("https://localhost:{}/some/path?x=1", proxy.port), "{got:?}");
    assert_eq!(backend.hits(), 0, "plain http reached the backend");

    let got = curl(&home, &["-L", &plain]);
    assert_eq!(got.status, 200, "{got:?}");
    assert!(got.body.starts_with("GET /some/path?x=1 HTTP/1.1\r\n"), "{got:?}");

    // Plain http to the HTTPS port is told where to go.
    let got = curl(&home, &[&format!("http://localhost:{}/", proxy.port)]);
    assert_eq!(got.status, 400, "{got:?}");
    assert!(got.body.contains(&format!("https://localhost:{}/", proxy.port)), "{got:?}");
    assert_eq!(backend.hits(), 1);
}

fn a_backend_that_dies_mid_answer_is_not_passed_off_as_complete() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-truncated");
    let backend = Backend::start(|seen, conn| {
        let stream = conn.get_mut();
        let half = vec![b'x'; 5000];
        if seen.target == "/chunked" {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(format!("{:x}\r\n", half.len()).as_bytes());
            let _ = stream.write_all(&half);
            let _ = stream.write_all(b"\r\n");
        } else {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&half);
        }
        let _ = stream.flush();
        // Then the backend goes: the connection closes mid-body.
    });
    let proxy = home.proxy(&backend.target(), &[]);
    for path in ["length", "chunked"] {
        for flag in ["--http1.1", "--http2"] {
            let got = curl(&home, &[flag, &format!("{}{path}", proxy.url)]);
            assert!(got.code != 0, "{flag} /{path}: a cut answer looked complete to curl: {got:?}");
            assert!(got.body.len() <= 5000, "{flag} /{path}: more than the backend sent: {} bytes", got.body.len());
        }
    }
    assert!(proxy.stderr().lines().all(|l| !l.contains("panicked")), "{}", proxy.stderr());
}

fn many_requests_at_once_over_one_http2_connection_each_get_their_answer() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-many");
    let in_flight = Arc::new(Mutex::new((0usize, 0usize)));
    let counts = in_flight.clone();
    let backend = Backend::start(move |seen, conn| {
        {
            let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
            c.0 += 1;
            c.1 = c.1.max(c.0);
        }
        std::thread::sleep(Duration::from_millis(300));
        respond(conn, "200 OK", "text/plain", seen.head.as_bytes());
        counts.lock().unwrap_or_else(|p| p.into_inner()).0 -= 1;
    });
    let proxy = home.proxy(&backend.target(), &[]);
    let out_dir = ScratchDir::new("proxy-many-out");
    const N: usize = 20;
    let mut command = Command::new(CURL);
    command
        .args(["-sS", "--noproxy", "*", "--max-time", "30", "--http2", "-Z", "--parallel-max", "20", "--cacert"])
        .arg(home.root_pem())
        .arg("-o")
        .arg(out_dir.path.join("n#1"))
        .arg(format!("{}n/[0-{}]", proxy.url, N - 1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = run_within(command, "curl -Z", Duration::from_secs(60));
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{out:?}");
    for i in 0..N {
        let body = std::fs::read_to_string(out_dir.path.join(format!("n{i}"))).unwrap_or_default();
        assert!(body.starts_with(&format!("GET /n/{i} HTTP/1.1\r\n")), "request {i} got {body:?}");
    }
    let most = in_flight.lock().unwrap_or_else(|p| p.into_inner()).1;
    eprintln!("{N} requests in {took:?}, at most {most} at the backend at once");
    assert!(most >= 4, "the proxy sent at most {most} requests at once (of {N} multiplexed)");
    assert!(took < Duration::from_millis(300) * (N as u32) / 2, "{N} requests of 300 ms took {took:?}");
}

/// A backend on [::1] alone (as dev servers that bind "localhost" often
/// are), with a WebSocket echo of one frame too.
fn ipv6_only_backend() -> Backend {
    let Ok(listener) = TcpListener::bind("[::1]:0") else { skip("no IPv6 loopback here") };
    Backend::on(listener, |seen, conn| {
        if seen.header("upgrade").is_some() {
            let key = seen.header("sec-websocket-key").unwrap_or_default();
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                ws_accept(key)
            );
            let _ = conn.get_mut().write_all(head.as_bytes());
            if let Ok((opcode, payload, _)) = read_frame(conn) {
                let _ = write_frame(conn.get_mut(), opcode, &payload, None);
            }
            return;
        }
        respond(conn, "200 OK", "text/plain", b"from ::1\n");
    })
}

/// A request and a WebSocket frame through a proxy to `target`.
fn assert_reaches_ipv6_backend(home: &Home, target: &str) {
    let proxy = home.proxy(target, &[]);
    let got = curl(home, &[&proxy.url]);
    assert_eq!((got.status, got.body.as_str()), (200, "from ::1\n"), "target {target}: {got:?}");

    let mut tls = tls_connect(&tls_config(home, &[b"http/1.1"]), proxy.port);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        proxy.port
    );
    tls.write_all(request.as_bytes()).expect("send the upgrade");
    let response = read_response(&mut tls, true).expect("an answer to the upgrade");
    assert_eq!(response.status, 101, "target {target}: {response:?}");
    write_frame(&mut tls, 0x1, b"v6", Some([4, 3, 2, 1])).expect("send a frame");
    let (_, echo, _) = read_frame(&mut tls).expect("the echo");
    assert_eq!(echo, b"v6", "target {target}");
}

fn a_backend_named_by_its_ipv6_address_is_reached() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-v6-named");
    let backend = ipv6_only_backend();
    assert_reaches_ipv6_backend(&home, &format!("[::1]:{}", backend.port));
}

/// A port alone is localhost:PORT, which "tries 127.0.0.1 and ::1" (the
/// proxy's own words): whatever /etc/hosts says localhost is.
fn a_port_alone_reaches_a_backend_on_ipv6_loopback_only() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-v6-port");
    let backend = ipv6_only_backend();
    assert_reaches_ipv6_backend(&home, &backend.target());
}

fn proxies_started_together_share_one_new_ca() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-race");
    let backend = Backend::start(|_, conn| respond(conn, "200 OK", "text/plain", b"ok\n"));
    // Six first runs at once, none of them finding a CA: each waits, in a
    // shell, for a FIFO to open, then execs berth (same pid), so all six
    // start in the same moment.
    let gate = home.dir.path.join("gate");
    let gate_c = std::ffi::CString::new(gate.as_os_str().as_encoded_bytes()).expect("a path without NUL");
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(gate_c.as_ptr(), 0o600) }, 0, "mkfifo {}", gate.display());
    let mut children = Vec::new();
    for i in 0..6 {
        let log = std::fs::File::create(home.dir.path.join(format!("proxy{i}.log"))).expect("a log file");
        let child = Command::new("sh")
            .args(["-c", ": < \"$1\"; exec \"$2\" proxy \"$3\" --port 0", "sh"])
            .arg(&gate)
            .arg(env!("CARGO_BIN_EXE_berth"))
            .arg(backend.target())
            .env("HOME", home.home())
            .env("XDG_DATA_HOME", home.data())
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start berth proxy");
        children.push(KillOnDrop(child));
    }
    // Open the gate once they all wait (bounded: the shells start in
    // milliseconds), hold it a moment for any late one, close it.
    std::thread::sleep(Duration::from_millis(300));
    let opened = poll_until(Duration::from_secs(5), || {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&gate).ok()
    });
    assert!(opened.is_some(), "no proxy waited at the gate");
    std::thread::sleep(Duration::from_millis(500));
    drop(opened);
    let log_of = |i: usize| std::fs::read_to_string(home.dir.path.join(format!("proxy{i}.log"))).unwrap_or_default();
    let mut urls = Vec::new();
    for (i, child) in children.iter_mut().enumerate() {
        let url = poll_until(Duration::from_secs(15), || {
            let log = log_of(i);
            if let Some(line) = log.lines().find(|l| l.starts_with("berth: proxying ")) {
                return Some(Ok(https_url_in(line).unwrap_or_default().to_string()));
            }
            match child.0.try_wait() {
                Ok(Some(status)) => Some(Err(format!("exited ({status}):\n{log}"))),
                _ => None,
            }
        });
        match url {
            Some(Ok(url)) => urls.push(url),
            Some(Err(why)) => panic!("proxy {i} of 6 started at once with no CA {why}"),
            None => panic!("proxy {i} printed no URL:\n{}", log_of(i)),
        }
    }
    // And every one's leaf chains to the root on disk.
    for url in &urls {
        let got = curl(&home, &[url]);
        assert_eq!(got.status, 200, "{url}: {got:?}");
    }
}

fn cors_origins_get_their_headers_and_quiet_logs_nothing() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-cors");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--cors", "https://app.example", "-q"]);
    let preflight =
        ["-X", "OPTIONS", "-H", "Access-Control-Request-Method: PUT", "-H", "Access-Control-Request-Headers: x-thing"];
    let mut args = preflight.to_vec();
    args.extend(["-H", "Origin: https://app.example", &proxy.url]);
    let got = curl(&home, &args);
    assert_eq!(got.status, 204, "{got:?}");
    assert_eq!(got.header("access-control-allow-origin"), Some("https://app.example"), "{got:?}");
    assert_eq!(got.header("access-control-allow-methods"), Some("PUT"), "{got:?}");
    assert_eq!(backend.hits(), 0, "the preflight went to the backend");

    let got = curl(&home, &["-H", "Origin: https://app.example", &proxy.url]);
    assert_eq!((got.status, got.header("access-control-allow-origin")), (200, Some("https://app.example")), "{got:?}");
    // Another origin is not granted anything.
    let mut args = preflight.to_vec();
    args.extend(["-H", "Origin: https://evil.example", &proxy.url]);
    let got = curl(&home, &args);
    assert_eq!(got.header("access-control-allow-origin"), None, "{got:?}");
    let got = curl(&home, &["-H", "Origin: https://evil.example", &proxy.url]);
    assert_eq!(got.header("access-control-allow-origin"), None, "{got:?}");

    let log = proxy.stderr();
    assert!(!log.contains(" GET /") && !log.contains(" OPTIONS /"), "-q, yet requests were logged:\n{log}");
}

/// A backend that answers an upload before reading it: a 413 at once, then
/// either the body read and dropped (`/drain`) or the connection closed
/// after a moment, the body unread (as many servers do past a limit).
fn early_answer_backend() -> Backend {
    Backend::start(|seen, conn| {
        let body = b"too large\n";
        let head = format!("HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let stream = conn.get_mut();
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
        if seen.target == "/drain" {
            let _ = count_body(seen, conn);
        } else {
            let _ = conn.get_ref().shutdown(std::net::Shutdown::Write);
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// curl uploading 64 MiB to `url` at once (no Expect: 100-continue, as the
/// direct control): its output (the body, then -w's status).
fn upload_64_mib(home: &Home, flag: &str, url: &str) -> Output {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "head -c {} /dev/zero | curl -sS --noproxy '*' --max-time 30 {flag} -H Expect: --cacert \"$1\" -T - -w ' %{{http_code}}' \"$2\"",
            64 << 20
        ))
        .arg("sh")
        .arg(home.root_pem())
        .arg(url)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_within(command, &format!("a 64 MiB upload {flag}"), Duration::from_secs(60))
}

fn an_early_answer_to_an_upload_reaches_the_client() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-early");
    let backend = early_answer_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    for flag in ["--http1.1", "--http2"] {
        let out = upload_64_mib(&home, flag, &format!("{}drain", proxy.url));
        assert_eq!(out.stdout, "too large\n 413", "{flag}, a backend that drains the upload: {out:?}");
    }
}

fn an_early_answer_from_a_backend_that_hangs_up_reaches_the_client() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-early-close");
    let backend = early_answer_backend();
    // Without the proxy curl gets the 413, mid-upload (no Expect: it sends
    // at once), as the test's own control ...
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "head -c {} /dev/zero | curl -sS --noproxy '*' --max-time 30 -H Expect: -T - -w ' %{{http_code}}' \"$1\"",
            64 << 20
        ))
        .arg("sh")
        .arg(format!("http://127.0.0.1:{}/close", backend.port))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let direct = run_within(command, "a 64 MiB upload, direct", Duration::from_secs(60));
    assert_eq!(direct.stdout, "too large\n 413", "straight to the backend: {direct:?}");
    // ... and through the proxy it should too, every time (the proxy closing
    // with the rest of the upload unread resets the connection, and the
    // reset can overtake the answer: so several tries).
    let proxy = home.proxy(&backend.target(), &[]);
    for attempt in 0..5 {
        let out = upload_64_mib(&home, "--http1.1", &format!("{}close", proxy.url));
        assert_eq!(out.stdout, "too large\n 413", "try {attempt}, the backend answered and hung up: {out:?}");
    }
}

/// A backend that keeps connections alive, as most do, and closes one
/// idle for 100 ms (Node's keepAliveTimeout, shortened).
fn keep_alive_backend() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a backend");
    let port = listener.local_addr().expect("the backend's address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = ServerThread::start_for(listener, 64, Duration::from_secs(60), move |stream| {
        let log = log.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let mut conn = BufReader::new(stream);
            for _ in 0..100 {
                let Some(request) = read_head(&mut conn) else { return };
                log.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
                let _ = count_body(&request, &mut conn);
                let body = format!("answer to {}\n", request.target);
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len());
                if conn.get_mut().write_all(format!("{head}{body}").as_bytes()).is_err() {
                    return;
                }
            }
        });
    });
    Backend { port, seen, server }
}

/// Over HTTP/2 the early answer must arrive and the stream end with
/// RST_STREAM(NO_ERROR) (RFC 9113 §8.1). Node's client here: curl 7.88
/// takes NO_ERROR during an upload for a failure and drops the answer.
fn an_early_answer_over_http2_ends_the_stream_cleanly() {
    let _serial = serial();
    let node = require_program("node", "nodejs");
    let home = Home::new("proxy-early-h2");
    let backend = early_answer_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    let script = "const http2 = require('http2'); const fs = require('fs');\n\
        const [url, ca] = process.argv.slice(1);\n\
        const client = http2.connect(url, { ca: fs.readFileSync(ca) });\n\
        const req = client.request({ ':method': 'PUT', ':path': '/close' });\n\
        let status = 0, body = '';\n\
        req.on('response', h => { status = h[':status']; });\n\
        req.on('data', d => { body += d; });\n\
        req.on('error', e => { console.log('error ' + e.code); });\n\
        req.on('close', () => { console.log(status + ' ' + JSON.stringify(body) + ' rst ' + req.rstCode); client.destroy(); });\n\
        const chunk = Buffer.alloc(65536); let sent = 0;\n\
        function pump() { while (sent < 64 << 20) { sent += chunk.length; if (!req.write(chunk)) { req.once('drain', pump); return; } } req.end(); }\n\
        pump();\n\
        setTimeout(() => { console.log('no end in 5 s: status ' + status + ', body ' + JSON.stringify(body) + ', sent ' + sent); process.exit(1); }, 5000).unref();\n";
    // A race (the backend's hang-up against the answer's end): a few tries,
    // each on a connection of its own.
    for attempt in 0..3 {
        let mut command = Command::new(&node);
        command
            .args(["-e", script])
            .arg(&proxy.url)
            .arg(home.root_pem())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = run_within(command, "node's http2 upload", Duration::from_secs(30));
        assert_eq!(
            out.stdout.trim(),
            "413 \"too large\\n\" rst 0",
            "try {attempt}: the answer came, but the stream never ended (the proxy stopped reading the upload \
             without a reset, so the client waits for flow control for ever)? {out:?}"
        );
    }
}

fn kept_alive_backend_connections_are_reused_and_stale_ones_never_show() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-keepalive");
    let backend = keep_alive_backend();
    let proxy = home.proxy(&backend.target(), &[]);
    // Ten requests on one client connection, back to back.
    let urls: Vec<String> = (0..10).map(|i| format!("{}k/{i}", proxy.url)).collect();
    let mut command = Command::new(CURL);
    command
        .args(["-sS", "--noproxy", "*", "--max-time", "20", "--http1.1", "--cacert"])
        .arg(home.root_pem())
        .args(["-w", "%{http_code}\n"])
        .args(&urls)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_within(command, "curl, ten requests", Duration::from_secs(30));
    let expected: String = (0..10).map(|i| format!("answer to /k/{i}\n200\n")).collect();
    assert_eq!(out.stdout, expected, "{out:?}");
    assert!(backend.connections() <= 3, "{} backend connections for 10 requests in a row", backend.connections());

    // Now each request after the backend closed the idle connection: a
    // stale pooled connection must never show as a 502.
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(250));
        let got = curl(&home, &[&format!("{}late/{i}", proxy.url)]);
        assert_eq!((got.status, got.body.as_str()), (200, format!("answer to /late/{i}\n").as_str()), "{got:?}");
    }
}

fn response_headers_pass_as_the_backend_sent_them() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-response-headers");
    let backend = Backend::start(|seen, conn| {
        let head = match seen.target.as_str() {
            "/not-modified" => "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n".to_string(),
            "/created" => "HTTP/1.1 201 Created\r\nLocation: /things/7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            _ => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\nSet-Cookie: a=1; Path=/\r\n\
                 Set-Cookie: b=2; Path=/\r\nX-App: yes\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n\r\n{}",
                if seen.method == "HEAD" { String::new() } else { "x".repeat(1234) }
            ),
        };
        let _ = conn.get_mut().write_all(head.as_bytes());
    });
    let proxy = home.proxy(&backend.target(), &[]);
    for flag in ["--http1.1", "--http2"] {
        let got = curl(&home, &[flag, &proxy.url]);
        assert_eq!((got.status, got.body.len()), (200, 1234), "{flag}: {got:?}");
        let cookies: Vec<&str> =
            got.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"], "{flag}: {got:?}");
        assert_eq!(got.header("x-app"), Some("yes"), "{flag}: {got:?}");
        assert_eq!(got.header("x-hop"), None, "{flag}: a header the backend's Connection names came through: {got:?}");
        assert_eq!(got.header("keep-alive"), None, "{flag}: {got:?}");

        let got = curl(&home, &[flag, "-I", &proxy.url]);
        assert_eq!((got.status, got.header("content-length")), (200, Some("1234")), "{flag} HEAD: {got:?}");

        let got = curl(&home, &[flag, &format!("{}not-modified", proxy.url)]);
        assert_eq!((got.status, got.header("etag"), got.body.as_str()), (304, Some("\"v1\""), ""), "{flag}: {got:?}");
        let got = curl(&home, &[flag, "-X", "POST", &format!("{}created", proxy.url)]);
        assert_eq!((got.status, got.header("location")), (201, Some("/things/7")), "{flag}: {got:?}");
    }
}

fn connections_past_the_limit_wait_and_silent_ones_go_after_the_handshake_limit() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-limits");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--max-connections", "2"]);
    // Two connections that never say a word hold both places.
    let mut silent: Vec<TcpStream> =
        (0..2).map(|_| TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect to the proxy")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    std::thread::scope(|scope| {
        // A third client waits (it is not refused) ...
        let waiting = scope.spawn(|| curl(&home, &["--max-time", "20", &proxy.url]));
        std::thread::sleep(Duration::from_secs(2));
        assert!(!waiting.is_finished(), "a third connection was served past --max-connections 2");
        // ... until the proxy drops the silent ones, 10 s after they came.
        for stream in &mut silent {
            stream.set_read_timeout(Some(Duration::from_secs(15))).expect("read timeout");
            let mut byte = [0u8; 1];
            let closed = matches!(stream.read(&mut byte), Ok(0) | Err(_));
            assert!(closed, "a silent connection got data");
        }
        let dropped_after = started.elapsed() + Duration::from_millis(300);
        assert!(
            dropped_after > Duration::from_secs(9) && dropped_after < Duration::from_secs(13),
            "silent connections dropped after {dropped_after:?} (the handshake limit is 10 s)"
        );
        let got = waiting.join().expect("the waiting client");
        assert_eq!(got.status, 200, "the client that waited: {got:?}");
    });
}

/// "Exit codes: 0 stopped by a signal" (berth proxy --help); like serve
/// and mock it ends by the signal itself, so either is taken here: what
/// matters is that it stops at once, without a panic.
fn a_signal_stops_the_proxy() {
    let _serial = serial();
    use std::os::unix::process::ExitStatusExt;
    let home = Home::new("proxy-signal");
    let backend = echo_backend();
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut proxy = home.proxy(&backend.target(), &[]);
        // SAFETY: kill on the pid of our own child, not yet reaped.
        unsafe { libc::kill(proxy.pid() as libc::pid_t, signal) };
        let status =
            proxy.wait_exit(Duration::from_secs(5)).unwrap_or_else(|| panic!("still running 5 s after {name}"));
        assert!(
            status.code() == Some(0) || status.signal() == Some(signal),
            "after {name}: {status:?}\n{}",
            proxy.stderr()
        );
        assert!(!proxy.stderr().contains("panicked"), "{}", proxy.stderr());
    }
}

/// With --max-connections 1 one connection is served at a time, one after
/// another, on either address.
fn one_connection_at_a_time_is_served_one_after_another() {
    let _serial = serial();
    require_program(CURL, "curl");
    let home = Home::new("proxy-one-at-a-time");
    let backend = echo_backend();
    let proxy = home.proxy(&backend.target(), &["--max-connections", "1"]);
    let v6 = if has_ipv6_loopback() { "[::1]" } else { "127.0.0.1" };
    for address in ["127.0.0.1", v6, "127.0.0.1", "127.0.0.1", v6] {
        let got = curl(&home, &["--max-time", "5", &format!("https://{address}:{}/", proxy.port)]);
        assert_eq!(
            got.status, 200,
            "a new connection to {address} after the last one closed, --max-connections 1 (a place held by an idle accept loop?): {got:?}"
        );
    }
}

fn bad_input_is_refused_clearly() {
    let _serial = serial();
    let home = Home::new("proxy-bad");
    let backend = echo_backend();

    // A port someone else holds.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let (code, _, stderr) = home.run(&["proxy", &backend.target(), "--port", &port]);
    assert!(code == 2 && stderr.contains(&port), "a taken --port {port}: exit {code}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, _, stderr) = home.run(&["proxy", &backend.target(), "--port", "0", "--http-port", &port]);
    assert!(code == 2 && stderr.contains(&port), "a taken --http-port {port}: exit {code}\n{stderr}");
    drop(taken);

    // Options the proxy cannot honour.
    for (args, says) in [
        (vec!["--name", "myapp.test"], "berth ca install --name myapp.test"),
        (vec!["--token=short"], "--token"),
        (vec!["--auth", "no-colon"], "--auth"),
        (vec!["--auth", "u:p", "--token"], "--token"),
    ] {
        let mut all = vec!["proxy", "3000", "--port", "0"];
        all.extend_from_slice(&args);
        let (code, _, stderr) = home.run(&all);
        assert!(code == 2 && stderr.contains(says), "berth {all:?}: exit {code}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }

    // Targets that are no backend.
    for target in ["70000", "nope", "127.0.0.1:", "127.0.0.1:70000", ""] {
        let (code, _, stderr) = home.run(&["proxy", target]);
        assert_eq!(code, 2, "berth proxy {target:?}:\n{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.trim().is_empty(), "berth proxy {target:?}:\n{stderr}");
    }

    // The CA is made once and kept.
    drop(home.proxy(&backend.target(), &[]));
    let root = std::fs::read(home.root_pem()).expect("root.pem after a first run");
    let key = home.ca_file("intermediate-key.pem");
    assert!(key.is_file(), "no {}", key.display());
    drop(home.proxy(&backend.target(), &[]));
    assert!(std::fs::read(home.root_pem()).expect("root.pem") == root, "a second run made a new root");

    // A CA key that is garbage.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        .expect("spoil the key");
    let (code, _, stderr) = home.run(&["proxy", &backend.target(), "--port", "0"]);
    assert_eq!(code, 4, "a spoilt CA key: exit {code}\n{stderr}");
    assert!(stderr.contains("intermediate-key.pem"), "the error does not name the file:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::write(&key, b"\x00\x01 not even PEM").expect("spoil the key");
    let (code, _, stderr) = home.run(&["proxy", &backend.target(), "--port", "0"]);
    assert!(code == 4 && stderr.contains("intermediate-key.pem"), "a key that is not PEM: exit {code}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

tests![
    both_http_versions_and_python_get_the_backends_answer,
    forwarded_headers_reach_the_backend_and_host_is_the_backends,
    websocket_frames_echo_through_the_proxy,
    a_gibibyte_streams_each_way_in_bounded_memory,
    server_sent_events_pass_unbuffered,
    a_backend_down_gets_a_502_naming_it_then_200_once_up,
    a_token_guards_the_proxy_and_its_login_works_once,
    basic_auth_guards_the_proxy,
    foreign_host_headers_are_refused_unless_allowed,
    plain_http_is_redirected_to_https,
    a_backend_that_dies_mid_answer_is_not_passed_off_as_complete,
    many_requests_at_once_over_one_http2_connection_each_get_their_answer,
    a_backend_named_by_its_ipv6_address_is_reached,
    a_port_alone_reaches_a_backend_on_ipv6_loopback_only,
    proxies_started_together_share_one_new_ca,
    cors_origins_get_their_headers_and_quiet_logs_nothing,
    an_early_answer_to_an_upload_reaches_the_client,
    an_early_answer_from_a_backend_that_hangs_up_reaches_the_client,
    an_early_answer_over_http2_ends_the_stream_cleanly,
    kept_alive_backend_connections_are_reused_and_stale_ones_never_show,
    response_headers_pass_as_the_backend_sent_them,
    connections_past_the_limit_wait_and_silent_ones_go_after_the_handshake_limit,
    a_signal_stops_the_proxy,
    one_connection_at_a_time_is_served_one_after_another,
    a_name_under_localhost_gets_a_certificate_and_is_allowed,
    bad_input_is_refused_clearly,
];
