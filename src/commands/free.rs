//! `berth free`: free ports, checked by binding.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::actions::bind::find_free;
use crate::analysis::free::{candidates, parse_range};
use crate::cli::{FreeArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use berth_inventory::{self as inventory, Protocol, Query};

/// At most this many ports at once: more is a mistake, not a need.
const MAX_COUNT: usize = 1000;

#[derive(Serialize)]
struct FreeReport {
    ports: Vec<u16>,
    protocols: Vec<Protocol>,
    addresses: Vec<IpAddr>,
    range: (u16, u16),
}

pub fn run(args: &FreeArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    if args.count == 0 || args.count > MAX_COUNT {
        return Err(Error::Usage(format!("-n {} is out of range: ask for 1 to {MAX_COUNT} ports", args.count)));
    }
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let addresses = parse_addresses(&args.bind)?;
    let protocols = if args.both {
        vec![Protocol::Tcp, Protocol::Udp]
    } else if args.udp {
        vec![Protocol::Udp]
    } else {
        vec![Protocol::Tcp]
    };
    let query = Query {
        tcp: protocols.contains(&Protocol::Tcp),
        udp: protocols.contains(&Protocol::Udp),
        source: global.source.into(),
        tcp_counters: false,
        owners: false,
        ..Query::default()
    };
    let snapshot = inventory::collect(&query)?;
    let pool = candidates(range, &snapshot.port_ranges);
    let shown_range = range.unwrap_or_else(|| (pool.first().copied().unwrap_or(0), pool.last().copied().unwrap_or(0)));
    if pool.is_empty() {
        return Err(Error::Usage(format!(
            "no candidate ports: the dynamic range 49152-65535 lies inside the kernel's ephemeral range {}-{}; choose one with --range LOW-HIGH",
            snapshot.port_ranges.ephemeral.0, snapshot.port_ranges.ephemeral.1
        )));
    }

    let (ports, ipv6_missing) = find_free(&pool, args.count, &protocols, &addresses, &snapshot);
    if ipv6_missing {
        eprintln!("berth: note: IPv6 is not available here; checked the IPv4 addresses only");
    }
    if ports.len() < args.count {
        eprintln!(
            "berth: only {} of {} requested ports are free in {}-{} ({} candidates); widen the range with --range LOW-HIGH",
            ports.len(),
            args.count,
            shown_range.0,
            shown_range.1,
            pool.len()
        );
        return Ok(ExitCode::NothingFound);
    }

    let mut out = super::stdout();
    if args.json {
        let report = FreeReport { ports, protocols, addresses, range: shown_range };
        crate::render::json::write_value(&mut out, &report)?;
    } else {
        for port in ports {
            writeln!(out, "{port}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// `--bind` values; loopback in both families by default.
pub(crate) fn parse_addresses(given: &[String]) -> Result<Vec<IpAddr>, Error> {
    if given.is_empty() {
        return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
    let mut addresses = Vec::new();
    for text in given {
        if text.eq_ignore_ascii_case("localhost") {
            addresses.extend([IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
            continue;
        }
        let trimmed = text.trim_start_matches('[').trim_end_matches(']');
        let ip = trimmed.parse::<IpAddr>().map_err(|_| {
            Error::Usage(format!("'{text}' is not an IP address: give one such as 127.0.0.1, ::1 or 0.0.0.0"))
        })?;
        addresses.push(ip);
    }
    Ok(addresses)
}
