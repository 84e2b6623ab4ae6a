//! A listener whose accept queue is full: the commonest "the port is open
//! but nothing answers". The kernel finishes handshakes for a listener on
//! its own and queues the connections until the program calls accept(); a
//! program that is stuck or overloaded stops calling it, the queue fills up
//! to the listen() backlog, and from then on the kernel drops every new SYN
//! (net/ipv4/tcp_input.c, `tcp_conn_request`). Clients see a connect that
//! times out, exactly as if a firewall dropped the packets; only the
//! listener's queue lengths tell the two apart (Recv-Q over Send-Q in `ss`:
//! the connections waiting, and the backlog).
//!
//! The same finding serves `doctor PORT` (the check below), `probe` (why a
//! connect to this machine timed out) and `scan` (a local port that is open
//! but not accepting rather than filtered).

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::{Check, Status};
use crate::analysis::unseen::{owner_status, unseen_holder, OwnerStatus};
use berth_inventory::target::{takes_traffic_for, PortTarget};
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

/// A process holding a listener, as messages name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueHolder {
    pub pid: u32,
    /// The process's name (comm); None when it vanished.
    pub name: Option<String>,
}

/// One TCP listener's accept queue, as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcceptQueue {
    /// The listener's address and port.
    pub listener: SocketAddr,
    /// Connections the handshake finished for that wait for accept() (Recv-Q).
    pub waiting: u32,
    /// The queue's limit, listen()'s backlog capped by net.core.somaxconn
    /// (Send-Q of a listener in `ss`). None from /proc/net/tcp, which does
    /// not carry it.
    pub backlog: Option<u32>,
    /// True when the kernel drops new connections: more waiting than the
    /// backlog (the kernel's own test, `sk_acceptq_is_full`). With the
    /// backlog unknown: any connection waiting while a connect timed out
    /// is taken as full (see [`AcceptQueue::full`]).
    pub full: bool,
    /// The processes holding the listener; empty when they cannot be seen.
    pub holders: Vec<QueueHolder>,
    /// Why `holders` is empty, when it is: the words for an unseen holder
    /// come from [`unseen_holder`], as in ls, who and scan.
    pub owner_status: OwnerStatus,
}

impl AcceptQueue {
    /// The queue of one listening socket.
    pub fn of(socket: &Socket, snapshot: &Snapshot) -> AcceptQueue {
        let holders = socket
            .owners
            .iter()
            .map(|o| QueueHolder { pid: o.pid, name: snapshot.processes.get(&o.pid).map(|p| p.name.clone()) })
            .collect();
        AcceptQueue {
            listener: socket.local,
            waiting: socket.recv_queue,
            backlog: socket.listen_backlog,
            full: socket.listen_backlog.is_some_and(|backlog| socket.recv_queue > backlog),
            holders,
            owner_status: owner_status(socket, snapshot),
        }
    }

    /// "pid 4242 (python3)", "pids 10 (nginx), 11 (nginx)", or, when the
    /// processes cannot be seen, the one wording for an unseen holder
    /// ("another user's process, seen only by root").
    pub fn holder_words(&self) -> String {
        let one = |h: &QueueHolder| match &h.name {
            Some(name) => format!("{} ({name})", h.pid),
            None => h.pid.to_string(),
        };
        match self.holders.as_slice() {
            [] => unseen_holder(self.owner_status).to_string(),
            [holder] => format!("pid {}", one(holder)),
            many => format!("pids {}", many.iter().map(one).collect::<Vec<_>>().join(", ")),
        }
    }

    /// "17 waiting connections over a backlog of 16", or, with the backlog
    /// unknown, "3 connections waiting (the backlog is not in /proc/net/tcp)".
    pub fn queue_words(&self) -> String {
        let connections = if self.waiting == 1 { "connection" } else { "connections" };
        match self.backlog {
            Some(backlog) => format!("{} waiting {connections} over a backlog of {backlog}", self.waiting),
            None => format!(
                "{} {connections} waiting to be accepted (the backlog is not known: /proc/net/tcp does not \
                 carry it, netlink does)",
                self.waiting
            ),
        }
    }

    /// The sentence probe and scan give for a connect that timed out here.
    pub fn timeout_words(&self) -> String {
        format!(
            "the listener's accept queue is full: {}; {} is not accepting (stuck or overloaded)",
            self.queue_words(),
            self.holder_words()
        )
    }
}

/// The queues of the TCP listeners in berth's own namespace that take
/// traffic for `address:port` (every address when None).
pub fn listeners(snapshot: &Snapshot, address: Option<IpAddr>, port: u16) -> Vec<AcceptQueue> {
    let own_netns = snapshot.namespaces.iter().find(|n| n.own).map(|n| n.inode);
    // Connecting to 0.0.0.0 or :: reaches loopback.
    let address = address.map(|a| match a {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    });
    snapshot
        .sockets
        .iter()
        .filter(|s| {
            s.protocol == Protocol::Tcp
                && s.state == SocketState::Listen
                && s.local.port() == port
                && own_netns.is_none_or(|ns| s.netns == ns)
                && address.is_none_or(|a| takes_traffic_for(s, a))
        })
        .map(|s| AcceptQueue::of(s, snapshot))
        .collect()
}

/// Why a connect to `address:port` on this machine timed out, if the
/// listener's queue says so: full by its backlog, or, when the backlog is
/// not known (/proc), any connection waiting (on loopback nothing else
/// drops a SYN to a listener but a firewall rule, and a listener whose
/// queue is being served does not keep connections waiting).
pub fn why_timed_out(snapshot: &Snapshot, address: IpAddr, port: u16) -> Option<AcceptQueue> {
    listeners(snapshot, Some(address), port).into_iter().find_map(|mut queue| {
        if queue.backlog.is_none() && queue.waiting > 0 {
            queue.full = true;
        }
        queue.full.then_some(queue)
    })
}

/// `port.accept_queue`: is a TCP listener on the port accepting?
pub fn check(target: &PortTarget, snapshot: &Snapshot) -> Check {
    const ID: &str = "port.accept_queue";
    let port = target.port;
    if target.protocol == Some(Protocol::Udp) {
        return Check::new(ID, Status::Skipped, "UDP has no accept queue");
    }
    let mut queues: Vec<AcceptQueue> = match &target.addresses {
        Some(addresses) => {
            let mut all: Vec<AcceptQueue> =
                addresses.iter().flat_map(|a| listeners(snapshot, Some(*a), port)).collect();
            all.dedup();
            all
        }
        None => listeners(snapshot, None, port),
    };
    if queues.is_empty() {
        return Check::new(ID, Status::Skipped, format!("nothing listens on TCP port {port}"));
    }
    // The worst first: full, then unknown with connections waiting.
    queues.sort_by_key(|q| (!q.full, q.backlog.is_some() || q.waiting == 0, std::cmp::Reverse(q.waiting)));
    let queue = &queues[0];
    let at = berth_inventory::target::address_with_port(queue.listener.ip(), queue.listener.port());
    // Only root can name another user's process: say so before what to do with it.
    let as_root = if queue.holders.is_empty() && queue.owner_status == OwnerStatus::Hidden {
        format!("run as root (sudo berth doctor {port}) to name it, then ")
    } else {
        String::new()
    };
    let what_to_do = |pids: &str| {
        format!(
            "{as_root}look at what {pids} is doing (its log, `strace -p PID`, a stack dump) and restart it if it is stuck; \
             if it is only overloaded, give it more workers or a larger listen() backlog (capped by \
             net.core.somaxconn)"
        )
    };
    if queue.full {
        return Check::new(
            ID,
            Status::Fail,
            format!(
                "accept queue full on {at}: {}; {} is not accepting (stuck or overloaded)",
                queue.queue_words(),
                queue.holder_words()
            ),
        )
        .detail(
            "the kernel finishes handshakes and queues the connections until the program calls accept(); while \
             the queue is full it drops new SYNs, so clients time out connecting, as if a firewall dropped them",
        )
        .fix(what_to_do(&queue.holder_words()));
    }
    if queue.backlog.is_none() && queue.waiting > 0 {
        return Check::new(ID, Status::Warn, format!("{at}: {}", queue.queue_words()))
            .detail(
                "connections that stay in the accept queue mean the program is not calling accept(); when the \
                 queue reaches the backlog the kernel drops new connections and clients time out",
            )
            .fix(format!(
                "run `berth doctor {port} --source netlink` to compare with the backlog; {}",
                what_to_do(&queue.holder_words())
            ));
    }
    let backlog = queue.backlog.map(|b| format!(" (backlog {b})")).unwrap_or_default();
    if queue.waiting > 0 {
        return Check::new(
            ID,
            Status::Info,
            format!(
                "{at}: {} waiting to be accepted{backlog}",
                super::plural(queue.waiting as usize, "connection", "connections")
            ),
        );
    }
    Check::new(ID, Status::Ok, format!("{at} is accepting: no connection waits in its queue{backlog}"))
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{snapshot, socket};
    use super::*;
    use berth_inventory::target::PortTarget;

    fn listener(waiting: u32, backlog: Option<u32>) -> Socket {
        let mut s = socket("127.0.0.1:8080", None, SocketState::Listen);
        s.recv_queue = waiting;
        s.listen_backlog = backlog;
        s
    }

    fn target() -> PortTarget {
        PortTarget::parse("8080").unwrap()
    }

    #[test]
    fn a_full_queue_fails_and_names_the_numbers() {
        let c = check(&target(), &snapshot(vec![listener(17, Some(16))]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.summary.starts_with("accept queue full on 127.0.0.1:8080: 17 waiting connections over a backlog of 16;"),
            "{}",
            c.summary
        );
        assert!(c.summary.ends_with("is not accepting (stuck or overloaded)"), "{}", c.summary);
        assert!(c.fix.is_some());
    }

    #[test]
    fn a_full_queue_of_an_unseen_holder_uses_the_one_wording() {
        // Root's listener seen by an unprivileged user: no owners, uid 0.
        let mut s = listener(17, Some(16));
        s.inode = 4242;
        let mut snap = snapshot(vec![s]);
        snap.our_uid = 65534;
        snap.visibility.running_as_root = false;
        let hidden = unseen_holder(OwnerStatus::Hidden);
        let c = check(&target(), &snap);
        assert!(c.summary.ends_with(&format!("; {hidden} is not accepting (stuck or overloaded)")), "{}", c.summary);
        assert!(c.fix.as_deref().unwrap().starts_with("run as root (sudo berth doctor 8080) to name it, then "));
        let why = why_timed_out(&snap, "127.0.0.1".parse().unwrap(), 8080).expect("full");
        assert!(why.timeout_words().contains(&format!("; {hidden} is not accepting")), "{}", why.timeout_words());
    }

    #[test]
    fn a_queue_at_its_backlog_is_not_full_yet() {
        // The kernel's test is `>`: 16 of 16 still takes one more.
        assert_eq!(check(&target(), &snapshot(vec![listener(16, Some(16))])).status, Status::Info);
        assert_eq!(check(&target(), &snapshot(vec![listener(0, Some(16))])).status, Status::Ok);
    }

    #[test]
    fn without_the_backlog_waiting_connections_warn() {
        let c = check(&target(), &snapshot(vec![listener(5, None)]));
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("the backlog is not known"), "{}", c.summary);
        assert_eq!(check(&target(), &snapshot(vec![listener(0, None)])).status, Status::Ok);
    }

    #[test]
    fn nothing_listening_is_skipped() {
        assert_eq!(check(&target(), &snapshot(vec![])).status, Status::Skipped);
        assert_eq!(check(&PortTarget::parse("udp/8080").unwrap(), &snapshot(vec![])).status, Status::Skipped);
    }

    #[test]
    fn a_timeout_is_explained_only_by_a_queue_that_is_full() {
        let full = snapshot(vec![listener(17, Some(16))]);
        let why = why_timed_out(&full, "127.0.0.1".parse().unwrap(), 8080).expect("full");
        assert!(why.timeout_words().starts_with("the listener's accept queue is full: 17 waiting"));
        assert!(why_timed_out(&full, "::1".parse().unwrap(), 8080).is_none(), "127.0.0.1 takes no IPv6");
        assert!(why_timed_out(&snapshot(vec![listener(3, Some(16))]), "127.0.0.1".parse().unwrap(), 8080).is_none());
        assert!(why_timed_out(&snapshot(vec![listener(3, None)]), "127.0.0.1".parse().unwrap(), 8080).is_some());
    }
}
