//! `noauth.memcached`: a memcached that answers `stats` without
//! authentication. Anyone who can connect reads and overwrites cached
//! values (sessions, rendered pages, tokens) and can flush the cache. The
//! question is in [`crate::audit::probe::memcached`].

use super::{exposure, finding, severity, who_can};
use crate::audit::probe::memcached::Stats;
use crate::audit::probe::Service;
use crate::audit::{clip, Check, CheckInfo, Facts, Finding, Machine, Severity};

/// `noauth.memcached`.
pub struct Memcached;

impl Check for Memcached {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "noauth.memcached",
            summary: "memcached answers without authentication",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, machine: &Machine) -> Vec<Finding> {
        finding_of(service, machine.facts).into_iter().collect()
    }
}

/// A finding when memcached answered `stats` without a login.
fn finding_of(service: &Service, facts: &Facts) -> Option<Finding> {
    let Some(Stats::Open(stats)) = &service.answers.memcached else { return None };
    let value = |name: &str| stats.iter().find(|(n, _)| n == name).map(|(_, v)| clip(v, 40));
    let mut evidence =
        vec![format!("stats answered without authentication (STAT pid {})", value("pid").unwrap_or_default())];
    if let Some(version) = value("version") {
        evidence.push(format!("STAT version {version}"));
    }
    if let Some(items) = value("curr_items") {
        evidence.push(format!("STAT curr_items {items}"));
    }
    let (reach, reach_line) = exposure(service, facts);
    evidence.push(reach_line);
    let level = severity(&reach, (Severity::Critical, Severity::High, Severity::Medium));
    let title = format!("memcached answers without authentication {}", who_can(&reach));
    let fix = "start memcached with -l 127.0.0.1 -U 0 and an auth file (-Y /etc/memcached/authfile) or SASL (-S), e.g. in /etc/memcached.conf";
    Some(finding("noauth.memcached", level, title, service, evidence, fix))
}
