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
//!
//! One job per module, each with its check: `dnat` models DNAT and
//! redirect rules ([`Dnat`]), `localnet` judges route_localnet
//! ([`RouteLocalnet`]), `docker` reads docker-proxy command lines
//! ([`DockerProxy`]), `ssh` reads ssh clients' forwards ([`SshForward`]).
//! This module holds the reach of each listener ([`assess`]) and the facts
//! they share.

mod dnat;
mod docker;
mod localnet;
mod ssh;

use std::net::IpAddr;

use serde::Serialize;

use super::{catalog, Listener};
use crate::analysis::firewall_walk::{passage, Passage};
use berth_inventory::firewall::{Firewall, Unreadable};
use berth_inventory::scope::{self, BindScope};
use berth_inventory::system::SystemFacts;
use berth_inventory::{Interface, Protocol};

use dnat::forwardings;
pub use dnat::Dnat;
use docker::docker_proxy_of;
pub use docker::{parse_docker_proxy, DockerProxy};
pub use localnet::RouteLocalnet;
pub use ssh::SshForward;

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
fn conf<'s>(system: &'s SystemFacts, name: &str) -> Option<&'s berth_inventory::system::InterfaceConf> {
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

// ------------------------------------------------------------ shared by the checks

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
        owner_status: crate::analysis::unseen::OwnerStatus::Unknown,
    };
    sensitive(&probe)
}

fn service_name(listener: &Listener) -> String {
    catalog::identify(listener).map(|k| k.name.to_string()).unwrap_or_else(|| listener.owner_name())
}
