//! What `berth watch` reports and `berth history` keeps: one [`WatchEvent`]
//! per line of the live view, per JSON line of `watch --json`, and per row
//! of the history. The JSON schema is documented in docs/json.md; change it
//! only by adding fields.
//!
//! Events are owned values (no borrows from a Snapshot): they outlive the
//! snapshot they came from, cross threads and are written to SQLite.
//!
//! Where an event came from matters for what it can say ([`EventSource`]):
//! a socket that lived through a dump has its owner, uid and state from the
//! Snapshot; a socket that opened and closed between two dumps is known
//! only from the kernel's destroy message, which gives addresses, ports and
//! (TCP) the final byte counters, but no uid, no inode, no process and no
//! duration. Such events say what is known and leave the rest empty
//! (`owners: []`, `uid: null`); they never borrow an owner from a guess.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, Serializer};

use crate::analysis::report::Endpoint;
use berth_inventory::port_facts::PortFacts;
use berth_inventory::{Family, Protocol, SocketState};

/// What happened. The JSON `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The live view started: which sources it reads (the `watching` facts).
    Started,
    /// A listener that was already there when the watch started.
    ListenerPresent,
    /// A listening TCP or bound UDP socket appeared.
    ListenerOpened,
    /// A listening TCP or bound UDP socket went away.
    ListenerClosed,
    /// A connection appeared (seen by a dump).
    ConnectionOpened,
    /// A connection ended. With `open_seen: false` it also opened after
    /// the last dump: it lived and died between two dumps, and this one
    /// event stands for both.
    ConnectionClosed,
    /// A port's listener is reachable from further (or less far) than its
    /// listener before: the port was bound again at another address.
    ScopeChanged,
    /// A socket, or a port bound again, is held by other processes.
    OwnerChanged,
    /// Events were lost between two times (the kernel's buffer overflowed,
    /// or berth fell behind); a fresh dump followed.
    Missed,
    /// An event matched an `--alert`.
    Alert,
    /// The watch ended (Ctrl-C, SIGTERM, or its --duration): the summary.
    Summary,
}

impl EventKind {
    /// The JSON word (kebab-case), for tables and the history.
    pub fn word(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::ListenerPresent => "listener-present",
            EventKind::ListenerOpened => "listener-opened",
            EventKind::ListenerClosed => "listener-closed",
            EventKind::ConnectionOpened => "connection-opened",
            EventKind::ConnectionClosed => "connection-closed",
            EventKind::ScopeChanged => "scope-changed",
            EventKind::OwnerChanged => "owner-changed",
            EventKind::Missed => "missed",
            EventKind::Alert => "alert",
            EventKind::Summary => "summary",
        }
    }

    /// The kind for a JSON word, for reading the history back.
    pub fn from_word(word: &str) -> Option<EventKind> {
        ALL_KINDS.iter().copied().find(|kind| kind.word() == word)
    }
}

impl EventKind {
    /// Events about a listener rather than a connection.
    pub fn is_listener(self) -> bool {
        matches!(
            self,
            EventKind::ListenerPresent
                | EventKind::ListenerOpened
                | EventKind::ListenerClosed
                | EventKind::ScopeChanged
        )
    }
}

/// Every kind, in declaration order.
pub const ALL_KINDS: [EventKind; 11] = [
    EventKind::Started,
    EventKind::ListenerPresent,
    EventKind::ListenerOpened,
    EventKind::ListenerClosed,
    EventKind::ConnectionOpened,
    EventKind::ConnectionClosed,
    EventKind::ScopeChanged,
    EventKind::OwnerChanged,
    EventKind::Missed,
    EventKind::Alert,
    EventKind::Summary,
];

/// How berth learned of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventSource {
    /// A sock_diag dump (a Snapshot) saw the socket.
    Dump,
    /// The kernel's destroy message for the socket (sock_diag destroy groups).
    Destroy,
    /// berth itself (started, missed, summary).
    Berth,
}

/// A process holding a socket, as the event keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOwner {
    pub pid: u32,
    pub name: Option<String>,
    /// The command line (argv), as /proc gave it.
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
}

/// How long a socket lived, as far as berth can bound it: at least from the
/// first dump that saw it (or 0), at most from the last dump before its
/// open could have happened (or unbounded: `null`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Lifetime {
    pub at_least_ms: f64,
    pub at_most_ms: Option<f64>,
}

/// The local listener a connection belongs to: the listener whose port is
/// the connection's local port (the accepted end) or its remote port on
/// this machine (the client end of a local connection).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListenerRef {
    pub local: Endpoint,
    pub owners: Owners,
}

/// The owners of a socket, shared: every connection of a process (and
/// every connection to a listener) points at one copy of its command line,
/// so 40,000 live connections do not hold 40,000 copies.
pub type Owners = std::sync::Arc<[EventOwner]>;

/// Everything an event knows about its socket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SocketFacts {
    pub protocol: Protocol,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Option<Endpoint>,
    /// The last state a dump saw, or the kernel's at the end (TCP: `CLOSE`).
    pub state: SocketState,
    /// Inode of the network namespace.
    pub netns: u64,
    /// The socket's inode, when a dump saw it (destroy messages carry none).
    pub inode: Option<u64>,
    /// The socket's uid, when a dump saw it (destroy messages carry none).
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// `IPV6_V6ONLY` of an IPv6 socket a dump saw (as `ls --json`); null
    /// for IPv4 and for sockets only a destroy message described.
    pub v6only: Option<bool>,
    /// For listeners: loopback, all or address (as `ls --json`).
    pub scope: &'static str,
    /// The interface that has the address, for scope `address`.
    pub interface: Option<String>,
    #[serde(flatten)]
    pub port_facts: PortFacts,
    /// The processes holding it. Empty when none was seen: the socket
    /// lived between two dumps, belongs to another user (not root), or no
    /// process holds it.
    pub owners: Owners,
    /// For connections: the local listener it belongs to, when one is known.
    pub listener: Option<ListenerRef>,
    /// Whether a dump saw this socket open. False for a socket that opened
    /// and closed between two dumps: its open is reported by its close.
    pub open_seen: bool,
    /// For closes: how long it lived.
    pub lifetime: Option<Lifetime>,
    /// For TCP closes: payload bytes received and sent, from the kernel's
    /// final tcp_info (`tcpi_bytes_received`, `tcpi_bytes_sent`; the
    /// received count includes 1 for the peer's FIN when it came).
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// For listener-closed: whether it is known to have been listening. A
    /// TCP socket that closed between two dumps without a dump seeing it
    /// listen may have been only bound: the kernel's messages for the two
    /// are the same (null then).
    pub was_listening: Option<bool>,
}

/// What a socket was before a scope-changed or owner-changed event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Previous {
    pub local: Endpoint,
    pub scope: &'static str,
    pub owners: Owners,
}

/// A span of lost events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MissedSpan {
    #[serde(serialize_with = "rfc3339_micros_owned")]
    pub from: SystemTime,
    #[serde(serialize_with = "rfc3339_micros_owned")]
    pub to: SystemTime,
    pub reason: MissedReason,
}

/// Why events were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissedReason {
    /// The kernel's receive buffer for destroy messages overflowed (ENOBUFS).
    KernelBuffer,
    /// berth could not keep up and dropped messages it had read.
    ConsumerBehind,
}

/// Which alert fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertName {
    /// A new listener reachable beyond loopback.
    Exposed,
    /// A listener on a port never seen before (remembered in the history).
    New,
    /// A listener the audit policy file does not expect.
    Policy,
}

impl AlertName {
    pub fn word(self) -> &'static str {
        match self {
            AlertName::Exposed => "exposed",
            AlertName::New => "new",
            AlertName::Policy => "policy",
        }
    }
}

/// An alert: which, why, and the kind of the event that raised it (whose
/// socket facts the alert event carries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertFacts {
    pub name: AlertName,
    pub reason: String,
    pub event_kind: EventKind,
}

/// What the live view reads (the `started` event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Watching {
    /// Whether the kernel's destroy messages are read (every close, however
    /// short), and if not, why not.
    pub destroy_events: bool,
    pub destroy_unavailable: Option<String>,
    /// The destroy socket's receive buffer, bytes.
    pub receive_buffer: Option<usize>,
    /// Whether process exec/exit events trigger early dumps.
    pub proc_events: bool,
    pub interval_ms: u64,
    pub listener_interval_ms: u64,
    pub namespaces: usize,
    pub listeners: usize,
    pub connections: usize,
    /// Where events are recorded, if anywhere.
    pub history: Option<String>,
}

/// Counts at the end of a watch (the `summary` event).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub duration_ms: u64,
    pub listeners_opened: u64,
    pub listeners_closed: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    /// Closes of connections that opened after the last dump (included in connections_closed).
    pub short_lived: u64,
    pub alerts: u64,
    pub missed_spans: u64,
    /// Destroy messages left out as noise: sockets that closed without
    /// addresses (refused connects, the resetting side of an RST, accept
    /// queue children reset with their listener, sockets never used).
    pub unaddressed_closes: u64,
}

/// One event. In JSON it is one of two shapes (docs/json.md): an event
/// about a socket has every socket field (`null` when not known) and
/// `previous` and `alert`; berth's own events (`started`, `missed`,
/// `summary`) have the time, kind and source, and their one object.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    pub time: SystemTime,
    pub time_unix: SystemTime,
    pub kind: EventKind,
    pub source: EventSource,
    pub socket: Option<SocketFacts>,
    pub previous: Option<Previous>,
    pub missed: Option<MissedSpan>,
    pub alert: Option<AlertFacts>,
    pub watching: Option<Watching>,
    pub summary: Option<Summary>,
}

/// The JSON of an event about a socket.
#[derive(Serialize)]
struct SocketEventJson<'a> {
    #[serde(serialize_with = "rfc3339_micros")]
    time: &'a SystemTime,
    #[serde(serialize_with = "unix_micros")]
    time_unix_us: &'a SystemTime,
    kind: EventKind,
    source: EventSource,
    #[serde(flatten)]
    socket: &'a SocketFacts,
    previous: &'a Option<Previous>,
    alert: &'a Option<AlertFacts>,
}

/// The JSON of one of berth's own events: only its own object.
#[derive(Serialize)]
struct BerthEventJson<'a> {
    #[serde(serialize_with = "rfc3339_micros")]
    time: &'a SystemTime,
    #[serde(serialize_with = "unix_micros")]
    time_unix_us: &'a SystemTime,
    kind: EventKind,
    source: EventSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    watching: &'a Option<Watching>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed: &'a Option<MissedSpan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: &'a Option<Summary>,
}

impl Serialize for WatchEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.socket {
            Some(socket) => SocketEventJson {
                time: &self.time,
                time_unix_us: &self.time_unix,
                kind: self.kind,
                source: self.source,
                socket,
                previous: &self.previous,
                alert: &self.alert,
            }
            .serialize(s),
            None => BerthEventJson {
                time: &self.time,
                time_unix_us: &self.time_unix,
                kind: self.kind,
                source: self.source,
                watching: &self.watching,
                missed: &self.missed,
                summary: &self.summary,
            }
            .serialize(s),
        }
    }
}

impl WatchEvent {
    /// An event about a socket.
    pub fn about(time: SystemTime, kind: EventKind, source: EventSource, socket: SocketFacts) -> WatchEvent {
        WatchEvent {
            time,
            time_unix: time,
            kind,
            source,
            socket: Some(socket),
            previous: None,
            missed: None,
            alert: None,
            watching: None,
            summary: None,
        }
    }

    /// An event of berth's own (started, missed, summary).
    pub fn of_berth(time: SystemTime, kind: EventKind) -> WatchEvent {
        WatchEvent {
            time,
            time_unix: time,
            kind,
            source: EventSource::Berth,
            socket: None,
            previous: None,
            missed: None,
            alert: None,
            watching: None,
            summary: None,
        }
    }

    /// The alert event `name` raises for this event, with `reason`.
    pub fn alert(&self, name: AlertName, reason: String) -> WatchEvent {
        WatchEvent {
            kind: EventKind::Alert,
            alert: Some(AlertFacts { name, reason, event_kind: self.kind }),
            ..self.clone()
        }
    }
}

impl WatchEvent {
    /// The local address, for events about a socket.
    pub fn local(&self) -> Option<std::net::SocketAddr> {
        self.socket.as_ref().map(|s| s.local.socket_addr())
    }
}

/// Microseconds since the Unix epoch (0 for times before it).
pub fn unix_micros_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The time for a count of microseconds since the epoch.
pub fn time_of_unix_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

fn rfc3339_micros<S: Serializer>(time: &&SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_micros(**time))
}

fn unix_micros<S: Serializer>(time: &&SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(unix_micros_of(**time))
}

fn rfc3339_micros_owned<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    rfc3339_micros(&time, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_word_that_reads_back() {
        for kind in ALL_KINDS {
            assert_eq!(EventKind::from_word(kind.word()), Some(kind));
            let json = serde_json::to_string(&kind).expect("a kind serializes");
            assert_eq!(json, format!("\"{}\"", kind.word()));
        }
    }
}
