//! `berth who PORT`: held by several processes (with parents, unit,
//! clients and outgoing connections), a dual-stack listener in a container,
//! free but for TIME_WAIT remnants, free, held by an unseen process, names
//! that must be escaped, colour, and the JSON.

use berth_inventory::builder::{plain_process, plain_socket, SnapshotBuilder};
use berth_inventory::target::PortTarget;
use berth_inventory::{Container, Process, Protocol, Snapshot, Socket, SocketState};

use super::{printed, time_wait_only, COLOUR, PIPE};
use crate::analysis::who::who;
use crate::render::json;
use crate::render::style::Style;
use crate::render::who::write_report;

/// The report `who` prints for `target` in `snapshot`.
fn report(target: &str, snapshot: &Snapshot, style: &Style) -> String {
    let target = PortTarget::parse(target).expect("a valid target");
    printed(|out| write_report(out, &who(&target, snapshot), style))
}

/// `who --json` for `target` in `snapshot`.
fn report_json(target: &str, snapshot: &Snapshot) -> String {
    let target = PortTarget::parse(target).expect("a valid target");
    printed(|out| json::write_value(out, &who(&target, snapshot)))
}

/// Port 8080: python3 (in a systemd unit, started from a shell) listens on
/// 0.0.0.0 and ::1 and shares the IPv4 listener with a forked worker; local
/// clients and one from afar are connected; another process uses 8080 as
/// the local port of an outgoing connection; one TIME_WAIT remnant.
fn shared_port() -> Snapshot {
    let v6only =
        Socket { v6only: Some(true), ..plain_socket(Protocol::Tcp, "[::1]:8080", None, SocketState::Listen, 11) };
    SnapshotBuilder::new()
        .interface("eth0", "198.51.100.5".parse().unwrap())
        .tcp_listener("0.0.0.0:8080", 10)
        .owner(10, 4242)
        .owner(10, 4243)
        .socket(v6only)
        .owner(11, 4242)
        .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 20)
        .owner(20, 4243)
        .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 21)
        .owner(21, 7001)
        .tcp_connection("127.0.0.1:8080", "127.0.0.1:50001", SocketState::Established, 22)
        .owner(22, 4242)
        .tcp_connection("127.0.0.1:50001", "127.0.0.1:8080", SocketState::Established, 23)
        .owner(23, 7001)
        .tcp_connection("127.0.0.1:8080", "127.0.0.1:50002", SocketState::Established, 24)
        .owner(24, 4242)
        .tcp_connection("127.0.0.1:50002", "127.0.0.1:8080", SocketState::Established, 25)
        .owner(25, 7002)
        .tcp_connection("198.51.100.5:8080", "192.0.2.50:41234", SocketState::CloseWait, 26)
        .owner(26, 4242)
        .tcp_connection("198.51.100.5:8080", "203.0.113.9:443", SocketState::Established, 27)
        .owner(27, 8000)
        .time_wait("127.0.0.1:8080", "127.0.0.1:49999")
        .process_full(Process {
            ppid: 0,
            uid: 0,
            user: Some("root".into()),
            ..plain_process(1, "systemd", &["/sbin/init"])
        })
        .process(3000, "sshd", &["sshd: alice@pts/0"])
        .process_full(Process { ppid: 3000, ..plain_process(3100, "bash", &["-bash"]) })
        .process_full(Process {
            ppid: 3100,
            systemd_unit: Some("app.service".into()),
            ..plain_process(4242, "python3", &["python3", "-m", "app", "--port", "8080"])
        })
        .process_full(Process { ppid: 4242, ..plain_process(4243, "python3", &["python3", "-m", "app", "--worker"]) })
        .process(7001, "curl", &["curl", "http://127.0.0.1:8080/"])
        .process(7002, "python3", &["python3", "client.py"])
        .process(8000, "rsync", &["rsync", "--port", "8080", "203.0.113.9::backup"])
        .build()
}

/// Port 80 in a Docker container: nginx's master and worker on `[::]:80`.
fn container_port() -> Snapshot {
    let docker = Container {
        runtime: "docker".into(),
        id: "4f2c9a1b7e3d5f60812a9b4c3d2e1f00aabbccddeeff00112233445566778899".into(),
    };
    SnapshotBuilder::new()
        .tcp_listener("[::]:80", 10)
        .owner(10, 24832)
        .owner(10, 24833)
        .process_full(Process {
            uid: 0,
            user: Some("root".into()),
            container: Some(docker.clone()),
            ..plain_process(24832, "nginx", &["nginx: master process nginx -g daemon off;"])
        })
        .process_full(Process {
            ppid: 24832,
            uid: 101,
            user: None,
            container: Some(docker),
            ..plain_process(24833, "nginx", &["nginx: worker process"])
        })
        .build()
}

/// Port 22 held by root's sshd, which berth (not root) cannot see.
fn unseen_holder() -> Snapshot {
    SnapshotBuilder::new().tcp_listener("0.0.0.0:22", 10).socket_uid(10, 0).user(0, "root").build()
}

/// Port 8080 held by a process whose name, command line, unit and client
/// hold control and bidi characters.
fn hostile_names() -> Snapshot {
    SnapshotBuilder::new()
        .tcp_listener("127.0.0.1:8080", 10)
        .owner(10, 6666)
        .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 11)
        .owner(11, 6666)
        .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 12)
        .owner(12, 6667)
        .process_full(Process {
            systemd_unit: Some("x\u{1b}]0;owned\u{7}.service".into()),
            ..plain_process(6666, "ev\u{202e}il\u{1b}[2J", &["./ev\u{202e}il", "--name", "line\nbreak"])
        })
        .process(6667, "cl\u{2066}ient", &["cl\u{2066}ient"])
        .build()
}

#[test]
fn held_by_several_processes() {
    insta::assert_snapshot!(report("8080", &shared_port(), &PIPE));
}

#[test]
fn held_by_several_processes_in_colour() {
    insta::assert_snapshot!(report("8080", &shared_port(), &COLOUR));
}

#[test]
fn dual_stack_in_a_container() {
    insta::assert_snapshot!(report("tcp/80", &container_port(), &PIPE));
}

#[test]
fn free_but_for_time_wait_remnants() {
    insta::assert_snapshot!(report("8080", &time_wait_only(), &PIPE));
}

#[test]
fn free() {
    insta::assert_snapshot!(report(":8080", &SnapshotBuilder::new().build(), &PIPE));
}

#[test]
fn held_by_a_process_berth_cannot_see() {
    insta::assert_snapshot!(report("22", &unseen_holder(), &PIPE));
}

#[test]
fn names_from_outside_are_escaped() {
    insta::assert_snapshot!(report("localhost:8080", &hostile_names(), &PIPE));
}

#[test]
fn json_held_by_several_processes() {
    insta::assert_snapshot!(report_json("8080", &shared_port()));
}

#[test]
fn json_free_but_for_time_wait_remnants() {
    insta::assert_snapshot!(report_json("8080", &time_wait_only()));
}

#[test]
fn json_with_names_from_outside() {
    insta::assert_snapshot!(report_json("localhost:8080", &hostile_names()));
}
