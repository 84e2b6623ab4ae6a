//! `berth run`: the program gets PORT, or the listening socket itself by
//! systemd socket activation, and berth's exit status and signals are the
//! program's own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn berth() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.env_remove("LISTEN_FDS").env_remove("LISTEN_PID").stdin(Stdio::null());
    command
}

/// A program that serves one connection on the socket systemd-style
/// activation passed it: it checks LISTEN_PID and LISTEN_FDS, prints the
/// port it serves, and answers "hello".
const ACTIVATED_SERVER: &str = r#"
import os, socket, sys
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is the program's pid"
assert os.environ["LISTEN_FDS"] == "1"
assert os.environ["LISTEN_FDNAMES"] == "web"
s = socket.socket(fileno=3)
print(s.getsockname()[1], os.environ["PORT"], flush=True)
s.settimeout(10)
# Answer the test's connection, which says "berth" first; anything else on
# the machine that happens to connect (a scan, an audit) is turned away.
for _ in range(20):
    c, _ = s.accept()
    c.settimeout(5)
    try:
        said = c.recv(5)
    except OSError:
        said = b""
    if said == b"berth":
        c.sendall(b"hello")
        c.close()
        break
    c.close()
"#;

fn socket_activation_hands_over_the_listening_socket() {
    let _serial = serial();
    require_program("python3", "python3");
    let mut child = berth()
        .args(["run", "--socket", "--fd-name", "web", "--", "python3", "-c", ACTIVATED_SERVER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth run");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the program prints its port");
    let fields: Vec<u16> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    if fields.len() != 2 {
        let _ = child.kill();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let _ = child.wait();
        panic!("expected two ports, got {line:?}; stderr:\n{stderr}");
    }
    assert_eq!(fields[0], fields[1], "PORT names the socket it was given");
    let mut stream = TcpStream::connect(("127.0.0.1", fields[0])).expect("the passed socket is listening");
    stream.write_all(b"berth").expect("say who we are");
    let mut reply = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hello");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
}

fn port_is_in_the_environment_and_free_for_the_program() {
    let _serial = serial();
    // The program binds PORT itself: berth's socket must be gone by then.
    let output = berth()
        .args(["run", "--env", "APP_PORT", "--", "sh", "-c", "echo $APP_PORT; test -z \"$LISTEN_FDS\""])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let port: u16 = String::from_utf8_lossy(&output.stdout).trim().parse().expect("a port");
    let (low, high) = ephemeral_range();
    assert!(!(low..=high).contains(&port), "auto ports avoid the ephemeral range");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("free once the program has it");

    // A fixed port, and berth's socket closed across exec: the program can bind it.
    let port = released_port();
    let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port} 2>/dev/null && echo connected || echo refused");
    let output = berth().args(["run", "--port", &port.to_string(), "--", "bash", "-c", &probe]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "refused", "nobody listens after exec without --socket");
}

fn exit_status_passes_through() {
    let _serial = serial();
    let status = berth().args(["run", "--", "sh", "-c", "exit 7"]).stderr(Stdio::null()).status().unwrap();
    assert_eq!(status.code(), Some(7));
    let output = berth().args(["run", "--", "/nonexistent/program"]).output().unwrap();
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot run"), "{stderr}");
}

fn signals_pass_through() {
    let _serial = serial();
    let mut child = berth()
        .args(["run", "--", "sh", "-c", "trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // berth became the program: its pid is the program's.
    // SAFETY: our own unreaped child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("the program did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(9), "the program's trap ran");
}

fn a_taken_port_and_bad_input() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let output = berth().args(["run", "--port", &port.to_string(), "--", "true"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use") && stderr.contains("berth who"), "{stderr}");
    drop(listener);
    for bad in [
        &["run", "--port", "65536", "--", "true"][..],
        &["run", "--port", "x", "--", "true"],
        &["run", "--env", "1BAD", "--", "true"],
        &["run", "--bind", "nowhere", "--", "true"],
        &["run"],
    ] {
        let output = berth().args(bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: {stderr}");
    }
    let _ = std::io::stderr().flush();
}

fn binding_beyond_loopback_needs_expose() {
    let _serial = serial();
    let output = berth().args(["run", "--bind", "0.0.0.0", "--", "true"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--expose"), "{stderr}");
    let output = berth().args(["run", "--bind", "0.0.0.0", "--expose", "--", "true"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning: --expose"));
}

tests![
    socket_activation_hands_over_the_listening_socket,
    port_is_in_the_environment_and_free_for_the_program,
    exit_status_passes_through,
    signals_pass_through,
    a_taken_port_and_bad_input,
    binding_beyond_loopback_needs_expose,
];
