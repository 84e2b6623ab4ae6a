//! Who owns each listener, kept between scrapes.
//!
//! Finding a socket's owner means reading every process's descriptors
//! (the pass over /proc/*/fd), which on a machine with 45,000 sockets is
//! most of a snapshot's cost, while listeners and their owners change
//! rarely. So a scrape reads the socket table alone, and the pass runs
//! only when a listener appears whose inode the cache does not know, or
//! when the cache is older than [`REFRESH`] (which catches a listener
//! handed to another process by fork or descriptor passing).

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use berth_inventory::{self as inventory, InventoryError, Query, Snapshot, Socket, SourceChoice};

use super::series::OwnerLabels;

/// How long owners are trusted without a new pass over /proc.
pub const REFRESH: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct OwnerCache {
    /// Listener inode to its owner's labels (empty labels: no owner could
    /// be seen, e.g. another user's process when berth is not root).
    by_inode: FxHashMap<u64, OwnerLabels>,
    refreshed: Option<Instant>,
}

impl OwnerCache {
    /// Makes sure every listener of `snapshot` has an entry, walking /proc
    /// when one is missing or the cache is stale.
    pub fn update(&mut self, snapshot: &Snapshot, source: SourceChoice) -> Result<(), InventoryError> {
        let stale = self.refreshed.is_none_or(|at| at.elapsed() >= REFRESH);
        let unknown = snapshot
            .sockets
            .iter()
            .any(|s| s.state.is_listening() && s.inode != 0 && !self.by_inode.contains_key(&s.inode));
        if !stale && !unknown {
            return Ok(());
        }
        let query = Query { tcp_counters: false, ..Query::listeners(source) };
        let owned = inventory::collect(&query)?;
        self.by_inode.clear();
        for socket in owned.sockets.iter().filter(|s| s.state.is_listening()) {
            let labels = socket
                .owners
                .first()
                .and_then(|owner| owned.processes.get(&owner.pid))
                .map(|process| OwnerLabels {
                    process: process.name.clone(),
                    user: process.user.clone().unwrap_or_default(),
                    container: process
                        .container
                        .as_ref()
                        .map(|c| format!("{}:{}", c.runtime, c.id.get(..12).unwrap_or(&c.id)))
                        .unwrap_or_default(),
                })
                .unwrap_or_default();
            self.by_inode.insert(socket.inode, labels);
        }
        // Listeners of the scrape's table that the pass did not see (they
        // closed between the two reads) count as known without an owner
        // until the next pass, instead of causing a pass every scrape.
        for socket in snapshot.sockets.iter().filter(|s| s.state.is_listening() && s.inode != 0) {
            self.by_inode.entry(socket.inode).or_default();
        }
        self.refreshed = Some(Instant::now());
        Ok(())
    }

    pub fn get(&self, socket: &Socket) -> Option<OwnerLabels> {
        self.by_inode.get(&socket.inode).cloned()
    }
}
