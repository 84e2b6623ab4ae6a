//! What the checks judge about the machine: the [`Facts`] the command
//! read (listeners, reach, firewall, settings, interfaces), and what the
//! audit reads itself before judging them ([`Machine::gather`]: the
//! listeners' owners' executables). What a probed service answered is in
//! [`crate::audit::probe::Answers`].

use std::collections::HashMap;
use std::io;

use berth_inventory::firewall::Firewall;
use berth_inventory::processes::{self, Executable};
use berth_inventory::system::SystemFacts;
use berth_inventory::Interface;

use super::{Listener, Reach};

/// What the command read of the machine for the audit: the checks judge
/// it, and the probes find the listeners in it.
pub struct Facts {
    /// Listening TCP sockets and bound UDP sockets of berth's namespace, grouped.
    pub listeners: Vec<Listener>,
    /// How far each listener reaches (same order as `listeners`).
    pub reach: Vec<Reach>,
    pub firewall: Firewall,
    pub system: SystemFacts,
    pub interfaces: Vec<Interface>,
    /// berth runs as root (it sees every process and the firewall).
    pub root: bool,
    /// Processes whose descriptors berth could not read (other users'
    /// when not root): their listeners have no known owner.
    pub unseen_processes: usize,
    /// The kernel's ephemeral port range (clients' ports).
    pub ephemeral: (u16, u16),
}

impl Facts {
    /// The reach of a listener (by its index in `listeners`).
    pub fn reach_of(&self, index: usize) -> &Reach {
        &self.reach[index]
    }
}

/// The facts a check judges the machine by.
pub struct Machine<'a> {
    pub facts: &'a Facts,
    /// What each listener owner runs (/proc/PID/exe, through the
    /// inventory), by pid, or why it could not be read.
    pub executables: HashMap<u32, Result<Executable, io::ErrorKind>>,
}

impl Machine<'_> {
    /// The facts, and the executables of every listener's owners (each
    /// process read once).
    pub fn gather(facts: &Facts) -> Machine<'_> {
        let mut executables = HashMap::new();
        for owner in facts.listeners.iter().flat_map(|l| &l.owners) {
            executables.entry(owner.pid).or_insert_with(|| processes::executable_of(owner.pid).map_err(|e| e.kind()));
        }
        Machine { facts, executables }
    }
}
