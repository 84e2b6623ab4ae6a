//! Which ports `berth free` may hand out: the candidate ranges and the
//! order to try them in. Whether a port is really free is decided by
//! binding it (actions::bind); this module only plans.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::plural;
use berth_inventory::target::{parse_port_in, refusal, TargetError};
use berth_inventory::{PortRanges, Protocol, Snapshot};

/// IANA's dynamic (private) range, RFC 6335.
pub const DYNAMIC: (u16, u16) = (49152, 65535);

/// What `--range` takes, the end of each of its refusals.
const RANGE_FORMS: &str = "a range is LOW-HIGH, two ports 1-65535, as 20000-20100";

/// `LOW-HIGH`, both ports, LOW <= HIGH; a refusal names the wrong port
/// (`invalid port '70000' in '1-70000'`).
pub fn parse_range(text: &str) -> Result<(u16, u16), TargetError> {
    let (low, high) = text.split_once('-').ok_or_else(|| refusal("range", text, text, RANGE_FORMS))?;
    let low = parse_port_in(low, text, RANGE_FORMS)?;
    let high = parse_port_in(high, text, RANGE_FORMS)?;
    if low > high {
        return Err(refusal("range", text, text, &format!("a range runs upwards, as {high}-{low}; {RANGE_FORMS}")));
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

/// Why candidate ports were not handed out, counted by cause: what
/// `berth free` says when it finds fewer ports than asked, so the user
/// hears the bind error that happened rather than "widen the range".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shortfall {
    /// Ports some socket already uses, or whose bind said EADDRINUSE.
    pub in_use: usize,
    /// Ports whose bind said EACCES: below net.ipv4.ip_unprivileged_port_start.
    pub needs_privilege: usize,
    /// Addresses whose bind said EADDRNOTAVAIL: not an address of this
    /// machine (no port can be free there, so the search stops).
    pub not_local: Vec<IpAddr>,
    /// Other bind errors, by their text, with how many ports got each.
    pub other: BTreeMap<String, usize>,
}

impl Shortfall {
    /// The one line `berth free` prints when it found `found` of `count`
    /// ports among `candidates` in `range`. `unprivileged_start` is
    /// net.ipv4.ip_unprivileged_port_start, when it could be read.
    pub fn message(
        &self,
        found: usize,
        count: usize,
        range: (u16, u16),
        candidates: usize,
        unprivileged_start: Option<u16>,
    ) -> String {
        let (low, high) = range;
        let mut line = format!(
            "only {found} of {} free in {low}-{high} ({})",
            plural(count, "requested port is", "requested ports are"),
            plural(candidates, "candidate", "candidates")
        );
        let mut causes = Vec::new();
        for address in &self.not_local {
            causes.push(format!(
                "{address} is not an address of this machine (EADDRNOTAVAIL): give one it has (ip -brief address \
                 lists them) or leave out --bind"
            ));
        }
        if self.needs_privilege > 0 {
            let start = unprivileged_start.map_or_else(|| "1024".to_string(), |s| s.to_string());
            causes.push(format!(
                "{} (EACCES): ports below {start} need root or CAP_NET_BIND_SERVICE \
                 (net.ipv4.ip_unprivileged_port_start={start}); run as root, or give a --range from {start} up",
                plural(self.needs_privilege, "port was refused", "ports were refused")
            ));
        }
        for (error, ports) in &self.other {
            causes.push(format!("{}: {error}", plural(*ports, "port", "ports")));
        }
        if self.in_use > 0 {
            causes.push(format!(
                "{} in use; widen the range with --range LOW-HIGH",
                plural(self.in_use, "port is", "ports are")
            ));
        }
        if !causes.is_empty() {
            line.push_str(": ");
            line.push_str(&causes.join("; "));
        }
        line
    }
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
        PortRanges { ephemeral: (32768, 60999), reserved: vec![(62000, 62009)], bindv6only: false, unread: None }
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
    fn the_shortfall_names_each_cause() {
        let privileged = Shortfall { needs_privilege: 1023, ..Shortfall::default() };
        assert_eq!(
            privileged.message(0, 1, (1, 1023), 1023, Some(1024)),
            "only 0 of 1 requested port is free in 1-1023 (1023 candidates): 1023 ports were refused (EACCES): \
             ports below 1024 need root or CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start=1024); run as \
             root, or give a --range from 1024 up"
        );
        let elsewhere = Shortfall { not_local: vec!["192.0.2.9".parse().unwrap()], ..Shortfall::default() };
        let text = elsewhere.message(0, 2, (61000, 65535), 4536, Some(1024));
        assert!(text.starts_with("only 0 of 2 requested ports are free"), "{text}");
        assert!(text.contains("192.0.2.9 is not an address of this machine (EADDRNOTAVAIL)"), "{text}");
        assert!(!text.contains("widen"), "{text}");
        let busy = Shortfall { in_use: 1, ..Shortfall::default() };
        assert!(busy
            .message(0, 1, (20000, 20000), 1, None)
            .ends_with(": 1 port is in use; widen the range with --range LOW-HIGH"));
    }

    #[test]
    fn rotation_keeps_every_port() {
        let ports = shuffled_start(vec![1, 2, 3, 4], 6);
        assert_eq!(ports, vec![3, 4, 1, 2]);
    }
}
