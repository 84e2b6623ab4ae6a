//! The listeners the audit judges: listening TCP sockets and bound UDP
//! sockets of berth's own network namespace, grouped so that one service
//! bound to several addresses (127.0.0.1 and ::1, say) is one listener with
//! several addresses, as people think of it.

use std::collections::hash_map::Entry;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use serde::Serialize;

use crate::analysis::unseen::{owner_status, unseen_holder, OwnerStatus};
use berth_inventory::scope::{self, BindScope};
use berth_inventory::{Family, Interface, Process, Protocol, Snapshot, Socket};

/// A process as findings name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessRef {
    pub pid: u32,
    /// The kernel's short name (comm).
    pub name: String,
    pub user: Option<String>,
    pub uid: u32,
    /// The command line, joined with spaces.
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

impl ProcessRef {
    pub fn of(process: &Process) -> ProcessRef {
        ProcessRef {
            pid: process.pid,
            name: process.name.clone(),
            user: process.user.clone(),
            uid: process.uid,
            command: process.cmdline.join(" "),
            container: process.container.as_ref().map(|c| format!("{} {}", c.runtime, c.id)),
            systemd_unit: process.systemd_unit.clone(),
        }
    }

    /// "redis-server (pid 812, user redis)".
    pub fn label(&self) -> String {
        match &self.user {
            Some(user) => format!("{} (pid {}, user {user})", self.name, self.pid),
            None => format!("{} (pid {}, uid {})", self.name, self.pid, self.uid),
        }
    }
}

/// One service waiting for others: a protocol, a port, the addresses it is
/// bound to, and the processes holding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub protocol: Protocol,
    pub port: u16,
    /// Every local address bound (sorted), as the kernel reports it.
    pub addresses: Vec<IpAddr>,
    /// The widest scope among the addresses: All, then an address, then loopback.
    pub scope: BindScope,
    /// Some socket takes IPv4 traffic (dual-stack `::` counts).
    pub takes_ipv4: bool,
    /// Some socket takes IPv6 traffic.
    pub takes_ipv6: bool,
    /// The processes holding the sockets; empty when berth cannot see them.
    pub owners: Vec<ProcessRef>,
    /// The uid that created the (first) socket, known even when the owner is not.
    pub socket_uid: u32,
    /// Why `owners` is empty, when it is: the one wording for an unseen
    /// holder ([`unseen_holder`]) that ls, who, scan and doctor use too.
    pub owner_status: OwnerStatus,
}

impl Listener {
    /// True when bound to loopback addresses only.
    pub fn loopback_only(&self) -> bool {
        self.scope.is_loopback()
    }

    /// The owner's short name, or the one wording for an unseen holder
    /// ("another user's process, seen only by root").
    pub fn owner_name(&self) -> String {
        self.owners.first().map(|p| p.name.clone()).unwrap_or_else(|| unseen_holder(self.owner_status).into())
    }

    /// Where berth connects to talk to it: a loopback address when the
    /// listener takes loopback traffic (127.0.0.1 first), otherwise the
    /// first address it is bound to.
    pub fn probe_address(&self) -> IpAddr {
        let v4_loopback = IpAddr::from([127, 0, 0, 1]);
        let v6_loopback = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
        for ip in &self.addresses {
            let plain = scope::unmapped(*ip);
            if plain.is_loopback() {
                return plain;
            }
        }
        if matches!(self.scope, BindScope::All) {
            return if self.takes_ipv4 { v4_loopback } else { v6_loopback };
        }
        self.addresses.first().map(|ip| scope::unmapped(*ip)).unwrap_or(v4_loopback)
    }

    /// `127.0.0.1:6379 and [::1]:6379`.
    pub fn places(&self) -> String {
        let places: Vec<String> = self
            .addresses
            .iter()
            .map(|ip| match ip {
                IpAddr::V6(v6) => format!("[{v6}]:{}", self.port),
                IpAddr::V4(v4) => format!("{v4}:{}", self.port),
            })
            .collect();
        super::list_words(&places)
    }
}

/// Rank of a scope: wider is larger.
fn width(scope: &BindScope) -> u8 {
    match scope {
        BindScope::Loopback => 0,
        BindScope::Address { .. } => 1,
        BindScope::All => 2,
    }
}

/// Is this socket waiting for others (TCP LISTEN, bound unconnected UDP)?
fn is_listener(socket: &Socket) -> bool {
    socket.state.is_listening()
}

/// Groups the listening sockets of berth's own namespace into listeners:
/// one per protocol, port and set of owning processes.
pub fn collect(snapshot: &Snapshot, interfaces: &[Interface]) -> Vec<Listener> {
    let own_netns = snapshot.namespaces.first().map(|n| n.inode);
    let mut listeners: Vec<Listener> = Vec::new();
    // (protocol, port, owner pids, and the socket's uid when no owner is
    // seen, so that two unseen users' sockets stay apart) -> index.
    let mut index: FxHashMap<(Protocol, u16, Vec<u32>, Option<u32>), usize> = FxHashMap::default();
    for socket in snapshot.sockets.iter().filter(|s| is_listener(s)) {
        if own_netns.is_some_and(|inode| socket.netns != 0 && socket.netns != inode) {
            continue;
        }
        let pids: Vec<u32> = socket.owners.iter().map(|o| o.pid).collect();
        let scope = scope::scope_of(socket.local.ip(), interfaces);
        let takes_ipv4 = scope::covers_ipv4(socket);
        let takes_ipv6 = scope::covers_ipv6(socket) && socket.family == Family::V6;
        let unseen_uid = pids.is_empty().then_some(socket.uid);
        match index.entry((socket.protocol, socket.local.port(), pids, unseen_uid)) {
            Entry::Occupied(slot) => {
                let listener = &mut listeners[*slot.get()];
                if !listener.addresses.contains(&socket.local.ip()) {
                    listener.addresses.push(socket.local.ip());
                    listener.addresses.sort();
                }
                if width(&scope) > width(&listener.scope) {
                    listener.scope = scope;
                }
                listener.takes_ipv4 |= takes_ipv4;
                listener.takes_ipv6 |= takes_ipv6;
            }
            Entry::Vacant(slot) => {
                let owners =
                    slot.key().2.iter().filter_map(|pid| snapshot.processes.get(pid)).map(ProcessRef::of).collect();
                slot.insert(listeners.len());
                listeners.push(Listener {
                    protocol: socket.protocol,
                    port: socket.local.port(),
                    addresses: vec![socket.local.ip()],
                    scope,
                    takes_ipv4,
                    takes_ipv6,
                    owners,
                    socket_uid: socket.uid,
                    owner_status: owner_status(socket, snapshot),
                });
            }
        }
    }
    listeners.sort_by(|a, b| (a.protocol, a.port, &a.addresses).cmp(&(b.protocol, b.port, &b.addresses)));
    listeners
}
