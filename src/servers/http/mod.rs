//! berth's one HTTP/1.1 core, generic over a [`Handler`]: `berth serve`'s
//! static site today, and the base for mock, the dashboard, metrics and
//! the proxy later (docs/architecture.md, "The HTTP core", says how the
//! proxy's HTTP/2, upgrades and streamed bodies fit on it).
//!
//! A lean server on tokio: heads are parsed in place with httparse, answers
//! are written into reused buffers, large files go out with sendfile(2).
//! The core is everything that is not a handler's; one module per job:
//!
//! - [`server`]: the accept loop, the connection loop, keep-alive, and the
//!   bounded pool for handlers' blocking jobs;
//! - `registry`: connection states, timeouts and the connection cap;
//! - [`request`]: parsing one request head, with size limits;
//! - [`host`]: the Host guard (DNS rebinding), applied before any handler;
//! - [`handler`]: what a handler is and what it answers;
//! - [`response`]: response heads and bodies;
//! - [`tls`]: HTTPS when [`Options::tls`] is set: the configuration from
//!   PEM files, and each connection's rustls session, through which the
//!   same connection loop reads and writes (files are then read and
//!   encrypted in chunks instead of sendfile);
//! - `log`: the request log, with the token masked.
//!
//! What handlers share without the core applying it: [`guard`] (CORS and
//! authentication). The handlers: [`site`], what `berth serve` serves
//! (paths, files, listings).
//!
//! The listening socket itself comes from [`crate::servers::listener`], which
//! keeps it on loopback unless `--expose`.

pub mod body;
pub mod guard;
pub mod handler;
pub mod host;
mod log;
pub mod mock;
pub mod proxy;
mod registry;
pub mod request;
pub mod response;
pub mod server;
pub mod site;
#[cfg(test)]
mod tests;
pub mod tls;

pub use handler::{Answer, Blocking, Exchange, Handler};
pub use server::{Limits, Options};
