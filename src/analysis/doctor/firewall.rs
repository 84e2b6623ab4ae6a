//! Firewall rules that drop or reject loopback traffic, or traffic to one
//! port. Each chain's rules are walked in order against a probe packet
//! (loopback, or from another host), so that an earlier `iif lo accept`
//! shadows later drops; conditions berth does not model make a rule "may
//! match", reported as such instead of guessed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{plural, Check, Status};
use crate::analysis::target::PortTarget;
use crate::inventory::firewall::{Chain, Cond, Firewall, Prefix, Rule, ToolOutcome, Verdict};
use crate::inventory::Protocol;

/// Whether a rule matches the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Hit {
    No,
    Maybe,
    Yes,
}

/// The packet a chain walk asks about.
#[derive(Clone, Copy, Debug)]
struct Probe {
    /// Loopback traffic (lo, 127.0.0.1 / ::1), or traffic from another host.
    loopback: bool,
    /// A destination port; None asks about every port.
    port: Option<u16>,
    protocol: Option<Protocol>,
}

/// What one chain does to the probe: the rules that block it (or may),
/// or its drop policy.
#[derive(Clone, Debug)]
struct Finding {
    hit: Hit,
    /// The rule's text, or the chain's for a policy.
    text: String,
    verdict: Verdict,
    /// The rule names lo or a loopback address itself.
    explicit_loopback: bool,
    /// The rule only concerns some ports or protocols (probes without a port).
    restricted: bool,
    /// The rule lists the probe's port itself.
    names_port: bool,
    /// The chain's drop policy, not a rule.
    policy: bool,
    /// The command that accepts loopback traffic first in this chain.
    accept_first: String,
}

fn interface_matches(cond: &Cond<String>, name: &str) -> bool {
    let listed = cond.values.iter().any(|pattern| match pattern.strip_suffix(['+', '*']) {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    });
    listed != cond.negated
}

/// Does an interface condition hold for the probe? Traffic from another
/// host comes in on some interface other than lo.
fn interface_hit(cond: &Option<Cond<String>>, loopback: bool) -> Hit {
    match cond {
        None => Hit::Yes,
        Some(cond) if loopback => bool_hit(interface_matches(cond, "lo")),
        Some(cond) => {
            // Any name other than lo (or a negated lo) can match remote traffic.
            let names_other = cond.values.iter().any(|v| v != "lo");
            bool_hit(if cond.negated { cond.values.iter().all(|v| v == "lo") || names_other } else { names_other })
        }
    }
}

fn bool_hit(matches: bool) -> Hit {
    if matches {
        Hit::Yes
    } else {
        Hit::No
    }
}

/// The loopback addresses a rule of this family can see.
fn loopback_addresses(family: &str) -> Vec<IpAddr> {
    match family {
        "ip" => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        "ip6" => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        _ => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
    }
}

fn address_hit(cond: &Option<Cond<Prefix>>, family: &str, loopback: bool) -> Hit {
    let Some(cond) = cond else { return Hit::Yes };
    let only_loopback = cond.values.iter().all(|p| p.address.is_loopback() && p.len >= 8);
    if loopback {
        let contains = loopback_addresses(family).into_iter().any(|ip| cond.values.iter().any(|p| p.contains(ip)));
        bool_hit(contains != cond.negated)
    } else {
        // From another host: a rule about loopback addresses only does not apply.
        bool_hit(cond.negated || !only_loopback)
    }
}

/// Does the rule match the probe, and does it only concern some ports?
fn evaluate(rule: &Rule, probe: Probe) -> (Hit, bool) {
    let mut hit = interface_hit(&rule.in_interface, probe.loopback)
        .min(interface_hit(&rule.out_interface, probe.loopback))
        .min(address_hit(&rule.daddr, &rule.family, probe.loopback))
        .min(address_hit(&rule.saddr, &rule.family, probe.loopback));
    let mut restricted = false;
    if let Some(cond) = &rule.protocol {
        match probe.protocol {
            Some(p) => hit = hit.min(bool_hit(cond.values.iter().any(|v| v == p.name()) != cond.negated)),
            // A port without a protocol: whichever protocol the rule names is the one meant.
            None if probe.port.is_some() => {}
            None => restricted = true,
        }
    }
    if let Some(cond) = &rule.dport {
        match probe.port {
            Some(port) => {
                let listed = cond.values.iter().any(|&(a, b)| (a..=b).contains(&port));
                hit = hit.min(bool_hit(listed != cond.negated));
            }
            None => restricted = true,
        }
    }
    if hit == Hit::Yes && !rule.unknown.is_empty() {
        hit = Hit::Maybe;
    }
    (hit, restricted)
}

/// The rule names lo or a loopback address (not negated).
fn explicit_loopback(rule: &Rule) -> bool {
    let iface = |c: &Option<Cond<String>>| c.as_ref().is_some_and(|c| !c.negated && interface_matches(c, "lo"));
    let addr = |c: &Option<Cond<Prefix>>| {
        c.as_ref().is_some_and(|c| !c.negated && c.values.iter().any(|p| p.address.is_loopback()))
    };
    iface(&rule.in_interface) || iface(&rule.out_interface) || addr(&rule.daddr) || addr(&rule.saddr)
}

fn names_port(rule: &Rule, port: Option<u16>) -> bool {
    match (port, &rule.dport) {
        (Some(port), Some(cond)) => !cond.negated && cond.values.iter().any(|&(a, b)| (a..=b).contains(&port)),
        _ => false,
    }
}

/// Walks one chain's rules in order: what blocks the probe, until a rule
/// accepts or drops all of it.
fn walk(chain: &Chain, rules: &[&Rule], probe: Probe) -> Vec<Finding> {
    let accept_first = accept_first(chain, probe.port);
    let mut findings = Vec::new();
    let mut uncertain = false;
    for rule in rules {
        let (hit, restricted) = evaluate(rule, probe);
        if hit == Hit::No {
            continue;
        }
        let finished = hit == Hit::Yes && !restricted;
        match &rule.verdict {
            Verdict::Accept if finished => return findings,
            Verdict::Accept | Verdict::Jump(_) | Verdict::Goto(_) | Verdict::Return | Verdict::Other(_) => {
                // It may accept all of the probe (or a jumped-to chain may):
                // a later drop policy is uncertain. One restricted to some
                // ports leaves the policy to drop the others.
                if !restricted {
                    uncertain = true;
                }
            }
            verdict @ (Verdict::Drop | Verdict::Reject) => {
                findings.push(Finding {
                    hit,
                    text: rule.text.clone(),
                    verdict: verdict.clone(),
                    explicit_loopback: explicit_loopback(rule),
                    restricted,
                    names_port: names_port(rule, probe.port),
                    policy: false,
                    accept_first: accept_first.clone(),
                });
                if finished {
                    return findings;
                }
            }
        }
    }
    if chain.policy == Some(Verdict::Drop) {
        findings.push(Finding {
            hit: if uncertain { Hit::Maybe } else { Hit::Yes },
            text: format!("{} {} {}: policy drop", chain.family, chain.table, chain.name),
            verdict: Verdict::Drop,
            explicit_loopback: false,
            restricted: false,
            names_port: false,
            policy: true,
            accept_first,
        });
    }
    findings
}

/// The command that inserts, at the top of `chain`, a rule accepting
/// loopback traffic (to `port`, when given).
fn accept_first(chain: &Chain, port: Option<u16>) -> String {
    let output = matches!(chain.hook.as_deref(), Some("output" | "postrouting"));
    if chain.tool == "nft" {
        let iface = if output { "oif" } else { "iif" };
        let port = port.map(|p| format!(" th dport {p}")).unwrap_or_default();
        format!("nft insert rule {} {} {} {iface} lo{port} accept", chain.family, chain.table, chain.name)
    } else {
        let tool = if chain.family == "ip6" { "ip6tables" } else { "iptables" };
        let iface = if output { "-o" } else { "-i" };
        let port = port.map(|p| format!(" -p tcp --dport {p}")).unwrap_or_default();
        format!("{tool} -t {} -I {} {iface} lo{port} -j ACCEPT", chain.table, chain.name)
    }
}

/// Every chain that sees local traffic (not forward), walked with the probe.
fn findings(firewall: &Firewall, probe: Probe) -> Vec<Finding> {
    let mut all = Vec::new();
    for chain in &firewall.chains {
        if chain.hook.as_deref() == Some("forward") {
            continue;
        }
        let rules: Vec<&Rule> = firewall
            .rules
            .iter()
            .filter(|r| {
                r.tool == chain.tool && r.family == chain.family && r.table == chain.table && r.chain == chain.name
            })
            .collect();
        all.extend(walk(chain, &rules, probe));
    }
    all
}

/// Why the rules could not be read: skipped, with the reason.
fn unreadable(id: &'static str, firewall: &Firewall) -> Option<Check> {
    if firewall.readable() {
        return None;
    }
    let denied = firewall.tools.iter().find_map(|t| match &t.outcome {
        ToolOutcome::NeedsPrivilege(msg) => Some((t.tool, msg.clone())),
        _ => None,
    });
    if let Some((tool, msg)) = denied {
        return Some(
            Check::new(id, Status::Skipped, "reading firewall rules needs root (CAP_NET_ADMIN): not checked")
                .detail(format!("{tool}: {msg}"))
                .fix("sudo berth doctor"),
        );
    }
    if firewall.tools.iter().all(|t| t.outcome == ToolOutcome::Absent) {
        return Some(Check::new(
            id,
            Status::Skipped,
            "nft and iptables-save are not installed: firewall rules not checked",
        ));
    }
    let reasons: Vec<String> = firewall
        .tools
        .iter()
        .filter_map(|t| match &t.outcome {
            ToolOutcome::Failed(msg) => Some(msg.clone()),
            _ => None,
        })
        .collect();
    Some(Check::new(id, Status::Skipped, format!("cannot read firewall rules: {}", reasons.join("; "))))
}

/// "nft (12 rules), iptables-save (0 rules)".
fn sources(firewall: &Firewall) -> String {
    let read: Vec<String> = firewall
        .tools
        .iter()
        .filter_map(|t| match t.outcome {
            ToolOutcome::Read(n) => Some(format!("{} ({})", t.tool, plural(n, "rule", "rules"))),
            _ => None,
        })
        .collect();
    read.join(", ")
}

fn effect(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Reject => "rejects",
        _ => "drops",
    }
}

/// Rules and policies that drop or reject traffic on lo: every local
/// client of every local service goes through them.
pub fn loopback(firewall: &Firewall) -> Check {
    const ID: &str = "firewall.loopback";
    if let Some(check) = unreadable(ID, firewall) {
        return check;
    }
    let probe = Probe { loopback: true, port: None, protocol: None };
    let found = findings(firewall, probe);
    // Sure hits on lo itself or on everything; "may" ones only when they name lo.
    let serious: Vec<&Finding> = found
        .iter()
        .filter(|f| {
            (f.hit == Hit::Yes && (f.explicit_loopback || !f.restricted))
                || (f.hit == Hit::Maybe && f.explicit_loopback)
        })
        .collect();
    let port_rules: Vec<&Finding> =
        found.iter().filter(|f| f.hit == Hit::Yes && !f.explicit_loopback && f.restricted).collect();
    let read_from = sources(firewall);
    if serious.is_empty() && port_rules.is_empty() {
        return Check::new(ID, Status::Ok, format!("no rule drops or rejects loopback traffic (read {read_from})"));
    }
    if serious.is_empty() {
        let texts: Vec<&str> = port_rules.iter().map(|f| f.text.as_str()).collect();
        return Check::new(
            ID,
            Status::Info,
            format!(
                "{} on every interface, lo included: {}",
                plural(texts.len(), "rule blocks ports", "rules block ports"),
                texts[0]
            ),
        )
        .detail(texts.join("; "));
    }
    let sure = serious.iter().any(|f| f.hit == Hit::Yes);
    let texts: Vec<String> = serious
        .iter()
        .map(|f| if f.hit == Hit::Maybe { format!("{} (may match)", f.text) } else { f.text.clone() })
        .collect();
    Check::new(
        ID,
        if sure { Status::Warn } else { Status::Info },
        format!("{} or reject traffic on lo: {}", plural(texts.len(), "rule drops", "rules drop"), texts[0]),
    )
    .detail(texts.join("; "))
    .fix(format!("remove the rule, or accept loopback before it: {}", serious[0].accept_first))
}

/// Rules that drop or reject the port: on lo, connections hang (drop) or
/// are refused (reject); on other interfaces, only remote clients suffer.
pub fn port(target: &PortTarget, firewall: &Firewall) -> Check {
    const ID: &str = "port.firewall";
    if let Some(check) = unreadable(ID, firewall) {
        return check;
    }
    let port = target.port;
    // A rule that may match (unknown conditions) counts only when it names
    // the port or lo: `ct state invalid drop` concerns every port alike.
    let local: Vec<Finding> = findings(firewall, Probe { loopback: true, port: Some(port), protocol: target.protocol })
        .into_iter()
        .filter(|f| f.hit == Hit::Yes || f.names_port || f.explicit_loopback || f.policy)
        .collect();
    if let Some(worst) = local.iter().map(|f| f.hit).max() {
        let texts: Vec<String> = local
            .iter()
            .map(|f| if f.hit == Hit::Maybe { format!("{} (may match)", f.text) } else { f.text.clone() })
            .collect();
        let first = &local[0];
        let consequence = match first.verdict {
            Verdict::Reject => "connections are refused or reset",
            _ => "connections hang until they time out",
        };
        let status = if worst == Hit::Yes { Status::Fail } else { Status::Warn };
        return Check::new(
            ID,
            status,
            format!(
                "the firewall {} traffic to port {port} on lo ({consequence}): {}",
                effect(&first.verdict),
                texts[0]
            ),
        )
        .detail(texts.join("; "))
        .fix(format!("remove the rule, or accept the port on lo before it: {}", first.accept_first));
    }
    let remote: Vec<Finding> =
        findings(firewall, Probe { loopback: false, port: Some(port), protocol: target.protocol })
            .into_iter()
            .filter(|f| f.names_port)
            .collect();
    if let Some(first) = remote.first() {
        return Check::new(
            ID,
            Status::Info,
            format!("the firewall {} port {port} for other hosts, not on lo: {}", effect(&first.verdict), first.text),
        )
        .detail(remote.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("; "));
    }
    Check::new(ID, Status::Ok, format!("no rule drops or rejects port {port} (read {})", sources(firewall)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::firewall::{parse_iptables_save, ToolRead};

    fn firewall(saved: &str) -> Firewall {
        let s = parse_iptables_save(saved, "iptables-save", "ip");
        Firewall {
            tools: vec![ToolRead { tool: "iptables-save", outcome: ToolOutcome::Read(s.rules.len()) }],
            chains: s.chains,
            rules: s.rules,
        }
    }

    fn target(text: &str) -> PortTarget {
        PortTarget::parse(text).unwrap()
    }

    #[test]
    fn a_drop_on_lo_for_one_port() {
        let fw = firewall("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -p tcp -m tcp --dport 5556 -j DROP\nCOMMIT\n");
        assert_eq!(port(&target("5556"), &fw).status, Status::Fail);
        assert_eq!(port(&target("tcp/5556"), &fw).status, Status::Fail);
        assert_eq!(port(&target("udp/5556"), &fw).status, Status::Ok);
        assert_eq!(port(&target("5557"), &fw).status, Status::Ok);
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("--dport 5556"), "{}", c.summary);
        assert_eq!(
            c.fix.as_deref(),
            Some("remove the rule, or accept loopback before it: iptables -t filter -I INPUT -i lo -j ACCEPT")
        );
        let c = port(&target("5556"), &fw);
        assert!(c.fix.unwrap().ends_with("iptables -t filter -I INPUT -i lo -p tcp --dport 5556 -j ACCEPT"));
    }

    #[test]
    fn an_earlier_lo_accept_shadows_drops() {
        let fw = firewall(
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -p tcp --dport 5556 -j REJECT\nCOMMIT\n",
        );
        assert_eq!(loopback(&fw).status, Status::Ok);
        assert_eq!(port(&target("5556"), &fw).status, Status::Info, "only other hosts are rejected");
        let fw = firewall("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Warn, "policy drop without a lo accept: {c:?}");
        assert!(c.summary.contains("policy drop"));
        assert_eq!(port(&target("8080"), &fw).status, Status::Fail);
        assert_eq!(port(&target("22"), &fw).status, Status::Ok);
    }

    #[test]
    fn unknown_conditions_and_other_interfaces() {
        let fw = firewall(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\n\
             -A INPUT -d 127.0.0.0/8 ! -i lo -j DROP\n-A INPUT -i eth0 -p tcp --dport 9000 -j DROP\n\
             -A INPUT -i lo -m conntrack --ctstate NEW -p tcp --dport 7000 -j DROP\nCOMMIT\n",
        );
        assert_eq!(port(&target("9000"), &fw).status, Status::Info);
        assert_eq!(port(&target("7000"), &fw).status, Status::Warn, "may match");
        assert_eq!(port(&target("7001"), &fw).status, Status::Ok);
        assert_eq!(loopback(&fw).status, Status::Info, "only a may-match rule names lo");
    }

    #[test]
    fn unreadable_rules_are_skipped_with_why() {
        let fw = Firewall {
            tools: vec![ToolRead {
                tool: "nft",
                outcome: ToolOutcome::NeedsPrivilege("Operation not permitted".into()),
            }],
            ..Firewall::default()
        };
        let c = loopback(&fw);
        assert_eq!(c.status, Status::Skipped);
        assert!(c.summary.contains("needs root"));
        let fw = Firewall {
            tools: vec![
                ToolRead { tool: "nft", outcome: ToolOutcome::Absent },
                ToolRead { tool: "iptables-save", outcome: ToolOutcome::Absent },
            ],
            ..Firewall::default()
        };
        assert!(port(&target("80"), &fw).summary.contains("not installed"));
    }
}
