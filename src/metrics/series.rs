//! The series berth exports, built from one collection into an
//! OpenMetrics text (by the official `prometheus-client` crate, which
//! escapes label values and writes the `# TYPE`/`# HELP` lines).
//!
//! Labels are bounded on purpose: listeners, ports, scopes, states, checks
//! and severities, never a pid, a peer address or a timestamp, so that a
//! fleet's series count follows its services, not its traffic. Every series
//! is documented in docs/metrics.md; change a name only with it.

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use berth_inventory::port_facts::PortFacts;
use berth_inventory::scope::{scope_of, BindScope};
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

type Labels = Vec<(&'static str, String)>;

/// The OpenMetrics text of one collection (ends with `# EOF`).
pub fn encode_openmetrics(inputs: &Inputs<'_>) -> String {
    let mut registry = Registry::default();
    let family = |registry: &mut Registry, name: &str, help: &str| {
        let family = Family::<Labels, Gauge>::default();
        registry.register(name, help, family.clone());
        family
    };

    let listener_info = family(
        &mut registry,
        "berth_listener_info",
        "A listening TCP socket or bound UDP socket: its address, port, scope, IANA service and owner. Always 1",
    );
    let listeners = family(&mut registry, "berth_listeners", "Listening TCP and bound UDP sockets, by bind scope");
    let sockets = family(&mut registry, "berth_sockets", "Sockets of this network namespace, by protocol and state");
    let time_wait = Gauge::<i64>::default();
    registry.register(
        "berth_time_wait_sockets",
        "TCP sockets in TIME-WAIT (closed connections the kernel still remembers)",
        time_wait.clone(),
    );
    let ephemeral_in_use = family(
        &mut registry,
        "berth_ephemeral_ports_in_use",
        "Distinct local ports inside the ephemeral range used by connections (TCP) or sockets (UDP)",
    );
    let range_size = Gauge::<i64>::default();
    registry.register(
        "berth_ephemeral_port_range_size",
        "Ports in net.ipv4.ip_local_port_range, less the reserved ones",
        range_size.clone(),
    );
    let received = Family::<Labels, Counter>::default();
    registry.register(
        "berth_port_received_bytes",
        "Bytes received by the connections accepted on a local listening TCP port, closed ones included",
        received.clone(),
    );
    let sent = Family::<Labels, Counter>::default();
    registry.register(
        "berth_port_sent_bytes",
        "Bytes sent by the connections accepted on a local listening TCP port, closed ones included",
        sent.clone(),
    );
    let missed = Counter::<u64>::default();
    registry.register(
        "berth_close_messages_dropped",
        "Times the kernel dropped close messages (its buffer overflowed): those connections' last bytes are not counted",
        missed.clone(),
    );

    if let Some(snapshot) = inputs.sockets {
        let interfaces = snapshot.namespaces.first().map(|n| n.interfaces.as_slice()).unwrap_or(&[]);
        let mut by_scope: BTreeMap<&'static str, i64> = [("loopback", 0), ("all", 0), ("address", 0)].into();
        let mut by_state: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
        let (mut tcp_ephemeral, mut udp_ephemeral) = (Vec::new(), Vec::new());
        let (low, high) = snapshot.port_ranges.ephemeral;
        for socket in &snapshot.sockets {
            *by_state.entry((socket.protocol.name(), socket.state.name())).or_default() += 1;
            let port = socket.local.port();
            if socket.state.is_listening() {
                let scope = match scope_of(socket.local.ip(), interfaces) {
                    BindScope::Loopback => "loopback",
                    BindScope::All => "all",
                    BindScope::Address { .. } => "address",
                };
                *by_scope.entry(scope).or_default() += 1;
                let owner = (inputs.owner_of)(socket).unwrap_or_default();
                let service = PortFacts::of(port, socket.protocol, &snapshot.port_ranges).service.unwrap_or("");
                let user = if owner.user.is_empty() {
                    snapshot.users.get(&socket.uid).cloned().unwrap_or_default()
                } else {
                    owner.user
                };
                let labels = vec![
                    ("proto", socket.protocol.name().to_string()),
                    ("address", socket.local.ip().to_string()),
                    ("port", port.to_string()),
                    ("scope", scope.to_string()),
                    ("service", service.to_string()),
                    ("process", owner.process),
                    ("user", user),
                    ("container", owner.container),
                ];
                listener_info.get_or_create(&labels).set(1);
            }
            if (low..=high).contains(&port) {
                match (socket.protocol, socket.state) {
                    (Protocol::Tcp, SocketState::Listen) => {}
                    (Protocol::Tcp, _) => tcp_ephemeral.push(port),
                    (Protocol::Udp, _) => udp_ephemeral.push(port),
                }
            }
        }
        for (scope, count) in by_scope {
            listeners.get_or_create(&vec![("scope", scope.to_string())]).set(count);
        }
        for ((proto, state), count) in by_state {
            sockets.get_or_create(&vec![("proto", proto.to_string()), ("state", state.to_string())]).set(count);
            if proto == "tcp" && state == SocketState::TimeWait.name() {
                time_wait.set(count);
            }
        }
        for (proto, mut ports) in [("tcp", tcp_ephemeral), ("udp", udp_ephemeral)] {
            ports.sort_unstable();
            ports.dedup();
            ephemeral_in_use.get_or_create(&vec![("proto", proto.to_string())]).set(ports.len() as i64);
        }
        range_size.set(range_size_of(snapshot));
    }
    for (&port, &(rx, tx)) in inputs.bytes {
        received.get_or_create(&vec![("port", port.to_string())]).inc_by(rx);
        sent.get_or_create(&vec![("port", port.to_string())]).inc_by(tx);
    }
    missed.inc_by(inputs.close_overflows);

    if let Some(audit) = inputs.audit {
        let finding = family(
            &mut registry,
            "berth_audit_finding",
            "A finding of the last periodic audit (berth audit): its check, severity, port and process. Always 1",
        );
        for f in &audit.findings {
            let labels = vec![
                ("check", f.check.to_string()),
                ("severity", f.severity.to_string()),
                ("port", f.port.map(|p| p.to_string()).unwrap_or_default()),
                ("process", f.process.clone()),
            ];
            finding.get_or_create(&labels).set(1);
        }
        let last = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "berth_audit_last_run_timestamp_seconds",
            "When the last periodic audit finished, Unix time",
            last.clone(),
        );
        last.set(audit.finished_unix);
        let duration = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register("berth_audit_duration_seconds", "How long the last periodic audit took", duration.clone());
        duration.set(audit.seconds);
    }

    let errors = family(
        &mut registry,
        "berth_scrape_error",
        "1 when this part of the collection failed (the series from it are missing or stale), else 0",
    );
    for part in Part::ALL {
        errors.get_or_create(&vec![("part", part.word().to_string())]).set(i64::from(inputs.failed.contains(&part)));
    }
    let scrape = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    registry.register(
        "berth_scrape_duration_seconds",
        "How long reading the system for this exposition took",
        scrape.clone(),
    );
    scrape.set(inputs.scrape_seconds);
    let build = family(&mut registry, "berth_build_info", "The berth that exports these series. Always 1");
    build.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())]).set(1);

    let mut text = String::with_capacity(4096);
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Ports the kernel may pick for clients: the ephemeral range less the
/// reserved ports inside it.
fn range_size_of(snapshot: &Snapshot) -> i64 {
    let (low, high) = snapshot.port_ranges.ephemeral;
    if high < low {
        return 0;
    }
    let reserved: i64 = snapshot
        .port_ranges
        .reserved
        .iter()
        .map(|&(a, b)| (a.max(low), b.min(high)))
        .filter(|(a, b)| a <= b)
        .map(|(a, b)| i64::from(b - a) + 1)
        .sum();
    i64::from(high - low) + 1 - reserved
}
