//! The `berth scan` report for people: a heading, one row per open port
//! (with its holder when the host is this machine), and notes for stderr.

use crate::printable::printable;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use super::probe::milliseconds;
use super::style::{Paint, Style};
use super::table::{Cell, Table};
use crate::analysis::unseen::{unseen_holder, OwnerStatus};
use crate::net::local::Entry;
use crate::net::scan::{PortState, ScanOutcome};
use berth_inventory::Protocol;

/// What the heading line says.
pub struct Heading<'a> {
    /// The host as the user named it.
    pub host: &'a str,
    pub address: IpAddr,
    pub protocol: Protocol,
    pub outcome: &'a ScanOutcome,
}

pub fn write_report(out: &mut impl Write, heading: &Heading, entries: &[Entry], style: &Style) -> io::Result<()> {
    let who = if heading.host == heading.address.to_string() {
        heading.address.to_string()
    } else {
        format!("{} ({})", printable(heading.host), heading.address)
    };
    let proto = heading.protocol.name().to_uppercase();
    let scanned = thousands(heading.outcome.scanned);
    let took = format!("{:.2} s", heading.outcome.elapsed.as_secs_f64());
    let count = |state: PortState| entries.iter().filter(|e| e.state == state).count();
    let open = count(PortState::Open);
    let silent = count(PortState::OpenFiltered);
    let not_accepting = count(PortState::NotAccepting);
    let mut summary = match open {
        0 => format!("{who}: no open {proto} ports"),
        1 => format!("{who}: 1 open {proto} port"),
        n => format!("{who}: {n} open {proto} ports"),
    };
    if silent > 0 {
        summary.push_str(&format!(", {silent} open|filtered"));
    }
    if not_accepting > 0 {
        summary.push_str(&format!(", {not_accepting} open but not accepting"));
    }
    writeln!(out, "{} ({scanned} scanned in {took})", style.paint(Paint::Bold, &summary))?;
    if entries.is_empty() {
        return Ok(());
    }

    let local = entries.iter().any(|e| e.owners.is_some());
    let mut headers = vec![("PORT", true), ("STATE", false), ("LATENCY", true), ("SERVICE", false)];
    if local {
        headers.extend([("PID", true), ("USER", false), ("COMMAND", false)]);
    }
    let rows: Vec<Vec<Cell>> = entries.iter().map(|e| row(e, local)).collect();
    let mut table = Table::new(headers);
    rows.iter().for_each(|r| table.measure(r));
    writeln!(out)?;
    table.write_header(out, style)?;
    for row in &rows {
        table.write_row(out, row, style)?;
    }
    Ok(())
}

fn row<'a>(entry: &'a Entry, local: bool) -> Vec<Cell<'a>> {
    let paint = match entry.state {
        PortState::Open => Paint::Green,
        PortState::OpenFiltered => Paint::Yellow,
        PortState::NotAccepting => Paint::Red,
    };
    let mut cells = vec![
        Cell::trusted(entry.port.to_string(), Paint::Plain),
        Cell::trusted(entry.state.name(), paint),
        Cell::trusted(milliseconds(entry.latency_ms), Paint::Plain),
        Cell::trusted(entry.service.unwrap_or("-"), Paint::Plain),
    ];
    if local {
        match entry.owners.as_deref().and_then(<[_]>::first) {
            Some(owner) => {
                let others = entry.owners.as_ref().map_or(0, |o| o.len() - 1);
                let pid = if others > 0 { format!("{} +{others}", owner.pid) } else { owner.pid.to_string() };
                cells.push(Cell::trusted(pid, Paint::Plain));
                cells.push(Cell::new(owner.user.unwrap_or("-")));
                let (command, compact) = super::command_text(owner.cmdline, || owner.display_name());
                cells.push(Cell::new(command).or_compact(compact.map(|c| printable(&c).into_owned())));
            }
            None => {
                cells.push(Cell::trusted("-", Paint::Dim));
                // The socket's user, as ls shows it; none for a socket no process holds.
                let user = if entry.owner_status == OwnerStatus::None { None } else { entry.socket_user };
                match user {
                    Some(user) => cells.push(Cell::new(user)),
                    None => cells.push(Cell::trusted("-", Paint::Dim)),
                }
                cells.push(Cell::trusted(format!("({})", unseen_holder(entry.owner_status)), Paint::Dim));
            }
        }
    }
    cells
}

/// What stderr should say besides the results: why a port is open but not
/// accepting, attempts that failed or went unanswered, and self-connections
/// that were left out.
pub fn notes(outcome: &ScanOutcome, entries: &[Entry], timeout: Duration) -> Vec<String> {
    let mut notes = Vec::new();
    for entry in entries {
        if let Some(queue) = &entry.accept_queue {
            notes.push(format!(
                "port {}: the connect timed out because {}",
                entry.port,
                printable(&queue.timeout_words())
            ));
        }
    }
    for (message, count) in &outcome.errors {
        notes.push(format!("{} {} failed: {message}", thousands(*count), plural(*count, "attempt", "attempts")));
    }
    if outcome.timed_out > 0 {
        notes.push(format!(
            "{} {} did not answer within {:.1} s (filtered: a firewall drops the packets)",
            thousands(outcome.timed_out),
            plural(outcome.timed_out, "port", "ports"),
            timeout.as_secs_f64()
        ));
    }
    if outcome.self_connections > 0 {
        notes.push(format!(
            "{} {} connected to {} (the kernel chose the target port as the local port); not counted as open",
            outcome.self_connections,
            plural(outcome.self_connections, "attempt", "attempts"),
            if outcome.self_connections == 1 { "itself" } else { "themselves" }
        ));
    }
    notes
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// 65535 -> "65,535".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(65_535), "65,535");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
