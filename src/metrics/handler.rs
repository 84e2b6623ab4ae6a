//! `/metrics` on berth's HTTP core: a [`Handler`] like serve's site, so the
//! core's limits, Host guard (DNS rebinding), keep-alive and request log
//! apply unchanged. The collection runs as a [`Blocking`] job, off the
//! event loop.

use std::sync::Arc;

use crate::servers::http::guard::{AuthCheck, Guard};
use crate::servers::http::request::{Method, Request};
use crate::servers::http::response::Reply;
use crate::servers::http::{Answer, Blocking, Exchange, Handler};

use super::exporter::Exporter;
use super::exposition::{Exposition, Format};

pub struct MetricsHandler {
    pub exporter: Arc<Exporter>,
    /// The bearer token, when one is required (no CORS: a web page has no
    /// business reading a machine's listeners).
    pub guard: Guard,
}

const INDEX: &str = "berth metrics: the Prometheus series are at /metrics (docs/metrics.md lists them)\n";

impl Handler for MetricsHandler {
    type Scratch = ();

    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, _: &mut ()) -> Answer {
        let method = request.method();
        if !matches!(method, Method::Get | Method::Head) {
            exchange.extra.extend_from_slice(b"Allow: GET, HEAD\r\n");
            return exchange.text(request, 405, "berth: only GET and HEAD\n", "method not allowed").into();
        }
        if self.guard.check_auth(request, None) == AuthCheck::Denied {
            exchange.extra.extend_from_slice(b"WWW-Authenticate: Bearer realm=\"berth metrics\"\r\n");
            return exchange
                .text(
                    request,
                    401,
                    "berth: send Authorization: Bearer TOKEN (the --token of berth metrics)\n",
                    "no token",
                )
                .into();
        }
        let path = request.target.split_once('?').map_or(request.target, |(path, _)| path);
        match path {
            "/metrics" => Answer::Blocking(Box::new(Scrape {
                exporter: self.exporter.clone(),
                format: Format::negotiate(request.accept),
                exposition: None,
            })),
            "/" => exchange.text(request, 200, INDEX, "").into(),
            _ => exchange.text(request, 404, "berth: not found; the series are at /metrics\n", "not found").into(),
        }
    }

    fn log_secret(&self) -> Option<&str> {
        match &self.guard.auth {
            Some(crate::servers::http::guard::Auth::Token { token, .. }) => Some(token),
            _ => None,
        }
    }
}

/// One scrape's collection, run on a blocking thread.
struct Scrape {
    exporter: Arc<Exporter>,
    format: Format,
    exposition: Option<Arc<Exposition>>,
}

impl Blocking for Scrape {
    fn run(&mut self) {
        self.exposition = self.exporter.scrape();
    }

    fn reply(self: Box<Self>, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
        let Some(exposition) = self.exposition else {
            return exchange.text(
                request,
                500,
                "berth: the collection failed; see berth's stderr\n",
                "collection failed",
            );
        };
        // One URL, two formats: caches must key on Accept.
        exchange.extra.extend_from_slice(b"Vary: Accept\r\n");
        exchange.body(request, 200, self.format.content_type(), exposition.body(self.format), "")
    }
}
