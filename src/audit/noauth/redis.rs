//! `noauth.redis`: a Redis (or Valkey, KeyDB) that answers `PING` without
//! `AUTH`. Anyone who can connect reads and writes every key, and with
//! `CONFIG SET` and `MODULE LOAD` often runs code as the server's user.
//!
//! Protected mode on while no password is set means Redis refuses every
//! client that is not on loopback, so the finding is then judged as a
//! loopback one whatever the bind address. The questions are in
//! [`crate::audit::probe::redis`].

use super::{exposure, finding, severity, who_can, Exposure};
use crate::audit::probe::Service;
use crate::audit::{Check, CheckInfo, Facts, Finding, Machine, Severity};

/// `noauth.redis`.
pub struct Redis;

impl Check for Redis {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "noauth.redis",
            summary: "Redis answers without a password",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, machine: &Machine) -> Vec<Finding> {
        finding_of(service, machine.facts).into_iter().collect()
    }
}

/// A finding when Redis let berth in without a password.
fn finding_of(service: &Service, facts: &Facts) -> Option<Finding> {
    let open = service.answers.redis.as_ref()?;
    let mut evidence = vec!["PING answered +PONG without AUTH".to_string()];
    if let Some(line) = &open.version {
        evidence.push(line.clone());
    }
    let (mut reach, reach_line) = exposure(service, facts);
    evidence.push(reach_line);
    match &open.protected_mode {
        Ok(true) if reach != Exposure::Local => {
            evidence.push(
                "CONFIG GET protected-mode: yes (clients not on loopback get -DENIED, so only local ones get in)"
                    .into(),
            );
            reach = Exposure::Local;
        }
        Ok(true) => evidence.push("CONFIG GET protected-mode: yes".into()),
        Ok(false) => evidence.push("CONFIG GET protected-mode: no".into()),
        Err(e) => evidence.push(format!("protected mode unknown: {e}")),
    }
    let level = severity(&reach, (Severity::Critical, Severity::High, Severity::Medium));
    let title = format!("Redis answers without a password {}", who_can(&reach));
    let fix = "set a password (requirepass SECRET, or an ACL user) and bind loopback only (bind 127.0.0.1 -::1) in redis.conf";
    Some(finding("noauth.redis", level, title, service, evidence, fix))
}
