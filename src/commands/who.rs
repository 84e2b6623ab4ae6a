//! `berth who PORT`.

use std::io::Write;

use crate::analysis::who;
use crate::cli::{GlobalArgs, WhoArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render::{self, style::Style};
use berth_inventory::target::PortTarget;
use berth_inventory::{self as inventory, Protocol, Query};

pub fn run(args: &WhoArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let target = PortTarget::parse(&args.target)?;
    let query = Query {
        tcp: target.protocol.is_none_or(|p| p == Protocol::Tcp),
        udp: target.protocol.is_none_or(|p| p == Protocol::Udp),
        tcp_listening_only: false,
        source: global.source.into(),
        all_netns: args.all_netns,
        ancestors: true,
        tcp_counters: args.json,
        owners: true,
        port: Some(target.port),
    };
    let snapshot = inventory::collect(&query)?;
    let report = who::who(&target, &snapshot);

    let mut out = super::stdout();
    if args.json {
        render::json::write_value(&mut out, &report)?;
    } else {
        render::who::write_report(&mut out, &report, &Style::detect(global.color.into()))?;
    }
    out.flush()?;
    super::print_visibility_notes(&snapshot, &report.unseen);
    Ok(if report.held { ExitCode::Success } else { ExitCode::NothingFound })
}
