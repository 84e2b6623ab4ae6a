//! `berth audit` exposure and reachability, proven over a real network:
//! namespace A is the audited host, namespace B another host on the same
//! link (a veth pair, 198.51.100.0/24). berth runs inside A; B tries to
//! connect to every port the audit judges, and what B sees must match what
//! the audit says. Firewall rules, DNAT rules and sysctls are set inside A
//! only, and both namespaces are deleted afterwards.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// `berth audit --json --fail-on none --no-probe` inside A.
fn audit(link: &Link) -> Vec<Value> {
    let out = run_berth_wrapped(&link.a.exec(), &["audit", "--json", "--fail-on", "none", "--no-probe"]);
    assert_eq!(out.code, 0, "berth audit exited {}: {}", out.code, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    parse_array(&out.stdout, &["audit"])
}

/// Starts `program args` inside `netns` and reads one line of stdout
/// (bounded: 10 s) — the ports it listens on, space-separated.
fn start_reporting(netns: &NetnsGuard, args: &[&str]) -> (KillOnDrop, Vec<u16>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a listener");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = KillOnDrop(child);
    let line = first_line(stdout, Duration::from_secs(10)).expect("the listener reported its ports");
    let ports: Vec<u16> = line.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    assert!(!ports.is_empty(), "no ports in {line:?}");
    (running, ports)
}

/// python3 listening on TCP at each address (port 0), printing the ports.
fn listen(netns: &NetnsGuard, addresses: &[&str]) -> (KillOnDrop, Vec<u16>) {
    let script = "import socket,sys,time\nss=[]\nfor a in sys.argv[1:]:\n  s=socket.socket()\n  s.bind((a,0))\n  s.listen(16)\n  ss.append(s)\nprint(' '.join(str(s.getsockname()[1]) for s in ss), flush=True)\ntime.sleep(60)";
    let mut args = vec!["python3", "-c", script];
    args.extend_from_slice(addresses);
    start_reporting(netns, &args)
}

/// The finding with this id about this port, if any.
fn find<'a>(findings: &'a [Value], id: &str, port: u16) -> Option<&'a Value> {
    findings.iter().find(|f| f["id"] == id && f["port"].as_u64() == Some(u64::from(port)))
}

fn expect<'a>(findings: &'a [Value], id: &str, port: u16) -> &'a Value {
    find(findings, id, port).unwrap_or_else(|| panic!("no {id} finding for port {port} in:\n{}", dump(findings)))
}

fn severity(finding: &Value) -> &str {
    finding["severity"].as_str().unwrap_or("")
}

/// Skips the test unless root: these tests build hosts out of network
/// namespaces.
fn require_namespaces() {
    require_root("network namespaces, a veth pair, firewall rules in them");
}

/// The path of nft, when running as root with nft installed (else the test skips).
fn root_and_nft() -> String {
    require_namespaces();
    program("nft", "nftables")
}

/// The path of a program the test needs, as a string for `ip netns exec`.
fn program(name: &str, package: &str) -> String {
    require_program(name, package).to_string_lossy().into_owned()
}

// ------------------------------------------------------------ tests

fn exposed_and_loopback_listeners_match_what_another_host_sees() {
    let _serial = serial();
    require_namespaces();
    let link = Link::new("x");
    let (_server, ports) = listen(&link.a, &["0.0.0.0", "127.0.0.1", A_ADDR]);
    let (wide, local, lan) = (ports[0], ports[1], ports[2]);
    let findings = audit(&link);

    let f = expect(&findings, "exposure.listener", wide);
    assert_eq!(severity(f), "low", "{f}");
    assert!(f["evidence"].to_string().contains(&format!("{A_ADDR}:{wide} (ra0)")), "{f}");
    assert!(link.b_connects(wide), "the audit calls {wide} reachable: B must connect");

    let f = expect(&findings, "exposure.listener", lan);
    assert_eq!(severity(f), "low", "{f}");
    assert!(link.b_connects(lan));

    assert!(find(&findings, "exposure.listener", local).is_none(), "loopback is not exposed:\n{}", dump(&findings));
    assert!(!link.b_connects(local), "127.0.0.1:{local} must not be reachable from B");
    for id in ["reach.route-localnet", "reach.dnat", "reach.docker-proxy", "reach.ssh-forward"] {
        assert!(!findings.iter().any(|f| f["id"] == id), "{id} raised without cause:\n{}", dump(&findings));
    }
}

fn an_nft_drop_rule_makes_the_exposure_info() {
    let _serial = serial();
    let nft = root_and_nft();
    let link = Link::new("d");
    let (_server, ports) = listen(&link.a, &["0.0.0.0", "0.0.0.0"]);
    let (dropped, open) = (ports[0], ports[1]);
    link.in_a(&[&nft, "add", "table", "inet", "berth_test"]);
    link.in_a(&[
        &nft,
        "add",
        "chain",
        "inet",
        "berth_test",
        "input",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    link.in_a(&[&nft, "add", "rule", "inet", "berth_test", "input", "ct", "state", "established,related", "accept"]);
    link.in_a(&[&nft, "add", "rule", "inet", "berth_test", "input", "tcp", "dport", &dropped.to_string(), "drop"]);
    let findings = audit(&link);

    let f = expect(&findings, "exposure.listener", dropped);
    assert_eq!(severity(f), "info", "blocked by the rule: {f}");
    assert!(f["evidence"].to_string().contains(&format!("dport {dropped} drop")), "names the rule: {f}");
    assert!(!link.b_connects(dropped), "the audit calls {dropped} blocked: B must not connect");

    let f = expect(&findings, "exposure.listener", open);
    assert_eq!(severity(f), "low", "{f}");
    assert!(link.b_connects(open));
}

fn dnat_to_an_interface_address_and_to_loopback() {
    let _serial = serial();
    let nft = root_and_nft();
    let iptables = program("iptables", "iptables");
    let link = Link::new("n");
    let (_server, ports) = listen(&link.a, &["0.0.0.0", "127.0.0.1"]);
    let (wide, local) = (ports[0], ports[1]);
    let (to_wide, to_local) = (free_port(), free_port());
    link.in_a(&[&nft, "add", "table", "ip", "berth_nat"]);
    link.in_a(&[&nft, "add", "chain", "ip", "berth_nat", "pre", "{ type nat hook prerouting priority -100; }"]);
    let dnat_wide = format!("{A_ADDR}:{wide}");
    let dnat_local = format!("127.0.0.1:{local}");
    link.in_a(&[
        &nft,
        "add",
        "rule",
        "ip",
        "berth_nat",
        "pre",
        "tcp",
        "dport",
        &to_wide.to_string(),
        "dnat",
        "to",
        &dnat_wide,
    ]);
    link.in_a(&[
        &nft,
        "add",
        "rule",
        "ip",
        "berth_nat",
        "pre",
        "tcp",
        "dport",
        &to_local.to_string(),
        "dnat",
        "to",
        &dnat_local,
    ]);

    // route_localnet=0: the DNAT to 127.0.0.1 is dropped as martian.
    let findings = audit(&link);
    let f = expect(&findings, "reach.dnat", wide);
    assert_eq!(severity(f), "medium", "{f}");
    assert!(link.b_connects(to_wide), "DNAT {to_wide} -> {dnat_wide} works");
    let f = expect(&findings, "reach.dnat", local);
    assert_eq!(severity(f), "low", "a DNAT to loopback without route_localnet has no effect: {f}");
    assert!(!link.b_connects(to_local), "the audit calls the DNAT to {dnat_local} ineffective: B must not connect");
    assert!(find(&findings, "reach.route-localnet", local).is_none());

    // route_localnet=1 on ra0: the loopback-only service is published.
    link.in_a(&["sysctl", "-qw", "net.ipv4.conf.ra0.route_localnet=1"]);
    let findings = audit(&link);
    let f = expect(&findings, "reach.dnat", local);
    assert_eq!(severity(f), "high", "a loopback-only service published: {f}");
    assert!(
        link.b_connects(to_local),
        "the audit calls {dnat_local} reachable through port {to_local}: B must connect"
    );
    expect(&findings, "reach.route-localnet", local);

    // The same with iptables (nat PREROUTING DNAT), where it works here.
    link.in_a(&[&nft, "delete", "table", "ip", "berth_nat"]);
    let via_iptables = free_port();
    let added = Command::new("ip")
        .args(["netns", "exec", &link.a.name, &iptables, "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport"])
        .args([&via_iptables.to_string(), "-j", "DNAT", "--to-destination", &dnat_local])
        .stdin(Stdio::null())
        .output()
        .expect("run iptables");
    if !added.status.success() {
        eprintln!(
            "note: iptables does not work here ({}); the iptables DNAT case was not run",
            String::from_utf8_lossy(&added.stderr)
        );
        return;
    }
    let findings = audit(&link);
    let f = expect(&findings, "reach.dnat", local);
    assert_eq!(severity(f), "high", "{f}");
    assert!(f["evidence"].to_string().contains("--to-destination"), "names the iptables rule: {f}");
    assert!(link.b_connects(via_iptables), "DNAT {via_iptables} -> {dnat_local} with route_localnet=1");
    link.in_a(&["sysctl", "-qw", "net.ipv4.conf.ra0.route_localnet=0"]);
    let f = expect(&audit(&link), "reach.dnat", local).clone();
    assert_eq!(severity(&f), "low", "{f}");
    assert!(!link.b_connects(via_iptables));
}

fn route_localnet_lists_the_loopback_listeners() {
    let _serial = serial();
    require_namespaces();
    let link = Link::new("r");
    let (_server, ports) = listen(&link.a, &["127.0.0.1", "0.0.0.0"]);
    let (local, wide) = (ports[0], ports[1]);
    // B sends its packets for 127.0.0.1 to A, as an attacker on the link would.
    link.b_routes_loopback_to_a();
    let findings = audit(&link);
    assert!(!findings.iter().any(|f| f["id"] == "reach.route-localnet"), "{}", dump(&findings));
    assert!(!link.b_connects_to("127.0.0.1", local), "without route_localnet A drops them as martians");

    link.in_a(&["sysctl", "-qw", "net.ipv4.conf.ra0.route_localnet=1"]);
    let findings = audit(&link);
    assert!(link.b_connects_to("127.0.0.1", local), "with route_localnet B reaches A's 127.0.0.1:{local}");
    let f =
        findings.iter().find(|f| f["id"] == "reach.route-localnet").unwrap_or_else(|| panic!("{}", dump(&findings)));
    assert_eq!(severity(f), "high", "{f}");
    let evidence = f["evidence"].to_string();
    assert!(evidence.contains(&format!("tcp/{local}")), "lists the loopback listener: {f}");
    assert!(!evidence.contains(&format!("tcp/{wide}")), "not the one on all interfaces: {f}");
    assert!(evidence.contains("rp_filter") && evidence.contains("accept_local"), "{f}");
}

fn docker_proxy_publishes_past_input_rules() {
    let _serial = serial();
    require_namespaces();
    let link = Link::new("p");
    let scratch = ScratchDir::new("docker-proxy");
    let proxy = scratch.path.join("docker-proxy");
    std::fs::copy("/bin/sh", &proxy).expect("copy /bin/sh");
    let proxy = proxy.to_str().expect("a UTF-8 path").to_string();
    // A process named docker-proxy, with docker-proxy's flags, holding a
    // port on all interfaces (berth run passes the socket as fd 3; the
    // script prints the port, and only the proxy keeps the socket).
    let berth = env!("CARGO_BIN_EXE_berth");
    let (_proxy, ports) = start_reporting(
        &link.a,
        &[
            berth,
            "run",
            "--socket",
            "--bind",
            "0.0.0.0",
            "--expose",
            "--",
            &proxy,
            "-c",
            "echo $PORT; sleep 30 3>&-; :",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "6379",
        ],
    );
    let published = ports[0];
    let (_server, ports) = listen(&link.a, &["0.0.0.0"]);
    let plain = ports[0];
    let held = poll_until(Duration::from_secs(5), || {
        let findings = audit(&link);
        find(&findings, "reach.docker-proxy", published).cloned()
    });
    let f = held.unwrap_or_else(|| panic!("no reach.docker-proxy for {published}"));
    assert_eq!(severity(&f), "high", "Redis's port in the container is sensitive: {f}");
    assert!(f["fix"].as_str().unwrap_or("").contains(&format!("127.0.0.1:{published}:6379")), "{f}");
    assert!(link.b_connects(published), "published on all interfaces: B connects");
    let findings = audit(&link);
    assert!(find(&findings, "reach.docker-proxy", plain).is_none(), "a plain listener is no docker-proxy");
}

/// sshd on a loopback port of A, with a fresh host key and client key.
struct Sshd {
    _process: KillOnDrop,
    port: u16,
    key: String,
}

/// Starts sshd in A; skips when sshd or ssh-keygen is not installed, and
/// fails (with sshd's own log) when it is installed but does not start.
fn start_sshd(link: &Link, scratch: &ScratchDir) -> Sshd {
    let sshd = program("sshd", "openssh-server");
    let keygen = program("ssh-keygen", "openssh-client");
    let dir = scratch.path.to_str().expect("a UTF-8 scratch path").to_string();
    for (name, path) in [("host", format!("{dir}/host_key")), ("client", format!("{dir}/client_key"))] {
        let status = Command::new(&keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", &path])
            .stdin(Stdio::null())
            .status();
        assert!(status.as_ref().is_ok_and(|s| s.success()), "ssh-keygen for the {name} key: {status:?}");
    }
    std::fs::copy(format!("{dir}/client_key.pub"), format!("{dir}/authorized_keys")).expect("copy the client key");
    let port = free_port();
    let config = scratch.write(
        "sshd_config",
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PidFile {dir}/sshd.pid\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nAllowTcpForwarding yes\nGatewayPorts no\n"
        ),
    );
    // sshd wants /run/sshd (privilege separation): a private tmpfs /run in
    // its own mount namespace provides it without touching the host.
    let log = format!("{dir}/sshd.log");
    let script = format!(
        "mount -t tmpfs berth-test /run && mkdir -p /run/sshd && exec {sshd} -D -e -f {} 2>{log}",
        config.display()
    );
    let child = Command::new("ip")
        .args(["netns", "exec", &link.a.name, "unshare", "-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd in the namespace");
    let process = KillOnDrop(child);
    let script =
        "import socket,sys\ns=socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=1)\nprint(s.recv(64))";
    let up = poll_until(Duration::from_secs(5), || {
        Command::new("ip")
            .args(["netns", "exec", &link.a.name, "python3", "-c", script, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then_some(())
    });
    assert!(
        up.is_some(),
        "sshd did not start in the namespace:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Sshd { _process: process, port, key: format!("{dir}/client_key") }
}

/// `ssh -N -L SPEC` through the test's sshd, inside A.
fn forward(link: &Link, sshd: &Sshd, spec: &str) -> KillOnDrop {
    let child = Command::new("ip")
        .args(["netns", "exec", &link.a.name, "ssh", "-N", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-i", &sshd.key])
        .args(["-p", &sshd.port.to_string(), "-L", spec, "root@127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh");
    KillOnDrop(child)
}

fn ssh_forwards_on_all_interfaces_and_on_loopback() {
    let _serial = serial();
    require_namespaces();
    let link = Link::new("s");
    let scratch = ScratchDir::new("sshd");
    let sshd = start_sshd(&link, &scratch);
    let (_target, ports) = listen(&link.a, &["127.0.0.1"]);
    let target = ports[0];
    let (wide, local) = (free_port(), free_port());
    let _wide = forward(&link, &sshd, &format!("0.0.0.0:{wide}:127.0.0.1:{target}"));
    let _local = forward(&link, &sshd, &format!("127.0.0.1:{local}:127.0.0.1:{target}"));
    let started = Instant::now();
    let findings = poll_until(Duration::from_secs(10), || {
        let findings = audit(&link);
        (find(&findings, "reach.ssh-forward", wide).is_some() && find(&findings, "reach.ssh-forward", local).is_some())
            .then_some(findings)
    })
    .unwrap_or_else(|| panic!("the forwards did not show up within {:?}", started.elapsed()));

    let f = expect(&findings, "reach.ssh-forward", wide);
    assert_eq!(severity(f), "medium", "{f}");
    assert_eq!(f["process"]["name"], "ssh", "{f}");
    assert!(link.b_connects(wide), "the forward on 0.0.0.0:{wide} is reachable from B");
    let f = expect(&findings, "reach.ssh-forward", local);
    assert_eq!(severity(f), "info", "a loopback forward: {f}");
    assert!(!link.b_connects(local), "the loopback forward is not reachable from B");
}

fn without_root_the_firewall_is_skipped_and_the_rest_runs() {
    let _serial = serial();
    let as_user = is_root().then_some((65534, 65534));
    let out = run_berth_with(&["audit", "--json", "--fail-on", "none", "--no-probe"], &[], as_user);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let findings = parse_array(&out.stdout, &["audit"]);
    let note = out.stderr.lines().find(|l| l.contains("reach.firewall"));
    if !firewall_tools_installed() {
        let note =
            note.unwrap_or_else(|| panic!("no reach.firewall note without nft or iptables-save:\n{}", out.stderr));
        assert!(note.contains("not installed"), "{note}");
    } else if let Some(note) = note {
        assert!(note.contains("needs root") && note.contains("sudo berth audit"), "{note}");
    } else {
        // Some kernels let anyone read the rules (or neither tool is installed).
        eprintln!("note: the firewall was readable without root here:\n{}", out.stderr);
    }
    for f in &findings {
        if f["id"] == "exposure.listener" || f["id"] == "exposure.sensitive" {
            assert_ne!(severity(f), "info", "unknown reachability is not 'blocked': {f}");
        }
    }
}

fn memcached_udp_on_all_interfaces_is_sensitive() {
    let _serial = serial();
    require_namespaces();
    let memcached = program("memcached", "memcached");
    let link = Link::new("m");
    let (wide, local) = (free_port(), free_port());
    // UDP only (-p 0 turns TCP off); one on all interfaces, one on loopback.
    let start = |address: &str, port: u16| {
        let child = Command::new("ip")
            .args(["netns", "exec", &link.a.name, &memcached, "-u", "root", "-p", "0", "-l", address])
            .args(["-U", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start memcached");
        KillOnDrop(child)
    };
    let _wide = start("0.0.0.0", wide);
    let _local = start("127.0.0.1", local);
    let findings = poll_until(Duration::from_secs(5), || {
        let findings = audit(&link);
        find(&findings, "exposure.sensitive", wide).is_some().then_some(findings)
    })
    .unwrap_or_else(|| panic!("memcached on udp/{wide} was not reported"));
    let f = expect(&findings, "exposure.sensitive", wide);
    assert_eq!((f["protocol"].as_str(), severity(f)), (Some("udp"), "high"), "{f}");
    assert!(find(&findings, "exposure.sensitive", local).is_none(), "loopback memcached is not exposed");
    assert!(find(&findings, "exposure.listener", local).is_none());

    // B asks `stats` over UDP (memcached's 8-byte frame header first).
    let script = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1.5)\n\
                  s.sendto(b'\\x00\\x01\\x00\\x00\\x00\\x01\\x00\\x00stats\\r\\n',(sys.argv[1],int(sys.argv[2])))\n\
                  d=s.recv(4096)\nsys.exit(0 if b'STAT' in d else 1)";
    let answered = |port: u16| {
        Command::new("ip")
            .args(["netns", "exec", &link.b.name, "python3", "-c", script, A_ADDR, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(answered(wide), "the audit calls udp/{wide} reachable: B gets stats");
    assert!(!answered(local), "udp/{local} on loopback does not answer B");
}

tests![
    exposed_and_loopback_listeners_match_what_another_host_sees,
    an_nft_drop_rule_makes_the_exposure_info,
    dnat_to_an_interface_address_and_to_loopback,
    route_localnet_lists_the_loopback_listeners,
    docker_proxy_publishes_past_input_rules,
    ssh_forwards_on_all_interfaces_and_on_loopback,
    without_root_the_firewall_is_skipped_and_the_rest_runs,
    memcached_udp_on_all_interfaces_is_sensitive,
];
