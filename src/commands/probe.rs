//! `berth probe TARGET`: resolve, probe every address, render.

use crate::args::Output;
use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::{probe, resolve};
use crate::render;

pub fn run(args: &ProbeArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let addresses = resolve::resolve(&args.target.host)?;
    let report = probe::probe(&args.target, &addresses, args.timeout);
    Output::new(args.json, global).write(
        |out| render::json::write_value(out, &report),
        |out, style| render::probe::write_report(out, &report, style),
    )?;
    Ok(if report.reachable { ExitCode::Success } else { ExitCode::NothingFound })
}
