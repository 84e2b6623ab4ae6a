//! Plaintext where TLS is expected, and TLS that a client should not trust.
//!
//! - `tls.plaintext`: a service on a port where clients expect TLS (443,
//!   993, 6443, ...) answers in plaintext, so clients that fall back or are
//!   configured by port send their secrets unencrypted; or an HTTP service
//!   reachable beyond loopback asks for a password (401 with Basic or
//!   Digest) over plaintext, so the password crosses the network readable.
//! - `tls.expired`: the certificate is past its end date, or not valid yet.
//!   Clients either fail or, worse, are told to click through.
//! - `tls.untrusted`: the certificate is self-signed or issued by a CA that
//!   is neither one of the system's roots nor the user's own local CA
//!   (mkcert's, or berth's). Certificates from a local CA the user made are
//!   what development setups should use, so they are not reported.
//!
//! Who vouches for the certificate is found out in
//! [`crate::audit::probe::trust`] (on the chain the server sent, at a moment
//! inside its validity, without the name).

use super::probe::trust::{CertificateFacts, Trust};
use super::probe::{Service, Speaks};
use super::{Check, CheckInfo, Finding, Machine, Severity};
use crate::net::probe::TLS_PORTS;
use crate::net::tls_client::Certificate;

/// `tls.plaintext`.
pub struct Plaintext;

impl Check for Plaintext {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "tls.plaintext",
            summary:
                "plaintext on a port where TLS is expected, or credentials asked for over plaintext beyond loopback",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        plaintext(service).into_iter().collect()
    }
}

/// `tls.expired`.
pub struct Expired;

impl Check for Expired {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "tls.expired",
            summary: "a TLS service presents an expired certificate",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        certificate(service).and_then(|(certificate, facts)| expired(service, certificate, facts)).into_iter().collect()
    }
}

/// `tls.untrusted`.
pub struct Untrusted;

impl Check for Untrusted {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "tls.untrusted",
            summary: "a TLS service presents a self-signed certificate, or one not issued by a trusted or local CA",
            default_severity: Severity::Low,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        certificate(service)
            .and_then(|(certificate, facts)| untrusted(service, certificate, facts))
            .into_iter()
            .collect()
    }
}

/// The certificate the service presented, and what the probe found out about it.
fn certificate<'s>(service: &'s Service) -> Option<(&'s Certificate, &'s CertificateFacts)> {
    let certificate = service.tls.as_ref()?.certificate.as_ref()?;
    Some((certificate, service.answers.certificate.as_ref()?))
}

/// Ports where TLS is expected besides [`TLS_PORTS`]: Docker's TLS API,
/// the Kubernetes API server, a common HTTPS alternative, WinRM over HTTPS.
pub const MORE_TLS_PORTS: [u16; 4] = [2376, 6443, 9443, 5986];

/// True when clients expect TLS on this port.
pub fn tls_expected(port: u16) -> bool {
    TLS_PORTS.contains(&port) || MORE_TLS_PORTS.contains(&port)
}

/// What clients usually expect on a TLS port, for the evidence.
fn port_use(port: u16) -> &'static str {
    match port {
        443 | 8443 | 9443 => "HTTPS",
        993 => "IMAP over TLS",
        995 => "POP3 over TLS",
        465 => "SMTP submission over TLS",
        636 => "LDAP over TLS",
        2376 => "the Docker Engine API over TLS",
        6443 => "the Kubernetes API over TLS",
        5986 => "WinRM over HTTPS",
        _ => "TLS",
    }
}

/// `tls.plaintext`: plaintext on a TLS port, or a password asked for over
/// plaintext beyond loopback. At most one finding per service.
fn plaintext(service: &Service) -> Option<Finding> {
    if service.tls.is_some() || service.endpoint.tls_name.is_some() {
        return None;
    }
    let listener = service.listener;
    let port = listener.port;
    let mut evidence = Vec::new();
    let mut on_tls_port = false;
    if tls_expected(port) {
        match &service.speaks {
            Speaks::Http => {
                let status = service
                    .baseline
                    .as_ref()
                    .map(|r| format!(" (GET / answered {} {})", r.head.status, r.head.reason))
                    .unwrap_or_default();
                evidence.push(format!(
                    "port {port} is where clients expect {}, but it answered plain HTTP{status}",
                    port_use(port)
                ));
                on_tls_port = true;
            }
            Speaks::Banner(banner) => {
                evidence.push(format!(
                    "port {port} is where clients expect {}, but it sent a plaintext greeting: \"{}\"",
                    port_use(port),
                    shorten(banner, 120)
                ));
                on_tls_port = true;
            }
            _ => {}
        }
    }
    let challenge = password_challenge(service).filter(|_| !listener.loopback_only());
    if let Some(challenge) = &challenge {
        evidence.push(format!("GET / answered 401 with WWW-Authenticate: {challenge}, over plain HTTP"));
        evidence.push(format!(
            "bound to {}: the password crosses the network unencrypted{}",
            listener.places(),
            if challenge.to_ascii_lowercase().starts_with("basic") {
                " (Basic sends it base64-encoded, readable by anyone on the path)"
            } else {
                " (Digest exchanges can be replayed or guessed offline)"
            }
        ));
    }
    if evidence.is_empty() {
        return None;
    }
    let (title, fix) = if on_tls_port {
        (
            format!("{} speaks plaintext on port {port}, where TLS is expected", listener.owner_name()),
            format!("enable TLS on port {port} (a certificate and key in the service's config), or move the plaintext service to another port"),
        )
    } else {
        (
            format!("{} asks for a password over plain HTTP beyond loopback", listener.owner_name()),
            "serve it over HTTPS (or behind a TLS reverse proxy), or bind it to 127.0.0.1".to_string(),
        )
    };
    let mut finding = Finding::new("tls.plaintext", Severity::Medium, title).on(listener).fix(fix);
    finding.evidence = evidence;
    Some(finding)
}

/// The WWW-Authenticate challenge (Basic or Digest) of a plain HTTP 401
/// answer to `GET /`, if that is what the service answered.
fn password_challenge(service: &Service) -> Option<String> {
    if !service.is_http() {
        return None;
    }
    let baseline = service.baseline.as_ref()?;
    if baseline.head.status != 401 {
        return None;
    }
    baseline
        .head
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.trim())
        .find(|value| {
            let scheme = value.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
            scheme == "basic" || scheme == "digest"
        })
        .map(|value| shorten(value, 120))
}

/// `tls.expired`: past its end date, or not valid yet.
fn expired(service: &Service, certificate: &Certificate, facts: &CertificateFacts) -> Option<Finding> {
    if !certificate.expired && !facts.not_yet_valid {
        return None;
    }
    let listener = service.listener;
    let severity = if listener.loopback_only() { Severity::Medium } else { Severity::High };
    let (title, fact) = if certificate.expired {
        (
            format!("the TLS certificate of port {} expired on {}", listener.port, certificate.not_after),
            format!(
                "certificate {} expired on {} ({} days ago)",
                certificate.subject, certificate.not_after, -certificate.expires_in_days
            ),
        )
    } else {
        (
            format!("the TLS certificate of port {} is not valid until {}", listener.port, certificate.not_before),
            format!(
                "certificate {} is valid from {} to {}; it is not valid yet (is the clock right?)",
                certificate.subject, certificate.not_before, certificate.not_after
            ),
        )
    };
    Some(
        Finding::new("tls.expired", severity, title)
            .on(listener)
            .evidence(fact)
            .evidence(format!("issued by {}", certificate.issuer))
            .fix("issue a new certificate (e.g. mkcert localhost 127.0.0.1 ::1) and point the service's TLS config at it"),
    )
}

/// `tls.untrusted`: self-signed, or issued by a CA that is neither a system
/// root nor the user's local CA.
fn untrusted(service: &Service, certificate: &Certificate, facts: &CertificateFacts) -> Option<Finding> {
    let Trust::Untrusted { system_refusal, local_cas, looked } = &facts.trust else { return None };
    let mut evidence = Vec::new();
    if certificate.self_signed {
        evidence.push(format!("the certificate is self-signed: issuer and subject are both {}", certificate.subject));
    } else {
        evidence.push(format!("the certificate {} was issued by {}", certificate.subject, certificate.issuer));
    }
    match system_refusal {
        // A self-signed certificate is vouched for by nobody; the line above says it.
        Some(_) if certificate.self_signed => {}
        Some(error) => evidence.push(format!("no system root certificate vouches for it: {error}")),
        None => evidence.push("the system's root certificates could not be read".into()),
    }
    if local_cas.is_empty() {
        evidence.push(format!("no local CA found (looked for {})", list(looked)));
    } else {
        evidence.push(format!("not issued by the local CA in {}", list(local_cas)));
    }
    let listener = service.listener;
    let severity = if listener.loopback_only() { Severity::Low } else { Severity::Medium };
    let what = if certificate.self_signed { "self-signed" } else { "untrusted" };
    let mut finding = Finding::new(
        "tls.untrusted",
        severity,
        format!("port {} presents a {what} TLS certificate ({})", listener.port, certificate.subject),
    )
    .on(listener)
    .fix("issue the certificate from a local CA clients trust (mkcert -install, then mkcert localhost 127.0.0.1 ::1)");
    finding.evidence = evidence;
    Some(finding)
}

/// "a, b and c" of paths.
fn list(paths: &[String]) -> String {
    super::list_words(paths)
}

/// At most `limit` characters, with an ellipsis when cut.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(limit).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::probe::Answers;
    use crate::audit::Listener;
    use crate::net::http_client::{Endpoint, Head, Response};
    use berth_inventory::scope::BindScope;
    use berth_inventory::Protocol;
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    fn listener(port: u16, address: [u8; 4], scope: BindScope) -> Listener {
        Listener {
            protocol: Protocol::Tcp,
            port,
            addresses: vec![IpAddr::from(address)],
            scope,
            takes_ipv4: true,
            takes_ipv6: false,
            owners: Vec::new(),
            socket_uid: 1000,
            owner_status: crate::analysis::unseen::OwnerStatus::Unknown,
        }
    }

    fn service<'a>(listener: &'a Listener, speaks: Speaks, answer: Option<(u16, &[(&str, &str)])>) -> Service<'a> {
        let address = std::net::SocketAddr::new(listener.probe_address(), listener.port);
        Service {
            index: 0,
            listener,
            known: None,
            endpoint: Endpoint { address, tls_name: None },
            host: address.to_string(),
            speaks,
            tls: None,
            baseline: answer.map(|(status, headers)| Response {
                head: Head {
                    status,
                    reason: "Whatever".into(),
                    headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
                },
                body: Vec::new(),
                truncated: false,
            }),
            deadline: Instant::now() + Duration::from_secs(1),
            cut_off: None,
            answers: Answers::default(),
        }
    }

    #[test]
    fn plaintext_on_tls_ports() {
        let on_443 = listener(443, [127, 0, 0, 1], BindScope::Loopback);
        let found = plaintext(&service(&on_443, Speaks::Http, Some((200, &[])))).expect("plain HTTP on 443");
        assert_eq!((found.id, found.severity, found.port), ("tls.plaintext", Severity::Medium, Some(443)));
        let found = plaintext(&service(&on_443, Speaks::Banner("* OK IMAP4rev1 ready".into()), None));
        assert!(found.is_some(), "a plaintext banner on a TLS port");
        let on_6443 = listener(6443, [127, 0, 0, 1], BindScope::Loopback);
        assert!(plaintext(&service(&on_6443, Speaks::Http, Some((200, &[])))).is_some());
        // TLS on a TLS port, or plain HTTP on a plain port: nothing.
        let mut over_tls = service(&on_443, Speaks::Http, Some((200, &[])));
        over_tls.endpoint.tls_name = Some("localhost".into());
        assert!(plaintext(&over_tls).is_none());
        let on_8080 = listener(8080, [127, 0, 0, 1], BindScope::Loopback);
        assert!(plaintext(&service(&on_8080, Speaks::Http, Some((200, &[])))).is_none());
        assert!(plaintext(&service(&on_443, Speaks::Silent, None)).is_none());
    }

    #[test]
    fn passwords_over_plaintext_beyond_loopback() {
        let basic: &[(&str, &str)] = &[("WWW-Authenticate", "Basic realm=\"admin\"")];
        let wide = listener(8080, [0, 0, 0, 0], BindScope::All);
        let found = plaintext(&service(&wide, Speaks::Http, Some((401, basic)))).expect("401 Basic on 0.0.0.0");
        assert_eq!((found.severity, found.port), (Severity::Medium, Some(8080)));
        assert!(found.evidence.iter().any(|e| e.contains("Basic realm")), "{:?}", found.evidence);
        let digest: &[(&str, &str)] = &[("www-authenticate", "Bearer"), ("WWW-Authenticate", "Digest realm=x")];
        assert!(plaintext(&service(&wide, Speaks::Http, Some((401, digest)))).is_some());
        let bearer: &[(&str, &str)] = &[("WWW-Authenticate", "Bearer realm=x")];
        assert!(plaintext(&service(&wide, Speaks::Http, Some((401, bearer)))).is_none());
        assert!(plaintext(&service(&wide, Speaks::Http, Some((200, basic)))).is_none());
        let narrow = listener(8080, [127, 0, 0, 1], BindScope::Loopback);
        assert!(plaintext(&service(&narrow, Speaks::Http, Some((401, basic)))).is_none());
    }

    #[test]
    fn tls_ports() {
        for port in [443, 8443, 993, 995, 465, 636, 2376, 6443, 9443, 5986] {
            assert!(tls_expected(port), "{port}");
        }
        for port in [80, 8080, 22, 2375, 6379, 3000] {
            assert!(!tls_expected(port), "{port}");
        }
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc...");
    }
}
