//! The one listener setup every berth server uses.

use crate::stderr::say;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use socket2::{SockAddr, Socket};

use crate::analysis::free::candidates;
use crate::analysis::who::who;
use crate::error::Error;
use berth_inventory::scope::is_loopback;
use berth_inventory::target::PortTarget;
use berth_inventory::{self as inventory, interfaces, Interface, Protocol, Query};

/// Where a server should listen, as the user asked.
#[derive(Clone, Debug)]
pub struct ListenSpec {
    /// The address; None means 127.0.0.1, or every address with `expose`.
    pub bind: Option<IpAddr>,
    /// 0 asks the kernel for any free port.
    pub port: u16,
    /// The user accepts listening beyond loopback.
    pub expose: bool,
}

impl ListenSpec {
    /// The addresses to try, in order, until one binds: the one asked for;
    /// with `--expose` alone every address (dual-stack `::`, or 0.0.0.0
    /// where IPv6 is off); otherwise 127.0.0.1.
    fn candidates(&self) -> Vec<IpAddr> {
        match (self.bind, self.expose) {
            (Some(address), _) => vec![address],
            (None, true) => vec![IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            (None, false) => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        }
    }

    /// Refuses a non-loopback address without `--expose`.
    fn check_exposure(&self) -> Result<(), Error> {
        match self.bind {
            Some(address) if !is_loopback(address) && !self.expose => Err(Error::Usage(format!(
                "listening on {address} would make the server reachable from other machines; add --expose if you mean it"
            ))),
            _ => Ok(()),
        }
    }

    /// Binds the first candidate that this machine has: `::` falls back to
    /// 0.0.0.0 only when IPv6 is off (EAFNOSUPPORT, EADDRNOTAVAIL); any
    /// other error is the answer. With `--expose`, warns on stderr naming
    /// every address the socket is reachable at.
    fn bind<T>(&self, protocol: Protocol, bind: impl Fn(IpAddr) -> io::Result<T>) -> Result<(T, IpAddr), Error> {
        self.check_exposure()?;
        let candidates = self.candidates();
        let mut result = None;
        for (n, &address) in candidates.iter().enumerate() {
            match bind(address) {
                Ok(socket) => {
                    result = Some((socket, address));
                    break;
                }
                Err(e)
                    if n + 1 < candidates.len()
                        && matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL)) => {}
                Err(e) => return Err(bind_error(address, self.port, protocol, e)),
            }
        }
        let (socket, address) = result.expect("the last candidate returns");
        if self.expose && !is_loopback(address) {
            let reachable: Vec<String> = reachable_at(address)
                .iter()
                .map(|i| format!("{} ({})", i.address, crate::printable::printable(&i.name)))
                .collect();
            say!(
                "berth: warning: --expose: listening on {address}, reachable beyond this machine at {}",
                if reachable.is_empty() {
                    "any address this machine is given (it has none besides loopback now)".to_string()
                } else {
                    reachable.join(", ")
                }
            );
        }
        Ok((socket, address))
    }
}

/// The addresses besides loopback at which a socket bound to `bound`
/// takes connections, with their interfaces: every one for dual-stack
/// `::`, every IPv4 one for 0.0.0.0, else `bound` itself.
pub fn reachable_at(bound: IpAddr) -> Vec<Interface> {
    let all = interfaces::list();
    if !bound.is_unspecified() {
        let name = all.iter().find(|i| i.address == bound).map(|i| i.name.clone()).unwrap_or_default();
        return if is_loopback(bound) { Vec::new() } else { vec![Interface { name, address: bound }] };
    }
    let mut found: Vec<Interface> =
        all.into_iter().filter(|i| !is_loopback(i.address) && (bound.is_ipv6() || i.address.is_ipv4())).collect();
    found.sort_by_key(|i| (i.address.is_ipv6(), i.address));
    found.dedup_by(|a, b| a.address == b.address);
    found
}

/// A listening TCP socket as `spec` says, with SO_REUSEADDR (restarts do
/// not wait out TIME_WAIT) and a deep backlog.
pub fn tcp_listener(spec: &ListenSpec) -> Result<TcpListener, Error> {
    let (socket, _) = spec.bind(Protocol::Tcp, |address| {
        let socket = new_socket(address, Protocol::Tcp)?;
        socket.set_reuse_address(true)?;
        socket.bind(&SockAddr::from(SocketAddr::new(address, spec.port)))?;
        socket.listen(4096)?;
        Ok(socket)
    })?;
    Ok(socket.into())
}

/// A bound UDP socket as `spec` says.
pub fn udp_socket(spec: &ListenSpec) -> Result<UdpSocket, Error> {
    let (socket, _) = spec.bind(Protocol::Udp, |address| {
        let socket = new_socket(address, Protocol::Udp)?;
        socket.bind(&SockAddr::from(SocketAddr::new(address, spec.port)))?;
        Ok(socket)
    })?;
    Ok(socket.into())
}

/// `--bind ::` means both families, whatever net.ipv6.bindv6only says;
/// a specific IPv6 address is IPv6 only anyway.
fn new_socket(address: IpAddr, protocol: Protocol) -> io::Result<Socket> {
    crate::actions::bind::new_socket(address, protocol, !address.is_unspecified())
}

/// Turns a bind failure into advice: who holds the port, and a free one.
fn bind_error(address: IpAddr, port: u16, protocol: Protocol, error: io::Error) -> Error {
    match error.raw_os_error() {
        Some(libc::EADDRINUSE) => {
            let holder = describe_holder(port, protocol).unwrap_or_else(|| "another socket".to_string());
            let suggestion = suggest_free_port(address, protocol)
                .map(|p| format!("; port {p} is free (--port {p}, or --port 0 for any)"))
                .unwrap_or_else(|| "; --port 0 picks any free port".to_string());
            Error::Usage(format!("port {port} on {address} is in use by {holder}{suggestion}"))
        }
        Some(libc::EACCES) => Error::Usage(format!(
            "port {port} is privileged (below net.ipv4.ip_unprivileged_port_start): run as root or use a port above 1023"
        )),
        Some(libc::EADDRNOTAVAIL) => {
            Error::Usage(format!("{address} is not an address of this machine; see 'ip address' for the ones it has"))
        }
        _ => Error::System(format!("cannot listen on {}: {error}", SocketAddr::new(address, port))),
    }
}

/// "python3 [1234] (see berth who 8080)", from the inventory.
fn describe_holder(port: u16, protocol: Protocol) -> Option<String> {
    let target = PortTarget { protocol: Some(protocol), addresses: None, port, text: port.to_string() };
    let query = Query {
        tcp: protocol == Protocol::Tcp,
        udp: protocol == Protocol::Udp,
        tcp_counters: false,
        port: Some(port),
        ..Query::default()
    };
    let snapshot = inventory::collect(&query).ok()?;
    let report = who(&target, &snapshot);
    let names: Vec<String> = report
        .holders
        .iter()
        .map(|h| format!("{} [{}]", crate::printable::printable(&h.process.display_name()), h.process.pid))
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(format!("{} (see 'berth who {}/{port}')", names.join(", "), protocol.name()))
}

/// A port that binds right now on `address`, from the same range `berth free` uses.
fn suggest_free_port(address: IpAddr, protocol: Protocol) -> Option<u16> {
    let query = Query { tcp_counters: false, owners: false, ..Query::default() };
    let snapshot = inventory::collect(&query).ok()?;
    let pool = candidates(None, &snapshot.port_ranges);
    let (ports, _) = crate::actions::bind::find_free(&pool, 1, &[protocol], &[address], &snapshot);
    ports.first().copied()
}
