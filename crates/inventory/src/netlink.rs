//! The fast path: NETLINK_SOCK_DIAG dumps, as `ss` makes them.
//!
//! One netlink socket, one dump per (family, protocol). The kernel filters
//! by state for us, so `berth ls` (listeners only) never copies the
//! established connections out of the kernel at all.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket as NetlinkSocket, SocketAddr as NetlinkAddr};

use super::{Family, Protocol, Query, Socket, SocketState, TcpCounters};

/// Size of the buffer one recv() fills. The kernel packs as many sockets as
/// fit in its own buffer per message batch; 64 KiB keeps syscalls few.
const RECV_BUFFER: usize = 64 * 1024;

/// TCP_LISTEN as a state bit for the kernel's filter.
const LISTEN_STATE_BIT: u32 = 1 << 10;

/// TCP_TIME_WAIT as a state bit.
const TIME_WAIT_STATE_BIT: u32 = 1 << 6;

/// Every TCP state but TCP_BOUND_INACTIVE (13): since Linux 6.5 that bit
/// asks for sockets that are only bound (neither listening nor connected),
/// which /proc/net/tcp never lists and nothing berth reports is about, so
/// both sources give the same sockets.
const ALL_TCP_STATES: u32 = !(1 << 13);

/// Dumps the sockets of the calling thread's network namespace.
pub(crate) fn dump(query: &Query, netns: u64) -> io::Result<Vec<Socket>> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    // A larger receive buffer lets the kernel run ahead of us on big dumps.
    let _ = socket.set_rx_buf_sz(1 << 20);

    let hint =
        if query.tcp_listening_only || query.port.is_some() { 256 } else { super::procnet::socket_count_hint(query) };
    let mut sockets = Vec::with_capacity(hint);
    let mut buffer = vec![0u8; RECV_BUFFER];
    let mut requests: Vec<(u8, u8, u32)> = Vec::with_capacity(4);
    if query.tcp {
        let states = match (query.tcp_listening_only, query.without_time_wait) {
            (true, _) => LISTEN_STATE_BIT,
            (false, false) => ALL_TCP_STATES,
            (false, true) => ALL_TCP_STATES & !TIME_WAIT_STATE_BIT,
        };
        requests.push((AF_INET, IPPROTO_TCP, states));
        requests.push((AF_INET6, IPPROTO_TCP, states));
    }
    if query.udp {
        requests.push((AF_INET, IPPROTO_UDP, u32::MAX));
        requests.push((AF_INET6, IPPROTO_UDP, u32::MAX));
    }
    // The TCP states beyond LISTEN: one walk of the established hash for
    // both families (see `send_compat_request`); the listeners then per
    // family, which walks only the listening hash, and is the only way to
    // get each listener's IPV6_V6ONLY (the kernel adds it only to replies
    // to an AF_INET6 request). Where the old request is refused, one
    // request per family for everything, as before.
    if query.tcp && !query.tcp_listening_only {
        let states = requests[0].2;
        let before = sockets.len();
        let single = send_compat_request(&socket, states & !LISTEN_STATE_BIT, query.tcp_counters, query.port)
            .and_then(|()| receive_dump(&socket, &mut buffer, IPPROTO_TCP, netns, &mut sockets));
        match single {
            Ok(()) => {
                for request in requests.iter_mut().filter(|(_, protocol, _)| *protocol == IPPROTO_TCP) {
                    request.2 = LISTEN_STATE_BIT;
                }
            }
            Err(_) => sockets.truncate(before),
        }
    }
    for (family, protocol, states) in requests {
        // A listener's counters are dropped (`parse_inet_diag_msg`): the
        // kernel need not fill them for a listeners-only request.
        let tcp_info = query.tcp_counters && protocol == IPPROTO_TCP && states != LISTEN_STATE_BIT;
        send_request(&socket, family, protocol, states, tcp_info, query.port)?;
        receive_dump(&socket, &mut buffer, protocol, netns, &mut sockets)?;
    }
    Ok(sockets)
}

/// nlattr type of a filter program in an inet_diag request (INET_DIAG_REQ_BYTECODE).
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// Filter opcodes (include/uapi/linux/inet_diag.h).
const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_EQ: u8 = 11;
const INET_DIAG_BC_D_EQ: u8 = 12;

/// A filter program "local port == P or remote port == P" for the kernel's
/// inet_diag bytecode interpreter (net/ipv4/inet_diag.c), as ss builds for
/// `sport = :P or dport = :P`.
///
/// Ops are 4 bytes, `{code, yes, no}`; a port comparison is followed by an
/// op whose `no` field holds the port. After each op the interpreter skips
/// `yes` bytes if its condition held and `no` bytes if not (a JMP always
/// takes `no`). A socket is reported when the program ends exactly on its
/// last byte and dropped when a jump overshoots by 4. The kernel's audit
/// insists that every `no` target lies on the chain of `yes` jumps, hence
/// the JMP in the middle rather than a direct jump to the end.
///
/// ```text
///  0: S_EQ  yes 8 -> 8    no 12 -> 12
///  4:       port
///  8: JMP   yes 4 (audit) no 12 -> 20 = end: report
/// 12: D_EQ  yes 8 -> 20 = end: report   no 12 -> 24: drop
/// 16:       port
/// ```
fn port_filter(port: u16) -> Vec<u8> {
    fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
        let no = no.to_ne_bytes();
        [code, yes, no[0], no[1]]
    }
    let mut program = Vec::with_capacity(20);
    program.extend(op(INET_DIAG_BC_S_EQ, 8, 12));
    program.extend(op(0, 0, port));
    program.extend(op(INET_DIAG_BC_JMP, 4, 12));
    program.extend(op(INET_DIAG_BC_D_EQ, 8, 12));
    program.extend(op(0, 0, port));
    program
}

fn send_request(
    socket: &NetlinkSocket,
    family: u8,
    protocol: u8,
    states: u32,
    tcp_info: bool,
    port: Option<u16>,
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let extensions = if tcp_info { ExtensionFlags::INFO } else { ExtensionFlags::empty() };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions,
            states: StateFlags::from_bits_retain(states),
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    if let Some(port) = port {
        // The crate has no type for the filter attribute: append the nlattr
        // (length, type, program) after the request and fix nlmsg_len.
        let program = port_filter(port);
        let attr_len = (4 + program.len()) as u16;
        bytes.extend(attr_len.to_ne_bytes());
        bytes.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        bytes.extend(program);
        let total = bytes.len() as u32;
        bytes[0..4].copy_from_slice(&total.to_ne_bytes());
    }
    socket.send(&bytes, 0)?;
    Ok(())
}

/// TCPDIAG_GETSOCK: the request `ss` sent before SOCK_DIAG_BY_FAMILY.
const TCPDIAG_GETSOCK: u16 = 18;
/// SOCK_DIAG_BY_FAMILY, the type the replies are parsed as.
const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// The TCP dump of both families in one request: the old TCPDIAG_GETSOCK
/// with family AF_UNSPEC, which the kernel still answers (inet_diag's
/// compat path) with one walk of the established hash for both families,
/// where SOCK_DIAG_BY_FAMILY needs one request, and one full walk of the
/// same shared hash, per family. At 41,000 sockets that halves the fixed
/// cost of a dump (measured in docs/design/watch-engine.md §4: 5.3 ms ->
/// 2.2 ms on an empty table). The request is `struct inet_diag_req`
/// (family, src_len, dst_len, ext, a zero `inet_diag_sockid`, states,
/// dbs); the replies are inet_diag_msg like any other, typed
/// TCPDIAG_GETSOCK, which `receive_dump` reads as SOCK_DIAG_BY_FAMILY.
fn send_compat_request(socket: &NetlinkSocket, states: u32, tcp_info: bool, port: Option<u16>) -> io::Result<()> {
    const AF_UNSPEC: u8 = 0;
    let mut request = Vec::with_capacity(16 + 60 + 24);
    request.extend(0u32.to_ne_bytes()); // nlmsg_len, set below
    request.extend(TCPDIAG_GETSOCK.to_ne_bytes());
    request.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend(0u32.to_ne_bytes()); // seq
    request.extend(0u32.to_ne_bytes()); // pid
    let extensions: u8 = if tcp_info { ExtensionFlags::INFO.bits() } else { 0 };
    request.extend([AF_UNSPEC, 0, 0, extensions]);
    request.extend([0u8; 48]); // inet_diag_sockid: any socket
    request.extend(states.to_ne_bytes());
    request.extend(0u32.to_ne_bytes()); // idiag_dbs
    if let Some(port) = port {
        let program = port_filter(port);
        request.extend(((4 + program.len()) as u16).to_ne_bytes());
        request.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        request.extend(program);
    }
    let total = request.len() as u32;
    request[0..4].copy_from_slice(&total.to_ne_bytes());
    socket.send(&request, 0)?;
    Ok(())
}

/// Reads one dump to its NLMSG_DONE.
fn receive_dump(
    socket: &NetlinkSocket,
    buffer: &mut [u8],
    protocol: u8,
    netns: u64,
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    let protocol = if protocol == IPPROTO_TCP { Protocol::Tcp } else { Protocol::Udp };
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink closed the dump early"));
        }
        for message in Messages(&buffer[..size]) {
            let (kind, payload) = message.ok_or_else(malformed)?;
            match kind {
                // Replies to the compat request carry its type: they are
                // the same inet_diag_msg.
                SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                    let (socket, _) = parse_inet_diag_msg(payload, Some(protocol), netns).ok_or_else(malformed)?;
                    out.push(socket);
                }
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let code = payload.get(..4).map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                    return Err(io::Error::from_raw_os_error(-code.ok_or_else(malformed)?));
                }
                _ => {}
            }
        }
    }
}

/// nlmsg_type of a dump's end.
const NLMSG_DONE: u16 = 3;
/// nlmsg_type of an error (its payload starts with the negative errno).
const NLMSG_ERROR: u16 = 2;
/// `struct nlmsghdr`: length, type, flags, sequence, port id.
pub(crate) const NLMSG_HEADER: usize = 16;
/// `struct inet_diag_msg` (include/uapi/linux/inet_diag.h): family, state,
/// timer, retrans (4 bytes), the 48-byte `inet_diag_sockid` (sport and
/// dport big-endian, src[4] and dst[4] in network order, interface, the
/// cookie as two host-order u32), then expires, rqueue, wqueue, uid and
/// inode (host-order u32 each).
const INET_DIAG_MSG: usize = 72;
/// Attribute types berth reads (enum inet_diag_attr_type).
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_PROTOCOL: u16 = 10;
const INET_DIAG_SKV6ONLY: u16 = 11;

/// The netlink messages in one datagram, as (type, payload); None for a
/// message whose length does not fit (the rest is not read).
pub(crate) struct Messages<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = Option<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < NLMSG_HEADER {
            return None;
        }
        let length = u32::from_ne_bytes(self.0[0..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes([self.0[4], self.0[5]]);
        if length < NLMSG_HEADER || length > self.0.len() {
            self.0 = &[];
            return Some(None);
        }
        let payload = &self.0[NLMSG_HEADER..length];
        // Netlink messages are 4-byte aligned.
        self.0 = self.0.get((length + 3) & !3..).unwrap_or(&[]);
        Some(Some((kind, payload)))
    }
}

/// One `inet_diag_msg` and its attributes, read in place (the fixed layout
/// above; no allocation but the socket's own). The protocol comes from
/// the INET_DIAG_PROTOCOL attribute when the kernel sends it (destroy
/// messages do), else `protocol`; the attribute's value is returned too.
/// None when the message is too short or no protocol is known.
pub(crate) fn parse_inet_diag_msg(
    payload: &[u8],
    protocol: Option<Protocol>,
    netns: u64,
) -> Option<(Socket, Option<u8>)> {
    let message = payload.get(..INET_DIAG_MSG)?;
    let u32_at = |offset: usize| u32::from_ne_bytes(message[offset..offset + 4].try_into().expect("4 bytes"));
    let family = if message[0] == AF_INET { Family::V4 } else { Family::V6 };
    let address = |offset: usize| -> IpAddr {
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&message[offset..offset + 4]).expect("4"))),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&message[offset..offset + 16]).expect("16"))),
        }
    };
    let source_port = u16::from_be_bytes([message[4], message[5]]);
    let destination_port = u16::from_be_bytes([message[6], message[7]]);
    let (source, destination) = (address(8), address(24));
    let cookie = cookie(message[44..52].try_into().expect("8 bytes"));
    let (recv_queue, send_queue, uid, inode) = (u32_at(56), u32_at(60), u32_at(64), u32_at(68));

    let mut v6only = None;
    let mut info: Option<&[u8]> = None;
    let mut protocol_attribute = None;
    let mut attributes = &payload[INET_DIAG_MSG..];
    while attributes.len() >= 4 {
        let length = u16::from_ne_bytes([attributes[0], attributes[1]]) as usize;
        // The top bits are the nested and byte-order flags.
        let kind = u16::from_ne_bytes([attributes[2], attributes[3]]) & 0x3fff;
        if length < 4 || length > attributes.len() {
            break;
        }
        let value = &attributes[4..length];
        match kind {
            INET_DIAG_INFO => info = Some(value),
            INET_DIAG_SKV6ONLY => v6only = value.first().map(|&b| b != 0),
            INET_DIAG_PROTOCOL => protocol_attribute = value.first().copied(),
            _ => {}
        }
        attributes = attributes.get((length + 3) & !3..).unwrap_or(&[]);
    }
    let protocol = match protocol_attribute {
        Some(IPPROTO_TCP) => Protocol::Tcp,
        Some(IPPROTO_UDP) => Protocol::Udp,
        _ => protocol?,
    };

    let local = SocketAddr::new(source, source_port);
    let remote = if destination_port == 0 && destination.is_unspecified() {
        None
    } else {
        Some(SocketAddr::new(destination, destination_port))
    };
    let state = SocketState::from_kernel(protocol, message[1]);
    if family == Family::V4 {
        v6only = None;
    }
    // For a listener the kernel puts the current accept queue in rqueue and
    // the backlog limit in wqueue; keep the limit apart so "send queue"
    // means the same thing for every socket (and as in /proc/net).
    let (send_queue, listen_backlog) =
        if state == SocketState::Listen { (0, Some(send_queue)) } else { (send_queue, None) };
    let tcp_counters =
        if state == SocketState::Listen { None } else { info.map(|bytes| Box::new(parse_tcp_info(bytes))) };
    let socket = Socket {
        protocol,
        family,
        // IPv4-mapped addresses (::ffff:a.b.c.d) are kept as the kernel gives them.
        local,
        remote,
        state,
        recv_queue,
        send_queue,
        listen_backlog,
        inode: u64::from(inode),
        cookie,
        uid,
        v6only,
        tcp_counters,
        netns,
        owners: Default::default(),
    };
    Some((socket, protocol_attribute))
}

/// The kernel stores the socket cookie as two host-order u32, low half
/// first (`sock_diag_save_cookie`).
fn cookie(bytes: &[u8; 8]) -> u64 {
    let low = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let high = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    (u64::from(high) << 32) | u64::from(low)
}

/// Picks the counters out of the kernel's `struct tcp_info`
/// (include/uapi/linux/tcp.h). The struct only grows, so a field is present
/// when the kernel's copy is long enough to hold it.
pub(crate) fn parse_tcp_info(bytes: &[u8]) -> TcpCounters {
    let u32_at =
        |offset: usize| bytes.get(offset..offset + 4).map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")));
    let u64_at =
        |offset: usize| bytes.get(offset..offset + 8).map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")));
    TcpCounters { rtt_us: u32_at(68), bytes_acked: u64_at(120), bytes_received: u64_at(128), bytes_sent: u64_at(200) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as the netlink crate writes it, parsed in place: every field
    /// berth reads, both families, with and without the attributes.
    #[test]
    fn inet_diag_messages_are_read_as_the_netlink_crate_writes_them() {
        use netlink_packet_core::Emitable;
        use netlink_packet_sock_diag::inet::{nlas::Nla, InetResponse, InetResponseHeader};

        let mut info = vec![0u8; 232];
        info[128..136].copy_from_slice(&4242u64.to_ne_bytes());
        info[200..208].copy_from_slice(&777u64.to_ne_bytes());
        let cases = [
            (AF_INET, "127.0.0.1:8080", "127.0.0.1:50000", 1u8, vec![Nla::TcpInfo(info.clone())]),
            (
                AF_INET6,
                "[::1]:8080",
                "[::ffff:127.0.0.1]:50001",
                1,
                vec![Nla::Congestion("cubic".into()), Nla::TcpInfo(info.clone()), Nla::SkV6Only(true)],
            ),
            (AF_INET6, "[::]:9090", "[::]:0", 10, vec![Nla::SkV6Only(false), Nla::Protocol(IPPROTO_TCP)]),
            (AF_INET, "0.0.0.0:53", "0.0.0.0:0", 7, vec![Nla::Protocol(IPPROTO_UDP)]),
        ];
        for (family, local, remote, state, nlas) in cases {
            let (local, remote): (SocketAddr, SocketAddr) = (local.parse().unwrap(), remote.parse().unwrap());
            let mut socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
            socket_id.source_port = local.port();
            socket_id.destination_port = remote.port();
            socket_id.source_address = local.ip();
            socket_id.destination_address = remote.ip();
            socket_id.cookie = [1, 2, 3, 4, 5, 6, 7, 8];
            let response = InetResponse {
                header: InetResponseHeader {
                    family,
                    state,
                    timer: None,
                    socket_id,
                    recv_queue: 3,
                    send_queue: 128,
                    uid: 1001,
                    inode: 99,
                },
                nlas: nlas.into(),
            };
            let mut bytes = vec![0u8; response.buffer_len()];
            response.emit(&mut bytes);
            let (socket, protocol) = parse_inet_diag_msg(&bytes, Some(Protocol::Tcp), 5).expect("parsed");
            let udp = state == 7;
            assert_eq!(socket.protocol, if udp { Protocol::Udp } else { Protocol::Tcp });
            assert_eq!(
                protocol,
                response.nlas.iter().find_map(|n| if let Nla::Protocol(p) = n { Some(*p) } else { None })
            );
            assert_eq!(socket.local, local);
            assert_eq!(socket.remote, (remote.port() != 0).then_some(remote));
            assert_eq!(socket.state, SocketState::from_kernel(socket.protocol, state));
            assert_eq!(
                socket.cookie,
                (u64::from(u32::from_ne_bytes([5, 6, 7, 8])) << 32) | u64::from(u32::from_ne_bytes([1, 2, 3, 4]))
            );
            assert_eq!((socket.recv_queue, socket.uid, socket.inode, socket.netns), (3, 1001, 99, 5));
            let listening = socket.state == SocketState::Listen;
            assert_eq!(socket.send_queue, if listening { 0 } else { 128 });
            assert_eq!(socket.listen_backlog, listening.then_some(128));
            let has_info = response.nlas.iter().any(|n| matches!(n, Nla::TcpInfo(_)));
            assert_eq!(socket.tcp_counters.as_ref().and_then(|c| c.bytes_received), has_info.then_some(4242));
            assert_eq!(socket.tcp_counters.as_ref().and_then(|c| c.bytes_sent), has_info.then_some(777));
            let v6only = response.nlas.iter().find_map(|n| if let Nla::SkV6Only(v) = n { Some(*v) } else { None });
            assert_eq!(socket.v6only, if family == AF_INET { None } else { v6only });
        }
        // Too short, or an attribute longer than the message: no panic.
        assert!(parse_inet_diag_msg(&[0u8; 40], Some(Protocol::Tcp), 0).is_none());
        let mut bad = vec![0u8; INET_DIAG_MSG + 4];
        bad[INET_DIAG_MSG..].copy_from_slice(&[200, 0, 2, 0]);
        assert!(parse_inet_diag_msg(&bad, Some(Protocol::Tcp), 0).is_some());
        assert!(parse_inet_diag_msg(&[0u8; INET_DIAG_MSG], None, 0).is_none());
        let truncated = [0xffu8; 20];
        assert_eq!(Messages(&truncated).collect::<Vec<_>>(), vec![None]);
    }

    #[test]
    fn tcp_info_fields_are_read_only_when_present() {
        let short = vec![0u8; 130];
        let counters = parse_tcp_info(&short);
        assert_eq!(counters.bytes_acked, Some(0));
        assert_eq!(counters.bytes_received, None);
        assert_eq!(counters.bytes_sent, None);

        let mut full = vec![0u8; 232];
        full[200..208].copy_from_slice(&1234u64.to_ne_bytes());
        full[128..136].copy_from_slice(&99u64.to_ne_bytes());
        let counters = parse_tcp_info(&full);
        assert_eq!(counters.bytes_sent, Some(1234));
        assert_eq!(counters.bytes_received, Some(99));
    }
}
