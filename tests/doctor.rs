//! `berth doctor` against real conditions: listeners on one loopback family,
//! TIME_WAIT remnants, two processes behind 127.0.0.1 and ::1, malformed
//! ports, and — as root, inside network namespaces the tests create and
//! remove — route_localnet, firewall rules, an interface-only bind, a
//! nearly exhausted ephemeral range, an /etc/hosts that resolves localhost
//! differently (in a private mount namespace), and a user without the
//! privilege to bind low ports. The host's own settings are never changed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

const MACHINE_IDS: [&str; 19] = [
    "loopback.up",
    "loopback.ipv4",
    "loopback.ipv6",
    "ipv6.enabled",
    "localhost.resolve",
    "localhost.hosts",
    "localhost.nsswitch",
    "ephemeral.range",
    "ephemeral.reserved",
    "ephemeral.in_use",
    "ephemeral.time_wait",
    "ephemeral.exhaustion",
    "limits.nofile",
    "limits.system",
    "sysctl.route_localnet",
    "sysctl.rp_filter",
    "sysctl.accept_local",
    "sysctl.unprivileged_port_start",
    "firewall.loopback",
];

const PORT_IDS: [&str; 10] = [
    "port.held",
    "loopback.up",
    "port.accept_queue",
    "port.time_wait",
    "port.localhost_order",
    "port.split_loopback",
    "port.interface_only",
    "port.privileged",
    "port.ephemeral",
    "port.firewall",
];

const STATUSES: [&str; 5] = ["ok", "info", "skipped", "warn", "fail"];

// ---------------------------------------------------------------- helpers

/// Parses a doctor run's JSON and checks what every report must satisfy:
/// the stable list of ids, the statuses, and an exit code that follows them.
fn report_of(out: &Output, what: &str) -> Value {
    assert!(!out.stderr.contains("panicked"), "{what} panicked: {}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}\nstderr: {}", out.stdout, out.stderr));
    let checks = report["checks"].as_array().unwrap_or_else(|| panic!("{what}: no checks: {report}"));
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().expect("id")).collect();
    let expected: &[&str] = if report["port"].is_null() { &MACHINE_IDS } else { &PORT_IDS };
    assert_eq!(ids, expected, "{what}: the list of checks is stable");
    let problems = checks.iter().any(|c| c["status"] == "warn" || c["status"] == "fail");
    for check in checks {
        let status = check["status"].as_str().expect("status");
        assert!(STATUSES.contains(&status), "{what}: unknown status {status}");
        assert!(check["summary"].as_str().is_some_and(|s| !s.is_empty()), "{what}: empty summary: {check}");
    }
    let expected_code = if problems { 1 } else { 0 };
    assert_eq!(out.code, expected_code, "{what}: exit status follows the checks\n{report:#}\n{}", out.stderr);
    let worst = if checks.iter().any(|c| c["status"] == "fail") {
        "fail"
    } else if problems {
        "warn"
    } else {
        "ok"
    };
    assert_eq!(report["status"], worst, "{what}: {report}");
    report
}

fn doctor(args: &[&str]) -> Value {
    let mut full = vec!["doctor"];
    full.extend_from_slice(args);
    full.push("--json");
    let out = run_berth_with(&full, &[], None);
    report_of(&out, &format!("berth {full:?}"))
}

fn doctor_wrapped(wrapper: &[&str], args: &[&str]) -> Value {
    let mut full = vec!["doctor"];
    full.extend_from_slice(args);
    full.push("--json");
    let out = run_berth_wrapped(wrapper, &full);
    report_of(&out, &format!("{wrapper:?} berth {full:?}"))
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// Asserts a check's status and returns its summary.
fn expect_status(report: &Value, id: &str, status: &str) -> String {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{id}: {c:#}");
    c["summary"].as_str().unwrap().to_string()
}

/// The loopback addresses `localhost` resolves to here, in order.
fn localhost_order() -> Vec<IpAddr> {
    let mut order: Vec<IpAddr> = Vec::new();
    for address in ("localhost", 0).to_socket_addrs().map(|a| a.collect::<Vec<_>>()).unwrap_or_default() {
        if address.ip().is_loopback() && !order.contains(&address.ip()) {
            order.push(address.ip());
        }
    }
    order
}

/// What port.localhost_order must say for a listener taking only `served`.
fn expected_order_status(served: IpAddr) -> &'static str {
    let order = localhost_order();
    match order.iter().position(|&a| a == served) {
        Some(0) => "ok",
        Some(_) => "warn",
        None => "fail",
    }
}

/// Runs a command to set something up; panics with its stderr on failure.
fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

const V6_STAGES: [&str; 4] = ["socket", "setsockopt", "bind", "listen"];

/// In a forked child: listen on [::1]:port with IPV6_V6ONLY (async-signal-safe).
unsafe fn child_listen_v6_loopback(port: u16) -> Result<(), (i32, i32)> {
    let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM, 0);
    if fd < 0 {
        return Err((1, errno()));
    }
    let on: libc::c_int = 1;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    if libc::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, (&on as *const libc::c_int).cast(), size) != 0 {
        return Err((2, errno()));
    }
    let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    addr.sin6_addr.s6_addr = Ipv6Addr::LOCALHOST.octets();
    let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    if libc::bind(fd, (&addr as *const libc::sockaddr_in6).cast(), len) != 0 {
        return Err((3, errno()));
    }
    if libc::listen(fd, 16) != 0 {
        return Err((4, errno()));
    }
    Ok(())
}

// ---------------------------------------------------------------- any user

fn malformed_ports_exit_2() {
    let _serial = serial();
    for bad in ["abc", "0", "65536", "tcp/", "[::1]80", "sctp/80", "foo.example:80"] {
        for json in [false, true] {
            let mut args = vec!["doctor", bad];
            if json {
                args.push("--json");
            }
            let (code, stdout, stderr) = run_berth(&args, &[]);
            assert_eq!(code, 2, "berth {args:?}: {stdout}{stderr}");
            assert!(stdout.is_empty(), "nothing on stdout for bad input: {stdout}");
            assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
            assert!(stderr.starts_with("berth: "), "{stderr}");
        }
    }
}

fn machine_checks_are_stable_documented_and_readable() {
    let _serial = serial();
    let report = doctor(&[]);
    assert_eq!(report["target"], Value::Null);
    assert_eq!(keys_of(&report), documented_fields("## `berth doctor --json`"), "{report}");
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(keys_of(c), documented_fields("A **check**"), "{c}");
    }
    // The range this machine has is the one reported.
    let (low, high) = ephemeral_range();
    let range = check(&report, "ephemeral.range")["summary"].as_str().unwrap();
    assert!(range.contains(&format!("{low}-{high}")), "{range}");
    let firewall = check(&report, "firewall.loopback");
    if !firewall_tools_installed() {
        assert_eq!(firewall["status"], "skipped", "no nft or iptables-save here: {firewall}");
        assert!(firewall.to_string().contains("not installed"), "says why the rules were not read: {firewall}");
    } else if is_root() {
        assert_ne!(firewall["status"], "skipped", "root reads the rules: {firewall}");
    }

    // People: one line per check with its status word, fixes indented below.
    let (code, stdout, _) = run_berth(&["doctor", "--color", "never"], &[]);
    assert_eq!(code, if report["status"] == "ok" { 0 } else { 1 });
    let lines: Vec<&str> = stdout.lines().collect();
    for c in report["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"));
        let word = line.split_whitespace().next().unwrap();
        assert!(STATUSES.contains(&word), "{line}");
        // Socket counts can change between the two runs; settings cannot.
        if !id.starts_with("ephemeral.") && id != "limits.system" {
            assert_eq!(Some(word), c["status"].as_str(), "{line}");
            assert!(line.contains(c["summary"].as_str().unwrap()), "{line}");
        }
    }
    for line in &lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("fix:") || trimmed.starts_with("why:") {
            assert!(line.starts_with("    "), "fixes are indented: {line}");
        }
    }
    assert!(!stdout.contains('\x1b'), "no colour with --color never");
    let (_, coloured, _) = run_berth(&["doctor", "--color", "always"], &[]);
    assert!(coloured.contains("\x1b[32mok"), "status words are coloured: {coloured}");
}

fn port_held_on_ipv4_loopback_only() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let p = port.to_string();
    let report = doctor(&[&p]);
    assert_eq!(report["port"].as_u64(), Some(u64::from(port)));
    assert_eq!(report["target"], p.as_str());
    let held = expect_status(&report, "port.held", "warn");
    assert!(held.contains(&format!("[{}]", our_pid())), "names our process: {held}");
    assert!(held.contains(&format!("127.0.0.1:{port} (IPv4 only)")), "{held}");
    expect_status(&report, "port.time_wait", "ok");
    let order = expect_status(&report, "port.localhost_order", expected_order_status(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(order.contains("127.0.0.1"), "{order}");
    expect_status(&report, "port.split_loopback", "skipped");
    expect_status(&report, "port.interface_only", "ok");
    expect_status(&report, "port.privileged", "ok");
    let (low, high) = ephemeral_range();
    let ephemeral = check(&report, "port.ephemeral");
    if (low..=high).contains(&port) {
        assert!(ephemeral["status"] == "info" || ephemeral["status"] == "ok", "{ephemeral}");
    } else {
        assert_eq!(ephemeral["status"], "ok");
    }

    // The same port named other ways; udp/ names nothing.
    for form in [format!("127.0.0.1:{port}"), format!("tcp/{port}"), format!("localhost:{port}")] {
        expect_status(&doctor(&[&form]), "port.held", "warn");
    }
    let udp = doctor(&[&format!("udp/{port}")]);
    expect_status(&udp, "port.held", "ok");
    expect_status(&udp, "port.localhost_order", "skipped");
    drop(listener);
}

fn time_wait_remnants_only() {
    let _serial = serial();
    let port = time_wait_port();

    let p = port.to_string();
    let report = poll_until(Duration::from_secs(3), || {
        let report = doctor(&[&p]);
        (check(&report, "port.time_wait")["status"] == "warn").then_some(report)
    })
    .unwrap_or_else(|| panic!("port.time_wait never warned for port {port}"));
    let c = check(&report, "port.time_wait");
    assert!(c["summary"].as_str().unwrap().contains("SO_REUSEADDR"), "{c}");
    assert!(c["detail"].as_str().unwrap().contains("60 seconds"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("SO_REUSEADDR"), "{c}");
    let held = expect_status(&report, "port.held", "ok");
    assert!(held.contains("TIME_WAIT"), "{held}");
    assert_ne!(report["status"], "ok", "TIME_WAIT remnants alone are a problem for binding");

    let (code, stdout, _) = run_berth(&["doctor", &p], &[]);
    assert_eq!(code, 1, "{stdout}");
    let line =
        stdout.lines().find(|l| l.split_whitespace().nth(1) == Some("port.time_wait")).expect("a time_wait line");
    assert!(line.starts_with("warn"), "{line}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("fix:") && l.contains("SO_REUSEADDR")), "{stdout}");
}

fn port_on_ipv6_loopback_only() {
    let _serial = serial();
    require_ipv6_loopback();
    let (listener, port) = quiet(
        || listener_v6(Ipv6Addr::LOCALHOST, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::UNSPECIFIED)),
    );
    let report = doctor(&[&port.to_string()]);
    let held = expect_status(&report, "port.held", "warn");
    assert!(held.contains(&format!("[::1]:{port} (IPv6 only)")), "{held}");
    let expected = expected_order_status(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let order = expect_status(&report, "port.localhost_order", expected);
    if expected != "ok" {
        assert!(order.contains("::1") && order.contains("refused"), "{order}");
        assert!(check(&report, "port.localhost_order")["fix"].as_str().unwrap().contains("dual-stack"));
    }
    expect_status(&report, "port.split_loopback", "skipped");
    expect_status(&report, "port.interface_only", "ok");
    drop(listener);
}

fn different_processes_on_v4_and_v6_loopback() {
    let _serial = serial();
    require_ipv6_loopback();
    // This process on 127.0.0.1:P; a forked child on [::1]:P.
    let (listener, port) = quiet(listener_v4, |port| {
        port_unused("tcp", port, ProbeAt::V6Only(Ipv6Addr::LOCALHOST)) && port_unused("udp", port, ProbeAt::Everywhere)
    });
    let mut pipe = Pipe::new();
    let write = pipe.write;
    // SAFETY: the body makes only raw, async-signal-safe libc calls.
    let child = unsafe {
        fork_child(&[write], move || match child_listen_v6_loopback(port) {
            Ok(()) => child_report(write, 0, i32::from(port)),
            Err((stage, err)) => {
                child_report(write, stage, err);
                libc::_exit(1);
            }
        })
    };
    pipe.close_write();
    assert_eq!(pipe.read_report(Duration::from_secs(5)).port(&V6_STAGES), port);

    let report = doctor(&[&port.to_string()]);
    let split = expect_status(&report, "port.split_loopback", "warn");
    assert!(split.contains(&format!("[{}]", our_pid())), "names this process: {split}");
    assert!(split.contains(&format!("[{}]", child.pid())), "names the child: {split}");
    let held = expect_status(&report, "port.held", "warn");
    assert!(held.contains(&format!("[{}]", child.pid())) && held.contains(&format!("[{}]", our_pid())), "{held}");
    assert!(check(&report, "port.split_loopback")["detail"].as_str().unwrap().contains("first"));
    // Both families are served, so localhost works whichever comes first.
    expect_status(&report, "port.localhost_order", "ok");
    drop(child);
    drop(listener);
}

// ---------------------------------------------------------------- root only

fn route_localnet_in_a_namespace() {
    let _serial = serial();
    require_root("ip netns add, sysctl in the namespace");
    let netns = NetnsGuard::create("doctor");
    let exec = netns.exec();
    let before = doctor_wrapped(&exec, &[]);
    expect_status(&before, "sysctl.route_localnet", "ok");
    expect_status(&before, "loopback.up", "ok");

    let mut set = exec.to_vec();
    set.extend(["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
    run(set[0], &set[1..]);
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "sysctl.route_localnet", "fail");
    assert!(summary.contains("CVE-2020-8558") && summary.contains("all"), "{summary}");
    assert!(check(&report, "sysctl.route_localnet")["fix"].as_str().unwrap().contains("route_localnet=0"));
    assert_eq!(report["status"], "fail");

    // On lo alone it is a warning, not yet a hole.
    let mut unset = exec.to_vec();
    unset.extend(["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=0", "net.ipv4.conf.lo.route_localnet=1"]);
    run(unset[0], &unset[1..]);
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "sysctl.route_localnet", "warn");
    assert!(summary.contains("lo") && summary.contains("CVE-2020-8558"), "{summary}");

    // The host's own setting was never touched.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/route_localnet").unwrap();
    if host.trim() == "0" {
        expect_status(&doctor(&[]), "sysctl.route_localnet", "ok");
    }
}

fn nft_rule_dropping_a_port_on_lo() {
    let _serial = serial();
    require_root("a namespace with its own ruleset");
    let nft = require_program("nft", "nftables").to_str().unwrap().to_string();
    let netns = NetnsGuard::create("doctor-nft");
    let port = free_port();
    let p = port.to_string();
    let ns = ["netns", "exec", netns.name.as_str()];
    let nft_in = |args: &[&str]| {
        let mut full: Vec<&str> = ns.to_vec();
        full.push(&nft);
        full.extend_from_slice(args);
        run("ip", &full);
    };
    nft_in(&["add", "table", "inet", "berth_test"]);
    nft_in(&["add", "chain", "inet", "berth_test", "input", "{ type filter hook input priority 0; policy accept; }"]);
    nft_in(&["add", "rule", "inet", "berth_test", "input", "iifname", "lo", "tcp", "dport", &p, "drop"]);

    let exec = netns.exec();
    let report = doctor_wrapped(&exec, &[&p]);
    let summary = expect_status(&report, "port.firewall", "fail");
    assert!(summary.contains("drops") && summary.contains(&format!("dport {port} drop")), "{summary}");
    assert!(summary.contains("berth_test"), "names the table: {summary}");
    let fix = check(&report, "port.firewall")["fix"].as_str().unwrap();
    assert!(fix.contains("nft insert rule inet berth_test input iif lo"), "{fix}");
    // UDP and other ports are not concerned.
    expect_status(&doctor_wrapped(&exec, &[&format!("udp/{port}")]), "port.firewall", "ok");
    let other = if port < u16::MAX { port + 1 } else { port - 1 };
    expect_status(&doctor_wrapped(&exec, &[&other.to_string()]), "port.firewall", "ok");
    let machine = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&machine, "firewall.loopback", "warn");
    assert!(summary.contains(&p), "{summary}");
}

fn iptables_rule_rejecting_a_port_on_lo() {
    let _serial = serial();
    require_root("a namespace with its own ruleset");
    let iptables = require_program("iptables", "iptables");
    let netns = NetnsGuard::create("doctor-ipt");
    let port = free_port();
    let p = port.to_string();
    let iptables = iptables.to_str().unwrap();
    run(
        "ip",
        &[
            "netns",
            "exec",
            &netns.name,
            iptables,
            "-A",
            "OUTPUT",
            "-o",
            "lo",
            "-p",
            "tcp",
            "--dport",
            &p,
            "-j",
            "REJECT",
        ],
    );

    let exec = netns.exec();
    let report = doctor_wrapped(&exec, &[&p]);
    let summary = expect_status(&report, "port.firewall", "fail");
    assert!(summary.contains("rejects") && summary.contains(&p), "{summary}");
    expect_status(&doctor_wrapped(&exec, &[&(port ^ 1).to_string()]), "port.firewall", "ok");
    expect_status(&doctor_wrapped(&exec, &[]), "firewall.loopback", "warn");

    // A drop policy with nothing accepting lo blocks every port.
    run("ip", &["netns", "exec", &netns.name, iptables, "-P", "INPUT", "DROP"]);
    let summary = expect_status(&doctor_wrapped(&exec, &[&(port ^ 1).to_string()]), "port.firewall", "fail");
    assert!(summary.contains("policy drop"), "{summary}");
    run("ip", &["netns", "exec", &netns.name, iptables, "-I", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
    expect_status(&doctor_wrapped(&exec, &[&(port ^ 1).to_string()]), "port.firewall", "ok");
}

fn listener_bound_to_an_interface_address_only() {
    let _serial = serial();
    require_root("a namespace with a veth pair");
    let netns = NetnsGuard::create("doctor-addr");
    for args in [
        vec!["-n", netns.name.as_str(), "link", "add", "bd0", "type", "veth", "peer", "name", "bd1"],
        vec!["-n", netns.name.as_str(), "addr", "add", "198.51.100.1/24", "dev", "bd0"],
        vec!["-n", netns.name.as_str(), "link", "set", "bd0", "up"],
        vec!["-n", netns.name.as_str(), "link", "set", "bd1", "up"],
    ] {
        let (ok, err) = ip(&args);
        assert!(ok, "ip {args:?}: {err}");
    }
    let (listener, port) = in_netns(&netns, || {
        let listener = TcpListener::bind("198.51.100.1:0").expect("bind 198.51.100.1:0");
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    });
    let report = doctor_wrapped(&netns.exec(), &[&port.to_string()]);
    let summary = expect_status(&report, "port.interface_only", "warn");
    assert!(summary.contains("198.51.100.1 (bd0)") && summary.contains("refused"), "{summary}");
    assert!(check(&report, "port.interface_only")["fix"].as_str().unwrap().contains(&format!("198.51.100.1:{port}")));
    expect_status(&report, "port.localhost_order", "fail");
    drop(listener);
}

fn ephemeral_exhaustion_and_time_wait_per_destination_in_a_namespace() {
    let _serial = serial();
    require_root("a namespace with a 10-port ephemeral range");
    let netns = NetnsGuard::create("doctor-eph");
    let (listener, port) = in_netns(&netns, || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    });
    // Ten ephemeral ports, away from the listener's.
    let low: u16 = if port >= 30_000 { 20_000 } else { 40_000 };
    let range = format!("net.ipv4.ip_local_port_range={low} {}", low + 9);
    run("ip", &["netns", "exec", &netns.name, "sysctl", "-qw", &range]);
    let exec = netns.exec();
    let connect = |n: usize| {
        in_netns(&netns, move || {
            (0..n).map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect")).collect::<Vec<_>>()
        })
    };
    let mut clients = connect(6);
    let mut servers: Vec<TcpStream> = (0..6).map(|_| listener.accept().expect("accept").0).collect();
    let report = doctor_wrapped(&exec, &[]);
    expect_status(&report, "ephemeral.range", "warn");
    let summary = expect_status(&report, "ephemeral.exhaustion", "warn");
    assert!(summary.contains(&format!("127.0.0.1:{port} holds 6 of 10")), "{summary}");
    expect_status(&report, "ephemeral.in_use", "warn");

    clients.extend(connect(4));
    servers.extend((0..4).map(|_| listener.accept().expect("accept").0));
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "ephemeral.exhaustion", "fail");
    assert!(summary.contains("holds 10 of 10"), "{summary}");
    assert!(check(&report, "ephemeral.exhaustion")["detail"].as_str().unwrap().contains("EADDRNOTAVAIL"));

    // Clients close first: their ends wait in TIME_WAIT, still holding the ports.
    for _ in 0..3 {
        drop(clients.pop());
        let server = servers.pop().unwrap();
        server.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 1];
        let _ = std::io::Read::read(&mut &server, &mut buf);
        drop(server);
    }
    let report = poll_until(Duration::from_secs(3), || {
        let report = doctor_wrapped(&exec, &[]);
        check(&report, "ephemeral.time_wait")["summary"].as_str().unwrap().contains("×3").then_some(report)
    })
    .expect("three TIME_WAIT sockets");
    let summary = expect_status(&report, "ephemeral.time_wait", "info");
    assert!(
        summary.starts_with("3 TIME_WAIT sockets") && summary.contains(&format!("to 127.0.0.1:{port} ×3")),
        "{summary}"
    );
    expect_status(&report, "ephemeral.exhaustion", "fail");
    drop((clients, servers, listener));
}

fn localhost_resolution_decides_which_family_must_listen() {
    let _serial = serial();
    require_root("a private mount of /etc/hosts");
    require_program("unshare", "util-linux");
    require_ipv6_loopback();
    let dir = std::env::temp_dir();
    let hosts_file = |name: &str, text: &str| {
        let path = dir.join(format!("berth-doctor-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write the hosts file");
        path
    };
    // berth runs with this file mounted over /etc/hosts, in a mount
    // namespace of its own; the machine's /etc/hosts is untouched.
    let with_hosts = |path: &PathBuf, args: &[&str]| {
        let script = "mount --bind \"$0\" /etc/hosts && exec \"$@\"";
        let wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, path.to_str().unwrap()];
        doctor_wrapped(&wrapper, args)
    };
    let v6_only = hosts_file("v6", "::1 localhost\n");
    let both = hosts_file("both", "127.0.0.1 localhost\n::1 localhost\n");
    let v4_only = hosts_file("v4", "127.0.0.1 localhost\n");

    let (v4_listener, v4_port) =
        quiet(listener_v4, |port| port_unused("tcp", port, ProbeAt::V6Only(Ipv6Addr::LOCALHOST)));
    let (v6_listener, v6_port) = quiet(
        || listener_v6(Ipv6Addr::LOCALHOST, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::UNSPECIFIED)),
    );

    // localhost is ::1 only; the server is on 127.0.0.1 only: refused.
    let machine = with_hosts(&v6_only, &[]);
    let summary = expect_status(&machine, "localhost.resolve", "warn");
    assert!(summary.contains("::1 only"), "{summary}");
    let summary = expect_status(&with_hosts(&v6_only, &[&v4_port.to_string()]), "port.localhost_order", "fail");
    assert!(summary.contains("refused") && summary.contains("127.0.0.1"), "{summary}");
    expect_status(&with_hosts(&v6_only, &[&v6_port.to_string()]), "port.localhost_order", "ok");

    // The reverse: localhost is 127.0.0.1 only; the server is on ::1 only.
    expect_status(&with_hosts(&v4_only, &[&v6_port.to_string()]), "port.localhost_order", "fail");
    expect_status(&with_hosts(&v4_only, &[&v4_port.to_string()]), "port.localhost_order", "ok");

    // Both: the C library orders them (RFC 6724 puts ::1 first); a server on
    // the second family only is refused on the first try.
    let machine = with_hosts(&both, &[]);
    let resolve = expect_status(&machine, "localhost.resolve", "ok");
    let v6_first = resolve.contains("(IPv6 first)");
    let summary = expect_status(
        &with_hosts(&both, &[&v4_port.to_string()]),
        "port.localhost_order",
        if v6_first { "warn" } else { "ok" },
    );
    if v6_first {
        assert!(summary.contains("::1 first") && summary.contains("connection refused"), "{summary}");
    }
    expect_status(
        &with_hosts(&both, &[&v6_port.to_string()]),
        "port.localhost_order",
        if v6_first { "ok" } else { "warn" },
    );
    for path in [v6_only, both, v4_only] {
        let _ = std::fs::remove_file(path);
    }
    drop((v4_listener, v6_listener));
}

fn privileged_port_for_a_user_without_privilege() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let start = unprivileged_port_start();
    if start <= 1 {
        skip(format!("needs a privileged port, but ip_unprivileged_port_start is {start}"));
    }
    let port = (start - 1).to_string();
    let out = run_berth_with(&["doctor", &port, "--json"], &[], Some((65534, 65534)));
    let report = report_of(&out, "doctor as nobody");
    let summary = expect_status(&report, "port.privileged", "warn");
    assert!(summary.contains("uid 65534") && summary.contains("Permission denied"), "{summary}");
    assert!(check(&report, "port.privileged")["fix"].as_str().unwrap().contains("CAP_NET_BIND_SERVICE"));
    // Reading firewall rules needs root: skipped, and it says so.
    let firewall = check(&report, "port.firewall");
    if firewall["status"] == "skipped" {
        let why = firewall["summary"].as_str().unwrap();
        assert!(why.contains("root") || why.contains("not installed"), "{why}");
    }

    let as_root = doctor(&[&port]);
    expect_status(&as_root, "port.privileged", "info");
}

fn loopback_down_then_ipv6_disabled_in_a_namespace() {
    let _serial = serial();
    require_root("ip netns add");
    // A fresh namespace: lo exists, down and without addresses.
    let netns = NetnsGuard::add("doctor-lo");
    let exec = netns.exec();
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "loopback.up", "fail");
    assert!(summary.contains("down"), "{summary}");
    assert!(check(&report, "loopback.up")["fix"].as_str().unwrap().contains("ip link set lo up"));
    expect_status(&report, "loopback.ipv4", "fail");

    let (ok, err) = ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
    assert!(ok, "{err}");
    let report = doctor_wrapped(&exec, &[]);
    expect_status(&report, "loopback.up", "ok");
    expect_status(&report, "loopback.ipv4", "ok");

    // IPv6 off: ::1 goes away, and berth says why instead of failing.
    let mut off = exec.to_vec();
    off.extend(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.lo.disable_ipv6=1"]);
    if std::path::Path::new("/proc/sys/net/ipv6").exists() {
        run(off[0], &off[1..]);
        let report = doctor_wrapped(&exec, &[]);
        let summary = expect_status(&report, "ipv6.enabled", "info");
        assert!(summary.contains("disabled") && summary.contains("all"), "{summary}");
        expect_status(&report, "loopback.ipv6", "info");
    }
}

fn reserved_ports_in_a_namespace() {
    let _serial = serial();
    require_root("sysctl in a namespace");
    let netns = NetnsGuard::create("doctor-rsv");
    let exec = netns.exec();
    // A listener inside the ephemeral range: doctor suggests reserving its port.
    let (listener, port) = in_netns(&netns, || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    });
    let p = port.to_string();
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "ephemeral.reserved", "info");
    assert!(summary.contains(&format!("tcp/{port}")), "{summary}");
    assert!(check(&report, "ephemeral.reserved")["fix"].as_str().unwrap().contains(&p));
    expect_status(&doctor_wrapped(&exec, &[&p]), "port.ephemeral", "info");

    run("ip", &["netns", "exec", &netns.name, "sysctl", "-qw", &format!("net.ipv4.ip_local_reserved_ports={port}")]);
    let report = doctor_wrapped(&exec, &[]);
    let summary = expect_status(&report, "ephemeral.reserved", "ok");
    assert!(summary.contains(&format!("reserved: {port}")), "{summary}");
    let summary = expect_status(&doctor_wrapped(&exec, &[&p]), "port.ephemeral", "ok");
    assert!(summary.contains("reserved"), "{summary}");
    drop(listener);
}

tests![
    malformed_ports_exit_2,
    machine_checks_are_stable_documented_and_readable,
    port_held_on_ipv4_loopback_only,
    time_wait_remnants_only,
    port_on_ipv6_loopback_only,
    different_processes_on_v4_and_v6_loopback,
    route_localnet_in_a_namespace,
    nft_rule_dropping_a_port_on_lo,
    iptables_rule_rejecting_a_port_on_lo,
    listener_bound_to_an_interface_address_only,
    ephemeral_exhaustion_and_time_wait_per_destination_in_a_namespace,
    localhost_resolution_decides_which_family_must_listen,
    privileged_port_for_a_user_without_privilege,
    loopback_down_then_ipv6_disabled_in_a_namespace,
    reserved_ports_in_a_namespace,
];
