//! Servers berth starts (serve, echo, listen, and later mock and proxy).
//! They live apart from the inventory and share one listener setup
//! ([`listener`]) that enforces the security defaults: loopback unless
//! `--expose`, a warning that names every address when exposed, and an
//! error that says who holds a taken port and which port is free instead.
//! Every HTTP server is one handler on the one HTTP core ([`http`]).

pub mod bridge;
pub mod echo;
pub mod http;
pub mod listener;
