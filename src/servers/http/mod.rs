//! berth's HTTP/1.1 server: `berth serve` today, and the base for mock and
//! proxy later.
//!
//! A lean server on tokio: heads are parsed in place with httparse, answers
//! are written from precomputed header parts and a per-thread file cache,
//! large files go out with sendfile(2). One module per job:
//!
//! - [`request`]: parsing one request head, with size limits;
//! - [`guard`]: Host (DNS rebinding), CORS and authentication checks;
//! - [`path`]: from a request path to a file that is inside the root;
//! - [`files`]: validators, conditional and range requests, compression, cache;
//! - [`watch`]: inotify, so cached files need no stat per request;
//! - [`listing`]: directory pages and JSON;
//! - [`route`]: the order in which all of that is applied to a request;
//! - [`response`]: response heads and bodies;
//! - [`server`]: accept loop and connection loop;
//! - `registry`: connection states, timeouts and the connection cap.
//!
//! The listening socket itself comes from [`crate::servers::listener`], which
//! keeps it on loopback unless `--expose`.

pub mod files;
pub mod guard;
pub mod listing;
pub mod path;
mod registry;
pub mod request;
pub mod response;
pub mod route;
pub mod server;
pub mod watch;

pub use server::{Limits, Options};

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

impl Site {
    /// The secret the request log must never show: the `--token` token.
    /// (Basic credentials travel only in the Authorization header, which is
    /// never logged.)
    pub fn log_secret(&self) -> Option<&str> {
        match &self.guard.auth {
            Some(guard::Auth::Token { token, .. }) => Some(token),
            _ => None,
        }
    }
}
