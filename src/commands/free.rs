//! `berth free`: free ports, checked by binding.

use crate::stderr::say;
use std::io::Write;
use std::net::IpAddr;

use serde::Serialize;

use crate::actions::bind::{search, Search};
use crate::analysis::free::candidates;
use crate::args::Output;
use crate::cli::{FreeArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use berth_inventory::{self as inventory, system, Protocol};

#[derive(Serialize)]
struct FreeReport {
    ports: Vec<u16>,
    protocols: Vec<Protocol>,
    addresses: Vec<IpAddr>,
    range: (u16, u16),
}

pub fn run(args: &FreeArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let range = args.range;
    let addresses = args.addresses();
    let protocols = args.protocols();
    let snapshot = inventory::collect(&args.query(global))?;
    let pool = candidates(range, &snapshot.port_ranges);
    let shown_range = range.unwrap_or_else(|| (pool.first().copied().unwrap_or(0), pool.last().copied().unwrap_or(0)));
    if pool.is_empty() {
        return Err(Error::Usage(format!(
            "no candidate ports: the dynamic range 49152-65535 lies inside the kernel's ephemeral range {}-{}; choose one with --range LOW-HIGH",
            snapshot.port_ranges.ephemeral.0, snapshot.port_ranges.ephemeral.1
        )));
    }

    let Search { ports, ipv6_missing, shortfall } = search(&pool, args.count, &protocols, &addresses, &snapshot);
    if ipv6_missing {
        say!("berth: note: IPv6 is not available here; checked the IPv4 addresses only");
    }
    if ports.len() < args.count {
        // The sysctl only matters to the message, and only when a bind said EACCES.
        let unprivileged_start =
            if shortfall.needs_privilege > 0 { system::collect().unprivileged_port_start } else { None };
        say!("berth: {}", shortfall.message(ports.len(), args.count, shown_range, pool.len(), unprivileged_start));
        return Ok(ExitCode::NothingFound);
    }

    let report = FreeReport { ports, protocols, addresses, range: shown_range };
    Output::new(args.json, global).write(
        |out| render::json::write_value(out, &report),
        |out, _| report.ports.iter().try_for_each(|port| writeln!(out, "{port}")),
    )?;
    Ok(ExitCode::Success)
}
