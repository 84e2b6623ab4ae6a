//! Docker's userland proxy: what a docker-proxy command line publishes and
//! the reach.docker-proxy findings. Docker publishes a port with its own
//! DNAT rule, which INPUT rules such as ufw never see.

use super::{sensitive, sensitive_port, Remote};
use crate::audit::{Check, CheckInfo, Facts, Finding, Listener, Machine, ProcessRef, Severity};
use berth_inventory::firewall::Verdict;

/// `reach.docker-proxy`: one finding per port Docker publishes beyond loopback.
pub struct DockerProxy;

impl Check for DockerProxy {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "reach.docker-proxy",
            summary: "a port published by Docker, which bypasses INPUT firewall rules such as ufw",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_machine(&self, machine: &Machine) -> Vec<Finding> {
        findings(machine.facts)
    }
}

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
pub(super) fn docker_proxy_of(listener: &Listener) -> Option<&ProcessRef> {
    listener.owners.iter().find(|o| {
        let argv0 = o.command.split_whitespace().next().unwrap_or("");
        o.name == "docker-proxy" || argv0.rsplit('/').next() == Some("docker-proxy")
    })
}

/// `-host-ip 0.0.0.0 -host-port 6379 -container-ip 203.0.113.2 -container-port 6379`
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

/// The reach.docker-proxy findings.
fn findings(facts: &Facts) -> Vec<Finding> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_proxy_flags() {
        let p = parse_docker_proxy(
            "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 6379 -container-ip 203.0.113.2 -container-port 6379 -use-listen-fd",
        );
        assert_eq!(p.proto.as_deref(), Some("tcp"));
        assert_eq!(p.host_ip.as_deref(), Some("0.0.0.0"));
        assert_eq!((p.host_port, p.container_port), (Some(6379), Some(6379)));
        assert_eq!(p.container_ip.as_deref(), Some("203.0.113.2"));
        let p = parse_docker_proxy("docker-proxy --container-ip=fd00::2 --container-port=80");
        assert_eq!((p.container_ip.as_deref(), p.container_port), (Some("fd00::2"), Some(80)));
    }
}
