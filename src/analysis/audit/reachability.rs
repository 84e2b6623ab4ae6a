//! How far each listener reaches beyond its bind address. (Being written.)

use serde::Serialize;

use super::{Facts, Finding, Listener, Skipped};
use crate::inventory::firewall::Firewall;
use crate::inventory::system::SystemFacts;
use crate::inventory::Interface;

/// Whether hosts other than this one can connect to a listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "remote", rename_all = "snake_case")]
pub enum Remote {
    /// Bound to loopback only and nothing forwards to it.
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
}

/// The reach of every listener, in order.
pub fn assess(
    listeners: &[Listener],
    _firewall: &Firewall,
    _system: &SystemFacts,
    _interfaces: &[Interface],
) -> Vec<Reach> {
    listeners
        .iter()
        .map(|l| Reach {
            remote: if l.loopback_only() { Remote::No } else { Remote::Yes { why: "bound beyond loopback".into() } },
            paths: Vec::new(),
        })
        .collect()
}

/// The reach.* findings.
pub fn findings(_facts: &Facts) -> (Vec<Finding>, Vec<Skipped>) {
    (Vec::new(), Vec::new())
}
