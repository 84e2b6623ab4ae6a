//! The `berth doctor` report for people: one line per check (status, id,
//! summary), and for problems the explanation and the fix indented below.

use std::io::{self, Write};

use super::plural;
use super::style::{Paint, Style};
use crate::analysis::doctor::{DoctorReport, Status};
use crate::printable::printable;

/// Wide enough for the longest status word, "skipped".
const STATUS_WIDTH: usize = 7;

fn paint_of(status: Status) -> Paint {
    match status {
        Status::Ok => Paint::Green,
        Status::Info => Paint::Cyan,
        Status::Skipped => Paint::Dim,
        Status::Warn => Paint::Yellow,
        Status::Fail => Paint::Red,
    }
}

pub fn write_report(out: &mut impl Write, report: &DoctorReport, style: &Style) -> io::Result<()> {
    let title = match (&report.target, report.port) {
        (Some(target), Some(port)) if target.trim_start_matches(':') != port.to_string() => {
            format!("berth doctor: port {port} ({})", printable(target))
        }
        (_, Some(port)) => format!("berth doctor: port {port}"),
        _ => "berth doctor: loopback, localhost, ephemeral ports, limits, firewall".to_string(),
    };
    writeln!(out, "{}", style.paint(Paint::Bold, &title))?;
    writeln!(out)?;

    let id_width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let indent = " ".repeat(STATUS_WIDTH + 1 + id_width + 1);
    for check in &report.checks {
        // Padded before painting, so escape codes do not break the columns.
        let word = format!("{:<STATUS_WIDTH$}", check.status.word());
        writeln!(
            out,
            "{} {} {}",
            style.paint(paint_of(check.status), &word),
            style.paint(Paint::Dim, &format!("{:<id_width$}", check.id)),
            printable(&check.summary)
        )?;
        if check.status.is_problem() {
            if let Some(detail) = &check.detail {
                writeln!(out, "{indent}{} {}", style.paint(Paint::Dim, "why:"), printable(detail))?;
            }
        }
        if check.status.is_problem() || check.status == Status::Info {
            if let Some(fix) = &check.fix {
                writeln!(out, "{indent}{} {}", style.paint(Paint::Bold, "fix:"), printable(fix))?;
            }
        }
    }

    writeln!(out)?;
    let count = |status: Status| report.checks.iter().filter(|c| c.status == status).count();
    let (fails, warns) = (count(Status::Fail), count(Status::Warn));
    let line = if fails + warns == 0 {
        style.paint(Paint::Green, &format!("no problems found ({} checks)", report.checks.len()))
    } else {
        let mut parts = Vec::new();
        if fails > 0 {
            parts.push(style.paint(Paint::Red, &plural(fails, "failure", "failures")));
        }
        if warns > 0 {
            parts.push(style.paint(Paint::Yellow, &plural(warns, "warning", "warnings")));
        }
        format!("{} of {} checks", parts.join(", "), report.checks.len())
    };
    writeln!(out, "{line}")
}
