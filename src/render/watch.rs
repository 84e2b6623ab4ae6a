//! `berth watch`'s lines: one per event, for people (a local clock time, a
//! sign, what happened, the socket, its owner, and what is known of its
//! life), or one JSON object per line (`--json`, schema in docs/json.md).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::SystemTime;

use super::style::{Paint, Style};
use crate::analysis::plural;
use crate::analysis::report::Endpoint;
use crate::printable::printable;
use crate::watch::event::{EventKind, EventOwner, MissedReason, SocketFacts, WatchEvent};

/// One event as one JSON line.
pub fn write_json_line(out: &mut impl Write, event: &WatchEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Which clock the lines show times in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The machine's local time (what people run it with).
    Local,
    /// UTC (the golden tests, the same on every machine).
    #[cfg_attr(not(test), allow(dead_code))]
    Utc,
}

/// One event as one line of text.
pub fn write_line(out: &mut impl Write, event: &WatchEvent, style: &Style, zone: Clock) -> io::Result<()> {
    let clock = |time: SystemTime| match zone {
        Clock::Local => clock(time),
        Clock::Utc => utc_clock(time),
    };
    let mut line = String::with_capacity(160);
    line.push_str(&style.paint(Paint::Dim, &clock(event.time)));
    line.push_str("  ");
    match (event.kind, &event.socket) {
        (EventKind::Missed, _) => {
            let span = event.missed.as_ref();
            let why = match span.map(|s| s.reason) {
                Some(MissedReason::KernelBuffer) => "the kernel's buffer for close events overflowed",
                Some(MissedReason::ConsumerBehind) => "berth fell behind reading close events",
                None => "unknown",
            };
            let text = match span {
                Some(span) => format!(
                    "! missed events between {} and {} ({why}); the socket table was read again",
                    clock(span.from),
                    clock(span.to)
                ),
                None => format!("! missed events ({why})"),
            };
            line.push_str(&style.paint(Paint::Red, &text));
        }
        (EventKind::Summary, _) => {
            let Some(summary) = &event.summary else { return Ok(()) };
            let _ = write!(
                line,
                "watched {}: {} opened, {} closed; {} opened, {} closed ({} of them between two dumps)",
                duration_words(summary.duration_ms as f64),
                plural(summary.listeners_opened as usize, "listener", "listeners"),
                summary.listeners_closed,
                plural(summary.connections_opened as usize, "connection", "connections"),
                summary.connections_closed,
                summary.short_lived,
            );
            if summary.alerts > 0 {
                let _ = write!(line, "; {}", plural(summary.alerts as usize, "alert", "alerts"));
            }
            let _ = match summary.missed_spans {
                0 => write!(line, "; nothing missed"),
                n => write!(line, "; {} with missed events", plural(n as usize, "span", "spans")),
            };
        }
        (EventKind::Started, _) => {
            let Some(watching) = &event.watching else { return Ok(()) };
            let _ = write!(
                line,
                "watching {} and {}",
                plural(watching.listeners, "listener", "listeners"),
                plural(watching.connections, "connection", "connections")
            );
            if watching.namespaces > 1 {
                let _ = write!(line, " in {} network namespaces", watching.namespaces);
            }
            match (&watching.destroy_unavailable, watching.receive_buffer) {
                (None, Some(buffer)) => {
                    let _ = write!(line, "; every close from the kernel ({} KiB buffer)", buffer / 1024);
                }
                (None, None) => {}
                (Some(why), _) => {
                    let _ = write!(
                        line,
                        "; close events unavailable ({}): connections shorter than {} ms may be missed",
                        printable(why),
                        watching.interval_ms
                    );
                }
            }
            let _ = write!(
                line,
                "; table read every {} (listeners every {})",
                duration_words(watching.interval_ms as f64),
                duration_words(watching.listener_interval_ms as f64)
            );
            if let Some(history) = &watching.history {
                let _ = write!(line, "; recording to {}", printable(history));
            }
            line = style.paint(Paint::Dim, &line);
        }
        (kind, Some(facts)) => describe(&mut line, kind, event, facts, style),
        (_, None) => return Ok(()),
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

fn describe(line: &mut String, kind: EventKind, event: &WatchEvent, facts: &SocketFacts, style: &Style) {
    let (sign, word, paint) = match kind {
        EventKind::ListenerPresent => ("=", "listening", Paint::Plain),
        EventKind::ListenerOpened => ("+", "listen", Paint::Green),
        EventKind::ListenerClosed => ("-", "unlisten", Paint::Red),
        EventKind::ConnectionOpened => ("+", "connect", Paint::Green),
        EventKind::ConnectionClosed => ("-", "close", Paint::Red),
        EventKind::ScopeChanged => ("~", "scope", Paint::Yellow),
        EventKind::OwnerChanged => ("~", "owner", Paint::Yellow),
        EventKind::Alert => ("!", "ALERT", Paint::Red),
        _ => ("?", "event", Paint::Plain),
    };
    let head = format!("{sign} {word:<9}");
    line.push_str(&style.paint(paint, &head));
    let _ = write!(line, " {} {}", facts.protocol.name(), endpoint(&facts.local));
    if let Some(remote) = &facts.remote {
        let _ = write!(line, " -> {}", endpoint(remote));
    }
    if let Some(alert) = &event.alert {
        let _ = write!(line, "  {}: {}", style.paint(Paint::Bold, alert.name.word()), printable(&alert.reason));
        return;
    }
    let owners = owners_words(&facts.owners);
    match (&owners, &facts.listener) {
        (Some(owners), _) => {
            let _ = write!(line, "  {owners}");
        }
        (None, Some(listener)) => {
            let _ = write!(line, "  (to :{}", listener.local.port);
            if let Some(owners) = owners_words(&listener.owners) {
                let _ = write!(line, " of {owners}");
            }
            line.push(')');
        }
        (None, None) => {}
    }
    if facts.remote.is_none() && kind != EventKind::ListenerClosed {
        let _ = write!(line, "  {}", style.paint(scope_paint(facts.scope), facts.scope));
        if let Some(service) = facts.port_facts.service {
            let _ = write!(line, " {service}");
        }
    }
    if let Some(previous) = &event.previous {
        match kind {
            EventKind::ScopeChanged => {
                let _ = write!(line, "  was {} on {}", previous.scope, endpoint(&previous.local));
            }
            EventKind::OwnerChanged => {
                let _ = write!(line, "  was {}", owners_words(&previous.owners).unwrap_or_else(|| "unknown".into()));
            }
            _ => {}
        }
    }
    if let Some(lifetime) = &facts.lifetime {
        match (facts.open_seen, lifetime.at_most_ms) {
            (false, Some(at_most)) => {
                let _ = write!(line, "  lived <{}", duration_words(at_most));
            }
            (false, None) => {}
            (true, _) => {
                let _ = write!(line, "  lived {}", duration_words(lifetime.at_least_ms));
            }
        }
    }
    if facts.bytes_in.is_some() || facts.bytes_out.is_some() {
        let _ = write!(
            line,
            "  in {} out {}",
            facts.bytes_in.map(bytes_words).unwrap_or_else(|| "?".into()),
            facts.bytes_out.map(bytes_words).unwrap_or_else(|| "?".into())
        );
    }
    if kind == EventKind::ListenerClosed && facts.was_listening.is_none() {
        line.push_str("  (listening or only bound: it lived between two reads)");
    }
}

fn scope_paint(scope: &str) -> Paint {
    if scope == "loopback" {
        Paint::Plain
    } else {
        Paint::Yellow
    }
}

/// `127.0.0.1:8080`, `[::1]:8080`.
fn endpoint(endpoint: &Endpoint) -> String {
    endpoint.socket_addr().to_string()
}

/// `python3[4242]`, `nginx[10,11]`, or None when no owner is known.
fn owners_words(owners: &[EventOwner]) -> Option<String> {
    let first = owners.first()?;
    let name = first.name.as_deref().map(printable).unwrap_or_else(|| "?".into());
    let pids: Vec<String> = owners.iter().filter(|o| o.name == first.name).map(|o| o.pid.to_string()).collect();
    let mut words = format!("{name}[{}]", pids.join(","));
    if let Some(user) = &first.user {
        let _ = write!(words, " {}", printable(user));
    }
    let others = owners.iter().filter(|o| o.name != first.name).count();
    if others > 0 {
        let _ = write!(words, " +{others}");
    }
    Some(words)
}

/// 0.4ms, 12ms, 3.2s, 5m 3s, 2h 10m.
pub fn duration_words(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{}ms", ms.round() as u64)
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        let seconds = (ms / 1000.0).round() as u64;
        let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        if h > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{m}m {s}s")
        }
    }
}

fn bytes_words(bytes: u64) -> String {
    match bytes {
        0..=9_999 => format!("{bytes} B"),
        10_000..=9_999_999 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
    }
}

/// The UTC time of day, `14:03:07.123`.
fn utc_clock(time: SystemTime) -> String {
    let text = humantime::format_rfc3339_millis(time).to_string();
    text.get(11..23).map(str::to_string).unwrap_or(text)
}

/// The local wall-clock time of day, `14:03:07.123`.
pub fn clock(time: SystemTime) -> String {
    let micros = crate::watch::event::unix_micros_of(time);
    let seconds = (micros / 1_000_000) as libc::time_t;
    let millis = (micros / 1000) % 1000;
    // SAFETY: localtime_r fills the tm it is given and reads only `seconds`.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return format!("{seconds}.{millis:03}");
        }
        tm
    };
    format!("{:02}:{:02}:{:02}.{millis:03}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
