//! The firewall chain walk shared by `doctor` and `audit`: a probe packet
//! (loopback traffic, or a packet from another host to a port) is matched
//! against each chain's rules in order, so that an earlier accept shadows
//! later drops. Conditions berth does not model make a rule "may match",
//! reported as such instead of guessed.
//!
//! Two walks are offered:
//! - [`blocking`] (doctor): every rule or policy of the non-forward chains
//!   that drops or rejects the probe, jumps not followed;
//! - [`passage`] (audit): the fate of a new connection from another host
//!   through the input path (jumps followed, every base chain of the hook
//!   must let it through), with the exact interface and destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use berth_inventory::firewall::{Chain, Cond, Firewall, Prefix, Rule, Verdict};
use berth_inventory::Protocol;

/// Whether a rule matches the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hit {
    No,
    Maybe,
    Yes,
}

/// The packet a chain walk asks about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe<'a> {
    /// Loopback traffic (lo, 127.0.0.1 / ::1), or traffic from another host.
    pub loopback: bool,
    /// A destination port; None asks about every port.
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
    /// The interface the packet comes in on, when known exactly (audit);
    /// None judges "some interface other than lo" (doctor).
    pub in_interface: Option<&'a str>,
    /// The destination address, when known exactly.
    pub daddr: Option<IpAddr>,
    /// The probe opens a new connection (conntrack state `new`); false
    /// leaves conntrack conditions unknown ("may match").
    pub new_connection: bool,
}

/// A rule or policy that drops or rejects the probe (or may).
#[derive(Clone, Debug)]
pub struct Block {
    pub hit: Hit,
    /// The rule's text, or the chain's for a policy.
    pub text: String,
    pub verdict: Verdict,
    /// The rule names lo or a loopback address itself.
    pub explicit_loopback: bool,
    /// The rule only concerns some ports or protocols (probes without a port).
    pub restricted: bool,
    /// The rule lists the probe's port itself.
    pub names_port: bool,
    /// The chain's drop policy, not a rule.
    pub policy: bool,
    /// The command that accepts loopback traffic first in this chain.
    pub accept_first: String,
}

pub fn interface_matches(cond: &Cond<String>, name: &str) -> bool {
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

/// An exact probe (audit): the interface, destination and conntrack state
/// are known; the source is "some other host", so a source condition that
/// is not about loopback or everything may or may not match.
fn exact_hit(rule: &Rule, probe: Probe, interface: &str) -> Hit {
    let iface =
        |cond: &Option<Cond<String>>| cond.as_ref().map_or(Hit::Yes, |c| bool_hit(interface_matches(c, interface)));
    // Input-path rules see no output interface: `oifname X` never matches.
    let out = rule.out_interface.as_ref().map_or(Hit::Yes, |c| bool_hit(c.negated));
    let daddr = match (&rule.daddr, probe.daddr) {
        (None, _) => Hit::Yes,
        (Some(cond), Some(ip)) => bool_hit(cond.values.iter().any(|p| p.contains(ip)) != cond.negated),
        (Some(_), None) => Hit::Maybe,
    };
    let saddr = match &rule.saddr {
        None => Hit::Yes,
        Some(cond) => {
            let everything = cond.values.iter().any(|p| p.len == 0);
            let only_loopback = cond.values.iter().all(|p| p.address.is_loopback() && p.len >= 8);
            match (everything, only_loopback, cond.negated) {
                (true, _, negated) => bool_hit(!negated),
                (false, true, negated) => bool_hit(negated),
                _ => Hit::Maybe,
            }
        }
    };
    iface(&rule.in_interface).min(out).min(daddr).min(saddr)
}

/// Does the rule match the probe, and does it only concern some ports?
pub fn evaluate(rule: &Rule, probe: Probe) -> (Hit, bool) {
    let mut hit = match probe.in_interface {
        Some(interface) => exact_hit(rule, probe, interface),
        None => interface_hit(&rule.in_interface, probe.loopback)
            .min(interface_hit(&rule.out_interface, probe.loopback))
            .min(address_hit(&rule.daddr, &rule.family, probe.loopback))
            .min(address_hit(&rule.saddr, &rule.family, probe.loopback)),
    };
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
    if let Some(cond) = &rule.ct_state {
        hit = if probe.new_connection {
            hit.min(bool_hit(cond.values.iter().any(|v| v == "new") != cond.negated))
        } else {
            hit.min(Hit::Maybe)
        };
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

/// The rules of one chain, in order.
fn rules_of<'f>(firewall: &'f Firewall, chain: &Chain) -> Vec<&'f Rule> {
    firewall
        .rules
        .iter()
        .filter(|r| r.tool == chain.tool && r.family == chain.family && r.table == chain.table && r.chain == chain.name)
        .collect()
}

/// Walks one chain's rules in order: what blocks the probe, until a rule
/// accepts or drops all of it.
fn walk(chain: &Chain, rules: &[&Rule], probe: Probe) -> Vec<Block> {
    let accept_first = accept_first(chain, probe.port);
    let mut found = Vec::new();
    let mut uncertain = false;
    for rule in rules {
        let (hit, restricted) = evaluate(rule, probe);
        if hit == Hit::No {
            continue;
        }
        let finished = hit == Hit::Yes && !restricted;
        match &rule.verdict {
            Verdict::Accept if finished => return found,
            Verdict::Accept
            | Verdict::Jump(_)
            | Verdict::Goto(_)
            | Verdict::Return
            | Verdict::Nat(_)
            | Verdict::Other(_) => {
                // It may accept all of the probe (or a jumped-to chain may):
                // a later drop policy is uncertain. One restricted to some
                // ports leaves the policy to drop the others.
                if !restricted {
                    uncertain = true;
                }
            }
            verdict @ (Verdict::Drop | Verdict::Reject) => {
                found.push(Block {
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
                    return found;
                }
            }
        }
    }
    if chain.policy == Some(Verdict::Drop) {
        found.push(Block {
            hit: if uncertain { Hit::Maybe } else { Hit::Yes },
            text: policy_text(chain),
            verdict: Verdict::Drop,
            explicit_loopback: false,
            restricted: false,
            names_port: false,
            policy: true,
            accept_first,
        });
    }
    found
}

fn policy_text(chain: &Chain) -> String {
    format!("{} {} {}: policy drop", chain.family, chain.table, chain.name)
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

/// Every chain that sees local traffic (not forward), walked with the
/// probe (doctor's view: jumps are not followed, they make a later drop
/// policy uncertain).
pub fn blocking(firewall: &Firewall, probe: Probe) -> Vec<Block> {
    let mut all = Vec::new();
    for chain in &firewall.chains {
        if chain.hook.as_deref() == Some("forward") {
            continue;
        }
        all.extend(walk(chain, &rules_of(firewall, chain), probe));
    }
    all
}

// ------------------------------------------------------------ audit's walk

/// What the input path does with a new connection from another host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passage {
    /// Every chain lets it through; `chains` is how many were walked (0:
    /// no chain on the input path at all).
    Accepted { chains: usize },
    /// This rule (or policy) drops or rejects it.
    Blocked(String),
    /// This rule may drop it, or a rule that may accept it comes before a
    /// drop: it depends on conditions berth does not model.
    Maybe(String),
}

/// How one chain (and the chains it jumps to) ended for the probe.
enum Fate {
    Accept,
    Drop(String),
    /// Fell off the end of a non-base chain, or `return`: the caller goes on.
    Fall,
}

/// The walk of one chain: its fate, and the first rule that made it
/// uncertain (a drop that may match, or an accept that may).
struct Walked {
    fate: Fate,
    may_drop: Option<String>,
    may_accept: Option<String>,
}

/// Deepest chain nesting followed (a loop of jumps ends here).
const MAX_DEPTH: usize = 16;

fn chain_named<'f>(firewall: &'f Firewall, from: &Chain, name: &str) -> Option<&'f Chain> {
    firewall
        .chains
        .iter()
        .find(|c| c.tool == from.tool && c.family == from.family && c.table == from.table && c.name == name)
}

fn walk_passage(firewall: &Firewall, chain: &Chain, probe: Probe, depth: usize) -> Walked {
    let mut walked = Walked { fate: Fate::Fall, may_drop: None, may_accept: None };
    if depth > MAX_DEPTH {
        walked.may_drop =
            Some(format!("{} {} {}: chains nested too deep to follow", chain.family, chain.table, chain.name));
        return walked;
    }
    for rule in rules_of(firewall, chain) {
        let (hit, _) = evaluate(rule, probe);
        if hit == Hit::No {
            continue;
        }
        let sure = hit == Hit::Yes;
        match &rule.verdict {
            Verdict::Accept if sure => {
                walked.fate = Fate::Accept;
                return walked;
            }
            Verdict::Accept => {
                walked.may_accept.get_or_insert_with(|| rule.text.clone());
            }
            Verdict::Drop | Verdict::Reject if sure => {
                walked.fate = Fate::Drop(rule.text.clone());
                return walked;
            }
            Verdict::Drop | Verdict::Reject => {
                walked.may_drop.get_or_insert_with(|| rule.text.clone());
            }
            Verdict::Jump(target) | Verdict::Goto(target) => {
                let goto = matches!(rule.verdict, Verdict::Goto(_));
                let Some(next) = chain_named(firewall, chain, target) else {
                    // An iptables target berth does not know (LOG, MARK, ...) decides nothing.
                    if !matches!(target.as_str(), "LOG" | "MARK" | "CONNMARK" | "NFLOG" | "TRACE" | "CT") {
                        walked.may_drop.get_or_insert_with(|| rule.text.clone());
                    }
                    continue;
                };
                let inner = walk_passage(firewall, next, probe, depth + 1);
                if walked.may_drop.is_none() {
                    walked.may_drop = inner.may_drop;
                }
                if walked.may_accept.is_none() {
                    walked.may_accept = inner.may_accept;
                }
                match inner.fate {
                    Fate::Fall if !goto => {}
                    Fate::Fall => return walked,
                    Fate::Accept | Fate::Drop(_) if sure => {
                        walked.fate = inner.fate;
                        return walked;
                    }
                    Fate::Accept => {
                        walked.may_accept.get_or_insert_with(|| rule.text.clone());
                    }
                    Fate::Drop(text) => {
                        walked.may_drop.get_or_insert(text);
                    }
                }
            }
            Verdict::Return if sure => return walked,
            Verdict::Return => {
                walked.may_accept.get_or_insert_with(|| rule.text.clone());
            }
            Verdict::Nat(_) => {}
            Verdict::Other(_) => {
                // queue and friends: a program decides.
                walked.may_drop.get_or_insert_with(|| rule.text.clone());
            }
        }
    }
    if chain.hook.is_some() {
        walked.fate = if chain.policy == Some(Verdict::Drop) { Fate::Drop(policy_text(chain)) } else { Fate::Accept };
    }
    walked
}

/// Does a base chain of this family see packets of the probe's family?
fn family_sees(family: &str, v4: bool) -> bool {
    match family {
        "inet" => true,
        "ip" => v4,
        "ip6" => !v4,
        _ => false,
    }
}

/// Base chains that filter packets for this host: the input hook (nat
/// tables aside), and nft filter chains on prerouting.
fn on_input_path(chain: &Chain) -> bool {
    let not_nat = chain.kind.as_deref() != Some("nat") && !(chain.tool != "nft" && chain.table == "nat");
    match chain.hook.as_deref() {
        Some("input") => not_nat,
        Some("prerouting") => not_nat && (chain.tool != "nft" || chain.kind.as_deref() == Some("filter")),
        _ => false,
    }
}

/// The fate of a new connection from another host arriving on
/// `interface` for `daddr`, `protocol`/`port`: every base chain on the
/// input path must let it through; a sure drop anywhere blocks it.
pub fn passage(firewall: &Firewall, interface: &str, daddr: IpAddr, protocol: Protocol, port: u16) -> Passage {
    let probe = Probe {
        loopback: false,
        port: Some(port),
        protocol: Some(protocol),
        in_interface: Some(interface),
        daddr: Some(daddr),
        new_connection: true,
    };
    let v4 = berth_inventory::scope::unmapped(daddr).is_ipv4();
    let mut chains = 0;
    let mut maybe: Option<String> = None;
    for chain in firewall.chains.iter().filter(|c| on_input_path(c) && family_sees(&c.family, v4)) {
        chains += 1;
        let walked = walk_passage(firewall, chain, probe, 0);
        match walked.fate {
            Fate::Drop(text) if walked.may_accept.is_none() => return Passage::Blocked(text),
            Fate::Drop(text) => {
                let accept = walked.may_accept.unwrap_or_default();
                maybe.get_or_insert(format!("{text} (unless {accept} accepts it)"));
            }
            Fate::Accept | Fate::Fall => {
                if let Some(text) = walked.may_drop {
                    maybe.get_or_insert(text);
                }
            }
        }
    }
    match maybe {
        Some(text) => Passage::Maybe(text),
        None => Passage::Accepted { chains },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_inventory::firewall::{parse_nft_json, ToolOutcome, ToolRead};

    fn at(fw: &Firewall, port: u16) -> Passage {
        passage(fw, "eth0", "192.0.2.1".parse().unwrap(), Protocol::Tcp, port)
    }

    #[test]
    fn ufw_like_chains_are_followed() {
        let fw = Firewall::from_iptables_save(
            "*filter\n:INPUT DROP [0:0]\n:ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n\
             -A INPUT -j ufw-before-input\n-A INPUT -j ufw-user-input\n\
             -A ufw-before-input -i lo -j ACCEPT\n\
             -A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A ufw-before-input -m conntrack --ctstate INVALID -j DROP\n\
             -A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n\
             -A ufw-user-input -s 198.51.100.0/24 -p tcp --dport 80 -j ACCEPT\nCOMMIT\n",
        );
        assert_eq!(at(&fw, 22), Passage::Accepted { chains: 1 });
        assert_eq!(at(&fw, 8080), Passage::Blocked("ip filter INPUT: policy drop".into()));
        assert!(matches!(at(&fw, 80), Passage::Maybe(text) if text.contains("198.51.100.0/24")));
        // On lo (route_localnet to 127.0.0.1 comes in on another interface).
        assert_eq!(
            passage(&fw, "lo", "127.0.0.1".parse().unwrap(), Protocol::Tcp, 8080),
            Passage::Accepted { chains: 1 }
        );
    }

    #[test]
    fn every_base_chain_must_accept() {
        let json = r#"{"nftables": [
          {"chain": {"family": "inet", "table": "a", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "ip6", "table": "b", "name": "input", "type": "filter", "hook": "input", "prio": 10, "policy": "drop"}},
          {"chain": {"family": "ip", "table": "n", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "a", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5000}},
            {"accept": null}]}},
          {"rule": {"family": "inet", "table": "a", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5001}},
            {"drop": null}]}},
          {"rule": {"family": "ip", "table": "n", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5001}},
            {"drop": null}]}}
        ]}"#;
        let (chains, rules) = parse_nft_json(json).unwrap();
        let fw = Firewall { tools: vec![ToolRead { tool: "nft", outcome: ToolOutcome::Read(3) }], chains, rules };
        assert_eq!(at(&fw, 5000), Passage::Accepted { chains: 1 }, "ip6 and nat chains do not see it");
        assert_eq!(at(&fw, 5001), Passage::Blocked("inet a input: tcp dport 5001 drop".into()));
        let v6 = passage(&fw, "eth0", "2001:db8::1".parse().unwrap(), Protocol::Tcp, 5000);
        assert_eq!(v6, Passage::Blocked("ip6 b input: policy drop".into()));
        assert_eq!(at(&Firewall::default(), 1), Passage::Accepted { chains: 0 });
    }

    #[test]
    fn interfaces_and_addresses_are_exact() {
        let fw = Firewall::from_iptables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i eth1 -p tcp --dport 7000 -j DROP\n\
             -A INPUT -d 192.0.2.1/32 -p tcp --dport 7001 -j DROP\n-A INPUT ! -i lo -d 127.0.0.0/8 -j DROP\nCOMMIT\n",
        );
        assert_eq!(at(&fw, 7000), Passage::Accepted { chains: 1 });
        assert!(matches!(passage(&fw, "eth1", "192.0.2.1".parse().unwrap(), Protocol::Tcp, 7000), Passage::Blocked(_)));
        assert!(matches!(at(&fw, 7001), Passage::Blocked(_)));
        assert!(matches!(
            passage(&fw, "eth0", "127.0.0.1".parse().unwrap(), Protocol::Tcp, 9),
            Passage::Blocked(t) if t.contains("127.0.0.0/8")
        ));
    }
}
