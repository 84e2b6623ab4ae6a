//! What a TCP listener speaks, found out within its deadline: a known
//! binary protocol (by the catalog, never sent HTTP), TLS (on a TLS port,
//! or when a plain request fails as TLS servers make it fail), a banner
//! from a server that speaks first, or HTTP with the answer to `GET /`
//! under the loopback Host name (the baseline the checks compare with).
//! Redis and memcached that close on an HTTP request are asked in their
//! own protocols.
//!
//! Where to wait for what follows `berth probe`'s port rules
//! ([`crate::net::probe`]'s `TLS_PORTS`, `HTTPS_PORTS`, `HTTP_PORTS`), so the
//! two commands agree on what a port is expected to speak.

use crate::analysis::plural;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::service::{Answers, Service, Speaks, BODY_LIMIT};
use super::wire::Conn;
use crate::audit::catalog::{self, Wire};
use crate::audit::Listener;
use crate::net::deadline::DeadlineStream;
use crate::net::http_client::{self, Endpoint, FetchError, Request};
use crate::net::probe::{HTTPS_PORTS, HTTP_PORTS, TLS_PORTS};
use crate::net::resolve::{host_header, Scheme};
use crate::net::time_left as left;
use crate::net::tls_client;

/// How long berth waits for a server that speaks first.
pub const BANNER_WAIT: Duration = Duration::from_millis(250);
/// The most time the first HTTP request to an unknown service may take.
pub const FIRST_CONTACT: Duration = Duration::from_millis(800);

/// Finds out what a listener speaks, within its deadline.
pub fn identify<'a>(index: usize, listener: &'a Listener, deadline: Instant) -> Service<'a> {
    let ip = listener.probe_address();
    let address = SocketAddr::new(ip, listener.port);
    let known = catalog::identify(listener);
    let mut service = Service {
        index,
        listener,
        known,
        endpoint: Endpoint { address, tls_name: None },
        host: host_header(&ip.to_string(), Scheme::Http, listener.port),
        speaks: Speaks::Silent,
        tls: None,
        baseline: None,
        deadline,
        cut_off: None,
        answers: Answers::default(),
    };
    let wire = known.map(|k| k.wire);
    if let Some(wire @ (Wire::Redis | Wire::Memcached | Wire::Postgres | Wire::Mysql | Wire::Mongo | Wire::Opaque)) =
        wire
    {
        service.speaks = Speaks::Wire(wire);
        return service;
    }
    let first_contact = (Instant::now() + FIRST_CONTACT).min(deadline);

    // TLS ports: the server waits for our hello.
    if TLS_PORTS.contains(&listener.port) {
        if try_tls(&mut service, first_contact) {
            return service;
        }
        if let Speaks::Unreachable(_) = service.speaks {
            return service;
        }
    }

    // Servers that speak first are not sent anything: their banner says what they are.
    let expect_http = wire == Some(Wire::Http) || HTTP_PORTS.contains(&listener.port);
    if !expect_http {
        match banner(address, first_contact) {
            Ok(Some(text)) => {
                service.speaks = Speaks::Banner(text);
                return service;
            }
            Ok(None) => {}
            Err(e) => {
                service.speaks = Speaks::Unreachable(e);
                return service;
            }
        }
    }

    let request = Request { method: "GET", path: "/", host: &service.host, headers: &[], body: &[] };
    // At least a banner wait's time for the answer, never past the deadline.
    let asked = Instant::now();
    let answer_by = first_contact.max(asked + BANNER_WAIT).min(deadline);
    match http_client::fetch(&service.endpoint, &request, answer_by, BODY_LIMIT) {
        // nginx and others answer plain HTTP on a TLS port with a 400.
        Ok(response) if response.head.status == 400 && !TLS_PORTS.contains(&listener.port) => {
            let mut tls_service = clone_shell(&service);
            if try_tls(&mut tls_service, deadline) {
                return tls_service;
            }
            service.cut_off = tls_service.cut_off;
            service.speaks = Speaks::Http;
            service.baseline = Some(response);
        }
        Ok(response) => {
            service.speaks = Speaks::Http;
            service.baseline = Some(response);
        }
        Err(FetchError::TimedOut) => service.speaks = Speaks::Silent,
        Err(FetchError::Stalled(bytes)) => {
            service.speaks = Speaks::Silent;
            service.cut_off = Some(format!(
                "its answer to GET / timed out after {:.1} s with {} come, not all of it",
                asked.elapsed().as_secs_f64(),
                plural(bytes, "byte", "bytes")
            ));
        }
        Err(FetchError::Connect(e)) => service.speaks = Speaks::Unreachable(e),
        Err(e) => {
            // Key-value servers read the request as commands and may answer
            // in their own protocol: then they are probed as what they are.
            if let Some(wire) = match &e {
                FetchError::NotHttp(bytes) => answer_wire(bytes),
                _ => None,
            } {
                service.speaks = Speaks::Wire(wire);
                return service;
            }
            // A TLS server answers plain text with an alert or by closing.
            let mut tls_service = clone_shell(&service);
            if !TLS_PORTS.contains(&listener.port) && try_tls(&mut tls_service, first_contact.max(Instant::now())) {
                return tls_service;
            }
            service.cut_off = tls_service.cut_off;
            // Redis and memcached read the request as commands, take it
            // for a cross-protocol attack or an error, and close without a
            // word: ask them in their own protocols.
            let asked = if e == FetchError::Closed { ask_key_value_server(address, first_contact) } else { None };
            service.speaks = match asked {
                Some(wire) => Speaks::Wire(wire),
                None => Speaks::Other(e.to_string()),
            };
        }
    }
    service
}

/// Asks a server that closed on an HTTP request whether it is Redis (a
/// RESP `PING`: `+PONG`, or an error such as `-NOAUTH`) or memcached
/// (`version`: `VERSION 1.6.18`). Both are read-only commands; each gets
/// its own connection, within `until` (at least a short wait).
fn ask_key_value_server(address: SocketAddr, until: Instant) -> Option<Wire> {
    // At least a short wait, even when the first contact used up its time.
    let until = until.max(Instant::now() + Duration::from_millis(100));
    let ask = |question: &[u8]| -> Vec<u8> {
        let Ok(stream) = DeadlineStream::connect(&address, until) else { return Vec::new() };
        let mut conn = Conn::new(stream);
        conn.send(question).and_then(|()| conn.line()).unwrap_or_default()
    };
    let answer = ask(b"*1\r\n$4\r\nPING\r\n");
    if answer.starts_with(b"+PONG") || answer_wire(&answer) == Some(Wire::Redis) {
        return Some(Wire::Redis);
    }
    ask(b"version\r\n").starts_with(b"VERSION ").then_some(Wire::Memcached)
}

/// The protocol a non-HTTP answer to `GET / HTTP/1.1` gives away: Redis
/// answers an error (`-ERR ...`, `-NOAUTH ...`, `-DENIED ...`); memcached
/// runs `get` on the keys "/" and "HTTP/1.1" and answers `END`, or
/// `ERROR` to the header lines.
fn answer_wire(bytes: &[u8]) -> Option<Wire> {
    if bytes.starts_with(b"-ERR") || bytes.starts_with(b"-NOAUTH") || bytes.starts_with(b"-DENIED") {
        Some(Wire::Redis)
    } else if bytes.starts_with(b"END\r\n") || bytes.starts_with(b"ERROR\r\n") {
        Some(Wire::Memcached)
    } else {
        None
    }
}

/// A copy of a service's identity fields, before anything was learned.
fn clone_shell<'a>(service: &Service<'a>) -> Service<'a> {
    Service {
        index: service.index,
        listener: service.listener,
        known: service.known,
        endpoint: service.endpoint.clone(),
        host: service.host.clone(),
        speaks: Speaks::Silent,
        tls: None,
        baseline: None,
        deadline: service.deadline,
        cut_off: None,
        answers: Answers::default(),
    }
}

/// A TLS handshake by `until`; on success the service is TLS, and HTTP
/// over it is tried (the baseline request). Returns whether TLS worked;
/// when the deadline cut off a handshake the server had begun to answer,
/// `cut_off` says so.
fn try_tls(service: &mut Service, until: Instant) -> bool {
    if left(until).is_none() {
        return false;
    }
    let tcp = match DeadlineStream::connect(&service.endpoint.address, until) {
        Ok(tcp) => tcp,
        // The time ran out on the way: nothing learned, nothing wrong.
        Err(_) if left(until).is_none() => return false,
        Err(e) => {
            service.speaks = Speaks::Unreachable(crate::net::error_text(&e));
            return false;
        }
    };
    let (report, session) = tls_client::handshake(tcp, "localhost", service.endpoint.address.ip(), true);
    // The handshake's connection is closed before HTTP is tried on a new
    // one: a single-threaded TLS server (openssl s_server) would otherwise
    // still be busy with it and never answer.
    if session.is_none() {
        if report.stalled {
            service.cut_off = report.error;
        }
        return false;
    }
    drop(session);
    let alpn_http = report.alpn.as_deref().is_none_or(|p| p.starts_with("http"));
    service.tls = Some(report);
    service.endpoint.tls_name = Some("localhost".into());
    service.speaks = Speaks::Tls;
    let expect_http = alpn_http
        && (HTTPS_PORTS.contains(&service.listener.port)
            || !TLS_PORTS.contains(&service.listener.port)
            || service.known.is_some_and(|k| k.wire == Wire::Http));
    if expect_http {
        let asked = Instant::now();
        match service.get("/") {
            Ok(response) => {
                service.speaks = Speaks::Http;
                service.baseline = Some(response);
            }
            Err(FetchError::Stalled(bytes)) => {
                service.cut_off = Some(format!(
                    "its answer to GET / over TLS timed out after {:.1} s with {} come, not all of it",
                    asked.elapsed().as_secs_f64(),
                    plural(bytes, "byte", "bytes")
                ));
            }
            Err(_) => {}
        }
    }
    true
}

/// Waits for a server that speaks first (one read, [`BANNER_WAIT`] at
/// most, never past `until`). Ok(None): connected, silent.
fn banner(address: SocketAddr, until: Instant) -> Result<Option<String>, String> {
    let mut stream = DeadlineStream::connect(&address, until).map_err(|e| crate::net::error_text(&e))?;
    let mut buffer = [0u8; 512];
    match stream.read_by(&mut buffer, Instant::now() + BANNER_WAIT) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(crate::printable::printable_bytes(&buffer[..n]).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
        Err(e) => Err(crate::net::error_text(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_give_a_key_value_server_away() {
        assert_eq!(answer_wire(b"-ERR wrong number of arguments for 'get' command\r\n"), Some(Wire::Redis));
        assert_eq!(answer_wire(b"-NOAUTH Authentication required.\r\n"), Some(Wire::Redis));
        assert_eq!(answer_wire(b"END\r\nERROR\r\n"), Some(Wire::Memcached));
        assert_eq!(answer_wire(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(answer_wire(b"GET / HTTP/1.1\r\n"), None);
    }
}
