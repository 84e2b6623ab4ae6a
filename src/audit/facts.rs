//! What the checks judge about the machine: the [`Facts`] the command
//! read (listeners, reach, firewall, settings, interfaces), and what the
//! audit reads itself before judging them ([`Machine::gather`]: the
//! listeners' owners' executables). What a probed service answered is in
//! [`crate::audit::probe::Answers`].

use std::collections::HashMap;
use std::io;

use berth_inventory::firewall::{self, Firewall};
use berth_inventory::processes::{self, Executable};
use berth_inventory::system::{self, SystemFacts};
use berth_inventory::Interface;
use berth_inventory::{self as inventory, interfaces, InventoryError, Query, Snapshot, SourceChoice};

use super::{listeners, reachability, Listener, Reach};

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
    /// Reads the facts: one snapshot of the listeners and owners, the
    /// firewall rules (read on another thread meanwhile: nft and
    /// iptables-save are separate programs), the system's settings and the
    /// interfaces. The snapshot comes back too, for its source and
    /// visibility notes. What `berth audit` and `berth metrics` audit.
    pub fn gather(source: SourceChoice) -> Result<(Facts, Snapshot), InventoryError> {
        let query = Query::listeners(source);
        let (snapshot, firewall) = std::thread::scope(|scope| {
            let firewall = scope.spawn(firewall::read);
            let snapshot = inventory::collect(&query);
            (snapshot, firewall.join().unwrap_or_default())
        });
        let snapshot = snapshot?;
        let system = system::collect();
        let interfaces = interfaces::list();
        let listeners = listeners::collect(&snapshot, &interfaces);
        let reach = reachability::assess(&listeners, &firewall, &system, &interfaces);
        let facts = Facts {
            listeners,
            reach,
            firewall,
            system,
            interfaces,
            root: snapshot.visibility.running_as_root,
            unseen_processes: snapshot.visibility.unreadable_processes,
            ephemeral: snapshot.port_ranges.ephemeral,
        };
        Ok((facts, snapshot))
    }

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
