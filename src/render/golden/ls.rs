//! `berth ls`: the table in a pipe, on a narrow terminal and in colour, with
//! `-a` (connections) and `--all-netns` (namespaces), nothing matching, and
//! the JSON.

use berth_inventory::builder::{plain_process, plain_socket, SnapshotBuilder};
use berth_inventory::{Container, Namespace, Process, Protocol, Snapshot, Socket, SocketState};

use super::{printed, COLOUR, NARROW, PIPE};
use crate::analysis::filter::sort_for_listing;
use crate::analysis::report::SocketReport;
use crate::render::json;
use crate::render::ls::{write_table, LsLayout};
use crate::render::style::Style;

const LISTENERS: LsLayout = LsLayout { connections: false, namespaces: false };

/// A command line longer than any terminal is wide.
const JAVA: [&str; 8] = [
    "/usr/lib/jvm/java-21-openjdk-amd64/bin/java",
    "-Xms512m",
    "-Xmx4g",
    "-Dspring.profiles.active=local,metrics,tracing",
    "-Dlogging.config=/home/alice/projects/inventory-service/config/logback-local.xml",
    "-jar",
    "/home/alice/projects/inventory-service/build/libs/inventory-service-2.14.0-SNAPSHOT.jar",
    "--server.port=3000",
];

/// Listeners of every shape the table shows: one owner, two owners of a
/// dual-stack socket, IPv6 only, another user's (unseen without root), one
/// bound to an interface's address, a process name with control and bidi
/// characters, and a socket whose owner was not found.
fn listeners() -> Snapshot {
    let root = |process: Process| Process { uid: 0, user: Some("root".into()), ..process };
    SnapshotBuilder::new()
        .user(0, "root")
        .interface("eth0", "192.168.1.10".parse().unwrap())
        .tcp_listener("127.0.0.1:8080", 10)
        .owner(10, 4242)
        .process(4242, "python3", &["python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"])
        .tcp_listener("[::]:80", 11)
        .owner(11, 24832)
        .owner(11, 24833)
        .process_full(root(plain_process(24832, "nginx", &["nginx: master process /usr/sbin/nginx"])))
        .process_full(Process {
            ppid: 24832,
            uid: 33,
            user: Some("www-data".into()),
            ..plain_process(24833, "nginx", &["nginx: worker process"])
        })
        .socket(Socket {
            v6only: Some(true),
            ..plain_socket(Protocol::Tcp, "[::1]:5432", None, SocketState::Listen, 12)
        })
        .owner(12, 911)
        .process_full(Process {
            uid: 105,
            user: Some("postgres".into()),
            ..plain_process(
                911,
                "postgres",
                &["/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main"],
            )
        })
        .tcp_listener("0.0.0.0:22", 13)
        .socket_uid(13, 0)
        .tcp_listener("192.168.1.10:3000", 14)
        .owner(14, 5150)
        .process(5150, "java", &JAVA)
        .udp_socket("127.0.0.1:5353", 15)
        .owner(15, 6666)
        .process(6666, "ev\u{202e}il\u{1b}[2J", &[])
        .udp_socket("0.0.0.0:68", 16)
        .build()
}

/// `ls -a`: a listener, both ends of a connection to it, a TIME_WAIT
/// remnant (no process), a connection with full queues, a connected UDP
/// socket, a listener whose accept queue is full (Recv-Q 17 over its
/// backlog of 16, shown as Send-Q as ss does) and one read from /proc,
/// which does not carry the backlog.
fn connections() -> Snapshot {
    let stuck = Socket {
        recv_queue: 17,
        listen_backlog: Some(16),
        ..plain_socket(Protocol::Tcp, "127.0.0.1:9000", None, SocketState::Listen, 25)
    };
    let from_proc = Socket {
        recv_queue: 3,
        listen_backlog: None,
        ..plain_socket(Protocol::Tcp, "127.0.0.1:9001", None, SocketState::Listen, 26)
    };
    let queued = Socket {
        recv_queue: 8192,
        send_queue: 2_626_560,
        ..plain_socket(Protocol::Tcp, "127.0.0.1:8080", Some("127.0.0.1:50002"), SocketState::CloseWait, 23)
    };
    SnapshotBuilder::new()
        .tcp_listener("127.0.0.1:8080", 20)
        .owner(20, 4242)
        .tcp_connection("127.0.0.1:8080", "127.0.0.1:50000", SocketState::Established, 21)
        .owner(21, 4242)
        .tcp_connection("127.0.0.1:50000", "127.0.0.1:8080", SocketState::Established, 22)
        .owner(22, 7001)
        .socket(queued)
        .owner(23, 4242)
        .time_wait("127.0.0.1:8080", "127.0.0.1:49999")
        .socket(plain_socket(Protocol::Udp, "[::1]:41000", Some("[::1]:53"), SocketState::Established, 24))
        .owner(24, 7002)
        .socket(stuck)
        .owner(25, 8100)
        .socket(from_proc)
        .owner(26, 8100)
        .process(8100, "node", &["/home/alice/.nvm/versions/node/v22.11.0/bin/node", "server.js"])
        .process(4242, "python3", &["python3", "-m", "http.server", "8080"])
        .process(7001, "curl", &["curl", "http://127.0.0.1:8080/"])
        .process(7002, "dig", &["dig", "@::1", "example.org"])
        .build()
}

/// `ls --all-netns`: sockets in berth's namespace, in a named one, in a
/// container's and in an unnamed one.
fn namespaces() -> Snapshot {
    let namespace = |inode: u64, name: Option<&str>, container: Option<Container>| Namespace {
        inode,
        name: name.map(str::to_string),
        own: false,
        container,
        interfaces: Vec::new(),
        path: None,
    };
    let docker = Container {
        runtime: "docker".into(),
        id: "4f2c9a1b7e3d5f60812a9b4c3d2e1f00aabbccddeeff00112233445566778899".into(),
    };
    let elsewhere = |local: &str, netns: u64, inode: u64| Socket {
        netns,
        ..plain_socket(Protocol::Tcp, local, None, SocketState::Listen, inode)
    };
    SnapshotBuilder::new()
        .namespace(namespace(2, Some("blue"), None))
        .namespace(namespace(3, None, Some(docker)))
        .namespace(namespace(4_026_532_000, None, None))
        .tcp_listener("127.0.0.1:8080", 30)
        .owner(30, 4242)
        .socket(elsewhere("127.0.0.1:8080", 2, 31))
        .owner(31, 4300)
        .socket(elsewhere("0.0.0.0:6379", 3, 32))
        .owner(32, 4400)
        .socket(elsewhere("[::]:9090", 4_026_532_000, 33))
        .process(4242, "python3", &["python3", "-m", "http.server", "8080"])
        .process(4300, "python3", &["python3", "-m", "http.server", "8080"])
        .process(4400, "redis-server", &["redis-server *:6379"])
        .build()
}

/// The table `ls` prints for every socket of `snapshot`, in its order.
fn table(snapshot: &Snapshot, layout: &LsLayout, style: &Style) -> String {
    let mut sockets: Vec<&Socket> = snapshot.sockets.iter().collect();
    sort_for_listing(&mut sockets, None);
    let reports = sockets.iter().map(|s| SocketReport::new(s, snapshot));
    printed(|out| write_table(out, reports, layout, style))
}

/// `ls --json` for every socket of `snapshot`, in its order.
fn json(snapshot: &Snapshot) -> String {
    let mut sockets: Vec<&Socket> = snapshot.sockets.iter().collect();
    sort_for_listing(&mut sockets, None);
    printed(|out| json::write_array(out, sockets.iter().map(|s| SocketReport::new(s, snapshot))))
}

#[test]
fn listeners_in_a_pipe() {
    insta::assert_snapshot!(table(&listeners(), &LISTENERS, &PIPE));
}

#[test]
fn listeners_on_a_narrow_terminal_cut_the_command() {
    insta::assert_snapshot!(table(&listeners(), &LISTENERS, &NARROW));
}

#[test]
fn listeners_in_colour() {
    insta::assert_snapshot!(table(&listeners(), &LISTENERS, &COLOUR));
}

#[test]
fn connections_with_states_queues_and_peers() {
    let layout = LsLayout { connections: true, namespaces: false };
    insta::assert_snapshot!(table(&connections(), &layout, &PIPE));
}

#[test]
fn namespaces_by_name_container_and_inode() {
    let layout = LsLayout { connections: false, namespaces: true };
    insta::assert_snapshot!(table(&namespaces(), &layout, &PIPE));
}

#[test]
fn nothing_matches() {
    insta::assert_snapshot!(table(&SnapshotBuilder::new().build(), &LISTENERS, &PIPE));
}

#[test]
fn json_of_listeners() {
    insta::assert_snapshot!(json(&listeners()));
}

#[test]
fn json_of_connections() {
    insta::assert_snapshot!(json(&connections()));
}

#[test]
fn json_of_nothing() {
    insta::assert_snapshot!(json(&SnapshotBuilder::new().build()));
}
