//! How far each listener reaches beyond its bind address, and the reach.*
//! findings: a bind address says who *may* connect, but whether another
//! host *can* depends on the firewall's input path, on DNAT and redirect
//! rules that send other ports to it (even to 127.0.0.1, when
//! route_localnet lets them), on route_localnet itself (CVE-2020-8558), on
//! Docker publishing a port with its own DNAT (which INPUT rules such as
//! ufw never see), and on ssh forwards that open listeners on behalf of a
//! remote host.
//!
//! Everything here is a plain function over facts the inventory read: the
//! listeners with their owners' command lines, the parsed firewall rules,
//! the per-interface sysctls and the interface addresses.

use std::net::IpAddr;

use serde::Serialize;

use super::{catalog, list_words, Facts, Finding, Listener, Severity, Skipped};
use crate::analysis::firewall_walk::{passage, Passage};
use crate::analysis::scope::{self, BindScope};
use crate::inventory::firewall::{Firewall, Nat, Rule, Unreadable, Verdict};
use crate::inventory::system::SystemFacts;
use crate::inventory::{Interface, Protocol};

/// Whether hosts other than this one can connect to a listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "remote", rename_all = "snake_case")]
pub enum Remote {
    /// Bound to loopback only and nothing forwards to it (or no interface
    /// besides loopback has an address).
    No,
    /// Other hosts can connect; `why` says through what.
    Yes { why: String },
    /// A firewall rule blocks it.
    Blocked { rule: String },
    /// A rule may block it (it has conditions berth does not model).
    Maybe { rule: String },
    /// The firewall rules could not be read.
    Unknown { reason: String },
}

/// How far one listener reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub remote: Remote,
    /// What else makes it reachable: DNAT rules, route_localnet, forwards.
    pub paths: Vec<String>,
}

impl Reach {
    /// Some(true) reachable from other hosts, Some(false) not, None unknown.
    pub fn remotely(&self) -> Option<bool> {
        match self.remote {
            Remote::Yes { .. } => Some(true),
            Remote::No | Remote::Blocked { .. } => Some(false),
            Remote::Maybe { .. } | Remote::Unknown { .. } => None,
        }
    }

    /// One more way in: a sure path makes it reachable, a maybe path makes
    /// an unreachable listener "maybe".
    fn add_path(&mut self, path: String, passes: &Passage) {
        match passes {
            Passage::Accepted { .. } => {
                if !matches!(self.remote, Remote::Yes { .. }) {
                    self.remote = Remote::Yes { why: path.clone() };
                }
            }
            Passage::Maybe(rule) => {
                if matches!(self.remote, Remote::No | Remote::Blocked { .. }) {
                    self.remote = Remote::Maybe { rule: rule.clone() };
                }
            }
            Passage::Blocked(_) => {}
        }
        self.paths.push(path);
    }
}

// ------------------------------------------------------------ the facts used

/// Why the firewall rules could not be read (and what would help), or
/// None when they were.
fn unreadable(firewall: &Firewall) -> Option<(String, Option<String>)> {
    Some(match firewall.unreadable()? {
        Unreadable::NeedsPrivilege { tool, message } => (
            format!("reading firewall rules needs root (CAP_NET_ADMIN; {tool}: {message})"),
            Some("sudo berth audit".into()),
        ),
        Unreadable::Absent => {
            ("nft and iptables-save are not installed, so the firewall rules could not be read".into(), None)
        }
        Unreadable::Failed(reasons) => (format!("the firewall rules could not be read: {}", reasons.join("; ")), None),
    })
}

/// Names of the interfaces other hosts can send from: every one but loopback.
fn outside_interfaces(system: &SystemFacts, interfaces: &[Interface]) -> Vec<String> {
    let mut names: Vec<String> = system.interfaces.iter().filter(|i| !i.loopback).map(|i| i.name.clone()).collect();
    for interface in interfaces {
        if interface.name != "lo" && !scope::is_loopback(interface.address) && !names.contains(&interface.name) {
            names.push(interface.name.clone());
        }
    }
    names
}

/// The non-loopback (interface, address) pairs where a listener takes connections.
pub fn reachable_at(listener: &Listener, interfaces: &[Interface]) -> Vec<(String, IpAddr)> {
    let mut found = Vec::new();
    for interface in interfaces {
        let address = scope::unmapped(interface.address);
        if address.is_loopback() {
            continue;
        }
        let takes = match listener.scope {
            BindScope::Loopback => false,
            BindScope::All => {
                if address.is_ipv4() {
                    listener.takes_ipv4
                } else {
                    listener.takes_ipv6
                }
            }
            BindScope::Address { .. } => listener.addresses.iter().any(|a| scope::unmapped(*a) == address),
        };
        if takes && !found.iter().any(|(_, a)| *a == address) {
            found.push((interface.name.clone(), address));
        }
    }
    found
}

/// `192.0.2.1 (eth0)`, `[2001:db8::1] (eth0)`.
fn address_label(interface: &str, address: IpAddr) -> String {
    match address {
        IpAddr::V6(v6) => format!("[{v6}] ({interface})"),
        IpAddr::V4(v4) => format!("{v4} ({interface})"),
    }
}

/// net.ipv4.conf.NAME.route_localnet, rp_filter, accept_local.
fn conf<'s>(system: &'s SystemFacts, name: &str) -> Option<&'s crate::inventory::system::InterfaceConf> {
    system.ipv4_conf.iter().find(|c| c.name == name)
}

/// The outside interfaces on which route_localnet is in effect (the kernel
/// ORs `all` with the interface's own value).
fn localnet_interfaces(system: &SystemFacts, interfaces: &[Interface]) -> Vec<String> {
    let all = conf(system, "all").and_then(|c| c.route_localnet).unwrap_or(0) != 0;
    outside_interfaces(system, interfaces)
        .into_iter()
        .filter(|name| all || conf(system, name).and_then(|c| c.route_localnet).unwrap_or(0) != 0)
        .collect()
}

// ------------------------------------------------------------ DNAT rules

/// What one DNAT or redirect rule does to traffic from other hosts.
#[derive(Clone, Debug)]
struct Forwarding {
    rule: Rule,
    nat: Nat,
    /// Incoming interfaces it applies to (outside ones only).
    interfaces: Vec<String>,
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
    targets: Vec<(usize, IpAddr, u16, Passage)>,
}

impl Forwarding {
    /// `tcp/8080`, `tcp,udp/{ 80, 443 }`, `tcp/every port`.
    fn caught(&self) -> String {
        let protocols: Vec<&str> = self.protocols.iter().map(|p| p.name()).collect();
        let ports = match &self.from_ports {
            Some(ports) => crate::inventory::firewall::join_ports(ports),
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
fn forwardings(
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

// ------------------------------------------------------------ docker-proxy

/// What a docker-proxy command line says it publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    pub proto: Option<String>,
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
    pub container_ip: Option<String>,
    pub container_port: Option<u16>,
}

/// Is the listener's owner Docker's userland proxy?
fn docker_proxy_of(listener: &Listener) -> Option<&super::ProcessRef> {
    listener.owners.iter().find(|o| {
        let argv0 = o.command.split_whitespace().next().unwrap_or("");
        o.name == "docker-proxy" || argv0.rsplit('/').next() == Some("docker-proxy")
    })
}

/// `-host-ip 0.0.0.0 -host-port 6379 -container-ip 172.17.0.2 -container-port 6379`
/// (single or double dashes, `-flag value` or `-flag=value`).
pub fn parse_docker_proxy(command: &str) -> Published {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut published = Published::default();
    let mut index = 0;
    // Bounded: every turn consumes at least one word.
    while index < words.len() {
        let word = words[index].trim_start_matches('-');
        index += 1;
        if words[index - 1] == word {
            continue;
        }
        let (flag, value) = match word.split_once('=') {
            Some((flag, value)) => (flag, value.to_string()),
            None => {
                let value = words.get(index).map(|v| v.to_string()).unwrap_or_default();
                index += 1;
                (word, value)
            }
        };
        match flag {
            "proto" => published.proto = Some(value),
            "host-ip" => published.host_ip = Some(value),
            "host-port" => published.host_port = value.parse().ok(),
            "container-ip" => published.container_ip = Some(value),
            "container-port" => published.container_port = value.parse().ok(),
            _ => index -= 1,
        }
    }
    published
}

// ------------------------------------------------------------ ssh forwards

/// One forward of an ssh client's command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshForward {
    /// 'L' (local), 'R' (remote) or 'D' (dynamic, SOCKS).
    pub kind: char,
    /// The bind address as written (None: by GatewayPorts; "" or "*": all).
    pub bind: Option<String>,
    /// The listening port (None: a Unix socket).
    pub port: Option<u16>,
    /// Where the forward leads, `host:port` (None for -D).
    pub destination: Option<(String, Option<u16>)>,
    /// The spec as written.
    pub spec: String,
}

/// What an ssh client's command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshCommand {
    pub forwards: Vec<SshForward>,
    /// -g, or -o GatewayPorts=yes: forwards without a bind address listen on all interfaces.
    pub gateway_ports: bool,
    /// The destination host as written.
    pub host: Option<String>,
}

/// Splits a forward spec on ':' (or '/', the IPv6-friendly form), keeping
/// `[v6]` addresses whole.
fn spec_fields(spec: &str) -> Vec<String> {
    let separator = if spec.contains(':') && !spec.starts_with('/') { ':' } else { '/' };
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut bracket = false;
    for c in spec.chars() {
        match c {
            '[' if current.is_empty() => bracket = true,
            ']' if bracket => bracket = false,
            c if c == separator && !bracket => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

/// `[bind:]port:host:hostport`, `[bind:]port:socket`, `[bind:]port` (-D, -R dynamic).
pub fn parse_forward(kind: char, spec: &str) -> Option<SshForward> {
    let fields = spec_fields(spec);
    let number = |s: &str| s.parse::<u16>().ok();
    let (bind, port, destination) = match (kind, fields.as_slice()) {
        ('D', [port]) | ('R', [port]) => (None, number(port), None),
        ('D', [bind, port]) | ('R', [bind, port]) if number(port).is_some() => (Some(bind.clone()), number(port), None),
        (_, [port, rest]) => (None, number(port), Some((rest.clone(), None))),
        (_, [a, b, c]) if number(a).is_some() => (None, number(a), Some((b.clone(), number(c)))),
        (_, [bind, port, socket]) => (Some(bind.clone()), number(port), Some((socket.clone(), None))),
        (_, [bind, port, host, hostport]) => (Some(bind.clone()), number(port), Some((host.clone(), number(hostport)))),
        _ => return None,
    };
    Some(SshForward { kind, bind, port, destination, spec: spec.to_string() })
}

/// Parses an ssh client's command line (as joined with spaces): -L, -R,
/// -D, -g, and the `-o` forms (LocalForward, RemoteForward, DynamicForward,
/// GatewayPorts), with options before or after the host.
pub fn parse_ssh(command: &str) -> SshCommand {
    const WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let mut parsed = SshCommand::default();
    let mut index = 0;
    let option = |parsed: &mut SshCommand, letter: char, value: &str, words: &[&str], index: &mut usize| {
        match letter {
            'L' | 'R' | 'D' => parsed.forwards.extend(parse_forward(letter, value)),
            'o' => {
                // `-o Key=Value`, `-o Key Value` (quotes lost when joined).
                let (key, mut rest) = match value.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), vec![v.trim().to_string()]),
                    None => (value.trim().to_string(), Vec::new()),
                };
                let wanted = match key.to_ascii_lowercase().as_str() {
                    "localforward" | "remoteforward" => 2,
                    "dynamicforward" | "gatewayports" => 1,
                    _ => 0,
                };
                while rest.iter().map(|r| r.split_whitespace().count()).sum::<usize>() < wanted && *index < words.len()
                {
                    rest.push(words[*index].to_string());
                    *index += 1;
                }
                let rest: Vec<String> = rest.join(" ").split_whitespace().map(str::to_string).collect();
                match (key.to_ascii_lowercase().as_str(), rest.as_slice()) {
                    ("gatewayports", [value]) => parsed.gateway_ports = value.eq_ignore_ascii_case("yes"),
                    ("dynamicforward", [spec]) => parsed.forwards.extend(parse_forward('D', spec)),
                    ("localforward" | "remoteforward", [listen, target]) => {
                        let kind = if key.eq_ignore_ascii_case("localforward") { 'L' } else { 'R' };
                        parsed.forwards.extend(parse_forward(kind, &format!("{listen}:{target}")));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    };
    let mut operands = 0;
    // Bounded: every turn consumes at least one word.
    while index < words.len() {
        let word = words[index];
        index += 1;
        if word == "--" {
            break;
        }
        let Some(letters) = word.strip_prefix('-').filter(|l| !l.is_empty()) else {
            operands += 1;
            if operands == 1 {
                parsed.host = Some(word.to_string());
                continue;
            }
            // The remote command: the rest are its arguments.
            break;
        };
        for (at, letter) in letters.char_indices() {
            if letter == 'g' {
                parsed.gateway_ports = true;
            } else if WITH_ARGUMENT.contains(letter) {
                let attached = &letters[at + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    let value = words.get(index).copied().unwrap_or("");
                    index += 1;
                    value.to_string()
                } else {
                    attached.to_string()
                };
                option(&mut parsed, letter, &value, &words, &mut index);
                break;
            }
        }
    }
    parsed
}

fn is_ssh_client(owner: &super::ProcessRef) -> bool {
    let argv0 = owner.command.split_whitespace().next().unwrap_or("");
    owner.name == "ssh" || argv0.rsplit('/').next() == Some("ssh")
}

// ------------------------------------------------------------ assess

/// The reach of every listener, in order: the input path for its own
/// addresses, then every other way in (DNAT, route_localnet, Docker).
pub fn assess(
    listeners: &[Listener],
    firewall: &Firewall,
    system: &SystemFacts,
    interfaces: &[Interface],
) -> Vec<Reach> {
    let unreadable = unreadable(firewall);
    let mut reach: Vec<Reach> = listeners
        .iter()
        .map(|listener| {
            let at = reachable_at(listener, interfaces);
            let remote = if listener.loopback_only() || at.is_empty() {
                Remote::No
            } else if let Some((reason, _)) = &unreadable {
                Remote::Unknown { reason: reason.clone() }
            } else {
                direct(listener, &at, firewall)
            };
            Reach { remote, paths: Vec::new() }
        })
        .collect();

    for forwarding in forwardings(listeners, firewall, system, interfaces) {
        for (index, target, port, passes) in &forwarding.targets {
            let mut path = format!(
                "DNAT: {} on {} to {}:{port} ({})",
                forwarding.caught(),
                forwarding.interfaces.join(", "),
                target,
                forwarding.rule.text
            );
            if let Passage::Blocked(why) = passes {
                path.push_str(&format!(" (blocked: {why})"));
            }
            reach[*index].add_path(path, passes);
        }
    }

    let localnet = localnet_interfaces(system, interfaces);
    if !localnet.is_empty() {
        for (index, listener) in listeners.iter().enumerate() {
            let Some(address) = loopback_v4(listener) else { continue };
            let passes = if firewall.readable() {
                passage(firewall, &localnet[0], address, listener.protocol, listener.port)
            } else {
                Passage::Maybe("the firewall rules could not be read".into())
            };
            let mut path =
                format!("route_localnet=1 on {}: hosts on that link can send to {address}", localnet.join(", "));
            if let Passage::Blocked(rule) = &passes {
                path.push_str(&format!(" (blocked by {rule})"));
            }
            reach[index].add_path(path, &passes);
        }
    }

    for (index, listener) in listeners.iter().enumerate() {
        if listener.loopback_only() {
            continue;
        }
        if let Some(proxy) = docker_proxy_of(listener) {
            let published = parse_docker_proxy(&proxy.command);
            let container = match (&published.container_ip, published.container_port) {
                (Some(ip), Some(port)) => format!(" to the container at {ip}:{port}"),
                _ => String::new(),
            };
            let path = format!("published by Docker{container}: its DNAT rule bypasses INPUT rules (ufw)");
            reach[index].add_path(path, &Passage::Accepted { chains: 0 });
        }
    }
    reach
}

/// The loopback IPv4 address a loopback listener takes (route_localnet is IPv4 only).
fn loopback_v4(listener: &Listener) -> Option<IpAddr> {
    if !listener.loopback_only() || !listener.takes_ipv4 {
        return None;
    }
    listener.addresses.iter().map(|a| scope::unmapped(*a)).find(|a| a.is_ipv4() && a.is_loopback())
}

/// The input path for the listener's own addresses.
fn direct(listener: &Listener, at: &[(String, IpAddr)], firewall: &Firewall) -> Remote {
    let mut maybe = None;
    let mut blocked = None;
    for (interface, address) in at {
        match passage(firewall, interface, *address, listener.protocol, listener.port) {
            Passage::Accepted { chains } => {
                let why = if chains == 0 {
                    format!("no firewall rule on the input path; reachable at {}", address_label(interface, *address))
                } else {
                    format!("allowed by the firewall at {}", address_label(interface, *address))
                };
                return Remote::Yes { why };
            }
            Passage::Maybe(rule) => {
                maybe.get_or_insert(rule);
            }
            Passage::Blocked(rule) => {
                blocked.get_or_insert(rule);
            }
        }
    }
    match (maybe, blocked) {
        (Some(rule), _) => Remote::Maybe { rule },
        (None, Some(rule)) => Remote::Blocked { rule },
        (None, None) => Remote::No,
    }
}

/// A line of evidence about a listener's reach.
pub fn describe(reach: &Reach) -> String {
    match &reach.remote {
        Remote::No => "not reachable from other hosts".into(),
        Remote::Yes { why } => format!("reachable from other hosts: {why}"),
        Remote::Blocked { rule } => format!("blocked for other hosts by the firewall: {rule}"),
        Remote::Maybe { rule } => format!("may be blocked by the firewall (a rule berth cannot fully judge): {rule}"),
        Remote::Unknown { reason } => format!("reachability unknown: {reason}"),
    }
}

// ------------------------------------------------------------ findings

/// The reach.* findings, and the checks that could not run.
pub fn findings(facts: &Facts) -> (Vec<Finding>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    if let Some((reason, remedy)) = unreadable(&facts.firewall) {
        skipped.push(Skipped {
            check: "reach.firewall".into(),
            reason: format!(
                "{reason}: whether the firewall lets exposed ports in, and DNAT rules (reach.dnat), not checked"
            ),
            remedy,
        });
    }
    found.extend(dnat_findings(facts));
    found.extend(localnet_finding(facts));
    found.extend(docker_findings(facts));
    found.extend(ssh_findings(facts));
    (found, skipped)
}

fn sensitive(listener: &Listener) -> Option<&'static catalog::Known> {
    catalog::identify(listener).filter(|k| k.kind.sensitive())
}

/// A listener's identity by port alone (for a forward's or container's port).
fn sensitive_port(protocol: Protocol, port: u16) -> Option<&'static catalog::Known> {
    let probe = Listener {
        protocol,
        port,
        addresses: Vec::new(),
        scope: BindScope::Loopback,
        takes_ipv4: true,
        takes_ipv6: false,
        owners: Vec::new(),
        socket_uid: 0,
    };
    sensitive(&probe)
}

fn service_name(listener: &Listener) -> String {
    catalog::identify(listener).map(|k| k.name.to_string()).unwrap_or_else(|| listener.owner_name())
}

fn dnat_findings(facts: &Facts) -> Vec<Finding> {
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

fn localnet_finding(facts: &Facts) -> Option<Finding> {
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

fn docker_findings(facts: &Facts) -> Vec<Finding> {
    let mut found = Vec::new();
    for (index, listener) in facts.listeners.iter().enumerate() {
        let Some(proxy) = docker_proxy_of(listener) else { continue };
        if listener.loopback_only() {
            continue;
        }
        let published = parse_docker_proxy(&proxy.command);
        let container_port = published.container_port.unwrap_or(listener.port);
        let known = sensitive_port(listener.protocol, container_port).or_else(|| sensitive(listener));
        let severity = if known.is_some() { Severity::High } else { Severity::Medium };
        let what = known.map(|k| format!("{} ", k.name)).unwrap_or_default();
        let host_ip = published.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into());
        let mut finding = Finding::new(
            "reach.docker-proxy",
            severity,
            format!(
                "Docker publishes {what}{}/{} on {host_ip}, reachable from other hosts despite INPUT rules such as ufw",
                listener.protocol.name(),
                listener.port
            ),
        )
        .on(listener)
        .evidence(format!("docker-proxy command line: {}", proxy.command));
        if let (Some(ip), Some(port)) = (&published.container_ip, published.container_port) {
            finding = finding.evidence(format!("forwards to the container at {ip}:{port}"));
        }
        finding = finding.evidence(
            "Docker's DNAT rule (nat table, DOCKER chain) sends outside traffic to the container through FORWARD; INPUT rules never see it",
        );
        for rule in facts.firewall.rules.iter().filter(|r| {
            matches!(r.verdict, Verdict::Nat(_))
                && r.dport
                    .as_ref()
                    .is_some_and(|c| !c.negated && c.values.iter().any(|&(a, b)| (a..=b).contains(&listener.port)))
        }) {
            finding = finding.evidence(format!("DNAT rule: {}", rule.text));
        }
        if let Remote::Blocked { rule } = &facts.reach_of(index).remote {
            finding =
                finding.evidence(format!("an INPUT rule blocks the port, but not Docker's forwarded traffic: {rule}"));
        }
        let p = listener.port;
        found.push(finding.fix(format!(
            "publish on loopback only: docker run -p 127.0.0.1:{p}:{container_port} (compose: \"127.0.0.1:{p}:{container_port}\")"
        )));
    }
    found
}

fn ssh_findings(facts: &Facts) -> Vec<Finding> {
    let mut found = Vec::new();
    for listener in &facts.listeners {
        let Some(owner) = listener.owners.iter().find(|o| is_ssh_client(o)) else { continue };
        let command = parse_ssh(&owner.command);
        let forward = command.forwards.iter().find(|f| matches!(f.kind, 'L' | 'D') && f.port == Some(listener.port));
        let host = command.host.clone().unwrap_or_else(|| "the server".into());
        let (what, destination_port) = match forward {
            Some(f) if f.kind == 'D' => (format!("a SOCKS proxy (-D {}) through {host}", f.spec), None),
            Some(f) => {
                let to = f
                    .destination
                    .as_ref()
                    .map(|(h, p)| p.map(|p| format!("{h}:{p}")).unwrap_or_else(|| h.clone()))
                    .unwrap_or_default();
                (format!("{to} through {host} (-L {})", f.spec), f.destination.as_ref().and_then(|(_, p)| *p))
            }
            None => (format!("a forward through {host} (from ssh_config or added at run time)"), None),
        };
        let wide = !listener.loopback_only();
        let dest_known = destination_port.and_then(|p| sensitive_port(Protocol::Tcp, p));
        let severity = match (wide, dest_known) {
            (false, _) => Severity::Info,
            (true, Some(_)) => Severity::High,
            (true, None) => Severity::Medium,
        };
        let title = if wide {
            format!("ssh forwards port {} on all interfaces to {what}: any host that reaches it gets in", listener.port)
        } else {
            format!("ssh forwards port {} on loopback to {what}", listener.port)
        };
        let mut finding = Finding::new("reach.ssh-forward", severity, title)
            .on(listener)
            .evidence(format!("ssh command line: {}", owner.command))
            .evidence(format!("listening on {}", listener.places()));
        if command.gateway_ports {
            finding =
                finding.evidence("-g / GatewayPorts yes: forwards without a bind address listen on all interfaces");
        }
        if let Some(f) = forward.filter(|f| f.bind.is_some()) {
            finding = finding.evidence(format!("bind address: '{}'", f.bind.clone().unwrap_or_default()));
        }
        if let Some(known) = dest_known {
            finding = finding.evidence(format!("the destination port is {}'s", known.name));
        }
        let remote: Vec<String> =
            command.forwards.iter().filter(|f| f.kind == 'R').map(|f| format!("-R {}", f.spec)).collect();
        if !remote.is_empty() {
            finding = finding.evidence(format!("also forwards from the server back here: {}", remote.join(", ")));
        }
        let fix = match forward {
            Some(f) if wide && f.kind == 'D' => format!("bind it to loopback: -D 127.0.0.1:{}", listener.port),
            Some(f) if wide => {
                let rest = f.spec.rsplitn(3, ':').collect::<Vec<_>>();
                let tail = if rest.len() == 3 { format!("{}:{}", rest[1], rest[0]) } else { "HOST:PORT".into() };
                format!("bind it to loopback: -L 127.0.0.1:{}:{tail} (and drop -g / GatewayPorts yes)", listener.port)
            }
            _ if wide => "bind the forward to 127.0.0.1 (and drop -g / GatewayPorts yes)".to_string(),
            _ => "none needed while it stays on loopback; stop the ssh process when the forward is no longer used"
                .to_string(),
        };
        found.push(finding.fix(fix));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_forwards_are_parsed() {
        let c = parse_ssh("ssh -N -o StrictHostKeyChecking=no -i /k -p 2222 -L 0.0.0.0:8080:127.0.0.1:6379 root@h");
        assert_eq!(c.host.as_deref(), Some("root@h"));
        assert_eq!(c.forwards.len(), 1);
        let f = &c.forwards[0];
        assert_eq!((f.kind, f.bind.as_deref(), f.port), ('L', Some("0.0.0.0"), Some(8080)));
        assert_eq!(f.destination, Some(("127.0.0.1".into(), Some(6379))));
        assert!(!c.gateway_ports);

        let c = parse_ssh("/usr/bin/ssh -gNL8080:db:5432 -D [::1]:1080 h -R 9000:localhost:22 uptime -L 1:a:2");
        assert!(c.gateway_ports);
        assert_eq!(c.forwards.len(), 3, "{c:?}");
        assert_eq!(c.forwards[0].port, Some(8080));
        assert_eq!(c.forwards[0].bind, None);
        assert_eq!(
            (c.forwards[1].kind, c.forwards[1].bind.as_deref(), c.forwards[1].port),
            ('D', Some("::1"), Some(1080))
        );
        assert_eq!(c.forwards[2].kind, 'R');

        let c = parse_ssh("ssh -o GatewayPorts=yes -o LocalForward 7000 127.0.0.1:7001 -oDynamicForward=*:1081 h");
        assert!(c.gateway_ports);
        assert_eq!(c.forwards[0].port, Some(7000));
        assert_eq!(c.forwards[0].destination, Some(("127.0.0.1".into(), Some(7001))));
        assert_eq!((c.forwards[1].bind.as_deref(), c.forwards[1].port), (Some("*"), Some(1081)));
        assert!(parse_ssh("ssh host ls -L 1:a:2").forwards.is_empty(), "after the command, words are its arguments");
        assert_eq!(parse_forward('L', "/tmp/s:h:80").map(|f| f.port), Some(None));
    }

    #[test]
    fn docker_proxy_flags() {
        let p = parse_docker_proxy(
            "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 6379 -container-ip 172.17.0.2 -container-port 6379 -use-listen-fd",
        );
        assert_eq!(p.proto.as_deref(), Some("tcp"));
        assert_eq!(p.host_ip.as_deref(), Some("0.0.0.0"));
        assert_eq!((p.host_port, p.container_port), (Some(6379), Some(6379)));
        assert_eq!(p.container_ip.as_deref(), Some("172.17.0.2"));
        let p = parse_docker_proxy("docker-proxy --container-ip=fd00::2 --container-port=80");
        assert_eq!((p.container_ip.as_deref(), p.container_port), (Some("fd00::2"), Some(80)));
    }
}
