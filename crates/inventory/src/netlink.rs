//! The fast path: NETLINK_SOCK_DIAG dumps, as `ss` makes them.
//!
//! One netlink socket, one dump per (family, protocol). The kernel filters
//! by state for us, so `berth ls` (listeners only) never copies the
//! established connections out of the kernel at all.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{nlas::Nla, ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags},
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
        let tcp_info = query.tcp_counters && protocol == IPPROTO_TCP;
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
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink closed the dump early"));
        }
        let mut offset = 0;
        while offset < size {
            // Replies to the compat request carry its type: read them as
            // the inet_diag_msg they are.
            if buffer.len() >= offset + 6
                && u16::from_ne_bytes([buffer[offset + 4], buffer[offset + 5]]) == TCPDIAG_GETSOCK
            {
                buffer[offset + 4..offset + 6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
            }
            let message = <NetlinkMessage<SockDiagMessage>>::deserialize(&buffer[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("malformed sock_diag reply: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    out.push(convert(&response, protocol, netns));
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(error) => {
                    let code = error.code.map(|c| c.get()).unwrap_or(0);
                    return Err(io::Error::from_raw_os_error(-code));
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            // Netlink messages are 4-byte aligned.
            offset += (length + 3) & !3;
        }
    }
}

pub(crate) fn convert(response: &InetResponse, protocol: Protocol, netns: u64) -> Socket {
    let header = &response.header;
    let id = &header.socket_id;
    let family = if header.family == AF_INET { Family::V4 } else { Family::V6 };
    let local = SocketAddr::new(id.source_address, id.source_port);
    let remote = if id.destination_port == 0 && id.destination_address.is_unspecified() {
        None
    } else {
        Some(SocketAddr::new(id.destination_address, id.destination_port))
    };
    let state = SocketState::from_kernel(protocol, header.state);

    let mut v6only = None;
    let mut tcp_counters = None;
    for nla in &response.nlas {
        match nla {
            Nla::SkV6Only(flag) => v6only = Some(*flag),
            Nla::TcpInfo(bytes) => tcp_counters = Some(Box::new(parse_tcp_info(bytes))),
            _ => {}
        }
    }
    if family == Family::V4 {
        v6only = None;
    }
    // For a listener the kernel puts the current accept queue in rqueue and
    // the backlog limit in wqueue; keep the limit apart so "send queue"
    // means the same thing for every socket (and as in /proc/net).
    let (send_queue, listen_backlog) =
        if state == SocketState::Listen { (0, Some(header.send_queue)) } else { (header.send_queue, None) };
    if state == SocketState::Listen {
        tcp_counters = None;
    }
    Socket {
        protocol,
        family,
        // IPv4-mapped addresses (::ffff:a.b.c.d) are kept as the kernel gives them.
        local,
        remote,
        state,
        recv_queue: header.recv_queue,
        send_queue,
        listen_backlog,
        inode: u64::from(header.inode),
        cookie: cookie(&id.cookie),
        uid: header.uid,
        v6only,
        tcp_counters,
        netns,
        owners: Default::default(),
    }
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
