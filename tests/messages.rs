//! What berth says, and the exit code it gives, where a new user trips
//! (issue 11): a held port in `doctor`, the causes of a failed `free`, an
//! unprivileged user's view of another user's port, write errors and broken
//! pipes, counts in words, and `kill` without a terminal.

use std::fs::File;
use std::io::Read;
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
    let full = File::options().write(true).open("/dev/full").expect("/dev/full");
    let (code, stderr) = run_with_stdout(&["ls"], Stdio::from(full));
    assert_eq!(code, Some(6), "berth ls > /dev/full: {stderr}");
    assert!(stderr.contains("cannot write output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
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
    for args in [&["ls", "-a"][..], &["ls", "-a", "--json"][..], &["doctor"][..]] {
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
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024);
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

tests![
    free_names_an_address_that_is_not_on_this_machine,
    free_says_privileged_ports_need_root,
    output_to_a_full_disk_is_a_write_error,
    an_unwritable_policy_path_is_a_write_error,
    a_closed_pipe_ends_berth_quietly_with_status_0,
];
