//! `berth ls`.

use crate::analysis::filter::sort_for_listing;
use crate::analysis::report::SocketReport;
use crate::analysis::unseen::UnseenCounts;
use crate::args::Output;
use crate::cli::{GlobalArgs, LsArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use crate::stderr::say;
use berth_inventory::{self as inventory, Socket};

pub fn run(args: &LsArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    if args.all_netns && unsafe { libc::geteuid() } != 0 {
        say!("berth: note: --all-netns needs root to enter other namespaces; listing this one only where it cannot");
    }
    let filter = args.filter();
    let snapshot = inventory::collect(&args.query(global))?;
    let mut shown: Vec<&Socket> = snapshot.sockets.iter().filter(|s| filter.matches(s, &snapshot)).collect();
    sort_for_listing(&mut shown, filter.port);

    let reports = shown.iter().map(|s| SocketReport::new(s, &snapshot));
    Output::new(args.json, global).write(
        |out| render::json::write_array(out, reports.clone()),
        |out, style| render::ls::write_table(out, reports.clone(), &args.layout(), style),
    )?;
    super::print_visibility_notes(&snapshot, &UnseenCounts::of(shown.iter().copied(), &snapshot));
    Ok(ExitCode::Success)
}
