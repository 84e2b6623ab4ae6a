//! What `berth kill` says it will do, did, and found afterwards (on stderr:
//! stdout is kept for --json).

use std::io::{self, Write};

use super::plural;
use super::style::{Paint, Style};
use crate::analysis::kill::{KillPlan, KillReport};
use crate::analysis::unseen::{unseen_holder, OwnerStatus, UnseenCounts};
use crate::printable::printable;
use crate::printable::shell_word;

pub fn write_plan(out: &mut impl Write, plan: &KillPlan, dry_run: bool, style: &Style) -> io::Result<()> {
    for port in &plan.ports {
        if !port.held {
            let mut line = format!("port {} is free: nothing to stop", port.port);
            if port.time_wait > 0 {
                let remnants = plural(port.time_wait, "TIME_WAIT remnant", "TIME_WAIT remnants");
                line.push_str(&format!(" (only {remnants}, which no process holds)"));
            }
            writeln!(out, "{line}")?;
            continue;
        }
        if !port.stop.is_empty() {
            let verb = if dry_run { "would stop" } else { "will stop" };
            writeln!(out, "port {}: {verb}", style.paint(Paint::Bold, &port.port.to_string()))?;
            for pid in &port.stop {
                let victim = &plan.victims[pid];
                let command = if victim.cmdline.is_empty() { victim.name.clone() } else { victim.cmdline.join(" ") };
                let mut line = format!("  {} [{}]", style.paint(Paint::Bold, &printable(&victim.name)), victim.pid);
                if let Some(user) = &victim.user {
                    line.push_str(&format!("  user {}", printable(user)));
                }
                if let Some(unit) = &victim.systemd_unit {
                    line.push_str(&format!("  unit {}", printable(unit)));
                }
                writeln!(out, "{line}\n      {}", printable(&command))?;
            }
        }
        for refused in &port.refused {
            writeln!(
                out,
                "port {}: {} {} [{}]: {}",
                port.port,
                style.paint(Paint::Yellow, "will not stop"),
                printable(&refused.name),
                refused.pid,
                refused.refusal.explain(&port.target)
            )?;
        }
        if port.unseen.hidden > 0 {
            // berth cannot see these holders, so it cannot stop them: root can.
            writeln!(
                out,
                "port {}: {} {}; stopping {} needs root: sudo berth kill {}",
                port.port,
                plural(port.unseen.hidden, "socket is held by", "sockets are held by"),
                unseen_holder(OwnerStatus::Hidden),
                if port.unseen.hidden == 1 { "it" } else { "them" },
                shell_word(&port.target)
            )?;
        }
        let only_unknown = UnseenCounts { hidden: 0, ..port.unseen };
        for note in only_unknown.notes(0) {
            writeln!(out, "port {}: {note}", port.port)?;
        }
        if !port.spared_clients.is_empty() {
            writeln!(
                out,
                "port {}: sparing {} that only {} it as the local end of an outgoing connection",
                port.port,
                plural(port.spared_clients.len(), "process", "processes"),
                if port.spared_clients.len() == 1 { "uses" } else { "use" }
            )?;
        }
    }
    Ok(())
}

pub fn write_signalled(out: &mut impl Write, report: &KillReport, style: &Style) -> io::Result<()> {
    for s in &report.signalled {
        let name = report.plan.victims.get(&s.pid).map(|v| v.name.as_str()).unwrap_or("?");
        if s.already_gone {
            writeln!(out, "{} [{}] had already exited", printable(name), s.pid)?;
        } else {
            writeln!(out, "sent {} to {} [{}]", s.signal, style.paint(Paint::Bold, &printable(name)), s.pid)?;
        }
    }
    Ok(())
}

pub fn write_outcome(out: &mut impl Write, report: &KillReport, forced: bool, style: &Style) -> io::Result<()> {
    for s in report.signalled.iter().filter(|s| s.forced) {
        writeln!(out, "sent SIGKILL to [{}]: it outlived the timeout", s.pid)?;
    }
    for outcome in &report.outcome {
        if outcome.free {
            writeln!(out, "{}", style.paint(Paint::Green, &format!("port {} is free now", outcome.port)))?;
            continue;
        }
        let mut line = format!("port {} is still held", outcome.port);
        let survivors: Vec<String> = outcome
            .held_by
            .iter()
            .map(|pid| {
                let name = report.plan.victims.get(pid).map(|v| v.name.as_str()).unwrap_or("another process");
                format!("{} [{pid}]", printable(name))
            })
            .collect();
        if !survivors.is_empty() {
            line.push_str(&format!(" by {}", survivors.join(", ")));
        }
        let ignored = outcome.held_by.iter().any(|pid| report.plan.victims.contains_key(pid));
        if ignored && !forced {
            line.push_str(&format!(
                "; it did not exit on {}: berth kill {} --force sends SIGKILL after the timeout",
                report.signalled.first().map(|s| s.signal.as_str()).unwrap_or("the signal"),
                outcome.target
            ));
        } else if !ignored && !outcome.held_by.is_empty() {
            line.push_str(" (a new holder: a supervisor may have restarted it; stop it through its service manager)");
        }
        writeln!(out, "{}", style.paint(Paint::Red, &line))?;
    }
    Ok(())
}
