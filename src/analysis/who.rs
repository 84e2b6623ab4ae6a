//! `berth who PORT`: everything holding a port, and who is connected to it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use super::report::{Endpoint, OwnerReport, SocketReport};
use super::unseen::{owner_status, OwnerStatus, UnseenCounts};
use berth_inventory::scope::unmapped;
use berth_inventory::target::PortTarget;
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

/// A process in a holder's parent chain.
#[derive(Clone, Debug, Serialize)]
pub struct Ancestor<'a> {
    pub pid: u32,
    pub name: &'a str,
    pub cmdline: &'a [String],
}

/// A socket a holder has bound on the port (a listener, or a bound UDP socket).
#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    pub protocol: Protocol,
    pub local: Endpoint,
    pub state: SocketState,
    pub scope: &'static str,
    pub interface: Option<String>,
    pub covers_ipv4: bool,
    pub covers_ipv6: bool,
}

/// Connections whose local end is the port, grouped by the peer's address.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Connections {
    pub established: usize,
    /// Other states (SYN_RECV, CLOSE_WAIT, FIN_WAIT, ...), counted.
    pub other: usize,
    pub peers: Vec<Peer>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    pub address: String,
    pub connections: usize,
    /// Processes on this machine at the other end, as `name[pid]`.
    pub processes: Vec<String>,
}

/// One process holding the port.
#[derive(Clone, Debug, Serialize)]
pub struct Holder<'a> {
    #[serde(flatten)]
    pub process: OwnerReport<'a>,
    /// Parent, grandparent, ... up to pid 1.
    pub ancestors: Vec<Ancestor<'a>>,
    pub bindings: Vec<Binding>,
    pub connections: Connections,
    /// Sockets on the port this process opened as a client (the port is their local port).
    pub outgoing: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct WhoReport<'a> {
    pub target: String,
    pub port: u16,
    /// True when some socket other than TIME_WAIT remnants has the port as its local port.
    pub held: bool,
    pub holders: Vec<Holder<'a>>,
    /// Sockets on the port whose owner could not be seen.
    pub unseen: UnseenCounts,
    /// TIME_WAIT remnants on the port: they hold no process and do not stop a
    /// server that sets SO_REUSEADDR from binding.
    pub time_wait: usize,
    /// Every matching socket, TIME_WAIT included.
    pub sockets: Vec<SocketReport<'a>>,
    /// When the snapshot was taken (Unix seconds): what "started 3m ago" is
    /// counted from, so that the renderer never reads the clock.
    #[serde(skip)]
    pub taken_at: u64,
}

pub fn who<'a>(target: &PortTarget, snapshot: &'a Snapshot) -> WhoReport<'a> {
    let mut matching: Vec<&Socket> = snapshot.sockets.iter().filter(|s| target.matches_local(s)).collect();
    super::filter::sort_for_listing(&mut matching, Some(target.port));

    // Client ends on this machine, to name the process behind each peer.
    let mut clients: HashMap<(IpAddr, u16), Vec<String>> = HashMap::new();
    for socket in &snapshot.sockets {
        if socket.remote.is_some_and(|r| r.port() == target.port) && !socket.owners.is_empty() {
            let key = (unmapped(socket.local.ip()), socket.local.port());
            let names = clients.entry(key).or_default();
            for owner in &socket.owners {
                let name = snapshot.processes.get(&owner.pid).map(|p| p.name.as_str()).unwrap_or("?");
                names.push(format!("{name}[{}]", owner.pid));
            }
        }
    }

    let mut by_pid: BTreeMap<u32, Vec<(&Socket, &[u32])>> = BTreeMap::new();
    let mut time_wait = 0;
    for socket in &matching {
        if socket.state == SocketState::TimeWait {
            time_wait += 1;
            continue;
        }
        for owner in &socket.owners {
            by_pid.entry(owner.pid).or_default().push((socket, &owner.fds));
        }
    }
    let live: Vec<&Socket> = matching.iter().copied().filter(|s| s.state != SocketState::TimeWait).collect();
    let unseen =
        UnseenCounts::of(live.iter().copied().filter(|s| owner_status(s, snapshot) != OwnerStatus::None), snapshot);

    let holders = by_pid
        .into_iter()
        .map(|(pid, sockets)| {
            let process = snapshot.processes.get(&pid);
            // Every descriptor the process holds on this port, across its sockets.
            let mut fds: Vec<u32> = sockets.iter().flat_map(|(_, fds)| fds.iter().copied()).collect();
            fds.sort_unstable();
            fds.dedup();
            let mut owner = OwnerReport::new(pid, &[], process);
            owner.fds = fds.into();
            let mut holder = Holder {
                process: owner,
                ancestors: ancestors(pid, snapshot),
                bindings: Vec::new(),
                connections: Connections::default(),
                outgoing: 0,
            };
            let listens = sockets.iter().any(|(s, _)| s.state.is_listening());
            let mut peers: BTreeMap<IpAddr, (usize, Vec<String>)> = BTreeMap::new();
            for (socket, _) in &sockets {
                if socket.state.is_listening() {
                    let report = SocketReport::new(socket, snapshot);
                    holder.bindings.push(Binding {
                        protocol: socket.protocol,
                        local: socket.local.into(),
                        state: socket.state,
                        scope: report.scope,
                        interface: report.interface,
                        covers_ipv4: report.covers_ipv4,
                        covers_ipv6: report.covers_ipv6,
                    });
                } else if !listens {
                    holder.outgoing += 1;
                } else {
                    if socket.state == SocketState::Established {
                        holder.connections.established += 1;
                    } else {
                        holder.connections.other += 1;
                    }
                    if let Some(remote) = socket.remote {
                        let entry = peers.entry(unmapped(remote.ip())).or_default();
                        entry.0 += 1;
                        if let Some(names) = clients.get(&(unmapped(remote.ip()), remote.port())) {
                            for name in names {
                                if !entry.1.contains(name) {
                                    entry.1.push(name.clone());
                                }
                            }
                        }
                    }
                }
            }
            holder.connections.peers = peers
                .into_iter()
                .map(|(address, (connections, processes))| Peer {
                    address: address.to_string(),
                    connections,
                    processes,
                })
                .collect();
            holder
        })
        .collect();

    WhoReport {
        target: target.text.clone(),
        port: target.port,
        held: !live.is_empty(),
        holders,
        unseen,
        time_wait,
        sockets: matching.iter().map(|s| SocketReport::new(s, snapshot)).collect(),
        taken_at: snapshot.taken_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    }
}

/// The parent chain of `pid`, nearest first, as far as the snapshot read it.
fn ancestors<'a>(pid: u32, snapshot: &'a Snapshot) -> Vec<Ancestor<'a>> {
    let mut chain = Vec::new();
    let mut current = snapshot.processes.get(&pid).map(|p| p.ppid);
    // Bounded by the number of processes known: a cycle cannot loop forever.
    for _ in 0..snapshot.processes.len() {
        let Some(ppid) = current.filter(|&p| p != 0) else { break };
        let Some(parent) = snapshot.processes.get(&ppid) else { break };
        chain.push(Ancestor { pid: ppid, name: &parent.name, cmdline: &parent.cmdline });
        current = Some(parent.ppid);
    }
    chain
}
