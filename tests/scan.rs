//! `berth scan` against real listeners: exactly the open ports, with their
//! owners, under a tiny descriptor limit, never a socket's connection with
//! itself, UDP, a host in another network namespace over a veth pair, and
//! bad input.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// `berth scan ARGS --json` run by `wrapper` (empty: directly): exit code,
/// the entries, stderr. Asserts a clean run (0 or 1, JSON, no panic).
fn scan_json(wrapper: &[&str], args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut full = vec!["scan"];
    full.extend_from_slice(args);
    full.push("--json");
    let out = if wrapper.is_empty() {
        let (code, stdout, stderr) = run_berth(&full, &[]);
        Output { code, stdout, stderr }
    } else {
        run_berth_wrapped(wrapper, &full)
    };
    assert!(out.code == 0 || out.code == 1, "berth {full:?} exited {}\n{}{}", out.code, out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "berth {full:?} panicked: {}", out.stderr);
    assert!(!out.stderr.contains("scanning ["), "a progress bar in a pipe: {}", out.stderr);
    (out.code, parse_array(&out.stdout, &full), out.stderr)
}

fn ports_of(entries: &[Value]) -> BTreeSet<u16> {
    entries.iter().map(|e| e["port"].as_u64().expect("port") as u16).collect()
}

/// Listeners on 127.0.0.1 at ports close to each other, so a short range
/// covers them and the closed ports between them. The ports are taken
/// below the ephemeral range: inside it, the TIME_WAIT remnants of other
/// programs' client connections block a bind (they hold the port without
/// SO_REUSEADDR), and a busy machine can hold tens of thousands of them.
fn nearby_listeners() -> Vec<(TcpListener, u16)> {
    let (ephemeral_low, _) = ephemeral_range();
    let low = 10_000.min(ephemeral_low / 2);
    let span = ephemeral_low.saturating_sub(low + 20).max(1);
    // Spread the tries over the span from the clock, so that tests and
    // runs side by side do not all try the same ports first.
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    // Bounded: 20 first ports, 6 neighbours each.
    for attempt in 0..20u32 {
        let base = low + ((seed / 7 + attempt * 7919) % u32::from(span)) as u16;
        let Ok(first) = TcpListener::bind((Ipv4Addr::LOCALHOST, base)) else { continue };
        let mut found = vec![(first, base)];
        for offset in [2u16, 3, 7, 11, 12] {
            let Some(port) = base.checked_add(offset) else { break };
            if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                found.push((listener, port));
            }
        }
        if found.len() >= 4 {
            return found;
        }
    }
    panic!("could not open 4 listeners near each other on 127.0.0.1 (20 tries)");
}

/// The range `lo-hi` around `ports`, `margin` ports wider on each side.
fn range_around(ports: &[u16], margin: u16) -> (u16, u16) {
    let lo = ports.iter().min().unwrap().saturating_sub(margin).max(1);
    let hi = ports.iter().max().unwrap().saturating_add(margin);
    (lo, hi)
}

/// The scan found exactly the open ports: every one of ours (held by this
/// process), and nothing else that this process holds. The machine may be
/// shared: another program's listener inside the range is allowed, if the
/// inventory names another holder and it really accepts connections.
fn assert_exactly_ours(entries: &[Value], ours: &[u16], check_owners: bool) {
    let found = ports_of(entries);
    let ours: BTreeSet<u16> = ours.iter().copied().collect();
    assert!(ours.is_subset(&found), "missing {:?}; found {found:?}", ours.difference(&found).collect::<Vec<_>>());
    for entry in entries {
        let port = entry["port"].as_u64().unwrap() as u16;
        assert_eq!(entry["state"], "open");
        assert_eq!(entry["protocol"], "tcp");
        assert_eq!(entry["address"], "127.0.0.1");
        assert!(entry["latency_ms"].as_f64().is_some());
        let owners: Vec<u64> = entry["owners"]
            .as_array()
            .unwrap_or_else(|| panic!("owners on a local scan: {entry}"))
            .iter()
            .filter_map(|o| o["pid"].as_u64())
            .collect();
        if ours.contains(&port) {
            if check_owners {
                assert_eq!(owners, vec![our_pid()], "port {port}: {entry}");
            }
        } else {
            assert!(!owners.contains(&our_pid()), "port {port} is not ours: {entry}");
            assert!(
                std::net::TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_secs(1)
                )
                .is_ok(),
                "berth reported {port} open, but it refuses: {entry}"
            );
        }
    }
}

fn finds_exactly_the_open_ports_and_their_owner() {
    let _serial = serial();
    let listeners = nearby_listeners();
    let ours: Vec<u16> = listeners.iter().map(|(_, p)| *p).collect();
    let (lo, hi) = range_around(&ours, 10);
    let (code, entries, stderr) = scan_json(&[], &["--ports", &format!("{lo}-{hi}")]);
    assert_eq!(code, 0, "{stderr}");
    assert_exactly_ours(&entries, &ours, true);

    // The table names the owner too.
    let (code, stdout, _) = run_berth(&["scan", "--ports", &format!("{lo}-{hi}")], &[]);
    assert_eq!(code, 0);
    let line = stdout.lines().find(|l| l.starts_with(&format!("{} ", ours[0]))).unwrap_or_else(|| panic!("{stdout}"));
    assert!(has_word(line, "open") && has_word(line, &our_pid().to_string()), "{line}");

    // Once they close, the same range has none of them.
    drop(listeners);
    let (_, entries, _) = scan_json(&[], &["--ports", &format!("{lo}-{hi}")]);
    let found = ports_of(&entries);
    assert!(ours.iter().all(|p| !found.contains(p)), "closed listeners still reported: {found:?}");
}

fn a_list_of_ports_scans_only_those() {
    let _serial = serial();
    let listeners = nearby_listeners();
    let ours: Vec<u16> = listeners.iter().map(|(_, p)| *p).collect();
    // Two of ours and one closed neighbour (base + 1 is never one of ours).
    let list = format!("{},{},{}", ours[0], ours[0] + 1, ours[1]);
    let (code, entries, _) = scan_json(&[], &["--ports", &list]);
    assert_eq!(code, 0);
    assert_eq!(ports_of(&entries), BTreeSet::from([ours[0], ours[1]]));
}

/// Runs berth under `ulimit -n LIMIT` (soft and hard), with descriptors
/// 3..=`occupied` already open, as a shell would pass them on.
fn limited(limit: u32, occupied: u32) -> Vec<String> {
    let script = format!(
        "ulimit -n {limit} && for fd in $(seq 3 {occupied}); do eval \"exec $fd</dev/null\"; done && exec \"$0\" \"$@\""
    );
    vec!["bash".into(), "-c".into(), script]
}

fn a_low_descriptor_limit_still_scans_everything() {
    let _serial = serial();
    let listeners = nearby_listeners();
    let ours: Vec<u16> = listeners.iter().map(|(_, p)| *p).collect();
    // Wide enough for both worker threads to run.
    let (lo, hi) = range_around(&ours, 1500);
    let ports = format!("{lo}-{hi}");

    // ulimit -n 64: berth keeps its attempts well under it.
    let wrapper = limited(64, 2);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let (code, entries, stderr) = scan_json(&wrapper, &["--ports", &ports, "--concurrency", "10000"]);
    assert_eq!(code, 0, "{stderr}");
    assert_exactly_ours(&entries, &ours, true);

    // And with all but a few of those 64 taken already, so that opening a
    // socket fails with EMFILE: berth waits for descriptors instead of failing.
    let wrapper = limited(64, 60);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let (code, entries, stderr) = scan_json(&wrapper, &["--ports", &ports]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("Too many open files") || stderr.contains("who holds"), "{stderr}");
    assert_exactly_ours(&entries, &ours, false);
}

fn a_socket_connected_to_itself_is_recognised() {
    let _serial = serial();
    // Bind to port P, connect to 127.0.0.1:P: the SYN meets its own socket
    // (TCP simultaneous open) and the connect succeeds with no listener.
    // Bounded: a port someone else takes in between is retried.
    let mut shown = false;
    for _ in 0..20 {
        let port = free_port();
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        let at = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if socket.bind(&at.into()).is_err() {
            continue;
        }
        socket.connect(&at.into()).expect("a connect to its own port succeeds by simultaneous open");
        assert!(berth::test_support::is_self_connection(&socket), "not recognised as a self-connection");
        shown = true;
        break;
    }
    assert!(shown, "no free port to show a self-connection on (20 tries)");

    // An ordinary connection is not one.
    let (listener, port) = listener_v4();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    client.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into()).expect("connect");
    assert!(!berth::test_support::is_self_connection(&client));
    drop(listener);
}

fn self_connections_are_never_reported_open() {
    let _serial = serial();
    require_root("network namespace, sysctl");
    // In a namespace of our own whose ephemeral range is one port P, every
    // connect from it uses local port P, so a connect to 127.0.0.1:P is
    // always a connection of the socket with itself.
    let netns = NetnsGuard::create("scan-self");
    let port = released_port();
    let range = format!("net.ipv4.ip_local_port_range={port} {port}");
    let (ok, err) = ip(&["netns", "exec", &netns.name, "sysctl", "-q", "-w", &range]);
    assert!(ok, "sysctl {range}: {err}");

    // The trap is real there: a plain connect "succeeds" with nothing listening.
    let connected = in_netns(&netns, move || {
        std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map(|s| s.local_addr().unwrap() == s.peer_addr().unwrap())
    });
    assert!(matches!(connected, Ok(true)), "expected a self-connection, got {connected:?}");

    let wrapper = netns.exec();
    let ports = format!("{}-{}", port - 2, port + 2);
    let (code, entries, stderr) = scan_json(&wrapper, &["--ports", &ports]);
    assert_eq!((code, entries.len()), (1, 0), "nothing listens, nothing is open: {entries:?}\n{stderr}");
    assert!(stderr.contains("connected to itself"), "{stderr}");
    let (code, entries, stderr) = scan_json(&wrapper, &["--udp", "--ports", &ports, "-w", "0.3"]);
    assert_eq!((code, entries.len()), (1, 0), "UDP: {entries:?}\n{stderr}");
}

fn udp_answers_silence_and_refusals() {
    let _serial = serial();
    // An echo socket (answers: open), a silent one (open|filtered), and a
    // closed port (ICMP port unreachable: not listed).
    let echo = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind echo");
    let echo_port = echo.local_addr().unwrap().port();
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind silent");
    let silent_port = silent.local_addr().unwrap().port();
    let closed = free_port();
    echo.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let echoer = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let started = Instant::now();
        // Bounded: until stopped, at most 30 s.
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && started.elapsed() < Duration::from_secs(30) {
            if let Ok((n, from)) = echo.recv_from(&mut buf) {
                let _ = echo.send_to(if n == 0 { b"hi" } else { &buf[..n] }, from);
            }
        }
    });
    let list = format!("{echo_port},{silent_port},{closed}");
    let (code, entries, stderr) = scan_json(&[], &["--udp", "--ports", &list, "-w", "0.5"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    echoer.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    let states: Vec<(u16, String)> = entries
        .iter()
        .map(|e| (e["port"].as_u64().unwrap() as u16, e["state"].as_str().unwrap().to_string()))
        .collect();
    let mut expected = vec![(echo_port, "open".to_string()), (silent_port, "open|filtered".to_string())];
    expected.sort();
    assert_eq!(states, expected, "{stderr}");
    for entry in &entries {
        assert_eq!(entry["protocol"], "udp");
        let owners: Vec<u64> = entry["owners"].as_array().unwrap().iter().filter_map(|o| o["pid"].as_u64()).collect();
        assert_eq!(owners, vec![our_pid()], "{entry}");
    }
    drop(silent);
}

fn scans_a_host_in_another_namespace_over_a_veth_pair() {
    let _serial = serial();
    require_root("network namespaces");
    let nft = require_program("nft", "nftables").to_string_lossy().into_owned();
    // Two namespaces of our own, so no address or route is added to the
    // machine's: the scanner's (192.0.2.1) and the target's (192.0.2.2).
    let scanner = NetnsGuard::create("scan-from");
    let target = NetnsGuard::create("scan-to");
    for args in [
        vec![
            "-n",
            &scanner.name,
            "link",
            "add",
            "veth-scan",
            "type",
            "veth",
            "peer",
            "name",
            "veth-target",
            "netns",
            &target.name,
        ],
        vec!["-n", &scanner.name, "addr", "add", "192.0.2.1/24", "dev", "veth-scan"],
        vec!["-n", &target.name, "addr", "add", "192.0.2.2/24", "dev", "veth-target"],
        vec!["-n", &scanner.name, "link", "set", "veth-scan", "up"],
        vec!["-n", &target.name, "link", "set", "veth-target", "up"],
    ] {
        let (ok, err) = ip(&args);
        assert!(ok, "ip {args:?}: {err}");
    }
    // Listeners inside the target namespace, made by a thread that entered it.
    let listeners: Vec<(TcpListener, u16)> = in_netns(&target, || {
        let first = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind in the target namespace");
        let base = first.local_addr().unwrap().port();
        let mut found = vec![(first, base)];
        for offset in [3u16, 4, 9] {
            if let Some(port) = base.checked_add(offset) {
                if let Ok(listener) = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
                    found.push((listener, port));
                }
            }
        }
        found
    });
    let ours: Vec<u16> = listeners.iter().map(|(_, p)| *p).collect();
    // One more port whose SYNs the target's firewall drops: it must time out, not show as open.
    let dropped = ours[0] + 1;
    let rule = format!("add rule inet berth input tcp dport {dropped} drop");
    for command in ["add table inet berth", "add chain inet berth input { type filter hook input priority 0 ; }", &rule]
    {
        let args: Vec<&str> = ["netns", "exec", &target.name, &nft].into_iter().chain(command.split(' ')).collect();
        let (ok, err) = ip(&args);
        assert!(ok, "nft {command}: {err}");
    }

    let (lo, hi) = range_around(&ours, 20);
    let wrapper = scanner.exec();
    let started = Instant::now();
    let (code, entries, stderr) = scan_json(&wrapper, &["192.0.2.2", "--ports", &format!("{lo}-{hi}"), "-w", "0.5"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));
    // Nothing else listens in a namespace we just made: exactly our ports.
    assert_eq!(ports_of(&entries), ours.iter().copied().collect::<BTreeSet<u16>>(), "{stderr}");
    for entry in &entries {
        assert_eq!(entry["address"], "192.0.2.2");
        assert_eq!(entry["owners"], Value::Null, "another host: no owners: {entry}");
    }
    assert!(stderr.contains("1 port did not answer"), "the dropped port timed out: {stderr}");
    drop(listeners);
}

fn bad_input_exits_2_with_one_line() {
    let _serial = serial();
    let cases: [&[&str]; 9] = [
        &["--ports", "0"],
        &["--ports", "70000"],
        &["--ports", "9-1"],
        &["--ports", "garbage"],
        &["--ports", "1-"],
        &["--ports", ""],
        &["no-such-host.invalid"],
        &["bad host name"],
        &["--ports", "80", "--concurrency", "0"],
    ];
    for args in cases {
        let mut full = vec!["scan"];
        full.extend_from_slice(args);
        let (code, stdout, stderr) = run_berth(&full, &[]);
        assert_eq!(code, 2, "{full:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{full:?}: one line on stderr, got {stderr:?}");
        assert!(stderr.starts_with("berth: "), "{stderr}");
        assert!(stdout.is_empty(), "{full:?}: {stdout}");
    }
}

fn no_open_ports_exits_1() {
    let _serial = serial();
    let port = free_port();
    let (code, entries, _) = scan_json(&[], &["--ports", &port.to_string()]);
    assert_eq!((code, entries.len()), (1, 0));
    let (code, stdout, _) = run_berth(&["scan", "--ports", &port.to_string()], &[]);
    assert_eq!(code, 1);
    assert!(stdout.contains("no open TCP ports"), "{stdout}");
}

fn json_fields_match_the_documentation() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let (_, entries, _) = scan_json(&[], &["--ports", &port.to_string()]);
    assert_eq!(entries.len(), 1);
    assert_eq!(keys_of(&entries[0]), documented_fields("## `berth scan [HOST] --json`"));
    drop(listener);
}

tests![
    finds_exactly_the_open_ports_and_their_owner,
    a_list_of_ports_scans_only_those,
    a_low_descriptor_limit_still_scans_everything,
    a_socket_connected_to_itself_is_recognised,
    self_connections_are_never_reported_open,
    udp_answers_silence_and_refusals,
    scans_a_host_in_another_namespace_over_a_veth_pair,
    bad_input_exits_2_with_one_line,
    no_open_ports_exits_1,
    json_fields_match_the_documentation,
];
