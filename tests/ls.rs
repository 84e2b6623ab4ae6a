//! `berth ls` against real sockets the test opens: what one listener looks
//! like in JSON and in the table, every filter, a listener shared with a
//! forked child, dual-stack and IPv6-only listeners, IPv4-mapped
//! connections and bound UDP sockets.

use std::net::{Ipv6Addr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;

use crate::common::*;
use serde_json::Value;

/// The fields every listing of a socket the test holds must have.
fn assert_owned_by_us(socket: &Value, fd: i32) {
    assert_eq!(socket["owner_status"], "owned", "{socket}");
    assert_eq!(owner_pids(socket), vec![our_pid()], "exactly the test process owns it: {socket}");
    let me = owner(socket, our_pid()).expect("our owner entry");
    assert_eq!(fds(me), vec![fd as u64], "the fd we hold it under: {socket}");
    assert_eq!(me["uid"].as_u64(), Some(u64::from(euid())), "{socket}");
    assert_eq!(me["user"].as_str().map(str::to_string), user_name(euid()), "{socket}");
    let cmdline: Vec<String> =
        me["cmdline"].as_array().expect("cmdline array").iter().map(|a| a.as_str().unwrap().to_string()).collect();
    assert!(!cmdline.is_empty(), "cmdline non-empty: {socket}");
    assert_eq!(cmdline, own_cmdline(), "cmdline is ours: {socket}");
    assert_eq!(me["name"].as_str(), Some(comm_of(our_pid()).as_str()), "{socket}");
    assert!(me["start_time_unix"].as_u64().is_some(), "{socket}");
    assert!(me["start_time"].as_str().is_some_and(|t| t.ends_with('Z')), "{socket}");
}

fn listed(args: &[&str], inode: u64) -> bool {
    find_inode(&ls_json(args), inode).is_some()
}

fn tcp_listener_on_loopback_v4() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let inode = inode_of(&listener);
    let sockets = ls_json(&[]);
    let s = expect_inode(&sockets, inode, "our 127.0.0.1 listener");

    assert_eq!(s["protocol"], "tcp");
    assert_eq!(s["family"], "ipv4");
    assert_eq!(s["local"]["address"], "127.0.0.1");
    assert_eq!(s["local"]["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(s["remote"], Value::Null);
    assert_eq!(s["state"], "LISTEN");
    assert_eq!(s["scope"], "loopback");
    assert_eq!(s["interface"], Value::Null);
    assert_eq!(s["covers_ipv4"], true);
    assert_eq!(s["covers_ipv6"], false);
    assert_eq!(s["v6only"], Value::Null, "v6only is only for IPv6 sockets");
    assert_eq!(s["uid"].as_u64(), Some(u64::from(euid())));
    assert_eq!(s["user"].as_str().map(str::to_string), user_name(euid()));
    assert_eq!(s["send_queue"].as_u64(), Some(0));
    assert_eq!(s["recv_queue"].as_u64(), Some(0), "nothing waits in the accept queue");
    assert!(s["listen_backlog"].as_u64().is_some_and(|b| b > 0), "netlink gives the backlog: {s}");
    assert_eq!(s["tcp_counters"], Value::Null, "no counters for a listener");
    assert_eq!(s["netns"]["own"], true);
    let (low, high) = ephemeral_range();
    assert_eq!(s["ephemeral"], (low..=high).contains(&port), "{s}");
    let class = match port {
        0..=1023 => "well-known",
        1024..=49151 => "registered",
        _ => "dynamic",
    };
    assert_eq!(s["port_class"], class);
    assert_owned_by_us(s, listener.as_raw_fd());
}

fn tcp_listener_in_table() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let port_text = port.to_string();
    let (code, stdout, stderr) = run_berth(&["ls"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let header = stdout.lines().next().expect("a header line");
    for column in ["PROTO", "ADDRESS", "PORT", "SCOPE", "PID", "USER", "COMMAND"] {
        assert!(has_word(header, column), "header has {column}: {header}");
    }
    let row = stdout
        .lines()
        .find(|l| has_word(l, &port_text) && has_word(l, "127.0.0.1"))
        .unwrap_or_else(|| panic!("no row with 127.0.0.1 and port {port}:\n{stdout}"));
    assert!(has_word(row, "tcp"), "{row}");
    assert!(has_word(row, "loopback"), "{row}");
    assert!(has_word(row, &our_pid().to_string()), "{row}");
    assert!(!stdout.contains('\u{1b}'), "no colour in a pipe:\n{stdout}");

    let (code, stdout, _) = run_berth(&["ls", "--port", &port_text], &[]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "only our listener has port {port}:\n{stdout}");
    assert!(has_word(rows[0], &port_text) && has_word(rows[0], &our_pid().to_string()), "{stdout}");
    drop(listener);
}

fn filters_on_a_v4_loopback_listener() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let inode = inode_of(&listener);
    let port_text = port.to_string();
    let pid_text = our_pid().to_string();

    let by_port = ls_json(&["--port", &port_text]);
    expect_inode(&by_port, inode, "with --port");
    assert!(
        by_port.iter().all(|s| s["local"]["port"].as_u64() == Some(u64::from(port))
            || s["remote"]["port"].as_u64() == Some(u64::from(port))),
        "--port shows only sockets on the port:\n{}",
        dump(&by_port)
    );
    let short_port = ls_json(&["-p", &port_text]);
    expect_inode(&short_port, inode, "with -p");

    let by_pid = ls_json(&["--pid", &pid_text]);
    expect_inode(&by_pid, inode, "with --pid");
    assert!(
        by_pid.iter().all(|s| owner_pids(s).contains(&our_pid())),
        "--pid shows only our sockets:\n{}",
        dump(&by_pid)
    );
    // A pid that holds nothing (pid 0 is never a process).
    assert!(find_inode(&ls_json(&["--pid", "0"]), inode).is_none(), "--pid 0");

    // Each flag combined with --port P, so that the listings stay small.
    let listed_on_port = |flags: &[&str]| {
        let mut args = flags.to_vec();
        args.extend(["--port", &port_text]);
        listed(&args, inode)
    };
    let comm = comm_of(our_pid());
    assert!(listed_on_port(&["--process", &comm]), "--process {comm}");
    assert!(listed_on_port(&["--process", &comm.to_uppercase()]), "--process is case-insensitive");
    assert!(!listed_on_port(&["--process", "no-such-process-name-x"]), "--process other");
    assert!(listed_on_port(&["-t"]), "-t shows TCP");
    assert!(listed_on_port(&["--tcp"]), "--tcp shows TCP");
    assert!(!listed_on_port(&["-u"]), "-u hides TCP");
    assert!(listed_on_port(&["-t", "-u"]), "-t -u shows both");
    assert!(!listed_on_port(&["--exposed"]), "--exposed hides loopback");
    assert!(!listed_on_port(&["-6"]), "-6 hides an IPv4 socket");
    assert!(listed_on_port(&["-4"]), "-4 shows it");
    assert!(listed_on_port(&["-4", "-6"]), "-4 -6 shows both families");
    assert!(listed_on_port(&["-l"]), "-l (the default)");
    assert!(listed_on_port(&["-a"]), "-a includes listeners");
    // And without --port.
    assert!(listed(&["-4"], inode), "-4 alone");
    assert!(!listed(&["-6"], inode), "-6 alone");
    let list_alias = run_berth(&["list", "--json", "--port", &port_text], &[]);
    assert_eq!(list_alias.0, 0);
    assert!(find_inode(&parse_array(&list_alias.1, &["list"]), inode).is_some(), "the list alias");
    drop(listener);
}

fn filters_hold_for_every_listed_socket() {
    let _serial = serial();
    let udp = ls_json(&["-u"]);
    assert!(udp.iter().all(|s| s["protocol"] == "udp" && s["state"] == "UNCONN"), "-u:\n{}", dump(&udp));
    let tcp = ls_json(&["-t"]);
    assert!(tcp.iter().all(|s| s["protocol"] == "tcp" && s["state"] == "LISTEN"), "-t:\n{}", dump(&tcp));
    let exposed = ls_json(&["--exposed"]);
    assert!(exposed.iter().all(|s| s["scope"] != "loopback"), "--exposed:\n{}", dump(&exposed));
    let six = ls_json(&["-6"]);
    assert!(six.iter().all(|s| s["covers_ipv6"] == true), "-6:\n{}", dump(&six));
    let four = ls_json(&["-4"]);
    assert!(four.iter().all(|s| s["covers_ipv4"] == true), "-4:\n{}", dump(&four));
}

fn listener_shared_with_a_forked_child() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let fd = listener.as_raw_fd();
    let inode = inode_of(&listener);
    // SAFETY: the child only pauses.
    let child = unsafe { fork_child(&[fd], || {}) };

    let sockets = ls_json(&["--port", &port.to_string()]);
    let s = expect_inode(&sockets, inode, "shared listener");
    let mut expected = vec![our_pid(), child.pid()];
    expected.sort_unstable();
    assert_eq!(owner_pids(s), expected, "both processes own the one socket, sorted by pid: {s}");
    for pid in &expected {
        let o = owner(s, *pid).unwrap();
        assert_eq!(fds(o), vec![fd as u64], "pid {pid} holds it as fd {fd}: {s}");
    }
    assert_eq!(owner(s, child.pid()).unwrap()["ppid"].as_u64(), Some(our_pid()), "{s}");
    assert_eq!(find_by(&sockets, "tcp", port, "LISTEN").len(), 1, "one socket, not one per owner");

    let by_child = ls_json(&["--pid", &child.pid().to_string()]);
    expect_inode(&by_child, inode, "--pid <child>");

    let (code, report) = who_json(&[&port.to_string()]);
    assert_eq!(code, 0);
    assert_eq!(report["held"], true);
    let holders: Vec<u64> = report["holders"].as_array().unwrap().iter().map(|h| h["pid"].as_u64().unwrap()).collect();
    assert_eq!(holders, expected, "who lists both holders: {report}");
    for holder in report["holders"].as_array().unwrap() {
        let bindings = holder["bindings"].as_array().unwrap();
        assert_eq!(bindings.len(), 1, "{holder}");
        assert_eq!(bindings[0]["state"], "LISTEN");
        assert_eq!(bindings[0]["local"]["port"].as_u64(), Some(u64::from(port)));
    }
    let child_holder =
        report["holders"].as_array().unwrap().iter().find(|h| h["pid"].as_u64() == Some(child.pid())).unwrap();
    assert_eq!(
        child_holder["ancestors"][0]["pid"].as_u64(),
        Some(our_pid()),
        "the child's parent is the test: {child_holder}"
    );
    drop(child);
    drop(listener);
}

fn dual_stack_listener() {
    let _serial = serial();
    let (listener, port) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    let inode = inode_of(&listener);
    let sockets = ls_json(&[]);
    let s = expect_inode(&sockets, inode, "dual-stack listener");
    assert_eq!(s["family"], "ipv6");
    assert_eq!(s["protocol"], "tcp");
    assert_eq!(s["state"], "LISTEN");
    assert_eq!(s["local"]["address"], "::");
    assert_eq!(s["local"]["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(s["v6only"], false);
    assert_eq!(s["covers_ipv4"], true);
    assert_eq!(s["covers_ipv6"], true);
    assert_eq!(s["scope"], "all");
    assert_owned_by_us(s, listener.as_raw_fd());

    assert!(listed(&["-4"], inode), "-4 includes a dual-stack listener");
    assert!(listed(&["-6"], inode), "-6 includes it");
    assert!(listed(&["--exposed"], inode), "--exposed includes a wildcard bind");

    let (code, stdout, _) = run_berth(&["ls", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0);
    let row = stdout
        .lines()
        .find(|l| has_word(l, &port.to_string()) && has_word(l, "tcp6") && has_word(l, &our_pid().to_string()))
        .unwrap_or_else(|| panic!("a tcp6 row for port {port} held by us:\n{stdout}"));
    assert!(has_word(row, "*"), "a wildcard shows as *: {row}");
    assert!(row.contains("all (v4+v6)"), "{row}");
}

fn ipv6_only_listeners() {
    let _serial = serial();
    let (loopback, _) = listener_v6(Ipv6Addr::LOCALHOST, true);
    let (wildcard, _) = listener_v6(Ipv6Addr::UNSPECIFIED, true);
    let sockets = ls_json(&[]);

    let s = expect_inode(&sockets, inode_of(&loopback), "[::1] v6only listener");
    assert_eq!(s["family"], "ipv6");
    assert_eq!(s["local"]["address"], "::1");
    assert_eq!(s["v6only"], true, "netlink reports the option as set: {s}");
    assert_eq!(s["covers_ipv4"], false);
    assert_eq!(s["covers_ipv6"], true);
    assert_eq!(s["scope"], "loopback");

    let s = expect_inode(&sockets, inode_of(&wildcard), "[::] v6only listener");
    assert_eq!(s["local"]["address"], "::");
    assert_eq!(s["v6only"], true, "{s}");
    assert_eq!(s["covers_ipv4"], false, "IPV6_V6ONLY: no IPv4 traffic: {s}");
    assert_eq!(s["covers_ipv6"], true);
    assert_eq!(s["scope"], "all");

    let four = ls_json(&["-4"]);
    assert!(find_inode(&four, inode_of(&loopback)).is_none(), "-4 excludes [::1]");
    assert!(find_inode(&four, inode_of(&wildcard)).is_none(), "-4 excludes a v6only [::]");
    let six = ls_json(&["-6"]);
    expect_inode(&six, inode_of(&loopback), "-6 includes [::1]");
    expect_inode(&six, inode_of(&wildcard), "-6 includes [::]");
}

fn ipv4_mapped_connection_to_a_dual_stack_listener() {
    let _serial = serial();
    let (listener, port) = listener_v6(Ipv6Addr::UNSPECIFIED, false);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect to 127.0.0.1");
    let (accepted, _) = listener.accept().expect("accept");
    let client_port = client.local_addr().unwrap().port();

    let sockets = ls_json(&["-a", "-t", "--port", &port.to_string()]);
    let s = expect_inode(&sockets, inode_of(&accepted), "accepted IPv4-mapped socket");
    assert_eq!(s["family"], "ipv6");
    assert_eq!(s["state"], "ESTABLISHED");
    assert_eq!(s["local"]["address"], "::ffff:127.0.0.1", "kept as the kernel gives it: {s}");
    assert_eq!(s["local"]["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(s["remote"]["address"], "::ffff:127.0.0.1");
    assert_eq!(s["remote"]["port"].as_u64(), Some(u64::from(client_port)));
    assert_eq!(s["scope"], "loopback");
    assert!(s["tcp_counters"].is_object(), "netlink gives counters for a connection: {s}");
    assert_owned_by_us(s, accepted.as_raw_fd());

    let c = expect_inode(&sockets, inode_of(&client), "client end (its remote port is the port)");
    assert_eq!(c["family"], "ipv4");
    assert_eq!(c["state"], "ESTABLISHED");
    assert_eq!(c["local"]["address"], "127.0.0.1");
    assert_eq!(c["remote"]["address"], "127.0.0.1");
    assert_eq!(c["remote"]["port"].as_u64(), Some(u64::from(port)));
    assert_owned_by_us(c, client.as_raw_fd());
    expect_inode(&sockets, inode_of(&listener), "the listener under -a");

    // An IPv4-mapped socket takes IPv4 traffic only.
    let four = ls_json(&["-a", "-4", "--port", &port.to_string()]);
    expect_inode(&four, inode_of(&accepted), "-4 includes the IPv4-mapped connection");
    let six = ls_json(&["-a", "-6", "--port", &port.to_string()]);
    assert!(find_inode(&six, inode_of(&accepted)).is_none(), "-6 excludes the IPv4-mapped connection");
    expect_inode(&six, inode_of(&listener), "-6 includes the dual-stack listener");

    // Without -a only the listener.
    let listening = ls_json(&["-t", "--port", &port.to_string()]);
    assert!(find_inode(&listening, inode_of(&accepted)).is_none(), "no connections without -a");
    expect_inode(&listening, inode_of(&listener), "listener without -a");
    // -u: none of it.
    let udp = ls_json(&["-a", "-u", "--port", &port.to_string()]);
    assert!(find_inode(&udp, inode_of(&accepted)).is_none(), "-u -a hides TCP");
}

fn bound_udp_socket() {
    let _serial = serial();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = socket.local_addr().unwrap().port();
    let inode = inode_of(&socket);

    let sockets = ls_json(&[]);
    let s = expect_inode(&sockets, inode, "bound UDP socket in the default listing");
    assert_eq!(s["protocol"], "udp");
    assert_eq!(s["family"], "ipv4");
    assert_eq!(s["state"], "UNCONN");
    assert_eq!(s["local"]["address"], "127.0.0.1");
    assert_eq!(s["local"]["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(s["remote"], Value::Null);
    assert_eq!(s["listen_backlog"], Value::Null);
    assert_eq!(s["tcp_counters"], Value::Null);
    assert_eq!(s["scope"], "loopback");
    assert_owned_by_us(s, socket.as_raw_fd());

    assert!(listed(&["-u"], inode), "-u shows UDP");
    assert!(!listed(&["-t"], inode), "-t hides UDP");
    assert!(listed(&["-u", "--port", &port.to_string()], inode), "-u --port");

    let (code, stdout, _) = run_berth(&["ls", "-u", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0);
    assert!(stdout.lines().any(|l| has_word(l, "udp") && has_word(l, &port.to_string())), "{stdout}");
}

fn connected_udp_socket_only_with_all() {
    let _serial = serial();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    let inode = inode_of(&client);
    assert!(!listed(&[], inode), "a connected UDP socket is not a listener");
    let all = ls_json(&["-a", "-u"]);
    let s = expect_inode(&all, inode, "connected UDP under -a");
    assert_eq!(s["state"], "ESTABLISHED");
    assert_eq!(s["remote"]["port"].as_u64(), Some(u64::from(server.local_addr().unwrap().port())));
}

fn nothing_matches_says_so() {
    let _serial = serial();
    let port = free_port();
    let (code, stdout, stderr) = run_berth(&["ls", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "no sockets match");
    let (code, stdout, _) = run_berth(&["ls", "--json", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0);
    assert_eq!(parse_array(&stdout, &["ls"]).len(), 0);
}

fn wildcard_v4_listener_is_exposed() {
    let _serial = serial();
    // Bound to every IPv4 address, but the test sends it nothing.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind 0.0.0.0:0");
    let port = listener.local_addr().unwrap().port();
    let inode = inode_of(&listener);
    let s = expect_inode(&ls_json(&[]), inode, "0.0.0.0 listener").clone();
    assert_eq!(s["local"]["address"], "0.0.0.0");
    assert_eq!(s["scope"], "all");
    assert_eq!(s["covers_ipv4"], true);
    assert_eq!(s["covers_ipv6"], false);
    assert!(listed(&["--exposed"], inode), "--exposed shows a wildcard bind");
    assert!(!listed(&["-6"], inode), "0.0.0.0 takes no IPv6 traffic");
    let (code, stdout, _) = run_berth(&["ls", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0);
    let row = stdout
        .lines()
        .find(|l| has_word(l, &port.to_string()) && has_word(l, &our_pid().to_string()))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(has_word(row, "*") && has_word(row, "all"), "{row}");
    drop(listener);
}

fn accept_queue_shows_as_recv_queue_in_both_sources() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let inode = inode_of(&listener);
    // listen() again on a listening socket sets a new backlog limit.
    // SAFETY: listen on a descriptor the listener owns.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 7) }, 0);
    // Two connections the test never accepts: they wait in the accept queue.
    let first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for source in ["netlink", "proc"] {
        let found = poll_until(std::time::Duration::from_secs(1), || {
            let sockets = ls_json(&["-t", "--port", &port.to_string(), "--source", source]);
            let s = find_inode(&sockets, inode)?.clone();
            (s["recv_queue"].as_u64() == Some(2)).then_some(s)
        });
        let s = found.unwrap_or_else(|| panic!("--source {source}: recv_queue of the listener never reached 2"));
        assert_eq!(s["send_queue"].as_u64(), Some(0), "--source {source}: {s}");
        if source == "netlink" {
            assert_eq!(s["listen_backlog"].as_u64(), Some(7), "the backlog limit given to listen(): {s}");
        }
    }
    drop((first, second, listener));
}

fn assert_schema(socket: &Value) {
    let socket_keys = documented_fields("## `berth ls --json`");
    let owner_keys = documented_fields("An **owner**");
    assert!(socket_keys.len() >= 24 && owner_keys.len() >= 11, "docs/json.md tables: {socket_keys:?} {owner_keys:?}");
    assert_eq!(keys_of(socket), socket_keys, "the keys are exactly the documented ones: {socket}");
    for key in ["address", "port"] {
        assert!(socket["local"].get(key).is_some(), "local.{key}: {socket}");
    }
    for key in ["inode", "name", "own", "container"] {
        assert!(socket["netns"].get(key).is_some(), "netns.{key}: {socket}");
    }
    for owner in socket["owners"].as_array().expect("owners array") {
        assert_eq!(keys_of(owner), owner_keys, "owner keys are the documented ones: {owner}");
    }
}

fn json_has_every_documented_key() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sockets = ls_json(&["-a", "--pid", &our_pid().to_string()]);
    for inode in [inode_of(&listener), inode_of(&client), inode_of(&accepted), inode_of(&udp)] {
        assert_schema(expect_inode(&sockets, inode, "our socket"));
    }
    let counters = &expect_inode(&sockets, inode_of(&accepted), "accepted")["tcp_counters"];
    for key in ["bytes_sent", "bytes_acked", "bytes_received", "rtt_us"] {
        assert!(counters.get(key).is_some(), "tcp_counters.{key}: {counters}");
    }
}

fn listing_is_sorted_by_protocol_then_port() {
    let _serial = serial();
    let (_a, _) = listener_v4();
    let (_b, _) = listener_v6(Ipv6Addr::LOCALHOST, true);
    let _udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sockets = ls_json(&[]);
    let keys: Vec<(u64, String, u64, String)> = sockets
        .iter()
        .map(|s| {
            (
                s["netns"]["inode"].as_u64().unwrap(),
                s["protocol"].as_str().unwrap().to_string(),
                s["local"]["port"].as_u64().unwrap(),
                s["family"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for pair in keys.windows(2) {
        assert!(pair[0] <= pair[1], "out of order: {:?} before {:?}", pair[0], pair[1]);
    }
}

tests![
    tcp_listener_on_loopback_v4,
    tcp_listener_in_table,
    filters_on_a_v4_loopback_listener,
    filters_hold_for_every_listed_socket,
    listener_shared_with_a_forked_child,
    dual_stack_listener,
    ipv6_only_listeners,
    ipv4_mapped_connection_to_a_dual_stack_listener,
    bound_udp_socket,
    connected_udp_socket_only_with_all,
    nothing_matches_says_so,
    wildcard_v4_listener_is_exposed,
    accept_queue_shows_as_recv_queue_in_both_sources,
    json_has_every_documented_key,
    listing_is_sorted_by_protocol_then_port,
];
