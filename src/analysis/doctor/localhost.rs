//! How `localhost` resolves: the addresses getaddrinfo gives and in which
//! order (clients try them in that order), the /etc/hosts entries behind
//! them, and whether nsswitch.conf consults /etc/hosts before DNS.

use std::net::IpAddr;

use super::loopback::{find_lo, ipv6_off_for_lo};
use super::{Check, Status};
use berth_inventory::system::{FileFact, SystemFacts};

const HOSTS_FIX: &str = "/etc/hosts should say:  127.0.0.1 localhost  and  ::1 localhost";

/// "::1, then 127.0.0.1".
pub(crate) fn order_words(addresses: &[IpAddr]) -> String {
    addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", then ")
}

/// What clients get for `localhost`. A non-loopback answer sends local
/// traffic elsewhere; ::1 first means clients try IPv6 first, so servers
/// bound to 127.0.0.1 only are refused on the first try.
pub fn resolve(system: &SystemFacts) -> Check {
    const ID: &str = "localhost.resolve";
    let addresses = match &system.localhost {
        Err(e) => {
            return Check::new(ID, Status::Fail, format!("localhost does not resolve: {e}")).fix(HOSTS_FIX);
        }
        Ok(addresses) if addresses.is_empty() => {
            return Check::new(ID, Status::Fail, "localhost resolves to no address").fix(HOSTS_FIX);
        }
        Ok(addresses) => addresses,
    };
    let order = order_words(addresses);
    let foreign: Vec<String> = addresses.iter().filter(|a| !a.is_loopback()).map(IpAddr::to_string).collect();
    if !foreign.is_empty() {
        return Check::new(
            ID,
            Status::Fail,
            format!("localhost resolves to {order}: {} is not a loopback address", foreign.join(", ")),
        )
        .detail("connections to localhost leave this machine or reach a different interface")
        .fix(format!("{HOSTS_FIX}, and nothing else for localhost"));
    }
    let has_v6 = addresses.iter().any(IpAddr::is_ipv6);
    let has_v4 = addresses.iter().any(IpAddr::is_ipv4);
    let lo_has_v6 = find_lo(system)
        .is_some_and(|lo| lo.addresses.iter().any(|(a, _)| *a == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)));
    if has_v6 && !lo_has_v6 {
        let why = if ipv6_off_for_lo(system) { "IPv6 is disabled" } else { "lo has no ::1" };
        return Check::new(ID, Status::Warn, format!("localhost resolves to {order}, but {why}"))
            .detail("clients that try ::1 fail ('cannot assign requested address') or fall back after a delay")
            .fix("remove ::1 from localhost in /etc/hosts, or enable IPv6 on lo");
    }
    if !has_v4 {
        return Check::new(ID, Status::Warn, format!("localhost resolves to {order} only, not 127.0.0.1"))
            .detail("servers listening on 127.0.0.1 only cannot be reached as localhost")
            .fix(HOSTS_FIX);
    }
    let first = if addresses[0].is_ipv6() { "IPv6 first" } else { "IPv4 first" };
    let mut check = Check::new(ID, Status::Ok, format!("localhost resolves to {order} ({first})"));
    if has_v6 {
        check = check.detail(format!(
            "clients try {} first: a server for localhost should listen on both 127.0.0.1 and ::1 (or on a \
             dual-stack [::])",
            addresses[0]
        ));
    }
    check
}

/// The /etc/hosts lines behind localhost: missing ones leave it to DNS or
/// nss-myhostname; a non-loopback one sends localhost elsewhere.
pub fn hosts(system: &SystemFacts) -> Check {
    const ID: &str = "localhost.hosts";
    let entries = match &system.hosts {
        FileFact::Missing => {
            return Check::new(ID, Status::Warn, "/etc/hosts does not exist: localhost is left to DNS").fix(HOSTS_FIX);
        }
        FileFact::Unreadable(e) => return Check::new(ID, Status::Skipped, format!("cannot read /etc/hosts: {e}")),
        FileFact::Read(entries) => entries,
    };
    if entries.is_empty() {
        return Check::new(ID, Status::Warn, "/etc/hosts has no entry for localhost: it is left to DNS")
            .detail("resolution then depends on nsswitch.conf (myhostname, resolve) or on the DNS server")
            .fix(HOSTS_FIX);
    }
    let listed: Vec<String> = entries.iter().map(|e| format!("{} (line {})", e.address, e.line)).collect();
    let bad: Vec<String> = entries
        .iter()
        .filter(|e| e.address.parse::<IpAddr>().map_or(true, |a| !a.is_loopback()))
        .map(|e| format!("line {}: {} {}", e.line, e.address, e.names.join(" ")))
        .collect();
    if !bad.is_empty() {
        return Check::new(
            ID,
            Status::Fail,
            format!("/etc/hosts maps localhost to a non-loopback address: {}", bad[0]),
        )
        .detail(bad.join("; "))
        .fix(format!("remove that line; {HOSTS_FIX}"));
    }
    Check::new(ID, Status::Ok, format!("/etc/hosts maps localhost to {}", listed.join(", ")))
}

/// nsswitch.conf decides whether /etc/hosts is read before DNS. With DNS
/// first, `localhost` depends on the network (and leaks queries).
pub fn nsswitch(system: &SystemFacts) -> Check {
    const ID: &str = "localhost.nsswitch";
    let line = match &system.nsswitch_hosts {
        FileFact::Missing => {
            return Check::new(ID, Status::Info, "/etc/nsswitch.conf does not exist")
                .detail("glibc then uses 'dns [!UNAVAIL=return] files' (DNS first); musl always reads /etc/hosts first")
                .fix("create /etc/nsswitch.conf with:  hosts: files dns");
        }
        FileFact::Unreadable(e) => return Check::new(ID, Status::Skipped, format!("cannot read nsswitch.conf: {e}")),
        FileFact::Read(None) => {
            return Check::new(ID, Status::Info, "/etc/nsswitch.conf has no hosts: line (glibc asks DNS first)")
                .fix("add:  hosts: files dns");
        }
        FileFact::Read(Some(line)) => line,
    };
    let sources: Vec<&str> = line.split_ascii_whitespace().filter(|w| !w.starts_with('[')).collect();
    let local = sources.iter().position(|s| matches!(*s, "files" | "resolve" | "myhostname"));
    let dns = sources.iter().position(|s| *s == "dns");
    match (local, dns) {
        (Some(l), Some(d)) if d < l => Check::new(ID, Status::Warn, format!("hosts: {line} (DNS before /etc/hosts)"))
            .detail("localhost is looked up in DNS first: slow or wrong when DNS is down or answers for it")
            .fix("put files first:  hosts: files dns"),
        (None, _) => Check::new(ID, Status::Warn, format!("hosts: {line} (/etc/hosts is not consulted)"))
            .fix("add files first:  hosts: files dns"),
        _ => Check::new(ID, Status::Ok, format!("hosts: {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::system;
    use super::*;
    use berth_inventory::system::HostsEntry;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolution_orders() {
        let mut s = system();
        s.localhost = Ok(vec![ip("::1"), ip("127.0.0.1")]);
        let c = resolve(&s);
        assert_eq!(c.status, Status::Ok);
        assert!(c.summary.contains("::1, then 127.0.0.1 (IPv6 first)"), "{}", c.summary);
        s.localhost = Ok(vec![ip("203.0.113.5")]);
        assert_eq!(resolve(&s).status, Status::Fail);
        s.localhost = Err("no".into());
        assert_eq!(resolve(&s).status, Status::Fail);
        s.localhost = Ok(vec![ip("::1")]);
        assert_eq!(resolve(&s).status, Status::Warn);
        s.localhost = Ok(vec![ip("::1"), ip("127.0.0.1")]);
        s.interfaces[0].addresses.retain(|(a, _)| a.is_ipv4());
        assert_eq!(resolve(&s).status, Status::Warn);
    }

    #[test]
    fn hosts_and_nsswitch() {
        let mut s = system();
        let entry = |address: &str| HostsEntry { line: 1, address: address.into(), names: vec!["localhost".into()] };
        s.hosts = FileFact::Read(vec![entry("127.0.0.1"), entry("::1")]);
        assert_eq!(hosts(&s).status, Status::Ok);
        s.hosts = FileFact::Read(vec![entry("198.51.100.9")]);
        assert_eq!(hosts(&s).status, Status::Fail);
        s.hosts = FileFact::Read(vec![]);
        assert_eq!(hosts(&s).status, Status::Warn);
        for (line, status) in [
            ("files dns", Status::Ok),
            ("files mdns4_minimal [NOTFOUND=return] dns myhostname", Status::Ok),
            ("mymachines resolve [!UNAVAIL=return] files myhostname dns", Status::Ok),
            ("dns files", Status::Warn),
            ("dns", Status::Warn),
        ] {
            s.nsswitch_hosts = FileFact::Read(Some(line.into()));
            assert_eq!(nsswitch(&s).status, status, "{line}");
        }
        s.nsswitch_hosts = FileFact::Missing;
        assert_eq!(nsswitch(&s).status, Status::Info);
    }
}
