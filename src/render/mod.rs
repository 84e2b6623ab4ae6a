//! Rendering: tables for people, JSON for programs. Render prints what
//! analysis returns and knows nothing of the kernel.

pub mod audit;
pub mod doctor;
pub mod json;
pub mod kill;
pub mod ls;
pub mod probe;
pub mod scan;
pub mod style;
pub mod table;
pub mod who;

/// "1 finding", "3 findings": the one helper for counts in words, shared
/// with analysis (which builds doctor's sentences with it).
pub use crate::analysis::plural;

/// "5m ago", "3h ago", "2d ago": how long before `now` a Unix time was
/// (both in seconds; `now` is the snapshot's time, not the clock's).
pub fn age(unix_seconds: u64, now: u64) -> String {
    let seconds = now.saturating_sub(unix_seconds);
    match seconds {
        0..=59 => format!("{seconds}s ago"),
        60..=3599 => format!("{}m ago", seconds / 60),
        3600..=86_399 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// "loopback", "all (v4+v6)", "all (v6)", "eth0": a bind scope in a word or two.
pub fn scope_label(scope: &str, interface: Option<&str>, covers_ipv4: bool, covers_ipv6: bool) -> String {
    match scope {
        "loopback" => "loopback".into(),
        "all" => match (covers_ipv4, covers_ipv6) {
            (true, true) => "all (v4+v6)".into(),
            (false, true) => "all (v6)".into(),
            _ => "all".into(),
        },
        _ => interface.unwrap_or("address").to_string(),
    }
}

#[cfg(test)]
mod golden;
