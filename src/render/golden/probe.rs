//! `berth probe TARGET`: the localhost trap (open on one family, refused on
//! the other), TLS with a certificate and a redirect chain, banners and a
//! server that hangs up, a timeout, failed handshakes and requests,
//! redirects not followed, an expired certificate, text from outside
//! escaped, colour, and the JSON. Each address's result is built in code
//! (it is what the network said); the target, the plan and the warnings
//! come from berth's own parsing and `family_mismatch`.

use std::net::IpAddr;

use super::{printed, COLOUR, PIPE};
use crate::net::http_client::{Hop, HttpReport};
use crate::net::probe::{family_mismatch, AddressReport, Banner, Plan, ProbeReport, Reach};
use crate::net::resolve::ProbeTarget;
use crate::net::tls_client::{Certificate, TlsReport};
use crate::render::json;
use crate::render::probe::write_report;

/// The report `probe` makes of `target` from what each address said.
fn probed(target: &str, addresses: Vec<AddressReport>) -> ProbeReport {
    let target = ProbeTarget::parse(target).expect("a valid target");
    ProbeReport {
        target: target.text.clone(),
        host: target.host.clone(),
        port: target.port,
        scheme: target.scheme,
        path: target.path.clone(),
        plan: Plan::for_target(&target),
        reachable: addresses.iter().any(|a| a.state == Reach::Open),
        warnings: family_mismatch(&addresses).into_iter().collect(),
        addresses,
    }
}

/// An address that answered the connect in `ms` (None: it timed out).
fn at(address: &str, port: u16, state: Reach, ms: Option<f64>) -> AddressReport {
    let address: IpAddr = address.parse().expect("an address");
    AddressReport {
        address,
        port,
        state,
        error: None,
        connect_ms: ms,
        banner: None,
        closed_by_server: false,
        tls: None,
        http: None,
        accept_queue: None,
    }
}

fn refused(address: &str, port: u16) -> AddressReport {
    AddressReport {
        error: Some("Connection refused (os error 111)".into()),
        ..at(address, port, Reach::Refused, Some(0.05))
    }
}

fn hop(url: &str, status: u16, reason: &str, server: Option<&str>, location: Option<&str>) -> Hop {
    Hop {
        url: url.into(),
        status,
        reason: reason.into(),
        server: server.map(str::to_string),
        location: location.map(str::to_string),
    }
}

/// The HTTP conversation that ended with the last of `hops`.
fn http(method: &'static str, hops: Vec<Hop>) -> HttpReport {
    let last = hops.last();
    HttpReport {
        method,
        status: last.map(|h| h.status),
        reason: last.map(|h| h.reason.clone()),
        server: last.and_then(|h| h.server.clone()),
        hops,
        stopped: None,
        error: None,
    }
}

fn certificate(subject: &str, issuer: &str, expires_in_days: i64) -> Certificate {
    Certificate {
        subject: subject.into(),
        issuer: issuer.into(),
        serial: "1a:2b:3c:4d".into(),
        not_before: "2025-12-01T00:00:00Z".into(),
        not_after: "2026-01-25T00:00:00Z".into(),
        not_after_unix: 1_769_299_200,
        expires_in_days,
        expires_in_seconds: expires_in_days * 86_400 + expires_in_days.signum() * 3_600,
        expired: expires_in_days < 0,
        self_signed: subject == issuer,
        subject_alt_names: vec!["DNS:localhost".into(), "IP:127.0.0.1".into()],
    }
}

fn tls(certificate: Option<Certificate>, verified: Option<bool>, verify_error: Option<&str>) -> TlsReport {
    TlsReport {
        version: Some("TLSv1.3".into()),
        cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
        alpn: Some("http/1.1".into()),
        chain_length: usize::from(certificate.is_some()),
        certificate,
        verified,
        verify_error: verify_error.map(str::to_string),
        ..TlsReport::default()
    }
}

/// localhost:8080 answers HTTP on 127.0.0.1 and refuses on ::1.
fn trap() -> ProbeReport {
    let open = AddressReport {
        http: Some(http(
            "HEAD",
            vec![hop("http://localhost:8080/", 200, "OK", Some("SimpleHTTP/0.6 Python/3.12.3"), None)],
        )),
        ..at("127.0.0.1", 8080, Reach::Open, Some(0.08))
    };
    probed("localhost:8080", vec![open, refused("::1", 8080)])
}

/// https://127.0.0.1:8443/app: a self-signed certificate that expires
/// soon, and a redirect to /app/ followed.
fn tls_and_redirects() -> ProbeReport {
    let hops = vec![
        hop("https://127.0.0.1:8443/app", 301, "Moved Permanently", Some("nginx/1.26.3"), Some("/app/")),
        hop("https://127.0.0.1:8443/app/", 200, "OK", Some("nginx/1.26.3"), None),
    ];
    let open = AddressReport {
        tls: Some(tls(
            Some(certificate("CN=localhost", "CN=localhost", 10)),
            Some(false),
            Some("the certificate's issuer is not one of the trusted roots"),
        )),
        http: Some(http("GET", hops)),
        ..at("127.0.0.1", 8443, Reach::Open, Some(0.11))
    };
    probed("https://127.0.0.1:8443/app", vec![open])
}

#[test]
fn open_on_ipv4_refused_on_ipv6() {
    insta::assert_snapshot!(printed(|out| write_report(out, &trap(), &PIPE)));
}

#[test]
fn open_on_ipv6_refused_on_ipv4() {
    let open = at("::1", 5173, Reach::Open, Some(0.06));
    let report = probed("localhost:5173", vec![refused("127.0.0.1", 5173), open]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn tls_certificate_and_a_redirect_chain() {
    insta::assert_snapshot!(printed(|out| write_report(out, &tls_and_redirects(), &PIPE)));
}

#[test]
fn banners_and_a_server_that_hangs_up() {
    let banner = AddressReport {
        banner: Some(Banner { text: "220 mail.example.test ESMTP Postfix\\r\\n".into(), bytes: 512, truncated: true }),
        ..at("127.0.0.1", 25, Reach::Open, Some(0.09))
    };
    let hangs_up = AddressReport { closed_by_server: true, ..at("::1", 25, Reach::Open, Some(0.07)) };
    let report = probed("localhost:25", vec![banner, hangs_up]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn a_connect_that_times_out() {
    let silent = AddressReport { error: Some("timed out".into()), ..at("192.0.2.7", 5432, Reach::TimedOut, None) };
    insta::assert_snapshot!(printed(|out| write_report(out, &probed("192.0.2.7:5432", vec![silent]), &PIPE)));
}

#[test]
fn a_failed_handshake_and_an_unreachable_address() {
    let failed = AddressReport {
        tls: Some(TlsReport { error: Some("received fatal alert: HandshakeFailure".into()), ..TlsReport::default() }),
        ..at("127.0.0.1", 443, Reach::Open, Some(0.1))
    };
    let unreachable = AddressReport {
        error: Some("Network is unreachable (os error 101)".into()),
        ..at("::1", 443, Reach::Unreachable, Some(0.02))
    };
    let report = probed("localhost:443", vec![failed, unreachable]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn a_redirect_not_followed_and_a_request_not_answered() {
    let elsewhere = AddressReport {
        http: Some(HttpReport {
            stopped: Some("not followed: http://example.org/login is another host".into()),
            ..http("GET", vec![hop("http://localhost:3000/", 302, "Found", None, Some("http://example.org/login"))])
        }),
        ..at("127.0.0.1", 3000, Reach::Open, Some(0.1))
    };
    let unanswered = AddressReport {
        http: Some(HttpReport {
            error: Some("the server closed the connection before answering".into()),
            ..http("GET", Vec::new())
        }),
        ..at("::1", 3000, Reach::Open, Some(0.1))
    };
    let report = probed("http://localhost:3000/", vec![elsewhere, unanswered]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn an_expired_certificate_without_system_roots() {
    let expired = AddressReport {
        tls: Some(TlsReport {
            chain_length: 3,
            ..tls(Some(certificate("CN=intranet.example.test", "CN=Example Internal CA", -3)), None, None)
        }),
        ..at("127.0.0.1", 993, Reach::Open, Some(0.2))
    };
    insta::assert_snapshot!(printed(|out| write_report(out, &probed("127.0.0.1:993", vec![expired]), &PIPE)));
}

#[test]
fn a_san_only_certificate_that_ends_in_12_hours() {
    let san_only = Certificate {
        subject: String::new(),
        not_after: "2026-01-15T19:00:00Z".into(),
        expires_in_seconds: 12 * 3_600 + 120,
        ..certificate("", "CN=Example Internal CA", 0)
    };
    let minutes = Certificate { expires_in_seconds: 45 * 60, subject_alt_names: Vec::new(), ..san_only.clone() };
    let address = |certificate: Certificate, port: u16| AddressReport {
        tls: Some(tls(Some(certificate), Some(true), None)),
        ..at("127.0.0.1", port, Reach::Open, Some(0.2))
    };
    let report = probed("127.0.0.1:993", vec![address(san_only, 993), address(minutes, 993)]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
    // The JSON has the seconds that the words round.
    let json = printed(|out| json::write_value(out, &report));
    assert!(json.contains("\"expires_in_seconds\": 43320"), "{json}");
}

#[test]
fn text_from_outside_is_escaped() {
    let hostile = AddressReport {
        tls: Some(TlsReport {
            alpn: Some("h2\u{1b}[2J".into()),
            ..tls(Some(certificate("CN=ev\u{202e}il", "CN=ev\u{202e}il", 300)), Some(false), Some("bad\nname"))
        }),
        http: Some(http(
            "GET",
            vec![hop("https://127.0.0.1:8443/\u{1b}]0;x\u{7}", 200, "OK\u{1b}[31m", Some("ev\u{2066}il/1.0"), None)],
        )),
        ..at("127.0.0.1", 8443, Reach::Open, Some(0.1))
    };
    let report = probed("https://127.0.0.1:8443/", vec![hostile]);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn trap_in_colour() {
    insta::assert_snapshot!(printed(|out| write_report(out, &trap(), &COLOUR)));
}

#[test]
fn tls_in_colour() {
    insta::assert_snapshot!(printed(|out| write_report(out, &tls_and_redirects(), &COLOUR)));
}

#[test]
fn json_of_the_trap() {
    insta::assert_snapshot!(printed(|out| json::write_value(out, &trap())));
}

#[test]
fn json_of_tls_and_redirects() {
    insta::assert_snapshot!(printed(|out| json::write_value(out, &tls_and_redirects())));
}
