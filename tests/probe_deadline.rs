//! Every read and write of `probe` and `audit` ends by its deadline, however
//! a local service behaves: one that trickles its TLS handshake a byte at a
//! time and never finishes, one that trickles its answer after a good
//! handshake, plain-text services that drip their banner or HTTP answer, and
//! services that read the request slowly or never (the write path).
//!
//! Each service here is a thread of the test on a port the kernel picked.
//! Each berth run has a time limit well above its bound, so a berth that
//! hangs fails the test (killed by pid) instead of stalling the suite.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// How long a trickling service waits between two bytes: shorter than any
/// timeout berth was given, so that a timeout per system call never fires.
const TRICKLE: Duration = Duration::from_millis(300);
/// The longest any service thread here lives.
const SERVICE_LIFE: Duration = Duration::from_secs(60);
/// The time limit of one `berth probe` run: a hang fails the test here.
const PROBE_LIMIT: Duration = Duration::from_secs(15);
/// The time limit of one `berth audit` run.
const AUDIT_LIMIT: Duration = Duration::from_secs(30);

/// A hostile local service: accepts connections (at most 64, for at most
/// [`SERVICE_LIFE`]) and runs `serve` on each in a thread of its own.
/// `serve` gets the stop flag and must return soon after it is set; every
/// thread is stopped and joined on drop.
struct Hostile {
    port: u16,
    stop: Arc<AtomicBool>,
    /// Bytes the service trickled to berth, over all connections.
    trickled: Arc<AtomicUsize>,
    acceptor: Option<JoinHandle<()>>,
}

type Serve = dyn Fn(TcpStream, &Service) + Send + Sync;

/// What a connection's `serve` can see.
struct Service {
    stop: Arc<AtomicBool>,
    trickled: Arc<AtomicUsize>,
}

impl Service {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends `bytes` one at a time, [`TRICKLE`] apart, until they run out,
    /// berth goes away, the test stops the service, or its life ends.
    fn trickle(&self, stream: &mut TcpStream, bytes: impl IntoIterator<Item = u8>, every: Duration) {
        let started = Instant::now();
        for byte in bytes {
            if self.stopped() || started.elapsed() > SERVICE_LIFE || stream.write_all(&[byte]).is_err() {
                return;
            }
            self.trickled.fetch_add(1, Ordering::Relaxed);
            self.pause(every);
        }
    }

    /// Sleeps `time`, waking early when the service is stopped.
    fn pause(&self, time: Duration) {
        let until = Instant::now() + time;
        // Bounded: 10 ms steps up to `time`.
        while !self.stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10).min(until.saturating_duration_since(Instant::now())));
        }
    }

    /// Reads until the end of a request head (or, for a TLS hello or other
    /// binary, whatever came first), berth closes, or 5 s pass.
    fn read_request(&self, stream: &mut TcpStream) -> Vec<u8> {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let started = Instant::now();
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        // Bounded: 5 s of 100 ms reads.
        while !self.stopped() && started.elapsed() < Duration::from_secs(5) {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            if request.first() == Some(&0x16) || request.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        request
    }
}

impl Hostile {
    fn start(serve: impl Fn(TcpStream, &Service) + Send + Sync + 'static) -> Hostile {
        let (listener, _) = listener_v4();
        Hostile::on(listener, serve)
    }

    /// As [`Hostile::start`], on a listener the caller made (in a network namespace, say).
    fn on(listener: TcpListener, serve: impl Fn(TcpStream, &Service) + Send + Sync + 'static) -> Hostile {
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let trickled = Arc::new(AtomicUsize::new(0));
        let serve: Arc<Serve> = Arc::new(serve);
        let (stop2, trickled2) = (stop.clone(), trickled.clone());
        let acceptor = std::thread::spawn(move || {
            let started = Instant::now();
            let connections: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
            // Bounded: 64 connections, SERVICE_LIFE, or until stopped.
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < SERVICE_LIFE {
                if connections.lock().unwrap().len() >= 64 {
                    break;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking stream");
                        let service = Service { stop: stop2.clone(), trickled: trickled2.clone() };
                        let serve = serve.clone();
                        connections.lock().unwrap().push(std::thread::spawn(move || serve(stream, &service)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for connection in connections.into_inner().unwrap() {
                let _ = connection.join();
            }
        });
        Hostile { port, stop, trickled, acceptor: Some(acceptor) }
    }

    fn trickled(&self) -> usize {
        self.trickled.load(Ordering::Relaxed)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A TLS server that never finishes its handshake: to a ClientHello it
/// answers with the header of a full-size handshake record and a
/// ServerHello's first bytes, then one byte per [`TRICKLE`], forever. Plain
/// text gets nginx's answer on a TLS port, a 400, so the audit tries TLS.
fn tls_trickler(mut stream: TcpStream, service: &Service) {
    let request = service.read_request(&mut stream);
    if request.first() == Some(&0x16) {
        // Handshake record, TLS 1.2 framing, 16384 bytes; ServerHello, 16380 bytes, version 1.2.
        let hello = [0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc, 0x03, 0x03];
        service.trickle(&mut stream, hello.into_iter().chain(std::iter::repeat(0x2a)), TRICKLE);
    } else if !request.is_empty() {
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

/// A TLS server configuration with a certificate for localhost and 127.0.0.1.
fn tls_config() -> Arc<rustls::ServerConfig> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("a certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    Arc::new(config)
}

/// A TLS server whose handshake is quick and whose answer is not: the
/// encrypted records of a 200 with a 2 KiB body go out one byte per
/// [`TRICKLE`]. rustls reads until it has a whole record, so every read
/// berth makes returns a byte, well within any timeout per read.
fn tls_answer_trickler(config: Arc<rustls::ServerConfig>) -> impl Fn(TcpStream, &Service) + Send + Sync {
    move |mut stream, service| {
        let Ok(mut tls) = rustls::ServerConnection::new(config.clone()) else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        // Bounded: a handful of flights, each read within 5 s.
        for _ in 0..16 {
            if !tls.is_handshaking() || tls.complete_io(&mut stream).is_err() {
                break;
            }
        }
        if tls.is_handshaking() {
            return;
        }
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        // Bounded: 64 records at most.
        for _ in 0..64 {
            if request.windows(4).any(|w| w == b"\r\n\r\n") || tls.complete_io(&mut stream).is_err() {
                break;
            }
            match tls.reader().read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
        let body = vec![b'x'; 2048];
        let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        answer.extend_from_slice(&body);
        if tls.writer().write_all(&answer).is_err() {
            return;
        }
        let mut records = Vec::new();
        // Bounded: the records of one answer.
        while tls.wants_write() {
            if tls.write_tls(&mut records).is_err() {
                return;
            }
        }
        service.trickle(&mut stream, records, TRICKLE);
    }
}

/// The berth binary with a clean environment (as `run_berth`), behind
/// `wrapper` (such as `ip netns exec NAME`) if one is given.
fn berth_command(wrapper: &[&str], args: &[&str]) -> std::process::Command {
    let berth = env!("CARGO_BIN_EXE_berth");
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = std::process::Command::new(program);
            command.args(rest).arg(berth);
            command
        }
        None => std::process::Command::new(berth),
    };
    command
        .args(args)
        .env_remove("BERTH_SOURCE")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Runs berth within `limit` (killed by pid and the test failed beyond
/// it); returns its output and how long it took.
fn timed_berth(wrapper: &[&str], args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let what =
        format!("berth {}", args.iter().map(|a| a.chars().take(60).collect::<String>()).collect::<Vec<_>>().join(" "));
    let out = run_within(berth_command(wrapper, args), &what, limit);
    let took = started.elapsed();
    assert!(!out.stderr.contains("panicked"), "{what} panicked: {}", out.stderr);
    (out, took)
}

/// `berth probe TARGET --timeout SECONDS --json`: exit code, the report's
/// first address, how long it took.
fn probe(wrapper: &[&str], target: &str, timeout: &str) -> (i32, Value, Duration) {
    let (out, took) = timed_berth(wrapper, &["probe", target, "--timeout", timeout, "--json"], PROBE_LIMIT);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("probe {target}: not JSON ({e}):\n{}\n{}", out.stdout, out.stderr));
    (out.code, report["addresses"][0].clone(), took)
}

fn a_trickled_tls_handshake_ends_probe_at_its_timeout() {
    let _serial = serial();
    let trickler = Hostile::start(tls_trickler);
    let (code, address, took) = probe(&[], &format!("https://127.0.0.1:{}/", trickler.port), "1");
    assert!(took < Duration::from_secs(4), "probe --timeout 1 took {took:?}: {address:#}");
    // The port is open, so the exit is 0, as documented; the TLS part says what happened.
    assert_eq!(code, 0, "{address:#}");
    assert_eq!(address["state"], "open", "{address:#}");
    let error = address["tls"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out") && error.contains("byte"), "{address:#}");
    assert_eq!(address["http"], Value::Null, "no HTTP without a handshake: {address:#}");
    assert!(trickler.trickled() > 0, "the service never trickled: the test did not reach the handshake");
}

fn a_trickled_tls_answer_ends_probe_at_its_timeout() {
    let _serial = serial();
    let trickler = Hostile::start(tls_answer_trickler(tls_config()));
    let (code, address, took) = probe(&[], &format!("https://127.0.0.1:{}/", trickler.port), "2");
    assert!(took < Duration::from_secs(5), "probe --timeout 2 took {took:?}: {address:#}");
    assert_eq!(code, 0, "{address:#}");
    assert_eq!(address["tls"]["version"], "TLSv1.3", "the handshake itself is quick: {address:#}");
    let error = address["http"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{address:#}");
    assert!(trickler.trickled() > 0, "the service never trickled its answer");
}

fn a_trickled_tls_handshake_ends_audit_within_its_budget() {
    let _serial = serial();
    let handshake = Hostile::start(tls_trickler);
    let answer = Hostile::start(tls_answer_trickler(tls_config()));
    // A plain HTTP answer that never ends: the status line, then a byte at a time.
    let http = Hostile::start(|mut stream, service| {
        if !service.read_request(&mut stream).is_empty() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            service.trickle(&mut stream, std::iter::repeat(b'X'), TRICKLE);
        }
    });
    let (out, took) =
        timed_berth(&[], &["audit", "--json", "--fail-on", "none", "--timeout", "1", "--budget", "5"], AUDIT_LIMIT);
    // The budget, plus reading the machine's facts and a start-up margin.
    assert!(took < Duration::from_secs(8), "audit --timeout 1 --budget 5 took {took:?}\n{}", out.stderr);
    assert_eq!(out.code, 0, "{}", out.stderr);
    parse_array(&out.stdout, &["audit --json with trickling services"]);
    // Cut off, and said so: not passed over as silent.
    for (service, what) in [(&handshake, "TLS handshake"), (&http, "answer to GET /")] {
        let note = out
            .stderr
            .lines()
            .find(|line| line.contains(&format!("port {} timed out", service.port)))
            .unwrap_or_else(|| panic!("no note for port {} ({what}):\n{}", service.port, out.stderr));
        assert!(note.contains(what) && note.contains(&format!("berth who {}", service.port)), "{note}");
    }
    assert!(handshake.trickled() > 0 && answer.trickled() > 0 && http.trickled() > 0, "a service was not reached");
}

fn dripped_plain_answers_end_probe_at_its_timeout() {
    let _serial = serial();
    // A banner that never ends, a byte every 30 ms (under the pause that ends a banner).
    let banner = Hostile::start(|mut stream, service| {
        service.trickle(&mut stream, b"220 ".iter().copied().chain(std::iter::repeat(b'x')), Duration::from_millis(30));
    });
    let (code, address, took) = probe(&[], &format!("127.0.0.1:{}", banner.port), "1");
    assert!(took < Duration::from_secs(3), "took {took:?}: {address:#}");
    assert_eq!(code, 0);
    assert!(address["banner"]["text"].as_str().unwrap_or_default().starts_with("220 "), "{address:#}");

    // An HTTP answer that never ends.
    let endless = Hostile::start(|mut stream, service| {
        if !service.read_request(&mut stream).is_empty() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            service.trickle(&mut stream, std::iter::repeat(b'X'), TRICKLE);
        }
    });
    let (_, address, took) = probe(&[], &format!("http://127.0.0.1:{}/", endless.port), "1");
    assert!(took < Duration::from_secs(3), "took {took:?}: {address:#}");
    let error = address["http"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out with") && error.contains("bytes of the answer"), "{address:#}");
}

fn a_redirect_chain_of_slow_answers_ends_probe_at_its_timeout() {
    let _serial = serial();
    // Redirects to the same host, each answer dripped so that it takes most
    // of the timeout: the timeout is for the whole address, not per request.
    let redirects = Hostile::start(|mut stream, service| {
        let request = service.read_request(&mut stream);
        let path = String::from_utf8_lossy(&request).split(' ').nth(1).unwrap_or("/0").to_string();
        let next: u32 = path.trim_start_matches('/').parse().unwrap_or(0) + 1;
        let answer = format!("HTTP/1.1 302 Found\r\nLocation: /{next}\r\nContent-Length: 0\r\n\r\n");
        service.trickle(&mut stream, answer.into_bytes(), Duration::from_millis(15));
    });
    let (_, address, took) = probe(&[], &format!("http://127.0.0.1:{}/0", redirects.port), "1");
    assert!(took < Duration::from_secs(3), "a redirect chain took {took:?} for --timeout 1: {address:#}");
    let error = address["http"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{address:#}");
}

/// A listener on 127.0.0.1 inside `netns` (made on a thread that enters it).
fn listener_in(netns: &NetnsGuard) -> TcpListener {
    in_netns(netns, || TcpListener::bind("127.0.0.1:0").expect("bind in the namespace"))
}

/// `berth probe http://127.0.0.1:PORT/aaa...` (a 100 KB request) against
/// the service `serve` in a namespace whose socket buffers are 4 KiB, so
/// that the request cannot sit in the kernel and berth's writes must wait
/// for the service (on the host, loopback buffers hold megabytes).
fn probe_with_a_large_request(serve: impl Fn(TcpStream, &Service) + Send + Sync + 'static, kind: &str) {
    let netns = NetnsGuard::create("deadline-write");
    run_in(&netns, &["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 4096 4096", "net.ipv4.tcp_rmem=4096 4096 4096"]);
    let service = Hostile::on(listener_in(&netns), serve);
    let wrapper = netns.exec();
    let target = format!("http://127.0.0.1:{}/{}", service.port, "a".repeat(100_000));
    let (code, address, took) = probe(&wrapper, &target, "2");
    assert!(took < Duration::from_millis(3500), "a service that reads {kind}: probe --timeout 2 took {took:?}");
    assert_eq!(code, 0);
    let error = address["http"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out sending the request"), "reads {kind}: {error}");
    drop(service);
}

fn writes_to_a_service_that_never_reads_end_at_the_timeout() {
    let _serial = serial();
    probe_with_a_large_request(|_stream, service| service.pause(SERVICE_LIFE), "never");
}

fn writes_to_a_service_that_reads_slowly_end_at_the_timeout() {
    let _serial = serial();
    // Takes 512 bytes every 100 ms: every write berth makes gets somewhere,
    // so a timeout per write never fires.
    probe_with_a_large_request(
        |mut stream, service| {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let started = Instant::now();
            let mut chunk = [0u8; 512];
            // Bounded: SERVICE_LIFE of reads, 100 ms apart.
            while !service.stopped() && started.elapsed() < SERVICE_LIFE {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(_) | Err(_) => service.pause(Duration::from_millis(100)),
                }
            }
        },
        "slowly",
    );
}

tests![
    a_trickled_tls_handshake_ends_probe_at_its_timeout,
    a_trickled_tls_answer_ends_probe_at_its_timeout,
    a_trickled_tls_handshake_ends_audit_within_its_budget,
    dripped_plain_answers_end_probe_at_its_timeout,
    a_redirect_chain_of_slow_answers_ends_probe_at_its_timeout,
    writes_to_a_service_that_never_reads_end_at_the_timeout,
    writes_to_a_service_that_reads_slowly_end_at_the_timeout,
];
