//! Listeners bound beyond loopback (0.0.0.0, ::, a LAN address): the
//! first question about any service is who can connect to it. Each
//! finding names the addresses and interfaces the listener takes
//! connections at, and what the firewall's input path does with them
//! (see [`super::reachability`]); a listener the firewall blocks for other
//! hosts is only worth knowing about (info), a known-sensitive service
//! (database, cache, container API, notebook, model server, debugger)
//! that other hosts can reach is serious by itself.

use super::catalog::{self, Known};
use super::reachability::{self, Remote};
use super::{list_words, Check, CheckInfo, Facts, Finding, Listener, Machine, Severity};
use berth_inventory::scope::BindScope;

/// `exposure.listener` and `exposure.sensitive`: one finding per listener
/// bound beyond loopback.
pub struct Exposure;

impl Check for Exposure {
    fn ids(&self) -> &'static [CheckInfo] {
        &[
            CheckInfo {
                id: "exposure.listener",
                summary: "a listener is bound beyond loopback (all interfaces or a LAN address)",
                default_severity: Severity::Low,
            },
            CheckInfo {
                id: "exposure.sensitive",
                summary: "a sensitive service (database, cache, container API, notebook, model server, debugger) listens beyond loopback",
                default_severity: Severity::High,
            },
        ]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        let facts = machine.facts;
        facts
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.loopback_only())
            .map(|(index, listener)| finding(facts, index, listener))
            .collect()
    }
}

fn finding(facts: &Facts, index: usize, listener: &Listener) -> Finding {
    let known = catalog::identify(listener);
    let sensitive = known.filter(|k| k.kind.sensitive());
    let reach = facts.reach_of(index);
    let (id, base) = match sensitive {
        Some(_) => ("exposure.sensitive", Severity::High),
        None => ("exposure.listener", Severity::Low),
    };
    let severity = match reach.remote {
        // Blocked by a rule, or no interface besides loopback: nothing to fear now.
        Remote::Blocked { .. } | Remote::No => Severity::Info,
        _ => base,
    };
    let what = match (sensitive, known) {
        (Some(k), _) => format!("{} ({})", k.name, k.kind.word()),
        (None, Some(k)) => k.name.to_string(),
        (None, None) => listener.owner_name(),
    };
    let proto = listener.protocol.name();
    let port = listener.port;
    let where_ = match &listener.scope {
        BindScope::All => "on all interfaces".to_string(),
        BindScope::Address { interface: Some(name) } => format!("on {name}'s address"),
        BindScope::Address { interface: None } => "on a non-loopback address".to_string(),
        BindScope::Loopback => "on loopback".to_string(),
    };
    let title = match reach.remote {
        Remote::Blocked { .. } => {
            format!("{what} listens {where_} ({proto}/{port}), but the firewall blocks other hosts")
        }
        _ => format!("{what} listens {where_} ({proto}/{port})"),
    };
    let mut finding = Finding::new(id, severity, title).on(listener).evidence(bound(listener));
    let at = reachability::reachable_at(listener, &facts.interfaces);
    finding = finding.evidence(if at.is_empty() {
        "no interface besides loopback has an address it takes".to_string()
    } else {
        let places: Vec<String> = at
            .iter()
            .map(|(name, ip)| match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{port} ({name})"),
                std::net::IpAddr::V4(v4) => format!("{v4}:{port} ({name})"),
            })
            .collect();
        format!("takes connections at {}", list_words(&places))
    });
    finding = finding.evidence(reachability::describe(reach));
    for path in &reach.paths {
        finding = finding.evidence(format!("also reachable through {path}"));
    }
    if let Some(k) = sensitive {
        finding = finding.evidence(format!("{} is a {}: it should not face other hosts", k.name, k.kind.word()));
    }
    let fix = match reach.remote {
        Remote::Blocked { ref rule } => {
            format!("nothing urgent while the rule stays ({rule}); {}", bind_fix(listener, known))
        }
        _ => bind_fix(listener, known),
    };
    finding.fix(fix)
}

/// "bound to 0.0.0.0 (every IPv4 address)", "bound to :: with IPV6_V6ONLY
/// off (every IPv4 and IPv6 address)".
fn bound(listener: &Listener) -> String {
    let addresses: Vec<String> = listener.addresses.iter().map(|a| a.to_string()).collect();
    let dual = listener.addresses.iter().any(|a| a.is_ipv6() && a.is_unspecified()) && listener.takes_ipv4;
    let reach = match (listener.takes_ipv4, listener.takes_ipv6) {
        (true, true) => "IPv4 and IPv6",
        (true, false) => "IPv4",
        (false, true) => "IPv6",
        (false, false) => "no",
    };
    if dual {
        format!("bound to {} with IPV6_V6ONLY off: takes {reach} traffic", list_words(&addresses))
    } else {
        format!("bound to {}: takes {reach} traffic", list_words(&addresses))
    }
}

/// A concrete line for well-known services, a generic one otherwise.
fn bind_fix(listener: &Listener, known: Option<&Known>) -> String {
    let port = listener.port;
    let firewall = match listener.protocol {
        berth_inventory::Protocol::Tcp => format!("nft add rule inet filter input tcp dport {port} drop"),
        berth_inventory::Protocol::Udp => format!("nft add rule inet filter input udp dport {port} drop"),
    };
    let line = match known.map(|k| k.name) {
        Some("Redis") => "bind 127.0.0.1 -::1 in redis.conf".to_string(),
        Some("memcached") => "-l 127.0.0.1 in /etc/memcached.conf (and -U 0 to turn UDP off)".to_string(),
        Some("PostgreSQL") => "listen_addresses = 'localhost' in postgresql.conf".to_string(),
        Some("MySQL") => "bind-address = 127.0.0.1 in the [mysqld] section of my.cnf".to_string(),
        Some("MongoDB") => "net.bindIp: 127.0.0.1 in mongod.conf".to_string(),
        Some("Elasticsearch") => "network.host: 127.0.0.1 in elasticsearch.yml".to_string(),
        Some("CouchDB") => "bind_address = 127.0.0.1 in the [chttpd] section of local.ini".to_string(),
        Some("Docker Engine API") => {
            "remove -H tcp://0.0.0.0:PORT from dockerd (use the unix socket or ssh://)".to_string()
        }
        Some("Jupyter") => "--ip=127.0.0.1 (c.ServerApp.ip = '127.0.0.1')".to_string(),
        Some("Ollama") => format!("OLLAMA_HOST=127.0.0.1:{port}"),
        Some("Node.js inspector") => format!("--inspect=127.0.0.1:{port}"),
        Some("debugpy") => format!("--listen 127.0.0.1:{port}"),
        Some("Chrome DevTools") => "--remote-debugging-address=127.0.0.1".to_string(),
        Some("Prometheus exporter") => format!("--web.listen-address=127.0.0.1:{port}"),
        Some("nginx") => format!("listen 127.0.0.1:{port};"),
        _ => return format!("bind it to 127.0.0.1 if other hosts need not reach it, or block it: {firewall}"),
    };
    format!("bind it to loopback: {line}; or block it: {firewall}")
}
