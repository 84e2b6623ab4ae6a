//! The one listener setup every berth server uses.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use socket2::{SockAddr, Socket};

use crate::analysis::free::candidates;
use crate::analysis::who::who;
use crate::error::Error;
use berth_inventory::scope::is_loopback;
use berth_inventory::target::PortTarget;
use berth_inventory::{self as inventory, interfaces, Protocol, Query};

/// Where a server should listen, as the user asked.
#[derive(Clone, Debug)]
pub struct ListenSpec {
    /// The address; None means 127.0.0.1.
    pub bind: Option<IpAddr>,
    /// 0 asks the kernel for any free port.
    pub port: u16,
    /// The user accepts listening beyond loopback.
    pub expose: bool,
}

impl ListenSpec {
    /// The address to bind: the one asked for, or 127.0.0.1.
    pub fn address(&self) -> IpAddr {
        self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Refuses a non-loopback address without `--expose`; with it, warns
    /// on stderr and names every address the server will be reachable at.
    fn check_exposure(&self) -> Result<(), Error> {
        let address = self.address();
        if is_loopback(address) {
            return Ok(());
        }
        if !self.expose {
            return Err(Error::Usage(format!(
                "listening on {address} would make the server reachable from other machines; add --expose if you mean it"
            )));
        }
        let reachable: Vec<String> = if address.is_unspecified() {
            interfaces::list()
                .into_iter()
                .filter(|i| !is_loopback(i.address) && (address.is_ipv6() || i.address.is_ipv4()))
                .map(|i| format!("{} ({})", i.address, crate::printable::printable(&i.name)))
                .collect()
        } else {
            vec![address.to_string()]
        };
        eprintln!(
            "berth: warning: --expose: reachable beyond this machine at {}",
            if reachable.is_empty() { "every address of this machine".to_string() } else { reachable.join(", ") }
        );
        Ok(())
    }
}

/// A listening TCP socket as `spec` says, with SO_REUSEADDR (restarts do
/// not wait out TIME_WAIT) and a deep backlog.
pub fn tcp_listener(spec: &ListenSpec) -> Result<TcpListener, Error> {
    spec.check_exposure()?;
    let socket = new_socket(spec.address(), Protocol::Tcp).map_err(|e| bind_error(spec, Protocol::Tcp, e))?;
    socket.set_reuse_address(true).map_err(|e| bind_error(spec, Protocol::Tcp, e))?;
    socket
        .bind(&SockAddr::from(SocketAddr::new(spec.address(), spec.port)))
        .map_err(|e| bind_error(spec, Protocol::Tcp, e))?;
    socket.listen(4096).map_err(|e| bind_error(spec, Protocol::Tcp, e))?;
    Ok(socket.into())
}

/// A bound UDP socket as `spec` says.
pub fn udp_socket(spec: &ListenSpec) -> Result<UdpSocket, Error> {
    spec.check_exposure()?;
    let socket = new_socket(spec.address(), Protocol::Udp).map_err(|e| bind_error(spec, Protocol::Udp, e))?;
    socket
        .bind(&SockAddr::from(SocketAddr::new(spec.address(), spec.port)))
        .map_err(|e| bind_error(spec, Protocol::Udp, e))?;
    Ok(socket.into())
}

/// `--bind ::` means both families, whatever net.ipv6.bindv6only says;
/// a specific IPv6 address is IPv6 only anyway.
fn new_socket(address: IpAddr, protocol: Protocol) -> io::Result<Socket> {
    crate::actions::bind::new_socket(address, protocol, !address.is_unspecified())
}

/// Turns a bind failure into advice: who holds the port, and a free one.
fn bind_error(spec: &ListenSpec, protocol: Protocol, error: io::Error) -> Error {
    let address = spec.address();
    let port = spec.port;
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
