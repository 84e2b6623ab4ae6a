//! When the scanned host is this machine, the inventory can say who holds
//! each open port. This module decides whether an address is this machine,
//! picks the holders out of one [`Snapshot`] (it never reads the kernel
//! itself), and makes the entries `scan` reports.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use super::scan::{Found, PortState, ScanOutcome};
use crate::analysis::doctor::accept_queue::{why_timed_out, AcceptQueue};
use crate::analysis::report::OwnerReport;
use crate::analysis::unseen::{owner_status, OwnerStatus, UnseenCounts};
use berth_inventory::scope::{is_loopback, unmapped};
use berth_inventory::services::service_name;
use berth_inventory::target::takes_traffic_for;
use berth_inventory::{interfaces, Protocol, Snapshot, Socket};

/// True for loopback, the unspecified address (which connects to this
/// machine), and any address of this machine's interfaces.
pub fn is_this_machine(address: IpAddr) -> bool {
    let address = unmapped(address);
    is_loopback(address)
        || address.is_unspecified()
        || interfaces::list().iter().any(|interface| unmapped(interface.address) == address)
}

/// The processes holding the listening (TCP) or bound (UDP) socket that
/// takes `protocol` traffic for `address:port` in berth's own network
/// namespace, by pid, each once. Empty when the holder cannot be seen (a
/// process of another user, without root).
pub fn holders(snapshot: &Snapshot, address: IpAddr, protocol: Protocol, port: u16) -> Vec<OwnerReport<'_>> {
    let mut found: Vec<OwnerReport<'_>> = Vec::new();
    for socket in listening(snapshot, address, protocol, port) {
        for owner in &socket.owners {
            if !found.iter().any(|o| o.pid == owner.pid) {
                found.push(OwnerReport::new(owner.pid, &owner.fds, snapshot.processes.get(&owner.pid)));
            }
        }
    }
    found.sort_by_key(|o| o.pid);
    found
}

/// Why [`holders`] found no process, and whose the socket is: the owner
/// status and the user (by the socket's uid, as ls shows it) of the first
/// socket that takes the traffic (Owned and no user when none does).
fn unseen_socket(snapshot: &Snapshot, address: IpAddr, protocol: Protocol, port: u16) -> (OwnerStatus, Option<&str>) {
    let mut sockets = listening(snapshot, address, protocol, port);
    sockets.next().map_or((OwnerStatus::Owned, None), |s| {
        (owner_status(s, snapshot), snapshot.users.get(&s.uid).map(String::as_str))
    })
}

/// The listening (TCP) or bound (UDP) sockets in berth's own namespace that
/// take `protocol` traffic for `address:port`.
fn listening(snapshot: &Snapshot, address: IpAddr, protocol: Protocol, port: u16) -> impl Iterator<Item = &Socket> {
    let own_netns = snapshot.namespaces.iter().find(|n| n.own).map(|n| n.inode);
    // Connecting to 0.0.0.0 or :: reaches loopback.
    let address = match address {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    };
    snapshot.sockets.iter().filter(move |s| {
        s.protocol == protocol
            && s.local.port() == port
            && s.state.is_listening()
            && own_netns.is_none_or(|ns| s.netns == ns)
            && takes_traffic_for(s, address)
    })
}

/// One reported port: the scan's finding, and who holds it when local.
#[derive(Clone, Debug, Serialize)]
pub struct Entry<'a> {
    pub address: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub state: PortState,
    /// From the start of the attempt to its outcome, milliseconds.
    pub latency_ms: f64,
    /// IANA's name for the port and protocol.
    pub service: Option<&'static str>,
    /// The processes holding it: None when the host is not this machine
    /// (or the inventory could not be read), empty when they cannot be seen.
    pub owners: Option<Vec<OwnerReport<'a>>>,
    /// For `open|not-accepting`: the listener's full accept queue.
    pub accept_queue: Option<AcceptQueue>,
    /// Why `owners` is empty, for the one wording of an unseen holder.
    #[serde(skip)]
    pub owner_status: OwnerStatus,
    /// The listening socket's user (its uid's name), which the kernel
    /// reports even when the process cannot be seen: the USER cell then,
    /// as in ls.
    #[serde(skip)]
    pub socket_user: Option<&'a str>,
}

/// Moves the TCP ports of this machine whose connect timed out because the
/// listener's accept queue is full from `timed_out` (which the notes call
/// filtered by a firewall) to `found`, as [`PortState::NotAccepting`].
/// `snapshot` holds this machine's listeners; `address` is the one scanned;
/// `timeout` is how long each of those attempts waited.
pub fn not_accepting(outcome: &mut ScanOutcome, address: IpAddr, snapshot: &Snapshot, timeout: Duration) {
    let timeout_ports = std::mem::take(&mut outcome.timed_out_ports);
    for port in timeout_ports {
        if why_timed_out(snapshot, address, port).is_some() {
            outcome.timed_out -= 1;
            outcome.found.push(Found { port, state: PortState::NotAccepting, latency: timeout });
        } else {
            outcome.timed_out_ports.push(port);
        }
    }
    outcome.found.sort_by_key(|f| f.port);
}

/// The entries for `found`, with owners from `snapshot` when there is one.
pub fn entries<'a>(
    found: &[Found],
    address: IpAddr,
    protocol: Protocol,
    snapshot: Option<&'a Snapshot>,
) -> Vec<Entry<'a>> {
    found
        .iter()
        .map(|f| {
            let (owner_status, socket_user) =
                snapshot.map_or((OwnerStatus::Owned, None), |s| unseen_socket(s, address, protocol, f.port));
            Entry {
                address,
                port: f.port,
                protocol,
                state: f.state,
                latency_ms: f.latency.as_secs_f64() * 1000.0,
                service: service_name(f.port, protocol),
                owners: snapshot.map(|s| holders(s, address, protocol, f.port)),
                accept_queue: match (f.state, snapshot) {
                    (PortState::NotAccepting, Some(s)) => why_timed_out(s, address, f.port),
                    _ => None,
                },
                owner_status,
                socket_user,
            }
        })
        .collect()
}

/// The ports whose holder could not be seen, counted by why, for the notes
/// ls and who give too ([`UnseenCounts::notes`]).
pub fn unseen_counts(entries: &[Entry]) -> UnseenCounts {
    let mut counts = UnseenCounts::default();
    for entry in entries.iter().filter(|e| e.owners.as_ref().is_some_and(Vec::is_empty)) {
        counts.add(entry.owner_status);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local() {
        assert!(is_this_machine("127.0.0.1".parse().unwrap()));
        assert!(is_this_machine("127.3.2.1".parse().unwrap()));
        assert!(is_this_machine("::1".parse().unwrap()));
        assert!(is_this_machine("::ffff:127.0.0.1".parse().unwrap()));
        // TEST-NET-3 is never assigned to a real interface.
        assert!(!is_this_machine("203.0.113.77".parse().unwrap()));
    }
}
