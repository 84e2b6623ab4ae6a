//! Which ports `berth free` may hand out: the candidate ranges and the
//! order to try them in. Whether a port is really free is decided by
//! binding it (actions::bind); this module only plans.

use berth_inventory::target::{parse_port, TargetError};
use berth_inventory::{PortRanges, Protocol, Snapshot};

/// IANA's dynamic (private) range, RFC 6335.
pub const DYNAMIC: (u16, u16) = (49152, 65535);

/// `LOW-HIGH`, both ports, LOW <= HIGH.
pub fn parse_range(text: &str) -> Result<(u16, u16), TargetError> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| TargetError(format!("'{text}' is not a range: write LOW-HIGH, as 20000-20100")))?;
    let low = parse_port(low)?;
    let high = parse_port(high)?;
    if low > high {
        return Err(TargetError(format!("'{text}': the range is empty ({low} is above {high}); write LOW-HIGH")));
    }
    Ok((low, high))
}

/// Ports to consider, in ascending order: the chosen range (or the dynamic
/// range minus the kernel's ephemeral range) minus reserved ports.
pub fn candidates(range: Option<(u16, u16)>, ranges: &PortRanges) -> Vec<u16> {
    let (low, high) = range.unwrap_or(DYNAMIC);
    let (eph_low, eph_high) = ranges.ephemeral;
    (low..=high)
        .filter(|p| range.is_some() || !(eph_low..=eph_high).contains(p))
        .filter(|p| !ranges.reserved.iter().any(|&(a, b)| (a..=b).contains(p)))
        .collect()
}

/// True when some socket of `protocol` already uses `port` as its local
/// port, in any state (TIME_WAIT included) and on any address.
pub fn in_use(port: u16, protocol: Protocol, snapshot: &Snapshot) -> bool {
    snapshot.sockets.iter().any(|s| s.protocol == protocol && s.local.port() == port)
}

/// Rotates `ports` to start at a random place, so that two programs asking
/// at the same moment are unlikely to try the same port first.
pub fn shuffled_start(mut ports: Vec<u16>, seed: u64) -> Vec<u16> {
    if !ports.is_empty() {
        let start = (seed % ports.len() as u64) as usize;
        ports.rotate_left(start);
    }
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux_default() -> PortRanges {
        PortRanges { ephemeral: (32768, 60999), reserved: vec![(62000, 62009)], bindv6only: false }
    }

    #[test]
    fn default_range_avoids_ephemeral_and_reserved() {
        let ports = candidates(None, &linux_default());
        assert_eq!(ports.first(), Some(&61000));
        assert_eq!(ports.last(), Some(&65535));
        assert!(!ports.contains(&62005));
        assert_eq!(ports.len(), 65535 - 61000 + 1 - 10);
    }

    #[test]
    fn chosen_range_keeps_ephemeral_but_not_reserved() {
        let ports = candidates(Some((40000, 40002)), &linux_default());
        assert_eq!(ports, vec![40000, 40001, 40002]);
        let ports = candidates(Some((61999, 62001)), &linux_default());
        assert_eq!(ports, vec![61999]);
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("20000-20100").unwrap(), (20000, 20100));
        assert!(parse_range("20100-20000").is_err());
        assert!(parse_range("0-10").is_err());
        assert!(parse_range("20000").is_err());
        assert!(parse_range("a-b").is_err());
        assert!(parse_range("1-70000").is_err());
    }

    #[test]
    fn rotation_keeps_every_port() {
        let ports = shuffled_start(vec![1, 2, 3, 4], 6);
        assert_eq!(ports, vec![3, 4, 1, 2]);
    }
}
