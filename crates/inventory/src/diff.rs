//! What changed between two [`Snapshot`]s: sockets that opened or closed,
//! changed state, or changed hands, as [`Event`]s.
//!
//! A socket is the same socket in both snapshots when its [`SocketKey`] is
//! the same: protocol, namespace, both addresses, the kernel's socket
//! cookie where the source gives it and, for sockets without a peer, the
//! inode. The addresses are part of it because the kernel reuses
//! inode numbers; a listener's inode is part of it because a port can be
//! closed and bound again by another socket between two snapshots. A
//! connection's inode is not: it has none (0) while it waits in the accept
//! queue and gets one at accept(), and its four addresses already say which
//! connection it is. So a UDP socket that `connect()`s (its remote address
//! changes) ends as a listener and begins as a connection: that is what a
//! reader of the events wants to know anyway.
//!
//! TIME_WAIT entries are left out: they are what remains of a connection
//! after it closed, no process holds them, and they come and go with the
//! kernel's timer, not with anything a program did.

use std::net::SocketAddr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::{Owners, Protocol, Snapshot, Socket, SocketState};

/// What identifies one socket across snapshots (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SocketKey {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Inode of the network namespace the socket lives in.
    pub netns: u64,
    /// The local address and port.
    pub local: SocketAddr,
    /// The peer, for connections.
    pub remote: Option<SocketAddr>,
    /// The inode of a socket without a peer (a listener); 0 for
    /// connections, which their addresses identify (see the module docs).
    pub inode: u64,
    /// The kernel's socket cookie (netlink; 0 from /proc/net): a
    /// connection that ends and a later one on the same four addresses
    /// (which loopback allows at once, through tcp_tw_reuse) are two sockets.
    pub cookie: u64,
}

impl Socket {
    /// This socket's identity across snapshots.
    pub fn key(&self) -> SocketKey {
        SocketKey {
            protocol: self.protocol,
            netns: self.netns,
            local: self.local,
            remote: self.remote,
            inode: if self.remote.is_some() { 0 } else { self.inode },
            cookie: self.cookie,
        }
    }
}

/// What happened to one socket between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// A listening TCP or bound UDP socket appeared.
    ListenerOpened,
    /// A listening TCP or bound UDP socket went away.
    ListenerClosed,
    /// A connection appeared (in any state but TIME_WAIT).
    ConnectionOpened,
    /// A connection went away (or only its TIME_WAIT remnant is left).
    ConnectionClosed,
    /// The socket is still there, in another state.
    StateChanged {
        /// The state it was in before.
        from: SocketState,
    },
    /// The socket is still there, held by other processes (pids, sorted).
    OwnersChanged {
        /// The pids that held it before.
        from: Vec<u32>,
    },
}

/// One change to one socket. `socket` is the socket as the newer snapshot
/// shows it, or as the older one last showed it when it closed.
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub change: Change,
    /// The socket it happened to.
    pub socket: Socket,
}

/// The events that lead from `before` to `after`, in a fixed order: closes
/// first, then changes, then opens, each group sorted by socket key.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Event> {
    let old = live_by_key(before);
    let new = live_by_key(after);
    let mut closed: Vec<Event> = Vec::new();
    let mut changed: Vec<Event> = Vec::new();
    let mut opened: Vec<Event> = Vec::new();
    for (key, was) in &old {
        match new.get(key) {
            None => {
                let change = if was.state.is_listening() { Change::ListenerClosed } else { Change::ConnectionClosed };
                closed.push(Event { change, socket: (*was).clone() });
            }
            Some(now) => {
                if now.state != was.state {
                    changed.push(Event { change: Change::StateChanged { from: was.state }, socket: (*now).clone() });
                }
                if pids(&now.owners) != pids(&was.owners) {
                    changed.push(Event {
                        change: Change::OwnersChanged { from: pids(&was.owners) },
                        socket: (*now).clone(),
                    });
                }
            }
        }
    }
    for (key, now) in &new {
        if !old.contains_key(key) {
            let change = if now.state.is_listening() { Change::ListenerOpened } else { Change::ConnectionOpened };
            opened.push(Event { change, socket: (*now).clone() });
        }
    }
    for group in [&mut closed, &mut changed, &mut opened] {
        group.sort_by_key(|event| event.socket.key());
    }
    closed.into_iter().chain(changed).chain(opened).collect()
}

fn live_by_key(snapshot: &Snapshot) -> FxHashMap<SocketKey, &Socket> {
    snapshot.sockets.iter().filter(|s| s.state != SocketState::TimeWait).map(|s| (s.key(), s)).collect()
}

fn pids(owners: &Owners) -> Vec<u32> {
    owners.iter().map(|o| o.pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::SnapshotBuilder;

    #[test]
    fn opens_closes_and_changes_in_order() {
        let before = SnapshotBuilder::new()
            .tcp_listener("127.0.0.1:8080", 10)
            .tcp_connection("127.0.0.1:40000", "127.0.0.1:8080", SocketState::SynSent, 11)
            .tcp_connection("127.0.0.1:40001", "127.0.0.1:8080", SocketState::Established, 12)
            .build();
        let after = SnapshotBuilder::new()
            .tcp_listener("127.0.0.1:8080", 10)
            .tcp_connection("127.0.0.1:40000", "127.0.0.1:8080", SocketState::Established, 11)
            .tcp_connection("127.0.0.1:40001", "127.0.0.1:8080", SocketState::TimeWait, 0)
            .udp_socket("127.0.0.1:5353", 13)
            .build();
        let events = diff(&before, &after);
        let kinds: Vec<(&Change, u16)> = events.iter().map(|e| (&e.change, e.socket.local.port())).collect();
        assert_eq!(
            kinds,
            vec![
                (&Change::ConnectionClosed, 40001),
                (&Change::StateChanged { from: SocketState::SynSent }, 40000),
                (&Change::ListenerOpened, 5353),
            ]
        );
    }

    #[test]
    fn owners_changing_hands() {
        let before = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).owner(10, 100).build();
        let after = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).owner(10, 100).owner(10, 101).build();
        let events = diff(&before, &after);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].change, Change::OwnersChanged { from: vec![100] });
        assert!(diff(&after, &after).is_empty());
    }

    #[test]
    fn an_accepted_connection_is_the_one_that_waited() {
        // In the accept queue (no inode yet), then accepted (inode 12).
        let queued = SnapshotBuilder::new()
            .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 0)
            .build();
        let accepted = SnapshotBuilder::new()
            .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 12)
            .build();
        assert!(diff(&queued, &accepted).is_empty());
    }

    #[test]
    fn a_port_bound_again_by_another_socket_is_a_close_and_an_open() {
        let before = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 10).build();
        let after = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 20).build();
        let changes: Vec<Change> = diff(&before, &after).into_iter().map(|e| e.change).collect();
        assert_eq!(changes, vec![Change::ListenerClosed, Change::ListenerOpened]);
    }
}
