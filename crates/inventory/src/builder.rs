//! Snapshots built in code, for tests of what is computed from them (the
//! diff, berth's analysis and renderers) without a kernel, and for
//! scripting a [`Sampler`](crate::sampler::Sampler).
//!
//! Everything not given has a fixed, plain value: one namespace (inode 1,
//! with `lo` at 127.0.0.1 and ::1), the kernel's default ephemeral range,
//! uid 1000, and a fixed time, so that what is printed from a built
//! snapshot is the same on every run.
//!
//! ```
//! use berth_inventory::builder::SnapshotBuilder;
//! use berth_inventory::SocketState;
//!
//! let snapshot = SnapshotBuilder::new()
//!     .tcp_listener("127.0.0.1:8080", 10)
//!     .owner(10, 4242)
//!     .process(4242, "python3", &["python3", "-m", "http.server", "8080"])
//!     .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 11)
//!     .build();
//! assert_eq!(snapshot.sockets.len(), 2);
//! assert_eq!(snapshot.processes[&4242].name, "python3");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use crate::{
    Family, Interface, Namespace, Owner, PortRanges, Process, Protocol, Snapshot, Socket, SocketState, Source,
    Visibility,
};

/// The namespace inode every built socket lives in.
pub const NETNS: u64 = 1;

/// The time every built snapshot is taken at (2026-01-15T08:00:00Z), unless
/// [`SnapshotBuilder::taken_at`] says otherwise.
pub const TAKEN_AT_SECS: u64 = 1_768_464_000;

/// Builds a [`Snapshot`] one socket, owner and process at a time.
#[derive(Clone, Debug)]
pub struct SnapshotBuilder {
    snapshot: Snapshot,
}

impl Default for SnapshotBuilder {
    fn default() -> Self {
        SnapshotBuilder::new()
    }
}

impl SnapshotBuilder {
    /// An empty snapshot with the plain values of the module docs.
    pub fn new() -> SnapshotBuilder {
        let lo = |address: IpAddr| Interface { name: "lo".into(), address };
        SnapshotBuilder {
            snapshot: Snapshot {
                taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(TAKEN_AT_SECS),
                taken: Instant::now(),
                source: Source::Netlink,
                sockets: Vec::new(),
                processes: Default::default(),
                namespaces: vec![Namespace {
                    inode: NETNS,
                    name: None,
                    own: true,
                    container: None,
                    interfaces: vec![lo(Ipv4Addr::LOCALHOST.into()), lo(Ipv6Addr::LOCALHOST.into())],
                    path: None,
                }],
                port_ranges: PortRanges {
                    ephemeral: (32768, 60999),
                    reserved: Vec::new(),
                    bindv6only: false,
                    unread: None,
                },
                visibility: Visibility { running_as_root: false, ..Visibility::default() },
                users: [(1000, "alice".to_string())].into_iter().collect(),
                our_uid: 1000,
            },
        }
    }

    /// A socket as given, in full.
    pub fn socket(mut self, socket: Socket) -> SnapshotBuilder {
        self.snapshot.sockets.push(socket);
        self
    }

    /// A listening TCP socket on `local` (`"127.0.0.1:8080"`, `"[::]:80"`).
    pub fn tcp_listener(self, local: &str, inode: u64) -> SnapshotBuilder {
        self.socket(plain_socket(Protocol::Tcp, local, None, SocketState::Listen, inode))
    }

    /// A TCP connection from `local` to `remote` in `state`.
    pub fn tcp_connection(self, local: &str, remote: &str, state: SocketState, inode: u64) -> SnapshotBuilder {
        self.socket(plain_socket(Protocol::Tcp, local, Some(remote), state, inode))
    }

    /// A TIME_WAIT remnant of a closed connection from `local` to
    /// `remote`, as the kernel reports one: no inode, no owner, uid 0.
    pub fn time_wait(self, local: &str, remote: &str) -> SnapshotBuilder {
        let remnant = plain_socket(Protocol::Tcp, local, Some(remote), SocketState::TimeWait, 0);
        self.socket(Socket { uid: 0, ..remnant })
    }

    /// A bound, unconnected UDP socket on `local`.
    pub fn udp_socket(self, local: &str, inode: u64) -> SnapshotBuilder {
        self.socket(plain_socket(Protocol::Udp, local, None, SocketState::Unconnected, inode))
    }

    /// Process `pid` holds the socket with this inode (on descriptor 3, or
    /// the next free one if it holds it already).
    pub fn owner(mut self, inode: u64, pid: u32) -> SnapshotBuilder {
        for socket in self.snapshot.sockets.iter_mut().filter(|s| s.inode == inode) {
            match socket.owners.iter_mut().find(|o| o.pid == pid) {
                Some(owner) => {
                    let next = owner.fds.iter().max().map_or(3, |fd| fd + 1);
                    owner.fds.push(next);
                }
                None => socket.owners.push(Owner { pid, fds: smallvec::smallvec![3] }),
            }
            socket.owners.sort_by_key(|o| o.pid);
        }
        self
    }

    /// A process with the plain values of [`plain_process`]: uid 1000
    /// (alice), started an hour before the snapshot, child of pid 1.
    pub fn process(self, pid: u32, name: &str, cmdline: &[&str]) -> SnapshotBuilder {
        self.process_full(plain_process(pid, name, cmdline))
    }

    /// A process as given, in full (start from [`plain_process`] and change
    /// what the test is about: `Process { uid: 0, ..plain_process(...) }`).
    pub fn process_full(mut self, process: Process) -> SnapshotBuilder {
        self.snapshot.processes.insert(process.pid, process);
        self
    }

    /// Another network namespace, for sockets and processes whose `netns`
    /// is its inode (the built one, [`NETNS`], is there from the start).
    pub fn namespace(mut self, namespace: Namespace) -> SnapshotBuilder {
        self.snapshot.namespaces.push(namespace);
        self
    }

    /// An interface address in namespace [`NETNS`] besides lo's: a socket
    /// bound to `address` has the scope of that one interface.
    pub fn interface(mut self, name: &str, address: IpAddr) -> SnapshotBuilder {
        let interface = Interface { name: name.to_string(), address };
        let own = self.snapshot.namespaces.iter_mut().find(|n| n.inode == NETNS).expect("new() makes NETNS");
        own.interfaces.push(interface);
        self
    }

    /// The socket with this inode belongs to `uid` (its creator).
    pub fn socket_uid(mut self, inode: u64, uid: u32) -> SnapshotBuilder {
        for socket in self.snapshot.sockets.iter_mut().filter(|s| s.inode == inode) {
            socket.uid = uid;
        }
        self
    }

    /// A user name for a uid.
    pub fn user(mut self, uid: u32, name: &str) -> SnapshotBuilder {
        self.snapshot.users.insert(uid, name.to_string());
        self
    }

    /// What berth could not see.
    pub fn visibility(mut self, visibility: Visibility) -> SnapshotBuilder {
        self.snapshot.visibility = visibility;
        self
    }

    /// The kernel's port settings.
    pub fn port_ranges(mut self, port_ranges: PortRanges) -> SnapshotBuilder {
        self.snapshot.port_ranges = port_ranges;
        self
    }

    /// When the snapshot was taken (wall clock) and its monotonic instant.
    pub fn taken_at(mut self, wall: SystemTime, instant: Instant) -> SnapshotBuilder {
        self.snapshot.taken_at = wall;
        self.snapshot.taken = instant;
        self
    }

    /// The snapshot.
    pub fn build(self) -> Snapshot {
        self.snapshot
    }
}

/// A socket with plain values: uid 1000, namespace [`NETNS`], empty
/// queues, no owners, `IPV6_V6ONLY` off for IPv6.
///
/// # Panics
/// When an address does not parse: a test's own typo.
pub fn plain_socket(protocol: Protocol, local: &str, remote: Option<&str>, state: SocketState, inode: u64) -> Socket {
    let local: SocketAddr = local.parse().unwrap_or_else(|_| panic!("not an address: {local}"));
    let remote = remote.map(|r| r.parse::<SocketAddr>().unwrap_or_else(|_| panic!("not an address: {r}")));
    Socket {
        protocol,
        family: if local.is_ipv4() { Family::V4 } else { Family::V6 },
        local,
        remote,
        state,
        recv_queue: 0,
        send_queue: 0,
        listen_backlog: (state == SocketState::Listen).then_some(128),
        inode,
        cookie: 0,
        uid: 1000,
        v6only: local.is_ipv6().then_some(false),
        tcp_counters: None,
        netns: NETNS,
        owners: Default::default(),
    }
}

/// A process with plain values: uid 1000 (alice), started an hour before
/// [`TAKEN_AT_SECS`], child of pid 1, in namespace [`NETNS`], in no
/// container or systemd unit.
pub fn plain_process(pid: u32, name: &str, cmdline: &[&str]) -> Process {
    let start = TAKEN_AT_SECS - 3600;
    Process {
        pid,
        ppid: 1,
        name: name.to_string(),
        cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
        uid: 1000,
        user: Some("alice".into()),
        start_time: Some(start),
        start_ticks: start * 100,
        container: None,
        systemd_unit: None,
        netns: Some(NETNS),
    }
}
