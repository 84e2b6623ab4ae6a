//! Bytes per local listening TCP port, as counters that never go back.
//!
//! The kernel counts bytes per connection (tcp_info's bytes_received and
//! bytes_sent), and a connection's counts vanish with it. A port's total
//! is therefore what its closed connections had at their end, from the
//! sock_diag destroy messages (the same feed `berth watch` reads, see
//! [`berth_inventory::destroy`]), plus what its open connections have now,
//! from the scrape's socket table.
//!
//! Two races are handled exactly: a connection that closes while the table
//! is read can be both in the table and in a close message, so the table's
//! sockets whose cookie has been seen closing are not counted again; and a
//! connection gone from the table before its close message is handled is
//! briefly counted nowhere, so a port's reported total is never lower than
//! the last one reported (it catches up when the message is). A message the
//! kernel dropped (its buffer overflowed) is lost for good: the total then
//! stops short of the truth (never above it), and
//! `berth_close_messages_dropped_total` counts such overflows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use berth_inventory::destroy::Destroyed;
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

/// How long a closed socket's cookie is remembered: long after any table
/// read that started before its close has finished.
const COOKIE_MEMORY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct PortBytes {
    /// Final counts of closed connections by their local port (every port:
    /// the listener of a short-lived connection may not have been seen yet).
    closed: FxHashMap<u16, (u64, u64)>,
    /// Cookies of recently closed connections, and when they were seen.
    closed_cookies: FxHashMap<u64, Instant>,
    /// Local TCP ports seen listening: the ports whose totals are exported.
    listening: FxHashSet<u16>,
    /// The last totals exported, which the next may not go below.
    reported: BTreeMap<u16, (u64, u64)>,
    /// Times the kernel dropped close messages.
    pub overflows: u64,
}

impl PortBytes {
    /// Takes in what the close feed delivered.
    pub fn on_destroyed(&mut self, item: &Destroyed) {
        match item {
            Destroyed::Closed { socket, cookie, instant, .. } => {
                if !is_connection(socket) {
                    return;
                }
                if let Some(counters) = &socket.tcp_counters {
                    let entry = self.closed.entry(socket.local.port()).or_default();
                    entry.0 += counters.bytes_received.unwrap_or(0);
                    entry.1 += counters.bytes_sent.unwrap_or(0);
                }
                self.closed_cookies.insert(*cookie, *instant);
            }
            Destroyed::Overflow { .. } => self.overflows += 1,
        }
    }

    /// The totals for every port seen listening, from the closed
    /// connections and the open ones in `snapshot`.
    pub fn totals(&mut self, snapshot: &Snapshot) -> &BTreeMap<u16, (u64, u64)> {
        for socket in &snapshot.sockets {
            if socket.protocol == Protocol::Tcp && socket.state == SocketState::Listen {
                self.listening.insert(socket.local.port());
            }
        }
        let mut open: FxHashMap<u16, (u64, u64)> = FxHashMap::default();
        for socket in &snapshot.sockets {
            if !is_connection(socket)
                || !self.listening.contains(&socket.local.port())
                || self.closed_cookies.contains_key(&socket.cookie)
            {
                continue;
            }
            if let Some(counters) = &socket.tcp_counters {
                let entry = open.entry(socket.local.port()).or_default();
                entry.0 += counters.bytes_received.unwrap_or(0);
                entry.1 += counters.bytes_sent.unwrap_or(0);
            }
        }
        for &port in &self.listening {
            let closed = self.closed.get(&port).copied().unwrap_or_default();
            let live = open.get(&port).copied().unwrap_or_default();
            let now = (closed.0 + live.0, closed.1 + live.1);
            let reported = self.reported.entry(port).or_default();
            *reported = (reported.0.max(now.0), reported.1.max(now.1));
        }
        let now = Instant::now();
        self.closed_cookies.retain(|_, seen| now.duration_since(*seen) < COOKIE_MEMORY);
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
        // It closes with more bytes; a table read during the close still has it.
        let last = connection("127.0.0.1:8080", "127.0.0.1:50000", 7, 150, 20);
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
    fn client_sides_and_unlistened_ports_are_not_exported() {
        let mut bytes = PortBytes::default();
        let client = connection("127.0.0.1:50002", "127.0.0.1:8080", 11, 5, 5);
        let totals = bytes.totals(&snapshot(vec![client]));
        assert_eq!(totals.keys().copied().collect::<Vec<_>>(), vec![8080]);
        assert_eq!(totals[&8080], (0, 0));
    }
}
