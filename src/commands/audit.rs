//! `berth audit`: read the facts (one Snapshot of listeners, the firewall
//! rules, the system's settings), run the checks, apply the policy, render,
//! and pick the exit code from `--fail-on`.

use crate::stderr::say;
use std::io::Write;

use crate::audit::{self, policy, probe, Facts};
use crate::cli::{AuditArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use berth_inventory::Protocol;

pub fn run(args: &AuditArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    // A policy that cannot be read or parsed is an input error (exit 2), but
    // the audit still runs and prints every finding, unsilenced: a typo in
    // the policy must not hide what the machine exposes.
    let (policy, policy_error) = match &args.policy {
        Some(path) if args.write_policy.is_none() => match policy::load(path) {
            Ok(policy) => (Some(policy), None),
            Err(e) => (None, Some(e)),
        },
        _ => (None, None),
    };

    let facts = gather(global)?;

    let probing = (!args.no_probe).then_some(probe::Options { service_timeout: args.timeout, budget: args.budget });
    let tcp_listeners = facts.listeners.iter().filter(|l| l.protocol == Protocol::Tcp).count();
    let steps = if probing.is_some() { tcp_listeners } else { 0 };
    let mut outcome = super::with_progress(steps, "auditing [{bar:30}] {pos}/{len} services", |done| {
        audit::run(&facts, probing, done)
    });

    // The policy accepts what this audit found, so that the next run
    // (`--policy FILE`) reports only what is new. What could not be
    // checked is not in it: the note says so.
    if let Some(destination) = &args.write_policy {
        let text = policy::write(&facts, &outcome);
        for skipped in &outcome.skipped {
            say!(
                "berth: note: {} (not in the policy: what it would find is not accepted)",
                render::audit::skipped_line(skipped)
            );
        }
        if destination.as_os_str() == "-" {
            let mut out = super::stdout();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        } else {
            std::fs::write(destination, text).map_err(|e| {
                Error::Write(format!(
                    "cannot write the policy to {}: {}; give a writable path, or - for stdout",
                    destination.display(),
                    crate::net::error_text(&e)
                ))
            })?;
            say!(
                "berth: wrote a policy of {} and {} to {}",
                render::plural(facts.listeners.len(), "listener", "listeners"),
                render::plural(outcome.findings.len(), "accepted finding", "accepted findings"),
                destination.display()
            );
        }
        return Ok(ExitCode::Success);
    }

    if let Some(policy) = &policy {
        if policy.implicit_exposure() && !policy.listeners.is_empty() {
            say!(
                "berth: note: the policy has no `version = {}`: it silences only the exposure findings of the listeners it lists (and the ids in their allow); berth audit --write-policy FILE writes one that lists and accepts every finding of today's machine",
                policy::VERSION
            );
        }
        policy::apply(policy, &facts, &mut outcome);
        outcome.sort();
    }

    let threshold_hit = args.fail_on.0.is_some_and(|level| outcome.findings.iter().any(|f| f.severity >= level));
    outcome.findings.retain(|f| f.severity >= args.min_severity);

    let mut out = super::stdout();
    if args.sarif {
        render::audit::write_sarif(&mut out, &outcome)?;
    } else if args.json {
        render::json::write_array(&mut out, &outcome.findings)?;
    } else {
        let style = crate::args::style(global);
        render::audit::write_report(&mut out, &outcome, facts.listeners.len(), &style)?;
    }
    out.flush()?;
    if args.json || args.sarif {
        for skipped in &outcome.skipped {
            say!("berth: note: {}", render::audit::skipped_line(skipped));
        }
    }
    if let Some(error) = policy_error {
        return Err(Error::Usage(format!("{error} (the findings above are unfiltered; fix the policy and run again)")));
    }
    Ok(if threshold_hit { ExitCode::NothingFound } else { ExitCode::Success })
}

/// The audit's facts ([`Facts::gather`]), with the note on a fallback
/// source said once.
fn gather(global: &GlobalArgs) -> Result<Facts, Error> {
    let (facts, snapshot) = Facts::gather(global.source)?;
    super::print_source_note(&snapshot);
    Ok(facts)
}
