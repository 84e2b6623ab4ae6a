//! `berth who PORT` against real sockets: the accepted ways of naming a
//! port, exit codes, UDP, IPv4-mapped clients and TIME_WAIT remnants.

use std::net::{Ipv4Addr, Ipv6Addr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

fn who_code(target: &str) -> i32 {
    let (code, stdout, stderr) = run_berth(&["who", target], &[]);
    assert!(!stderr.contains("panicked"), "who {target}: {stderr}");
    assert!(code == 0 || code == 1, "who {target} exited {code}: {stderr}\n{stdout}");
    code
}

fn holder_pids(report: &Value) -> Vec<u64> {
    report["holders"].as_array().expect("holders").iter().map(|h| h["pid"].as_u64().unwrap()).collect()
}

fn accepted_forms_for_a_v4_listener() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    for form in [
        format!("{port}"),
        format!(":{port}"),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("tcp/{port}"),
        format!("TCP/{port}"),
        format!("tcp/127.0.0.1:{port}"),
        format!("*:{port}"),
        format!(" {port} "),
    ] {
        assert_eq!(who_code(&form), 0, "berth who '{form}' should find our listener");
    }
    for form in [format!("[::1]:{port}"), format!("udp/{port}"), format!("127.0.0.2:{port}")] {
        assert_eq!(who_code(&form), 1, "berth who '{form}': nothing takes that traffic");
    }

    let (code, report) = who_json(&[&port.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(report["held"], true);
    assert_eq!(report["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(report["target"], port.to_string());
    assert_eq!(report["time_wait"].as_u64(), Some(0));
    assert_eq!(holder_pids(&report), vec![our_pid()], "{report}");
    let holder = &report["holders"][0];
    assert_eq!(holder["fds"], serde_json::json!([listener.as_raw_fd()]));
    assert_eq!(holder["cmdline"].as_array().map(Vec::len), Some(own_cmdline().len()));
    let bindings = holder["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1, "{holder}");
    assert_eq!(bindings[0]["protocol"], "tcp");
    assert_eq!(bindings[0]["state"], "LISTEN");
    assert_eq!(bindings[0]["local"]["address"], "127.0.0.1");
    assert_eq!(bindings[0]["scope"], "loopback");
    assert_eq!(holder["connections"]["established"].as_u64(), Some(0));
    assert_eq!(holder["outgoing"].as_u64(), Some(0));
    // The test's parent (cargo or a shell) is named.
    let ancestors = holder["ancestors"].as_array().unwrap();
    assert!(!ancestors.is_empty(), "ancestors: {holder}");
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let ppid: u64 = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(ancestors[0]["pid"].as_u64(), Some(ppid), "{holder}");
    let sockets = report["sockets"].as_array().unwrap();
    assert!(find_inode(sockets, inode_of(&listener)).is_some(), "{report}");
    // The keys are the ones docs/json.md lists.
    assert_eq!(keys_of(&report), documented_fields("## `berth who PORT --json`"), "{report}");
    let mut holder_keys = documented_fields("An **owner**");
    holder_keys.extend(documented_fields("A **holder**"));
    holder_keys.sort();
    assert_eq!(keys_of(holder), holder_keys, "{holder}");
    assert_eq!(keys_of(&report["unseen"]), ["hidden", "no_process", "unknown"]);

    let (code, stdout, _) = run_berth(&["who", &port.to_string()], &[]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with(&format!("port {port} is held by 1 process")), "{stdout}");
    assert!(stdout.contains(&format!("[{}]", our_pid())), "{stdout}");
    assert!(stdout.contains(&format!("127.0.0.1:{port}")), "{stdout}");
    drop(listener);
}

fn accepted_forms_for_an_ipv6_loopback_listener() {
    let _serial = serial();
    let (listener, port) = quiet(
        || listener_v6(Ipv6Addr::LOCALHOST, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::LOCALHOST)),
    );
    for form in [format!("[::1]:{port}"), format!("localhost:{port}"), format!("{port}"), format!("tcp/[::1]:{port}")] {
        assert_eq!(who_code(&form), 0, "berth who '{form}' should find our [::1] listener");
    }
    assert_eq!(who_code(&format!("127.0.0.1:{port}")), 1, "[::1] does not take IPv4 traffic");
    drop(listener);
}

fn dual_stack_listener_takes_both_families() {
    let _serial = serial();
    let (listener, port) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    for form in [format!("127.0.0.1:{port}"), format!("[::1]:{port}"), format!("[::ffff:127.0.0.1]:{port}")] {
        assert_eq!(who_code(&form), 0, "berth who '{form}': a dual-stack [::] takes it");
    }
    drop(listener);
    let (listener, port) = quiet(
        || listener_v6(Ipv6Addr::UNSPECIFIED, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::LOCALHOST)),
    );
    assert_eq!(who_code(&format!("[::1]:{port}")), 0);
    assert_eq!(who_code(&format!("127.0.0.1:{port}")), 1, "a v6only [::] takes no IPv4 traffic");
    drop(listener);
}

fn released_port_is_free() {
    let _serial = serial();
    let port = free_port();
    let (code, stdout, stderr) = run_berth(&["who", &port.to_string()], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("free"), "{stdout}");
    assert!(stdout.contains(&format!("port {port}")), "{stdout}");
    let (code, report) = who_json(&[&port.to_string()]);
    assert_eq!(code, 1);
    assert_eq!(report["held"], false);
    assert_eq!(report["holders"], serde_json::json!([]));
    assert_eq!(report["sockets"], serde_json::json!([]));
}

fn udp_port() {
    let _serial = serial();
    let (socket, port) = quiet(
        || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = socket.local_addr().unwrap().port();
            (socket, port)
        },
        |port| port_unused("tcp", port, ProbeAt::Everywhere),
    );
    assert_eq!(who_code(&format!("udp/{port}")), 0, "who udp/{port}");
    assert_eq!(who_code(&format!("UDP/127.0.0.1:{port}")), 0);
    assert_eq!(who_code(&format!("{port}")), 0, "who {port} (any protocol)");
    assert_eq!(who_code(&format!("tcp/{port}")), 1, "who tcp/{port}: only UDP is bound");

    let (code, report) = who_json(&[&format!("udp/{port}")]);
    assert_eq!(code, 0);
    assert_eq!(holder_pids(&report), vec![our_pid()], "{report}");
    let binding = &report["holders"][0]["bindings"][0];
    assert_eq!(binding["protocol"], "udp");
    assert_eq!(binding["state"], "UNCONN");
    assert_eq!(binding["local"]["port"].as_u64(), Some(u64::from(port)));

    let (code, stdout, _) = run_berth(&["who", &format!("udp/{port}")], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&format!("udp 127.0.0.1:{port}")), "{stdout}");
    drop(socket);
}

fn ipv4_mapped_client_of_a_dual_stack_listener() {
    let _serial = serial();
    let (listener, port) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");

    let (code, report) = who_json(&[&port.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(report["held"], true);
    assert_eq!(holder_pids(&report), vec![our_pid()], "{report}");
    let holder = &report["holders"][0];
    let connections = &holder["connections"];
    assert!(connections["established"].as_u64().unwrap() >= 1, "{holder}");
    let peers = connections["peers"].as_array().unwrap();
    let peer = peers
        .iter()
        .find(|p| p["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("peer 127.0.0.1 (unmapped) among {connections}"));
    assert!(peer["connections"].as_u64().unwrap() >= 1);
    let me = format!("[{}]", our_pid());
    assert!(
        peer["processes"].as_array().unwrap().iter().any(|p| p.as_str().is_some_and(|p| p.ends_with(&me))),
        "the client is ours, so the peer names us: {peer}"
    );
    let bindings = holder["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["covers_ipv4"], true);
    assert_eq!(bindings[0]["covers_ipv6"], true);
    assert_eq!(bindings[0]["scope"], "all");
    let sockets = report["sockets"].as_array().unwrap();
    assert!(find_inode(sockets, inode_of(&accepted)).is_some(), "{report}");
    assert!(find_inode(sockets, inode_of(&client)).is_none(), "the client's local port is not the port");

    let (code, stdout, _) = run_berth(&["who", &port.to_string()], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("established"), "{stdout}");
    assert!(stdout.contains("127.0.0.1"), "{stdout}");
    drop((client, accepted, listener));
}

fn outgoing_connection_from_a_port() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();
    // The client's port is held by its connection, not by a listener. Other
    // programs may use the same port number towards other peers: look at ours.
    let (code, report) = who_json(&[&format!("tcp/127.0.0.1:{client_port}")]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["held"], true);
    let holder = report["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["pid"].as_u64() == Some(our_pid()))
        .unwrap_or_else(|| panic!("we hold the client port: {report}"));
    assert_eq!(holder["outgoing"].as_u64(), Some(1), "{holder}");
    assert_eq!(holder["bindings"], serde_json::json!([]));
    assert_eq!(holder["connections"]["established"].as_u64(), Some(0), "{holder}");
}

fn time_wait_alone_does_not_hold_a_port() {
    let _serial = serial();
    let port = time_wait_port();

    let port_text = port.to_string();
    let found = poll_until(Duration::from_secs(2), || {
        let sockets = ls_json(&["-a", "-t", "--port", &port_text]);
        let tw: Vec<Value> = find_by(&sockets, "tcp", port, "TIME_WAIT").into_iter().cloned().collect();
        (!tw.is_empty()).then_some(tw)
    })
    .unwrap_or_else(|| panic!("no TIME_WAIT socket on port {port} within 2 s"));
    for s in &found {
        assert_eq!(s["owner_status"], "none", "{s}");
        assert_eq!(s["owners"], serde_json::json!([]), "{s}");
        assert_eq!(s["inode"].as_u64(), Some(0), "{s}");
        assert_eq!(s["local"]["address"], "127.0.0.1");
    }

    let (code, stdout, stderr) = run_berth(&["who", &port_text], &[]);
    assert_eq!(code, 1, "TIME_WAIT remnants alone do not hold the port\n{stdout}{stderr}");
    assert!(stdout.contains("TIME_WAIT"), "{stdout}");
    assert!(stdout.contains("free"), "{stdout}");

    let (code, report) = who_json(&[&port_text]);
    assert_eq!(code, 1);
    assert_eq!(report["held"], false, "{report}");
    assert!(report["time_wait"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["holders"], serde_json::json!([]));
    assert!(
        report["sockets"].as_array().unwrap().iter().any(|s| s["state"] == "TIME_WAIT"),
        "sockets include the remnant: {report}"
    );
}

tests![
    accepted_forms_for_a_v4_listener,
    accepted_forms_for_an_ipv6_loopback_listener,
    dual_stack_listener_takes_both_families,
    released_port_is_free,
    udp_port,
    ipv4_mapped_client_of_a_dual_stack_listener,
    outgoing_connection_from_a_port,
    time_wait_alone_does_not_hold_a_port,
];
