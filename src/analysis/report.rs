//! The report of one socket: the kernel's facts plus everything derived
//! from them, with owners resolved. This is the stable JSON schema of
//! `berth ls --json` (documented in docs/json.md); change it only by adding
//! fields.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use smallvec::SmallVec;

use super::unseen::{owner_status, OwnerStatus};
use berth_inventory::port_facts::PortFacts;
use berth_inventory::scope::{covers_ipv4, covers_ipv6, scope_of, BindScope};
use berth_inventory::{Container, Family, Process, Protocol, Snapshot, Socket, SocketState, TcpCounters};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    /// Serialized as text, as the kernel's family writes it: IPv4-mapped
    /// IPv6 stays `::ffff:a.b.c.d`.
    pub address: IpAddr,
    pub port: u16,
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint { address: addr.ip(), port: addr.port() }
    }
}

impl Endpoint {
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// The namespace a socket lives in.
#[derive(Clone, Debug, Serialize)]
pub struct NetnsReport<'a> {
    pub inode: u64,
    pub name: Option<&'a str>,
    pub own: bool,
    pub container: Option<&'a Container>,
}

/// A process holding a socket (borrowed from the snapshot).
#[derive(Clone, Debug, Serialize)]
pub struct OwnerReport<'a> {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub name: Option<&'a str>,
    pub cmdline: &'a [String],
    pub uid: Option<u32>,
    pub user: Option<&'a str>,
    /// RFC 3339, UTC (formatted only when serialized).
    pub start_time: Option<Rfc3339>,
    pub start_time_unix: Option<u64>,
    pub container: Option<&'a Container>,
    pub systemd_unit: Option<&'a str>,
    /// The descriptor numbers the process holds the socket under.
    pub fds: Cow<'a, [u32]>,
}

impl<'a> OwnerReport<'a> {
    pub fn new(pid: u32, fds: &'a [u32], process: Option<&'a Process>) -> Self {
        OwnerReport {
            pid,
            ppid: process.map(|p| p.ppid),
            name: process.map(|p| p.name.as_str()),
            cmdline: process.map(|p| p.cmdline.as_slice()).unwrap_or(&[]),
            uid: process.map(|p| p.uid),
            user: process.and_then(|p| p.user.as_deref()),
            start_time: process.and_then(|p| p.start_time).map(Rfc3339),
            start_time_unix: process.and_then(|p| p.start_time),
            container: process.and_then(|p| p.container.as_ref()),
            systemd_unit: process.and_then(|p| p.systemd_unit.as_deref()),
            fds: Cow::Borrowed(fds),
        }
    }

    /// The name to show: comm, or the pid when the process vanished.
    pub fn display_name(&self) -> String {
        self.name.map(str::to_string).unwrap_or_else(|| format!("pid {}", self.pid))
    }
}

/// A Unix time that serializes as an RFC 3339 string. Formatting waits for
/// serialization so that table output, which does not show it, never pays.
#[derive(Clone, Copy, Debug)]
pub struct Rfc3339(pub u64);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.0)))
    }
}

pub fn rfc3339(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_seconds)).to_string()
}

/// One socket, everything known about it.
#[derive(Clone, Debug, Serialize)]
pub struct SocketReport<'a> {
    pub protocol: Protocol,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    pub state: SocketState,
    pub recv_queue: u32,
    pub send_queue: u32,
    pub listen_backlog: Option<u32>,
    pub inode: u64,
    pub uid: u32,
    pub user: Option<&'a str>,
    pub v6only: Option<bool>,
    pub covers_ipv4: bool,
    pub covers_ipv6: bool,
    /// loopback, all or address.
    pub scope: &'static str,
    /// The interface holding the address, for scope `address`.
    pub interface: Option<String>,
    #[serde(flatten)]
    pub port_facts: PortFacts,
    pub tcp_counters: Option<&'a TcpCounters>,
    pub netns: NetnsReport<'a>,
    pub owner_status: OwnerStatus,
    /// Inline: almost every socket has one owner.
    pub owners: SmallVec<[OwnerReport<'a>; 1]>,
}

impl<'a> SocketReport<'a> {
    pub fn new(socket: &'a Socket, snapshot: &'a Snapshot) -> Self {
        let namespace = snapshot.namespace(socket.netns);
        let interfaces = namespace.map(|n| n.interfaces.as_slice()).unwrap_or(&[]);
        let scope = scope_of(socket.local.ip(), interfaces);
        let scope_word = scope.kind();
        let interface = match scope {
            BindScope::Address { interface } => interface,
            _ => None,
        };
        SocketReport {
            protocol: socket.protocol,
            family: socket.family,
            local: socket.local.into(),
            remote: socket.remote.map(Endpoint::from),
            state: socket.state,
            recv_queue: socket.recv_queue,
            send_queue: socket.send_queue,
            listen_backlog: socket.listen_backlog,
            inode: socket.inode,
            uid: socket.uid,
            user: snapshot.users.get(&socket.uid).map(String::as_str),
            v6only: socket.v6only,
            covers_ipv4: covers_ipv4(socket),
            covers_ipv6: covers_ipv6(socket),
            scope: scope_word,
            interface,
            port_facts: PortFacts::of(socket.local.port(), socket.protocol, &snapshot.port_ranges),
            tcp_counters: socket.tcp_counters.as_deref(),
            netns: NetnsReport {
                inode: socket.netns,
                name: namespace.and_then(|n| n.name.as_deref()),
                own: namespace.is_some_and(|n| n.own),
                container: namespace.and_then(|n| n.container.as_ref()),
            },
            owner_status: owner_status(socket, snapshot),
            owners: socket
                .owners
                .iter()
                .map(|o| OwnerReport::new(o.pid, &o.fds, snapshot.processes.get(&o.pid)))
                .collect(),
        }
    }
}
