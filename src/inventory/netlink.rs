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

/// Dumps the sockets of the calling thread's network namespace.
pub(crate) fn dump(query: &Query, netns: u64) -> io::Result<Vec<Socket>> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    // A larger receive buffer lets the kernel run ahead of us on big dumps.
    let _ = socket.set_rx_buf_sz(1 << 20);

    let mut sockets = Vec::new();
    let mut buffer = vec![0u8; RECV_BUFFER];
    let mut requests: Vec<(u8, u8, u32)> = Vec::with_capacity(4);
    if query.tcp {
        let states = if query.tcp_listening_only { LISTEN_STATE_BIT } else { u32::MAX };
        requests.push((AF_INET, IPPROTO_TCP, states));
        requests.push((AF_INET6, IPPROTO_TCP, states));
    }
    if query.udp {
        requests.push((AF_INET, IPPROTO_UDP, u32::MAX));
        requests.push((AF_INET6, IPPROTO_UDP, u32::MAX));
    }
    for (family, protocol, states) in requests {
        send_request(&socket, family, protocol, states)?;
        receive_dump(&socket, &mut buffer, protocol, netns, &mut sockets)?;
    }
    Ok(sockets)
}

fn send_request(socket: &NetlinkSocket, family: u8, protocol: u8, states: u32) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let extensions = if protocol == IPPROTO_TCP { ExtensionFlags::INFO } else { ExtensionFlags::empty() };
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
    socket.send(&bytes, 0)?;
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

fn convert(response: &InetResponse, protocol: Protocol, netns: u64) -> Socket {
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
            Nla::TcpInfo(bytes) => tcp_counters = Some(parse_tcp_info(bytes)),
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
        uid: header.uid,
        v6only,
        tcp_counters,
        netns,
        owners: Vec::new(),
    }
}

/// Picks the counters out of the kernel's `struct tcp_info`
/// (include/uapi/linux/tcp.h). The struct only grows, so a field is present
/// when the kernel's copy is long enough to hold it.
fn parse_tcp_info(bytes: &[u8]) -> TcpCounters {
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
