//! The series berth exports, built from one collection into an
//! OpenMetrics text (by the official `prometheus-client` crate, which
//! escapes label values and writes the `# TYPE`/`# HELP` lines).
//!
//! Labels are bounded on purpose: listeners, ports, scopes, states, checks
//! and severities, never a pid, a peer address or a timestamp, so that a
//! fleet's series count follows its services, not its traffic. Every series
//! is documented in docs/metrics.md; change a name only with it.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use berth_inventory::port_facts::PortFacts;
use berth_inventory::scope::scope_of;
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

use super::audit_runner::AuditResult;

/// The parts of a collection that can fail on their own; each is a
/// `berth_scrape_error{part}` series, 1 when that part failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The socket table (netlink or /proc/net).
    Sockets,
    /// The owners of the listeners (the pass over /proc).
    Owners,
    /// net.ipv4.ip_local_port_range.
    PortRanges,
    /// The kernel's close messages, which keep the byte counters of
    /// closed connections (sock_diag destroy groups).
    Closes,
    /// The last periodic audit.
    Audit,
}

impl Part {
    pub const ALL: [Part; 5] = [Part::Sockets, Part::Owners, Part::PortRanges, Part::Closes, Part::Audit];

    pub fn word(self) -> &'static str {
        match self {
            Part::Sockets => "sockets",
            Part::Owners => "owners",
            Part::PortRanges => "port_ranges",
            Part::Closes => "closes",
            Part::Audit => "audit",
        }
    }
}

/// Everything one exposition is made of.
pub struct Inputs<'a> {
    /// Every socket of berth's namespace (all states, no owners); None
    /// when the table could not be read.
    pub sockets: Option<&'a Snapshot>,
    /// The owners of the listeners: listener inode to (process name, user,
    /// container), from [`super::owners::OwnerCache`].
    pub owner_of: &'a dyn Fn(&Socket) -> Option<OwnerLabels>,
    /// Bytes received and sent, by local listening TCP port: monotonic
    /// totals from [`super::bytes::PortBytes`].
    pub bytes: &'a BTreeMap<u16, (u64, u64)>,
    /// Times the kernel dropped close messages (its buffer overflowed).
    pub close_overflows: u64,
    /// The last audit, if one has run.
    pub audit: Option<&'a AuditResult>,
    /// The parts that failed this time.
    pub failed: &'a [Part],
    /// How long the collection took, seconds.
    pub scrape_seconds: f64,
}

/// The owner labels of a listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerLabels {
    pub process: String,
    pub user: String,
    pub container: String,
}

/// One listener's labels, in the order of `LISTENER_LABELS`.
type ListenerRow = [String; 8];
const LISTENER_LABELS: [&str; 8] = ["proto", "address", "port", "scope", "service", "process", "user", "container"];

/// One exposition's values, read out of the collection before encoding;
/// the encoder walks them once (a [`Collector`], so that no series goes
/// through a hash map of label sets, as the crate's `Family` would have
/// it for 5,000 listeners). Rows are sorted: the same machine gives the
/// same text.
#[derive(Debug, Default)]
struct Collected {
    sockets_read: bool,
    listeners: Vec<ListenerRow>,
    by_scope: [(&'static str, i64); 3],
    by_state: Vec<(Protocol, SocketState, i64)>,
    time_wait: i64,
    ephemeral_in_use: [(&'static str, i64); 2],
    range_size: i64,
    bytes: Vec<(u16, u64, u64)>,
    close_overflows: u64,
    audit: Option<AuditResult>,
    errors: [(&'static str, i64); 5],
    scrape_seconds: f64,
}

/// Ports in use, one bit each.
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn new() -> PortSet {
        PortSet(Box::new([0; 1024]))
    }

    fn insert(&mut self, port: u16) {
        self.0[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    fn len(&self) -> i64 {
        self.0.iter().map(|word| i64::from(word.count_ones())).sum()
    }
}

/// The OpenMetrics text of one collection (ends with `# EOF`).
pub fn encode_openmetrics(inputs: &Inputs<'_>) -> String {
    let mut collected = Collected {
        by_scope: [("loopback", 0), ("all", 0), ("address", 0)],
        ephemeral_in_use: [("tcp", 0), ("udp", 0)],
        bytes: inputs.bytes.iter().map(|(&port, &(rx, tx))| (port, rx, tx)).collect(),
        close_overflows: inputs.close_overflows,
        audit: inputs.audit.cloned(),
        scrape_seconds: inputs.scrape_seconds,
        ..Collected::default()
    };
    for (slot, part) in collected.errors.iter_mut().zip(Part::ALL) {
        *slot = (part.word(), i64::from(inputs.failed.contains(&part)));
    }
    if let Some(snapshot) = inputs.sockets {
        read_sockets(snapshot, inputs.owner_of, &mut collected);
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collected));
    let mut text = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// The per-socket pass: listeners with their labels, counts by scope and
/// state, ephemeral ports in use.
fn read_sockets(snapshot: &Snapshot, owner_of: &dyn Fn(&Socket) -> Option<OwnerLabels>, collected: &mut Collected) {
    collected.sockets_read = true;
    let interfaces = snapshot.namespaces.first().map(|n| n.interfaces.as_slice()).unwrap_or(&[]);
    let (low, high) = snapshot.port_ranges.ephemeral;
    let (mut tcp_ephemeral, mut udp_ephemeral) = (PortSet::new(), PortSet::new());
    for socket in &snapshot.sockets {
        // A dozen states at most: a short list beats a map.
        match collected.by_state.iter_mut().find(|(p, s, _)| *p == socket.protocol && *s == socket.state) {
            Some(entry) => entry.2 += 1,
            None => collected.by_state.push((socket.protocol, socket.state, 1)),
        }
        let port = socket.local.port();
        if socket.state.is_listening() {
            let scope = scope_of(socket.local.ip(), interfaces).kind();
            if let Some(entry) = collected.by_scope.iter_mut().find(|(kind, _)| *kind == scope) {
                entry.1 += 1;
            }
            let owner = owner_of(socket).unwrap_or_default();
            let service = PortFacts::of(port, socket.protocol, &snapshot.port_ranges).service.unwrap_or("");
            let user = if owner.user.is_empty() {
                snapshot.users.get(&socket.uid).cloned().unwrap_or_default()
            } else {
                owner.user
            };
            collected.listeners.push([
                socket.protocol.name().to_string(),
                socket.local.ip().to_string(),
                port.to_string(),
                scope.to_string(),
                service.to_string(),
                owner.process,
                user,
                owner.container,
            ]);
        }
        if (low..=high).contains(&port) {
            match (socket.protocol, socket.state) {
                (Protocol::Tcp, SocketState::Listen) => {}
                (Protocol::Tcp, _) => tcp_ephemeral.insert(port),
                (Protocol::Udp, _) => udp_ephemeral.insert(port),
            }
        }
    }
    // SO_REUSEPORT siblings are one listener to Prometheus: one series.
    collected.listeners.sort_unstable();
    collected.listeners.dedup();
    collected.by_state.sort_unstable();
    collected.time_wait = collected
        .by_state
        .iter()
        .find(|(p, s, _)| *p == Protocol::Tcp && *s == SocketState::TimeWait)
        .map_or(0, |entry| entry.2);
    collected.ephemeral_in_use = [("tcp", tcp_ephemeral.len()), ("udp", udp_ephemeral.len())];
    collected.range_size = range_size_of(snapshot);
}

/// A gauge series with these labels.
fn gauge<L: EncodeLabelSet, V: EncodeGaugeValue>(
    family: &mut MetricEncoder<'_>,
    labels: &L,
    value: V,
) -> Result<(), std::fmt::Error> {
    family.encode_family(labels)?.encode_gauge(&value)
}

/// A series without labels: its descriptor and its one value.
fn lone_gauge<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &'static str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    encoder.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// A counter series with these labels.
fn counter<L: EncodeLabelSet>(family: &mut MetricEncoder<'_>, labels: &L, value: u64) -> Result<(), std::fmt::Error> {
    family.encode_family(labels)?.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.sockets_read {
            let mut family = encoder.encode_descriptor(
                "berth_listener_info",
                "A listening TCP socket or bound UDP socket: its address, port, scope, IANA service and owner. Always 1",
                None,
                MetricType::Gauge,
            )?;
            for row in &self.listeners {
                let labels: [(&str, &str); 8] = std::array::from_fn(|i| (LISTENER_LABELS[i], row[i].as_str()));
                gauge(&mut family, &labels, 1i64)?;
            }
            let mut family = encoder.encode_descriptor(
                "berth_listeners",
                "Listening TCP and bound UDP sockets, by bind scope",
                None,
                MetricType::Gauge,
            )?;
            for &(scope, count) in &self.by_scope {
                gauge(&mut family, &[("scope", scope)], count)?;
            }
            let mut family = encoder.encode_descriptor(
                "berth_sockets",
                "Sockets of this network namespace, by protocol and state",
                None,
                MetricType::Gauge,
            )?;
            for &(protocol, state, count) in &self.by_state {
                gauge(&mut family, &[("proto", protocol.name()), ("state", state.name())], count)?;
            }
            lone_gauge(
                &mut encoder,
                "berth_time_wait_sockets",
                "TCP sockets in TIME-WAIT (closed connections the kernel still remembers)",
                self.time_wait,
            )?;
            let mut family = encoder.encode_descriptor(
                "berth_ephemeral_ports_in_use",
                "Distinct local ports inside the ephemeral range used by connections (TCP) or sockets (UDP)",
                None,
                MetricType::Gauge,
            )?;
            for &(protocol, count) in &self.ephemeral_in_use {
                gauge(&mut family, &[("proto", protocol)], count)?;
            }
            lone_gauge(
                &mut encoder,
                "berth_ephemeral_port_range_size",
                "Ports in net.ipv4.ip_local_port_range, less the reserved ones",
                self.range_size,
            )?;
        }
        let mut buffer = itoa::Buffer::new();
        for (name, help, sent) in [
            (
                "berth_port_received_bytes",
                "Bytes received by the connections accepted on a local listening TCP port, closed ones included",
                false,
            ),
            (
                "berth_port_sent_bytes",
                "Bytes sent by the connections accepted on a local listening TCP port, closed ones included",
                true,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for &(port, rx, tx) in &self.bytes {
                counter(&mut family, &[("port", buffer.format(port))], if sent { tx } else { rx })?;
            }
        }
        encoder
            .encode_descriptor(
                "berth_close_messages_dropped",
                "Times the kernel dropped close messages (its buffer overflowed): those connections' last bytes are not counted",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&self.close_overflows, None)?;
        if let Some(audit) = &self.audit {
            let mut family = encoder.encode_descriptor(
                "berth_audit_finding",
                "A finding of the last periodic audit (berth audit): its check, severity, port and process. Always 1",
                None,
                MetricType::Gauge,
            )?;
            for f in &audit.findings {
                let port = f.port.map(|p| p.to_string()).unwrap_or_default();
                let labels =
                    [("check", f.check), ("severity", f.severity), ("port", port.as_str()), ("process", &f.process)];
                gauge(&mut family, &labels, 1i64)?;
            }
            lone_gauge(
                &mut encoder,
                "berth_audit_last_run_timestamp_seconds",
                "When the last periodic audit finished, Unix time",
                audit.finished_unix,
            )?;
            lone_gauge(
                &mut encoder,
                "berth_audit_duration_seconds",
                "How long the last periodic audit took",
                audit.seconds,
            )?;
        }
        let mut family = encoder.encode_descriptor(
            "berth_scrape_error",
            "1 when this part of the collection failed (the series from it are missing or stale), else 0",
            None,
            MetricType::Gauge,
        )?;
        for &(part, failed) in &self.errors {
            gauge(&mut family, &[("part", part)], failed)?;
        }
        lone_gauge(
            &mut encoder,
            "berth_scrape_duration_seconds",
            "How long reading the system for this exposition took",
            self.scrape_seconds,
        )?;
        let mut family = encoder.encode_descriptor(
            "berth_build_info",
            "The berth that exports these series. Always 1",
            None,
            MetricType::Gauge,
        )?;
        gauge(&mut family, &[("version", env!("CARGO_PKG_VERSION"))], 1i64)?;
        Ok(())
    }
}

/// Ports the kernel may pick for clients: the ephemeral range less the
/// reserved ports inside it (reserved ranges may overlap: each port once).
fn range_size_of(snapshot: &Snapshot) -> i64 {
    let (low, high) = snapshot.port_ranges.ephemeral;
    let mut reserved = PortSet::new();
    for &(a, b) in &snapshot.port_ranges.reserved {
        for port in a.max(low)..=b.min(high) {
            reserved.insert(port);
        }
    }
    if high < low {
        return 0;
    }
    i64::from(high - low) + 1 - reserved.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_inventory::builder::SnapshotBuilder;
    use berth_inventory::PortRanges;

    #[test]
    fn the_range_size_counts_each_reserved_port_once() {
        let ranges = |reserved: Vec<(u16, u16)>| PortRanges {
            ephemeral: (40000, 40999),
            reserved,
            bindv6only: false,
            unread: None,
        };
        let size = |reserved| range_size_of(&SnapshotBuilder::new().port_ranges(ranges(reserved)).build());
        assert_eq!(size(vec![]), 1000);
        // Overlapping, and partly outside the range.
        assert_eq!(size(vec![(40000, 40009), (40005, 40014), (39990, 40000), (41000, 42000)]), 985);
    }
}
