//! No authentication: well-known services that let anyone who can connect
//! read (and usually write) their data, judged from what harmless
//! protocol-level questions found out (asked in [`crate::audit::probe`]).
//!
//! Why probe rather than guess from the port: a Redis with `requirepass`,
//! a memcached with an auth file or a PostgreSQL with `scram-sha-256` is
//! fine, and the same software without them is not; only asking tells them
//! apart. Every question is a read: Redis `PING`, `INFO server` and `CONFIG
//! GET protected-mode`; memcached `stats`; a PostgreSQL startup message that
//! is ended with Terminate as soon as the server says whether it wants a
//! password; HTTP `GET`s of well-known read-only API paths. Nothing is ever
//! written, deleted or changed, and binary-protocol services never get HTTP.
//!
//! How bad a finding is depends on who can connect: beyond loopback (bound
//! to all interfaces or a LAN address, or made reachable by forwarding) an
//! unauthenticated database or the Docker API is `critical`; on loopback it
//! is still a risk (any local user, any local process, and for HTTP any web
//! page through DNS rebinding), but a smaller one.
//!
//! Each protocol is its own module: [`redis`], [`memcached`], [`postgres`],
//! [`web`] (Docker Engine API, Elasticsearch/OpenSearch, Jupyter, Ollama,
//! Prometheus-style /metrics).

pub mod memcached;
pub mod postgres;
pub mod redis;
pub mod web;

use super::probe::Service;
use super::reachability::Remote;
use super::{Facts, Finding, Severity};
pub use memcached::Memcached;
pub use postgres::PostgresTrust;
pub use redis::Redis;
pub use web::WebApis;

/// Who can connect to a service, as far as its severity matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Other hosts can (or may: the firewall could not be judged) connect.
    Remote,
    /// Bound beyond loopback, but a firewall rule keeps other hosts out.
    Blocked,
    /// Only this machine can connect.
    Local,
}

/// The exposure of a service and one line of evidence saying why.
pub fn exposure(service: &Service, facts: &Facts) -> (Exposure, String) {
    let listener = service.listener;
    let places = listener.places();
    let reach = facts.reach.get(service.index);
    let remote = reach.and_then(|r| r.remotely());
    let loopback = listener.loopback_only();
    match (remote, reach.map(|r| &r.remote)) {
        (Some(true), Some(Remote::Yes { why })) => {
            (Exposure::Remote, format!("listens on {places}; reachable from other hosts: {why}"))
        }
        (Some(true), _) => (Exposure::Remote, format!("listens on {places}; reachable from other hosts")),
        (Some(false), Some(Remote::Blocked { rule })) if !loopback => {
            (Exposure::Blocked, format!("listens on {places}; other hosts are blocked by the firewall rule '{rule}'"))
        }
        (Some(false), _) if !loopback => {
            (Exposure::Blocked, format!("listens on {places}; not reachable from other hosts"))
        }
        (Some(false), _) => (Exposure::Local, format!("listens on {places} (loopback only)")),
        (None, Some(Remote::Maybe { rule })) if !loopback => (
            Exposure::Remote,
            format!("listens on {places}; other hosts may reach it (firewall rule '{rule}' was not judged)"),
        ),
        (None, Some(Remote::Unknown { reason })) if !loopback => {
            (Exposure::Remote, format!("listens on {places}; the firewall could not be read ({reason})"))
        }
        (None, _) if !loopback => (Exposure::Remote, format!("listens on {places}; reachability unknown")),
        (None, _) => (Exposure::Local, format!("listens on {places} (loopback only)")),
    }
}

/// The severity for an exposure: `(remote, blocked, local)`.
pub fn severity(exposure: &Exposure, levels: (Severity, Severity, Severity)) -> Severity {
    match exposure {
        Exposure::Remote => levels.0,
        Exposure::Blocked => levels.1,
        Exposure::Local => levels.2,
    }
}

/// A title's closing words: who can use the service.
pub fn who_can(exposure: &Exposure) -> &'static str {
    match exposure {
        Exposure::Remote => "(reachable from other hosts)",
        Exposure::Blocked => "(bound beyond loopback, firewalled)",
        Exposure::Local => "(loopback only: any local user or process)",
    }
}

/// A finding about `service` with every evidence line.
pub fn finding(
    id: &'static str,
    level: Severity,
    title: String,
    service: &Service,
    evidence: Vec<String>,
    fix: &str,
) -> Finding {
    let mut finding = Finding::new(id, level, title).on(service.listener).fix(fix);
    finding.evidence = evidence;
    finding
}
