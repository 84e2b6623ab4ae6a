//! Sockets the tests open and the ports they pick: listeners, inodes,
//! TIME_WAIT remnants, and bind(2) probes that tell whether anything else on
//! the machine uses a port.

use std::net::{Ipv6Addr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

use super::harness::skip;

/// Skips the test when ::1 cannot be bound (IPv6 off, or no ::1 on lo).
pub fn require_ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        skip("needs ::1 on lo (IPv6 is off here)");
    }
}

/// A TCP listener on 127.0.0.1, port chosen by the kernel.
pub fn listener_v4() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
}

/// An IPv6 TCP listener on `address`, with IPV6_V6ONLY set explicitly.
pub fn listener_v6(address: Ipv6Addr, v6only: bool) -> (TcpListener, u16) {
    // SAFETY: plain socket calls on a descriptor we own; it is handed to
    // TcpListener (which closes it) or closed on failure.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket(AF_INET6): {}", std::io::Error::last_os_error());
        let listener = TcpListener::from_raw_fd(fd);
        let flag: libc::c_int = i32::from(v6only);
        let rc = libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&flag as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "setsockopt(IPV6_V6ONLY): {}", std::io::Error::last_os_error());
        let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_addr.s6_addr = address.octets();
        let rc = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "bind([{address}]:0): {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 16), 0, "listen: {}", std::io::Error::last_os_error());
        let port = listener.local_addr().expect("local_addr").port();
        (listener, port)
    }
}

/// A port that was free a moment ago: bound, read back, released.
pub fn released_port() -> u16 {
    let (listener, port) = listener_v4();
    drop(listener);
    port
}

/// The socket inode of a descriptor, as fstat sees it (st_ino).
pub fn inode_of(fd: &impl AsRawFd) -> u64 {
    inode_of_raw(fd.as_raw_fd())
}

pub fn inode_of_raw(fd: RawFd) -> u64 {
    // SAFETY: fstat writes into a zeroed stat struct we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0, "fstat({fd}) failed: {}", std::io::Error::last_os_error());
        st.st_ino
    }
}

/// A port whose only socket is a TIME_WAIT remnant: a connection to a
/// quiet listener is closed by the server first (the active close leaves
/// TIME_WAIT on the server's end, whose local port is the listener's),
/// then by the client, and the listener is dropped. Returns the port.
pub fn time_wait_port() -> u16 {
    let (listener, port) = quiet_listener_v4();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    drop(accepted);
    // Let the client see the FIN, then close it too.
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1];
    let _ = std::io::Read::read(&mut &client, &mut buf);
    let _ = client.shutdown(std::net::Shutdown::Both);
    drop(client);
    drop(listener);
    port
}

// ---------------------------------------------------------------- port probes
//
// The machine may be busy with other programs' sockets. Before asserting
// that berth finds *nothing* on a port, a test checks with bind(2) that no
// other socket of that protocol uses the port at the addresses concerned:
// bind without SO_REUSEADDR fails when any socket (listening, connected,
// or TIME_WAIT) already has the port there.

/// Where a probe binds.
#[derive(Clone, Copy, Debug)]
pub enum ProbeAt {
    /// One IPv4 address (0.0.0.0 for all of them).
    V4(std::net::Ipv4Addr),
    /// One IPv6 address with IPV6_V6ONLY set (:: for every IPv6 address).
    V6Only(Ipv6Addr),
    /// `::` dual-stack: every IPv4 and IPv6 address.
    Everywhere,
}

/// True when a socket of `protocol` ("tcp" or "udp") could bind `port` at
/// `at` right now, i.e. no other socket of that protocol has it there.
pub fn port_unused(protocol: &str, port: u16, at: ProbeAt) -> bool {
    let kind = if protocol == "tcp" { libc::SOCK_STREAM } else { libc::SOCK_DGRAM };
    // SAFETY: plain socket calls on a descriptor we own and close.
    unsafe {
        let family = if matches!(at, ProbeAt::V4(_)) { libc::AF_INET } else { libc::AF_INET6 };
        let fd = libc::socket(family, kind | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "probe socket: {}", std::io::Error::last_os_error());
        let rc = match at {
            ProbeAt::V4(ip) => {
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_port = port.to_be();
                addr.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            ProbeAt::V6Only(_) | ProbeAt::Everywhere => {
                let (ip, v6only) = match at {
                    ProbeAt::V6Only(ip) => (ip, 1 as libc::c_int),
                    _ => (Ipv6Addr::UNSPECIFIED, 0),
                };
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&v6only as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
                addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                addr.sin6_port = port.to_be();
                addr.sin6_addr.s6_addr = ip.octets();
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        libc::close(fd);
        rc == 0
    }
}

/// Makes sockets with `make` (at most 50 tries) until `quiet` says nothing
/// else on the machine shares the port in a way that would change the test.
pub fn quiet<T>(mut make: impl FnMut() -> (T, u16), quiet: impl Fn(u16) -> bool) -> (T, u16) {
    for _ in 0..50 {
        let (socket, port) = make();
        if quiet(port) {
            return (socket, port);
        }
    }
    panic!("could not find a port that no other socket on this machine shares (50 tries)");
}

/// A port no TCP or UDP socket uses anywhere right now (bound, read, released).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let port = released_port();
        if port_unused("tcp", port, ProbeAt::Everywhere) && port_unused("udp", port, ProbeAt::Everywhere) {
            return port;
        }
    }
    panic!("no free port found in 50 tries");
}

/// A 127.0.0.1 listener whose port no other socket shares: no UDP socket
/// anywhere, no IPv6 TCP socket, nothing on 127.0.0.2.
pub fn quiet_listener_v4() -> (TcpListener, u16) {
    quiet(listener_v4, |port| {
        port_unused("udp", port, ProbeAt::Everywhere)
            && port_unused("tcp", port, ProbeAt::V6Only(Ipv6Addr::UNSPECIFIED))
            && port_unused("tcp", port, ProbeAt::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)))
    })
}
