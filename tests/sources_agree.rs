//! The two socket sources, netlink sock_diag and /proc/net, must describe
//! the same sockets the same way, apart from what only netlink knows.

use std::collections::BTreeSet;
use std::net::{Ipv6Addr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;

use crate::common::*;
use serde_json::Value;

/// Fields only netlink fills, and queue sizes that may change between calls.
const NOT_COMPARED: [&str; 4] = ["listen_backlog", "tcp_counters", "recv_queue", "send_queue"];

fn comparable(socket: &Value, skip_v6only: bool) -> Value {
    let mut copy = socket.clone();
    let object = copy.as_object_mut().expect("a JSON object per socket");
    for field in NOT_COMPARED {
        object.remove(field);
    }
    if skip_v6only {
        object.remove("v6only");
        object.remove("covers_ipv4");
    }
    // For a listener recv_queue is the accept queue, which is stable here.
    if socket["state"] == "LISTEN" {
        object.insert("recv_queue".into(), socket["recv_queue"].clone());
    }
    copy
}

fn netlink_and_proc_describe_our_sockets_alike() {
    let _serial = serial();
    let (v4, v4_port) = listener_v4();
    let (dual, _) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    let client = TcpStream::connect(("127.0.0.1", v4_port)).expect("connect");
    let (accepted, _) = v4.accept().expect("accept");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    // SAFETY: the child only pauses.
    let child = unsafe { fork_child(&[v4.as_raw_fd()], || {}) };

    let ours = [
        ("v4 listener", inode_of(&v4)),
        ("dual-stack listener", inode_of(&dual)),
        ("client", inode_of(&client)),
        ("accepted", inode_of(&accepted)),
        ("udp", inode_of(&udp)),
    ];
    // With net.ipv6.bindv6only=1, /proc cannot know that the dual-stack
    // listener turned IPV6_V6ONLY off (documented: only netlink knows).
    let bindv6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").map(|t| t.trim() == "1").unwrap_or(false);

    // Restricted to our sockets by berth itself (--pid): on a busy machine
    // the full listing is tens of megabytes of JSON.
    let pid = our_pid().to_string();
    let netlink = ls_json(&["-a", "--pid", &pid, "--source", "netlink"]);
    let proc = ls_json(&["-a", "--pid", &pid, "--source", "proc"]);
    let proc_env = ls_json_env(&["-a", "--pid", &pid], &[("BERTH_SOURCE", "proc")]);
    let flag_beats_env = ls_json_env(&["-a", "--pid", &pid, "--source", "netlink"], &[("BERTH_SOURCE", "proc")]);
    assert_eq!(netlink.len(), ours.len(), "only our sockets:\n{}", dump(&netlink));
    assert_eq!(proc.len(), ours.len(), "only our sockets:\n{}", dump(&proc));

    for (what, inode) in ours {
        let n = expect_inode(&netlink, inode, &format!("{what} via netlink"));
        let p = expect_inode(&proc, inode, &format!("{what} via proc"));
        let e = expect_inode(&proc_env, inode, &format!("{what} via BERTH_SOURCE=proc"));
        let skip = bindv6only && inode == inode_of(&dual);
        assert_eq!(comparable(n, skip), comparable(p, skip), "{what}: netlink vs proc");
        assert_eq!(comparable(p, false), comparable(e, false), "{what}: --source proc vs BERTH_SOURCE=proc");

        assert_eq!(p["tcp_counters"], Value::Null, "{what}: /proc has no TCP counters: {p}");
        assert_eq!(p["listen_backlog"], Value::Null, "{what}: /proc has no backlog: {p}");
        assert_eq!(e["listen_backlog"], Value::Null, "{what}: BERTH_SOURCE=proc is /proc: {e}");
        let f = expect_inode(&flag_beats_env, inode, what);
        if n["state"] == "LISTEN" {
            assert!(n["listen_backlog"].as_u64().is_some(), "{what}: netlink knows the backlog: {n}");
            assert!(f["listen_backlog"].as_u64().is_some(), "{what}: --source beats BERTH_SOURCE: {f}");
        }
        if n["state"] == "ESTABLISHED" && n["protocol"] == "tcp" {
            assert!(n["tcp_counters"].is_object(), "{what}: netlink has counters: {n}");
        }
    }
    // The shared listener has both owners in both sources.
    let mut both = vec![our_pid(), child.pid()];
    both.sort_unstable();
    assert_eq!(owner_pids(expect_inode(&proc, inode_of(&v4), "v4 via proc")), both);
    assert_eq!(owner_pids(expect_inode(&netlink, inode_of(&v4), "v4 via netlink")), both);
    drop(child);
}

/// (protocol, family, address, port, inode) of every listener in our namespace.
fn listen_set(source: &str) -> BTreeSet<(String, String, String, u64, u64)> {
    ls_json(&["-t", "--source", source])
        .iter()
        .filter(|s| s["state"] == "LISTEN" && s["netns"]["own"] == true)
        .map(|s| {
            (
                s["protocol"].as_str().unwrap().to_string(),
                s["family"].as_str().unwrap().to_string(),
                s["local"]["address"].as_str().unwrap().to_string(),
                s["local"]["port"].as_u64().unwrap(),
                s["inode"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn netlink_and_proc_list_the_same_listeners() {
    let _serial = serial();
    let (_v4, _) = listener_v4();
    let (_dual, _) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    let (_v6, _) = listener_v6(Ipv6Addr::LOCALHOST, true);
    // Other programs may open or close listeners meanwhile: 3 tries.
    let mut last = None;
    for _ in 0..3 {
        let netlink = listen_set("netlink");
        let proc = listen_set("proc");
        if netlink == proc {
            assert!(!netlink.is_empty());
            return;
        }
        last = Some((netlink, proc));
    }
    let (netlink, proc) = last.unwrap();
    panic!(
        "the sources disagree on the listeners 3 times in a row\nonly netlink: {:?}\nonly proc: {:?}",
        netlink.difference(&proc).collect::<Vec<_>>(),
        proc.difference(&netlink).collect::<Vec<_>>()
    );
}

tests![netlink_and_proc_describe_our_sockets_alike, netlink_and_proc_list_the_same_listeners,];
