//! `noauth.postgres-trust`: a PostgreSQL server that lets a TCP client in
//! as a database role without any password (`trust` in pg_hba.conf).
//! Anyone who can connect is then that role — for `postgres`, a superuser
//! who can read every table and run programs with `COPY ... PROGRAM`. The
//! questions are in [`crate::audit::probe::postgres`].

use super::{exposure, finding, severity, who_can};
use crate::audit::probe::postgres::{Login, Startup};
use crate::audit::probe::Service;
use crate::audit::{clip, Check, CheckInfo, Facts, Finding, Machine, Severity};

/// `noauth.postgres-trust`.
pub struct PostgresTrust;

impl Check for PostgresTrust {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "noauth.postgres-trust",
            summary: "PostgreSQL lets a client in without a password (trust authentication)",
            default_severity: Severity::High,
        }]
    }

    fn judge_service(&self, service: &Service, machine: &Machine) -> Vec<Finding> {
        finding_of(service, machine.facts).into_iter().collect()
    }
}

/// A finding when a role got in without a password.
fn finding_of(service: &Service, facts: &Facts) -> Option<Finding> {
    let Some(Login { user, answer: Startup::Trusted { parameters, error } }) = &service.answers.postgres else {
        return None;
    };
    let mut evidence = vec![format!(
        "a StartupMessage as user '{}' answered AuthenticationOk (R, code 0) without asking for a password",
        clip(user, 40)
    )];
    if let Some((_, version)) = parameters.iter().find(|(name, _)| name == "server_version") {
        evidence.push(format!("server_version {}", clip(version, 40)));
    }
    if let Some(error) = error {
        evidence.push(format!("after authentication: {}", clip(error, 120)));
    }
    let (reach, reach_line) = exposure(service, facts);
    evidence.push(reach_line);
    let level = severity(&reach, (Severity::Critical, Severity::High, Severity::Medium));
    let title = format!("PostgreSQL lets clients in without a password (trust) {}", who_can(&reach));
    let fix = "in pg_hba.conf replace trust with scram-sha-256 (host all all 127.0.0.1/32 scram-sha-256), set role passwords, then reload";
    Some(finding("noauth.postgres-trust", level, title, service, evidence, fix))
}
