//! Which sockets `berth ls` shows. Each criterion is one field; a socket is
//! shown when it passes all of them.

use berth_inventory::scope::{covers_ipv4, covers_ipv6, is_loopback};
use std::net::IpAddr;

use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

#[derive(Clone, Debug, Default)]
pub struct LsFilter {
    /// Every state; otherwise only listening TCP and bound, unconnected UDP.
    pub all_states: bool,
    /// Protocols to show; both when neither is set.
    pub tcp: bool,
    pub udp: bool,
    /// Families to show, by the traffic a socket takes: a dual-stack `::`
    /// listener counts as IPv4 and IPv6. Both when neither is set.
    pub ipv4: bool,
    pub ipv6: bool,
    /// Local or remote port.
    pub port: Option<u16>,
    pub pid: Option<u32>,
    /// Substring of the process name or of its program's file name, any case.
    pub process: Option<String>,
    /// Only sockets not bound to loopback.
    pub exposed: bool,
}

impl LsFilter {
    pub fn wants_protocol(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Tcp => self.tcp || !self.udp,
            Protocol::Udp => self.udp || !self.tcp,
        }
    }

    pub fn matches(&self, socket: &Socket, snapshot: &Snapshot) -> bool {
        if !self.wants_protocol(socket.protocol) {
            return false;
        }
        if !self.all_states && !socket.state.is_listening() {
            return false;
        }
        if self.ipv4 != self.ipv6 {
            let family_ok = if self.ipv4 { covers_ipv4(socket) } else { covers_ipv6(socket) };
            if !family_ok {
                return false;
            }
        }
        if let Some(port) = self.port {
            if socket.local.port() != port && socket.remote.is_none_or(|r| r.port() != port) {
                return false;
            }
        }
        if let Some(pid) = self.pid {
            if !socket.owners.iter().any(|o| o.pid == pid) {
                return false;
            }
        }
        if let Some(wanted) = &self.process {
            let wanted = wanted.to_lowercase();
            let named = socket.owners.iter().any(|owner| {
                snapshot
                    .processes
                    .get(&owner.pid)
                    .is_some_and(|p| process_named(&wanted, Some(&p.name), p.cmdline.first().map(String::as_str)))
            });
            if !named {
                return false;
            }
        }
        if self.exposed && is_loopback(socket.local.ip()) {
            return false;
        }
        true
    }
}

/// `--process NAME` (given in lower case): the process's short name or its
/// program's file name (argv[0] without its directory) contains it, in any
/// case. The one test `ls`, `watch` and `history` apply.
pub fn process_named(wanted_lowercase: &str, name: Option<&str>, argv0: Option<&str>) -> bool {
    name.is_some_and(|n| n.to_lowercase().contains(wanted_lowercase))
        || argv0
            .is_some_and(|argv0| argv0.rsplit('/').next().unwrap_or(argv0).to_lowercase().contains(wanted_lowercase))
}

/// The order listings use: by namespace, protocol and port, the listening
/// sockets of a port first, then family, address, peer and state.
///
/// With `port` (`ls --port P`), every row shown concerns P: the rows whose
/// local port is P (its listeners first, then its connections, in the order
/// a listing without `--port` gives them) come before the client ends that
/// connect to P from their own ports, so the LISTEN row leads.
pub fn sort_for_listing(sockets: &mut [&Socket], port: Option<u16>) {
    // Integer keys: comparing IpAddr and Option<SocketAddr> enums directly
    // made sorting 100,000 sockets a visible part of `ls -a`.
    fn ip_key(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => u128::from(v4.to_bits()),
            IpAddr::V6(v6) => v6.to_bits(),
        }
    }
    type Key = (u64, u8, u16, bool, bool, u16, u8, u128, u128, u16, u8);
    let key = |s: &Socket| -> Key {
        let (remote_ip, remote_port) = s.remote.map(|r| (ip_key(r.ip()), r.port())).unwrap_or((0, 0));
        let state = match s.state {
            SocketState::Listen => 0,
            SocketState::Unconnected => 1,
            SocketState::Established => 2,
            SocketState::TimeWait => 4,
            _ => 3,
        };
        let local_port = s.local.port();
        // The port the row is listed under, and whether it is a client end of it.
        let (group, client) = match port {
            Some(port) if local_port != port => (port, true),
            _ => (local_port, false),
        };
        (
            s.netns,
            s.protocol as u8,
            group,
            client,
            !s.state.is_listening(),
            local_port,
            s.family as u8,
            ip_key(s.local.ip()),
            remote_ip,
            remote_port,
            state,
        )
    };
    sockets.sort_unstable_by_key(|s| key(s));
}
