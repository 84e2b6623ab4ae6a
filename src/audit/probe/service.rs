//! One identified TCP listener ([`Service`]): what it speaks, how the
//! probes talk to it within its deadline, and what they learned from it
//! ([`Answers`]). That is everything the probing checks judge.

use std::time::{Duration, Instant};

use super::browser;
use super::memcached::Stats;
use super::postgres::Login;
use super::redis;
use super::trust::CertificateFacts;
use super::web::Apis;
use crate::audit::catalog::{Known, Wire};
use crate::audit::Listener;
use crate::net::deadline::DeadlineStream;
use crate::net::http_client::{self, Endpoint, FetchError, Request, Response};
use crate::net::time_left as left;
use crate::net::tls_client::TlsReport;

/// The most body bytes kept from one response.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request gets at least this long (within the deadline), whatever is left.
pub const MIN_REQUEST_WAIT: Duration = Duration::from_millis(300);

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
#[derive(Debug)]
pub struct Service<'a> {
    /// The listener's index in [`Facts::listeners`](crate::audit::Facts::listeners).
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
    /// What the questions after identification found out: all the probing
    /// checks judge besides the fields above.
    pub answers: Answers,
}

/// What berth asked an identified service and what it answered, one field
/// per kind of question (None when that kind was not asked, or got no
/// answer worth judging).
#[derive(Debug, Default)]
pub struct Answers {
    /// A Redis that let berth in without a password.
    pub redis: Option<redis::Open>,
    /// memcached's answer to `stats`.
    pub memcached: Option<Stats>,
    /// PostgreSQL's answer to a startup message.
    pub postgres: Option<Login>,
    /// The well-known web API paths (HTTP services).
    pub web: Option<Apis>,
    /// What a web page would ask (HTTP services).
    pub browser: Option<browser::Answers>,
    /// Who vouches for the certificate, and whether it is valid yet (TLS
    /// services that presented one).
    pub certificate: Option<CertificateFacts>,
}

impl Service<'_> {
    /// True when the service speaks HTTP (plain or over TLS).
    pub fn is_http(&self) -> bool {
        self.speaks == Speaks::Http
    }

    /// Sends a request to the service. It may take at most half of the
    /// time left (but [`MIN_REQUEST_WAIT`], and never past the deadline),
    /// so that one slow answer does not use up the time of the questions
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
        http_client::fetch(&self.endpoint, &Request { method, path, host, headers, body: &[] }, until, BODY_LIMIT)
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
