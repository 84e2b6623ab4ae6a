//! `berth probe TARGET`: parse, resolve, probe every address, render.

use std::io::Write;
use std::time::Duration;

use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::{probe, resolve};
use crate::render::{self, style::Style};

pub fn run(args: &ProbeArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let target = resolve::ProbeTarget::parse(&args.target)?;
    let timeout = seconds(args.timeout, "--timeout")?;
    let addresses = resolve::resolve(&target.host)?;
    let report = probe::probe(&target, &addresses, timeout);

    let mut out = super::stdout();
    if args.json {
        render::json::write_value(&mut out, &report)?;
    } else {
        render::probe::write_report(&mut out, &report, &Style::detect(global.color.into()))?;
    }
    out.flush()?;
    Ok(if report.reachable { ExitCode::Success } else { ExitCode::NothingFound })
}

/// A positive, finite number of seconds as a Duration.
pub(crate) fn seconds(value: f64, flag: &str) -> Result<Duration, Error> {
    if value.is_finite() && value > 0.0 && value <= 3600.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::Usage(format!("{flag} {value}: give a number of seconds above 0, at most 3600")))
    }
}
