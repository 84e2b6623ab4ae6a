//! IANA service names, embedded at build time from data/iana-services.tsv
//! (see build.rs), so naming a port needs no /etc/services.

use crate::Protocol;

include!(concat!(env!("OUT_DIR"), "/iana_services.rs"));

/// IANA's name for `port` over `protocol`, if it has one.
pub fn service_name(port: u16, protocol: Protocol) -> Option<&'static str> {
    let proto = match protocol {
        Protocol::Tcp => 0u8,
        Protocol::Udp => 1u8,
    };
    IANA_SERVICES.binary_search_by(|&(p, pr, _)| (p, pr).cmp(&(port, proto))).ok().map(|i| IANA_SERVICES[i].2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_names() {
        assert_eq!(service_name(22, Protocol::Tcp), Some("ssh"));
        assert_eq!(service_name(80, Protocol::Tcp), Some("http"));
        assert_eq!(service_name(53, Protocol::Udp), Some("domain"));
        assert_eq!(service_name(6379, Protocol::Tcp), Some("redis"));
        assert_eq!(service_name(62893, Protocol::Tcp), None);
    }
}
