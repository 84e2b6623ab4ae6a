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

/// "1 port", "3 ports": a count with the word that fits it. The one helper
/// for counts in words: analysis builds doctor's and free's sentences with
/// it, and render (below which analysis sits) re-exports it for its own.
pub fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
