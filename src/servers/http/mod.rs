//! berth's HTTP/1.1 server: `berth serve` today, and the base for mock and
//! proxy later.
//!
//! A lean server on tokio: heads are parsed in place with httparse, answers
//! are written from precomputed header parts and a per-thread file cache,
//! large files go out with sendfile(2). One module per job:
//!
//! - [`request`]: parsing one request head, with size limits;
//! - [`guard`]: Host (DNS rebinding), CORS and authentication checks;
//! - [`response`]: response heads and bodies;
//! - [`server`]: accept loop and connection loop;
//! - `registry`: connection states, timeouts and the connection cap;
//! - [`site`]: what `berth serve` serves (paths, files, listings).
//!
//! The listening socket itself comes from [`crate::servers::listener`], which
//! keeps it on loopback unless `--expose`.

pub mod guard;
pub mod handler;
pub mod host;
mod log;
mod registry;
pub mod request;
pub mod response;
pub mod server;
pub mod site;
#[cfg(test)]
mod tests;

pub use handler::{Answer, Blocking, Exchange, Handler};
pub use server::{Limits, Options};
