//! What berth says, and the exit code it gives, where a new user trips
//! (issue 11): a held port in `doctor`, the causes of a failed `free`, an
//! unprivileged user's view of another user's port, write errors and broken
//! pipes, counts in words, and `kill` without a terminal.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const NOBODY: Option<(u32, u32)> = Some((65534, 65534));

/// Runs berth with `args`, its stdout going to `stdout`, within 20 s
/// (killed by pid past that). Returns the exit status (None: a signal
/// ended it) and stderr.
fn run_with_stdout(args: &[&str], stdout: Stdio) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_SOURCE")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth starts");
    let mut stderr_pipe = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for berth") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth {args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status.code(), reader.join().expect("stderr reader"))
}

// ------------------------------------------------------------ 13: write errors

fn output_to_a_full_disk_is_a_write_error() {
    let _serial = serial();
    // Help and version text are output like any other.
    let outputs: [&[&str]; 7] =
        [&["ls"], &["--help"], &["ls", "--help"], &["-h"], &["--version"], &["completions", "bash"], &["man"]];
    for args in outputs {
        let full = File::options().write(true).open("/dev/full").expect("/dev/full");
        let (code, stderr) = run_with_stdout(args, Stdio::from(full));
        assert_eq!(code, Some(6), "berth {args:?} > /dev/full: {stderr}");
        assert!(stderr.contains("cannot write output"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn an_unwritable_policy_path_is_a_write_error() {
    let _serial = serial();
    let dir = ScratchDir::new("messages-policy");
    let path = dir.path.join("missing-directory").join("policy.toml");
    let path = path.to_str().expect("a UTF-8 path");
    let (code, _, stderr) = run_berth(&["audit", "--write-policy", path], &[]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("cannot write the policy to"), "{stderr}");
}

fn a_closed_pipe_ends_berth_quietly_with_status_0() {
    let _serial = serial();
    // The reader has gone before berth writes: its first write gets EPIPE.
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned here alone.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    for args in [&["ls", "-a"][..], &["ls", "-a", "--json"][..], &["doctor"][..], &["--help"][..]] {
        let (code, stderr) = run_with_stdout(args, Stdio::from(write_end.try_clone().expect("dup")));
        assert_eq!(code, Some(0), "berth {args:?} into a closed pipe: {stderr}");
        assert!(!stderr.contains("pipe") && !stderr.contains("cannot write"), "berth {args:?}: {stderr}");
    }
}

// ----------------------------------------------------------- 8: free's causes

fn free_names_an_address_that_is_not_on_this_machine() {
    let _serial = serial();
    // 192.0.2.1 (TEST-NET-1) is on no interface here; binding it sends nothing.
    let (code, stdout, stderr) = run_berth(&["free", "-b", "192.0.2.1"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("192.0.2.1 is not an address of this machine (EADDRNOTAVAIL)"), "{stderr}");
    assert!(!stderr.contains("widen"), "the range is not the cause: {stderr}");
}

fn free_says_privileged_ports_need_root() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let start = unprivileged_port_start();
    if start < 1024 {
        skip(format!("net.ipv4.ip_unprivileged_port_start is {start}: ports below 1024 need no privilege here"));
    }
    let out = run_berth_with(&["free", "-r", "1-1023"], &[], NOBODY);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let expected =
        format!("ports below {start} need root or CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start={start})");
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(!out.stderr.contains("widen"), "the range is not the cause: {}", out.stderr);
}

// ------------------------------------------------- 6: doctor on a held port

fn doctor_answers_a_held_port_with_its_holder_first() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let p = port.to_string();
    let (code, stdout, stderr) = run_berth(&["doctor", &p], &[]);
    assert_eq!(code, 1, "a held port is a problem to report (exit 1, as documented): {stdout}\n{stderr}");
    let first = stdout.lines().find(|l| !l.trim().is_empty() && !l.starts_with("berth doctor")).expect("a check");
    assert!(first.starts_with("warn") && first.contains("port.held"), "the holder comes first: {first}");
    assert!(first.contains(&format!("is held by {}[{}]", comm_of(our_pid()), our_pid())), "{first}");
    assert!(first.contains(" since "), "since when: {first}");
    assert!(first.contains(&format!("free it with `berth kill {port}`")), "{first}");
    assert!(!stdout.contains("no problems found"), "{stdout}");
    drop(listener);
}

// ------------------------------------------ 7: which clients localhost fails

/// Runs berth with /etc/hosts replaced by `hosts` in a mount namespace of
/// its own (the machine's file is untouched).
fn with_hosts(hosts: &str, args: &[&str]) -> Output {
    let dir = ScratchDir::new("messages-hosts");
    let file = dir.write("hosts", hosts);
    let script = format!("mount --bind {} /etc/hosts && exec \"$0\" \"$@\"", file.display());
    run_berth_wrapped(&["unshare", "-m", "sh", "-c", &script], args)
}

fn localhost_order_names_the_clients_refused_and_those_that_connect() {
    let _serial = serial();
    require_root("unshare -m and a bind mount over /etc/hosts");
    require_ipv6_loopback();

    // localhost is 127.0.0.1 only; the server is on ::1 only.
    let (v6, port) = quiet(
        || listener_v6(Ipv6Addr::LOCALHOST, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::UNSPECIFIED)),
    );
    let out = with_hosts("127.0.0.1 localhost\n", &["doctor", &port.to_string(), "--json"]);
    let order = check_of(&out, "port.localhost_order");
    assert_eq!(order["status"], "fail", "{order}");
    let summary = order["summary"].as_str().unwrap();
    assert!(!summary.contains("connecting to localhost"), "not every client is refused: {summary}");
    assert!(summary.contains("(Python, Node.js, Java, wget"), "{summary}");
    assert!(summary.contains("curl and browsers (Chromium, Firefox) connect"), "{summary}");
    drop(v6);

    // localhost is ::1 first, then 127.0.0.1; the server is on 127.0.0.1 only.
    let (v4, port) = quiet(listener_v4, |port| port_unused("tcp", port, ProbeAt::V6Only(Ipv6Addr::UNSPECIFIED)));
    let out = with_hosts("::1 localhost\n127.0.0.1 localhost\n", &["doctor", &port.to_string(), "--json"]);
    let order = check_of(&out, "port.localhost_order");
    assert_eq!(order["status"], "warn", "{order}");
    let summary = order["summary"].as_str().unwrap();
    assert!(
        summary.contains("clients that try only the first address get 'connection refused' (Node.js 17 to 19"),
        "{summary}"
    );
    let detail = order["detail"].as_str().unwrap();
    assert!(detail.contains("curl, browsers, wget, Python's socket.create_connection"), "{detail}");
    assert!(detail.contains("Java by default, which take IPv4 first"), "{detail}");
    drop(v4);
}

/// What the check says of curl and Python, tried for real: a server on
/// ::1 only while localhost is 127.0.0.1 only.
fn curl_connects_and_python_is_refused_as_doctor_says() {
    let _serial = serial();
    require_root("unshare -m and a bind mount over /etc/hosts");
    require_ipv6_loopback();
    let curl = require_program("curl", "curl");
    let python = require_program("python3", "python3");
    let (v6, port) = quiet(
        || listener_v6(Ipv6Addr::LOCALHOST, true),
        |port| port_unused("tcp", port, ProbeAt::V4(Ipv4Addr::UNSPECIFIED)),
    );
    let dir = ScratchDir::new("messages-clients");
    let hosts = dir.write("hosts", "127.0.0.1 localhost\n");
    let script = format!(
        "mount --bind {hosts} /etc/hosts && {curl} -s -o /dev/null --max-time 5 telnet://localhost:{port} </dev/null; \
         echo curl=$?; {python} -c 'import socket\ntry:\n  socket.create_connection((\"localhost\", {port}), 5)\n  \
         print(\"python=connected\")\nexcept OSError as e:\n  print(\"python=refused\", e)'",
        hosts = hosts.display(),
        curl = curl.display(),
        python = python.display()
    );
    let mut command = std::process::Command::new("unshare");
    command.args(["-m", "sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = run_within(command, "curl and python against ::1", Duration::from_secs(20));
    // curl's telnet:// connects and then ends at once on its closed stdin (0), or
    // times out holding the connection (28): either way it connected; 7 is refused.
    assert!(out.stdout.contains("curl=0") || out.stdout.contains("curl=28"), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("python=refused"), "{}\n{}", out.stdout, out.stderr);
    drop(v6);
}

fn check_of(out: &Output, id: &str) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    report["checks"].as_array().expect("checks").iter().find(|c| c["id"] == id).expect("the check").clone()
}

// ------------------------------------- 11: an unprivileged user's messages

/// The one wording for a holder berth cannot see (analysis::unseen).
const UNSEEN: &str = "another user's process, seen only by root";

fn who_as_nobody_names_the_address_the_user_and_sudo() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let (listener, port) = quiet_listener_v4();
    let out = run_berth_with(&["who", &port.to_string()], &[], NOBODY);
    assert_eq!(out.code, 0, "the port is held: {}", out.stderr);
    assert!(out.stdout.contains(&format!("port {port} is held by {UNSEEN}")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("tcp 127.0.0.1:{port}  LISTEN")), "the address: {}", out.stdout);
    let user = user_name(euid()).unwrap_or_else(|| "?".into());
    assert!(out.stdout.contains(&format!("user {user} (uid {})", euid())), "the socket's user: {}", out.stdout);
    assert!(out.stdout.contains(&format!("sudo berth who {port}")), "{}", out.stdout);
    drop(listener);
}

fn kill_as_nobody_says_nothing_was_stopped_and_how() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let (listener, port) = quiet_listener_v4();
    let out = run_berth_with(&["kill", &port.to_string(), "-y"], &[], NOBODY);
    assert_eq!(out.code, 3, "documented: the port could not be freed: {}", out.stderr);
    assert!(out.stderr.contains("nothing was stopped"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("stopping it needs root: sudo berth kill {port}")), "{}", out.stderr);
    assert!(out.stderr.contains(UNSEEN), "{}", out.stderr);
    drop(listener);
}

fn doctor_as_nobody_suggests_the_sudo_form() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let (listener, port) = quiet_listener_v4();
    let out = run_berth_with(&["doctor", &port.to_string(), "--json"], &[], NOBODY);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let held = check_of(&out, "port.held");
    let text = format!("{} {}", held["summary"], held["fix"]);
    assert!(text.contains(&format!("free it with `sudo berth kill {port}`")), "{text}");
    assert!(!text.contains(&format!("`berth kill {port}`")), "a command nobody cannot run: {text}");
    assert!(text.contains(&format!("sudo berth who {port}")), "{text}");
    assert!(text.contains(UNSEEN) && text.contains(&format!("127.0.0.1:{port}")), "{text}");
    drop(listener);
}

fn the_unseen_holder_reads_the_same_everywhere() {
    let _serial = serial();
    require_root("runs berth as nobody");
    let (listener, port) = quiet_listener_v4();
    let p = port.to_string();
    // The socket is root's (this test's): its user shows even when its process does not.
    let user_of = |row: &str| row.split_whitespace().any(|cell| cell == "root");
    let ls = run_berth_with(&["ls", "--port", &p], &[], NOBODY);
    let row = ls.stdout.lines().find(|l| l.contains(&p)).unwrap_or_else(|| panic!("a row: {}", ls.stdout));
    assert!(row.contains(&format!("({UNSEEN})")), "ls: {row}");
    assert!(user_of(row), "ls USER: {row}");
    let note = format!("berth: note: 1 socket is held by {UNSEEN}; run as root (sudo berth ...) to see them");
    assert!(ls.stderr.contains(&note), "ls: {}", ls.stderr);
    let scan = run_berth_with(&["scan", "127.0.0.1", "--ports", &p], &[], NOBODY);
    let row = scan.stdout.lines().find(|l| l.trim_start().starts_with(&p)).unwrap_or_else(|| panic!("{}", scan.stdout));
    assert!(row.contains(&format!("({UNSEEN})")), "scan: {row}");
    assert!(user_of(row), "scan USER, as ls: {row}");
    assert!(scan.stderr.contains(&note), "scan's note, as ls's: {}", scan.stderr);
    let who = run_berth_with(&["who", &p], &[], NOBODY);
    assert!(who.stdout.contains(UNSEEN), "who: {}", who.stdout);
    let doctor = run_berth_with(&["doctor", &p], &[], NOBODY);
    assert!(doctor.stdout.contains(UNSEEN), "doctor: {}", doctor.stdout);
    // audit names the listener in the policy it writes, and in its findings.
    let audit = run_berth_with(&["audit", "--no-probe", "--write-policy", "-"], &[], NOBODY);
    let comment = audit.stdout.lines().find(|l| l.starts_with('#') && l.ends_with(&format!(":{p}")));
    let comment = comment.unwrap_or_else(|| panic!("audit's policy names port {p}: {}", audit.stdout));
    assert!(comment.contains(UNSEEN), "audit: {comment}");
    for (what, text) in [("ls", &ls.stdout), ("scan", &scan.stdout), ("who", &who.stdout), ("doctor", &doctor.stdout)] {
        assert!(!text.contains("berth cannot see") && !text.contains("unseen process"), "{what}: {text}");
    }
    drop(listener);

    // A full accept queue names its unseen holder the same way, in doctor and probe.
    let queue = crate::diagnoses::full_accept_queue();
    let p = queue.port.to_string();
    let doctor = run_berth_with(&["doctor", &p], &[], NOBODY);
    assert!(doctor.stdout.contains(&format!("; {UNSEEN} is not accepting")), "doctor: {}", doctor.stdout);
    let probe = run_berth_with(&["probe", &format!("127.0.0.1:{p}"), "-w", "0.5"], &[], NOBODY);
    assert!(probe.stdout.contains(&format!("; {UNSEEN} is not accepting")), "probe: {}", probe.stdout);
    for text in [&doctor.stdout, &probe.stdout] {
        assert!(!text.contains("berth cannot see"), "{text}");
    }
}

// --------------------------------------------- 15: counts; kill in a script

fn one_time_wait_remnant_is_one() {
    let _serial = serial();
    let port = time_wait_port();
    let (code, stdout, stderr) = run_berth(&["who", &port.to_string()], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("Only 1 TIME_WAIT remnant of closed connections remains; it belongs"), "{stdout}");
    assert!(!stdout.contains("(s)"), "{stdout}");
}

fn kill_without_a_terminal_does_not_ask() {
    let _serial = serial();
    let (listener, port) = quiet_listener_v4();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    // SAFETY: the child makes no calls; it pauses until signalled.
    let child = unsafe { fork_child(&[fd], || {}) };
    drop(listener);
    // stdin is /dev/null, as in a script, and there is no -y: README says it does not ask.
    let (code, _, stderr) = run_berth(&["kill", &port.to_string()], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("[y/N]"), "no question without a terminal: {stderr}");
    assert!(stderr.contains(&format!("port {port} is free now")), "{stderr}");
    let gone = poll_until(Duration::from_secs(5), || {
        let mut status = 0;
        // SAFETY: our own child; WNOHANG never blocks.
        (unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) } == child.pid).then_some(())
    });
    assert!(gone.is_some(), "the holder was stopped");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    assert!(readme.contains("Without a terminal, as in a script\nor a pipe, there is no one to ask"), "README says so");
}

/// A server whose stderr reader went away (a wrapper that read the ready
/// line and closed the pipe) goes on serving: a log line that cannot be
/// written is dropped, it does not end the connection or the process.
fn a_server_goes_on_when_its_stderr_is_closed() {
    let _serial = serial();
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(["echo", "--tcp", "--port", "0", "--log", "text"]).stdin(Stdio::null()).stdout(Stdio::null());
    let (mut echo, line, stderr) = start_berth_command(command, "echoing on");
    let port = port_in(&line, "tcp");
    drop(stderr);
    for round in 0..3 {
        let mut stream = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::io::Write::write_all(&mut stream, b"hello").expect("send");
        let mut back = [0u8; 5];
        let read = stream.read_exact(&mut back);
        assert!(read.is_ok() && &back == b"hello", "round {round}: no echo once stderr was closed ({read:?})");
    }
    assert!(echo.0.try_wait().expect("wait").is_none(), "echo is still running");
}

tests![
    doctor_answers_a_held_port_with_its_holder_first,
    localhost_order_names_the_clients_refused_and_those_that_connect,
    curl_connects_and_python_is_refused_as_doctor_says,
    who_as_nobody_names_the_address_the_user_and_sudo,
    kill_as_nobody_says_nothing_was_stopped_and_how,
    doctor_as_nobody_suggests_the_sudo_form,
    the_unseen_holder_reads_the_same_everywhere,
    one_time_wait_remnant_is_one,
    kill_without_a_terminal_does_not_ask,
    free_names_an_address_that_is_not_on_this_machine,
    free_says_privileged_ports_need_root,
    output_to_a_full_disk_is_a_write_error,
    an_unwritable_policy_path_is_a_write_error,
    a_closed_pipe_ends_berth_quietly_with_status_0,
    a_server_goes_on_when_its_stderr_is_closed,
];
