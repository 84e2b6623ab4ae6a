//! `berth serve`'s static site: the first handler of the HTTP core.
//!
//! One module per job:
//!
//! - [`path`]: from a request path to a file that is inside the root;
//! - [`files`]: validators, conditional and range requests, compression, cache;
//! - [`freshness`]: inotify, so cached files need no stat per request;
//! - [`listing`]: directory pages and JSON;
//! - [`route`]: the order in which all of that is applied to a request.

pub mod files;
pub mod freshness;
pub mod listing;
pub mod path;
pub mod route;

use super::guard;
use super::request::Request;
use super::{Answer, Exchange, Handler};

/// What a server serves, and to whom.
#[derive(Debug)]
pub struct Site {
    /// The served directory.
    pub root: std::sync::Arc<path::Root>,
    pub guard: guard::Guard,
    /// Unknown paths get /index.html (single-page apps).
    pub spa: bool,
    /// Serve names starting with a dot.
    pub hidden: bool,
}

impl Handler for Site {
    /// The decoded request path.
    type Scratch = String;

    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, decoded: &mut String) -> Answer {
        route::route(self, request, exchange, decoded)
    }

    fn headers(&self, request: &Request<'_>, extra: &mut Vec<u8>) {
        route::cors_headers(self, request, extra);
    }

    /// The `--token` token. (Basic credentials travel only in the
    /// Authorization header, which is never logged.)
    fn log_secret(&self) -> Option<&str> {
        match &self.guard.auth {
            Some(guard::Auth::Token { token, .. }) => Some(token),
            _ => None,
        }
    }
}
