//! `berth scan [HOST]`: open ports of this machine with their holders
//! (several owners, one berth cannot see, a long command line, a name to
//! escape), a host elsewhere (no holders), UDP, nothing open, the notes for
//! stderr, a narrow terminal, colour, and the JSON. The scan's outcome is
//! built in code; the holders come from a built Snapshot through
//! `net::local::entries`, as the command finds them.

use std::net::IpAddr;
use std::time::Duration;

use berth_inventory::builder::{plain_process, SnapshotBuilder};
use berth_inventory::{Process, Protocol, Snapshot};

use super::{printed, COLOUR, NARROW, PIPE};
use crate::net::local::{entries, Entry};
use crate::net::scan::{Found, PortState, ScanOutcome};
use crate::render::json;
use crate::render::scan::{notes, write_report, Heading};
use crate::render::style::Style;

/// A command line longer than any terminal is wide.
const JAVA: [&str; 5] = [
    "/usr/lib/jvm/java-21-openjdk-amd64/bin/java",
    "-Dlogging.config=/home/alice/projects/inventory-service/config/logback-local.xml",
    "-jar",
    "/home/alice/projects/inventory-service/build/libs/inventory-service-2.14.0-SNAPSHOT.jar",
    "--server.port=3000",
];

/// The listeners behind the open ports of [`local_outcome`].
fn machine() -> Snapshot {
    SnapshotBuilder::new()
        .user(0, "root")
        .tcp_listener("0.0.0.0:22", 10)
        .socket_uid(10, 0)
        .tcp_listener("[::]:80", 11)
        .owner(11, 24832)
        .owner(11, 24833)
        .tcp_listener("127.0.0.1:3000", 12)
        .owner(12, 5150)
        .tcp_listener("127.0.0.1:6666", 13)
        .owner(13, 6666)
        .tcp_listener("127.0.0.1:8080", 14)
        .owner(14, 4242)
        .process_full(Process {
            uid: 0,
            user: Some("root".into()),
            ..plain_process(24832, "nginx", &["nginx: master process /usr/sbin/nginx"])
        })
        .process_full(Process {
            ppid: 24832,
            uid: 33,
            user: Some("www-data".into()),
            ..plain_process(24833, "nginx", &["nginx: worker process"])
        })
        .process(5150, "java", &JAVA)
        .process(6666, "ev\u{202e}il\u{1b}[2J", &[])
        .process(4242, "python3", &["python3", "-m", "http.server", "8080"])
        .build()
}

fn found(port: u16, state: PortState, latency_us: u64) -> Found {
    Found { port, state, latency: Duration::from_micros(latency_us) }
}

/// A full TCP scan of 127.0.0.1 that found five open ports.
fn local_outcome() -> ScanOutcome {
    ScanOutcome {
        found: vec![
            found(22, PortState::Open, 80),
            found(80, PortState::Open, 95),
            found(3000, PortState::Open, 1_234),
            found(6666, PortState::Open, 12_300),
            found(8080, PortState::Open, 150_700),
        ],
        scanned: 65_535,
        closed: 65_530,
        elapsed: Duration::from_millis(1_234),
        ..ScanOutcome::default()
    }
}

/// The report for `outcome` of `host` (at `address`), with holders from
/// `snapshot` when there is one (the host is this machine).
fn report(
    host: &str,
    address: &str,
    protocol: Protocol,
    outcome: &ScanOutcome,
    snapshot: Option<&Snapshot>,
    style: &Style,
) -> String {
    let address: IpAddr = address.parse().expect("an address");
    let found: Vec<Entry> = entries(&outcome.found, address, protocol, snapshot);
    let heading = Heading { host, address, protocol, outcome };
    printed(|out| write_report(out, &heading, &found, style))
}

#[test]
fn this_machine_with_holders() {
    let snapshot = machine();
    insta::assert_snapshot!(report("localhost", "127.0.0.1", Protocol::Tcp, &local_outcome(), Some(&snapshot), &PIPE));
}

#[test]
fn this_machine_on_a_narrow_terminal() {
    let snapshot = machine();
    insta::assert_snapshot!(report(
        "127.0.0.1",
        "127.0.0.1",
        Protocol::Tcp,
        &local_outcome(),
        Some(&snapshot),
        &NARROW
    ));
}

#[test]
fn this_machine_in_colour() {
    let snapshot = machine();
    insta::assert_snapshot!(report(
        "localhost",
        "127.0.0.1",
        Protocol::Tcp,
        &local_outcome(),
        Some(&snapshot),
        &COLOUR
    ));
}

#[test]
fn another_host_without_holders() {
    let outcome = ScanOutcome {
        found: vec![found(22, PortState::Open, 410), found(5432, PortState::Open, 520)],
        scanned: 1_000,
        closed: 998,
        elapsed: Duration::from_millis(503),
        ..ScanOutcome::default()
    };
    insta::assert_snapshot!(report("db.example.test\u{1b}[2J", "192.0.2.7", Protocol::Tcp, &outcome, None, &PIPE));
}

#[test]
fn udp_open_and_open_filtered() {
    let outcome = ScanOutcome {
        found: vec![
            found(53, PortState::Open, 310),
            found(123, PortState::OpenFiltered, 1_500_000),
            found(5353, PortState::OpenFiltered, 1_500_000),
        ],
        scanned: 1_024,
        closed: 1_021,
        elapsed: Duration::from_millis(3_020),
        ..ScanOutcome::default()
    };
    insta::assert_snapshot!(report("127.0.0.1", "127.0.0.1", Protocol::Udp, &outcome, None, &PIPE));
}

#[test]
fn nothing_open() {
    let outcome =
        ScanOutcome { scanned: 1_024, closed: 1_024, elapsed: Duration::from_millis(21), ..ScanOutcome::default() };
    let snapshot = SnapshotBuilder::new().build();
    insta::assert_snapshot!(report("::1", "::1", Protocol::Tcp, &outcome, Some(&snapshot), &PIPE));
}

#[test]
fn notes_for_stderr() {
    let outcome = ScanOutcome {
        errors: vec![
            ("Cannot assign requested address (os error 99)".into(), 1_200),
            ("Too many open files".into(), 1),
        ],
        timed_out: 3,
        self_connections: 1,
        ..local_outcome()
    };
    insta::assert_snapshot!(notes(&outcome, &[], Duration::from_millis(1_500)).join("\n"));
}

#[test]
fn json_with_holders() {
    let snapshot = machine();
    let address: IpAddr = "127.0.0.1".parse().unwrap();
    let found = entries(&local_outcome().found, address, Protocol::Tcp, Some(&snapshot));
    insta::assert_snapshot!(printed(|out| json::write_array(out, &found)));
}

#[test]
fn json_of_another_host() {
    let address: IpAddr = "192.0.2.7".parse().unwrap();
    let found = entries(&[found(22, PortState::Open, 410)], address, Protocol::Tcp, None);
    insta::assert_snapshot!(printed(|out| json::write_array(out, &found)));
}
