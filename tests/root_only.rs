//! What only root can set up: another user's process, berth run as another
//! user, and a socket inside a network namespace the test creates. Each
//! test shows as ignored ("needs root") when not run as root.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// The unprivileged user the tests switch to (nobody on most systems).
const NOBODY: u32 = 65534;

const NOBODY_STAGES: [&str; 7] = ["setgroups", "setgid", "setuid", "socket", "bind", "listen", "getsockname"];

/// Forks a child that becomes uid/gid 65534, then listens on 127.0.0.1:0.
fn nobody_listener() -> (ChildGuard, u16) {
    let mut pipe = Pipe::new();
    let write = pipe.write;
    // SAFETY: the body makes only raw, async-signal-safe libc calls.
    let child = unsafe {
        fork_child(&[write], move || {
            if libc::setgroups(0, std::ptr::null()) != 0 {
                child_report(write, 1, errno());
                libc::_exit(1);
            }
            if libc::setgid(NOBODY) != 0 {
                child_report(write, 2, errno());
                libc::_exit(1);
            }
            if libc::setuid(NOBODY) != 0 {
                child_report(write, 3, errno());
                libc::_exit(1);
            }
            match child_listen_v4() {
                Ok(port) => child_report(write, 0, i32::from(port)),
                Err((stage, err)) => {
                    child_report(write, 3 + stage, err);
                    libc::_exit(1);
                }
            }
        })
    };
    pipe.close_write();
    let port = pipe.read_report(Duration::from_secs(5)).port(&NOBODY_STAGES);
    (child, port)
}

fn socket_of_child<'a>(sockets: &'a [Value], child: &ChildGuard, port: u16) -> &'a Value {
    sockets
        .iter()
        .find(|s| {
            s["state"] == "LISTEN"
                && s["local"]["port"].as_u64() == Some(u64::from(port))
                && owner_pids(s).contains(&child.pid())
        })
        .unwrap_or_else(|| panic!("no listener on port {port} owned by pid {}:\n{}", child.pid(), dump(sockets)))
}

fn another_users_socket_as_root() {
    let _serial = serial();
    require_root(&format!("switches a child to uid {NOBODY}"));
    let (child, port) = nobody_listener();
    let sockets = ls_json(&["--port", &port.to_string()]);
    let s = socket_of_child(&sockets, &child, port);
    assert_eq!(s["uid"].as_u64(), Some(u64::from(NOBODY)), "the socket's uid: {s}");
    assert_eq!(s["user"].as_str().map(str::to_string), user_name(NOBODY), "{s}");
    assert_eq!(s["owner_status"], "owned", "root sees every owner: {s}");
    assert_eq!(owner_pids(s), vec![child.pid()], "{s}");
    let o = owner(s, child.pid()).unwrap();
    assert_eq!(o["ppid"].as_u64(), Some(our_pid()), "{o}");
    assert_eq!(o["uid"].as_u64(), Some(u64::from(NOBODY)), "the owning process runs as uid {NOBODY}: {o}");
    assert_eq!(o["user"].as_str().map(str::to_string), user_name(NOBODY), "{o}");

    let (code, report) = who_json(&[&format!("tcp/127.0.0.1:{port}")]);
    assert_eq!(code, 0);
    let holder = report["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["pid"].as_u64() == Some(child.pid()))
        .unwrap_or_else(|| panic!("the child holds it: {report}"));
    assert_eq!(holder["uid"].as_u64(), Some(u64::from(NOBODY)), "{holder}");
    drop(child);
}

fn run_as_another_user_sees_roots_socket_hidden() {
    let _serial = serial();
    require_root(&format!("runs berth as uid {NOBODY}"));
    let (listener, port) = listener_v4();
    let inode = inode_of(&listener);
    let out = run_berth_with(&["ls", "--json", "--port", &port.to_string()], &[], Some((NOBODY, NOBODY)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let sockets = parse_array(&out.stdout, &["ls", "as nobody"]);
    let s = expect_inode(&sockets, inode, "root's listener seen by nobody");
    assert_eq!(s["owner_status"], "hidden", "{s}");
    assert_eq!(s["owners"], serde_json::json!([]), "{s}");
    assert_eq!(s["uid"].as_u64(), Some(0));
    assert!(out.stderr.contains("run as root"), "berth says how to see owners: {}", out.stderr);
    assert!(out.stderr.lines().all(|l| l.starts_with("berth: note:")), "{}", out.stderr);

    let table = run_berth_with(&["ls", "--port", &port.to_string()], &[], Some((NOBODY, NOBODY)));
    assert_eq!(table.code, 0);
    let row = table.stdout.lines().find(|l| has_word(l, &port.to_string())).expect("a row for the port");
    assert!(row.contains("seen only by root"), "the row says why there is no owner: {row}");
    assert!(!has_word(row, &our_pid().to_string()), "no pid shown: {row}");

    // who as nobody: the port is held, by someone it cannot see.
    let who = run_berth_with(&["who", &format!("127.0.0.1:{port}"), "--json"], &[], Some((NOBODY, NOBODY)));
    assert_eq!(who.code, 0, "a hidden holder still holds the port: {}{}", who.stdout, who.stderr);
    let report: Value = serde_json::from_str(&who.stdout).expect("who JSON");
    assert_eq!(report["held"], true);
    assert!(report["unseen"]["hidden"].as_u64().unwrap() >= 1, "{report}");
    assert!(who.stderr.contains("run as root"), "{}", who.stderr);

    // --all-netns without root: a note, and still this namespace.
    let all =
        run_berth_with(&["ls", "--all-netns", "--json", "--port", &port.to_string()], &[], Some((NOBODY, NOBODY)));
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stderr.contains("needs root"), "{}", all.stderr);
    expect_inode(&parse_array(&all.stdout, &["ls --all-netns"]), inode, "own namespace still listed");
    drop(listener);
}

const NETNS_STAGES: [&str; 5] = ["setns", "socket", "bind", "listen", "getsockname"];

/// Forks a child that enters `netns` and listens on `address`:0 there.
fn listener_in_netns(netns: &NetnsGuard, address: [u8; 4]) -> (ChildGuard, u16) {
    // Opened before fork: the child may not allocate.
    let ns_file = File::open(netns.path()).expect("open the namespace");
    let ns_fd = ns_file.as_raw_fd();
    let mut pipe = Pipe::new();
    let write = pipe.write;
    // SAFETY: the body makes only raw, async-signal-safe libc calls.
    let child = unsafe {
        fork_child(&[ns_fd, write], move || {
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                child_report(write, 1, errno());
                libc::_exit(1);
            }
            match child_listen_v4_at(address) {
                Ok(port) => child_report(write, 0, i32::from(port)),
                Err((stage, err)) => {
                    child_report(write, 1 + stage, err);
                    libc::_exit(1);
                }
            }
        })
    };
    pipe.close_write();
    drop(ns_file);
    let port = pipe.read_report(Duration::from_secs(5)).port(&NETNS_STAGES);
    (child, port)
}

fn socket_in_another_network_namespace() {
    let _serial = serial();
    require_root("ip netns add, setns");
    let netns = NetnsGuard::create("ns");
    let (child, port) = listener_in_netns(&netns, [127, 0, 0, 1]);
    let port_text = port.to_string();

    let sockets = ls_json(&["--all-netns", "--port", &port_text]);
    let s = sockets
        .iter()
        .find(|s| s["netns"]["name"] == netns.name.as_str() && s["local"]["port"].as_u64() == Some(u64::from(port)))
        .unwrap_or_else(|| panic!("no socket on port {port} in {}:\n{}", netns.name, dump(&sockets)));
    assert_eq!(s["netns"]["own"], false, "{s}");
    assert_eq!(s["state"], "LISTEN");
    assert_eq!(s["local"]["address"], "127.0.0.1");
    assert_eq!(s["scope"], "loopback");
    assert_eq!(owner_pids(s), vec![child.pid()], "{s}");
    let inode = s["inode"].as_u64().expect("inode");
    assert_ne!(inode, 0);
    let ns_inode = std::fs::metadata(netns.path()).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    assert_eq!(s["netns"]["inode"].as_u64(), Some(ns_inode), "{s}");

    let own_only = ls_json(&["--port", &port_text]);
    assert!(
        find_inode(&own_only, inode).is_none(),
        "without --all-netns the namespace is not read:\n{}",
        dump(&own_only)
    );
    assert!(own_only.iter().all(|s| s["netns"]["own"] == true), "{}", dump(&own_only));

    let (code, stdout, _) = run_berth(&["ls", "--all-netns", "--port", &port_text], &[]);
    assert_eq!(code, 0);
    let header = stdout.lines().next().unwrap_or("");
    assert!(has_word(header, "NETNS"), "{stdout}");
    assert!(
        stdout.lines().any(|l| has_word(l, &netns.name) && has_word(l, &port_text)),
        "the row names the namespace:\n{stdout}"
    );

    if port_unused("tcp", port, ProbeAt::Everywhere) && port_unused("udp", port, ProbeAt::Everywhere) {
        let (code, report) = who_json(&[&port_text]);
        assert_eq!(code, 1, "free in our own namespace: {report}");
        let (code, report) = who_json(&[&port_text, "--all-netns"]);
        assert_eq!(code, 0, "held inside {}: {report}", netns.name);
        assert_eq!(report["held"], true);
        let pids: Vec<u64> = report["holders"].as_array().unwrap().iter().map(|h| h["pid"].as_u64().unwrap()).collect();
        assert_eq!(pids, vec![child.pid()], "{report}");
    } else {
        eprintln!("note: port {port} is also used in our own namespace; who --all-netns part not checked");
    }
    drop(child);
    drop(netns);
}

fn address_bound_socket_in_a_namespace_names_its_interface() {
    let _serial = serial();
    require_root("ip netns add, setns");
    let netns = NetnsGuard::create("addr");
    // A documentation address (TEST-NET-1), only inside the test's namespace.
    let (ok, err) = ip(&["-n", &netns.name, "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    assert!(ok, "ip addr add: {err}");
    let (child, port) = listener_in_netns(&netns, [192, 0, 2, 1]);

    let sockets = ls_json(&["--all-netns", "--exposed", "--port", &port.to_string()]);
    let s = sockets
        .iter()
        .find(|s| owner_pids(s).contains(&child.pid()))
        .unwrap_or_else(|| panic!("--exposed lists the 192.0.2.1 listener in {}:\n{}", netns.name, dump(&sockets)));
    assert_eq!(s["local"]["address"], "192.0.2.1");
    assert_eq!(s["scope"], "address", "{s}");
    assert_eq!(s["interface"], "lo", "the namespace's own interfaces name it: {s}");
    assert_eq!(s["netns"]["name"], netns.name.as_str());
    drop(child);
    drop(netns);
}

const UNSHARE_STAGES: [&str; 5] = ["unshare", "socket", "bind", "listen", "getsockname"];

fn unnamed_namespace_found_through_its_process() {
    let _serial = serial();
    require_root("unshare(CLONE_NEWNET)");
    let mut pipe = Pipe::new();
    let write = pipe.write;
    // SAFETY: the body makes only raw, async-signal-safe libc calls.
    let child = unsafe {
        fork_child(&[write], move || {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                child_report(write, 1, errno());
                libc::_exit(1);
            }
            // Loopback is down in a fresh namespace; the wildcard binds anyway,
            // and nothing outside the namespace can reach it.
            match child_listen_v4_at([0, 0, 0, 0]) {
                Ok(port) => child_report(write, 0, i32::from(port)),
                Err((stage, err)) => {
                    child_report(write, 1 + stage, err);
                    libc::_exit(1);
                }
            }
        })
    };
    pipe.close_write();
    let port = pipe.read_report(Duration::from_secs(5)).port(&UNSHARE_STAGES);
    let ns_inode = std::fs::read_link(format!("/proc/{}/ns/net", child.pid()))
        .ok()
        .and_then(|l| l.to_str()?.strip_prefix("net:[")?.strip_suffix(']')?.parse::<u64>().ok())
        .expect("the child's namespace");

    let sockets = ls_json(&["--all-netns", "--port", &port.to_string()]);
    let s = sockets
        .iter()
        .find(|s| owner_pids(s).contains(&child.pid()))
        .unwrap_or_else(|| panic!("the child's listener in its own namespace:\n{}", dump(&sockets)));
    assert_eq!(s["netns"]["inode"].as_u64(), Some(ns_inode), "{s}");
    assert_eq!(s["netns"]["name"], Value::Null, "an unnamed namespace: {s}");
    assert_eq!(s["netns"]["own"], false);
    assert_eq!(s["scope"], "all");
    assert_eq!(owner_pids(s), vec![child.pid()]);

    let (code, stdout, _) = run_berth(&["ls", "--all-netns", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("net:[{ns_inode}]")), "the table names the namespace by inode:\n{stdout}");
    drop(child);
}

tests![
    another_users_socket_as_root,
    run_as_another_user_sees_roots_socket_hidden,
    socket_in_another_network_namespace,
    address_bound_socket_in_a_namespace_names_its_interface,
    unnamed_namespace_found_through_its_process,
];
