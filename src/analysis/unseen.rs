//! Why a socket has no owner in the snapshot. berth never drops such
//! sockets: it reports them and says what would reveal their owners.

use serde::Serialize;

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
            match owner_status(socket, snapshot) {
                OwnerStatus::Owned => {}
                OwnerStatus::Hidden => counts.hidden += 1,
                OwnerStatus::None => counts.no_process += 1,
                OwnerStatus::Unknown => counts.unknown += 1,
            }
        }
        counts
    }

    /// Sentences for people, one per kind of unseen socket.
    /// `unreadable_processes` is how many processes' descriptors could not be read.
    pub fn notes(&self, unreadable_processes: usize) -> Vec<String> {
        let mut notes = Vec::new();
        let plural = |n: usize| if n == 1 { "socket belongs" } else { "sockets belong" };
        if self.hidden > 0 {
            notes.push(format!(
                "{} {} to processes of other users; run as root (sudo berth ...) to see them",
                self.hidden,
                plural(self.hidden)
            ));
        }
        if self.unknown > 0 {
            let mut note = format!(
                "{} {} to no process berth could find (kernel sockets, or processes that just exited)",
                self.unknown,
                plural(self.unknown)
            );
            if unreadable_processes > 0 {
                note.push_str(&format!(
                    "; berth could not read the descriptors of {unreadable_processes} protected process(es): run as root to see them"
                ));
            }
            notes.push(note);
        }
        notes
    }
}
