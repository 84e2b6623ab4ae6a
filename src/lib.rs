//! berth: everything people do with ports on their own machine.
//!
//! Data flows one way (see DESIGN.md): the inventory crate
//! ([`berth_inventory`]) reads the kernel into a Snapshot, [`analysis`]
//! derives and selects, [`render`] prints. [`cli`], [`args`], [`app`] and
//! [`commands`] are the thin layer that wires them to the command line.
//!
//! Imports run downward only: a module uses the layers below it, never one
//! above, and the modules of one row do not use each other except where
//! the row says so.
//!
//! ```text
//! app, commands, args, cli   the CLI: typed arguments, configured objects, calls, exit codes
//! render                     prints what the layers below return; never reads the system
//! metrics                    the Prometheus exporter (uses servers, audit and analysis)
//! watch, history             the live view of sockets over time (uses analysis), and what it records
//! servers                    servers (they use actions, analysis and net)
//! audit, net, actions, ca    the audit (uses net and analysis); clients; what changes the system (uses analysis);
//!                            berth's local CA and the trust stores it goes into
//! analysis                   plain functions over Snapshots
//! berth_inventory            kernel -> Snapshot, the port vocabulary; imports nothing of berth
//! ```
//!
//! [`error`], [`exit_codes`], [`printable`] (the one way text from
//! outside is made safe to show) and [`stderr`] (the one way a message
//! reaches stderr) are shared by every layer.

#![deny(clippy::print_stderr, clippy::print_stdout)]

pub(crate) mod actions;
pub(crate) mod analysis;
pub mod app;
pub(crate) mod args;
pub(crate) mod audit;
pub(crate) mod ca;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod error;
pub(crate) mod exit_codes;
pub(crate) mod history;
pub(crate) mod metrics;
pub(crate) mod net;
pub(crate) mod printable;
pub(crate) mod render;
pub(crate) mod servers;
pub(crate) mod stderr;
pub(crate) mod watch;

/// What the integration tests (tests/) reach inside berth, besides running
/// the binary: not an API. Everything else is crate-private, so that the
/// compiler flags what nothing uses.
#[doc(hidden)]
pub mod test_support {
    pub use crate::actions::signal::{HandleError, ProcessHandle};
    pub use crate::net::scan::is_self_connection;
    pub use crate::servers::http::site::freshness::MAX_WATCHES;

    /// The history's writer and the events it keeps: the history tests
    /// fill a file as `berth watch` would, then ask `berth history`.
    pub use crate::analysis::report::Endpoint;
    pub use crate::history::recorder::lock_path;
    pub use crate::history::{HistoryError, Recorder, Retention};
    pub use crate::watch::event::{
        AlertFacts, AlertName, EventKind, EventOwner, EventSource, Lifetime, ListenerRef, SocketFacts, WatchEvent,
    };
}
