//! The `berth probe` report for people: one block per address, then the
//! warnings.

use std::io::{self, Write};

use super::style::{Paint, Style};
use crate::net::http_client::HttpReport;
use crate::net::probe::{AddressReport, ProbeReport, Reach};
use crate::net::tls_client::TlsReport;
use crate::printable::printable;
use berth_inventory::target::address_with_port;

pub fn write_report(out: &mut impl Write, report: &ProbeReport, style: &Style) -> io::Result<()> {
    let open = report.addresses.iter().filter(|a| a.state == Reach::Open).count();
    let total = report.addresses.len();
    let summary = match (open, total) {
        (0, 1) => "not reachable".to_string(),
        (0, _) => format!("not reachable at any of {total} addresses"),
        (_, 1) => "reachable".to_string(),
        (n, _) => format!("reachable at {n} of {total} addresses"),
    };
    writeln!(out, "{} {}", style.paint(Paint::Bold, &printable(&report.target)), summary)?;

    let width = report.addresses.iter().map(|a| address_with_port(a.address, a.port).len()).max().unwrap_or(0);
    for address in &report.addresses {
        write_address(out, address, width, style)?;
    }
    for warning in &report.warnings {
        writeln!(out)?;
        writeln!(out, "{} {}", style.paint(Paint::Yellow, "warning:"), printable(&warning.message))?;
    }
    Ok(())
}

fn write_address(out: &mut impl Write, report: &AddressReport, width: usize, style: &Style) -> io::Result<()> {
    let at = address_with_port(report.address, report.port);
    let paint = match report.state {
        Reach::Open => Paint::Green,
        Reach::Refused => Paint::Red,
        Reach::TimedOut | Reach::Unreachable => Paint::Yellow,
    };
    let mut line = format!("  {at:<width$}  {}", style.paint(paint, &format!("{:<11}", report.state.name())));
    if let Some(ms) = report.connect_ms {
        line.push_str(&format!("  {}", milliseconds(ms)));
    }
    if let Some(queue) = &report.accept_queue {
        let why = format!("({})", printable(&queue.timeout_words()));
        line.push_str(&format!("  {}", style.paint(Paint::Yellow, &why)));
    } else if report.state != Reach::Open {
        if let Some(error) = &report.error {
            line.push_str(&format!("  {}", style.paint(Paint::Dim, &format!("({})", printable(error)))));
        }
    }
    writeln!(out, "{}", line.trim_end())?;

    if let Some(banner) = &report.banner {
        let more = if banner.truncated { " (first bytes only)" } else { "" };
        field(out, style, "banner", &format!("\"{}\"{more}", banner.text))?;
    } else if report.closed_by_server {
        field(out, style, "banner", "none: the server closed the connection at once")?;
    }
    if let Some(tls) = &report.tls {
        write_tls(out, tls, style)?;
    }
    if let Some(http) = &report.http {
        write_http(out, http, style)?;
    }
    Ok(())
}

fn write_tls(out: &mut impl Write, tls: &TlsReport, style: &Style) -> io::Result<()> {
    if let Some(version) = &tls.version {
        let mut text = version.clone();
        if let Some(suite) = &tls.cipher_suite {
            text.push_str(&format!(", {suite}"));
        }
        if let Some(alpn) = &tls.alpn {
            text.push_str(&format!(", alpn {}", printable(alpn)));
        }
        field(out, style, "tls", &text)?;
    }
    if let Some(error) = &tls.error {
        field(out, style, "tls", &style.paint(Paint::Red, &printable(error)))?;
    }
    if let Some(cert) = &tls.certificate {
        // A certificate may name its holder only in its SANs (what
        // browsers check anyway): say so rather than print an empty name.
        let subject = match (cert.subject.is_empty(), cert.subject_alt_names.is_empty()) {
            (false, _) => printable(&cert.subject).into_owned(),
            (true, true) => "(none)".to_string(),
            (true, false) => format!("(none; SAN: {})", printable(&cert.subject_alt_names.join(", "))),
        };
        field(out, style, "subject", &subject)?;
        let mut issuer = printable(&cert.issuer).into_owned();
        if cert.self_signed {
            issuer.push_str(" (self-signed)");
        }
        field(out, style, "issuer", &issuer)?;
        let left = cert.expires_in_seconds;
        let expiry = if cert.expired {
            style.paint(Paint::Red, &format!("{} (expired {} ago)", cert.not_after, span(-left)))
        } else if left < 14 * DAY {
            style.paint(Paint::Yellow, &format!("{} (in {})", cert.not_after, span(left)))
        } else {
            format!("{} (in {})", cert.not_after, span(left))
        };
        field(out, style, "expires", &expiry)?;
        if !cert.subject_alt_names.is_empty() && !cert.subject.is_empty() {
            field(out, style, "names", &printable(&cert.subject_alt_names.join(", ")))?;
        }
    }
    match (tls.verified, &tls.verify_error) {
        (Some(true), _) => field(out, style, "trust", "verifies against the system roots")?,
        (Some(false), error) => {
            let why = error.as_deref().map(|e| format!(": {}", printable(e))).unwrap_or_default();
            field(out, style, "trust", &style.paint(Paint::Yellow, &format!("not trusted by the system roots{why}")))?
        }
        (None, _) if tls.certificate.is_some() => field(out, style, "trust", "unknown (no system roots found)")?,
        _ => {}
    }
    if tls.chain_length > 1 {
        field(out, style, "chain", &format!("{} certificates", tls.chain_length))?;
    }
    Ok(())
}

fn write_http(out: &mut impl Write, http: &HttpReport, style: &Style) -> io::Result<()> {
    let status_paint = |status: u16| match status {
        200..=299 => Paint::Green,
        300..=399 => Paint::Cyan,
        _ => Paint::Yellow,
    };
    if http.hops.len() <= 1 {
        if let Some(hop) = http.hops.first() {
            let mut text = style.paint(status_paint(hop.status), &format!("{} {}", hop.status, printable(&hop.reason)));
            if let Some(server) = &hop.server {
                text.push_str(&format!(", server {}", printable(server)));
            }
            if let Some(location) = &hop.location {
                text.push_str(&format!(", location {}", printable(location)));
            }
            field(out, style, "http", &format!("{} {} → {text}", http.method, printable(&hop.url)))?;
        }
    } else {
        for (i, hop) in http.hops.iter().enumerate() {
            let mut text = format!(
                "{} {} → {}",
                http.method,
                printable(&hop.url),
                style.paint(status_paint(hop.status), &format!("{} {}", hop.status, printable(&hop.reason)))
            );
            if let Some(server) = &hop.server {
                text.push_str(&format!(", server {}", printable(server)));
            }
            field(out, style, if i == 0 { "http" } else { "" }, &text)?;
        }
    }
    if let Some(stopped) = &http.stopped {
        field(out, style, "", &style.paint(Paint::Yellow, &printable(stopped)))?;
    }
    if let Some(error) = &http.error {
        field(out, style, "http", &style.paint(Paint::Yellow, &printable(error)))?;
    }
    Ok(())
}

fn field(out: &mut impl Write, style: &Style, name: &str, value: &str) -> io::Result<()> {
    writeln!(out, "      {} {}", style.paint(Paint::Dim, &format!("{name:<8}")), value)
}

const DAY: i64 = 86_400;

/// A length of time to a certificate's end, in the largest whole unit that
/// is at least 1: "54 days", "1 day", "12 hours", "45 minutes", "under a
/// minute" (never "0 days" for what ends today).
fn span(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (count, unit) = if seconds >= DAY {
        (seconds / DAY, "day")
    } else if seconds >= 3_600 {
        (seconds / 3_600, "hour")
    } else if seconds >= 60 {
        (seconds / 60, "minute")
    } else {
        return "under a minute".into();
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// "0.08 ms", "12.3 ms", "1520 ms".
pub fn milliseconds(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}
