//! Facts about a port number, derived once here: IANA class, whether the
//! kernel may hand it out as an ephemeral port, whether it is reserved, and
//! its service name.

use serde::Serialize;

use super::services::service_name;
use crate::{PortRanges, Protocol};

/// IANA's three port ranges (RFC 6335).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortClass {
    /// 0-1023: system ports; binding them needs privilege (see ip_unprivileged_port_start).
    WellKnown,
    /// 1024-49151: user ports.
    Registered,
    /// 49152-65535: dynamic or private ports.
    Dynamic,
}

impl PortClass {
    /// The range `port` is in.
    pub fn of(port: u16) -> Self {
        match port {
            0..=1023 => PortClass::WellKnown,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }
}

/// What is known about one port number on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortFacts {
    /// IANA's range the port is in.
    pub port_class: PortClass,
    /// Inside net.ipv4.ip_local_port_range: the kernel may pick it for outgoing connections.
    pub ephemeral: bool,
    /// Listed in net.ipv4.ip_local_reserved_ports.
    pub reserved: bool,
    /// IANA's service name for the port over the protocol asked about.
    pub service: Option<&'static str>,
}

impl PortFacts {
    /// The facts of `port` over `protocol`, against the kernel's settings in `ranges`.
    pub fn of(port: u16, protocol: Protocol, ranges: &PortRanges) -> Self {
        let (low, high) = ranges.ephemeral;
        PortFacts {
            port_class: PortClass::of(port),
            ephemeral: (low..=high).contains(&port),
            reserved: ranges.reserved.iter().any(|&(a, b)| (a..=b).contains(&port)),
            service: service_name(port, protocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_ranges() {
        let ranges =
            PortRanges { ephemeral: (32768, 60999), reserved: vec![(40000, 40010)], bindv6only: false, unread: None };
        let f = PortFacts::of(22, Protocol::Tcp, &ranges);
        assert_eq!(
            (f.port_class, f.ephemeral, f.reserved, f.service),
            (PortClass::WellKnown, false, false, Some("ssh"))
        );
        let f = PortFacts::of(40005, Protocol::Tcp, &ranges);
        assert_eq!((f.port_class, f.ephemeral, f.reserved), (PortClass::Registered, true, true));
        let f = PortFacts::of(62893, Protocol::Tcp, &ranges);
        assert_eq!((f.port_class, f.ephemeral, f.service), (PortClass::Dynamic, false, None));
        assert_eq!(PortClass::of(1023), PortClass::WellKnown);
        assert_eq!(PortClass::of(1024), PortClass::Registered);
        assert_eq!(PortClass::of(49151), PortClass::Registered);
        assert_eq!(PortClass::of(49152), PortClass::Dynamic);
    }
}
