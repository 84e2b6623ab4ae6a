//! `berth audit`: the no-authentication checks (noauth.*), against REAL
//! servers the tests start on loopback ports picked at run time: redis-server,
//! memcached, PostgreSQL and prometheus-node-exporter from Debian's packages,
//! each once without and once with authentication. Docker Engine,
//! Elasticsearch, Jupyter and Ollama cannot run here: a python3 stand-in
//! (tests/fixtures/audit_noauth/standin.py) answers exactly as their
//! documented APIs do, open and with authentication.
//!
//! Root: when the tests run as root, memcached runs as `nobody` and
//! PostgreSQL as `postgres` (neither runs as root); nothing else needs root.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{
    audit_json, dump, free_port, is_root, parse_array, poll_until, require_program, require_root, serial, skip, Link,
    ScratchDir, A_ADDR,
};
use serde_json::Value;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit_noauth").join(name)
}

/// A server the test started: stopped by its pid on drop (`stop` first,
/// then SIGKILL after a bounded wait), and reaped.
struct Server {
    child: Child,
    what: String,
    stop: libc::c_int,
}

impl Server {
    fn spawn(mut command: Command, what: &str, stop: libc::c_int) -> Server {
        command.stdin(Stdio::null());
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Server { child, what: what.to_string(), stop }
    }

    /// Waits until 127.0.0.1:port accepts connections; panics if the server
    /// exits first or does not listen within START_TIMEOUT.
    fn wait_listening(&mut self, port: u16, log: Option<&Path>) {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut exited = None;
        let up = poll_until(START_TIMEOUT, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return Some(false);
            }
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok().map(|_| true)
        });
        if up != Some(true) {
            let log = log.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
            panic!("{} did not listen on 127.0.0.1:{port} (exit: {exited:?})\n{log}", self.what);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: the pid is our own unreaped child, so it cannot have been reused.
            unsafe { libc::kill(pid, self.stop) };
            let started = Instant::now();
            // Bounded: 5 s of 20 ms polls.
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The noauth.* findings on a port: (id, severity), and the findings for messages.
fn noauth_on(findings: &[Value], port: u16) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|f| f["port"].as_u64() == Some(u64::from(port)))
        .filter(|f| f["id"].as_str().is_some_and(|id| id.starts_with("noauth.")))
        .map(|f| (f["id"].as_str().unwrap_or("").to_string(), f["severity"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// The one finding with this id on this port; panics with the listing otherwise.
fn expect_finding<'a>(findings: &'a [Value], port: u16, id: &str) -> &'a Value {
    let found: Vec<&Value> =
        findings.iter().filter(|f| f["port"].as_u64() == Some(u64::from(port)) && f["id"] == id).collect();
    assert_eq!(found.len(), 1, "expected one {id} on port {port}, got {}:\n{}", found.len(), dump(findings));
    found[0]
}

fn evidence(finding: &Value) -> Vec<String> {
    finding["evidence"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn assert_evidence(finding: &Value, needle: &str) {
    let lines = evidence(finding);
    assert!(lines.iter().any(|l| l.contains(needle)), "no evidence line with '{needle}' in {lines:?}");
}

// ---------------------------------------------------------------- redis

fn redis(port: u16, scratch: &ScratchDir, extra: &[&str]) -> Server {
    let mut command = Command::new(require_program("redis-server", "redis-server"));
    let port_text = port.to_string();
    let dir = scratch.path.to_string_lossy().into_owned();
    command
        .args(["--port", &port_text, "--save", "", "--appendonly", "no", "--dir", &dir, "--daemonize", "no"])
        .args(["--logfile", "", "--unixsocket", ""])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Server::spawn(command, "redis-server", libc::SIGTERM);
    server.wait_listening(port, None);
    server
}

fn redis_without_password_on_loopback_is_medium() {
    let _serial = serial();
    let scratch = ScratchDir::new("redis-open");
    let port = free_port();
    let _redis = redis(port, &scratch, &["--bind", "127.0.0.1"]);
    let findings = audit_json(&[]).0;
    let finding = expect_finding(&findings, port, "noauth.redis");
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_evidence(finding, "PING answered +PONG");
    assert_evidence(finding, "redis_version:");
}

fn redis_with_password_is_not_raised() {
    let _serial = serial();
    let scratch = ScratchDir::new("redis-pass");
    let port = free_port();
    let _redis = redis(port, &scratch, &["--bind", "127.0.0.1", "--requirepass", "berth-test-secret"]);
    // The password is really required.
    assert!(exchange(port, b"PING\r\n").starts_with("-NOAUTH"), "redis with requirepass answered PING");
    let findings = audit_json(&[]).0;
    assert_eq!(noauth_on(&findings, port), vec![], "{}", dump(&findings));
}

/// Redis bound to 0.0.0.0 inside namespace A of a [`Link`] (no firewall,
/// one other host on the link), the audit run inside A, and what host B
/// gets for a `PING` at A's address: the severity must match what B sees.
fn redis_seen_from_another_host(tag: &str, protected_mode: &str) -> (Value, String) {
    let redis_server = require_program("redis-server", "redis-server");
    let link = Link::new(tag);
    let scratch = ScratchDir::new(tag);
    let port = free_port();
    let port_text = port.to_string();
    let dir = scratch.path.to_string_lossy().into_owned();
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &link.a.name])
        .arg(&redis_server)
        .args(["--port", &port_text, "--bind", "0.0.0.0"])
        .args(["--protected-mode", protected_mode, "--save", "", "--appendonly", "no", "--dir", &dir])
        .args(["--daemonize", "no", "--logfile", "", "--unixsocket", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _redis = Server::spawn(command, "redis-server in a namespace", libc::SIGTERM);
    // PING from B (bounded: one connect and one read of 1.5 s each).
    let ping = "import socket,sys\ns=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\ns.sendall(b'*1\\r\\n$4\\r\\nPING\\r\\n')\nprint(s.recv(200).decode(errors='replace').strip())";
    let from_b = poll_until(START_TIMEOUT, || {
        let out = Command::new("ip")
            .args(["netns", "exec", &link.b.name, "python3", "-c", ping, A_ADDR, &port_text])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
    .expect("redis in A answers B");
    let out = common::run_berth_wrapped(&link.a.exec(), &["audit", "--json", "--fail-on", "none"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let findings = parse_array(&out.stdout, &["audit in A"]);
    (expect_finding(&findings, port, "noauth.redis").clone(), from_b)
}

fn redis_on_all_interfaces_without_protected_mode_is_critical() {
    let _serial = serial();
    require_root("create the network namespaces that prove reachability");
    let (finding, from_b) = redis_seen_from_another_host("rcrit", "no");
    // Another host gets in without a password: critical.
    assert!(from_b.starts_with("+PONG"), "B got {from_b:?}");
    assert_eq!(finding["severity"], "critical", "{finding}");
    assert_evidence(&finding, "protected-mode: no");
}

fn redis_on_all_interfaces_with_protected_mode_is_lowered() {
    let _serial = serial();
    require_root("create the network namespaces that prove reachability");
    let (finding, from_b) = redis_seen_from_another_host("rprot", "yes");
    // Protected mode answers -DENIED to every client not on loopback.
    assert!(from_b.starts_with("-DENIED"), "B got {from_b:?}");
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_evidence(&finding, "protected-mode: yes");
}

// ---------------------------------------------------------------- memcached

fn memcached(port: u16, extra: &[&str]) -> Server {
    let mut command = Command::new(require_program("memcached", "memcached"));
    let port_text = port.to_string();
    command.args(["-l", "127.0.0.1", "-p", &port_text, "-U", "0"]).args(extra);
    if is_root() {
        // memcached refuses to run as root without -u.
        command.args(["-u", "nobody"]);
    }
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut server = Server::spawn(command, "memcached", libc::SIGTERM);
    server.wait_listening(port, None);
    server
}

fn memcached_without_auth_is_raised() {
    let _serial = serial();
    let port = free_port();
    let _memcached = memcached(port, &[]);
    let findings = audit_json(&[]).0;
    let finding = expect_finding(&findings, port, "noauth.memcached");
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_evidence(finding, "STAT pid");
    assert_evidence(finding, "STAT version 1.");
}

fn memcached_with_auth_file_is_not_raised() {
    let _serial = serial();
    let scratch = ScratchDir::new("memcached-auth");
    // memcached -Y: "user:password" lines; readable by the user memcached runs as.
    let authfile = scratch.write("authfile", "berth:test-secret\n");
    let port = free_port();
    let _memcached = memcached(port, &["-Y", &authfile.to_string_lossy()]);
    // The auth file is really in force.
    let answer = exchange(port, b"stats\r\n");
    assert!(answer.starts_with("CLIENT_ERROR"), "memcached -Y answered stats: {answer}");
    let findings = audit_json(&[]).0;
    assert_eq!(noauth_on(&findings, port), vec![], "{}", dump(&findings));
}

// ---------------------------------------------------------------- postgresql

/// The newest PostgreSQL bin directory Debian installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{}/bin", versions.last()?));
    bin.join("initdb").exists().then_some(bin)
}

/// uid and gid of a user name.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwnam_r fills `passwd` with pointers into `buffer`, used before it is dropped.
    unsafe {
        let mut passwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut passwd, buffer.as_mut_ptr(), buffer.len(), &mut result);
        (rc == 0 && !result.is_null()).then_some((passwd.pw_uid, passwd.pw_gid))
    }
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    let text = std::ffi::CString::new(path.to_string_lossy().as_bytes()).expect("a path without NUL");
    // SAFETY: chown on a NUL-terminated path we own.
    let rc = unsafe { libc::chown(text.as_ptr(), uid, gid) };
    assert_eq!(rc, 0, "chown {}: {}", path.display(), std::io::Error::last_os_error());
}

/// A PostgreSQL cluster in a scratch dir, started on 127.0.0.1:port. When
/// root, it runs as the `postgres` user (PostgreSQL refuses root). The test
/// skips when PostgreSQL is not installed.
fn postgres(tag: &str, initdb_auth: &[&str]) -> (Server, u16, ScratchDir) {
    let bin = postgres_bin()
        .unwrap_or_else(|| skip("needs PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)"));
    let owner = if is_root() {
        let ids = user_ids("postgres").unwrap_or_else(|| {
            skip("needs a 'postgres' user to run PostgreSQL as, when run as root (apt-get install postgresql)")
        });
        Some(ids)
    } else {
        None
    };
    let scratch = ScratchDir::new(tag);
    let password_file = scratch.write("password", "berth-test-secret\n");
    if let Some(ids) = owner {
        chown(&scratch.path, ids);
        chown(&password_file, ids);
    }
    let data = scratch.path.join("data");
    let as_owner = |command: &mut Command| {
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid).current_dir("/").env("HOME", "/tmp");
        }
    };
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--no-sync", "--locale=C", "-E", "UTF8"])
        .args(initdb_auth)
        .arg(format!("--pwfile={}", password_file.display()))
        .stdin(Stdio::null());
    as_owner(&mut initdb);
    let out = initdb.output().expect("run initdb");
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));

    let port = free_port();
    let log_path = scratch.path.join("postgres.log");
    let log = std::fs::File::create(&log_path).expect("create the postgres log");
    let mut command = Command::new(bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string()])
        .arg("-k")
        .arg(&scratch.path)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "logging_collector=off", "-c", "fsync=off"])
        .stdout(Stdio::null())
        .stderr(log);
    as_owner(&mut command);
    // SIGINT: fast shutdown (backends end, the socket file is removed).
    let mut server = Server::spawn(command, "postgres", libc::SIGINT);
    server.wait_listening(port, Some(&log_path));
    // PostgreSQL listens before it takes logins: until recovery ends, a
    // startup message gets an error ('E', "the database system is starting
    // up") instead of an authentication request. Wait for the request, so
    // neither the test nor the audit meets the half-started server.
    let ready = poll_until(START_TIMEOUT, || postgres_auth_code(port));
    assert!(
        ready.is_some(),
        "postgres on 127.0.0.1:{port} never asked for authentication:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    (server, port, scratch)
}

fn postgres_trust_is_raised() {
    let _serial = serial();
    let (_postgres, port, _scratch) = postgres("pg-trust", &["-A", "trust"]);
    let findings = audit_json(&[]).0;
    let finding = expect_finding(&findings, port, "noauth.postgres-trust");
    assert_eq!(finding["severity"], "medium", "{finding}");
    assert_evidence(finding, "AuthenticationOk");
    assert_evidence(finding, "server_version");
}

fn postgres_with_scram_is_not_raised() {
    let _serial = serial();
    let auth = ["--auth-local=trust", "--auth-host=scram-sha-256"];
    let (_postgres, port, _scratch) = postgres("pg-scram", &auth);
    // The server really asks for a password: AuthenticationSASL (10).
    assert_eq!(postgres_auth_code(port), Some(10), "the scram cluster should ask for SCRAM");
    let findings = audit_json(&[]).0;
    assert_eq!(noauth_on(&findings, port), vec![], "{}", dump(&findings));
}

/// The authentication request PostgreSQL on 127.0.0.1:port answers a
/// startup message for user postgres with (0 = none needed, 10 = SASL).
fn postgres_auth_code(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for text in ["user", "postgres", "database", "postgres", ""] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    stream.write_all(&message).ok()?;
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).ok()?;
    (head[0] == b'R').then(|| u32::from_be_bytes([head[5], head[6], head[7], head[8]]))
}

// ---------------------------------------------------------------- node exporter

fn node_exporter(port: u16, extra: &[String]) -> Server {
    let mut command = Command::new(require_program("prometheus-node-exporter", "prometheus-node-exporter"));
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.loadavg"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Server::spawn(command, "prometheus-node-exporter", libc::SIGTERM);
    server.wait_listening(port, None);
    server
}

fn node_exporter_metrics_are_raised() {
    let _serial = serial();
    let port = free_port();
    let _exporter = node_exporter(port, &[]);
    let findings = audit_json(&[]).0;
    let finding = expect_finding(&findings, port, "noauth.metrics");
    assert_eq!(finding["severity"], "low", "{finding}");
    assert_evidence(finding, "# HELP ");
}

fn node_exporter_with_basic_auth_is_not_raised() {
    let _serial = serial();
    let port = free_port();
    let config = format!("--web.config.file={}", fixture("node-exporter-web.yml").display());
    let _exporter = node_exporter(port, &[config]);
    // The config is really in force: /metrics without credentials is refused.
    let answer = raw_get(port, "/metrics");
    assert!(answer.starts_with("HTTP/1.1 401"), "node exporter with basic auth answered: {answer}");
    let findings = audit_json(&[]).0;
    assert_eq!(noauth_on(&findings, port), vec![], "{}", dump(&findings));
}

/// The start of the answer to `GET path` on 127.0.0.1:port.
fn raw_get(port: u16, path: &str) -> String {
    exchange(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Sends `request` to 127.0.0.1:port and returns the first answer read
/// (one read, at most 4 KiB, within 5 s).
fn exchange(port: u16, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    stream.write_all(request).expect("send");
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap_or(0);
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

// ---------------------------------------------------------------- stand-ins

/// A stand-in for `product` (see standin.py), in mode "open" or "auth".
fn standin(product: &str, mode: &str) -> (Server, u16) {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new("python3");
    command.arg(fixture("standin.py")).args([product, mode]).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut server = Server::spawn(command, &format!("standin {product} {mode}"), libc::SIGTERM);
    let stdout = server.child.stdout.take().expect("stdout piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let line = receiver.recv_timeout(START_TIMEOUT).unwrap_or_default();
    let port: u16 = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("standin {product} {mode} printed no port: '{line}'"));
    server.wait_listening(port, None);
    (server, port)
}

/// (product, the id it raises, the severity on loopback)
const STANDINS: [(&str, &str, &str); 4] = [
    ("docker", "noauth.docker-api", "high"),
    ("elasticsearch", "noauth.elasticsearch", "medium"),
    ("jupyter", "noauth.jupyter", "high"),
    ("ollama", "noauth.ollama", "medium"),
];

fn standin_apis_without_auth_are_raised() {
    let _serial = serial();
    let servers: Vec<(Server, u16)> = STANDINS.iter().map(|(product, _, _)| standin(product, "open")).collect();
    let findings = audit_json(&[]).0;
    for ((product, id, severity), (_, port)) in STANDINS.iter().zip(&servers) {
        let found = noauth_on(&findings, *port);
        assert_eq!(found, vec![(id.to_string(), severity.to_string())], "{product} on {port}:\n{}", dump(&findings));
    }
    let docker = expect_finding(&findings, servers[0].1, "noauth.docker-api");
    assert_evidence(docker, "ApiVersion 1.43");
    let elastic = expect_finding(&findings, servers[1].1, "noauth.elasticsearch");
    assert_evidence(elastic, "version.number \"8.11.1\"");
    let jupyter = expect_finding(&findings, servers[2].1, "noauth.jupyter");
    assert_evidence(jupyter, "1 running kernel");
    assert!(!evidence(jupyter).iter().any(|l| l.contains("(s)")), "a count in words: {:?}", evidence(jupyter));
    let ollama = expect_finding(&findings, servers[3].1, "noauth.ollama");
    assert_evidence(ollama, "llama3:latest");
}

fn standin_apis_with_auth_are_not_raised() {
    let _serial = serial();
    let servers: Vec<(Server, u16)> = STANDINS.iter().map(|(product, _, _)| standin(product, "auth")).collect();
    // A control without auth in the same audit: the stand-ins were probed.
    let (_control, control) = standin("docker", "open");
    let findings = audit_json(&[]).0;
    assert_eq!(noauth_on(&findings, control).len(), 1, "the control is raised:\n{}", dump(&findings));
    for ((product, _, _), (_, port)) in STANDINS.iter().zip(&servers) {
        assert_eq!(noauth_on(&findings, *port), vec![], "{product} on {port}:\n{}", dump(&findings));
    }
}

// ------------------------------------------------- unseen owners, odd ports

/// Redis and memcached on ports the catalog does not know, audited by a
/// user who cannot see their owners: identified by how they answer the
/// first HTTP request (Redis: `-ERR ...`; memcached: `END` / `ERROR`), then
/// probed as what they are.
fn key_value_servers_with_unseen_owners_on_odd_ports_are_recognised() {
    let _serial = serial();
    require_root("run berth as a user who cannot see the servers' owners");
    let scratch = ScratchDir::new("redis-unseen");
    let redis_port = free_port();
    let memcached_port = free_port();
    let _redis = redis(redis_port, &scratch, &["--bind", "127.0.0.1"]);
    let _memcached = memcached(memcached_port, &[]);
    // A uid with no processes of its own: every owner is unseen.
    let args = ["audit", "--json", "--fail-on", "none"];
    let out = common::run_berth_with(&args, &[], Some((54321, 54321)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let findings = parse_array(&out.stdout, &args);
    let redis_finding = expect_finding(&findings, redis_port, "noauth.redis");
    assert!(redis_finding["process"].is_null(), "the owner is unseen: {redis_finding}");
    assert_evidence(redis_finding, "PING answered +PONG");
    let memcached_finding = expect_finding(&findings, memcached_port, "noauth.memcached");
    assert_evidence(memcached_finding, "STAT pid");
}

tests![
    redis_without_password_on_loopback_is_medium,
    redis_with_password_is_not_raised,
    redis_on_all_interfaces_without_protected_mode_is_critical,
    redis_on_all_interfaces_with_protected_mode_is_lowered,
    memcached_without_auth_is_raised,
    memcached_with_auth_file_is_not_raised,
    postgres_trust_is_raised,
    postgres_with_scram_is_not_raised,
    node_exporter_metrics_are_raised,
    node_exporter_with_basic_auth_is_not_raised,
    standin_apis_without_auth_are_raised,
    standin_apis_with_auth_are_not_raised,
    key_value_servers_with_unseen_owners_on_odd_ports_are_recognised,
];
