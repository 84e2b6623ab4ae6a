//! `berth audit`: security findings about the machine's listeners.
//!
//! The command reads the facts ([`Facts`]: one inventory Snapshot's
//! listening TCP sockets and bound UDP sockets of berth's own network
//! namespace, grouped by [`listeners`], how far each reaches by
//! [`reachability`], the firewall rules, the system's settings); [`run`]
//! reads the listeners' executables ([`Machine::gather`]), probes every
//! TCP listener with harmless requests ([`probe`], the only part that talks
//! to services), and hands all of it to the checks, which only judge.
//!
//! Every check implements [`Check`] and is listed once, in [`check::ALL`];
//! the modules hold them by the family of their ids:
//! - [`exposure`]: listeners bound beyond loopback, and where they are reachable;
//! - [`reachability`]: what makes a port reachable besides its bind address
//!   (DNAT rules, docker-proxy, route_localnet, ssh forwards);
//! - [`browser`]: what a web page can do to a loopback HTTP service (DNS
//!   rebinding, CORS, Private Network Access, WebSocket origins);
//! - [`noauth`]: well-known services that answer without authentication;
//! - [`tls`]: plaintext where TLS is expected, expired or self-signed certificates;
//! - [`owners`]: odd owners (deleted executables, split loopback holders,
//!   root serving unauthenticated HTTP).
//!
//! [`policy`], the user's list of expected listeners, is applied to the
//! findings afterwards; [`catalog`] names well-known services.
//!
//! Besides the probes, the audit reads /proc/PID/exe through the inventory
//! ([`Machine::gather`]), the local CA certificates ([`probe::trust`]) and
//! the policy file ([`policy::load`]); the checks read nothing.

pub mod browser;
pub mod catalog;
pub mod check;
pub mod exposure;
pub mod facts;
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

use berth_inventory::Protocol;
pub use check::{catalogue, Check};
pub use facts::{Facts, Machine};
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
    /// The check's stable id, e.g. `noauth.redis` (see [`catalogue`]).
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
        debug_assert!(catalogue().any(|c| c.id == id), "finding id {id} is not in the catalogue");
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

/// The stable description of one check id: SARIF's rules come from here.
#[derive(Clone, Copy, Debug)]
pub struct CheckInfo {
    pub id: &'static str,
    /// What the check looks for, in a line.
    pub summary: &'static str,
    /// The usual severity (the finding may be raised or lowered by context).
    pub default_severity: Severity,
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

/// Runs every check: the static ones over the machine's facts, then
/// (unless `probe` is None) the probing ones on the worker threads that
/// probe each service. `done` counts probed services, for a progress bar.
pub fn run(facts: &Facts, probe: Option<probe::Options>, done: &std::sync::atomic::AtomicUsize) -> Outcome {
    let machine = Machine::gather(facts);
    let mut outcome = Outcome::default();
    for check in check::ALL {
        outcome.findings.extend(check.judge_machine(&machine));
        outcome.skipped.extend(check.skipped(&machine));
    }
    match probe {
        Some(options) => {
            let judge = |service: &probe::Service| {
                check::ALL.iter().flat_map(|check| check.judge_service(service, &machine)).collect()
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
        let mut ids: Vec<&str> = catalogue().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
