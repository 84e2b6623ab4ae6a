//! The kernel's port allocation settings.

use std::fs;

use super::PortRanges;

/// Linux's default when the sysctl cannot be read.
pub(crate) const DEFAULT_EPHEMERAL: (u16, u16) = (32768, 60999);

pub(crate) fn port_ranges() -> PortRanges {
    const RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
    let (ephemeral, unread) = match fs::read_to_string(RANGE) {
        Ok(text) => match parse_range_pair(&text) {
            Some(range) => (range, None),
            None => (DEFAULT_EPHEMERAL, Some(format!("{RANGE} does not hold two port numbers"))),
        },
        Err(e) => (DEFAULT_EPHEMERAL, Some(format!("cannot read {RANGE}: {e}"))),
    };
    let reserved = fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports")
        .map(|text| parse_port_list(&text))
        .unwrap_or_default();
    let bindv6only = fs::read_to_string("/proc/sys/net/ipv6/bindv6only").map(|t| t.trim() == "1").unwrap_or(false);
    PortRanges { ephemeral, reserved, bindv6only, unread }
}

/// `32768\t60999\n`
fn parse_range_pair(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_ascii_whitespace();
    let low = parts.next()?.parse().ok()?;
    let high = parts.next()?.parse().ok()?;
    Some((low, high))
}

/// `8080,9000-9010\n` (empty when none are reserved).
fn parse_port_list(text: &str) -> Vec<(u16, u16)> {
    text.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|part| match part.split_once('-') {
            Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
            None => {
                let port = part.trim().parse().ok()?;
                Some((port, port))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysctl_formats() {
        assert_eq!(parse_range_pair("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_list("8080,9000-9010\n"), vec![(8080, 8080), (9000, 9010)]);
        assert!(parse_port_list("\n").is_empty());
    }
}
