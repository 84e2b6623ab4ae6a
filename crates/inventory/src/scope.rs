//! Bind scope: who can reach a socket, judged from its local address. This is
//! the one place that decides it.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::{Family, Interface, Socket};

/// How far a socket's local address reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "lowercase")]
pub enum BindScope {
    /// 127.0.0.0/8, ::1 or ::ffff:127.x.y.z: this machine only.
    Loopback,
    /// 0.0.0.0 or ::: every interface.
    All,
    /// One address, and the interface that has it when known.
    Address {
        /// The interface that has the address, among those [`scope_of`] was
        /// given; None when none has it (the address was removed after the
        /// bind, or was bound with IP_FREEBIND or net.ipv4.ip_nonlocal_bind).
        interface: Option<String>,
    },
}

impl BindScope {
    /// True for [`BindScope::Loopback`].
    pub fn is_loopback(&self) -> bool {
        matches!(self, BindScope::Loopback)
    }

    /// The kind as one word: `loopback`, `all` or `address`, as the JSON's
    /// `scope`, watch's events and the `scope` label of `berth metrics` have it.
    pub fn kind(&self) -> &'static str {
        match self {
            BindScope::Loopback => "loopback",
            BindScope::All => "all",
            BindScope::Address { .. } => "address",
        }
    }

    /// Short word for tables.
    pub fn label(&self) -> String {
        match self {
            BindScope::Loopback => "loopback".into(),
            BindScope::All => "all".into(),
            BindScope::Address { interface: Some(name) } => name.clone(),
            BindScope::Address { interface: None } => "address".into(),
        }
    }
}

/// The IPv4 address an IPv4-mapped IPv6 address carries, or the address itself.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// True for a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
pub fn is_loopback(ip: IpAddr) -> bool {
    unmapped(ip).is_loopback()
}

/// Bind scope of a local address, naming the interface from `interfaces`.
pub fn scope_of(ip: IpAddr, interfaces: &[Interface]) -> BindScope {
    let plain = unmapped(ip);
    if plain.is_loopback() {
        BindScope::Loopback
    } else if plain.is_unspecified() || plain == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        BindScope::All
    } else {
        let interface = interfaces.iter().find(|i| unmapped(i.address) == plain).map(|i| i.name.clone());
        BindScope::Address { interface }
    }
}

/// True when an IPv6 socket also takes IPv4 traffic: bound to `::` with
/// IPV6_V6ONLY off, or to an IPv4-mapped address.
pub fn covers_ipv4(socket: &Socket) -> bool {
    match (socket.family, socket.local.ip()) {
        (Family::V4, _) => true,
        (Family::V6, IpAddr::V6(v6)) => {
            v6.to_ipv4_mapped().is_some() || (v6.is_unspecified() && socket.v6only == Some(false))
        }
        (Family::V6, IpAddr::V4(_)) => true,
    }
}

/// True when the socket takes IPv6 traffic.
pub fn covers_ipv6(socket: &Socket) -> bool {
    match (socket.family, socket.local.ip()) {
        (Family::V4, _) => false,
        (Family::V6, IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_none(),
        (Family::V6, IpAddr::V4(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth0() -> Vec<Interface> {
        vec![Interface { name: "eth0".into(), address: "192.0.2.7".parse().unwrap() }]
    }

    #[test]
    fn scopes() {
        assert_eq!(scope_of("127.0.0.1".parse().unwrap(), &[]), BindScope::Loopback);
        assert_eq!(scope_of("127.8.9.10".parse().unwrap(), &[]), BindScope::Loopback);
        assert_eq!(scope_of("::1".parse().unwrap(), &[]), BindScope::Loopback);
        assert_eq!(scope_of("::ffff:127.0.0.1".parse().unwrap(), &[]), BindScope::Loopback);
        assert_eq!(scope_of("0.0.0.0".parse().unwrap(), &[]), BindScope::All);
        assert_eq!(scope_of("::".parse().unwrap(), &[]), BindScope::All);
        assert_eq!(
            scope_of("192.0.2.7".parse().unwrap(), &eth0()),
            BindScope::Address { interface: Some("eth0".into()) }
        );
        assert_eq!(
            scope_of("::ffff:192.0.2.7".parse().unwrap(), &eth0()),
            BindScope::Address { interface: Some("eth0".into()) }
        );
        assert_eq!(scope_of("198.51.100.1".parse().unwrap(), &eth0()), BindScope::Address { interface: None });
    }
}
