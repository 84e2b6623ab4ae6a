//! Bytes per local listening TCP port, as counters that never go back.
//!
//! The kernel counts bytes per connection (tcp_info's bytes_received and
//! bytes_sent), and a connection's counts vanish with it. A port's total
//! is therefore what its closed connections had at their end, from the
//! sock_diag destroy messages (the same feed `berth watch` reads, see
//! [`berth_inventory::destroy`]), plus what its open connections have now,
//! from the scrape's socket table.
//!
//! Two races are handled exactly. A connection that closes while the table
//! is being read can be both in the table and in a close message: the
//! cookies of the messages that arrive during a read are kept (only
//! those: a message received before the read began is of a socket the
//! kernel had already unhashed, which no read can show), and the table's
//! sockets with those cookies are not counted again. A connection gone from
//! the table before its message is handled is briefly counted nowhere, so a
//! port's reported total is never lower than the last one reported (it
//! catches up when the message is). A message the kernel dropped (its
//! buffer overflowed) is lost for good: the total then stops short of the
//! truth (never above it), and `berth_close_messages_dropped_total`
//! counts such overflows.
//!
//! Memory is bounded by ports, not by traffic: a total per port, the
//! cookies of one read's duration, and the closes since the last scrape of
//! ports not (yet) seen listening.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use berth_inventory::destroy::Destroyed;
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

/// How long a port that stopped listening keeps its series: a service
/// restarted within it keeps counting from where it was.
const PORT_MEMORY: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct PortBytes {
    /// Final counts of closed connections of the ports seen listening.
    closed: FxHashMap<u16, (u64, u64)>,
    /// Closes since the last scrape on ports not seen listening: the server
    /// side of a listener that opened after it (merged at the next scrape),
    /// or client sides (dropped then).
    unmatched: FxHashMap<u16, (u64, u64)>,
    /// The cookies of the closes received while a table read runs.
    reading: bool,
    closed_during_read: FxHashSet<u64>,
    /// Local TCP ports seen listening, and when last.
    listening: FxHashMap<u16, Instant>,
    /// The last totals exported, which the next may not go below.
    reported: BTreeMap<u16, (u64, u64)>,
    /// Times the kernel dropped close messages.
    pub overflows: u64,
}

impl PortBytes {
    /// Takes in what the close feed delivered.
    pub fn on_destroyed(&mut self, item: &Destroyed) {
        match item {
            Destroyed::Closed { socket, cookie, .. } => {
                if !is_connection(socket) {
                    return;
                }
                if let Some(counters) = &socket.tcp_counters {
                    let port = socket.local.port();
                    let totals =
                        if self.listening.contains_key(&port) { &mut self.closed } else { &mut self.unmatched };
                    let entry = totals.entry(port).or_default();
                    entry.0 += counters.bytes_received.unwrap_or(0);
                    entry.1 += counters.bytes_sent.unwrap_or(0);
                }
                if self.reading {
                    self.closed_during_read.insert(*cookie);
                }
            }
            Destroyed::Overflow { .. } => self.overflows += 1,
        }
    }

    /// A table read begins: closes from now on may be in it too.
    pub fn begin_read(&mut self) {
        self.reading = true;
    }

    /// The table read failed: nothing to match the closes against.
    pub fn abandon_read(&mut self) {
        self.reading = false;
        self.closed_during_read.clear();
    }

    /// The totals for every port seen listening within [`PORT_MEMORY`],
    /// from the closed connections and the open ones in `snapshot` (the
    /// table read since [`PortBytes::begin_read`]).
    pub fn totals(&mut self, snapshot: &Snapshot) -> &BTreeMap<u16, (u64, u64)> {
        let now = Instant::now();
        for socket in &snapshot.sockets {
            if socket.protocol == Protocol::Tcp && socket.state == SocketState::Listen {
                self.listening.insert(socket.local.port(), now);
            }
        }
        for (port, (rx, tx)) in self.unmatched.drain() {
            if self.listening.contains_key(&port) {
                let entry = self.closed.entry(port).or_default();
                entry.0 += rx;
                entry.1 += tx;
            }
        }
        let mut open: FxHashMap<u16, (u64, u64)> = FxHashMap::default();
        for socket in &snapshot.sockets {
            if !is_connection(socket)
                || !self.listening.contains_key(&socket.local.port())
                || self.closed_during_read.contains(&socket.cookie)
            {
                continue;
            }
            if let Some(counters) = &socket.tcp_counters {
                let entry = open.entry(socket.local.port()).or_default();
                entry.0 += counters.bytes_received.unwrap_or(0);
                entry.1 += counters.bytes_sent.unwrap_or(0);
            }
        }
        self.reading = false;
        self.closed_during_read.clear();
        self.listening.retain(|_, seen| now.duration_since(*seen) < PORT_MEMORY);
        let listening = &self.listening;
        self.closed.retain(|port, _| listening.contains_key(port));
        self.reported.retain(|port, _| listening.contains_key(port));
        for &port in self.listening.keys() {
            let closed = self.closed.get(&port).copied().unwrap_or_default();
            let live = open.get(&port).copied().unwrap_or_default();
            let now = (closed.0 + live.0, closed.1 + live.1);
            let reported = self.reported.entry(port).or_default();
            *reported = (reported.0.max(now.0), reported.1.max(now.1));
        }
        &self.reported
    }
}

/// A TCP connection (not a listener, not a TIME_WAIT remnant, which has
/// no counters): one with a peer.
fn is_connection(socket: &Socket) -> bool {
    socket.protocol == Protocol::Tcp
        && !matches!(socket.state, SocketState::Listen | SocketState::TimeWait)
        && socket.remote.is_some_and(|peer| peer.port() != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_inventory::builder::{plain_socket, SnapshotBuilder};
    use berth_inventory::TcpCounters;
    use std::time::SystemTime;

    fn connection(local: &str, remote: &str, cookie: u64, rx: u64, tx: u64) -> Socket {
        let mut socket = plain_socket(Protocol::Tcp, local, Some(remote), SocketState::Established, cookie);
        socket.cookie = cookie;
        socket.tcp_counters = Some(Box::new(TcpCounters {
            bytes_sent: Some(tx),
            bytes_acked: Some(tx),
            bytes_received: Some(rx),
            rtt_us: None,
        }));
        socket
    }

    fn snapshot(sockets: Vec<Socket>) -> Snapshot {
        let mut builder = SnapshotBuilder::new().tcp_listener("127.0.0.1:8080", 1);
        for socket in sockets {
            builder = builder.socket(socket);
        }
        builder.build()
    }

    fn closed(socket: Socket, cookie: u64) -> Destroyed {
        Destroyed::Closed { socket, cookie, at: SystemTime::now(), instant: Instant::now() }
    }

    #[test]
    fn a_closed_connection_keeps_its_bytes_and_is_not_counted_twice() {
        let mut bytes = PortBytes::default();
        let open = connection("127.0.0.1:8080", "127.0.0.1:50000", 7, 100, 10);
        assert_eq!(bytes.totals(&snapshot(vec![open.clone()]))[&8080], (100, 10));
        // It closes with more bytes during a table read, which still has it.
        let last = connection("127.0.0.1:8080", "127.0.0.1:50000", 7, 150, 20);
        bytes.begin_read();
        bytes.on_destroyed(&closed(last.clone(), 7));
        assert_eq!(bytes.totals(&snapshot(vec![last]))[&8080], (150, 20));
        assert_eq!(bytes.totals(&snapshot(vec![]))[&8080], (150, 20));
    }

    #[test]
    fn a_connection_gone_before_its_message_does_not_take_the_total_back() {
        let mut bytes = PortBytes::default();
        let open = connection("127.0.0.1:8080", "127.0.0.1:50001", 9, 500, 50);
        assert_eq!(bytes.totals(&snapshot(vec![open.clone()]))[&8080], (500, 50));
        // Gone from the table, message not handled yet: no step back.
        assert_eq!(bytes.totals(&snapshot(vec![]))[&8080], (500, 50));
        bytes.on_destroyed(&closed(connection("127.0.0.1:8080", "127.0.0.1:50001", 9, 600, 60), 9));
        assert_eq!(bytes.totals(&snapshot(vec![]))[&8080], (600, 60));
    }

    #[test]
    fn closes_before_the_listener_was_seen_count_once_it_is() {
        let mut bytes = PortBytes::default();
        bytes.on_destroyed(&closed(connection("127.0.0.1:8080", "127.0.0.1:50003", 13, 70, 7), 13));
        bytes.on_destroyed(&closed(connection("127.0.0.1:50004", "127.0.0.1:9999", 14, 1, 1), 14));
        let totals = bytes.totals(&snapshot(vec![]));
        assert_eq!(totals.keys().copied().collect::<Vec<_>>(), vec![8080]);
        assert_eq!(totals[&8080], (70, 7));
    }

    #[test]
    fn client_sides_and_unlistened_ports_are_not_exported() {
        let mut bytes = PortBytes::default();
        let client = connection("127.0.0.1:50002", "127.0.0.1:8080", 11, 5, 5);
        let totals = bytes.totals(&snapshot(vec![client]));
        assert_eq!(totals.keys().copied().collect::<Vec<_>>(), vec![8080]);
        assert_eq!(totals[&8080], (0, 0));
    }
}
