//! `berth history`'s tables: events one line each, listeners at a time,
//! every listener ever seen, the busiest peers of a port. Times are local.

use std::io::{self, Write};

use super::style::{Paint, Style};
use super::table::{Cell, Table};
use crate::history::query::{HistoryEvent, ListenerSeen, Peer};
use crate::history::when::{local_text, local_text_millis};
use crate::watch::event::{EventKind, EventOwner, SocketFacts};

/// `nginx[123]`, `nginx[123], nginx[124]`, or `-` for none.
fn owners_text(owners: &[EventOwner]) -> String {
    if owners.is_empty() {
        return "-".to_string();
    }
    owners.iter().map(|o| format!("{}[{}]", o.name.as_deref().unwrap_or("?"), o.pid)).collect::<Vec<_>>().join(", ")
}

fn address(endpoint: &crate::analysis::report::Endpoint) -> String {
    endpoint.socket_addr().to_string()
}

/// What an event adds in its last column: scope, bytes, lifetime, alert.
fn detail(event: &HistoryEvent) -> String {
    let e = &event.event;
    let mut parts: Vec<String> = Vec::new();
    if let Some(alert) = &e.alert {
        parts.push(format!("alert {}: {}", alert.name.word(), alert.reason));
    }
    if let Some(s) = &e.socket {
        if e.kind.is_listener() {
            parts.push(format!("scope {}", s.scope));
        }
        if let Some(previous) = &e.previous {
            parts.push(format!("was {} {}", address(&previous.local), owners_text(&previous.owners)));
        }
        bytes_and_lifetime(s, &mut parts);
    }
    if let Some(m) = &e.missed {
        parts.push(format!("from {} to {}", local_text_millis(m.from), local_text_millis(m.to)));
    }
    if let Some(summary) = &e.summary {
        parts.push(format!(
            "{} listeners opened, {} closed; {} connections opened, {} closed",
            summary.listeners_opened, summary.listeners_closed, summary.connections_opened, summary.connections_closed
        ));
    }
    parts.join("; ")
}

fn bytes_and_lifetime(s: &SocketFacts, parts: &mut Vec<String>) {
    if s.bytes_in.is_some() || s.bytes_out.is_some() {
        parts.push(format!("in {} B, out {} B", s.bytes_in.unwrap_or(0), s.bytes_out.unwrap_or(0)));
    }
    if let Some(lifetime) = s.lifetime {
        match lifetime.at_most_ms {
            Some(most) => parts.push(format!("lived {:.0}-{:.0} ms", lifetime.at_least_ms, most)),
            None => parts.push(format!("lived at least {:.0} ms", lifetime.at_least_ms)),
        }
    }
    if !s.open_seen {
        parts.push("opened and closed between two dumps".to_string());
    }
}

fn kind_paint(kind: EventKind) -> Paint {
    match kind {
        EventKind::Alert => Paint::Red,
        EventKind::Missed => Paint::Yellow,
        EventKind::ListenerOpened | EventKind::ListenerPresent => Paint::Green,
        EventKind::ListenerClosed => Paint::Dim,
        _ => Paint::Plain,
    }
}

fn write_rows(out: &mut impl Write, mut table: Table, rows: &[Vec<Cell>], style: &Style) -> io::Result<()> {
    for row in rows {
        table.measure(row);
    }
    table.write_header(out, style)?;
    for row in rows {
        table.write_row(out, row, style)?;
    }
    Ok(())
}

/// The events table, written as the events are read: its widths come from
/// a first page of rows (a later, wider cell pushes its line's next columns
/// along rather than the table waiting for every row).
pub struct EventsTable {
    table: Table,
}

impl EventsTable {
    /// Rows measured before the table is written.
    pub const FIRST_PAGE: usize = 1000;

    pub fn new(first_page: &[HistoryEvent]) -> EventsTable {
        let mut table = Table::new(vec![
            ("TIME", false),
            ("EVENT", false),
            ("PROTO", false),
            ("LOCAL", false),
            ("REMOTE", false),
            ("PROCESS", false),
            ("DETAIL", false),
        ]);
        for event in first_page {
            table.measure(&event_row(event));
        }
        EventsTable { table }
    }

    pub fn write_header(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        self.table.write_header(out, style)
    }

    pub fn write(&self, out: &mut impl Write, event: &HistoryEvent, style: &Style) -> io::Result<()> {
        self.table.write_row(out, &event_row(event), style)
    }
}

fn event_row(event: &HistoryEvent) -> Vec<Cell<'static>> {
    let e = &event.event;
    let socket = e.socket.as_ref();
    vec![
        Cell::trusted(local_text_millis(e.time), Paint::Plain),
        Cell::trusted(e.kind.word(), kind_paint(e.kind)),
        Cell::trusted(socket.map_or("-", |s| s.protocol.name()), Paint::Plain),
        Cell::trusted(socket.map_or("-".to_string(), |s| address(&s.local)), Paint::Plain),
        Cell::trusted(socket.and_then(|s| s.remote.as_ref()).map_or("-".to_string(), address), Paint::Plain),
        Cell::new(socket.map_or("-".to_string(), |s| owners_text(&s.owners))),
        Cell::new(detail(event)),
    ]
}

pub fn write_at(out: &mut impl Write, listeners: &[ListenerSeen], style: &Style) -> io::Result<()> {
    if listeners.is_empty() {
        return Ok(());
    }
    let table =
        Table::new(vec![("PROTO", false), ("LOCAL", false), ("SCOPE", false), ("SINCE", false), ("PROCESS", false)]);
    let rows: Vec<Vec<Cell>> = listeners
        .iter()
        .map(|l| {
            vec![
                Cell::trusted(l.protocol.name(), Paint::Plain),
                Cell::trusted(address(&l.local), Paint::Plain),
                Cell::trusted(l.scope, scope_paint(l.scope)),
                Cell::trusted(local_text(l.first_seen), Paint::Plain),
                Cell::new(owners_with_commands(&l.owners)),
            ]
        })
        .collect();
    write_rows(out, table, &rows, style)
}

/// `nginx[123] (nginx -g daemon off;)`: who, and how it was started.
fn owners_with_commands(owners: &[EventOwner]) -> String {
    if owners.is_empty() {
        return "- (not seen: another user's process, or it closed between two dumps)".to_string();
    }
    owners
        .iter()
        .map(|o| {
            let name = o.name.as_deref().unwrap_or("?");
            if o.cmdline.is_empty() {
                format!("{name}[{}]", o.pid)
            } else {
                format!("{name}[{}] ({})", o.pid, o.cmdline.join(" "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn scope_paint(scope: &str) -> Paint {
    if scope == "loopback" {
        Paint::Plain
    } else {
        Paint::Yellow
    }
}

pub fn write_listeners(out: &mut impl Write, listeners: &[ListenerSeen], style: &Style) -> io::Result<()> {
    if listeners.is_empty() {
        return Ok(());
    }
    let table = Table::new(vec![
        ("PROTO", false),
        ("LOCAL", false),
        ("SCOPE", false),
        ("FIRST SEEN", false),
        ("LAST SEEN", false),
        ("PROCESSES", false),
    ]);
    let rows: Vec<Vec<Cell>> = listeners
        .iter()
        .map(|l| {
            let last = match l.last_seen {
                Some(time) => Cell::trusted(local_text(time), Paint::Plain),
                None => Cell::trusted("open", Paint::Green),
            };
            let processes = l.processes.as_deref().filter(|p| !p.is_empty()).unwrap_or(&l.owners);
            vec![
                Cell::trusted(l.protocol.name(), Paint::Plain),
                Cell::trusted(address(&l.local), Paint::Plain),
                Cell::trusted(l.scope, scope_paint(l.scope)),
                Cell::trusted(local_text(l.first_seen), Paint::Plain),
                last,
                Cell::new(owners_text(processes)),
            ]
        })
        .collect();
    write_rows(out, table, &rows, style)
}

pub fn write_peers(out: &mut impl Write, peers: &[Peer], style: &Style) -> io::Result<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let table = Table::new(vec![
        ("PROTO", false),
        ("REMOTE", false),
        ("CONNECTIONS", true),
        ("BYTES IN", true),
        ("BYTES OUT", true),
        ("LAST SEEN", false),
    ]);
    let rows: Vec<Vec<Cell>> = peers
        .iter()
        .map(|p| {
            vec![
                Cell::trusted(p.protocol.name(), Paint::Plain),
                Cell::trusted(p.remote_address.clone(), Paint::Plain),
                Cell::trusted(p.connections.to_string(), Paint::Plain),
                Cell::trusted(p.bytes_in.to_string(), Paint::Plain),
                Cell::trusted(p.bytes_out.to_string(), Paint::Plain),
                Cell::trusted(local_text(p.last_seen), Paint::Plain),
            ]
        })
        .collect();
    write_rows(out, table, &rows, style)
}
