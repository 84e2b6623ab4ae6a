//! Why binding a port fails, or connecting to it fails or behaves oddly:
//! who holds it, TIME_WAIT remnants, `localhost` resolving to the family
//! nobody listens on, different processes behind 127.0.0.1 and ::1, a
//! bind to one interface's address, privileged ports, the ephemeral range.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ephemeral::{in_range, is_reserved};
use super::localhost::order_words;
use super::{plural, Check, Facts, Status};
use crate::analysis::kill::{self, Refusal, Requester};
use crate::analysis::report::{rfc3339, SocketReport};
use crate::analysis::unseen::{owner_status, unseen_holder, OwnerStatus};
use crate::analysis::who::{Binding, Holder, WhoReport};
use crate::printable::shell_word;
use berth_inventory::scope::{scope_of, BindScope};
use berth_inventory::system::SystemFacts;
use berth_inventory::target::{address_with_port, takes_traffic_for, PortTarget};
use berth_inventory::{PortRanges, Protocol, Snapshot, Socket};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Listening TCP and bound UDP sockets on the port, of the target's protocol.
fn listeners<'a>(target: &PortTarget, snapshot: &'a Snapshot) -> Vec<&'a Socket> {
    snapshot
        .sockets
        .iter()
        .filter(|s| {
            s.local.port() == target.port && s.state.is_listening() && target.protocol.is_none_or(|p| p == s.protocol)
        })
        .collect()
}

/// The protocols among `sockets`, TCP first.
fn protocols(sockets: &[&Socket]) -> Vec<Protocol> {
    [Protocol::Tcp, Protocol::Udp].into_iter().filter(|p| sockets.iter().any(|s| s.protocol == *p)).collect()
}

fn family_words(covers_ipv4: bool, covers_ipv6: bool) -> &'static str {
    match (covers_ipv4, covers_ipv6) {
        (true, true) => "IPv4 and IPv6",
        (true, false) => "IPv4 only",
        (false, true) => "IPv6 only",
        (false, false) => "no family",
    }
}

fn binding_words(binding: &Binding) -> String {
    format!(
        "{} {} ({})",
        binding.protocol.name(),
        binding.local.socket_addr(),
        family_words(binding.covers_ipv4, binding.covers_ipv6)
    )
}

fn holder_words(holder: &Holder) -> String {
    let p = &holder.process;
    let mut who = format!("{}[{}]", p.name.unwrap_or("?"), p.pid);
    if let Some(user) = p.user {
        who.push_str(&format!(" (user {user})"));
    }
    if let Some(start) = p.start_time_unix {
        who.push_str(&format!(" since {}", rfc3339(start)));
    }
    if !holder.bindings.is_empty() {
        let bindings: Vec<String> = holder.bindings.iter().map(binding_words).collect();
        format!("{who}: {}", bindings.join(", "))
    } else {
        format!("{who}: local port of {}", plural(holder.outgoing, "outgoing connection", "outgoing connections"))
    }
}

/// An unseen holder's socket: "tcp 127.0.0.1:3000, user root (uid 0)".
fn unseen_socket_words(socket: &SocketReport) -> String {
    let user = match socket.user {
        Some(name) => format!("user {name} (uid {})", socket.uid),
        None => format!("uid {}", socket.uid),
    };
    format!("{} {}, {user}", socket.protocol.name(), address_with_port(socket.local.address, socket.local.port))
}

/// "name[pid]" of a socket's owners, or, when there are none, the one
/// wording for an unseen holder (that of the first socket).
fn owners_words(sockets: &[&Socket], snapshot: &Snapshot) -> String {
    let pids: BTreeSet<u32> = sockets.iter().flat_map(|s| s.owners.iter().map(|o| o.pid)).collect();
    if pids.is_empty() {
        let status = sockets.first().map_or(OwnerStatus::Unknown, |s| owner_status(s, snapshot));
        return unseen_holder(status).into();
    }
    pids.iter()
        .map(|pid| format!("{}[{pid}]", snapshot.processes.get(pid).map(|p| p.name.as_str()).unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who holds the port: a second server binding it fails with EADDRINUSE.
/// When a user asks about a held port, that is the answer (a warning, so
/// listed first and exit status 1), with what frees it for this user: what
/// `berth kill` would do as them (its plan: sudo when the holder is another
/// user's, the refusal when berth kill will not stop it).
pub fn held(target: &PortTarget, who: &WhoReport, facts: &Facts) -> Check {
    const ID: &str = "port.held";
    let port = who.port;
    if !who.held {
        let mut summary = format!("nothing holds port {port}: a server can bind it");
        if who.time_wait > 0 {
            let remnants = super::plural(who.time_wait, "TIME_WAIT remnant remains", "TIME_WAIT remnants remain");
            summary.push_str(&format!(" (only {remnants}, see port.time_wait)"));
        }
        return Check::new(ID, Status::Ok, summary);
    }
    let mut parts: Vec<String> = who.holders.iter().take(3).map(holder_words).collect();
    if who.holders.len() > 3 {
        parts.push(format!("and {} more", who.holders.len() - 3));
    }
    let unseen: Vec<&SocketReport> = who
        .sockets
        .iter()
        .filter(|s| s.owners.is_empty() && !matches!(s.owner_status, OwnerStatus::None | OwnerStatus::Owned))
        .collect();
    if let Some(first) = unseen.first() {
        let sockets: Vec<String> = unseen.iter().take(3).map(|s| unseen_socket_words(s)).collect();
        parts.push(format!("{}: {}", unseen_holder(first.owner_status), sockets.join(", ")));
    }
    if parts.is_empty() {
        parts.push(unseen_holder(OwnerStatus::Unknown).to_string());
    }

    // What `berth kill` would do for this user. (berth's own ancestors are
    // not known here; a shell holding a server port is rare.)
    let requester = Requester { uid: facts.system.euid, protected_pids: Vec::new() };
    let plan = kill::plan(std::slice::from_ref(target), facts.snapshot, &requester);
    let word = shell_word(&target.text);
    let needs_root = who.unseen.hidden > 0
        || plan.ports.iter().flat_map(|p| &p.refused).any(|r| matches!(r.refusal, Refusal::OtherUser { .. }));
    let refusal = plan
        .ports
        .iter()
        .flat_map(|p| &p.refused)
        .find(|r| !matches!(r.refusal, Refusal::OtherUser { .. }))
        .map(|r| format!("berth kill will not stop {}[{}]: {}", r.name, r.pid, r.refusal.explain(&target.text)));
    let sudo = if needs_root { "sudo " } else { "" };
    let remedy = if let Some(refusal) = refusal {
        Some(refusal)
    } else if needs_root || !plan.is_empty() {
        Some(format!("free it with `{sudo}berth kill {word}`"))
    } else {
        None
    };
    let mut summary = format!("port {port} is held by {}", parts.join("; "));
    if let Some(remedy) = remedy {
        summary.push_str(&format!("; {remedy}"));
    }
    let see = if who.unseen.hidden > 0 { "sudo berth who" } else { "berth who" };
    Check::new(ID, Status::Warn, summary)
        .detail(format!(
            "another server binding port {port} on the same address fails with 'Address already in use' \
             (EADDRINUSE) unless both set SO_REUSEPORT"
        ))
        .fix(format!("details: {see} {word}; or pick another port: berth free"))
}

/// TIME_WAIT remnants alone: bind() without SO_REUSEADDR fails on them
/// for up to a minute, with SO_REUSEADDR it succeeds.
pub fn time_wait(who: &WhoReport) -> Check {
    const ID: &str = "port.time_wait";
    let port = who.port;
    let count = who.time_wait;
    if count == 0 {
        return Check::new(ID, Status::Ok, format!("no TIME_WAIT remnants on port {port}"));
    }
    let remnants = plural(count, "TIME_WAIT remnant", "TIME_WAIT remnants");
    let detail = "TIME_WAIT sockets are what is left of closed connections on the side that closed first; they \
                  belong to no process and expire after 60 seconds. bind() fails on them with 'Address already in \
                  use' unless the server sets SO_REUSEADDR before binding, which most servers do";
    if who.held {
        return Check::new(ID, Status::Info, format!("also {remnants} of closed connections on port {port}"))
            .detail(detail);
    }
    Check::new(
        ID,
        Status::Warn,
        format!("port {port} has only {remnants}: a server without SO_REUSEADDR cannot bind it for up to 60 s"),
    )
    .detail(detail)
    .fix("set SO_REUSEADDR on the listening socket before bind() (e.g. Python: allow_reuse_address = True), or wait a minute")
}

/// The listeners' addresses for messages: "127.0.0.1", "::1, 127.0.0.1".
fn addresses_words(sockets: &[&Socket]) -> String {
    let mut addresses: Vec<String> = sockets.iter().map(|s| s.local.ip().to_string()).collect();
    addresses.dedup();
    addresses.join(", ")
}

/// `localhost` resolving first (or only) to the family nobody listens on:
/// clients get "connection refused" on that address, and only those that
/// try the next one get through.
pub fn localhost_order(target: &PortTarget, facts: &Facts) -> Check {
    const ID: &str = "port.localhost_order";
    let port = target.port;
    let all = listeners(target, facts.snapshot);
    if all.is_empty() {
        return Check::new(ID, Status::Skipped, format!("nothing listens on port {port}"));
    }
    let order: Vec<IpAddr> = match &facts.system.localhost {
        Ok(addresses) => addresses.iter().copied().filter(IpAddr::is_loopback).collect(),
        Err(_) => Vec::new(),
    };
    if order.is_empty() {
        return Check::new(
            ID,
            Status::Warn,
            "localhost does not resolve to a loopback address (see localhost.resolve)",
        );
    }
    let order_text = order_words(&order);
    let mut worst: Option<Check> = None;
    for protocol in protocols(&all) {
        let sockets: Vec<&Socket> = all.iter().copied().filter(|s| s.protocol == protocol).collect();
        let served: Vec<bool> = order.iter().map(|&a| sockets.iter().any(|s| takes_traffic_for(s, a))).collect();
        let on = addresses_words(&sockets);
        let name = protocol.name();
        let check = if served[0] {
            let mut check = Check::new(
                ID,
                Status::Ok,
                format!(
                    "localhost resolves to {order_text}; {name} port {port} listens on {on}, which takes {} first",
                    order[0]
                ),
            );
            if served.iter().any(|s| !s) {
                check = check.detail("the other address would be refused, but clients try the first one first");
            }
            check
        } else {
            let reachable: Vec<String> =
                order.iter().zip(&served).filter(|(_, s)| **s).map(|(a, _)| a.to_string()).collect();
            let missing: Vec<String> =
                order.iter().zip(&served).filter(|(_, s)| !**s).map(|(a, _)| a.to_string()).collect();
            // Where clients can connect instead: the first served address, or the listener's own.
            let instead =
                order.iter().zip(&served).find(|(_, s)| **s).map(|(a, _)| *a).unwrap_or_else(|| sockets[0].local.ip());
            let fix = format!(
                "listen on both families: bind [::] with IPV6_V6ONLY off (dual-stack), or bind {} as well; or have \
                 clients connect to {} instead of localhost",
                missing.join(" and "),
                address_with_port(instead, port)
            );
            if reachable.is_empty() {
                Check::new(
                    ID,
                    Status::Fail,
                    format!(
                        "localhost resolves to {order_text}, but {name} port {port} listens on {on} only: clients \
                         that look localhost up are refused at localhost:{port} ({LOOKUP_CLIENTS}); {SELF_RESOLVERS} \
                         connect"
                    ),
                )
                .detail(format!(
                    "{SELF_RESOLVERS} do not ask the system what localhost is: they try both 127.0.0.1 and ::1. \
                     Every other client gets only {order_text} from getaddrinfo"
                ))
                .fix(fix)
            } else {
                let (refused, connect) = first_address_clients(instead.is_ipv4());
                Check::new(
                    ID,
                    Status::Warn,
                    format!(
                        "localhost resolves to {} first, but {name} port {port} listens on {on} only: clients that \
                         try only the first address get 'connection refused' ({refused})",
                        order[0]
                    ),
                )
                .detail(format!(
                    "clients that move on to the next address ({}) connect after the refusal: {connect}",
                    reachable.join(", ")
                ))
                .fix(fix)
            }
        };
        if worst.as_ref().is_none_or(|w| check.status > w.status) {
            worst = Some(check);
        }
    }
    worst.unwrap_or_else(|| Check::new(ID, Status::Skipped, format!("nothing listens on port {port}")))
}

/// Clients that take localhost's addresses from getaddrinfo (in its order,
/// from /etc/hosts).
const LOOKUP_CLIENTS: &str = "Python, Node.js, Java, wget and other clients that ask the system";
/// Clients that resolve `localhost` themselves, to both loopback addresses
/// (RFC 6761), and try each: curl since 7.78, Chromium and Firefox.
const SELF_RESOLVERS: &str = "curl and browsers (Chromium, Firefox)";

/// Which well-known clients are refused, and which connect, when localhost's
/// first address is not served but a later one of the served family is.
/// Python's socket.create_connection tries each address in turn; Node.js
/// 17 to 19 take the first as getaddrinfo gives it (verbatim), before 17
/// the first IPv4 one, from 20 every address (autoSelectFamily, Happy
/// Eyeballs); Java takes the first IPv4 address unless
/// java.net.preferIPv6Addresses says otherwise.
fn first_address_clients(served_is_ipv4: bool) -> (&'static str, String) {
    const EVERY_ADDRESS: &str = "curl, browsers, wget, Python's socket.create_connection (and urllib) and Node.js \
                                 20+ (autoSelectFamily), which try each address in turn";
    if served_is_ipv4 {
        (
            "Node.js 17 to 19, Node.js 20+ with autoSelectFamily off, Java with java.net.preferIPv6Addresses set",
            format!("{EVERY_ADDRESS}; Node.js before 17 and Java by default, which take IPv4 first"),
        )
    } else {
        ("Node.js before 20, Node.js 20+ with autoSelectFamily off, Java (it takes IPv4 first)", EVERY_ADDRESS.into())
    }
}

/// Different processes behind 127.0.0.1:P and [::1]:P: which one a client
/// reaches depends on the address family it tries first.
pub fn split_loopback(target: &PortTarget, snapshot: &Snapshot) -> Check {
    const ID: &str = "port.split_loopback";
    let port = target.port;
    let all = listeners(target, snapshot);
    if all.is_empty() {
        return Check::new(ID, Status::Skipped, format!("nothing listens on port {port}"));
    }
    let mut outcome: Option<Check> = None;
    for protocol in protocols(&all) {
        let v4: Vec<&Socket> =
            all.iter().copied().filter(|s| s.protocol == protocol && takes_traffic_for(s, V4)).collect();
        let v6: Vec<&Socket> =
            all.iter().copied().filter(|s| s.protocol == protocol && takes_traffic_for(s, V6)).collect();
        let name = protocol.name();
        let check = if v4.is_empty() || v6.is_empty() {
            let only = if v4.is_empty() { "::1" } else { "127.0.0.1" };
            Check::new(
                ID,
                Status::Skipped,
                format!("only {only} of the two loopback addresses takes {name} port {port}"),
            )
        } else {
            let inodes = |list: &[&Socket]| list.iter().map(|s| s.inode).collect::<BTreeSet<u64>>();
            let pids =
                |list: &[&Socket]| list.iter().flat_map(|s| s.owners.iter().map(|o| o.pid)).collect::<BTreeSet<u32>>();
            let unowned = v4.iter().chain(&v6).any(|s| s.owners.is_empty());
            if inodes(&v4) == inodes(&v6) {
                Check::new(ID, Status::Ok, format!("one socket takes {name} port {port} on both 127.0.0.1 and ::1"))
            } else if unowned {
                Check::new(
                    ID,
                    Status::Info,
                    format!("different sockets take {name} port {port} on 127.0.0.1 and ::1; their owners are not all visible"),
                )
                .fix(format!("sudo berth doctor {} shows every owner", shell_word(&target.text)))
            } else if pids(&v4) == pids(&v6) {
                Check::new(
                    ID,
                    Status::Ok,
                    format!(
                        "the same process ({}) takes {name} port {port} on 127.0.0.1 and ::1",
                        owners_words(&v4, snapshot)
                    ),
                )
            } else {
                Check::new(
                    ID,
                    Status::Warn,
                    format!(
                        "different processes behind {name} port {port}: 127.0.0.1 → {}, ::1 → {}",
                        owners_words(&v4, snapshot),
                        owners_words(&v6, snapshot)
                    ),
                )
                .detail(
                    "a client of localhost reaches one or the other depending on which address it tries first, \
                     so the same URL can give different answers",
                )
                .fix(format!("stop the one you do not want (berth who {port}), or move it to another port"))
            }
        };
        if outcome.as_ref().is_none_or(|o| check.status > o.status) {
            outcome = Some(check);
        }
    }
    outcome.unwrap_or_else(|| Check::new(ID, Status::Skipped, format!("nothing listens on port {port}")))
}

/// Listeners bound to one interface's address only: connections to
/// localhost, 127.0.0.1 and ::1 are refused.
pub fn interface_only(target: &PortTarget, snapshot: &Snapshot) -> Check {
    const ID: &str = "port.interface_only";
    let port = target.port;
    let all = listeners(target, snapshot);
    if all.is_empty() {
        return Check::new(ID, Status::Skipped, format!("nothing listens on port {port}"));
    }
    let loopback: Vec<&Socket> =
        all.iter().copied().filter(|s| takes_traffic_for(s, V4) || takes_traffic_for(s, V6)).collect();
    if !loopback.is_empty() {
        return Check::new(
            ID,
            Status::Ok,
            format!("port {port} takes loopback connections (bound to {})", addresses_words(&loopback)),
        );
    }
    let places: Vec<String> = all
        .iter()
        .map(|s| {
            let interfaces = snapshot.namespace(s.netns).map(|n| n.interfaces.as_slice()).unwrap_or(&[]);
            let place = match scope_of(s.local.ip(), interfaces) {
                BindScope::Address { interface: Some(name) } => name,
                BindScope::Loopback => "loopback".into(),
                _ => "no interface".into(),
            };
            format!("{} ({place})", s.local.ip())
        })
        .collect();
    let mut places_dedup = places.clone();
    places_dedup.dedup();
    Check::new(
        ID,
        Status::Warn,
        format!(
            "port {port} listens only on {}: connections to localhost, 127.0.0.1 and ::1 are refused",
            places_dedup.join(", ")
        ),
    )
    .detail("a socket bound to one address takes only traffic for that address")
    .fix(format!(
        "bind 127.0.0.1 (this machine only) or 0.0.0.0 / [::] (every interface); or connect to {}",
        address_with_port(all[0].local.ip(), port)
    ))
}

/// Ports below net.ipv4.ip_unprivileged_port_start need root or
/// CAP_NET_BIND_SERVICE: others get EACCES from bind().
pub fn privileged(port: u16, system: &SystemFacts) -> Check {
    const ID: &str = "port.privileged";
    let Some(start) = system.unprivileged_port_start else {
        return Check::new(ID, Status::Skipped, "cannot read net.ipv4.ip_unprivileged_port_start");
    };
    if port >= start {
        return Check::new(
            ID,
            Status::Ok,
            format!("port {port} needs no privilege (unprivileged ports start at {start})"),
        );
    }
    let fix = format!(
        "grant the server CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep /path/to/server, or \
         AmbientCapabilities= in its systemd unit), use a port from {start} up, or lower \
         net.ipv4.ip_unprivileged_port_start (sysctl -w net.ipv4.ip_unprivileged_port_start={port})"
    );
    let words = format!("port {port} is privileged (below net.ipv4.ip_unprivileged_port_start={start})");
    if system.euid == 0 {
        return Check::new(ID, Status::Info, format!("{words}: root can bind it, other users get 'Permission denied'"))
            .fix(format!("for a server that does not run as root: {fix}"));
    }
    if system.can_bind_privileged {
        return Check::new(
            ID,
            Status::Info,
            format!("{words}: this shell has CAP_NET_BIND_SERVICE, so it can bind it"),
        );
    }
    Check::new(
        ID,
        Status::Warn,
        format!("{words}: as uid {} you cannot bind it (EACCES, 'Permission denied')", system.euid),
    )
    .fix(fix)
}

/// A server port inside the ephemeral range can be taken by an outgoing
/// connection while the server is down.
pub fn ephemeral(port: u16, ranges: &PortRanges) -> Check {
    const ID: &str = "port.ephemeral";
    let (low, high) = ranges.ephemeral;
    if !in_range(port, ranges) {
        return Check::new(ID, Status::Ok, format!("port {port} is outside the ephemeral range {low}-{high}"));
    }
    if is_reserved(port, ranges) {
        return Check::new(
            ID,
            Status::Ok,
            format!("port {port} is inside the ephemeral range {low}-{high} but reserved: the kernel never picks it"),
        );
    }
    Check::new(
        ID,
        Status::Info,
        format!(
            "port {port} is inside the ephemeral range {low}-{high}: the kernel may give it to an outgoing connection"
        ),
    )
    .detail("if that happens while the server is stopped, the server then fails to start with 'Address already in use'")
    .fix(format!(
        "for a fixed server port, reserve it: sysctl -w net.ipv4.ip_local_reserved_ports={port} (persist in \
         /etc/sysctl.d), or pick one outside the range: berth free"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{snapshot, socket, system};
    use super::*;
    use berth_inventory::firewall::Firewall;
    use berth_inventory::{Owner, SocketState};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn localhost_order_against_the_listeners() {
        let mut s = system();
        let snap = snapshot(vec![socket("127.0.0.1:3000", None, SocketState::Listen)]);
        let fw = Firewall::default();
        let t = PortTarget::parse("3000").unwrap();
        s.localhost = Ok(vec![ip("::1"), ip("127.0.0.1")]);
        let c = localhost_order(&t, &Facts { snapshot: &snap, system: &s, firewall: &fw });
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.fix.unwrap().contains("bind ::1 as well; or have clients connect to 127.0.0.1:3000"));
        s.localhost = Ok(vec![ip("::1")]);
        assert_eq!(localhost_order(&t, &Facts { snapshot: &snap, system: &s, firewall: &fw }).status, Status::Fail);
        s.localhost = Ok(vec![ip("127.0.0.1"), ip("::1")]);
        assert_eq!(localhost_order(&t, &Facts { snapshot: &snap, system: &s, firewall: &fw }).status, Status::Ok);
        let none = PortTarget::parse("3001").unwrap();
        assert_eq!(
            localhost_order(&none, &Facts { snapshot: &snap, system: &s, firewall: &fw }).status,
            Status::Skipped
        );
    }

    #[test]
    fn split_interface_privileged_ephemeral() {
        let mut v4 = socket("127.0.0.1:3000", None, SocketState::Listen);
        v4.inode = 1;
        v4.owners.push(Owner { pid: 10, fds: smallvec::smallvec![3] });
        let mut v6 = socket("[::1]:3000", None, SocketState::Listen);
        v6.inode = 2;
        v6.owners.push(Owner { pid: 20, fds: smallvec::smallvec![3] });
        let t = PortTarget::parse("3000").unwrap();
        let snap = snapshot(vec![v4.clone(), v6.clone()]);
        assert_eq!(split_loopback(&t, &snap).status, Status::Warn);
        v6.owners[0].pid = 10;
        assert_eq!(split_loopback(&t, &snapshot(vec![v4, v6])).status, Status::Ok);

        let eth = snapshot(vec![socket("192.0.2.7:3000", None, SocketState::Listen)]);
        let c = interface_only(&t, &eth);
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().ends_with("connect to 192.0.2.7:3000"));
        assert_eq!(
            interface_only(&t, &snapshot(vec![socket("0.0.0.0:3000", None, SocketState::Listen)])).status,
            Status::Ok
        );

        let mut s = system();
        assert_eq!(privileged(80, &s).status, Status::Warn);
        assert_eq!(privileged(3000, &s).status, Status::Ok);
        s.euid = 0;
        assert_eq!(privileged(80, &s).status, Status::Info);

        let mut ranges = eth.port_ranges.clone();
        assert_eq!(ephemeral(40000, &ranges).status, Status::Info);
        ranges.reserved = vec![(40000, 40000)];
        assert_eq!(ephemeral(40000, &ranges).status, Status::Ok);
        assert_eq!(ephemeral(3000, &ranges).status, Status::Ok);
    }
}
