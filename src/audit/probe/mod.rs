//! Live probing of TCP listeners: find out what each one speaks (HTTP,
//! HTTPS, a banner, a known binary protocol), then hand it to the probing
//! checks ([`super::browser`], [`super::noauth`], [`super::tls`],
//! [`super::owners`]).
//!
//! Safety rules every probe follows: requests are reads (GET, HEAD, OPTIONS,
//! a WebSocket handshake that is closed at once, read-only protocol
//! commands); nothing writes, deletes or changes anything. Services the
//! catalog knows to speak a binary protocol never get an HTTP request.
//!
//! Timing: services are probed in parallel on worker threads. Each service
//! has its own deadline (`service_timeout`), and the whole probing stops
//! at the total budget; services not reached by then are reported as
//! skipped. The first contact with a service is limited to
//! [`FIRST_CONTACT`] so that a service that accepts and never answers costs
//! about that much, whatever the service timeout. Every read and write of
//! every probe goes over a [`DeadlineStream`] (directly, in [`Conn`], or
//! under TLS and HTTP), so none outlasts the service's deadline, however
//! slowly the service answers or reads. A service that was still answering
//! when its deadline cut it off is reported as not fully checked.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod memcached;
pub mod postgres;
pub mod redis;
pub mod wire;

use super::catalog::{self, Known, Wire};
use super::{Facts, Finding, Listener, Skipped};
use crate::net::deadline::DeadlineStream;
use crate::net::http_client::{self, Endpoint, FetchError, Request, Response};
use crate::net::probe::{HTTPS_PORTS, HTTP_PORTS, TLS_PORTS};
use crate::net::resolve::{host_header, Scheme};
use crate::net::tls_client::{self, TlsReport};
use berth_inventory::Protocol;
use wire::Conn;

/// How long berth waits for a server that speaks first.
pub const BANNER_WAIT: Duration = Duration::from_millis(250);
/// The most time the first HTTP request to an unknown service may take.
pub const FIRST_CONTACT: Duration = Duration::from_millis(800);
/// The most body bytes kept from one response.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A service is not started with less time than this left in the budget:
/// it could not be probed, only fail, and would pass for probed.
const MIN_SERVICE_TIME: Duration = Duration::from_millis(50);
/// A request gets at least this long (within the deadline), whatever is left.
pub const MIN_REQUEST_WAIT: Duration = Duration::from_millis(300);
/// Worker threads at most.
const MAX_THREADS: usize = 64;

/// How long probing may take.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Per service: all of its probes together.
    pub service_timeout: Duration,
    /// All probing together.
    pub budget: Duration,
}

/// What a service turned out to speak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Speaks {
    /// HTTP, over TLS when the endpoint has a TLS name.
    Http,
    /// TLS carrying something other than HTTP (or HTTP that did not answer).
    Tls,
    /// It spoke first; the escaped banner.
    Banner(String),
    /// A binary protocol the catalog names; not sent HTTP.
    Wire(Wire),
    /// It answered the HTTP request with something that is not HTTP.
    Other(String),
    /// Connected, but no (complete) answer came back before the deadline.
    Silent,
    /// The connection failed (refused, reset, unreachable).
    Unreachable(String),
}

/// One TCP listener as the probing checks see it.
pub struct Service<'a> {
    /// The listener's index in [`Facts::listeners`].
    pub index: usize,
    pub listener: &'a Listener,
    pub known: Option<&'static Known>,
    /// Where berth connects; `tls_name` is set for HTTPS.
    pub endpoint: Endpoint,
    /// The Host header that names the service on loopback ("127.0.0.1:8080").
    pub host: String,
    pub speaks: Speaks,
    /// The handshake's facts, when the service speaks TLS.
    pub tls: Option<TlsReport>,
    /// The answer to `GET /` with the loopback Host header (HTTP services).
    pub baseline: Option<Response>,
    /// When this service's probing must end.
    pub deadline: Instant,
    /// Why identifying the service was cut off by its deadline while the
    /// service was still answering (a TLS handshake or an HTTP answer that
    /// had begun and did not finish): it is then reported as not fully
    /// checked, not passed over as silent.
    pub cut_off: Option<String>,
}

impl Service<'_> {
    /// True when the service speaks HTTP (plain or over TLS).
    pub fn is_http(&self) -> bool {
        self.speaks == Speaks::Http
    }

    /// Sends a request to the service. It may take at most half of the
    /// time left (but [`MIN_REQUEST_WAIT`], and never past the deadline),
    /// so that one slow answer does not use up the time of the checks
    /// after it.
    pub fn fetch(
        &self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, FetchError> {
        let left = left(self.deadline).ok_or(FetchError::TimedOut)?;
        let until = (Instant::now() + (left / 2).max(MIN_REQUEST_WAIT)).min(self.deadline);
        http_client::fetch(&self.endpoint, &Request { method, path, host, headers }, until, BODY_LIMIT)
    }

    /// `GET path` with the loopback Host header.
    pub fn get(&self, path: &str) -> Result<Response, FetchError> {
        self.fetch("GET", path, &self.host, &[])
    }

    /// A new TCP connection to the service, all of its I/O bounded by the
    /// service's deadline.
    pub fn connect(&self) -> Result<DeadlineStream, String> {
        DeadlineStream::connect(&self.endpoint.address, self.deadline).map_err(|e| crate::net::error_text(&e))
    }

    /// "http://127.0.0.1:8080" or "https://...".
    pub fn url(&self) -> String {
        let scheme = if self.endpoint.tls_name.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }
}

use crate::net::time_left as left;

/// Probes every TCP listener and runs the probing checks. `done` counts the
/// services finished (for a progress bar).
pub fn run(facts: &Facts, options: Options, done: &AtomicUsize) -> (Vec<Finding>, Vec<Skipped>) {
    let indices: Vec<usize> =
        facts.listeners.iter().enumerate().filter(|(_, l)| l.protocol == Protocol::Tcp).map(|(i, _)| i).collect();
    let budget_end = Instant::now() + options.budget;
    let next = AtomicUsize::new(0);
    let findings = Mutex::new(Vec::new());
    let unreached = Mutex::new(Vec::new());
    let cut_off = Mutex::new(Vec::new());
    let threads = indices.len().clamp(1, MAX_THREADS);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // Bounded: each round takes the next listener; there are finitely many.
                loop {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = indices.get(slot) else { break };
                    let now = Instant::now();
                    if budget_end.saturating_duration_since(now) < MIN_SERVICE_TIME {
                        unreached.lock().unwrap_or_else(|p| p.into_inner()).push(index);
                        done.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let deadline = (now + options.service_timeout).min(budget_end);
                    let service = identify(index, &facts.listeners[index], deadline);
                    if let Some(why) = &service.cut_off {
                        cut_off.lock().unwrap_or_else(|p| p.into_inner()).push((index, why.clone()));
                    }
                    let mut found = check_service(&service, facts);
                    findings.lock().unwrap_or_else(|p| p.into_inner()).append(&mut found);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let mut skipped = Vec::new();
    let mut cut_off = cut_off.into_inner().unwrap_or_else(|p| p.into_inner());
    cut_off.sort_unstable();
    for (index, why) in cut_off {
        let port = facts.listeners[index].port;
        skipped.push(Skipped {
            check: "probe".into(),
            reason: format!(
                "port {port} timed out while still answering ({why}); it was checked only as far as it answered"
            ),
            remedy: Some(format!("berth who {port} shows what holds it")),
        });
    }
    let mut unreached = unreached.into_inner().unwrap_or_else(|p| p.into_inner());
    if !unreached.is_empty() {
        unreached.sort_unstable();
        let ports: Vec<String> = unreached.iter().map(|&i| facts.listeners[i].port.to_string()).collect();
        skipped.push(Skipped {
            check: "probe".into(),
            reason: format!(
                "the probing budget of {:.1} s ran out before {} listener(s) were probed: port(s) {}",
                options.budget.as_secs_f64(),
                unreached.len(),
                ports.join(", ")
            ),
            remedy: Some("give more time with --budget".into()),
        });
    }
    (findings.into_inner().unwrap_or_else(|p| p.into_inner()), skipped)
}

/// Every probing check, on one identified service.
fn check_service(service: &Service, facts: &Facts) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(super::noauth::check(service, facts));
    findings.extend(super::browser::check(service, facts));
    findings.extend(super::tls::check(service, facts));
    findings.extend(super::owners::check(service, facts));
    findings
}

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

    let request = Request { method: "GET", path: "/", host: &service.host, headers: &[] };
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
                "its answer to GET / timed out after {:.1} s with {bytes} byte(s) come, not all of it",
                asked.elapsed().as_secs_f64()
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
                    "its answer to GET / over TLS timed out after {:.1} s with {bytes} byte(s) come, not all of it",
                    asked.elapsed().as_secs_f64()
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
        Ok(n) => Ok(Some(crate::render::printable_bytes(&buffer[..n]).into_owned())),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
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
