//! DNAT and redirect rules: which of other hosts' traffic they catch, which
//! listener on this host they send it to (even one on 127.0.0.1, when
//! route_localnet lets them), and the reach.dnat findings. A rule like this
//! makes a port reachable that its bind address and INPUT rules say is not.

use std::net::IpAddr;

use super::{conf, localnet_interfaces, outside_interfaces, reachable_at, sensitive, service_name, unreadable};
use crate::analysis::firewall_walk::{passage, Passage};
use crate::audit::{Check, CheckInfo, Facts, Finding, Listener, Machine, Severity, Skipped};
use berth_inventory::firewall::{Firewall, Nat, Rule, Verdict};
use berth_inventory::scope::{self, BindScope};
use berth_inventory::system::SystemFacts;
use berth_inventory::{Interface, Protocol};

/// `reach.dnat`: one finding per listener a DNAT or redirect rule reaches,
/// or per rule that reaches none or leaves this host.
pub struct Dnat;

impl Check for Dnat {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "reach.dnat",
            summary: "a DNAT or redirect rule forwards traffic from other hosts to a local port",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        findings(machine.facts)
    }

    /// Unreadable firewall rules: reported here for all of reachability,
    /// since without them neither DNAT rules nor what the input path does
    /// to exposed ports (every exposure finding's reach) could be judged.
    fn skipped(&self, machine: &Machine) -> Option<Skipped> {
        let (reason, remedy) = unreadable(&machine.facts.firewall)?;
        Some(Skipped {
            check: "reach.firewall".into(),
            reason: format!(
                "{reason}: whether the firewall lets exposed ports in, and DNAT rules (reach.dnat), not checked"
            ),
            remedy,
        })
    }
}

/// What one DNAT or redirect rule does to traffic from other hosts.
#[derive(Clone, Debug)]
pub(super) struct Forwarding {
    pub(super) rule: Rule,
    nat: Nat,
    /// Incoming interfaces it applies to (outside ones only).
    pub(super) interfaces: Vec<String>,
    protocols: Vec<Protocol>,
    /// The ports it catches, as written; None: every port.
    from_ports: Option<Vec<(u16, u16)>>,
    /// Where it sends traffic on this host: Some(address) for DNAT to a
    /// local or loopback address, None for a redirect (the interface's own
    /// address). Not local at all: `local` is false.
    local: bool,
    /// The DNAT goes to 127.0.0.0/8: only route_localnet makes it work.
    to_loopback: bool,
    /// Interfaces (of `interfaces`) on which route_localnet is on.
    localnet_on: Vec<String>,
    /// Listeners it reaches: (index, target address, target port, passage).
    pub(super) targets: Vec<(usize, IpAddr, u16, Passage)>,
}

impl Forwarding {
    /// `tcp/8080`, `tcp,udp/{ 80, 443 }`, `tcp/every port`.
    pub(super) fn caught(&self) -> String {
        let protocols: Vec<&str> = self.protocols.iter().map(|p| p.name()).collect();
        let ports = match &self.from_ports {
            Some(ports) => berth_inventory::firewall::join_ports(ports),
            None => "every port".into(),
        };
        format!("{}/{ports}", protocols.join(","))
    }

    /// The rule works: not a DNAT to loopback without route_localnet.
    fn effective(&self) -> bool {
        !self.to_loopback || !self.localnet_on.is_empty()
    }
}

/// The first port a rule catches, when it catches exactly one range.
fn single_range(ports: &Option<Vec<(u16, u16)>>) -> Option<(u16, u16)> {
    match ports.as_deref() {
        Some([one]) => Some(*one),
        _ => None,
    }
}

/// Does `listener` take traffic sent to `address` (None: the incoming
/// interface's own address, for a redirect)?
fn takes(listener: &Listener, address: Option<IpAddr>, interfaces: &[Interface], on: &[String]) -> Option<IpAddr> {
    match address {
        Some(address) => {
            let address = scope::unmapped(address);
            let family_ok = if address.is_ipv4() { listener.takes_ipv4 } else { listener.takes_ipv6 };
            let bound = listener.addresses.iter().any(|a| scope::unmapped(*a) == address);
            (bound || (listener.scope == BindScope::All && family_ok)).then_some(address)
        }
        None => reachable_at(listener, interfaces).into_iter().find(|(name, _)| on.contains(name)).map(|(_, a)| a),
    }
}

/// Every DNAT / redirect rule that other hosts' traffic goes through.
pub(super) fn forwardings(
    listeners: &[Listener],
    firewall: &Firewall,
    system: &SystemFacts,
    interfaces: &[Interface],
) -> Vec<Forwarding> {
    let outside = outside_interfaces(system, interfaces);
    let localnet = localnet_interfaces(system, interfaces);
    let mut found = Vec::new();
    for rule in &firewall.rules {
        let Verdict::Nat(nat) = &rule.verdict else { continue };
        // Prerouting, or a chain jumped to (Docker's DOCKER chain); not output.
        if !matches!(rule.hook.as_deref(), Some("prerouting") | None) {
            continue;
        }
        let on: Vec<String> = outside
            .iter()
            .filter(|name| {
                rule.in_interface.as_ref().is_none_or(|c| crate::analysis::firewall_walk::interface_matches(c, name))
            })
            .cloned()
            .collect();
        if on.is_empty() {
            continue;
        }
        let protocols: Vec<Protocol> = [Protocol::Tcp, Protocol::Udp]
            .into_iter()
            .filter(|p| rule.protocol.as_ref().is_none_or(|c| c.values.iter().any(|v| v == p.name()) != c.negated))
            .collect();
        let from_ports = rule.dport.as_ref().filter(|c| !c.negated).map(|c| c.values.clone());
        let address = nat.address.map(scope::unmapped);
        let to_loopback = address.is_some_and(|a| a.is_loopback());
        let local = match address {
            None => nat.redirect,
            Some(a) => a.is_loopback() || interfaces.iter().any(|i| scope::unmapped(i.address) == a),
        };
        let localnet_on: Vec<String> = on.iter().filter(|n| localnet.contains(n)).cloned().collect();
        let mut forwarding = Forwarding {
            rule: rule.clone(),
            nat: nat.clone(),
            interfaces: on,
            protocols,
            from_ports,
            local,
            to_loopback,
            localnet_on,
            targets: Vec::new(),
        };
        if local {
            let to_ports = nat.ports.or_else(|| single_range(&forwarding.from_ports));
            for (index, listener) in listeners.iter().enumerate() {
                let in_range = to_ports.is_some_and(|(a, b)| (a..=b).contains(&listener.port));
                if !in_range || !forwarding.protocols.contains(&listener.protocol) {
                    continue;
                }
                let Some(target) = takes(listener, address, interfaces, &forwarding.interfaces) else { continue };
                // The translated packet still goes through the input path.
                let via = forwarding.localnet_on.first().unwrap_or(&forwarding.interfaces[0]).clone();
                let passes = if !forwarding.effective() {
                    Passage::Blocked(format!("route_localnet=0 on {}", forwarding.interfaces.join(", ")))
                } else if firewall.readable() {
                    passage(firewall, &via, target, listener.protocol, listener.port)
                } else {
                    Passage::Maybe("the firewall rules could not be read".into())
                };
                forwarding.targets.push((index, target, listener.port, passes));
            }
        }
        found.push(forwarding);
    }
    found
}

/// The reach.dnat findings.
fn findings(facts: &Facts) -> Vec<Finding> {
    let mut found = Vec::new();
    for f in forwardings(&facts.listeners, &facts.firewall, &facts.system, &facts.interfaces) {
        let from = f.caught();
        let target = f.nat.target();
        let verb = if f.nat.redirect { "redirects" } else { "forwards" };
        let rule_evidence = format!("rule: {}", f.rule.text);
        let on = format!("incoming on {}", f.interfaces.join(", "));
        let localnet_evidence = |f: &Forwarding| -> String {
            let all = conf(&facts.system, "all").and_then(|c| c.route_localnet).unwrap_or(0);
            let per: Vec<String> = f
                .interfaces
                .iter()
                .map(|n| format!("{n}={}", conf(&facts.system, n).and_then(|c| c.route_localnet).unwrap_or(0)))
                .collect();
            format!("net.ipv4.conf.all.route_localnet={all}, per interface: {}", per.join(", "))
        };
        if !f.local {
            let mut finding = Finding::new(
                "reach.dnat",
                Severity::Medium,
                format!("a DNAT rule forwards {from} from other hosts to {target}"),
            )
            .evidence(rule_evidence)
            .evidence(on)
            .evidence("forwarded packets take the FORWARD path, so INPUT rules (ufw) do not block them")
            .fix(format!("remove the rule if {from} should not be published: {}", delete_hint(&f.rule)));
            finding.protocol = f.protocols.first().copied();
            finding.port = single_range(&f.from_ports).map(|(a, _)| a);
            found.push(finding);
            continue;
        }
        if f.targets.is_empty() {
            let mut finding = Finding::new(
                "reach.dnat",
                if f.effective() { Severity::Low } else { Severity::Info },
                format!("a DNAT rule {verb} {from} from other hosts to {target}, where nothing listens now"),
            )
            .evidence(rule_evidence)
            .evidence(on);
            if f.to_loopback {
                finding = finding.evidence(localnet_evidence(&f));
            }
            finding.protocol = f.protocols.first().copied();
            finding.port = f.nat.ports.or_else(|| single_range(&f.from_ports)).map(|(a, _)| a);
            found
                .push(finding.fix(format!("remove the rule if nothing should be published: {}", delete_hint(&f.rule))));
            continue;
        }
        for (index, address, port, passes) in &f.targets {
            let listener = &facts.listeners[*index];
            let name = service_name(listener);
            let mut finding = if !f.effective() {
                Finding::new(
                    "reach.dnat",
                    Severity::Low,
                    format!(
                        "a DNAT rule {verb} {from} to {address}:{port} ({name}) but has no effect: route_localnet=0 on {}",
                        f.interfaces.join(", ")
                    ),
                )
                .on(listener)
                .evidence(rule_evidence.clone())
                .evidence(on.clone())
                .evidence(localnet_evidence(&f))
                .evidence("without route_localnet the kernel drops packets to 127.0.0.0/8 arriving from another host as martians")
                .fix(format!("remove the dead rule ({}); never enable route_localnet to make it work", delete_hint(&f.rule)))
            } else {
                let severity = match passes {
                    Passage::Blocked(_) => Severity::Info,
                    _ if listener.loopback_only() || sensitive(listener).is_some() => Severity::High,
                    _ => Severity::Medium,
                };
                let title = if listener.loopback_only() {
                    format!(
                        "a DNAT rule {verb} {from} from other hosts to the loopback-only {name} on {address}:{port}"
                    )
                } else {
                    format!("a DNAT rule {verb} {from} from other hosts to {name} on {address}:{port}")
                };
                let mut finding = Finding::new("reach.dnat", severity, title)
                    .on(listener)
                    .evidence(rule_evidence.clone())
                    .evidence(on.clone());
                if f.to_loopback {
                    finding = finding.evidence(localnet_evidence(&f)).evidence(format!(
                        "route_localnet=1 on {} lets the kernel deliver the translated packets to {address}",
                        f.localnet_on.join(", ")
                    ));
                }
                finding = finding.evidence(match passes {
                    Passage::Accepted { .. } => format!("the input path lets the translated packets to port {port} in"),
                    Passage::Blocked(rule) => {
                        format!("the translated packets are blocked on the input path by: {rule}")
                    }
                    Passage::Maybe(rule) => format!("the translated packets may be blocked by: {rule}"),
                });
                finding.fix(format!("remove the rule if {name} should stay private: {}", delete_hint(&f.rule)))
            };
            finding.addresses = vec![*address];
            found.push(finding);
        }
    }
    found
}

/// The command that removes a rule, as far as berth can say.
fn delete_hint(rule: &Rule) -> String {
    if rule.tool == "nft" {
        format!("nft -a list chain {} {} {} and nft delete rule ... handle N", rule.family, rule.table, rule.chain)
    } else {
        let tool = if rule.family == "ip6" { "ip6tables" } else { "iptables" };
        let line = rule.text.split_once(": ").map(|(_, l)| l).unwrap_or(&rule.text);
        format!("{tool} -t {} {}", rule.table, line.replacen("-A ", "-D ", 1))
    }
}
