//! `berth kill`: real children holding real ports, stopped (or not) for real.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// Forks a child that holds `listener` (the test's copy is closed on
/// return) and, with `ignore_term`, ignores SIGTERM.
fn holder(listener: std::net::TcpListener, ignore_term: bool) -> ChildGuard {
    let fd = listener.as_raw_fd();
    // SAFETY: the child only calls signal(2) and then pauses.
    let child = unsafe {
        fork_child(&[fd], move || {
            if ignore_term {
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
            }
        })
    };
    drop(listener);
    child
}

/// True when the child has exited (reaps it); waits up to `timeout`.
fn exited(child: &ChildGuard, timeout: Duration) -> bool {
    poll_until(timeout, || {
        let mut status = 0;
        // SAFETY: our own child; WNOHANG never blocks.
        let rc = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
        (rc == child.pid).then_some(())
    })
    .is_some()
}

fn port_is_free(port: u16) -> bool {
    let (code, _, _) = run_berth(&["who", &port.to_string()], &[]);
    code == 1
}

fn stops_a_holder_that_exits_on_sigterm() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let child = holder(listener, false);
    let (code, stdout, stderr) = run_berth(&["kill", &port.to_string(), "-y"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "the human report goes to stderr: {stdout}");
    assert!(stderr.contains("sent SIGTERM"), "{stderr}");
    assert!(stderr.contains(&format!("port {port} is free now")), "{stderr}");
    assert!(exited(&child, Duration::from_secs(2)), "the holder exited");
    assert!(port_is_free(port));
}

fn a_holder_that_ignores_sigterm_needs_force() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let child = holder(listener, true);
    let p = port.to_string();

    let (code, _, stderr) = run_berth(&["kill", &p, "-y", "--timeout", "0.3"], &[]);
    assert_eq!(code, 3, "still held, so not freed: {stderr}");
    assert!(stderr.contains("--force"), "says how to force it: {stderr}");
    assert!(!exited(&child, Duration::from_millis(100)), "SIGTERM was ignored, the child lives");
    assert!(!port_is_free(port));

    let (code, stdout, stderr) = run_berth(&["kill", &p, "-y", "--timeout", "0.3", "--force", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("kill --json");
    let signalled = &report["signalled"][0];
    assert_eq!(signalled["pid"], child.pid());
    assert_eq!(signalled["forced"], true);
    assert_eq!(report["outcome"][0]["free"], true);
    assert!(exited(&child, Duration::from_secs(2)));
    assert!(port_is_free(port));
}

fn a_forked_group_sharing_a_listener_is_stopped_whole() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let fd = listener.as_raw_fd();
    // SAFETY: the children only pause.
    let first = unsafe { fork_child(&[fd], || {}) };
    let second = unsafe { fork_child(&[fd], || {}) };
    drop(listener);
    let (code, stdout, stderr) = run_berth(&["kill", &port.to_string(), "-y", "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let stopped: Vec<u64> =
        report["plan"]["ports"][0]["stop"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(stopped.contains(&first.pid()) && stopped.contains(&second.pid()), "both holders: {stopped:?}");
    assert!(exited(&first, Duration::from_secs(2)) && exited(&second, Duration::from_secs(2)));
    assert!(port_is_free(port));
}

fn dry_run_stops_nothing() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let child = holder(listener, false);
    let (code, _, stderr) = run_berth(&["kill", &port.to_string(), "--dry-run"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("would stop"), "{stderr}");
    assert!(stderr.contains(&child.pid().to_string()), "names the pid: {stderr}");
    assert!(!exited(&child, Duration::from_millis(200)), "nothing was stopped");
    assert!(!port_is_free(port));
}

fn several_ports_at_once() {
    let _serial = serial();
    let (a, port_a) = listener_v4();
    let (b, port_b) = listener_v4();
    let child_a = holder(a, false);
    let child_b = holder(b, false);
    let (code, _, stderr) = run_berth(&["kill", &port_a.to_string(), &format!("tcp/127.0.0.1:{port_b}"), "-y"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(exited(&child_a, Duration::from_secs(2)) && exited(&child_b, Duration::from_secs(2)));
}

fn a_free_port_exits_1_and_bad_input_exits_2() {
    let _serial = serial();
    let port = released_port();
    let (code, stdout, stderr) = run_berth(&["kill", &port.to_string(), "-y"], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("nothing to stop"), "{stderr}");
    for bad in [
        &["kill", "0"][..],
        &["kill", "70000"],
        &["kill", "abc"],
        &["kill"],
        &["kill", "80", "--signal", "NOPE"],
        &["kill", "80", "--timeout", "-1"],
    ] {
        let (code, stdout, stderr) = run_berth(bad, &[]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: one line: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

fn refuses_to_stop_itself_or_its_parent() {
    let _serial = serial();
    // The test process holds the port and is berth's parent.
    let (listener, port) = listener_v4();
    let (code, _, stderr) = run_berth(&["kill", &port.to_string(), "-y"], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("will not stop") && stderr.contains("shell running it"), "{stderr}");
    drop(listener);
}

fn refuses_pid_1() {
    let _serial = serial();
    require_root("a new pid namespace, where the holder is pid 1");
    // In a new pid namespace, `berth run --socket` execs into sh, which is
    // pid 1 there and holds the port; sh then runs `berth kill $PORT`.
    let berth = env!("CARGO_BIN_EXE_berth");
    // `3>&-`: berth kill itself must not inherit the socket.
    let script = format!("{berth} kill \"$PORT\" -y --json 3>&-; echo \"exit=$?\"");
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", berth, "run", "--socket", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("exit=3"), "refused, not freed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"reason\": \"init\""), "refused as pid 1:\n{stdout}");
}

fn refuses_other_users_processes_when_not_root() {
    let _serial = serial();
    require_root("runs berth as nobody");
    // Root's child holds the port; berth runs as nobody and cannot see or stop it.
    let (listener, port) = listener_v4();
    let child = holder(listener, false);
    let out = run_berth_with(&["kill", &port.to_string(), "-y"], &[], Some((65534, 65534)));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("sudo berth kill {port}")), "{}", out.stderr);
    assert!(!exited(&child, Duration::from_millis(200)));
}

/// A copy of /bin/sh named `name` in a fresh directory, so that the process
/// it runs has that name.
fn renamed_shell(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("berth-kill-test-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::copy("/bin/sh", &path).unwrap();
    (dir, path)
}

fn docker_proxy_is_reported_not_killed() {
    let _serial = serial();
    let (dir, proxy) = renamed_shell("docker-proxy");
    let port = free_port();
    // A process named docker-proxy, with docker-proxy's flags, holding the port.
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["run", "--socket", "--port", &port.to_string(), "--"])
        .arg(&proxy)
        // `3>&-`: only the proxy holds the socket, not its sleep.
        .args(["-c", "sleep 20 3>&-; :", "-container-ip", "fd00::2", "-container-port", "80"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth run");
    let held = poll_until(Duration::from_secs(3), || (!port_is_free(port)).then_some(()));
    assert!(held.is_some(), "the fake proxy holds the port");
    let (code, stdout, stderr) = run_berth(&["kill", &port.to_string(), "-y", "--json"], &[]);
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(dir);
    assert_eq!(code, 3, "{stderr}");
    assert!(alive, "the proxy was not killed");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let refused = &report["plan"]["ports"][0]["refused"][0];
    assert_eq!(refused["reason"], "docker-proxy");
    assert!(refused["command"].as_str().unwrap().contains("docker stop"), "{refused}");
    assert_eq!(refused["container_address"], "fd00::2:80");
}

/// The mount point of the cgroup v2 hierarchy, if there is one.
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
    })
}

fn a_process_in_a_container_cgroup_is_reported_with_the_container() {
    let _serial = serial();
    require_root("creates a cgroup");
    let root = cgroup2_root().unwrap_or_else(|| skip("needs a cgroup v2 hierarchy"));
    let id = "4b1d".repeat(16);
    let parent = root.join(format!("berth-test-{}", std::process::id()));
    let group = parent.join(format!("docker-{id}.scope"));
    if let Err(e) = fs::create_dir_all(&group) {
        skip(format!("needs a writable cgroup v2 hierarchy ({}: {e})", group.display()));
    }
    let (listener, port) = listener_v4();
    let mut child = holder(listener, false);
    let moved = fs::write(group.join("cgroup.procs"), child.pid().to_string());
    let result = moved.as_ref().map(|_| run_berth(&["kill", &port.to_string(), "-y", "--json"], &[]));
    let alive = !exited(&child, Duration::from_millis(100));
    child.kill();
    let _ = fs::remove_dir(&group);
    let _ = fs::remove_dir(&parent);
    let (code, stdout, stderr) = match result {
        Ok(r) => r,
        Err(e) => skip(format!("needs to move a process into a cgroup ({e})")),
    };
    assert_eq!(code, 3, "{stderr}");
    assert!(alive, "the container's process was not killed");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let refused = &report["plan"]["ports"][0]["refused"][0];
    assert_eq!(refused["reason"], "container", "{report}");
    assert_eq!(refused["container"]["runtime"], "docker");
    assert_eq!(refused["container"]["id"], id.as_str());
    assert_eq!(refused["command"], format!("docker stop {}", &id[..12]));
}

/// Item 14 of issue 9: a pid reused within the same second must not pass
/// for the process berth saw. The kernel hands out the pid after
/// /proc/sys/kernel/ns_last_pid, so writing the old pid minus one there
/// right before a spawn gives the new process the old pid (other
/// processes on the machine may take it first: bounded retries).
fn a_pid_reused_within_a_second_is_not_the_process_seen() {
    use berth::test_support::{HandleError, ProcessHandle};
    use berth_inventory::processes::start_ticks_of;

    let _serial = serial();
    require_root("writes /proc/sys/kernel/ns_last_pid to give a new process an old pid");
    // SAFETY: sysconf has no preconditions.
    let hertz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).expect("clock ticks per second");
    let spawn = || KillOnDrop(Command::new("sleep").arg("30").stdin(Stdio::null()).spawn().expect("start sleep"));
    // Whole seconds cannot tell the two processes apart only when both
    // start within one second: try again (bounded) when they did not.
    for _attempt in 0..20 {
        let mut old = spawn();
        let pid = old.0.id();
        let seen = start_ticks_of(pid).expect("the first process's start");
        // A few ticks (1/100 s) later, so that ticks can tell them apart.
        std::thread::sleep(Duration::from_millis(30));
        let _ = old.0.kill();
        let _ = old.0.wait();
        let mut reused = None;
        for _ in 0..200 {
            if fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).is_err() {
                skip("needs a writable /proc/sys/kernel/ns_last_pid (CONFIG_CHECKPOINT_RESTORE)");
            }
            let new = spawn();
            if new.0.id() == pid {
                reused = Some(new);
                break;
            }
        }
        let Some(new) = reused else { panic!("pid {pid} was not handed out again in 200 tries") };
        let now = start_ticks_of(pid).expect("the second process's start");
        assert!(now > seen, "the second process started after the first ({now} <= {seen} ticks)");
        if now / hertz != seen / hertz {
            continue;
        }
        assert!(
            matches!(ProcessHandle::open(pid, Some(seen)), Err(HandleError::Gone)),
            "pid {pid} reused {} ticks later, in the same second, was taken for the process seen",
            now - seen
        );
        assert!(ProcessHandle::open(pid, Some(now)).is_ok(), "the process now at {pid} is opened by its own start");
        drop(new);
        return;
    }
    panic!("in 20 tries the pid was never handed out again within the second the first process started");
}

/// Item 13 of issue 9: on cgroup-v1 hosts /proc/PID/cgroup still has a
/// `0::/` line, and the container shows only on the v1 hierarchies. A
/// named v1 hierarchy, mounted in a private mount namespace (the host's
/// mounts are not touched), puts the holder under `/docker/<id>` there.
fn a_container_seen_on_a_cgroup_v1_hierarchy_is_refused() {
    let _serial = serial();
    require_root("mounts a cgroup v1 hierarchy in a private mount namespace");
    require_program("unshare", "util-linux");
    let id = "c0ffee".repeat(10) + "c0ff";
    let name = format!("berth-test-{}", std::process::id());
    let mount = ScratchDir::new("cgroup-v1");
    let (listener, port) = listener_v4();
    let mut child = holder(listener, false);
    // In a private mount namespace: mount the named hierarchy, make
    // /docker/<id> and move the holder in. The hierarchy outlives the
    // namespace because a cgroup in it is in use.
    let dir = mount.path.display().to_string();
    let setup = format!(
        "mount -t cgroup -o none,name={name} berth-test {dir} && mkdir -p {dir}/docker/{id} && echo {} > {dir}/docker/{id}/cgroup.procs",
        child.pid
    );
    let out = Command::new("unshare").args(["-m", "sh", "-c", &setup]).stdin(Stdio::null()).output().expect("unshare");
    if !out.status.success() {
        skip(format!("needs cgroup v1 (a named hierarchy): {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let cgroup = fs::read_to_string(format!("/proc/{}/cgroup", child.pid)).unwrap_or_default();
    let result = run_berth(&["kill", &port.to_string(), "-y", "--json"], &[]);
    let alive = !exited(&child, Duration::from_millis(100));
    child.kill();
    // Remove the cgroups (now empty), which lets the hierarchy go.
    let cleanup =
        format!("mount -t cgroup -o none,name={name} berth-test {dir} && rmdir {dir}/docker/{id} {dir}/docker");
    let _ = Command::new("unshare").args(["-m", "sh", "-c", &cleanup]).stdin(Stdio::null()).status();
    assert!(cgroup.contains(&format!(":name={name}:/docker/{id}")), "the holder is not in the v1 cgroup:\n{cgroup}");
    let (code, stdout, stderr) = result;
    assert_eq!(code, 3, "a containerised holder is refused, not stopped: {stderr}\n{stdout}");
    assert!(alive, "the holder in a container was signalled");
    let report: Value = serde_json::from_str(&stdout).expect("kill --json");
    let refused = &report["plan"]["ports"][0]["refused"][0];
    assert_eq!(refused["reason"], "container", "{report}");
    assert_eq!(refused["container"]["runtime"], "docker");
    assert_eq!(refused["container"]["id"], id.as_str());
}

tests![
    stops_a_holder_that_exits_on_sigterm,
    a_holder_that_ignores_sigterm_needs_force,
    a_forked_group_sharing_a_listener_is_stopped_whole,
    dry_run_stops_nothing,
    several_ports_at_once,
    a_free_port_exits_1_and_bad_input_exits_2,
    refuses_to_stop_itself_or_its_parent,
    refuses_pid_1,
    refuses_other_users_processes_when_not_root,
    docker_proxy_is_reported_not_killed,
    a_process_in_a_container_cgroup_is_reported_with_the_container,
    a_pid_reused_within_a_second_is_not_the_process_seen,
    a_container_seen_on_a_cgroup_v1_hierarchy_is_refused,
];
