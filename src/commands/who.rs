//! `berth who PORT`.

use crate::analysis::who;
use crate::args::Output;
use crate::cli::{GlobalArgs, WhoArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use berth_inventory as inventory;

pub fn run(args: &WhoArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let snapshot = inventory::collect(&args.query(global))?;
    let report = who::who(&args.target, &snapshot);
    Output::new(args.json, global).write(
        |out| render::json::write_value(out, &report),
        |out, style| render::who::write_report(out, &report, style),
    )?;
    super::print_visibility_notes(&snapshot, &report.unseen);
    Ok(if report.held { ExitCode::Success } else { ExitCode::NothingFound })
}
