//! `berth probe TARGET`: resolve, probe every address, render.

use crate::args::Output;
use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::{local, probe, resolve};
use crate::render;
use crate::stderr::say;
use berth_inventory::{self as inventory, Query};

pub fn run(args: &ProbeArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let addresses = resolve::resolve(&args.target.host)?;
    let mut report = probe::probe(&args.target, &addresses, args.timeout);
    // A connect to this machine that timed out: the port's listeners say
    // whether their accept queue is full (the probe itself cannot tell
    // that from a dropped SYN).
    if report.addresses.iter().any(|a| a.state == probe::Reach::TimedOut && local::is_this_machine(a.address)) {
        let query = Query { udp: false, port: Some(report.port), ..Query::listeners(global.source) };
        match inventory::collect(&query) {
            Ok(snapshot) => probe::explain_timeouts(&mut report, &snapshot),
            Err(e) => say!("berth: note: cannot read this machine's listeners to explain the timeout: {e}"),
        }
    }
    Output::new(args.json, global).write(
        |out| render::json::write_value(out, &report),
        |out, style| render::probe::write_report(out, &report, style),
    )?;
    Ok(if report.reachable { ExitCode::Success } else { ExitCode::NothingFound })
}
