//! What sockets a Linux machine has and who holds them: the inventory under
//! the `berth` command, usable on its own.
//!
//! [`collect`] takes one [`Snapshot`]: the TCP and UDP sockets of the
//! network namespace the caller runs in (and, if asked, of every other one),
//! the processes holding each socket, the namespaces read with their
//! interface addresses, the kernel's port settings, and what could not be
//! seen ([`Visibility`]). A [`Query`] says what to collect; with netlink, the
//! filtering the kernel can do (listeners only, one port) is done in the
//! kernel. Everything is plain synchronous code: no CLI, no rendering, no
//! async runtime.
//!
//! # Where the sockets come from
//!
//! Two sources give the same sockets:
//! - netlink sock_diag dumps (`NETLINK_SOCK_DIAG`, one inet_diag request per
//!   family and protocol), what `ss` uses: the fast path, and the only one
//!   that knows each IPv6 socket's `IPV6_V6ONLY` (`INET_DIAG_SKV6ONLY`), the
//!   listen backlog limit and the TCP byte counters and RTT (`struct
//!   tcp_info`, `INET_DIAG_INFO`);
//! - the text tables /proc/net/{tcp,tcp6,udp,udp6}, read through
//!   /proc/thread-self so that a thread in another namespace reads that
//!   namespace's tables: used when netlink is refused (some sandboxes,
//!   seccomp profiles) or when asked for.
//!
//! [`SourceChoice::Auto`] takes netlink and falls back to /proc, saying why in
//! [`Visibility::netlink_fallback_reason`]; [`Snapshot::source`] says which
//! was used. One difference remains: netlink on recent kernels also reports
//! TCP sockets that are bound but neither listening nor connected (state
//! [`SocketState::Close`]), which /proc/net/tcp never lists.
//!
//! # Owners
//!
//! The kernel's tables name no process, only each socket's inode. Owners
//! come from one pass over /proc/PID/fd of every process (each descriptor
//! that links to `socket:[INODE]`), run on a thread beside the socket dump;
//! then /proc/PID/stat, cmdline, cgroup and ns/net are read for the
//! processes that hold a reported socket ([`Process`]).
//!
//! # What needs root
//!
//! Nothing fails without root; what cannot be seen is counted instead.
//! - Other users' processes: their /proc/PID/fd cannot be read without root,
//!   so their sockets are listed with no owners, and the processes are
//!   counted in [`Visibility::unreadable_processes`].
//! - Other network namespaces ([`Query::all_netns`]): entering one with
//!   setns(2) needs CAP_SYS_ADMIN; those that could not be entered are listed
//!   in [`Visibility::namespaces_skipped`].
//! - Firewall rules ([`firewall::read`]): nft and iptables-save need
//!   CAP_NET_ADMIN; [`firewall::ToolOutcome::NeedsPrivilege`] says so.
//!
//! # Modules
//!
//! - this module: [`collect`], [`Query`] and the [`Snapshot`] model
//!   ([`Socket`], [`Owner`], [`Namespace`], [`PortRanges`], [`Visibility`]);
//! - [`diff`]: the events between two Snapshots (a listener or connection
//!   opened or closed, a state change, owners changed), by a stable
//!   [`SocketKey`](diff::SocketKey);
//! - [`sampler`]: a Snapshot and its events at an interval, from the kernel
//!   or from a script of Snapshots (for tests);
//! - [`builder`]: Snapshots built in code, for tests of what reads them;
//! - [`destroy`]: every TCP and UDP socket's end as the kernel announces it
//!   (the sock_diag destroy groups `ss -E` reads), on a reader thread;
//! - [`proc_events`]: processes forking, executing and exiting (the proc
//!   connector), as a trigger for an early rescan;
//! - the port vocabulary: [`target`] (parsing `127.0.0.1:8080`, `udp/53`),
//!   [`scope`] (who can reach a bind address), [`services`] (IANA names,
//!   embedded at build time), [`port_facts`] (class, ephemeral, reserved);
//! - [`firewall`]: nftables and iptables rules, read and parsed;
//! - [`system`]: the machine's network settings (sysctls, localhost, limits);
//! - [`processes`]: facts about processes that are not in a Snapshot
//!   (executables on disk, start times, the caller's own ancestors);
//! - [`interfaces`]: interface addresses and flags (getifaddrs(3)).
//!
//! # Example
//!
//! The listening TCP sockets of this namespace with their owners, as
//! `ss -tlnp` lists them:
//!
//! ```
//! use berth_inventory::{collect, Query, SourceChoice};
//!
//! // Listeners only, and no UDP: the kernel leaves everything else out.
//! let query = Query { udp: false, ..Query::listeners(SourceChoice::Auto) };
//! let snapshot = collect(&query)?;
//! for socket in &snapshot.sockets {
//!     // Owners are pids; their names are in the snapshot's process table.
//!     // A socket of another user's process has none unless run as root.
//!     let owners: Vec<&str> = socket
//!         .owners
//!         .iter()
//!         .filter_map(|owner| snapshot.processes.get(&owner.pid))
//!         .map(|process| process.name.as_str())
//!         .collect();
//!     println!(
//!         "{} {} {} {}",
//!         socket.protocol.name(),
//!         socket.local.ip(),
//!         socket.local.port(),
//!         if owners.is_empty() { "-".to_string() } else { owners.join(",") },
//!     );
//! }
//! # Ok::<(), berth_inventory::InventoryError>(())
//! ```
//!
//! `examples/listeners.rs` is the same as a small program.

#![deny(missing_docs)]

pub mod builder;
mod cgroup;
pub mod destroy;
pub mod diff;
pub mod firewall;
pub mod interfaces;
mod netlink;
mod netns;
pub mod port_facts;
pub mod proc_events;
pub mod processes;
mod procnet;
pub mod sampler;
pub mod scope;
pub mod services;
mod sysctl;
pub mod system;
pub mod target;
mod users;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use smallvec::SmallVec;

pub use interfaces::Interface;
pub use netns::own_namespace;
pub use processes::{Container, Process};

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (IPPROTO_TCP).
    Tcp,
    /// UDP (IPPROTO_UDP).
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`: the name /etc/services and `ss` use, and the JSON value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Address family of a socket (not of the peer: an IPv6 socket may carry
/// IPv4-mapped addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    /// AF_INET.
    #[serde(rename = "ipv4")]
    V4,
    /// AF_INET6. Bound to `::` with IPV6_V6ONLY off, it takes IPv4 traffic
    /// too, with IPv4-mapped peer addresses.
    #[serde(rename = "ipv6")]
    V6,
}

/// Socket state as the kernel numbers it (include/net/tcp_states.h). UDP
/// sockets are `Unconnected` (kernel TCP_CLOSE) unless connect()ed, when the
/// kernel reports them `Established`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketState {
    /// TCP_ESTABLISHED (1): a connection that carries data; also a UDP
    /// socket that connect()ed.
    Established,
    /// TCP_SYN_SENT (2): connect() sent a SYN and waits for the answer.
    SynSent,
    /// TCP_SYN_RECV (3): a SYN came in and was answered; the handshake's
    /// last ACK is awaited.
    SynRecv,
    /// TCP_FIN_WAIT1 (4): this end closed and sent its FIN, not yet acknowledged.
    FinWait1,
    /// TCP_FIN_WAIT2 (5): this end's FIN was acknowledged; the peer's is awaited.
    FinWait2,
    /// TCP_TIME_WAIT (6): what remains of a connection this end closed
    /// first, kept by the kernel for a while so that late segments are not
    /// taken for a new connection. No process holds it (inode 0).
    TimeWait,
    /// TCP_CLOSE (7) for a TCP socket: neither listening nor connected. Netlink
    /// on recent kernels reports TCP sockets that are only bound in this state.
    Close,
    /// TCP_CLOSE_WAIT (8): the peer closed (its FIN arrived), this end has
    /// not closed yet.
    CloseWait,
    /// TCP_LAST_ACK (9): both ends closed, this end last; the
    /// acknowledgement of its FIN is awaited.
    LastAck,
    /// TCP_LISTEN (10): listen() was called; connections are accepted.
    Listen,
    /// TCP_CLOSING (11): both ends sent their FIN at once; the
    /// acknowledgement of this end's is awaited.
    Closing,
    /// TCP_NEW_SYN_RECV (12): the kernel's request socket for a handshake
    /// in progress, before it becomes a full socket (SYN_RECV in ss).
    NewSynRecv,
    /// A bound, unconnected UDP socket (`UNCONN` in ss).
    Unconnected,
    /// A state number this list does not know (a newer kernel's), as given.
    Unknown(u8),
}

impl SocketState {
    /// Maps the kernel's state number; `protocol` decides what 7 (TCP_CLOSE) means.
    pub fn from_kernel(protocol: Protocol, state: u8) -> Self {
        use SocketState::*;
        match state {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 if protocol == Protocol::Udp => Unconnected,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            other => Unknown(other),
        }
    }

    /// The state a [`name`](SocketState::name) stands for (as JSON and the
    /// history write it); UDP's CLOSE is UNCONN. None for a name no state has.
    pub fn from_name(protocol: Protocol, name: &str) -> Option<SocketState> {
        use SocketState::*;
        let known = [
            Established,
            SynSent,
            SynRecv,
            FinWait1,
            FinWait2,
            TimeWait,
            Close,
            CloseWait,
            LastAck,
            Listen,
            Closing,
            Unconnected,
        ];
        let state = known.into_iter().find(|s| s.name() == name)?;
        Some(if protocol == Protocol::Udp && state == Close { Unconnected } else { state })
    }

    /// The name `ss` prints, which is also the JSON value.
    pub fn name(self) -> &'static str {
        use SocketState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv | NewSynRecv => "SYN_RECV",
            FinWait1 => "FIN_WAIT1",
            FinWait2 => "FIN_WAIT2",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            Unconnected => "UNCONN",
            Unknown(_) => "UNKNOWN",
        }
    }

    /// Listening TCP sockets and bound, unconnected UDP sockets: the ones
    /// that wait for others to come to them.
    pub fn is_listening(self) -> bool {
        matches!(self, SocketState::Listen | SocketState::Unconnected)
    }
}

impl Serialize for SocketState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// TCP byte counters from the kernel's `tcp_info` (netlink only; absent on
/// kernels older than the field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TcpCounters {
    /// tcpi_bytes_sent (Linux 4.19+): bytes handed to the network, retransmits included.
    pub bytes_sent: Option<u64>,
    /// tcpi_bytes_acked (Linux 4.1+): bytes the peer acknowledged.
    pub bytes_acked: Option<u64>,
    /// tcpi_bytes_received (Linux 4.1+): bytes received in order.
    pub bytes_received: Option<u64>,
    /// tcpi_rtt: smoothed round-trip time in microseconds.
    pub rtt_us: Option<u32>,
}

/// One process's hold on a socket: the process and the descriptor numbers
/// it holds the socket under. Inline storage: almost every socket has one
/// owner holding it on one descriptor, and a 100,000-socket snapshot should
/// not cost 200,000 small allocations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The process (its /proc/PID entry: the thread-group id).
    pub pid: u32,
    /// The descriptors (entries of /proc/PID/fd) that refer to the socket,
    /// sorted: more than one after dup(2).
    pub fds: SmallVec<[u32; 2]>,
}

/// The owners of one socket, sorted by pid.
pub type Owners = SmallVec<[Owner; 1]>;

/// One socket as the kernel reports it.
#[derive(Clone, Debug)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The socket's own family (which dump or table it came from).
    pub family: Family,
    /// The address and port it is bound to; 0.0.0.0 or :: for a wildcard
    /// bind. IPv4-mapped addresses (::ffff:a.b.c.d) are kept as the kernel
    /// gives them.
    pub local: SocketAddr,
    /// None for sockets with no peer (listeners, unconnected UDP).
    pub remote: Option<SocketAddr>,
    /// The kernel's state of the socket.
    pub state: SocketState,
    /// Bytes waiting to be read; for a listener, connections waiting in the
    /// accept queue.
    pub recv_queue: u32,
    /// Bytes not yet acknowledged by the peer (TCP) or queued (UDP). Zero for a listener.
    pub send_queue: u32,
    /// For a listener, the accept-queue limit (listen()'s backlog). Netlink only.
    pub listen_backlog: Option<u32>,
    /// The socket's inode in sockfs; 0 for sockets no file refers to
    /// (TIME_WAIT, SYN_RECV requests, orphans).
    pub inode: u64,
    /// The kernel's socket cookie (sock_diag), unique for the socket's
    /// whole life and never reused while the machine runs: what tells a
    /// connection from a later one on the same four addresses. 0 when the
    /// source does not give it (/proc/net).
    pub cookie: u64,
    /// The uid that created the socket.
    pub uid: u32,
    /// IPV6_V6ONLY for IPv6 sockets. Netlink reports it per socket; from
    /// /proc it is the system default (net.ipv6.bindv6only), which is right
    /// unless the program set the option itself.
    pub v6only: Option<bool>,
    /// Boxed: only TCP connections have them, and only when asked for.
    pub tcp_counters: Option<Box<TcpCounters>>,
    /// Inode of the network namespace the socket lives in.
    pub netns: u64,
    /// Every process holding the socket, sorted by pid.
    pub owners: Owners,
}

/// Where the sockets came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// NETLINK_SOCK_DIAG dumps.
    Netlink,
    /// The tables /proc/net/{tcp,tcp6,udp,udp6}.
    Proc,
}

/// Which source to read: automatic (netlink, falling back to /proc) or one
/// forced, for tests and for the rare kernel whose netlink answers are wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// Netlink, and /proc when netlink fails (the reason is kept in
    /// [`Visibility::netlink_fallback_reason`]).
    #[default]
    Auto,
    /// Netlink only: its failure is an error.
    Netlink,
    /// /proc/net only: its failure is an error.
    Proc,
}

/// A network namespace seen in this snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Namespace {
    /// The namespace's inode in nsfs, what /proc/PID/ns/net links to
    /// (`net:[4026531840]`); sockets and processes name their namespace by it.
    pub inode: u64,
    /// Name under /run/netns (as `ip netns` names it), if any.
    pub name: Option<String>,
    /// True for the namespace berth itself runs in.
    pub own: bool,
    /// A container whose processes live in this namespace.
    pub container: Option<Container>,
    /// The addresses of its interfaces (getifaddrs(3), read inside the
    /// namespace). Not in the JSON output.
    #[serde(skip)]
    pub interfaces: Vec<Interface>,
    /// A file that opens it for setns(2) (/run/netns/NAME or
    /// /proc/PID/ns/net), for other namespaces; None for our own. Not in
    /// the JSON output.
    #[serde(skip)]
    pub path: Option<std::path::PathBuf>,
}

/// The kernel's port allocation settings, read once per snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct PortRanges {
    /// net.ipv4.ip_local_port_range: where the kernel picks ephemeral ports.
    pub ephemeral: (u16, u16),
    /// net.ipv4.ip_local_reserved_ports: ports the kernel never picks.
    pub reserved: Vec<(u16, u16)>,
    /// net.ipv6.bindv6only: the IPV6_V6ONLY default for new sockets.
    pub bindv6only: bool,
    /// Why net.ipv4.ip_local_port_range could not be read, when it could
    /// not (the kernel's default range is assumed then): `berth metrics`
    /// reports it as a scrape error rather than export a guess silently.
    #[serde(skip)]
    pub unread: Option<String>,
}

impl Default for PortRanges {
    /// The kernel's defaults: 32768-60999 ephemeral, nothing reserved, `bindv6only` off.
    fn default() -> Self {
        PortRanges { ephemeral: sysctl::DEFAULT_EPHEMERAL, reserved: Vec::new(), bindv6only: false, unread: None }
    }
}

/// What the snapshot could not see, so that callers can say so instead of
/// dropping it silently.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Visibility {
    /// The snapshot was taken with effective uid 0.
    pub running_as_root: bool,
    /// Processes whose descriptors could not be read (other users' when not root).
    pub unreadable_processes: usize,
    /// Why netlink was not used, when the /proc fallback was taken automatically.
    pub netlink_fallback_reason: Option<String>,
    /// Namespaces that were found but could not be entered, with the reason.
    pub namespaces_skipped: Vec<String>,
}

/// What to collect. Filtering that the kernel can do cheaply happens here;
/// everything else is for analysis.
#[derive(Clone, Debug)]
pub struct Query {
    /// Read TCP sockets.
    pub tcp: bool,
    /// Read UDP sockets.
    pub udp: bool,
    /// Only listening TCP sockets (UDP sockets are always all dumped: an
    /// unconnected one is the UDP equivalent of a listener).
    pub tcp_listening_only: bool,
    /// Which source to read the sockets from.
    pub source: SourceChoice,
    /// Also read every other network namespace on the machine (needs root).
    pub all_netns: bool,
    /// Also read the parent chain of every owner (for `who`).
    pub ancestors: bool,
    /// Ask the kernel for tcp_info (byte counters, RTT). It costs a little
    /// per socket, so only reports that show the counters ask.
    pub tcp_counters: bool,
    /// Find the processes holding each socket (the pass over /proc). Off
    /// for quick checks such as "is the port free yet" while `kill` waits.
    pub owners: bool,
    /// Only sockets whose local or remote port is this one. The kernel
    /// applies it (netlink bytecode), so `who` on a busy machine copies a
    /// handful of sockets instead of all of them.
    pub port: Option<u16>,
    /// Leave TIME_WAIT entries out (the kernel skips them). They are what
    /// remains of closed connections, held by no process: `watch`, which
    /// reads the table every second, does not pay for tens of thousands of
    /// them on a busy machine.
    pub without_time_wait: bool,
}

impl Query {
    /// Listening TCP and bound UDP sockets with their owners, no counters:
    /// what `scan` and `audit` ask about the services of this namespace.
    pub fn listeners(source: SourceChoice) -> Query {
        Query { tcp_listening_only: true, source, tcp_counters: false, ..Query::default() }
    }
}

impl Default for Query {
    fn default() -> Self {
        Query {
            tcp: true,
            udp: true,
            tcp_listening_only: false,
            source: SourceChoice::Auto,
            all_netns: false,
            ancestors: false,
            tcp_counters: true,
            owners: true,
            port: None,
            without_time_wait: false,
        }
    }
}

/// Everything berth knows about the machine's sockets at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When it was taken (wall clock, for reports).
    pub taken_at: SystemTime,
    /// When it was taken (monotonic, for the time between two snapshots).
    pub taken: Instant,
    /// Where the sockets came from.
    pub source: Source,
    /// Every socket read: those of the caller's namespace first, then each
    /// other namespace's, each in the order the kernel listed them.
    pub sockets: Vec<Socket>,
    /// Owners of the sockets (and, if asked, their ancestors), by pid.
    pub processes: FxHashMap<u32, Process>,
    /// The namespaces read; the first is berth's own.
    pub namespaces: Vec<Namespace>,
    /// The port sysctls of the caller's namespace (net sysctls are per
    /// namespace; other namespaces' are not read).
    pub port_ranges: PortRanges,
    /// What could not be seen.
    pub visibility: Visibility,
    /// Names of the users owning the sockets (socket uid -> name).
    pub users: FxHashMap<u32, String>,
    /// The effective uid of the process that took the snapshot.
    pub our_uid: u32,
}

/// Errors of the inventory. Each says what failed and what to do.
#[derive(Debug)]
pub enum InventoryError {
    /// Neither netlink nor /proc/net could be read.
    Unreadable(String),
    /// The forced source failed.
    SourceFailed(String),
}

impl std::fmt::Display for InventoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InventoryError::Unreadable(msg) => write!(f, "cannot read the socket tables: {msg}; is /proc mounted?"),
            InventoryError::SourceFailed(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for InventoryError {}

/// The sockets of one namespace, before owners are attached.
pub(crate) struct RawSockets {
    pub(crate) sockets: Vec<Socket>,
    pub(crate) source: Source,
    pub(crate) fallback_reason: Option<String>,
}

/// Reads the sockets of the namespace the calling thread is in, by the
/// chosen source, falling back from netlink to /proc when allowed.
pub(crate) fn read_sockets(query: &Query, netns: u64, bindv6only: bool) -> Result<RawSockets, InventoryError> {
    match query.source {
        SourceChoice::Netlink => netlink::dump(query, netns)
            .map(|sockets| RawSockets { sockets, source: Source::Netlink, fallback_reason: None })
            .map_err(|e| InventoryError::SourceFailed(format!("netlink sock_diag failed: {e}; try --source proc"))),
        SourceChoice::Proc => procnet::read(query, netns, bindv6only)
            .map(|sockets| RawSockets { sockets, source: Source::Proc, fallback_reason: None })
            .map_err(|e| InventoryError::SourceFailed(format!("reading /proc/net failed: {e}; is /proc mounted?"))),
        SourceChoice::Auto => match netlink::dump(query, netns) {
            Ok(sockets) => Ok(RawSockets { sockets, source: Source::Netlink, fallback_reason: None }),
            Err(netlink_error) => procnet::read(query, netns, bindv6only)
                .map(|sockets| RawSockets {
                    sockets,
                    source: Source::Proc,
                    fallback_reason: Some(netlink_error.to_string()),
                })
                .map_err(|proc_error| {
                    InventoryError::Unreadable(format!("netlink: {netlink_error}; /proc/net: {proc_error}"))
                }),
        },
    }
}

/// Takes one snapshot: sockets of this namespace (and of every other one
/// with `all_netns`), then one pass over /proc to find their owners.
pub fn collect(query: &Query) -> Result<Snapshot, InventoryError> {
    let (taken_at, taken) = (SystemTime::now(), Instant::now());
    let port_ranges = sysctl::port_ranges();
    let our_uid = unsafe { libc::geteuid() };
    let mut visibility = Visibility { running_as_root: our_uid == 0, ..Visibility::default() };

    let own_ns = netns::own_namespace();
    // The socket dump and the pass over /proc/*/fd do not depend on each
    // other and are both mostly kernel time: run them at once. (With
    // --all-netns the pass also notes which process lives in which
    // namespace, so the namespaces can be found and tagged.)
    let (own, scan) = std::thread::scope(|scope| {
        let scanner = scope.spawn(|| {
            if query.owners || query.all_netns {
                processes::scan_socket_fds(query.all_netns)
            } else {
                processes::FdScan::default()
            }
        });
        let own = read_sockets(query, own_ns, port_ranges.bindv6only);
        (own, scanner.join().expect("fd scan thread panicked"))
    });
    let own = own?;
    visibility.netlink_fallback_reason = own.fallback_reason;
    let source = own.source;
    let mut sockets = own.sockets;
    let mut namespaces = vec![Namespace {
        inode: own_ns,
        name: None,
        own: true,
        container: None,
        interfaces: interfaces::list(),
        path: None,
    }];

    if query.all_netns {
        let others = netns::read_other_namespaces(query, own_ns, &scan.netns_of_pid, port_ranges.bindv6only);
        for found in others.namespaces {
            namespaces.push(found);
        }
        sockets.extend(others.sockets);
        visibility.namespaces_skipped = others.skipped;
    }
    visibility.unreadable_processes = scan.unreadable_pids;

    // Attach owners: inode -> every (pid, fd) holding it.
    // FxHash: these maps hold one entry per socket (100,000 on a busy
    // machine) under integer keys, where SipHash's DoS resistance buys nothing.
    // (Only when asked: with `all_netns` the pass ran for the namespaces.)
    let wanted: FxHashSet<u64> =
        if query.owners { sockets.iter().map(|s| s.inode).filter(|&i| i != 0).collect() } else { FxHashSet::default() };
    let mut holders: FxHashMap<u64, Owners> = FxHashMap::with_capacity_and_hasher(wanted.len(), Default::default());
    for &(inode, pid, fd) in &scan.socket_fds {
        if !wanted.contains(&inode) {
            continue;
        }
        let owners = holders.entry(inode).or_default();
        match owners.iter_mut().find(|o| o.pid == pid) {
            Some(owner) => owner.fds.push(fd),
            None => owners.push(Owner { pid, fds: smallvec::smallvec![fd] }),
        }
    }
    let mut owner_pids: HashSet<u32> = HashSet::new();
    for socket in &mut sockets {
        if let Some(mut owners) = holders.remove(&socket.inode) {
            owners.sort_by_key(|o| o.pid);
            for owner in &mut owners {
                owner.fds.sort_unstable();
                owner_pids.insert(owner.pid);
            }
            socket.owners = owners;
        }
    }

    let mut processes = processes::read_processes(&owner_pids);
    if query.ancestors {
        processes::add_ancestors(&mut processes);
    }

    // Tag each foreign namespace with a container that lives in it.
    if query.all_netns {
        let mut container_of_ns: HashMap<u64, Container> = HashMap::new();
        for (pid, ns) in &scan.netns_of_pid {
            if container_of_ns.contains_key(ns) {
                continue;
            }
            if let Some(container) = cgroup::container_of_pid(*pid) {
                container_of_ns.insert(*ns, container);
            }
        }
        for ns in namespaces.iter_mut().filter(|n| !n.own) {
            ns.container = container_of_ns.remove(&ns.inode);
        }
    }

    let mut names = users::UserNames::default();
    // One entry per socket goes through this set: FxHash, as above.
    let socket_uids: FxHashSet<u32> = sockets.iter().map(|s| s.uid).collect();
    let users = socket_uids.into_iter().filter_map(|uid| names.name_of(uid).map(|n| (uid, n))).collect();

    Ok(Snapshot { taken_at, taken, source, sockets, processes, namespaces, port_ranges, visibility, users, our_uid })
}

impl Snapshot {
    /// The namespace with this inode, if it was read.
    pub fn namespace(&self, inode: u64) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.inode == inode)
    }
}
