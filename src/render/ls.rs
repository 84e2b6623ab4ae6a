//! The `berth ls` table.

use crate::printable::printable;
use std::collections::HashMap;
use std::io::{self, Write};

use super::style::{Paint, Style};
use super::table::{Cell, Table};
use crate::analysis::report::SocketReport;
use crate::analysis::unseen::{unseen_holder, OwnerStatus};
use berth_inventory::target::address_with_port;
use berth_inventory::{Family, Protocol, SocketState};

pub struct LsLayout {
    /// Show state, queues and peer (for `-a`).
    pub connections: bool,
    /// Show the namespace column (for `--all-netns`).
    pub namespaces: bool,
}

/// Writes the table in two passes over `reports` (measure, then write), so
/// a large listing never holds its rows in memory.
pub fn write_table<'a, I>(out: &mut impl Write, reports: I, layout: &LsLayout, style: &Style) -> io::Result<()>
where
    I: Iterator<Item = SocketReport<'a>> + Clone,
{
    let mut headers: Vec<(&'static str, bool)> = vec![("PROTO", false)];
    if layout.connections {
        headers.push(("STATE", false));
        headers.push(("RECV-Q", true));
        headers.push(("SEND-Q", true));
    }
    headers.extend([("ADDRESS", false), ("PORT", true)]);
    if layout.connections {
        headers.push(("PEER", false));
    }
    headers.extend([("SERVICE", false), ("SCOPE", false)]);
    if layout.namespaces {
        headers.push(("NETNS", false));
    }
    headers.extend([("PID", true), ("USER", false), ("COMMAND", false)]);
    let mut table = Table::new(headers);
    for report in reports.clone() {
        table.measure(&row_cells(&report, layout));
    }
    if table.rows() == 0 {
        return writeln!(out, "no sockets match");
    }
    table.write_header(out, style)?;
    // A process's command line is joined and escaped once, not once per socket.
    let mut commands: HashMap<u32, (String, Option<String>)> = HashMap::new();
    for report in reports {
        let mut row = row_cells(&report, layout);
        row.push(command_cell(&report, &mut commands));
        table.write_row(out, &row, style)?;
    }
    Ok(())
}

/// The last column: the first owner's command line, or why there is none.
fn command_cell<'c>(report: &SocketReport, commands: &'c mut HashMap<u32, (String, Option<String>)>) -> Cell<'c> {
    match report.owners.first() {
        Some(owner) => {
            let (command, compact) = commands.entry(owner.pid).or_insert_with(|| {
                let (full, compact) = super::command_text(owner.cmdline, || owner.display_name());
                (printable(&full).into_owned(), compact.map(|c| printable(&c).into_owned()))
            });
            // Escaped when cached.
            Cell::trusted(command.as_str(), Paint::Plain).or_compact(compact.as_deref())
        }
        None => Cell::trusted(format!("({})", unseen_holder(report.owner_status)), Paint::Dim),
    }
}

/// Every column but the last.
fn row_cells<'a>(report: &'a SocketReport, layout: &LsLayout) -> Vec<Cell<'a>> {
    let mut row = Vec::with_capacity(14);
    let proto = match (report.family, report.protocol) {
        (Family::V4, Protocol::Tcp) => "tcp",
        (Family::V4, Protocol::Udp) => "udp",
        (Family::V6, Protocol::Tcp) => "tcp6",
        (Family::V6, Protocol::Udp) => "udp6",
    };
    row.push(Cell::trusted(proto, Paint::Plain));
    if layout.connections {
        row.push(Cell::trusted(report.state.name(), Paint::Plain));
        // As ss: a listener's Recv-Q is its accept queue, its Send-Q the
        // queue's limit (the backlog), which /proc/net/tcp does not carry.
        let send_queue = match report.state {
            SocketState::Listen => report.listen_backlog.map_or_else(|| "-".to_string(), |b| b.to_string()),
            _ => report.send_queue.to_string(),
        };
        let full = report.state == SocketState::Listen && report.listen_backlog.is_some_and(|b| report.recv_queue > b);
        row.push(Cell::trusted(report.recv_queue.to_string(), if full { Paint::Red } else { Paint::Plain }));
        row.push(Cell::trusted(send_queue, Paint::Plain));
    }
    let address: std::borrow::Cow<str> =
        if report.scope == "all" { "*".into() } else { report.local.address.to_string().into() };
    row.push(Cell::trusted(address, Paint::Plain));
    row.push(Cell::trusted(report.local.port.to_string(), Paint::Bold));
    if layout.connections {
        let peer = report.remote.as_ref().map(|r| address_with_port(r.address, r.port)).unwrap_or_else(|| "-".into());
        row.push(Cell::trusted(peer, Paint::Plain));
    }
    row.push(Cell::trusted(report.port_facts.service.unwrap_or("-"), Paint::Plain));
    row.push(scope_cell(report));
    if layout.namespaces {
        let ns = report
            .netns
            .name
            .map(str::to_string)
            .or_else(|| report.netns.container.map(|c| format!("{}:{}", c.runtime, &c.id[..c.id.len().min(12)])))
            .unwrap_or_else(|| if report.netns.own { "-".into() } else { format!("net:[{}]", report.netns.inode) });
        row.push(Cell::new(ns));
    }
    match report.owners.first() {
        Some(owner) => {
            let pid = if report.owners.len() > 1 {
                format!("{} +{}", owner.pid, report.owners.len() - 1)
            } else {
                owner.pid.to_string()
            };
            row.push(Cell::trusted(pid, Paint::Plain));
            row.push(Cell::new(owner.user.unwrap_or("?")));
        }
        None => {
            row.push(Cell::trusted("-", Paint::Dim));
            // TIME_WAIT remnants and the like report uid 0: no user holds them.
            let user = if report.owner_status == OwnerStatus::None { "-" } else { report.user.unwrap_or("-") };
            row.push(Cell::new(user));
        }
    }
    row
}

fn scope_cell(report: &SocketReport) -> Cell<'static> {
    let text = super::scope_label(report.scope, report.interface.as_deref(), report.covers_ipv4, report.covers_ipv6);
    let paint = match report.scope {
        "loopback" => Paint::Green,
        "all" => Paint::Yellow,
        _ => Paint::Cyan,
    };
    // An interface's name is any bytes its creator chose: escaped.
    Cell::painted(text, paint)
}
