//! `berth scan [HOST]`: resolve once, scan, find the holders of the open
//! ports when the host is this machine, render.

use crate::args::Output;
use crate::cli::{GlobalArgs, ScanArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::{limits, local, resolve, scan};
use crate::render;
use crate::stderr::say;
use berth_inventory as inventory;

/// The soft descriptor limit berth asks for (as far as the hard limit allows).
const WANTED_FD_LIMIT: u64 = 16_384;

pub fn run(args: &ScanArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let ports = &args.ports.0;
    let address = resolve::resolve_one(&args.host)?;
    let protocol = args.protocol();
    let soft_limit = limits::raise_fd_limit(WANTED_FD_LIMIT);
    let options = scan::ScanOptions {
        address,
        protocol,
        timeout: args.timeout,
        in_flight: limits::in_flight_budget(soft_limit, args.concurrency),
        threads: 0,
    };

    let mut outcome = super::with_progress(ports.len(), "scanning [{bar:30}] {pos}/{len} ports, {eta} left", |done| {
        scan::scan(ports, &options, done)
    })?;

    // Who holds the open ports, when they are ports of this machine: one
    // snapshot, listening sockets only. TCP ports that timed out are asked
    // about too: a local listener with a full accept queue drops the SYN,
    // which is not a firewall.
    let timed_out = if protocol == inventory::Protocol::Tcp { outcome.timed_out_ports.as_slice() } else { &[] };
    let asked: Vec<u16> = outcome.found.iter().map(|f| f.port).chain(timed_out.iter().copied()).collect();
    let snapshot = if !asked.is_empty() && local::is_this_machine(address) {
        match inventory::collect(&args.holders_query(&asked, global)) {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                say!("berth: note: cannot tell who holds the open ports: {e}");
                None
            }
        }
    } else {
        None
    };
    if let (Some(snapshot), inventory::Protocol::Tcp) = (&snapshot, protocol) {
        local::not_accepting(&mut outcome, address, snapshot, args.timeout);
    }
    let entries = local::entries(&outcome.found, address, protocol, snapshot.as_ref());

    let heading = render::scan::Heading { host: &args.host, address, protocol, outcome: &outcome };
    Output::new(args.json, global).write(
        |out| render::json::write_array(out, &entries),
        |out, style| render::scan::write_report(out, &heading, &entries, style),
    )?;
    for note in render::scan::notes(&outcome, &entries, args.timeout) {
        say!("berth: note: {note}");
    }
    if let Some(snapshot) = &snapshot {
        super::print_visibility_notes(snapshot, &local::unseen_counts(&entries));
    }
    Ok(if entries.is_empty() { ExitCode::NothingFound } else { ExitCode::Success })
}
