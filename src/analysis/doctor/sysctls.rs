//! Per-interface IPv4 sysctls that change who can reach loopback services
//! (route_localnet, accept_local, rp_filter), and which ports need
//! privilege (ip_unprivileged_port_start).

use super::{Check, Status};
use berth_inventory::system::{InterfaceConf, SystemFacts};

/// The value the kernel applies on one interface for an "OR" setting
/// (route_localnet, accept_local): on if `all` or the interface has it.
fn or_conf(system: &SystemFacts, pick: fn(&InterfaceConf) -> Option<u32>) -> Vec<(String, bool)> {
    let all = system.ipv4_conf.iter().find(|c| c.name == "all").and_then(pick).unwrap_or(0) != 0;
    system
        .ipv4_conf
        .iter()
        .filter(|c| c.name != "all" && c.name != "default")
        .map(|c| (c.name.clone(), all || pick(c).unwrap_or(0) != 0))
        .collect()
}

/// Entries (all, default, interfaces) where the setting is 1 as written.
fn set_on(system: &SystemFacts, pick: fn(&InterfaceConf) -> Option<u32>) -> Vec<&str> {
    system.ipv4_conf.iter().filter(|c| pick(c).unwrap_or(0) != 0).map(|c| c.name.as_str()).collect()
}

/// route_localnet=1 makes the kernel route packets for 127.0.0.0/8 that
/// arrive from the network instead of dropping them as martians, so a
/// neighbour can reach services bound to 127.0.0.1 (CVE-2020-8558, set by
/// kube-proxy before 1.18.4).
pub fn route_localnet(system: &SystemFacts) -> Check {
    const ID: &str = "sysctl.route_localnet";
    if system.ipv4_conf.is_empty() {
        return Check::new(ID, Status::Skipped, "cannot read /proc/sys/net/ipv4/conf");
    }
    let on = set_on(system, |c| c.route_localnet);
    if on.is_empty() {
        return Check::new(ID, Status::Ok, "route_localnet=0 on every interface");
    }
    // `all` or a real interface is exposed now; `default` (future
    // interfaces) or lo alone is a loaded gun, not yet a hole.
    let exposed = on.iter().any(|name| *name != "default" && *name != "lo");
    let status = if exposed { Status::Fail } else { Status::Warn };
    let fixes: Vec<String> = on.iter().map(|name| format!("net.ipv4.conf.{name}.route_localnet=0")).collect();
    Check::new(
        ID,
        status,
        format!(
            "route_localnet=1 on {}: other hosts can reach services bound to 127.0.0.1 (CVE-2020-8558)",
            on.join(", ")
        ),
    )
    .detail(
        "packets for 127.0.0.0/8 arriving from the network are routed to local sockets instead of being dropped, \
         so a neighbour on the same link can talk to loopback-only services (databases, admin APIs)",
    )
    .fix(format!(
        "sysctl -w {} (persist in /etc/sysctl.d); if kube-proxy sets it, upgrade it, or drop such packets: \
         iptables -t raw -I PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP",
        fixes.join(" ")
    ))
}

/// Reverse-path filtering. Loopback traffic is not subject to it; it
/// matters for replies that come back on another interface, and for
/// setups that NAT to 127.0.0.1 (with route_localnet).
pub fn rp_filter(system: &SystemFacts) -> Check {
    const ID: &str = "sysctl.rp_filter";
    if system.ipv4_conf.is_empty() {
        return Check::new(ID, Status::Skipped, "cannot read /proc/sys/net/ipv4/conf");
    }
    // The kernel applies the larger of `all` and the interface's value.
    let all = system.ipv4_conf.iter().find(|c| c.name == "all").and_then(|c| c.rp_filter).unwrap_or(0);
    let mut modes: [(&str, Vec<&str>); 3] = [("off", vec![]), ("strict", vec![]), ("loose", vec![])];
    for conf in system.ipv4_conf.iter().filter(|c| c.name != "all" && c.name != "default") {
        let effective = all.max(conf.rp_filter.unwrap_or(0)).min(2) as usize;
        modes[effective].1.push(&conf.name);
    }
    let words: Vec<String> = modes
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(m, names)| format!("{m} on {}", names.join(", ")))
        .collect();
    let summary = format!("rp_filter (all={all}): {}", words.join("; "));
    let strict_beyond_lo = modes[1].1.iter().any(|name| *name != "lo");
    if !strict_beyond_lo {
        return Check::new(ID, Status::Ok, summary);
    }
    Check::new(ID, Status::Info, summary).detail(
        "strict mode drops packets arriving on an interface other than the one the route back uses; loopback \
         traffic is not affected, multi-homed hosts and NAT to 127.0.0.1 can be (use 2, loose, there)",
    )
}

/// accept_local=1 accepts packets from the network whose source is one of
/// this machine's addresses; with route_localnet it lets spoofed
/// 127.0.0.1 traffic in.
pub fn accept_local(system: &SystemFacts) -> Check {
    const ID: &str = "sysctl.accept_local";
    if system.ipv4_conf.is_empty() {
        return Check::new(ID, Status::Skipped, "cannot read /proc/sys/net/ipv4/conf");
    }
    let accept = or_conf(system, |c| c.accept_local);
    let localnet = or_conf(system, |c| c.route_localnet);
    let on: Vec<&str> = accept.iter().filter(|(name, on)| *on && name != "lo").map(|(n, _)| n.as_str()).collect();
    if on.is_empty() {
        return Check::new(ID, Status::Ok, "accept_local=0 on every interface but lo");
    }
    let both: Vec<&str> = on.iter().copied().filter(|name| localnet.iter().any(|(n, set)| n == name && *set)).collect();
    if !both.is_empty() {
        return Check::new(
            ID,
            Status::Warn,
            format!(
                "accept_local=1 and route_localnet=1 on {}: spoofed 127.0.0.1 traffic is accepted",
                both.join(", ")
            ),
        )
        .fix(format!("sysctl -w net.ipv4.conf.all.accept_local=0 net.ipv4.conf.{}.accept_local=0", both[0]));
    }
    Check::new(ID, Status::Info, format!("accept_local=1 on {}", on.join(", "))).detail(
        "packets from the network with one of this machine's addresses as source are accepted (used for veth \
         and hairpin setups)",
    )
}

/// Ports below net.ipv4.ip_unprivileged_port_start need root or
/// CAP_NET_BIND_SERVICE to bind.
pub fn unprivileged_port_start(system: &SystemFacts) -> Check {
    const ID: &str = "sysctl.unprivileged_port_start";
    match system.unprivileged_port_start {
        None => Check::new(ID, Status::Skipped, "cannot read net.ipv4.ip_unprivileged_port_start"),
        Some(1024) => Check::new(ID, Status::Ok, "ports below 1024 need root or CAP_NET_BIND_SERVICE (the default)"),
        Some(0) => Check::new(
            ID,
            Status::Info,
            "ip_unprivileged_port_start=0: any user may bind any port, 22 and 443 included",
        ),
        Some(start) => Check::new(
            ID,
            Status::Info,
            format!("ports below {start} need root or CAP_NET_BIND_SERVICE (default 1024)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::system;
    use super::*;

    fn conf(name: &str, route_localnet: u32, rp_filter: u32, accept_local: u32) -> InterfaceConf {
        InterfaceConf {
            name: name.into(),
            route_localnet: Some(route_localnet),
            rp_filter: Some(rp_filter),
            accept_local: Some(accept_local),
        }
    }

    #[test]
    fn route_localnet_levels() {
        let mut s = system();
        assert_eq!(route_localnet(&s).status, Status::Ok);
        s.ipv4_conf[1] = conf("default", 1, 0, 0);
        assert_eq!(route_localnet(&s).status, Status::Warn);
        s.ipv4_conf[0] = conf("all", 1, 0, 0);
        let c = route_localnet(&s);
        assert_eq!(c.status, Status::Fail);
        assert!(c.summary.contains("CVE-2020-8558") && c.summary.contains("all, default"), "{}", c.summary);
    }

    #[test]
    fn rp_filter_and_accept_local() {
        let mut s = system();
        assert_eq!(rp_filter(&s).status, Status::Ok);
        s.ipv4_conf[3] = conf("eth0", 0, 1, 0);
        let c = rp_filter(&s);
        assert_eq!(c.status, Status::Info);
        assert!(c.summary.contains("strict on eth0"), "{}", c.summary);
        assert_eq!(accept_local(&s).status, Status::Ok);
        s.ipv4_conf[3] = conf("eth0", 0, 0, 1);
        assert_eq!(accept_local(&s).status, Status::Info);
        s.ipv4_conf[0] = conf("all", 1, 0, 0);
        assert_eq!(accept_local(&s).status, Status::Warn);
    }
}
