//! `berth scan [HOST]`: parse, resolve once, scan, find the holders of the
//! open ports when the host is this machine, render.

use std::io::Write;

use crate::cli::{GlobalArgs, ScanArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::{limits, local, ports, resolve, scan};
use crate::render::{self, style::Style};
use berth_inventory::{self as inventory, Protocol, Query};

/// The soft descriptor limit berth asks for (as far as the hard limit allows).
const WANTED_FD_LIMIT: u64 = 16_384;

pub fn run(args: &ScanArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let ports = ports::parse_ports(&args.ports)?;
    let timeout = super::probe::seconds(args.timeout, "--timeout")?;
    if args.concurrency == Some(0) {
        return Err(Error::Usage("--concurrency 0: give at least 1 attempt in flight".into()));
    }
    let address = resolve::resolve_one(&args.host)?;
    let protocol = if args.udp { Protocol::Udp } else { Protocol::Tcp };
    let soft_limit = limits::raise_fd_limit(WANTED_FD_LIMIT);
    let options = scan::ScanOptions {
        address,
        protocol,
        timeout,
        in_flight: limits::in_flight_budget(soft_limit, args.concurrency),
        threads: 0,
    };

    let outcome = super::with_progress(ports.len(), "scanning [{bar:30}] {pos}/{len} ports, {eta} left", |done| {
        scan::scan(&ports, &options, done)
    })?;

    // Who holds the open ports, when they are ports of this machine: one
    // snapshot, listening sockets only.
    let snapshot = if !outcome.found.is_empty() && local::is_this_machine(address) {
        let query = Query {
            tcp: protocol == Protocol::Tcp,
            udp: protocol == Protocol::Udp,
            port: (outcome.found.len() == 1).then(|| outcome.found[0].port),
            ..Query::listeners(global.source.into())
        };
        match inventory::collect(&query) {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                eprintln!("berth: note: cannot tell who holds the open ports: {e}");
                None
            }
        }
    } else {
        None
    };
    let entries = local::entries(&outcome.found, address, protocol, snapshot.as_ref());

    let mut out = super::stdout();
    if args.json {
        render::json::write_array(&mut out, &entries)?;
    } else {
        let heading = render::scan::Heading { host: &args.host, address, protocol, outcome: &outcome };
        render::scan::write_report(&mut out, &heading, &entries, &Style::detect(global.color.into()))?;
    }
    out.flush()?;
    for note in render::scan::notes(&outcome, timeout) {
        eprintln!("berth: note: {note}");
    }
    if let Some(snapshot) = &snapshot {
        if entries.iter().any(|e| e.owners.as_ref().is_some_and(Vec::is_empty)) && !snapshot.visibility.running_as_root
        {
            eprintln!("berth: note: some open ports belong to processes of other users; run as root to see them");
        }
    }
    Ok(if entries.is_empty() { ExitCode::NothingFound } else { ExitCode::Success })
}
