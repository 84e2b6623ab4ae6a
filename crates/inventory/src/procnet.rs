//! The fallback: the text tables /proc/net/{tcp,tcp6,udp,udp6}.
//!
//! Read through /proc/thread-self so that a thread that has entered another
//! network namespace (see `netns`) reads that namespace's tables.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Family, Protocol, Query, Socket, SocketState};

/// Reads every table the query asks for.
pub(crate) fn read(query: &Query, netns: u64, bindv6only: bool) -> io::Result<Vec<Socket>> {
    let mut sockets = Vec::with_capacity(if query.tcp_listening_only { 256 } else { socket_count_hint(query) });
    let mut tables: Vec<(&str, Protocol, Family)> = Vec::with_capacity(4);
    if query.tcp {
        tables.push(("tcp", Protocol::Tcp, Family::V4));
        tables.push(("tcp6", Protocol::Tcp, Family::V6));
    }
    if query.udp {
        tables.push(("udp", Protocol::Udp, Family::V4));
        tables.push(("udp6", Protocol::Udp, Family::V6));
    }
    for (name, protocol, family) in tables {
        let path = format!("/proc/thread-self/net/{name}");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A kernel without IPv6 has no tcp6/udp6 table: no sockets there.
            Err(e) if e.kind() == io::ErrorKind::NotFound && family == Family::V6 => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{path}: {e}"))),
        };
        for (number, line) in text.lines().enumerate().skip(1) {
            let socket = parse_line(line, protocol, family, netns, bindv6only).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{path}:{}: unexpected line {line:?}", number + 1))
            })?;
            if protocol == Protocol::Tcp && query.tcp_listening_only && socket.state != SocketState::Listen {
                continue;
            }
            if query.without_time_wait && socket.state == SocketState::TimeWait {
                continue;
            }
            if let Some(port) = query.port {
                if socket.local.port() != port && socket.remote.is_none_or(|r| r.port() != port) {
                    continue;
                }
            }
            sockets.push(socket);
        }
    }
    Ok(sockets)
}

/// How many sockets a full dump will return, from /proc/net/sockstat{,6}, so
/// the socket list is allocated once instead of doubling its way up (which
/// briefly holds 1.5 times the list and made peak memory the list's double).
pub(crate) fn socket_count_hint(query: &Query) -> usize {
    let mut total = 0usize;
    for table in ["sockstat", "sockstat6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/thread-self/net/{table}")) else { continue };
        for line in text.lines() {
            let Some((name, fields)) = line.split_once(':') else { continue };
            let wanted = match name {
                "TCP" | "TCP6" => query.tcp,
                "UDP" | "UDP6" => query.udp,
                _ => false,
            };
            if !wanted {
                continue;
            }
            // "inuse N" sockets, plus "tw N" TIME_WAIT remnants on the TCP line.
            let words: Vec<&str> = fields.split_ascii_whitespace().collect();
            for pair in words.chunks(2) {
                if let ["inuse" | "tw", value] = pair {
                    total += value.parse::<usize>().unwrap_or(0);
                }
            }
        }
    }
    // Sockets come and go between this read and the dump: a little slack.
    total + total / 16 + 16
}

/// Parses one row:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
fn parse_line(line: &str, protocol: Protocol, family: Family, netns: u64, bindv6only: bool) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?;
    let local = parse_endpoint(fields.next()?, family)?;
    let remote = parse_endpoint(fields.next()?, family)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (tx, rx) = fields.next()?.split_once(':')?;
    let send_queue = u32::from_str_radix(tx, 16).ok()?;
    let recv_queue = u32::from_str_radix(rx, 16).ok()?;
    let _timer = fields.next()?;
    let _retransmits = fields.next()?;
    let uid: u32 = fields.next()?.parse().ok()?;
    let _timeout = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;

    let state = SocketState::from_kernel(protocol, state);
    let remote = if remote.port() == 0 && remote.ip().is_unspecified() { None } else { Some(remote) };
    Some(Socket {
        protocol,
        family,
        local,
        remote,
        state,
        recv_queue,
        send_queue,
        // For a listener the kernel prints its accept queue as rx_queue
        // (and 0 as tx_queue); its backlog is not in the table at all.
        listen_backlog: None,
        inode,
        cookie: 0,
        uid,
        // As netlink: no IPV6_V6ONLY for TIME_WAIT and request sockets,
        // which are not full sockets.
        v6only: (family == Family::V6 && !matches!(state, SocketState::TimeWait | SocketState::NewSynRecv))
            .then_some(bindv6only),
        tcp_counters: None,
        netns,
        owners: Default::default(),
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address in host byte order.
fn parse_endpoint(text: &str, family: Family) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = address.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match family {
        Family::V4 if address.len() == 8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        Family::V6 if address.len() == 32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_ipv6_rows() {
        let row = "   0: 0100007F:F5AD 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0";
        let socket = parse_line(row, Protocol::Tcp, Family::V4, 1, false).unwrap();
        assert_eq!(socket.local, "127.0.0.1:62893".parse().unwrap());
        assert_eq!(socket.remote, None);
        assert_eq!(socket.state, SocketState::Listen);
        assert_eq!(socket.recv_queue, 2);
        assert_eq!(socket.uid, 1000);
        assert_eq!(socket.inode, 4242);

        let row6 = "   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 77 1";
        let socket = parse_line(row6, Protocol::Tcp, Family::V6, 1, false).unwrap();
        assert_eq!(socket.local, "[::ffff:127.0.0.1]:80".parse().unwrap());
        assert_eq!(socket.remote, Some("[::ffff:127.0.0.1]:50000".parse().unwrap()));
        assert_eq!(socket.v6only, Some(false));

        let loopback6 = "0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 9 2";
        let socket = parse_line(loopback6, Protocol::Udp, Family::V6, 1, true).unwrap();
        assert_eq!(socket.local, "[::1]:53".parse().unwrap());
        assert_eq!(socket.state, SocketState::Unconnected);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_line("nonsense", Protocol::Tcp, Family::V4, 1, false).is_none());
        assert!(parse_line("0: 0100007F:XYZ 00000000:0000 0A 0:0 0:0 0 0 0 1", Protocol::Tcp, Family::V4, 1, false)
            .is_none());
    }
}
