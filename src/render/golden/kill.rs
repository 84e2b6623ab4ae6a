//! `berth kill PORT...`: the plan (what will be stopped, what is refused
//! and why, what cannot be seen, free ports), what was signalled, how it
//! ended, colour and the JSON. The plan comes from berth's planning over a
//! built Snapshot; what happened after is built in code, as the command
//! fills it in.

use berth_inventory::builder::{plain_process, SnapshotBuilder};
use berth_inventory::target::PortTarget;
use berth_inventory::{Container, Process, Snapshot, SocketState};

use super::{printed, COLOUR, PIPE};
use crate::analysis::kill::{plan, KillPlan, Requester};
use crate::analysis::kill::{KillReport, PortOutcome, Signalled};
use crate::render::json;
use crate::render::kill::{write_outcome, write_plan, write_signalled};

/// berth runs as alice (uid 1000) from bash, pid 3100.
fn requester() -> Requester {
    Requester { uid: 1000, protected_pids: vec![3100] }
}

/// A holder for every answer the plan can give: python3 and its worker
/// on 8080 (stopped; rsync, a client from port 8080, spared), Docker's
/// proxy on 80, another user's postgres on 5432, redis in a container on
/// 6379, berth's own shell on 3000, init on 111, an unseen sshd on 22,
/// TIME_WAIT alone on 9000, and a name with control and bidi characters
/// on 8081.
fn machine() -> Snapshot {
    let root = |process: Process| Process { uid: 0, user: Some("root".into()), ..process };
    let docker_proxy = [
        "/usr/bin/docker-proxy",
        "-proto",
        "tcp",
        "-host-ip",
        "0.0.0.0",
        "-host-port",
        "80",
        "-container-ip",
        "198.51.100.17",
        "-container-port",
        "80",
    ];
    SnapshotBuilder::new()
        .user(0, "root")
        .tcp_listener("127.0.0.1:8080", 10)
        .owner(10, 4242)
        .owner(10, 4243)
        .tcp_connection("127.0.0.1:8080", "203.0.113.9:873", SocketState::Established, 11)
        .owner(11, 8000)
        .tcp_listener("0.0.0.0:80", 12)
        .owner(12, 2000)
        .tcp_listener("127.0.0.1:5432", 13)
        .owner(13, 911)
        .tcp_listener("0.0.0.0:6379", 14)
        .owner(14, 2500)
        .tcp_listener("127.0.0.1:3000", 15)
        .owner(15, 3100)
        .tcp_listener("0.0.0.0:111", 16)
        .owner(16, 1)
        .tcp_listener("0.0.0.0:22", 17)
        .socket_uid(17, 0)
        .time_wait("127.0.0.1:9000", "127.0.0.1:49999")
        .tcp_listener("127.0.0.1:8081", 18)
        .owner(18, 6666)
        .process_full(Process { ppid: 0, ..root(plain_process(1, "systemd", &["/sbin/init"])) })
        .process_full(root(plain_process(2000, "docker-proxy", &docker_proxy)))
        .process_full(Process {
            uid: 105,
            user: Some("postgres".into()),
            ..plain_process(
                911,
                "postgres",
                &["/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main"],
            )
        })
        .process_full(Process {
            container: Some(Container {
                runtime: "docker".into(),
                id: "4f2c9a1b7e3d5f60812a9b4c3d2e1f00aabbccddeeff00112233445566778899".into(),
            }),
            ..root(plain_process(2500, "redis-server", &["redis-server *:6379"]))
        })
        .process(3100, "bash", &["-bash"])
        .process_full(Process {
            systemd_unit: Some("app.service".into()),
            ..plain_process(4242, "python3", &["python3", "-m", "app", "--port", "8080"])
        })
        .process_full(Process { ppid: 4242, ..plain_process(4243, "python3", &["python3", "-m", "app", "--worker"]) })
        .process(6666, "ev\u{202e}il\u{1b}[2J", &["./ev\u{202e}il", "--listen", "8081\n"])
        .process(8000, "rsync", &["rsync", "--port", "8080", "203.0.113.9::backup"])
        .build()
}

/// The plan for `ports`, as `berth kill PORTS` makes it.
fn plan_for(ports: &[&str], snapshot: &Snapshot) -> KillPlan {
    let targets: Vec<PortTarget> = ports.iter().map(|p| PortTarget::parse(p).expect("a valid target")).collect();
    plan(&targets, snapshot, &requester())
}

/// SIGTERM delivered to `pid`, which exited.
fn sigterm(pid: u32) -> Signalled {
    Signalled { pid, signal: "SIGTERM".into(), exited: true, forced: false, already_gone: false }
}

fn outcome(target: &str, port: u16, held_by: &[u32]) -> PortOutcome {
    PortOutcome { target: target.into(), port, free: held_by.is_empty(), held_by: held_by.to_vec() }
}

/// 8080's holders both signalled (the worker had exited already); the port is free.
fn stopped(snapshot: &Snapshot) -> KillReport {
    KillReport {
        dry_run: false,
        plan: plan_for(&["8080"], snapshot),
        signalled: vec![sigterm(4242), Signalled { already_gone: true, ..sigterm(4243) }],
        outcome: vec![outcome("8080", 8080, &[])],
    }
}

/// 8080's python3 ignored SIGTERM; 8081 was taken by a new process
/// (a supervisor's restart) after its holder exited.
fn still_held(snapshot: &Snapshot) -> KillReport {
    KillReport {
        dry_run: false,
        plan: plan_for(&["8080", "8081"], snapshot),
        signalled: vec![Signalled { exited: false, ..sigterm(4242) }, sigterm(4243), sigterm(6666)],
        outcome: vec![outcome("8080", 8080, &[4242]), outcome("8081", 8081, &[7777])],
    }
}

/// As [`still_held`] for 8080 with `--force`: SIGKILL after the timeout.
fn forced(snapshot: &Snapshot) -> KillReport {
    KillReport {
        dry_run: false,
        plan: plan_for(&["8080"], snapshot),
        signalled: vec![Signalled { forced: true, ..sigterm(4242) }, sigterm(4243)],
        outcome: vec![outcome("8080", 8080, &[])],
    }
}

const EVERY_PORT: [&str; 10] = ["8080", "80", "5432", "6379", "3000", "111", "22", "9000", "8081", "udp/8080"];

#[test]
fn plan_for_every_kind_of_holder() {
    let plan = plan_for(&EVERY_PORT, &machine());
    insta::assert_snapshot!(printed(|out| write_plan(out, &plan, false, &PIPE)));
}

#[test]
fn plan_of_a_dry_run() {
    let plan = plan_for(&["8080"], &machine());
    insta::assert_snapshot!(printed(|out| write_plan(out, &plan, true, &PIPE)));
}

#[test]
fn plan_in_colour() {
    let plan = plan_for(&EVERY_PORT, &machine());
    insta::assert_snapshot!(printed(|out| write_plan(out, &plan, false, &COLOUR)));
}

#[test]
fn signalled_and_already_gone() {
    let snapshot = machine();
    insta::assert_snapshot!(printed(|out| write_signalled(out, &stopped(&snapshot), &PIPE)));
}

#[test]
fn outcome_free() {
    let snapshot = machine();
    insta::assert_snapshot!(printed(|out| write_outcome(out, &stopped(&snapshot), false, &PIPE)));
}

#[test]
fn outcome_still_held_by_a_victim_and_by_a_new_holder() {
    let snapshot = machine();
    let report = still_held(&snapshot);
    let text =
        printed(|out| write_signalled(out, &report, &PIPE)) + &printed(|out| write_outcome(out, &report, false, &PIPE));
    insta::assert_snapshot!(text);
}

#[test]
fn outcome_after_sigkill() {
    let snapshot = machine();
    insta::assert_snapshot!(printed(|out| write_outcome(out, &forced(&snapshot), true, &PIPE)));
}

#[test]
fn outcome_in_colour() {
    let snapshot = machine();
    insta::assert_snapshot!(printed(|out| write_outcome(out, &still_held(&snapshot), false, &COLOUR)));
}

#[test]
fn json_of_every_kind_of_holder() {
    let snapshot = machine();
    let report = KillReport {
        dry_run: true,
        plan: plan_for(&EVERY_PORT, &snapshot),
        signalled: Vec::new(),
        outcome: Vec::new(),
    };
    insta::assert_snapshot!(printed(|out| json::write_value(out, &report)));
}

#[test]
fn json_still_held() {
    let snapshot = machine();
    insta::assert_snapshot!(printed(|out| json::write_value(out, &still_held(&snapshot))));
}
