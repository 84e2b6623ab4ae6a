//! `berth doctor [PORT]`: the loopback setup's health, or why one port
//! will not bind or connect. Reads one Snapshot, the system's settings and
//! the firewall rules, runs the checks, prints them.

use std::io::Write;

use crate::analysis::doctor::{self, Facts};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render::{self, style::Style};
use berth_inventory::target::PortTarget;
use berth_inventory::{self as inventory, firewall, system, Protocol, Query};

pub fn run(args: &DoctorArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    // Parsed before anything is read, so bad input costs nothing (exit 2).
    let target = args.target.as_deref().map(PortTarget::parse).transpose()?;
    let query = match &target {
        // The port's sockets with their owners, as `who` reads them.
        Some(target) => Query {
            tcp: target.protocol.is_none_or(|p| p == Protocol::Tcp),
            udp: target.protocol.is_none_or(|p| p == Protocol::Udp),
            source: global.source.into(),
            tcp_counters: false,
            port: Some(target.port),
            ..Query::default()
        },
        // Every socket in every state, for the ephemeral range; owners are
        // not needed, so the pass over /proc is skipped.
        None => Query { source: global.source.into(), tcp_counters: false, owners: false, ..Query::default() },
    };
    let snapshot = inventory::collect(&query)?;
    let system = system::collect();
    let firewall = firewall::read();
    let facts = Facts { snapshot: &snapshot, system: &system, firewall: &firewall };
    let report = match &target {
        Some(target) => doctor::port(target, &facts),
        None => doctor::machine(&facts),
    };

    let mut out = super::stdout();
    if args.json {
        render::json::write_value(&mut out, &report)?;
    } else {
        render::doctor::write_report(&mut out, &report, &Style::detect(global.color.into()))?;
    }
    out.flush()?;
    super::print_source_note(&snapshot);
    Ok(if report.has_problems() { ExitCode::NothingFound } else { ExitCode::Success })
}
