//! Binding ports, to test them and to hand them out (`free`, `run`).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use crate::inventory::Protocol;

/// Whether `port` can be bound on `address` for `protocol` right now.
///
/// No SO_REUSEADDR: a port with TIME_WAIT remnants counts as taken, as it
/// is for a program that does not set the option. The test socket is
/// closed at once (a TCP socket that never listened leaves no TIME_WAIT).
pub fn bindable(address: IpAddr, port: u16, protocol: Protocol) -> io::Result<()> {
    let socket = new_socket(address, protocol)?;
    socket.bind(&SockAddr::from(SocketAddr::new(address, port)))
}

/// A listening TCP socket on `address:port` (SO_REUSEADDR set, as servers do).
pub fn listen(address: IpAddr, port: u16) -> io::Result<TcpListener> {
    let socket = new_socket(address, Protocol::Tcp)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(SocketAddr::new(address, port)))?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn new_socket(address: IpAddr, protocol: Protocol) -> io::Result<Socket> {
    let domain = if address.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let (kind, proto) = match protocol {
        Protocol::Tcp => (Type::STREAM, SockProtocol::TCP),
        Protocol::Udp => (Type::DGRAM, SockProtocol::UDP),
    };
    let socket = Socket::new(domain, kind, Some(proto))?;
    if address.is_ipv6() {
        // Test the IPv6 side alone; the IPv4 side is tested on its own address.
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}
