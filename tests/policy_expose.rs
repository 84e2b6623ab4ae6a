//! README's CI recipe for `berth audit` (a written policy accepts the
//! machine as it is, the next run flags only what is new), `serve
//! --expose` seen from another host, and `berth serve` started as root.
//!
//! Each runs in network namespaces the test creates (as root), so that
//! only the test's own listeners are audited or reached.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// How long a server may take to start listening, and one audit to run.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const AUDIT_LIMIT: Duration = Duration::from_secs(90);

/// README's two CI lines, as printed there (without the `$ ` prompt): the
/// test runs them, so the README cannot drift from what berth does.
fn readme_ci_lines() -> (String, String) {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let line = |start: &str| {
        let found: Vec<&str> =
            readme.lines().filter_map(|l| l.strip_prefix("$ ")).filter(|l| l.starts_with(start)).collect();
        assert_eq!(found.len(), 1, "README.md has one line starting with `$ {start}`: {found:?}");
        found[0].to_string()
    };
    (line("berth audit --write-policy"), line("berth audit --policy"))
}

/// Runs a shell line in `dir` with this build's berth first on PATH.
fn shell(line: &str, dir: &Path) -> Output {
    let berth = Path::new(env!("CARGO_BIN_EXE_berth"));
    let path =
        format!("{}:{}", berth.parent().expect("a directory").display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("sh");
    command
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("BERTH_SOURCE")
        .env_remove("BERTH_POLICY")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_within(command, line, AUDIT_LIMIT)
}

/// Waits until 127.0.0.1:port accepts a connection (bounded by START_TIMEOUT).
fn wait_listening(child: &mut KillOnDrop, port: u16, what: &str) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let up = poll_until(START_TIMEOUT, || {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{what} exited: {status:?}");
        }
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()
    });
    assert!(up.is_some(), "{what} did not listen on {address}");
}

/// redis-server on `bind`:`port`, without a password, saving nothing.
fn redis(port: u16, bind: &str, dir: &ScratchDir) -> KillOnDrop {
    let program = require_program("redis-server", "redis-server");
    let mut child = KillOnDrop(
        Command::new(program)
            .args(["--port", &port.to_string(), "--bind", bind, "--save", "", "--appendonly", "no"])
            .args([
                "--dir",
                dir.path.to_str().expect("UTF-8"),
                "--daemonize",
                "no",
                "--logfile",
                "",
                "--unixsocket",
                "",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_listening(&mut child, port, "redis-server");
    child
}

/// python's http.server on 0.0.0.0:`port` (no Host check; as root here).
fn http_server(port: u16, dir: &ScratchDir) -> KillOnDrop {
    let python = require_program("python3", "python3");
    let mut child = KillOnDrop(
        Command::new(python)
            .args(["-m", "http.server", "--bind", "0.0.0.0", &port.to_string()])
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    wait_listening(&mut child, port, "python3 -m http.server");
    child
}

fn readme_ci_recipe_accepts_today_and_flags_only_what_is_new() {
    let _serial = serial();
    require_root("network namespaces, so that only the test's listeners are audited");
    require_program("redis-server", "redis-server");
    let (write_line, check_line) = readme_ci_lines();
    // A (198.51.100.1) has another host on its link, so a listener on
    // 0.0.0.0 there is reachable and its findings are not merely info.
    let link = Link::new("polci");
    in_netns(&link.a, move || {
        let dir = ScratchDir::new("policy-ci");
        let (redis_port, http_port) = (free_port(), free_port());
        let _redis = redis(redis_port, "127.0.0.1", &dir);
        let _http = http_server(http_port, &dir);

        let written = shell(&write_line, &dir.path);
        assert_eq!(written.code, 0, "{write_line}: {}", written.stderr);
        let policy = std::fs::read_to_string(dir.path.join("policy.toml")).expect("policy.toml written");

        let checked = shell(&check_line, &dir.path);
        assert_eq!(checked.code, 0, "{check_line}:\n{}\n{}\npolicy:\n{policy}", checked.stdout, checked.stderr);
        assert!(checked.stdout.trim_end().ends_with("no findings"), "{}\npolicy:\n{policy}", checked.stdout);
        // Today's findings are there, each under its listener, with a comment.
        assert!(policy.contains("\"noauth.redis\",  # medium: "), "{policy}");
        assert!(policy.contains("\"http.dns-rebinding\",  # high: "), "{policy}");
        assert!(policy.contains("address = [\"0.0.0.0\"]"), "{policy}");

        // Something new and risky: only it is flagged, and the line fails.
        let new_port = free_port();
        let _new = redis(new_port, "127.0.0.1", &dir);
        let checked = shell(&check_line, &dir.path);
        assert_eq!(checked.code, 1, "{check_line} with a new redis:\n{}\n{}", checked.stdout, checked.stderr);
        let json = shell("berth audit --json --fail-on none --policy policy.toml", &dir.path);
        assert_eq!(json.code, 0, "{}", json.stderr);
        let findings = parse_array(&json.stdout, &["audit --json with the policy"]);
        let elsewhere: Vec<&Value> = findings.iter().filter(|f| f["port"] != new_port).collect();
        assert!(elsewhere.is_empty(), "only the new redis is flagged:\n{}", dump(&findings));
        let ids: Vec<&str> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
        assert!(ids.contains(&"noauth.redis") && ids.contains(&"policy.unexpected"), "{ids:?}");
    });
}

// ---------------------------------------------------------------- serve --expose

/// The status B gets for `GET /` at A's address and `port`, with this
/// Host header (curl, 3 s at most); "000" when it cannot connect.
fn status_from_b(link: &Link, port: u16, host: &str) -> String {
    let curl = require_program("curl", "curl");
    let out = Command::new("ip")
        .args(["netns", "exec", &link.b.name])
        .arg(curl)
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("http://{A_ADDR}:{port}/"))
        .stdin(Stdio::null())
        .output()
        .expect("run curl in B");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn serve_expose_binds_every_address_and_answers_the_machines_own_addresses() {
    let _serial = serial();
    require_root("network namespaces: another host (B) reaches the server in A over a veth link");
    require_program("curl", "curl");
    let link = std::sync::Arc::new(Link::new("sexp"));
    let inside = link.clone();
    in_netns(&link.a, move || {
        let link = inside;
        let site = sample_site();
        let root = site.path.to_str().expect("UTF-8").to_string();

        // --expose alone: every address, and it says which.
        let server = ServeChild::start(&[&root, "--expose"], &[]);
        let host = format!("{A_ADDR}:{}", server.port);
        assert_eq!(status_from_b(&link, server.port, &host), "200", "{}", server.stderr());
        assert!(server.wait_for_stderr("berth: also at ", Duration::from_secs(5)), "{}", server.stderr());
        let stderr = server.stderr();
        assert!(stderr.contains(&format!("reachable beyond this machine at {A_ADDR} (ra0)")), "{stderr}");
        assert!(stderr.contains(&format!("http://{A_ADDR}:{}/", server.port)), "{stderr}");
        assert_eq!(status_from_b(&link, server.port, A_ADDR), "200");
        assert_eq!(status_from_b(&link, server.port, "rebind.example"), "421");
        drop(server);

        // -b ADDR --expose: ADDR, and ADDR as Host.
        let server = ServeChild::start(&[&root, "-b", A_ADDR, "--expose"], &[]);
        assert_eq!(status_from_b(&link, server.port, A_ADDR), "200", "{}", server.stderr());
        assert_eq!(status_from_b(&link, server.port, "rebind.example"), "421");
        drop(server);

        // Without --expose: loopback, out of B's reach.
        let server = ServeChild::start(&[&root], &[]);
        assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
        assert!(!link.b_connects(server.port), "a server without --expose is reachable from B");
        assert_eq!(status_from_b(&link, server.port, A_ADDR), "000");
    });
}

// ---------------------------------------------------------------- serve as root

/// The Uid: and Gid: lines of /proc/PID/status (real, effective, saved, fs).
fn ids_of(pid: u32) -> (String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    (field("Uid:").expect("a Uid line"), field("Gid:").expect("a Gid line"))
}

/// `berth serve` as root, with exactly these SUDO_* variables ([`ServeChild`]
/// removes the outer ones).
fn serve_as_root(root: &str, sudo: &[(&str, &str)]) -> ServeChild {
    ServeChild::start(&[root], sudo)
}

fn serve_started_with_sudo_serves_as_the_user_and_audit_says_how_to_run_it() {
    let _serial = serial();
    require_root("start berth serve as root, with and without sudo's variables");
    // A namespace of its own: the audit sees only this test's server.
    isolated("sroot", || {
        let site = sample_site();
        let root = site.path.to_str().expect("UTF-8").to_string();

        // Started by sudo for nobody: nobody serves, once the port is bound.
        let server = serve_as_root(&root, &[("SUDO_UID", "65534"), ("SUDO_GID", "65534"), ("SUDO_USER", "nobody")]);
        assert!(server.stderr().contains("now serving as nobody (uid 65534), not root"), "{}", server.stderr());
        assert_eq!(ids_of(server.pid()), ("65534 65534 65534 65534".into(), "65534 65534 65534 65534".into()));
        let page = http::get(server.port, "/hello.txt");
        assert_eq!((page.status, page.text()), (200, "hello, world\n".to_string()));
        let (findings, _) = audit_json(&[]);
        let root_http: Vec<&Value> =
            findings.iter().filter(|f| f["id"] == "owner.root-http" && f["port"] == server.port).collect();
        assert!(root_http.is_empty(), "berth serve dropped root, yet: {}", dump(&findings));
        drop(server);

        // Root with no sudo user: it warns, and the audit's fix says how to run it.
        let server = serve_as_root(&root, &[]);
        assert!(server.wait_for_stderr("warning: serving as root", Duration::from_secs(5)), "{}", server.stderr());
        assert!(server.stderr().contains("without sudo"), "{}", server.stderr());
        assert_eq!(ids_of(server.pid()).0, "0 0 0 0");
        let (findings, _) = audit_json(&[]);
        let finding = findings
            .iter()
            .find(|f| f["id"] == "owner.root-http" && f["port"] == server.port)
            .unwrap_or_else(|| panic!("owner.root-http for berth serve as root:\n{}", dump(&findings)));
        let fix = finding["fix"].as_str().unwrap_or_default();
        assert!(fix.contains("berth serve") && fix.contains("without sudo"), "{fix}");
    });
}

tests![
    readme_ci_recipe_accepts_today_and_flags_only_what_is_new,
    serve_expose_binds_every_address_and_answers_the_machines_own_addresses,
    serve_started_with_sudo_serves_as_the_user_and_audit_says_how_to_run_it,
];
