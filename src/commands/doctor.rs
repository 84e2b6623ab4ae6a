//! `berth doctor [PORT]`: the loopback setup's health, or why one port
//! will not bind or connect. Reads one Snapshot, the system's settings and
//! the firewall rules, runs the checks, prints them.

use crate::analysis::doctor::{self, Facts};
use crate::args::Output;
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use berth_inventory::{self as inventory, firewall, system};

pub fn run(args: &DoctorArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let snapshot = inventory::collect(&args.query(global))?;
    let system = system::collect();
    let firewall = firewall::read();
    let facts = Facts { snapshot: &snapshot, system: &system, firewall: &firewall };
    let report = match &args.target {
        Some(target) => doctor::port(target, &facts),
        None => doctor::machine(&facts),
    };

    Output::new(args.json, global).write(
        |out| render::json::write_value(out, &report),
        |out, style| render::doctor::write_report(out, &report, style),
    )?;
    super::print_source_note(&snapshot);
    Ok(if report.has_problems() { ExitCode::NothingFound } else { ExitCode::Success })
}
