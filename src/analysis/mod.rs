//! Analysis: plain functions over a [`Snapshot`](berth_inventory::Snapshot)
//! and the other facts the inventory read (the system's settings, the
//! firewall rules) that derive what the kernel does not say outright (who
//! holds a port, why a bind fails, which firewall rule a packet meets) and
//! select what a command asked for: `who`, `kill`'s plan, `free`, `doctor`,
//! `ls`'s filters and report.
//!
//! Nothing here opens a socket or a file, starts a process or reads the
//! clock: the commands gather the facts (through the inventory), and what
//! changes the system lives in `actions`. Nothing here prints. The audit,
//! which probes live services, is its own module (`crate::audit`); it uses
//! [`firewall_walk`] from here, as `doctor` does.

pub mod doctor;
pub mod filter;
pub mod firewall_walk;
pub mod free;
pub mod kill;
pub mod report;
pub mod unseen;
pub mod who;
