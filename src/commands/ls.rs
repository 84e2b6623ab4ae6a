//! `berth ls`.

use std::io::Write;

use crate::analysis::filter::{sort_for_listing, LsFilter};
use crate::analysis::report::SocketReport;
use crate::analysis::unseen::UnseenCounts;
use crate::cli::{GlobalArgs, LsArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render::{self, ls::LsLayout, style::Style};
use berth_inventory::{self as inventory, Query, Socket};

pub fn run(args: &LsArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let filter = LsFilter {
        all_states: args.all,
        tcp: args.tcp,
        udp: args.udp,
        ipv4: args.ipv4,
        ipv6: args.ipv6,
        port: args.port,
        pid: args.pid,
        process: args.process.clone(),
        exposed: args.exposed,
    };
    if args.all_netns && unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "berth: note: --all-netns needs root to enter other namespaces; listing this one only where it cannot"
        );
    }
    let query = Query {
        tcp: filter.wants_protocol(inventory::Protocol::Tcp),
        udp: filter.wants_protocol(inventory::Protocol::Udp),
        tcp_listening_only: !args.all,
        source: global.source.into(),
        all_netns: args.all_netns,
        ancestors: false,
        tcp_counters: args.json,
        owners: true,
        port: args.port,
    };
    let snapshot = inventory::collect(&query)?;
    let mut shown: Vec<&Socket> = snapshot.sockets.iter().filter(|s| filter.matches(s, &snapshot)).collect();
    sort_for_listing(&mut shown);

    let mut out = super::stdout();
    if args.json {
        render::json::write_array(&mut out, shown.iter().map(|s| SocketReport::new(s, &snapshot)))?;
    } else {
        let style = Style::detect(global.color.into());
        let layout = LsLayout { connections: args.all, namespaces: args.all_netns };
        render::ls::write_table(&mut out, shown.iter().map(|s| SocketReport::new(s, &snapshot)), &layout, &style)?;
    }
    out.flush()?;
    super::print_visibility_notes(&snapshot, &UnseenCounts::of(shown.iter().copied(), &snapshot));
    Ok(ExitCode::Success)
}
