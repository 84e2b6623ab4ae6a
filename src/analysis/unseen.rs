//! Why a socket has no owner in the snapshot. berth never drops such
//! sockets: it reports them and says what would reveal their owners.

use serde::Serialize;

use super::plural;
use berth_inventory::{Snapshot, Socket};

/// Whose a socket is, as far as the snapshot can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerStatus {
    /// At least one process holding it was found.
    Owned,
    /// Another user's process holds it, and only root can see whose.
    Hidden,
    /// No process holds it by nature: TIME_WAIT, a pending connection, an orphan.
    None,
    /// Held by the kernel itself, or by a process that exited while berth looked.
    Unknown,
}

pub fn owner_status(socket: &Socket, snapshot: &Snapshot) -> OwnerStatus {
    if !socket.owners.is_empty() {
        OwnerStatus::Owned
    } else if socket.inode == 0 {
        OwnerStatus::None
    } else if !snapshot.visibility.running_as_root && socket.uid != snapshot.our_uid {
        OwnerStatus::Hidden
    } else {
        OwnerStatus::Unknown
    }
}

/// The one wording for a socket's holder when berth shows no process for
/// it, used by every command (ls's and scan's COMMAND cell, who's and
/// doctor's summaries, kill's plan), so that the same socket reads the same
/// everywhere. A noun phrase: "port 80 is held by ...", "(...)".
pub fn unseen_holder(status: OwnerStatus) -> &'static str {
    match status {
        OwnerStatus::Hidden => "another user's process, seen only by root",
        OwnerStatus::None => "no process",
        OwnerStatus::Owned | OwnerStatus::Unknown => "a process berth could not find",
    }
}

/// Counts of the sockets in a listing whose owners are not shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnseenCounts {
    pub hidden: usize,
    pub no_process: usize,
    pub unknown: usize,
}

impl UnseenCounts {
    pub fn of<'a>(sockets: impl IntoIterator<Item = &'a Socket>, snapshot: &Snapshot) -> Self {
        let mut counts = UnseenCounts::default();
        for socket in sockets {
            counts.add(owner_status(socket, snapshot));
        }
        counts
    }

    /// Counts one socket of this status (scan, which keeps the status of
    /// each port's socket rather than the socket, counts with this).
    pub fn add(&mut self, status: OwnerStatus) {
        match status {
            OwnerStatus::Owned => {}
            OwnerStatus::Hidden => self.hidden += 1,
            OwnerStatus::None => self.no_process += 1,
            OwnerStatus::Unknown => self.unknown += 1,
        }
    }

    /// Sentences for people, one per kind of unseen socket.
    /// `unreadable_processes` is how many processes' descriptors could not be read.
    pub fn notes(&self, unreadable_processes: usize) -> Vec<String> {
        let mut notes = Vec::new();
        let sockets = |n: usize| plural(n, "socket is held by", "sockets are held by");
        if self.hidden > 0 {
            notes.push(format!(
                "{} {}; run as root (sudo berth ...) to see them",
                sockets(self.hidden),
                unseen_holder(OwnerStatus::Hidden)
            ));
        }
        if self.unknown > 0 {
            let mut note = format!("{} {}", sockets(self.unknown), unseen_holder(OwnerStatus::Unknown));
            if unreadable_processes > 0 {
                note.push_str(&format!(
                    "; berth could not read the descriptors of {}: run as root to see them",
                    plural(unreadable_processes, "protected process", "protected processes")
                ));
            }
            notes.push(note);
        }
        notes
    }
}
