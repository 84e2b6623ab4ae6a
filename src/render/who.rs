//! The `berth who` report for people.

use crate::printable::printable;
use std::io::{self, Write};

use super::style::{Paint, Style};
use super::{age, plural, scope_label};
use crate::analysis::report::SocketReport;
use crate::analysis::unseen::{unseen_holder, OwnerStatus};
use crate::analysis::who::WhoReport;
use crate::printable::shell_word;
use berth_inventory::target::address_with_port;

pub fn write_report(out: &mut impl Write, report: &WhoReport, style: &Style) -> io::Result<()> {
    if !report.held {
        let mut line = format!("{} is free: nothing holds it", style.paint(Paint::Bold, &port_words(report)));
        if report.time_wait > 0 {
            let (remnants, remain, belong) = if report.time_wait == 1 {
                ("TIME_WAIT remnant", "remains", "it belongs to no process and expires")
            } else {
                ("TIME_WAIT remnants", "remain", "they belong to no process and expire")
            };
            line.push_str(&format!(
                ".\nOnly {} of closed connections {remain}; {belong} within a minute. A server that sets \
                 SO_REUSEADDR (most do) can bind now.",
                plural(report.time_wait, remnants, remnants),
            ));
        }
        writeln!(out, "{line}")?;
        return Ok(());
    }

    // Sockets on the port that show no process: other users' (without
    // root), or ones whose process could not be found.
    let unseen: Vec<&SocketReport> = report
        .sockets
        .iter()
        .filter(|s| s.owners.is_empty() && !matches!(s.owner_status, OwnerStatus::None | OwnerStatus::Owned))
        .collect();
    let summary = match (report.holders.len(), unseen.first()) {
        (0, Some(first)) => format!("{} is held by {}", port_words(report), unseen_holder(first.owner_status)),
        (0, None) => format!("{} is held by {}", port_words(report), unseen_holder(OwnerStatus::Unknown)),
        (n, _) => format!("{} is held by {}", port_words(report), plural(n, "process", "processes")),
    };
    writeln!(out, "{}", style.paint(Paint::Bold, &summary))?;

    for holder in &report.holders {
        let p = &holder.process;
        writeln!(out)?;
        let mut title = format!(
            "{} {}",
            style.paint(Paint::Bold, &printable(&p.display_name())),
            style.paint(Paint::Dim, &format!("[{}]", p.pid))
        );
        if let Some(user) = p.user {
            title.push_str(&format!("  user {}", printable(user)));
        } else if let Some(uid) = p.uid {
            title.push_str(&format!("  uid {uid}"));
        }
        if let Some(start) = p.start_time_unix {
            title.push_str(&format!(
                "  started {} ({})",
                crate::analysis::report::rfc3339(start),
                age(start, report.taken_at)
            ));
        }
        writeln!(out, "  {title}")?;
        if !p.cmdline.is_empty() {
            field(out, style, "command", &p.cmdline.join(" "))?;
        }
        if !holder.ancestors.is_empty() {
            let chain: Vec<String> = holder.ancestors.iter().map(|a| format!("{}[{}]", a.name, a.pid)).collect();
            field(out, style, "parents", &chain.join(" ← "))?;
        }
        if let Some(container) = p.container {
            field(out, style, "container", &format!("{} {}", container.runtime, container.id))?;
        }
        if let Some(unit) = p.systemd_unit {
            field(out, style, "unit", unit)?;
        }
        for binding in &holder.bindings {
            let verb = if binding.state.name() == "LISTEN" { "listens" } else { "bound" };
            let scope =
                scope_label(binding.scope, binding.interface.as_deref(), binding.covers_ipv4, binding.covers_ipv6);
            let text = format!(
                "{} {}  {scope}",
                binding.protocol.name(),
                address_with_port(binding.local.address, binding.local.port)
            );
            field(out, style, verb, &text)?;
        }
        let c = &holder.connections;
        if c.established + c.other > 0 {
            let mut text = format!("{} established", c.established);
            if c.other > 0 {
                text.push_str(&format!(", {} closing or opening", c.other));
            }
            let peers: Vec<String> = c
                .peers
                .iter()
                .map(|peer| {
                    let mut s = format!("{} ×{}", peer.address, peer.connections);
                    if !peer.processes.is_empty() {
                        s.push_str(&format!(" ({})", peer.processes.join(", ")));
                    }
                    s
                })
                .collect();
            if !peers.is_empty() {
                text.push_str(&format!(" from {}", peers.join(", ")));
            }
            field(out, style, "clients", &text)?;
        }
        if holder.outgoing > 0 {
            field(
                out,
                style,
                "outgoing",
                &format!(
                    "{} this port as the local port",
                    plural(holder.outgoing, "connection uses", "connections use")
                ),
            )?;
        }
    }
    if !unseen.is_empty() {
        writeln!(out)?;
        if !report.holders.is_empty() {
            writeln!(out, "  also held by {}:", unseen_holder(unseen[0].owner_status))?;
        }
        for socket in &unseen {
            let user = match socket.user {
                Some(name) => format!("user {} (uid {})", printable(name), socket.uid),
                None => format!("uid {}", socket.uid),
            };
            let text = format!(
                "{} {}  {}  {user}",
                socket.protocol.name(),
                address_with_port(socket.local.address, socket.local.port),
                socket.state.name()
            );
            field(out, style, "socket", &text)?;
        }
        if unseen.iter().any(|s| s.owner_status == OwnerStatus::Hidden) {
            field(out, style, "see it", &format!("sudo berth who {}", shell_word(&report.target)))?;
        }
    }
    if report.time_wait > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "  also {} of closed connections (no process)",
            plural(report.time_wait, "TIME_WAIT remnant", "TIME_WAIT remnants")
        )?;
    }
    Ok(())
}

fn field(out: &mut impl Write, style: &Style, name: &str, value: &str) -> io::Result<()> {
    writeln!(out, "    {} {}", style.paint(Paint::Dim, &format!("{name:<9}")), printable(value))
}

/// "port 62893", or "port 62893 (tcp/127.0.0.1:62893)" when the user said more.
fn port_words(report: &WhoReport) -> String {
    if report.target.trim_start_matches(':') == report.port.to_string() {
        format!("port {}", report.port)
    } else {
        format!("port {} ({})", report.port, report.target)
    }
}
