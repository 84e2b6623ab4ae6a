//! The `berth audit` report: for people, findings grouped by severity, worst
//! first, each with its place, owner, evidence and a one-line fix; for CI,
//! SARIF 2.1.0 (one rule per check id, one result per finding, skipped
//! checks as tool notifications).

use std::io::{self, Write};

use serde_json::{json, Value};

use super::plural;
use super::style::{Paint, Style};
use crate::audit::{catalogue, CheckInfo, Finding, Outcome, Severity, Skipped};
use crate::printable::printable;

fn paint_of(severity: Severity) -> Paint {
    match severity {
        Severity::Critical | Severity::High => Paint::Red,
        Severity::Medium => Paint::Yellow,
        Severity::Low => Paint::Cyan,
        Severity::Info => Paint::Dim,
    }
}

/// "skipped: reading firewall rules needs root; run: sudo berth audit".
pub fn skipped_line(skipped: &Skipped) -> String {
    match &skipped.remedy {
        Some(remedy) => format!("{} not fully checked: {} ({remedy})", skipped.check, skipped.reason),
        None => format!("{} not fully checked: {}", skipped.check, skipped.reason),
    }
}

pub fn write_report(out: &mut impl Write, outcome: &Outcome, listeners: usize, style: &Style) -> io::Result<()> {
    let heading = format!("berth audit: {}", plural(listeners, "listener", "listeners"));
    writeln!(out, "{}", style.paint(Paint::Bold, &heading))?;
    for severity in Severity::ALL.into_iter().rev() {
        let group: Vec<&Finding> = outcome.findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out)?;
        let heading = format!("{} ({})", severity.word().to_uppercase(), group.len());
        writeln!(out, "{}", style.paint(paint_of(severity), &heading))?;
        for finding in group {
            write_finding(out, finding, style)?;
        }
    }
    if !outcome.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.paint(Paint::Dim, "NOT CHECKED"))?;
        for skipped in &outcome.skipped {
            writeln!(out, "  {}", printable(&skipped_line(skipped)))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", summary(outcome, style))
}

fn write_finding(out: &mut impl Write, finding: &Finding, style: &Style) -> io::Result<()> {
    let place = finding.place();
    let place = if place.is_empty() { String::new() } else { format!("{place}  ") };
    writeln!(
        out,
        "  {}{}  {}",
        style.paint(Paint::Bold, &printable(&place)),
        printable(&finding.title),
        style.paint(Paint::Dim, &format!("[{}]", finding.id))
    )?;
    if let Some(process) = &finding.process {
        let mut who = process.label();
        if let Some(container) = &process.container {
            who.push_str(&format!(", container {container}"));
        } else if let Some(unit) = &process.systemd_unit {
            who.push_str(&format!(", unit {unit}"));
        }
        writeln!(out, "      {} {}", style.paint(Paint::Dim, "process:"), printable(&who))?;
    }
    for fact in &finding.evidence {
        writeln!(out, "      {} {}", style.paint(Paint::Dim, "seen:"), printable(fact))?;
    }
    if !finding.fix.is_empty() {
        writeln!(out, "      {} {}", style.paint(Paint::Bold, "fix:"), printable(&finding.fix))?;
    }
    Ok(())
}

fn summary(outcome: &Outcome, style: &Style) -> String {
    if outcome.findings.is_empty() {
        return style.paint(Paint::Green, "no findings");
    }
    let parts: Vec<String> = Severity::ALL
        .into_iter()
        .rev()
        .filter_map(|severity| {
            let n = outcome.findings.iter().filter(|f| f.severity == severity).count();
            (n > 0).then(|| style.paint(paint_of(severity), &format!("{n} {}", severity.word())))
        })
        .collect();
    format!("{}: {}", plural(outcome.findings.len(), "finding", "findings"), parts.join(", "))
}

/// SARIF's level for a severity: error, warning or note.
fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score (0-10) for a severity.
fn security_score(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// The whole SARIF 2.1.0 log of one audit.
pub fn sarif(outcome: &Outcome) -> Value {
    let checks: Vec<&CheckInfo> = catalogue().collect();
    let rules: Vec<Value> = checks
        .iter()
        .map(|check| {
            json!({
                "id": check.id,
                "name": check.id,
                "shortDescription": { "text": check.summary },
                "defaultConfiguration": { "level": sarif_level(check.default_severity) },
                "properties": {
                    "security-severity": security_score(check.default_severity),
                    "tags": ["security", "network"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = outcome
        .findings
        .iter()
        .map(|finding| {
            let rule_index = checks.iter().position(|c| c.id == finding.id).unwrap_or(0);
            let mut text = finding.title.clone();
            for fact in &finding.evidence {
                text.push_str(&format!("\nseen: {fact}"));
            }
            if !finding.fix.is_empty() {
                text.push_str(&format!("\nfix: {}", finding.fix));
            }
            let place = finding.place();
            let mut logical = vec![json!({ "name": if place.is_empty() { finding.id.to_string() } else { place.clone() }, "kind": "socket" })];
            if let Some(process) = &finding.process {
                logical.push(json!({ "name": process.name, "fullyQualifiedName": process.label(), "kind": "process" }));
            }
            json!({
                "ruleId": finding.id,
                "ruleIndex": rule_index,
                "level": sarif_level(finding.severity),
                "message": { "text": text },
                "locations": [{ "logicalLocations": logical }],
                "partialFingerprints": {
                    "berthFinding/v1": format!("{}|{}|{}", finding.id, place, finding.process.as_ref().map(|p| p.name.as_str()).unwrap_or("")),
                },
                "properties": {
                    "severity": finding.severity.word(),
                    "security-severity": security_score(finding.severity),
                    "protocol": finding.protocol.map(|p| p.name()),
                    "port": finding.port,
                    "addresses": finding.addresses,
                    "process": finding.process,
                    "evidence": finding.evidence,
                    "fix": finding.fix,
                },
            })
        })
        .collect();
    let notifications: Vec<Value> = outcome
        .skipped
        .iter()
        .map(|skipped| {
            json!({
                "level": "warning",
                "message": { "text": skipped_line(skipped) },
                "descriptor": { "id": skipped.check },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "berth",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

pub fn write_sarif(out: &mut impl Write, outcome: &Outcome) -> io::Result<()> {
    super::json::write_value(out, &sarif(outcome))
}
