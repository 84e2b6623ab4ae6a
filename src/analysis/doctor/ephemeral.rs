//! The ephemeral port range: where the kernel picks local ports for
//! outgoing connections and for bind(port 0). Too small a range, or too
//! many connections to one destination, and connect() fails with
//! EADDRNOTAVAIL ("Cannot assign requested address").

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use super::{percent, plural, Check, Status};
use berth_inventory::scope::unmapped;
use berth_inventory::{PortRanges, Protocol, Snapshot, Socket, SocketState};

/// How many destinations the TIME_WAIT check names.
const TOP: usize = 3;

/// Above these shares of the usable range, a check warns or fails.
const WARN_PERCENT: f64 = 50.0;
const FAIL_PERCENT: f64 = 90.0;

pub(crate) fn in_range(port: u16, ranges: &PortRanges) -> bool {
    (ranges.ephemeral.0..=ranges.ephemeral.1).contains(&port)
}

pub(crate) fn is_reserved(port: u16, ranges: &PortRanges) -> bool {
    ranges.reserved.iter().any(|&(a, b)| (a..=b).contains(&port))
}

/// Ports the kernel may hand out: the range minus reserved ports.
fn usable(ranges: &PortRanges) -> usize {
    let (low, high) = ranges.ephemeral;
    if low > high {
        return 0;
    }
    (low..=high).filter(|&p| !is_reserved(p, ranges)).count()
}

fn status_for(share: f64) -> Status {
    if share > FAIL_PERCENT {
        Status::Fail
    } else if share > WARN_PERCENT {
        Status::Warn
    } else {
        Status::Ok
    }
}

/// The ports servers wait on, per protocol: a connection on one of them is
/// the server's end, which uses no ephemeral port.
fn listening_ports(snapshot: &Snapshot) -> HashSet<(Protocol, u16)> {
    snapshot.sockets.iter().filter(|s| s.state.is_listening()).map(|s| (s.protocol, s.local.port())).collect()
}

/// The service end of a connection, and whether it is the peer
/// (outgoing) or this machine (incoming): a connection's "destination".
fn service_end(
    socket: &Socket,
    remote: SocketAddr,
    listening: &HashSet<(Protocol, u16)>,
    ranges: &PortRanges,
) -> (bool, SocketAddr) {
    let local = SocketAddr::new(unmapped(socket.local.ip()), socket.local.port());
    let remote = SocketAddr::new(unmapped(remote.ip()), remote.port());
    let local_is_service = listening.contains(&(socket.protocol, local.port()))
        || (!in_range(local.port(), ranges) && in_range(remote.port(), ranges));
    if local_is_service {
        (false, local)
    } else {
        (true, remote)
    }
}

/// Sockets that took an ephemeral port to connect somewhere (TIME_WAIT
/// included: the port stays taken until it expires), keyed by destination.
fn outgoing_by_destination(snapshot: &Snapshot) -> HashMap<(Protocol, SocketAddr), usize> {
    let ranges = &snapshot.port_ranges;
    let listening = listening_ports(snapshot);
    let mut counts = HashMap::new();
    for socket in &snapshot.sockets {
        let Some(remote) = socket.remote else { continue };
        if socket.state.is_listening() || !in_range(socket.local.port(), ranges) {
            continue;
        }
        let (outgoing, destination) = service_end(socket, remote, &listening, ranges);
        if outgoing {
            *counts.entry((socket.protocol, destination)).or_insert(0) += 1;
        }
    }
    counts
}

fn sorted_desc<K: Ord + Clone>(counts: HashMap<K, usize>) -> Vec<(K, usize)> {
    let mut list: Vec<(K, usize)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

/// The range itself: reversed or tiny ranges starve outgoing connections;
/// one reaching below 1024 hands out ports well-known services expect.
pub fn range(ranges: &PortRanges) -> Check {
    const ID: &str = "ephemeral.range";
    let (low, high) = ranges.ephemeral;
    let fix = "sysctl -w net.ipv4.ip_local_port_range='32768 60999'   (the kernel's default; persist in /etc/sysctl.d)";
    if low > high {
        return Check::new(ID, Status::Fail, format!("the ephemeral range {low}-{high} is empty (low above high)"))
            .fix(fix);
    }
    let size = usize::from(high - low) + 1;
    let usable = usable(ranges);
    let words = format!("ephemeral ports {low}-{high}: {size} ports, {usable} usable (net.ipv4.ip_local_port_range)");
    if usable < 1024 {
        return Check::new(ID, Status::Warn, format!("{words}: a small range"))
            .detail("a client opening many connections to one server runs out of local ports quickly")
            .fix(fix);
    }
    if low < 1024 {
        return Check::new(ID, Status::Warn, format!("{words}: it reaches below 1024"))
            .detail("outgoing connections may take ports that well-known services need")
            .fix(fix);
    }
    Check::new(ID, Status::Ok, words)
}

/// Reserved ports, and listeners inside the range that are not reserved:
/// after a restart such a server can find its port taken by an outgoing
/// connection.
pub fn reserved(snapshot: &Snapshot) -> Check {
    const ID: &str = "ephemeral.reserved";
    let ranges = &snapshot.port_ranges;
    let reserved: Vec<String> =
        ranges.reserved.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    let reserved_words =
        if reserved.is_empty() { "no ports reserved".to_string() } else { format!("reserved: {}", reserved.join(",")) };
    let mut exposed: Vec<(Protocol, u16)> = snapshot
        .sockets
        .iter()
        .filter(|s| s.state.is_listening() && in_range(s.local.port(), ranges) && !is_reserved(s.local.port(), ranges))
        .map(|s| (s.protocol, s.local.port()))
        .collect();
    exposed.sort_unstable();
    exposed.dedup();
    if exposed.is_empty() {
        return Check::new(ID, Status::Ok, format!("{reserved_words} (net.ipv4.ip_local_reserved_ports)"));
    }
    let shown: Vec<String> = exposed.iter().take(5).map(|(p, port)| format!("{}/{port}", p.name())).collect();
    let more = if exposed.len() > 5 { format!(" and {} more", exposed.len() - 5) } else { String::new() };
    let mut ports: Vec<u16> = exposed.iter().map(|&(_, port)| port).collect();
    ports.dedup();
    let list: Vec<String> = ports.iter().take(5).map(u16::to_string).collect();
    Check::new(
        ID,
        Status::Info,
        format!(
            "{reserved_words}; {} inside the ephemeral range: {}{more}",
            plural(exposed.len(), "listener is", "listeners are"),
            shown.join(", ")
        ),
    )
    .detail(
        "the kernel may give these ports to outgoing connections while their servers are down, and the servers \
         then fail to start with 'address already in use'",
    )
    .fix(format!("for fixed server ports, reserve them: sysctl -w net.ipv4.ip_local_reserved_ports={}", list.join(",")))
}

/// Distinct ports of the range in use by any socket: bind(port 0) and
/// unconnected sends need a port no socket holds.
pub fn in_use(snapshot: &Snapshot) -> Check {
    const ID: &str = "ephemeral.in_use";
    let ranges = &snapshot.port_ranges;
    let usable = usable(ranges);
    let used: HashSet<u16> = snapshot
        .sockets
        .iter()
        .map(|s| s.local.port())
        .filter(|&p| in_range(p, ranges) && !is_reserved(p, ranges))
        .collect();
    let share = percent(used.len(), usable);
    let summary = format!("{} of {usable} ephemeral ports in use ({share:.0}%)", used.len());
    let check = Check::new(ID, status_for(share), summary);
    if check.status == Status::Ok {
        return check;
    }
    check
        .detail("when every port is taken, bind() to port 0 and new outgoing connections fail with EADDRNOTAVAIL")
        .fix("find who holds them: berth ls -a; widen net.ipv4.ip_local_port_range")
}

/// TIME_WAIT remnants per destination: many to one place means a client
/// opens and closes connections instead of reusing them.
pub fn time_wait(snapshot: &Snapshot) -> Check {
    const ID: &str = "ephemeral.time_wait";
    let ranges = &snapshot.port_ranges;
    let listening = listening_ports(snapshot);
    let mut counts: HashMap<(bool, SocketAddr), usize> = HashMap::new();
    let mut total = 0;
    for socket in snapshot.sockets.iter().filter(|s| s.state == SocketState::TimeWait) {
        let Some(remote) = socket.remote else { continue };
        total += 1;
        *counts.entry(service_end(socket, remote, &listening, ranges)).or_insert(0) += 1;
    }
    if total == 0 {
        return Check::new(ID, Status::Ok, "no TIME_WAIT sockets");
    }
    let top: Vec<String> = sorted_desc(counts)
        .into_iter()
        .take(TOP)
        .map(
            |((outgoing, end), n)| {
                if outgoing {
                    format!("to {end} ×{n}")
                } else {
                    format!("at {end} (closed by this server) ×{n}")
                }
            },
        )
        .collect();
    Check::new(
        ID,
        Status::Info,
        format!("{}: {}", plural(total, "TIME_WAIT socket", "TIME_WAIT sockets"), top.join(", ")),
    )
    .detail(
        "TIME_WAIT remnants belong to no process and expire after 60 s; an outgoing one keeps its local port \
             taken for that destination until then",
    )
}

/// The busiest destination's connections against the usable range: each
/// connection to one address and port needs its own local port.
pub fn exhaustion(snapshot: &Snapshot) -> Check {
    const ID: &str = "ephemeral.exhaustion";
    let usable = usable(&snapshot.port_ranges);
    let Some(((protocol, destination), count)) = sorted_desc(outgoing_by_destination(snapshot)).into_iter().next()
    else {
        return Check::new(ID, Status::Ok, "no outgoing connections hold ephemeral ports");
    };
    let share = percent(count, usable);
    let summary = format!(
        "busiest destination {} {destination} holds {count} of {usable} ephemeral ports ({share:.0}%)",
        protocol.name()
    );
    let check = Check::new(ID, status_for(share), summary);
    if check.status == Status::Ok {
        return check;
    }
    check
        .detail(format!(
            "every connection to {destination} needs its own local port (TIME_WAIT ones included); when none is \
             left, connect() fails with 'Cannot assign requested address' (EADDRNOTAVAIL)"
        ))
        .fix(
            "reuse connections (keep-alive, a connection pool); widen net.ipv4.ip_local_port_range; \
             sysctl -w net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse TIME_WAIT ports",
        )
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{snapshot, socket};
    use super::*;

    #[test]
    fn exhaustion_thresholds() {
        let mut s = snapshot(vec![socket("127.0.0.1:5000", None, SocketState::Listen)]);
        s.port_ranges.ephemeral = (20000, 20009);
        assert_eq!(exhaustion(&s).status, Status::Ok);
        assert_eq!(range(&s.port_ranges).status, Status::Warn);
        for n in 0..6 {
            let local = format!("127.0.0.1:{}", 20000 + n);
            s.sockets.push(socket(&local, Some("127.0.0.1:5000"), SocketState::Established));
            // The server's end: local port 5000 is a listener's, not ephemeral.
            s.sockets.push(socket("127.0.0.1:5000", Some(&local), SocketState::Established));
        }
        let c = exhaustion(&s);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("127.0.0.1:5000 holds 6 of 10"), "{}", c.summary);
        assert_eq!(in_use(&s).status, Status::Warn);
        for n in 6..10 {
            s.sockets.push(socket(&format!("127.0.0.1:{}", 20000 + n), Some("127.0.0.1:5000"), SocketState::TimeWait));
        }
        assert_eq!(exhaustion(&s).status, Status::Fail);
        let tw = time_wait(&s);
        assert_eq!(tw.status, Status::Info);
        assert!(tw.summary.contains("to 127.0.0.1:5000 ×4"), "{}", tw.summary);
        s.port_ranges.reserved = vec![(20000, 20004)];
        assert!(exhaustion(&s).summary.contains("of 5 "));
    }
}
