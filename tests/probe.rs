//! `berth probe` against real servers the tests start: loopback listeners
//! on one family or both (the 127.0.0.1 / ::1 trap), a banner-first server,
//! an HTTP server with redirects, a TLS server with a certificate made
//! here, a refused port, a timeout in a network namespace, and bad input.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::http::read_request_head;
use crate::common::*;
use serde_json::Value;

const TRAP: &str = "clients that try ::1 first (localhost) get 'connection refused'; bind [::] or both";

/// A ::1 listener (IPV6_V6ONLY) whose port nothing uses on 127.0.0.1.
fn v6_listener_free_on_v4() -> (TcpListener, u16) {
    quiet(|| listener_v6(Ipv6Addr::LOCALHOST, true), |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::LOCALHOST)))
}

fn open_on_ipv4_only_names_the_trap() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let _server = ServerThread::start(listener, 8, |_| {});

    let (code, report) = probe_json(&[&port.to_string()]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["reachable"], true);
    assert_eq!(report["host"], "localhost");
    assert_eq!(report["addresses"].as_array().map(Vec::len), Some(2), "localhost is both families: {report:#}");
    assert_eq!(at(&report, "127.0.0.1")["state"], "open");
    assert!(at(&report, "127.0.0.1")["connect_ms"].as_f64().is_some());
    assert_eq!(at(&report, "::1")["state"], "refused");
    let warnings = report["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert_eq!(warnings[0]["kind"], "family_mismatch");
    assert_eq!(
        warnings[0]["message"].as_str().unwrap(),
        format!("127.0.0.1:{port} is open but [::1]:{port} refuses: {TRAP}")
    );

    // The same words in the table for people, and localhost:PORT means the same.
    let (code, stdout, stderr) = run_berth(&["probe", &format!("localhost:{port}")], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("127.0.0.1:{port} is open but [::1]:{port} refuses: {TRAP}")), "{stdout}");
    assert!(stdout.contains("refused"), "{stdout}");
}

fn open_on_ipv6_only_names_the_trap_the_other_way() {
    let _serial = serial();
    let (listener, port) = v6_listener_free_on_v4();
    let _server = ServerThread::start(listener, 8, |_| {});

    let (code, report) = probe_json(&[&format!("localhost:{port}")]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(at(&report, "::1")["state"], "open");
    assert_eq!(at(&report, "127.0.0.1")["state"], "refused");
    let warnings = report["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{report:#}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("[::1]:{port} is open but 127.0.0.1:{port} refuses")), "{message}");

    // Naming one address probes only that one: no comparison, no warning.
    let (code, report) = probe_json(&[&format!("[::1]:{port}")]);
    assert_eq!(code, 0);
    assert_eq!(report["addresses"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["warnings"], serde_json::json!([]));
}

fn open_on_both_families_gives_no_warning() {
    let _serial = serial();
    // 127.0.0.1:P first, then [::1]:P; bounded retries when ::1 has P taken.
    let mut pair = None;
    for _ in 0..50 {
        let (v4, port) = listener_v4();
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            pair = Some((v4, v6, port));
            break;
        }
    }
    let (v4, v6, port) = pair.expect("a port free on both 127.0.0.1 and ::1 (50 tries)");
    let _a = ServerThread::start(v4, 8, |_| {});
    let _b = ServerThread::start(v6, 8, |_| {});

    let (code, report) = probe_json(&[&port.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(at(&report, "127.0.0.1")["state"], "open");
    assert_eq!(at(&report, "::1")["state"], "open");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");
    let (_, stdout, _) = run_berth(&["probe", &port.to_string()], &[]);
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(stdout.contains("reachable at 2 of 2 addresses"), "{stdout}");
}

fn a_refused_port_exits_1() {
    let _serial = serial();
    let port = free_port();
    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["reachable"], false);
    assert_eq!(at(&report, "127.0.0.1")["state"], "refused");
    assert_eq!(report["warnings"], serde_json::json!([]));
    // Refused on both families of localhost: not the trap either.
    let (code, report) = probe_json(&[&port.to_string()]);
    assert_eq!(code, 1);
    assert_eq!(report["warnings"], serde_json::json!([]));
}

fn a_server_that_speaks_first_shows_its_banner() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let _server = ServerThread::start(listener, 4, |mut stream| {
        let _ = stream.write_all(b"220 hello\r\n");
        // Keep the connection open a moment, as real servers do.
        let mut buf = [0u8; 64];
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = stream.read(&mut buf);
    });
    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0);
    let entry = at(&report, "127.0.0.1");
    assert_eq!(entry["banner"]["text"], "220 hello\\r\\n", "{entry:#}");
    assert_eq!(entry["banner"]["bytes"], 11);
    assert_eq!(entry["banner"]["truncated"], false);
    assert_eq!(entry["http"], Value::Null, "no HTTP on a port that is not an HTTP port");
    assert_eq!(entry["tls"], Value::Null);

    let (_, stdout, _) = run_berth(&["probe", &format!("127.0.0.1:{port}")], &[]);
    assert!(stdout.contains(r#""220 hello\r\n""#), "the banner is shown escaped: {stdout}");
}

/// A tiny HTTP server: answers each request by path.
fn http_server(listener: TcpListener, port: u16) -> ServerThread {
    ServerThread::start(listener, 32, move |mut stream| {
        let request = read_request_head(&mut stream);
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (status, location) = match path.as_str() {
            "/" => ("301 Moved Permanently", Some("/a".to_string())),
            "/a" => ("302 Found", Some(format!("http://127.0.0.1:{port}/b"))),
            "/b" => ("200 OK", None),
            "/away" => ("302 Found", Some("http://elsewhere.invalid/".to_string())),
            "/loop" => ("307 Temporary Redirect", Some("/loop".to_string())),
            _ => ("404 Not Found", None),
        };
        let mut answer = format!("HTTP/1.1 {status}\r\nServer: berth-test-http/1.0\r\nContent-Length: 0\r\n");
        if let Some(location) = location {
            answer.push_str(&format!("Location: {location}\r\n"));
        }
        answer.push_str("Connection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes());
    })
}

fn http_status_server_and_a_same_host_redirect_chain() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let _server = http_server(listener, port);

    let (code, report) = probe_json(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["scheme"], "http");
    let http = &at(&report, "127.0.0.1")["http"];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["status"], 200, "{http:#}");
    assert_eq!(http["server"], "berth-test-http/1.0");
    let hops: Vec<(String, u64)> = http["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["url"].as_str().unwrap().to_string(), h["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        hops,
        vec![
            (format!("http://127.0.0.1:{port}/"), 301),
            (format!("http://127.0.0.1:{port}/a"), 302),
            (format!("http://127.0.0.1:{port}/b"), 200),
        ]
    );
    assert_eq!(http["stopped"], Value::Null);

    let (_, stdout, _) = run_berth(&["probe", &format!("http://127.0.0.1:{port}/")], &[]);
    assert!(stdout.contains("301 Moved Permanently"), "{stdout}");
    assert!(stdout.contains("200 OK, server berth-test-http/1.0"), "{stdout}");
}

fn redirects_elsewhere_and_loops_are_not_followed() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let server = http_server(listener, port);

    let (code, report) = probe_json(&[&format!("http://127.0.0.1:{port}/away")]);
    assert_eq!(code, 0);
    let http = &at(&report, "127.0.0.1")["http"];
    assert_eq!(http["hops"].as_array().map(Vec::len), Some(1), "{http:#}");
    assert_eq!(http["status"], 302);
    assert!(http["stopped"].as_str().unwrap().contains("another host (elsewhere.invalid)"), "{http:#}");

    let before = server.accepted();
    let (_, report) = probe_json(&[&format!("http://127.0.0.1:{port}/loop")]);
    let http = &at(&report, "127.0.0.1")["http"];
    assert!(http["stopped"].as_str().unwrap().contains("loop"), "{http:#}");
    assert!(server.accepted() - before <= 6, "at most 1 + 5 requests");
}

/// A TLS server on a run-time port with `chain` and its PKCS#8 `key`: each
/// connection's handshake, request head, then `answer` with the stream.
fn tls_server(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
    answer: fn(&mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>),
) -> (ServerThread, u16) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            chain,
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(key)),
        )
        .expect("server config");
    let config = Arc::new(config);
    let (listener, port) = listener_v4();
    let server = ServerThread::start(listener, 8, move |stream| {
        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { return };
        let mut tls = rustls::StreamOwned::new(connection, stream);
        read_request_head(&mut tls);
        answer(&mut tls);
    });
    (server, port)
}

/// A 204 from berth-test-tls, then close_notify.
fn answer_204(tls: &mut rustls::StreamOwned<rustls::ServerConnection, TcpStream>) {
    let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\nServer: berth-test-tls\r\nConnection: close\r\n\r\n");
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// A CA and a leaf certificate for localhost and 127.0.0.1 that it signed.
fn test_certificates(
) -> (rustls::pki_types::CertificateDer<'static>, Vec<u8>, rustls::pki_types::CertificateDer<'static>) {
    use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "berth test CA");
    ca_params.distinguished_name = ca_name;
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "berth probe test");
    name.push(DnType::OrganizationName, "berth");
    params.distinguished_name = name;
    params.not_before = date_time_ymd(2024, 1, 1);
    params.not_after = date_time_ymd(2031, 5, 17);
    let leaf = params.signed_by(&leaf_key, &issuer).expect("leaf certificate");
    (leaf.der().clone(), leaf_key.serialize_der(), ca_cert.der().clone())
}

fn tls_version_certificate_and_http_over_tls() {
    let _serial = serial();
    let (leaf, key, ca) = test_certificates();
    let (_server, port) = tls_server(vec![leaf, ca], key, answer_204);

    let (code, report) = probe_json(&[&format!("https://127.0.0.1:{port}/health")]);
    assert_eq!(code, 0, "{report:#}");
    let entry = at(&report, "127.0.0.1");
    let tls = &entry["tls"];
    assert_eq!(tls["error"], Value::Null, "{tls:#}");
    assert_eq!(tls["version"], "TLSv1.3");
    assert!(tls["cipher_suite"].as_str().unwrap().starts_with("TLS13_"), "{tls:#}");
    let cert = &tls["certificate"];
    assert_eq!(cert["subject"], "CN=berth probe test, O=berth", "{cert:#}");
    assert_eq!(cert["issuer"], "CN=berth test CA");
    assert_eq!(cert["self_signed"], false);
    assert_eq!(cert["not_after"], "2031-05-17T00:00:00Z");
    assert_eq!(cert["not_before"], "2024-01-01T00:00:00Z");
    assert_eq!(cert["expired"], false);
    assert!(cert["expires_in_days"].as_i64().unwrap() > 0);
    assert_eq!(cert["subject_alt_names"], serde_json::json!(["localhost", "127.0.0.1"]));
    assert_eq!(tls["chain_length"], 2);
    // A CA made a moment ago is in no system's roots.
    assert_ne!(tls["verified"], true, "{tls:#}");
    assert_eq!(entry["http"]["status"], 204, "{entry:#}");
    assert_eq!(entry["http"]["server"], "berth-test-tls");
    assert_eq!(entry["http"]["hops"][0]["url"], format!("https://127.0.0.1:{port}/health"));

    let (_, stdout, _) = run_berth(&["probe", &format!("https://127.0.0.1:{port}/health")], &[]);
    for expected in ["TLSv1.3", "CN=berth probe test, O=berth", "CN=berth test CA", "2031-05-17T00:00:00Z", "204"] {
        assert!(stdout.contains(expected), "'{expected}' missing from:\n{stdout}");
    }
}

/// A server whose certificate is a self-signed CA's (CA:TRUE, as many
/// tools make "self-signed" ones) and that closes without close_notify
/// once it has read the request: probe says both in words, not rustls's
/// Debug text ("Other(OtherError(CaUsedAsEndEntity))") or the URL of its
/// manual.
fn tls_errors_are_said_in_words() {
    let _serial = serial();
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "berth self-signed CA");
    let cert = params.self_signed(&key).expect("certificate");
    // No answer and no close_notify: the TCP connection just ends.
    let (_server, port) = tls_server(vec![cert.der().clone()], key.serialize_der(), |tls| {
        let _ = tls.sock.shutdown(std::net::Shutdown::Both);
    });

    let url = format!("https://127.0.0.1:{port}/");
    let (_, report) = probe_json(&[&url]);
    let entry = at(&report, "127.0.0.1");
    let tls = &entry["tls"];
    assert_eq!(tls["error"], Value::Null, "{tls:#}");
    if tls["verified"] == false {
        // Only with system roots to verify against (berth has none of its own).
        assert_eq!(
            tls["verify_error"], "the certificate is a CA certificate used as a server's (a self-signed CA)",
            "{tls:#}"
        );
    }
    let error = entry["http"]["error"].as_str().unwrap_or_else(|| panic!("an HTTP error: {entry:#}"));
    assert_eq!(error, "reading the answer: the server closed the connection without a TLS close_notify");
    let (_, stdout, _) = run_berth(&["probe", &url], &[]);
    for raw in ["OtherError", "docs.rs", "CaUsedAsEndEntity"] {
        assert!(!stdout.contains(raw), "'{raw}' in:\n{stdout}");
    }
}

fn tls_asked_of_a_plain_server_says_so() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let _server = http_server(listener, port);
    let (code, report) = probe_json(&[&format!("https://127.0.0.1:{port}/")]);
    assert_eq!(code, 0, "the port is open even if TLS fails");
    let tls = &at(&report, "127.0.0.1")["tls"];
    assert!(tls["error"].as_str().is_some_and(|e| !e.is_empty()), "{tls:#}");
    assert_eq!(tls["version"], Value::Null);
}

fn a_dropped_connect_times_out() {
    let _serial = serial();
    require_root("a network namespace whose firewall drops SYNs");
    let nft = require_program("nft", "nftables").to_string_lossy().into_owned();
    let netns = NetnsGuard::create("probe-drop");
    let port = released_port();
    let rule = format!("add rule inet berth input tcp dport {port} drop");
    for command in ["add table inet berth", "add chain inet berth input { type filter hook input priority 0 ; }", &rule]
    {
        let args: Vec<&str> = ["netns", "exec", &netns.name, &nft].into_iter().chain(command.split(' ')).collect();
        let (ok, err) = ip(&args);
        assert!(ok, "nft {command}: {err}");
    }
    let started = Instant::now();
    let out = run_berth_wrapped(&netns.exec(), &["probe", &format!("127.0.0.1:{port}"), "-w", "0.5", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let report: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let entry = at(&report, "127.0.0.1");
    assert_eq!(entry["state"], "timed_out", "{report:#}");
    assert_eq!(entry["connect_ms"], Value::Null);

    let out = run_berth_wrapped(&netns.exec(), &["probe", &format!("127.0.0.1:{port}"), "-w", "0.3"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("timed out"), "{}", out.stdout);
}

fn bad_input_exits_2_with_one_line() {
    let _serial = serial();
    for bad in
        ["0", "70000", "abc", "host:", "[::1]80", "::1:80", "ftp://localhost:21/", "http://", "no-such-host.invalid:80"]
    {
        let (code, stdout, stderr) = run_berth(&["probe", bad], &[]);
        assert_eq!(code, 2, "probe {bad:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "probe {bad:?}: one line on stderr, got {stderr:?}");
        assert!(stderr.starts_with("berth: "), "{stderr}");
        assert!(stdout.is_empty());
    }
    let (code, _, stderr) = run_berth(&["probe", "gopher://localhost:70"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid scheme 'gopher' in 'gopher://localhost:70': "), "{stderr}");
    let (code, _, stderr) = run_berth(&["probe", "8080", "-w", "0"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

fn json_fields_match_the_documentation() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let _server = ServerThread::start(listener, 4, |_| {});
    let (_, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(keys_of(&report), documented_fields("## `berth probe TARGET --json`"));
    assert_eq!(keys_of(at(&report, "127.0.0.1")), documented_fields("An **address**"));
}

/// A TLS server on a port berth knows nothing about: plain HTTP gets a TLS
/// alert or a closed connection, so probe asks again with TLS and shows
/// the handshake and the answer over it (it said only "reset without an
/// HTTP answer").
fn tls_on_an_unknown_port_is_found_by_asking_again() {
    let _serial = serial();
    let (leaf, key, ca) = test_certificates();
    let (_server, port) = tls_server(vec![leaf, ca], key, answer_204);

    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "{report:#}");
    let entry = at(&report, "127.0.0.1");
    assert_eq!(entry["tls"]["version"], "TLSv1.3", "{entry:#}");
    assert_eq!(entry["http"]["status"], 204, "{entry:#}");
    assert_eq!(entry["http"]["server"], "berth-test-tls", "{entry:#}");
    let (_, text, _) = run_berth(&["probe", &format!("127.0.0.1:{port}")], &[]);
    assert!(text.contains("TLSv1.3") && text.contains("204"), "{text}");
}

tests![
    open_on_ipv4_only_names_the_trap,
    open_on_ipv6_only_names_the_trap_the_other_way,
    open_on_both_families_gives_no_warning,
    a_refused_port_exits_1,
    a_server_that_speaks_first_shows_its_banner,
    http_status_server_and_a_same_host_redirect_chain,
    redirects_elsewhere_and_loops_are_not_followed,
    tls_version_certificate_and_http_over_tls,
    tls_errors_are_said_in_words,
    tls_asked_of_a_plain_server_says_so,
    a_dropped_connect_times_out,
    bad_input_exits_2_with_one_line,
    json_fields_match_the_documentation,
    tls_on_an_unknown_port_is_found_by_asking_again,
];
