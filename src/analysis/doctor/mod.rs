//! `berth doctor`: checks of the loopback setup, or of one port, as plain
//! functions over facts the inventory read (the Snapshot, the system's
//! settings, the firewall rules). Nothing here reads the kernel or prints.
//!
//! Each check has a stable id and is one small function in the file of its
//! group; every run of a mode lists the same checks in the same order
//! (a check that does not apply says `skipped` and why), so scripts can
//! look one up by id.

pub mod accept_queue;
pub mod ephemeral;
pub mod firewall;
pub mod limits;
pub mod localhost;
pub mod loopback;
pub mod port;
pub mod sysctls;

use serde::Serialize;

use berth_inventory::firewall::Firewall;
use berth_inventory::system::SystemFacts;
use berth_inventory::target::PortTarget;
use berth_inventory::Snapshot;

/// How a check came out. Ordered from harmless to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// A fact worth knowing that needs no action.
    Info,
    /// The check did not apply, or could not run (the summary says why).
    Skipped,
    Warn,
    Fail,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Skipped => "skipped",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Warnings and failures are problems (exit status 1); the rest are not.
    pub fn is_problem(self) -> bool {
        matches!(self, Status::Warn | Status::Fail)
    }
}

/// One check's outcome: a one-line summary, an optional longer explanation,
/// and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    pub detail: Option<String>,
    pub fix: Option<String>,
}

impl Check {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Check { id, status, summary: summary.into(), detail: None, fix: None }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// The whole report: what was checked, the overall outcome, every check.
#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    /// The port as the user typed it; null for the machine checks.
    pub target: Option<String>,
    pub port: Option<u16>,
    /// The worst status: "fail", else "warn", else "ok".
    pub status: Status,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    fn new(target: Option<&PortTarget>, checks: Vec<Check>) -> Self {
        let worst = checks.iter().map(|c| c.status).filter(|s| s.is_problem()).max().unwrap_or(Status::Ok);
        DoctorReport { target: target.map(|t| t.text.clone()), port: target.map(|t| t.port), status: worst, checks }
    }

    pub fn has_problems(&self) -> bool {
        self.status.is_problem()
    }
}

/// What the checks read: one Snapshot, the system's settings, the firewall.
pub struct Facts<'a> {
    pub snapshot: &'a Snapshot,
    pub system: &'a SystemFacts,
    pub firewall: &'a Firewall,
}

/// The machine checks (no port): loopback, localhost, ephemeral ports,
/// limits, routing sysctls, firewall.
pub fn machine(facts: &Facts) -> DoctorReport {
    let system = facts.system;
    let ranges = &facts.snapshot.port_ranges;
    let checks = vec![
        loopback::up(system),
        loopback::ipv4(system),
        loopback::ipv6(system),
        loopback::ipv6_enabled(system),
        localhost::resolve(system),
        localhost::hosts(system),
        localhost::nsswitch(system),
        ephemeral::range(ranges),
        ephemeral::reserved(facts.snapshot),
        ephemeral::in_use(facts.snapshot),
        ephemeral::time_wait(facts.snapshot),
        ephemeral::exhaustion(facts.snapshot),
        limits::nofile(system),
        limits::system_files(system),
        sysctls::route_localnet(system),
        sysctls::rp_filter(system),
        sysctls::accept_local(system),
        sysctls::unprivileged_port_start(system),
        firewall::loopback(facts.firewall),
    ];
    DoctorReport::new(None, checks)
}

/// The checks of one port: why binding it or connecting to it fails or
/// behaves oddly. Who holds it comes first: for a held port that is the
/// answer.
pub fn port(target: &PortTarget, facts: &Facts) -> DoctorReport {
    let who = super::who::who(target, facts.snapshot);
    let checks = vec![
        port::held(target, &who, facts),
        loopback::up(facts.system),
        accept_queue::check(target, facts.snapshot),
        port::time_wait(&who),
        port::localhost_order(target, facts),
        port::split_loopback(target, facts.snapshot),
        port::interface_only(target, facts.snapshot),
        port::privileged(target.port, facts.system),
        port::ephemeral(target.port, &facts.snapshot.port_ranges),
        firewall::port(target, facts.firewall),
    ];
    DoctorReport::new(Some(target), checks)
}

/// "1 rule", "2 rules": the crate's one helper, in reach of every check.
pub(crate) use super::plural;

/// Percent of `part` in `whole`, for messages (0 when whole is 0).
pub(crate) fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Facts for the unit tests of the checks: a healthy machine to change.
#[cfg(test)]
pub(crate) mod tests_support {
    use berth_inventory::builder::{plain_socket, SnapshotBuilder};
    use berth_inventory::system::{FileFact, FileLimits, InterfaceConf, InterfaceState, Ipv6Settings, SystemFacts};
    use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

    pub fn system() -> SystemFacts {
        let conf = |name: &str| InterfaceConf {
            name: name.into(),
            route_localnet: Some(0),
            rp_filter: Some(0),
            accept_local: Some(0),
        };
        SystemFacts {
            euid: 1000,
            can_bind_privileged: false,
            interfaces: vec![InterfaceState {
                name: "lo".into(),
                up: true,
                loopback: true,
                addresses: vec![("127.0.0.1".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)],
            }],
            localhost: Ok(vec!["127.0.0.1".parse().unwrap()]),
            hosts: FileFact::Read(Vec::new()),
            nsswitch_hosts: FileFact::Read(Some("files dns".into())),
            ipv6: Ipv6Settings {
                available: true,
                disabled_all: Some(false),
                disabled_default: Some(false),
                disabled_lo: Some(false),
            },
            ipv4_conf: vec![conf("all"), conf("default"), conf("lo"), conf("eth0")],
            unprivileged_port_start: Some(1024),
            limits: FileLimits {
                soft: Some(1024),
                hard: Some(524_288),
                file_max: Some(1_000_000),
                file_open: Some(1000),
                nr_open: Some(1_048_576),
            },
        }
    }

    /// A TCP socket; `remote` None for listeners (root's, IPv6 ones v6only).
    pub fn socket(local: &str, remote: Option<&str>, state: SocketState) -> Socket {
        let mut socket = plain_socket(Protocol::Tcp, local, remote, state, 0);
        socket.uid = 0;
        socket.listen_backlog = None;
        socket.v6only = socket.local.is_ipv6().then_some(true);
        socket
    }

    /// A snapshot of these sockets, taken by root, with no interfaces.
    pub fn snapshot(sockets: Vec<Socket>) -> Snapshot {
        let mut snapshot = sockets.into_iter().fold(SnapshotBuilder::new(), SnapshotBuilder::socket).build();
        snapshot.our_uid = 0;
        snapshot.users.clear();
        snapshot.namespaces[0].interfaces.clear();
        snapshot
    }
}
