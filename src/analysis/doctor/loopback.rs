//! The loopback interface itself: is `lo` up, does it carry 127.0.0.1/8 and
//! ::1, is IPv6 on. Every local connection depends on these.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Check, Status};
use berth_inventory::system::{InterfaceState, SystemFacts};

/// The loopback interface: `lo` by name, else whichever has IFF_LOOPBACK.
pub(crate) fn find_lo(system: &SystemFacts) -> Option<&InterfaceState> {
    system.interfaces.iter().find(|i| i.name == "lo").or_else(|| system.interfaces.iter().find(|i| i.loopback))
}

/// `lo` down means every connection to 127.0.0.1 and ::1 fails, which
/// happens in fresh network namespaces and broken container setups.
pub fn up(system: &SystemFacts) -> Check {
    const ID: &str = "loopback.up";
    match find_lo(system) {
        None => Check::new(ID, Status::Fail, "there is no loopback interface: nothing can connect to 127.0.0.1 or ::1")
            .fix("create it: ip link add lo type loopback (a network namespace has one: ip link set lo up)"),
        Some(lo) if !lo.up => Check::new(
            ID,
            Status::Fail,
            format!("{} is down: connections to 127.0.0.1 and ::1 fail (network unreachable)", lo.name),
        )
        .fix(format!("ip link set {} up   (as root)", lo.name)),
        Some(lo) => Check::new(ID, Status::Ok, format!("{} is up", lo.name)),
    }
}

/// 127.0.0.1 must be on lo, and with /8 so that the rest of 127.0.0.0/8
/// (127.0.0.2, 127.0.1.1 as Debian writes the host name) works too.
pub fn ipv4(system: &SystemFacts) -> Check {
    const ID: &str = "loopback.ipv4";
    let Some(lo) = find_lo(system) else {
        return Check::new(ID, Status::Skipped, "no loopback interface (see loopback.up)");
    };
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    match lo.addresses.iter().find(|(address, _)| *address == localhost) {
        Some((_, 8)) => Check::new(ID, Status::Ok, format!("{} has 127.0.0.1/8", lo.name)),
        Some((_, prefix)) => Check::new(
            ID,
            Status::Warn,
            format!("{} has 127.0.0.1/{prefix}, not /8: other 127.x.y.z addresses do not work", lo.name),
        )
        .detail("programs that bind or connect to 127.0.0.2 or 127.0.1.1 (Debian's hostname entry) fail")
        .fix(format!("ip addr del 127.0.0.1/{prefix} dev {0} && ip addr add 127.0.0.1/8 dev {0}   (as root)", lo.name)),
        None => Check::new(ID, Status::Fail, format!("{} has no 127.0.0.1: IPv4 loopback does not work", lo.name))
            .fix(format!("ip addr add 127.0.0.1/8 dev {}   (as root)", lo.name)),
    }
}

/// ::1 on lo. Missing with IPv6 on is a broken setup; missing because IPv6
/// is off is a choice, reported by ipv6.enabled and localhost.resolve.
pub fn ipv6(system: &SystemFacts) -> Check {
    const ID: &str = "loopback.ipv6";
    let Some(lo) = find_lo(system) else {
        return Check::new(ID, Status::Skipped, "no loopback interface (see loopback.up)");
    };
    let has = lo.addresses.iter().any(|(address, _)| *address == IpAddr::V6(Ipv6Addr::LOCALHOST));
    if has {
        return Check::new(ID, Status::Ok, format!("{} has ::1", lo.name));
    }
    if ipv6_off_for_lo(system) {
        return Check::new(
            ID,
            Status::Info,
            format!("{} has no ::1 because IPv6 is disabled (see ipv6.enabled)", lo.name),
        );
    }
    Check::new(ID, Status::Fail, format!("{} has no ::1 although IPv6 is enabled", lo.name))
        .detail("clients that try ::1 for localhost get 'cannot assign requested address' or fall back slowly")
        .fix(format!("ip -6 addr add ::1/128 dev {}   (as root)", lo.name))
}

/// True when IPv6 is off for lo: no IPv6 in the kernel, or disable_ipv6 on
/// `all` or `lo`.
pub(crate) fn ipv6_off_for_lo(system: &SystemFacts) -> bool {
    let v6 = &system.ipv6;
    !v6.available || v6.disabled_all == Some(true) || v6.disabled_lo == Some(true)
}

/// IPv6 disabled is legitimate but explains ::1 being unreachable, and
/// clashes with a `localhost` that resolves to ::1.
pub fn ipv6_enabled(system: &SystemFacts) -> Check {
    const ID: &str = "ipv6.enabled";
    let v6 = &system.ipv6;
    if !v6.available {
        return Check::new(ID, Status::Info, "the kernel has no IPv6 (no /proc/sys/net/ipv6): only 127.0.0.1 works");
    }
    let disabled: Vec<&str> = [("all", v6.disabled_all), ("default", v6.disabled_default), ("lo", v6.disabled_lo)]
        .into_iter()
        .filter(|(_, off)| *off == Some(true))
        .map(|(name, _)| name)
        .collect();
    if disabled.is_empty() {
        return Check::new(ID, Status::Ok, "IPv6 is enabled (disable_ipv6=0 on all, default and lo)");
    }
    Check::new(ID, Status::Info, format!("IPv6 is disabled (disable_ipv6=1 on {})", disabled.join(", ")))
        .detail("::1 is unavailable; clients must reach local services on 127.0.0.1")
        .fix("if that is not intended: sysctl -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0")
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::system;
    use super::*;

    #[test]
    fn loopback_states() {
        let mut s = system();
        assert_eq!(up(&s).status, Status::Ok);
        assert_eq!(ipv4(&s).status, Status::Ok);
        assert_eq!(ipv6(&s).status, Status::Ok);
        s.interfaces[0].up = false;
        s.interfaces[0].addresses = vec![("127.0.0.1".parse().unwrap(), 32)];
        assert_eq!(up(&s).status, Status::Fail);
        assert_eq!(ipv4(&s).status, Status::Warn);
        assert_eq!(ipv6(&s).status, Status::Fail);
        s.ipv6.disabled_lo = Some(true);
        assert_eq!(ipv6(&s).status, Status::Info);
        assert_eq!(ipv6_enabled(&s).status, Status::Info);
        s.interfaces.clear();
        assert_eq!(up(&s).status, Status::Fail);
        assert_eq!(ipv4(&s).status, Status::Skipped);
    }
}
