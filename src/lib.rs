//! berth: everything people do with ports on their own machine.
//!
//! Data flows one way (see DESIGN.md):
//! [`inventory`] reads the kernel into one Snapshot, [`analysis`] derives
//! and selects, [`render`] prints. [`cli`], [`app`] and [`commands`] are the
//! thin layer that wires them to the command line.

pub mod actions;
pub mod analysis;
pub mod app;
pub mod args;
pub mod cli;
pub mod commands;
pub mod error;
pub mod exit_codes;
pub mod net;
pub mod render;
pub mod servers;
