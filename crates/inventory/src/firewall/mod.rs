//! Firewall rules, read (never changed) from nftables (`nft -j list
//! ruleset`) and iptables (`iptables-save`, `ip6tables-save`), reduced to
//! what `doctor` and `audit` ask of them: which interfaces, protocols,
//! destination ports and addresses (and conntrack states) a rule matches,
//! and what it does with a match, including where a DNAT or redirect rule
//! sends the packet (so `audit` can tell what it publishes).
//!
//! Conditions berth does not model (conntrack state, marks, rate limits,
//! iptables extensions) are kept as text in [`Rule::unknown`], so that a rule
//! which only *may* match is reported as such rather than guessed at.
//!
//! iptables with the nf_tables backend (the default on current distributions)
//! stores its rules as nftables tables, where `nft -j` shows extensions only
//! as opaque `xt` objects; for those tables the `iptables-save` view is
//! used instead, as it is lossless for rules iptables wrote. Rules of the
//! legacy backend are invisible to nft and are always read with iptables-save.
//!
//! By job: a private `tools` module runs the programs (found on PATH or in
//! the sbin directories, with a time limit of 5 s each), [`parse_nft_json`]
//! and [`parse_iptables_save`] parse what they print, and this module holds
//! the model both parse into and [`read`], which puts them together.

mod iptables;
mod nft;
mod tools;

use std::net::IpAddr;

pub use iptables::{parse_iptables_save, Saved};
pub use nft::{join_ports, parse_nft_json};
use tools::run_tool;

/// What a rule does with a packet it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`, `-j ACCEPT`: the packet leaves this base chain accepted
    /// (other tables' chains on the same hook still see it).
    Accept,
    /// `drop`, `-j DROP`: the packet is discarded without an answer.
    Drop,
    /// `reject`, `-j REJECT`: the packet is discarded and refused with an
    /// ICMP error or a TCP reset.
    Reject,
    /// `jump CHAIN`, `-j CHAIN`: on to that chain, then back here. iptables
    /// targets berth does not model (LOG, MASQUERADE, SNAT, ...) are read
    /// as jumps to a chain of their name.
    Jump(String),
    /// `goto CHAIN`, `-g CHAIN`: on to that chain, without coming back.
    Goto(String),
    /// `return`, `-j RETURN`: back to the calling chain, or to the policy
    /// in a base chain.
    Return,
    /// DNAT or redirect: the packet's destination is rewritten (and its
    /// fate decided later, by the filter chains of its new destination).
    Nat(Nat),
    /// Any other verdict (nft `queue`, `continue`, a policy other than
    /// accept or drop), by name.
    Other(String),
}

/// Where a DNAT or redirect rule sends a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    /// `redirect` (iptables REDIRECT): to the primary address of the
    /// interface the packet came in on (prerouting), or to loopback (output).
    pub redirect: bool,
    /// The new destination address (DNAT); None keeps it (or, for a
    /// redirect, the interface's own address).
    pub address: Option<IpAddr>,
    /// The new destination ports (inclusive); None keeps the packet's port.
    pub ports: Option<(u16, u16)>,
}

impl Nat {
    /// `127.0.0.1:8080`, `[::1]:80`, `:8080`, `192.0.2.1:90-91`.
    pub fn target(&self) -> String {
        let port = match self.ports {
            Some((a, b)) if a == b => format!(":{a}"),
            Some((a, b)) => format!(":{a}-{b}"),
            None => String::new(),
        };
        match self.address {
            Some(IpAddr::V6(v6)) if !port.is_empty() => format!("[{v6}]{port}"),
            Some(ip) => format!("{ip}{port}"),
            None => port,
        }
    }
}

impl Verdict {
    /// Drop or reject: a matching packet goes no further.
    pub fn blocks(&self) -> bool {
        matches!(self, Verdict::Drop | Verdict::Reject)
    }

    /// The verdict in nft's words: `accept`, `jump NAME`, `dnat to 127.0.0.1:8080`.
    pub fn word(&self) -> String {
        match self {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Reject => "reject".into(),
            Verdict::Jump(target) => format!("jump {target}"),
            Verdict::Goto(target) => format!("goto {target}"),
            Verdict::Return => "return".into(),
            Verdict::Nat(nat) if nat.redirect && nat.ports.is_none() => "redirect".into(),
            Verdict::Nat(nat) if nat.redirect => format!("redirect to {}", nat.target()),
            Verdict::Nat(nat) => format!("dnat to {}", nat.target()),
            Verdict::Other(other) => other.clone(),
        }
    }
}

/// A condition on one packet field: the value is one of `values` (or, when
/// `negated`, none of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond<T> {
    /// The rule matches when the field is none of `values` (nft `!=`,
    /// iptables `!`).
    pub negated: bool,
    /// What the field is compared with; for an nft set (anonymous or
    /// named), its elements.
    pub values: Vec<T>,
}

/// An address with a prefix length (`127.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The address as written; the bits past `len` are not compared.
    pub address: IpAddr,
    /// The prefix length in bits: up to 32 for IPv4, 128 for IPv6.
    pub len: u8,
}

impl Prefix {
    /// True when `ip` is in the prefix. An address of the other family
    /// never is (IPv4-mapped IPv6 addresses are not unmapped).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.len.min(32));
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.len.min(128));
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A chain: a base chain has a hook (input, output, ...) and a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The tool that listed it: `nft`, `iptables-save` or `ip6tables-save`.
    pub tool: &'static str,
    /// ip, ip6, inet, ... (iptables-save: ip; ip6tables-save: ip6).
    pub family: String,
    /// The table it belongs to (iptables: filter, nat, mangle, raw, security).
    pub table: String,
    /// The chain's name (`input`, `INPUT`, `DOCKER-USER`).
    pub name: String,
    /// The netfilter hook of a base chain (input, output, forward,
    /// prerouting, postrouting); None for a chain reached only by jumps.
    /// For iptables, the hook of the built-in chain of the same name.
    pub hook: Option<String>,
    /// A base chain's policy: what happens to a packet no rule decided.
    /// None for user chains (iptables-save writes `-`).
    pub policy: Option<Verdict>,
    /// The nft chain type (filter, nat, route); for iptables, None.
    pub kind: Option<String>,
}

/// One rule, reduced to the conditions doctor understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The tool that listed it: `nft`, `iptables-save` or `ip6tables-save`.
    pub tool: &'static str,
    /// The table's family: ip, ip6, inet, ... (iptables-save: ip;
    /// ip6tables-save: ip6).
    pub family: String,
    /// The table the rule is in.
    pub table: String,
    /// The chain the rule is in.
    pub chain: String,
    /// The hook of the rule's chain, when it is a base chain.
    pub hook: Option<String>,
    /// Input interface names; a trailing `+` or `*` is a wildcard.
    pub in_interface: Option<Cond<String>>,
    /// Output interface names, written as for `in_interface`.
    pub out_interface: Option<Cond<String>>,
    /// Transport protocols by name (tcp, udp, ...).
    pub protocol: Option<Cond<String>>,
    /// Destination port ranges (inclusive).
    pub dport: Option<Cond<(u16, u16)>>,
    /// Destination addresses.
    pub daddr: Option<Cond<Prefix>>,
    /// Source addresses.
    pub saddr: Option<Cond<Prefix>>,
    /// Conntrack states (new, established, related, invalid, untracked),
    /// lower case: `ct state` / `-m conntrack --ctstate` / `-m state --state`.
    pub ct_state: Option<Cond<String>>,
    /// Conditions not modelled, as text: the rule may or may not match.
    pub unknown: Vec<String>,
    /// What the rule does with a packet it matches. Rules without one (nft
    /// rules that only count or log, iptables lines with no `-j` or `-g`)
    /// are not kept.
    pub verdict: Verdict,
    /// The rule as the tool writes it (iptables), or rebuilt from its
    /// parts (nftables JSON has no text form).
    pub text: String,
}

impl Rule {
    /// A rule of `table` in `family` with no conditions yet and no verdict
    /// (each parser fills in what it reads).
    fn empty(tool: &'static str, family: &str, table: &str, chain: &str, hook: Option<String>, text: String) -> Rule {
        Rule {
            tool,
            family: family.to_string(),
            table: table.to_string(),
            chain: chain.to_string(),
            hook,
            in_interface: None,
            out_interface: None,
            protocol: None,
            dport: None,
            daddr: None,
            saddr: None,
            ct_state: None,
            unknown: Vec::new(),
            verdict: Verdict::Other(String::new()),
            text,
        }
    }
}

/// What happened when one tool was asked for its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolOutcome {
    /// Read; this many rules were taken from it.
    Read(usize),
    /// Not installed.
    Absent,
    /// The kernel refused: reading rules needs root (CAP_NET_ADMIN).
    NeedsPrivilege(String),
    /// It ran but failed, or its output could not be understood.
    Failed(String),
}

/// One tool asked for its rules, and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolRead {
    /// `nft`, `iptables-save` or `ip6tables-save`.
    pub tool: &'static str,
    /// What came of it.
    pub outcome: ToolOutcome,
}

/// Every rule berth could read, and what each tool said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Firewall {
    /// Every tool asked, nft first.
    pub tools: Vec<ToolRead>,
    /// The chains of every tool read. A table iptables-nft wrote is taken
    /// from iptables-save only, not from nft as well.
    pub chains: Vec<Chain>,
    /// The rules with a verdict, in each tool's order, taken as `chains` is.
    pub rules: Vec<Rule>,
}

/// Why no tool gave its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The kernel refused: reading rules needs root (CAP_NET_ADMIN).
    NeedsPrivilege {
        /// The tool that was refused.
        tool: &'static str,
        /// The first line it wrote to stderr.
        message: String,
    },
    /// Neither nft nor iptables-save is installed.
    Absent,
    /// The tools ran and failed; what each said.
    Failed(Vec<String>),
}

impl Firewall {
    /// True when at least one tool gave its rules.
    pub fn readable(&self) -> bool {
        self.tools.iter().any(|t| matches!(t.outcome, ToolOutcome::Read(_)))
    }

    /// The rules of one iptables-save text, as if read from the tool: for
    /// judging saved rules (a file, another machine's) and for tests of the
    /// code that judges rules.
    pub fn from_iptables_save(saved: &str) -> Firewall {
        let saved = parse_iptables_save(saved, "iptables-save", "ip");
        Firewall {
            tools: vec![ToolRead { tool: "iptables-save", outcome: ToolOutcome::Read(saved.rules.len()) }],
            chains: saved.chains,
            rules: saved.rules,
        }
    }

    /// Why the rules could not be read; None when some were.
    pub fn unreadable(&self) -> Option<Unreadable> {
        if self.readable() {
            return None;
        }
        let denied = self.tools.iter().find_map(|t| match &t.outcome {
            ToolOutcome::NeedsPrivilege(message) => Some((t.tool, message.clone())),
            _ => None,
        });
        if let Some((tool, message)) = denied {
            return Some(Unreadable::NeedsPrivilege { tool, message });
        }
        if self.tools.iter().all(|t| t.outcome == ToolOutcome::Absent) {
            return Some(Unreadable::Absent);
        }
        Some(Unreadable::Failed(
            self.tools
                .iter()
                .filter_map(|t| match &t.outcome {
                    ToolOutcome::Failed(message) => Some(message.clone()),
                    _ => None,
                })
                .collect(),
        ))
    }
}

/// Reads the rules of the network namespace berth runs in.
pub fn read() -> Firewall {
    let mut firewall = Firewall::default();
    let nft = match run_tool("nft", &["-j", "list", "ruleset"]) {
        Ok(text) => match parse_nft_json(&text) {
            Ok((chains, rules)) => Some((chains, rules)),
            Err(e) => {
                firewall.tools.push(ToolRead { tool: "nft", outcome: ToolOutcome::Failed(e) });
                None
            }
        },
        Err(outcome) => {
            firewall.tools.push(ToolRead { tool: "nft", outcome });
            None
        }
    };
    let nft_read = nft.is_some();
    if let Some((chains, rules)) = nft {
        firewall.chains = chains;
        firewall.rules = rules;
    }
    let nft_rule_count = |fw: &Firewall| fw.rules.iter().filter(|r| r.tool == "nft").count();

    for (tool, family) in [("iptables-save", "ip"), ("ip6tables-save", "ip6")] {
        match run_tool(tool, &[]) {
            Ok(text) => {
                let saved = parse_iptables_save(&text, tool, family);
                // Tables iptables-nft wrote are also in nft's view: take
                // them from iptables-save only, which shows them in full.
                if nft_read && saved.nf_tables_backend {
                    firewall.rules.retain(|r| !(r.family == family && saved.tables.contains(&r.table)));
                    firewall.chains.retain(|c| !(c.family == family && saved.tables.contains(&c.table)));
                }
                firewall.tools.push(ToolRead { tool, outcome: ToolOutcome::Read(saved.rules.len()) });
                firewall.chains.extend(saved.chains);
                firewall.rules.extend(saved.rules);
            }
            Err(outcome) => firewall.tools.push(ToolRead { tool, outcome }),
        }
    }
    if nft_read {
        let count = nft_rule_count(&firewall);
        firewall.tools.insert(0, ToolRead { tool: "nft", outcome: ToolOutcome::Read(count) });
    }
    firewall
}

#[cfg(test)]
mod tests {
    use super::iptables::{iptables_port_range, iptables_prefix, words};
    use super::*;

    const SAVED: &str = "# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 22 00:00:36 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:mine - [0:0]
-A INPUT -i lo -p tcp -m tcp --dport 5556 -j DROP
-A INPUT -p udp -m multiport --dports 53,1000:2000 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -d 127.0.0.0/8 ! -i lo -j DROP
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i lo -m comment --comment \"loop back\" -j ACCEPT
-A INPUT -p tcp -j mine
COMMIT
";

    #[test]
    fn iptables_save_rules() {
        let saved = parse_iptables_save(SAVED, "iptables-save", "ip");
        assert!(saved.nf_tables_backend);
        assert_eq!(saved.tables, ["filter"]);
        assert_eq!(saved.chains.len(), 4);
        assert_eq!(saved.chains[0].policy, Some(Verdict::Drop));
        assert_eq!(saved.chains[0].hook.as_deref(), Some("input"));
        assert_eq!(saved.chains[3].hook, None);
        let r = &saved.rules;
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].in_interface, Some(Cond { negated: false, values: vec!["lo".into()] }));
        assert_eq!(r[0].protocol, Some(Cond { negated: false, values: vec!["tcp".into()] }));
        assert_eq!(r[0].dport, Some(Cond { negated: false, values: vec![(5556, 5556)] }));
        assert_eq!(r[0].verdict, Verdict::Drop);
        assert!(r[0].unknown.is_empty(), "{:?}", r[0].unknown);
        assert_eq!(r[0].hook.as_deref(), Some("input"));
        assert_eq!(r[1].dport, Some(Cond { negated: false, values: vec![(53, 53), (1000, 2000)] }));
        assert_eq!(r[1].verdict, Verdict::Reject);
        assert!(r[2].in_interface.as_ref().unwrap().negated);
        assert_eq!(r[2].daddr.as_ref().unwrap().values[0].len, 8);
        assert!(r[3].unknown.is_empty(), "{:?}", r[3].unknown);
        assert_eq!(r[3].ct_state, Some(Cond { negated: false, values: vec!["invalid".into()] }));
        assert_eq!(r[4].verdict, Verdict::Accept);
        assert!(r[4].unknown.is_empty());
        assert_eq!(r[5].verdict, Verdict::Jump("mine".into()));
    }

    #[test]
    fn nft_json_rules() {
        let json = r#"{"nftables": [
          {"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "inet", "name": "t", "handle": 1}},
          {"set": {"family": "inet", "name": "blocked", "table": "t", "type": "inet_service", "elem": [7000, {"range": [8000, 8010]}]}},
          {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [5555, {"range": [6000, 6010]}]}}},
            {"counter": {"packets": 0, "bytes": 0}},
            {"drop": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 4, "expr": [
            {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
            {"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 5, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": "@blocked"}},
            {"xt": {"type": "target", "name": "REJECT"}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 6, "expr": [
            {"counter": {"packets": 0, "bytes": 0}}]}}
        ]}"#;
        let (chains, rules) = parse_nft_json(json).unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].policy, Some(Verdict::Drop));
        assert_eq!(rules.len(), 3, "the counter-only rule decides nothing");
        let r = &rules[0];
        assert_eq!(r.hook.as_deref(), Some("input"));
        assert_eq!(r.in_interface, Some(Cond { negated: false, values: vec!["lo".into()] }));
        assert_eq!(r.protocol, Some(Cond { negated: false, values: vec!["tcp".into()] }));
        assert_eq!(r.dport, Some(Cond { negated: false, values: vec![(5555, 5555), (6000, 6010)] }));
        assert_eq!(r.verdict, Verdict::Drop);
        assert_eq!(r.text, "inet t input: iifname \"lo\" tcp dport { 5555, 6000-6010 } drop");
        let r = &rules[1];
        assert!(r.out_interface.as_ref().unwrap().negated);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.ct_state, Some(Cond { negated: false, values: vec!["new".into()] }));
        assert!(r.daddr.as_ref().unwrap().values[0].contains("127.0.0.1".parse().unwrap()));
        assert_eq!(r.verdict, Verdict::Reject);
        let r = &rules[2];
        assert_eq!(r.protocol, None, "th dport names no protocol");
        assert_eq!(r.dport, Some(Cond { negated: false, values: vec![(7000, 7000), (8000, 8010)] }));
        assert_eq!(r.verdict, Verdict::Reject);
    }

    #[test]
    fn dnat_and_redirect_rules() {
        let saved = parse_iptables_save(
            "*nat\n:PREROUTING ACCEPT [0:0]\n\
             -A PREROUTING -p tcp -m tcp --dport 9000 -j DNAT --to-destination 127.0.0.1:90\n\
             -A PREROUTING -p tcp -m tcp --dport 9001 -j REDIRECT --to-ports 91-92\n\
             -A PREROUTING ! -i docker0 -p tcp -m tcp --dport 9002 -j DNAT --to-destination 203.0.113.5\n\
             -A PREROUTING -p tcp --dport 9003 -j DNAT --to-destination [2001:db8::5]:80\nCOMMIT\n",
            "iptables-save",
            "ip",
        );
        let nats: Vec<Nat> = saved
            .rules
            .iter()
            .map(|r| match &r.verdict {
                Verdict::Nat(nat) => nat.clone(),
                other => panic!("not a nat verdict: {other:?}"),
            })
            .collect();
        assert_eq!(
            nats[0],
            Nat { redirect: false, address: Some("127.0.0.1".parse().unwrap()), ports: Some((90, 90)) }
        );
        assert_eq!(nats[1], Nat { redirect: true, address: None, ports: Some((91, 92)) });
        assert_eq!(nats[2].address, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(nats[2].ports, None);
        assert_eq!(nats[3].target(), "[2001:db8::5]:80");
        assert_eq!(saved.rules[0].dport, Some(Cond { negated: false, values: vec![(9000, 9000)] }));
        assert_eq!(saved.rules[0].hook.as_deref(), Some("prerouting"));

        let json = r#"{"nftables": [
          {"chain": {"family": "inet", "table": "f", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8004}},
            {"dnat": {"family": "ip", "addr": "127.0.0.1", "port": 82}}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8005}},
            {"redirect": null}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 8003}},
            {"dnat": {"addr": "192.0.2.1", "port": {"range": [90, 91]}}}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "pre", "expr": [
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
            {"accept": null}]}}
        ]}"#;
        let (chains, rules) = parse_nft_json(json).unwrap();
        assert_eq!(chains[0].kind.as_deref(), Some("nat"));
        assert_eq!(rules.len(), 4, "dnat and redirect are verdicts: the rules are kept");
        assert_eq!(rules[0].text, "inet f pre: tcp dport 8004 dnat to 127.0.0.1:82");
        assert_eq!(rules[1].verdict, Verdict::Nat(Nat { redirect: true, address: None, ports: None }));
        assert_eq!(rules[2].text, "inet f pre: udp dport 8003 dnat to 192.0.2.1:90-91");
        assert_eq!(
            rules[3].ct_state,
            Some(Cond { negated: false, values: vec!["established".into(), "related".into()] })
        );
    }

    #[test]
    fn prefixes_and_ports() {
        let p = iptables_prefix("198.18.0.0/255.254.0.0").unwrap();
        assert_eq!(p.len, 15);
        assert!(p.contains("198.19.8.7".parse().unwrap()));
        assert!(!p.contains("198.20.0.1".parse().unwrap()));
        assert!(iptables_prefix("::1/128").unwrap().contains("::1".parse().unwrap()));
        assert_eq!(iptables_port_range(":1024"), Some((0, 1024)));
        assert_eq!(iptables_port_range("1024:"), Some((1024, 65535)));
        assert_eq!(iptables_port_range("x"), None);
        assert_eq!(words(r#"-A INPUT -m comment --comment "a \"b\" c" -j DROP"#)[5], "a \"b\" c");
    }
}
