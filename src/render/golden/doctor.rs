//! `berth doctor [PORT]`: the machine checks on a healthy machine and on
//! one with problems, the checks of a port (split loopback holders,
//! TIME_WAIT only, a privileged port), text from outside escaped, colour,
//! and the JSON. The reports come from berth's checks over facts built in
//! code (a built Snapshot and the checks' own test machine).

use berth_inventory::builder::{plain_socket, SnapshotBuilder};
use berth_inventory::firewall::Firewall;
use berth_inventory::system::{FileFact, HostsEntry, SystemFacts};
use berth_inventory::target::PortTarget;
use berth_inventory::{Protocol, Snapshot, Socket, SocketState};

use super::{printed, time_wait_only, COLOUR, PIPE};
use crate::analysis::doctor::tests_support::system;
use crate::analysis::doctor::{self, Check, DoctorReport, Facts, Status};
use crate::render::doctor::write_report;
use crate::render::json;

/// The checks' test machine, with /etc/hosts naming localhost as it should.
fn healthy() -> SystemFacts {
    let entry =
        |line: usize, address: &str| HostsEntry { line, address: address.into(), names: vec!["localhost".into()] };
    SystemFacts { hosts: FileFact::Read(vec![entry(1, "127.0.0.1"), entry(2, "::1")]), ..system() }
}

/// The machine checks over `snapshot` and `system`, no firewall tool read.
fn machine(snapshot: &Snapshot, system: &SystemFacts) -> DoctorReport {
    doctor::machine(&Facts { snapshot, system, firewall: &Firewall::default() })
}

/// The checks of `target` over `snapshot`, on the healthy machine.
fn port(target: &str, snapshot: &Snapshot) -> DoctorReport {
    let target = PortTarget::parse(target).expect("a valid target");
    doctor::port(&target, &Facts { snapshot, system: &healthy(), firewall: &Firewall::default() })
}

/// A machine where /etc/hosts does not name localhost (DNS is asked),
/// eth0 routes loopback traffic from outside, IPv6 is off on lo (which so
/// has no ::1) and few files may be open.
fn troubled() -> SystemFacts {
    let mut system = system();
    for conf in system.ipv4_conf.iter_mut().filter(|c| c.name == "eth0") {
        conf.route_localnet = Some(1);
    }
    system.ipv6.disabled_lo = Some(true);
    system.interfaces[0].addresses.retain(|(address, _)| address.is_ipv4());
    system.limits.soft = Some(256);
    system.limits.hard = Some(256);
    system
}

/// 127.0.0.1:3000 held by node, [::1]:3000 by python3: localhost clients
/// reach either.
fn split_holders() -> Snapshot {
    SnapshotBuilder::new()
        .tcp_listener("127.0.0.1:3000", 10)
        .owner(10, 5150)
        .socket(Socket {
            v6only: Some(true),
            ..plain_socket(Protocol::Tcp, "[::1]:3000", None, SocketState::Listen, 11)
        })
        .owner(11, 4242)
        .process(5150, "node", &["node", "server.js"])
        .process(4242, "python3", &["python3", "-m", "http.server", "--bind", "::1", "3000"])
        .build()
}

/// A report of every status, with text from outside (a hosts line, a
/// target) that holds control and bidi characters.
fn every_status() -> DoctorReport {
    let checks = vec![
        Check::new("loopback.up", Status::Ok, "lo is up"),
        Check::new("localhost.hosts", Status::Warn, "/etc/hosts maps localhost to 198.51.100.5 ev\u{202e}il\u{1b}[2J")
            .detail("clients that look localhost up in /etc/hosts get 198.51.100.5, which is not loopback")
            .fix("remove the line\n'198.51.100.5 localhost' from /etc/hosts"),
        Check::new("port.privileged", Status::Info, "port 80 is below 1024")
            .detail("shown only for problems")
            .fix("run as root, or give the program CAP_NET_BIND_SERVICE"),
        Check::new("port.firewall", Status::Skipped, "reading firewall rules needs root"),
        Check::new("port.held", Status::Fail, "port 80 is held by nginx [24832]").fix("berth kill 80"),
    ];
    DoctorReport { target: Some("localhost:80\u{1b}[2J".into()), port: Some(80), status: Status::Fail, checks }
}

#[test]
fn machine_checks_on_a_healthy_machine() {
    let report = machine(&SnapshotBuilder::new().build(), &healthy());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn machine_checks_with_problems() {
    let report = machine(&SnapshotBuilder::new().build(), &troubled());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn machine_checks_in_colour() {
    let report = machine(&SnapshotBuilder::new().build(), &troubled());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &COLOUR)));
}

#[test]
fn port_held_by_different_processes_on_v4_and_v6_loopback() {
    let report = port("3000", &split_holders());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn port_with_time_wait_remnants_only() {
    let report = port("8080", &time_wait_only());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn port_with_one_time_wait_remnant() {
    let snapshot = SnapshotBuilder::new().time_wait("127.0.0.1:8080", "127.0.0.1:49999").build();
    let report = port("8080", &snapshot);
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn privileged_port_named_by_host() {
    let report = port("localhost:80", &SnapshotBuilder::new().build());
    insta::assert_snapshot!(printed(|out| write_report(out, &report, &PIPE)));
}

#[test]
fn every_status_with_text_from_outside_escaped() {
    insta::assert_snapshot!(printed(|out| write_report(out, &every_status(), &PIPE)));
}

#[test]
fn every_status_in_colour() {
    insta::assert_snapshot!(printed(|out| write_report(out, &every_status(), &COLOUR)));
}

#[test]
fn json_of_the_machine_checks() {
    let report = machine(&SnapshotBuilder::new().build(), &troubled());
    insta::assert_snapshot!(printed(|out| json::write_value(out, &report)));
}

#[test]
fn json_of_a_port() {
    let report = port("3000", &split_holders());
    insta::assert_snapshot!(printed(|out| json::write_value(out, &report)));
}
