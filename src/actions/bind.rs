//! Binding ports, to test them and to hand them out (`free`, `run`).

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};

use crate::analysis::free::{in_use, shuffled_start, Shortfall};
use berth_inventory::{Protocol, Snapshot};

/// Whether `port` can be bound on `address` for `protocol` right now.
///
/// No SO_REUSEADDR: a port with TIME_WAIT remnants counts as taken, as it
/// is for a program that does not set the option. The test socket is
/// closed at once (a TCP socket that never listened leaves no TIME_WAIT).
pub fn bindable(address: IpAddr, port: u16, protocol: Protocol) -> io::Result<()> {
    // Test the IPv6 side alone; the IPv4 side is tested on its own address.
    let socket = new_socket(address, protocol, true)?;
    socket.bind(&SockAddr::from(SocketAddr::new(address, port)))
}

/// A close-on-exec socket of the right family for `address`. For IPv6,
/// `v6only` sets IPV6_V6ONLY explicitly rather than leaving it to the
/// net.ipv6.bindv6only default.
pub fn new_socket(address: IpAddr, protocol: Protocol, v6only: bool) -> io::Result<Socket> {
    let domain = if address.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let (kind, proto) = match protocol {
        Protocol::Tcp => (Type::STREAM, SockProtocol::TCP),
        Protocol::Udp => (Type::DGRAM, SockProtocol::UDP),
    };
    let socket = Socket::new(domain, kind, Some(proto))?;
    if address.is_ipv6() {
        socket.set_only_v6(v6only)?;
    }
    Ok(socket)
}

/// The first `count` ports of `pool` (tried from a random place) that no
/// socket uses and that bind on every address for every protocol. The
/// second value is true when IPv6 addresses were skipped as unavailable.
pub fn find_free(
    pool: &[u16],
    count: usize,
    protocols: &[Protocol],
    addresses: &[IpAddr],
    snapshot: &Snapshot,
) -> (Vec<u16>, bool) {
    let search = search(pool, count, protocols, addresses, snapshot);
    (search.ports, search.ipv6_missing)
}

/// What [`search`] found, and why the other ports it tried were not free.
pub struct Search {
    pub ports: Vec<u16>,
    /// ::1 was skipped: IPv6 is not available here.
    pub ipv6_missing: bool,
    pub shortfall: Shortfall,
}

/// [`find_free`], with the causes counted: each port that did not bind is
/// counted once, by the first error it met. An address that is not on this
/// machine ends the search (no port can bind there).
pub fn search(pool: &[u16], count: usize, protocols: &[Protocol], addresses: &[IpAddr], snapshot: &Snapshot) -> Search {
    let mut found = Vec::with_capacity(count);
    let mut ipv6_missing = false;
    let mut shortfall = Shortfall::default();
    'ports: for port in shuffled_start(pool.to_vec(), random_seed()) {
        if found.len() == count {
            break;
        }
        if protocols.iter().any(|&p| in_use(port, p, snapshot)) {
            shortfall.in_use += 1;
            continue;
        }
        let mut ok = true;
        'check: for &protocol in protocols {
            for &address in addresses {
                let Err(e) = bindable(address, port, protocol) else { continue };
                let errno = e.raw_os_error();
                // No ::1 (IPv6 disabled): the port cannot collide there.
                if address.is_ipv6()
                    && (errno == Some(libc::EAFNOSUPPORT)
                        || (address.is_loopback() && errno == Some(libc::EADDRNOTAVAIL)))
                {
                    ipv6_missing = true;
                    continue;
                }
                match errno {
                    Some(libc::EADDRNOTAVAIL) => {
                        shortfall.not_local.push(address);
                        break 'ports;
                    }
                    Some(libc::EACCES) => shortfall.needs_privilege += 1,
                    Some(libc::EADDRINUSE) => shortfall.in_use += 1,
                    _ => *shortfall.other.entry(crate::net::error_text(&e)).or_default() += 1,
                }
                ok = false;
                break 'check;
            }
        }
        if ok {
            found.push(port);
        }
    }
    Search { ports: found, ipv6_missing, shortfall }
}

/// Randomness for the starting point, from the kernel.
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom fills at most `bytes.len()` bytes of a valid buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got == bytes.len() as isize {
        u64::from_ne_bytes(bytes)
    } else {
        u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
    }
}
