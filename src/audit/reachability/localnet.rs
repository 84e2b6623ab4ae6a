//! The reach.route-localnet finding: route_localnet=1 on an outside
//! interface lets hosts on that link reach services bound to 127.0.0.1
//! (CVE-2020-8558), so it is reported once, naming what it exposes.

use super::{conf, localnet_interfaces, loopback_v4};
use crate::analysis::firewall_walk::{passage, Passage};
use crate::audit::{list_words, Check, CheckInfo, Facts, Finding, Listener, Machine, Severity};

/// `reach.route-localnet`: one finding when route_localnet is on for an
/// outside interface.
pub struct RouteLocalnet;

impl Check for RouteLocalnet {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "reach.route-localnet",
            summary: "route_localnet=1 lets other hosts reach services bound to 127.0.0.1 (CVE-2020-8558)",
            default_severity: Severity::High,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        finding(machine.facts).into_iter().collect()
    }
}

/// The reach.route-localnet finding.
fn finding(facts: &Facts) -> Option<Finding> {
    let interfaces = localnet_interfaces(&facts.system, &facts.interfaces);
    if interfaces.is_empty() {
        return None;
    }
    let exposed: Vec<(usize, &Listener)> =
        facts.listeners.iter().enumerate().filter(|(_, l)| loopback_v4(l).is_some()).collect();
    let ports: Vec<String> = exposed.iter().map(|(_, l)| format!("{}/{}", l.protocol.name(), l.port)).collect();
    // What the input path does to packets for 127.0.0.1 arriving on those interfaces.
    let blocked: Vec<(String, String)> = exposed
        .iter()
        .filter_map(|(_, l)| {
            let address = loopback_v4(l)?;
            match passage(&facts.firewall, &interfaces[0], address, l.protocol, l.port) {
                Passage::Blocked(rule) if facts.firewall.readable() => {
                    Some((format!("{}/{}", l.protocol.name(), l.port), rule))
                }
                _ => None,
            }
        })
        .collect();
    // Every loopback listener stays blocked by the firewall: a latent hole.
    let severity =
        if !exposed.is_empty() && blocked.len() == exposed.len() { Severity::Medium } else { Severity::High };
    let title = format!(
        "route_localnet=1 on {} lets hosts on that link reach services bound to 127.0.0.1 (CVE-2020-8558)",
        list_words(&interfaces)
    );
    let mut finding = Finding::new("reach.route-localnet", severity, title);
    for name in std::iter::once("all".to_string()).chain(interfaces.iter().cloned()) {
        if let Some(c) = conf(&facts.system, &name) {
            let show = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
            finding = finding.evidence(format!(
                "net.ipv4.conf.{name}: route_localnet={}, rp_filter={}, accept_local={}",
                show(c.route_localnet),
                show(c.rp_filter),
                show(c.accept_local)
            ));
        }
    }
    finding = finding.evidence(if ports.is_empty() {
        "no loopback-only IPv4 listener right now".to_string()
    } else {
        format!("loopback-only listeners that become reachable: {}", ports.join(", "))
    });
    for (port, rule) in &blocked {
        finding = finding.evidence(format!("{port} stays blocked for other hosts by: {rule}"));
    }
    if interfaces.len() == 1 {
        finding.addresses = Vec::new();
    }
    // One loopback listener: name it, so the finding has a socket and process.
    if let [(_, listener)] = exposed.as_slice() {
        let evidence = std::mem::take(&mut finding.evidence);
        finding = finding.on(listener);
        finding.evidence = evidence;
    }
    let fix_names: Vec<String> = std::iter::once("all".to_string())
        .chain(interfaces.iter().cloned())
        .map(|n| format!("net.ipv4.conf.{n}.route_localnet=0"))
        .collect();
    Some(finding.fix(format!(
        "sysctl -w {} (kube-proxy: set --iptables-localhost-nodeports=false; otherwise drop ! -i lo -d 127.0.0.0/8)",
        fix_names.join(" ")
    )))
}
