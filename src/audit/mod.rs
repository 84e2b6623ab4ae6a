//! `berth audit`: security findings about the machine's listeners.
//!
//! The audit reads one inventory [`Snapshot`] (listening TCP sockets and
//! bound UDP sockets of berth's own network namespace), the firewall rules
//! and the system's settings, then probes every TCP listener with harmless
//! requests (see [`probe`]), and turns all of that into [`Finding`]s.
//!
//! Each check is one small module with one job:
//! - [`exposure`]: listeners bound beyond loopback, and where they are reachable;
//! - [`reachability`]: what makes a port reachable besides its bind address
//!   (DNAT rules, docker-proxy, route_localnet, ssh forwards);
//! - [`browser`]: what a web page can do to a loopback HTTP service (DNS
//!   rebinding, CORS, Private Network Access, WebSocket origins);
//! - [`noauth`]: well-known services that answer without authentication;
//! - [`tls`]: plaintext where TLS is expected, expired or self-signed certificates;
//! - [`owners`]: odd owners (deleted executables, split loopback holders,
//!   root serving unauthenticated HTTP);
//! - [`policy`]: the user's list of expected listeners.
//!
//! The probing checks run on worker threads, one service at a time each,
//! under a per-service deadline and a total budget; everything else is a
//! plain function over the facts.

pub mod browser;
pub mod catalog;
pub mod exposure;
pub mod listeners;
pub mod noauth;
pub mod owners;
pub mod policy;
pub mod probe;
pub mod reachability;
pub mod tls;

use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use berth_inventory::firewall::Firewall;
use berth_inventory::system::SystemFacts;
use berth_inventory::{Interface, Protocol};
pub use listeners::{Listener, ProcessRef};
pub use reachability::Reach;

/// How bad a finding is. Ordered from harmless to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|s| s.word().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("'{text}' is not a severity; use info, low, medium, high or critical"))
    }
}

/// One thing the audit found: what, how bad, where, why berth thinks so,
/// and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable id, e.g. `noauth.redis` (see [`CHECKS`]).
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what is wrong.
    pub title: String,
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
    /// The socket's local addresses this finding concerns.
    pub addresses: Vec<IpAddr>,
    /// The process holding the socket, when known.
    pub process: Option<ProcessRef>,
    /// What berth saw that led to the finding (one fact per entry).
    pub evidence: Vec<String>,
    /// One line: what to do about it.
    pub fix: String,
}

impl Finding {
    pub fn new(id: &'static str, severity: Severity, title: impl Into<String>) -> Finding {
        debug_assert!(CHECKS.iter().any(|c| c.id == id), "finding id {id} is not in CHECKS");
        Finding {
            id,
            severity,
            title: title.into(),
            protocol: None,
            port: None,
            addresses: Vec::new(),
            process: None,
            evidence: Vec::new(),
            fix: String::new(),
        }
    }

    /// About this listener: its protocol, port, addresses and first owner.
    pub fn on(mut self, listener: &Listener) -> Finding {
        self.protocol = Some(listener.protocol);
        self.port = Some(listener.port);
        self.addresses = listener.addresses.clone();
        self.process = listener.owners.first().cloned();
        self
    }

    pub fn evidence(mut self, fact: impl Into<String>) -> Finding {
        self.evidence.push(fact.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = fix.into();
        self
    }

    /// `127.0.0.1:6379` (the first address), or the port alone.
    pub fn place(&self) -> String {
        match (self.addresses.first(), self.port) {
            (Some(IpAddr::V6(v6)), Some(port)) => format!("[{v6}]:{port}"),
            (Some(ip), Some(port)) => format!("{ip}:{port}"),
            (None, Some(port)) => format!("port {port}"),
            (Some(ip), None) => ip.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// A check that could not run (fully), and why: the audit says so instead
/// of passing silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The check id, or a group such as `reach.firewall`.
    pub check: String,
    pub reason: String,
    /// What would let it run ("run as root").
    pub remedy: Option<String>,
}

/// The stable description of one check: SARIF rules and `--help` come from here.
#[derive(Clone, Copy, Debug)]
pub struct CheckInfo {
    pub id: &'static str,
    /// What the check looks for, in a line.
    pub summary: &'static str,
    /// The usual severity (the finding may be raised or lowered by context).
    pub default_severity: Severity,
}

/// Every check id the audit can report.
pub const CHECKS: &[CheckInfo] = &[
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
    CheckInfo {
        id: "reach.dnat",
        summary: "a DNAT or redirect rule forwards traffic from other hosts to a local port",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "reach.docker-proxy",
        summary: "a port published by Docker, which bypasses INPUT firewall rules such as ufw",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "reach.route-localnet",
        summary: "route_localnet=1 lets other hosts reach services bound to 127.0.0.1 (CVE-2020-8558)",
        default_severity: Severity::High,
    },
    CheckInfo {
        id: "reach.ssh-forward",
        summary: "an ssh process forwards a port (-L, -R, -D), possibly on all interfaces",
        default_severity: Severity::Low,
    },
    CheckInfo {
        id: "http.dns-rebinding",
        summary: "an HTTP service answers requests for a foreign Host name, so any web page can read it through DNS rebinding",
        default_severity: Severity::High,
    },
    CheckInfo {
        id: "http.cors-any-origin",
        summary: "an HTTP service allows every origin (Access-Control-Allow-Origin: *)",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "http.cors-reflected",
        summary: "an HTTP service reflects any Origin in Access-Control-Allow-Origin",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "http.private-network",
        summary: "an HTTP service allows Private Network Access from public web pages",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "http.websocket-origin",
        summary: "a WebSocket endpoint accepts a connection from a foreign Origin",
        default_severity: Severity::High,
    },
    CheckInfo { id: "noauth.redis", summary: "Redis answers without a password", default_severity: Severity::Medium },
    CheckInfo {
        id: "noauth.memcached",
        summary: "memcached answers without authentication",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "noauth.elasticsearch",
        summary: "Elasticsearch or OpenSearch answers without authentication",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "noauth.docker-api",
        summary: "the Docker Engine API answers over TCP without authentication (root on the host)",
        default_severity: Severity::High,
    },
    CheckInfo {
        id: "noauth.jupyter",
        summary: "a Jupyter server's API answers without a token",
        default_severity: Severity::High,
    },
    CheckInfo {
        id: "noauth.ollama",
        summary: "an Ollama model server answers without authentication",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "noauth.metrics",
        summary: "Prometheus-style /metrics are served without authentication",
        default_severity: Severity::Low,
    },
    CheckInfo {
        id: "noauth.postgres-trust",
        summary: "PostgreSQL lets a client in without a password (trust authentication)",
        default_severity: Severity::High,
    },
    CheckInfo {
        id: "tls.plaintext",
        summary: "plaintext on a port where TLS is expected, or credentials asked for over plaintext beyond loopback",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "tls.expired",
        summary: "a TLS service presents an expired certificate",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "tls.untrusted",
        summary: "a TLS service presents a self-signed certificate, or one not issued by a trusted or local CA",
        default_severity: Severity::Low,
    },
    CheckInfo {
        id: "owner.deleted-executable",
        summary: "a listener's executable was deleted or replaced on disk since it started",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "owner.split-loopback",
        summary: "different processes hold 127.0.0.1:PORT and [::1]:PORT, so localhost clients may reach the wrong one",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "owner.root-http",
        summary: "a root-owned process serves an unauthenticated HTTP API",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "policy.unexpected",
        summary: "a listener the policy file does not expect (another process, port or bind scope)",
        default_severity: Severity::Medium,
    },
    CheckInfo {
        id: "policy.missing",
        summary: "a listener the policy file expects is not there",
        default_severity: Severity::Low,
    },
];

/// The facts the static checks judge; the probing checks see them too.
pub struct Facts {
    /// Listening TCP sockets and bound UDP sockets of berth's namespace, grouped.
    pub listeners: Vec<Listener>,
    /// How far each listener reaches (same order as `listeners`).
    pub reach: Vec<Reach>,
    pub firewall: Firewall,
    pub system: SystemFacts,
    pub interfaces: Vec<Interface>,
    /// berth runs as root (it sees every process and the firewall).
    pub root: bool,
    /// Processes whose descriptors berth could not read (other users'
    /// when not root): their listeners have no known owner.
    pub unseen_processes: usize,
    /// The kernel's ephemeral port range (clients' ports).
    pub ephemeral: (u16, u16),
}

impl Facts {
    /// The reach of a listener (by its index in `listeners`).
    pub fn reach_of(&self, index: usize) -> &Reach {
        &self.reach[index]
    }
}

/// Everything an audit produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

impl Outcome {
    /// Worst first, then by port and check id, so output is stable.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.port.cmp(&b.port))
                .then(a.id.cmp(b.id))
                .then(a.addresses.cmp(&b.addresses))
                .then(a.title.cmp(&b.title))
        });
        self.findings.dedup();
    }
}

/// Runs every check: the static ones over `facts`, then (unless `probe`
/// is None) the probing ones on worker threads. `done` counts probed
/// services, for a progress bar.
pub fn run(facts: &Facts, probe: Option<probe::Options>, done: &std::sync::atomic::AtomicUsize) -> Outcome {
    let mut outcome = Outcome::default();
    outcome.findings.extend(exposure::findings(facts));
    let (found, skipped) = reachability::findings(facts);
    outcome.findings.extend(found);
    outcome.skipped.extend(skipped);
    let (found, skipped) = owners::findings(facts);
    outcome.findings.extend(found);
    outcome.skipped.extend(skipped);
    match probe {
        Some(options) => {
            let judge = |service: &probe::Service| {
                let mut findings = noauth::check(service, facts);
                findings.extend(browser::check(service, facts));
                findings.extend(tls::check(service, facts));
                findings.extend(owners::check(service, facts));
                findings
            };
            let (found, skipped) = probe::run(facts, options, done, judge);
            outcome.findings.extend(found);
            outcome.skipped.extend(skipped);
        }
        None => outcome.skipped.push(Skipped {
            check: "probe".into(),
            reason: "--no-probe: no service was contacted (http.*, noauth.*, tls.* and owner.root-http not checked)"
                .into(),
            remedy: None,
        }),
    }
    outcome.sort();
    outcome
}

/// Joins words as "a, b and c".
pub fn list_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Keeps evidence short and on one line: at most `max` characters of
/// `text`, control characters turned into spaces.
pub fn clip(text: &str, max: usize) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    if clean.chars().count() <= max {
        clean.to_string()
    } else {
        let cut: String = clean.chars().take(max).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_and_order() {
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
    }

    #[test]
    fn check_ids_are_unique() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
