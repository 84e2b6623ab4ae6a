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
//! servers                    servers (they use actions, analysis and net)
//! audit, net, actions        the audit (uses net and analysis); clients; what changes the system (uses analysis)
//! analysis                   plain functions over Snapshots
//! berth_inventory            kernel -> Snapshot, the port vocabulary; imports nothing of berth
//! ```
//!
//! [`error`], [`exit_codes`] and [`printable`] (the one way text from
//! outside is made safe to show) are shared by every layer.

pub mod actions;
pub mod analysis;
pub mod app;
pub mod args;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod error;
pub mod exit_codes;
pub mod net;
pub mod printable;
pub mod render;
pub mod servers;
