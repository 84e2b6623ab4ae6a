//! Analysis: plain functions over a [`Snapshot`](berth_inventory::Snapshot)
//! that derive what the kernel does not say outright (bind scope, port
//! class, service names, who holds a port) and select what a command asked
//! for. Nothing here reads the kernel; nothing here prints.

pub mod doctor;
pub mod filter;
pub mod firewall_walk;
pub mod free;
pub mod kill;
pub mod report;
pub mod unseen;
pub mod who;
