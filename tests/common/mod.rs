//! Shared helpers for the integration tests: running the real `berth`
//! binary, reading its JSON, and guards that clean up every child process
//! and network namespace a test creates, on success and on failure.
//!
//! Every test in a test binary takes [`serial`] first. Tests fork children
//! and spawn `berth`; a process forked (or spawned, before its exec) while
//! another test's sockets are open would briefly hold them too and show up
//! as an extra owner. Running one test at a time per binary keeps each
//! test's view of "who holds my socket" exact.

#![allow(dead_code)]

pub mod harness;
pub mod http;

pub use harness::{require_program, require_root, skip};

use std::ffi::CStr;
use std::io::Read;
use std::net::{Ipv6Addr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one run of berth may take before the test gives up on it.
const BERTH_TIMEOUT: Duration = Duration::from_secs(20);

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of one binary one at a time (see the module comment).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when berth can read firewall rules here: nft or iptables-save is
/// installed (what berth itself looks for).
pub fn firewall_tools_installed() -> bool {
    harness::find_program("nft").is_some() || harness::find_program("iptables-save").is_some()
}

/// Skips the test when ::1 cannot be bound (IPv6 off, or no ::1 on lo).
pub fn require_ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        skip("needs ::1 on lo (IPv6 is off here)");
    }
}

pub fn our_pid() -> u64 {
    u64::from(std::process::id())
}

/// The output of one berth run.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs berth with `args` and extra environment `env`, as the current user.
/// BERTH_SOURCE and NO_COLOR from the outer environment are removed so
/// that only what the test says counts.
pub fn run_berth(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = run_berth_with(args, env, None);
    (out.code, out.stdout, out.stderr)
}

/// As [`run_berth`], optionally as another uid/gid (needs root).
pub fn run_berth_with(args: &[&str], env: &[(&str, &str)], as_user: Option<(u32, u32)>) -> Output {
    use std::os::unix::process::CommandExt;

    let mut command = clean_command(env!("CARGO_BIN_EXE_berth"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    if let Some((uid, gid)) = as_user {
        command.uid(uid).gid(gid).current_dir("/");
    }
    run_to_end(command, &format!("berth {args:?}"))
}

/// A command for `program` without BERTH_SOURCE and NO_COLOR from the
/// outer environment (callers add their own after), stdin closed, output piped.
fn clean_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("BERTH_SOURCE")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs a prepared command with both pipes read on threads, so a full pipe
/// never stalls it, and BERTH_TIMEOUT as the limit (then it is killed by pid).
fn run_to_end(command: Command, what: &str) -> Output {
    run_within(command, what, BERTH_TIMEOUT)
}

/// As [`run_to_end`], with `limit` as the time limit. A child that leads
/// its own process group (`process_group(0)`) is stopped with its whole
/// group, on time-out and after it ends, so helpers it left go too.
pub fn run_within(mut command: Command, what: &str, limit: Duration) -> Output {
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdout_pipe = child.stdout.take().expect("stdout piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if started.elapsed() > limit {
            kill_group_of(&child);
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    kill_group_of(&child);
    let stdout = String::from_utf8(stdout_reader.join().expect("stdout reader")).expect("stdout is UTF-8");
    let stderr = String::from_utf8(stderr_reader.join().expect("stderr reader")).expect("stderr is UTF-8");
    let code = status.code().unwrap_or_else(|| panic!("{what} was killed by a signal: {status:?}\n{stderr}"));
    Output { code, stdout, stderr }
}

/// SIGKILL to the child's process group, when the child leads one of its own.
fn kill_group_of(child: &std::process::Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: getpgid and kill on the pid of our own child, which is not
    // reaped yet (or just reaped by try_wait: then getpgid fails and nothing is sent).
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// `berth ls --json ARGS`: asserts exit 0 and no panic, returns the array.
pub fn ls_json(args: &[&str]) -> Vec<Value> {
    ls_json_env(args, &[])
}

pub fn ls_json_env(args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let mut full = vec!["ls", "--json"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run_berth(&full, env);
    assert_eq!(code, 0, "berth {full:?} exited {code}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    parse_array(&stdout, &full)
}

pub fn parse_array(stdout: &str, what: &[&str]) -> Vec<Value> {
    match serde_json::from_str::<Value>(stdout) {
        Ok(Value::Array(items)) => items,
        Ok(other) => panic!("berth {what:?}: expected a JSON array, got {other}"),
        Err(e) => panic!("berth {what:?}: output is not JSON ({e}):\n{stdout}"),
    }
}

/// `berth who ARGS --json`: returns (exit code, report).
pub fn who_json(args: &[&str]) -> (i32, Value) {
    let mut full = vec!["who"];
    full.extend_from_slice(args);
    full.push("--json");
    let (code, stdout, stderr) = run_berth(&full, &[]);
    assert!(code == 0 || code == 1, "berth {full:?} exited {code}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("berth {full:?}: not JSON ({e}):\n{stdout}"));
    (code, value)
}

/// The socket with this inode, if listed.
pub fn find_inode(sockets: &[Value], inode: u64) -> Option<&Value> {
    sockets.iter().find(|s| s["inode"].as_u64() == Some(inode))
}

/// Like [`find_inode`], but panics with the listing when absent.
pub fn expect_inode<'a>(sockets: &'a [Value], inode: u64, what: &str) -> &'a Value {
    find_inode(sockets, inode).unwrap_or_else(|| panic!("{what} (inode {inode}) not listed in:\n{}", dump(sockets)))
}

/// Every socket with this protocol, local port and state.
pub fn find_by<'a>(sockets: &'a [Value], protocol: &str, port: u16, state: &str) -> Vec<&'a Value> {
    sockets
        .iter()
        .filter(|s| {
            s["protocol"] == protocol && s["local"]["port"].as_u64() == Some(u64::from(port)) && s["state"] == state
        })
        .collect()
}

/// Listing for assertion messages.
pub fn dump(sockets: &[Value]) -> String {
    sockets.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n")
}

/// The pids among a socket's owners, in listed order.
pub fn owner_pids(socket: &Value) -> Vec<u64> {
    socket["owners"].as_array().map(|o| o.iter().filter_map(|o| o["pid"].as_u64()).collect()).unwrap_or_default()
}

/// The owner entry with this pid.
pub fn owner(socket: &Value, pid: u64) -> Option<&Value> {
    socket["owners"].as_array()?.iter().find(|o| o["pid"].as_u64() == Some(pid))
}

/// The fds listed for an owner.
pub fn fds(owner: &Value) -> Vec<u64> {
    owner["fds"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

/// The socket inode of a descriptor, as fstat sees it (st_ino).
pub fn inode_of(fd: &impl AsRawFd) -> u64 {
    inode_of_raw(fd.as_raw_fd())
}

pub fn inode_of_raw(fd: RawFd) -> u64 {
    // SAFETY: fstat writes into a zeroed stat struct we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0, "fstat({fd}) failed: {}", std::io::Error::last_os_error());
        st.st_ino
    }
}

/// The user name of a uid, as the C library gives it.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r fills `passwd` with pointers into `buffer`, used before it is dropped.
    unsafe {
        let mut passwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut passwd, buffer.as_mut_ptr(), buffer.len(), &mut result);
        if rc != 0 || result.is_null() || passwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(passwd.pw_name).to_string_lossy().into_owned())
    }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Our own command line, as /proc shows it.
pub fn own_cmdline() -> Vec<String> {
    let bytes = std::fs::read("/proc/self/cmdline").expect("read /proc/self/cmdline");
    bytes.split(|&b| b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect()
}

/// The kernel's short name (comm) of a process.
pub fn comm_of(pid: u64) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("read comm").trim_end().to_string()
}

/// net.ipv4.ip_local_port_range.
pub fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("read port range");
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().expect("port number"));
    (parts.next().expect("low"), parts.next().expect("high"))
}

/// Is `word` a whole word (separated by whitespace) somewhere in `line`?
pub fn has_word(line: &str, word: &str) -> bool {
    line.split_whitespace().any(|w| w == word)
}

// ---------------------------------------------------------------- sockets

/// A TCP listener on 127.0.0.1, port chosen by the kernel.
pub fn listener_v4() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
}

/// An IPv6 TCP listener on `address`, with IPV6_V6ONLY set explicitly.
pub fn listener_v6(address: Ipv6Addr, v6only: bool) -> (TcpListener, u16) {
    // SAFETY: plain socket calls on a descriptor we own; it is handed to
    // TcpListener (which closes it) or closed on failure.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket(AF_INET6): {}", std::io::Error::last_os_error());
        let listener = TcpListener::from_raw_fd(fd);
        let flag: libc::c_int = i32::from(v6only);
        let rc = libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&flag as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "setsockopt(IPV6_V6ONLY): {}", std::io::Error::last_os_error());
        let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_addr.s6_addr = address.octets();
        let rc = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "bind([{address}]:0): {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 16), 0, "listen: {}", std::io::Error::last_os_error());
        let port = listener.local_addr().expect("local_addr").port();
        (listener, port)
    }
}

/// A port that was free a moment ago: bound, read back, released.
pub fn released_port() -> u16 {
    let (listener, port) = listener_v4();
    drop(listener);
    port
}

// ---------------------------------------------------------------- children

/// A child process the test forked: killed (SIGKILL) and reaped on drop.
pub struct ChildGuard {
    pub pid: libc::pid_t,
    reaped: bool,
}

impl ChildGuard {
    pub fn pid(&self) -> u64 {
        self.pid as u64
    }

    /// Kills and reaps now (drop does the same).
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: the pid is our own unreaped child, so it cannot have been reused.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            // Bounded: SIGKILL cannot be ignored; EINTR retried a few times only.
            for _ in 0..100 {
                let rc = libc::waitpid(self.pid, &mut status, 0);
                if rc == self.pid || (rc < 0 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
        }
        self.reaped = true;
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A spawned child process: killed by its pid (SIGKILL) and reaped on drop.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a forked child lives at most if nobody kills it (SIGALRM's
/// default action ends it), so that a crashed test leaves nothing behind.
const CHILD_LIFETIME_SECS: libc::c_uint = 60;

/// Forks a child that keeps only the descriptors in `keep` (plus 0, 1, 2),
/// runs `body` and then sleeps in pause() until killed.
///
/// # Safety
/// `body` runs in the child of a multi-threaded process: it must only make
/// async-signal-safe libc calls (no allocation, no locks, no std I/O).
pub unsafe fn fork_child(keep: &[RawFd], body: impl FnOnce()) -> ChildGuard {
    // Prepared before fork: the child must not allocate.
    let mut kept: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd > 2).collect();
    kept.sort_unstable();
    kept.dedup();
    let pid = libc::fork();
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        libc::alarm(CHILD_LIFETIME_SECS);
        close_all_but(&kept);
        body();
        for _ in 0..1000 {
            libc::pause();
        }
        libc::_exit(0);
    }
    ChildGuard { pid, reaped: false }
}

/// In a forked child: closes every descriptor above 2 that is not in `kept` (sorted).
unsafe fn close_all_but(kept: &[RawFd]) {
    let mut low: libc::c_uint = 3;
    for &fd in kept {
        let fd = fd as libc::c_uint;
        if fd > low {
            close_range(low, fd - 1);
        }
        low = fd + 1;
    }
    close_range(low, libc::c_uint::MAX);
}

unsafe fn close_range(low: libc::c_uint, high: libc::c_uint) {
    let rc = libc::syscall(libc::SYS_close_range, low, high, 0 as libc::c_uint);
    if rc != 0 {
        // Kernels before 5.9: close one by one, bounded.
        let top = high.min(65_535);
        let mut fd = low;
        while fd <= top {
            libc::close(fd as libc::c_int);
            fd += 1;
        }
    }
}

/// A pipe whose ends close on drop.
pub struct Pipe {
    pub read: RawFd,
    pub write: RawFd,
}

impl Pipe {
    pub fn new() -> Pipe {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two-element array.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
        Pipe { read: fds[0], write: fds[1] }
    }

    /// Closes the parent's write end after fork, so a child that dies shows as EOF.
    pub fn close_write(&mut self) {
        if self.write >= 0 {
            // SAFETY: our descriptor, closed once.
            unsafe { libc::close(self.write) };
            self.write = -1;
        }
    }

    /// Reads one [`ChildReport`] the child wrote, waiting at most `timeout`.
    pub fn read_report(&self, timeout: Duration) -> ChildReport {
        let mut bytes = [0u8; 8];
        let mut got = 0;
        let deadline = Instant::now() + timeout;
        for _ in 0..100 {
            if got == bytes.len() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the child did not report within {timeout:?}");
            let mut pfd = libc::pollfd { fd: self.read, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd, and a read into the unfilled rest of `bytes`.
            unsafe {
                let ready = libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int);
                if ready <= 0 {
                    continue;
                }
                let n = libc::read(self.read, bytes[got..].as_mut_ptr().cast(), bytes.len() - got);
                assert!(n > 0, "the child closed its pipe without reporting");
                got += n as usize;
            }
        }
        assert_eq!(got, bytes.len(), "short report from the child");
        ChildReport {
            stage: i32::from_ne_bytes(bytes[..4].try_into().expect("4 bytes")),
            value: i32::from_ne_bytes(bytes[4..].try_into().expect("4 bytes")),
        }
    }
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both descriptors are ours.
        unsafe {
            libc::close(self.read);
            if self.write >= 0 {
                libc::close(self.write);
            }
        }
    }
}

/// What a child reports through its pipe: stage 0 and the port on
/// success, or the failing stage and errno.
#[derive(Clone, Copy, Debug)]
pub struct ChildReport {
    pub stage: i32,
    pub value: i32,
}

impl ChildReport {
    /// The port, or a panic naming the stage that failed.
    pub fn port(self, stages: &[&str]) -> u16 {
        if self.stage != 0 {
            let name = stages.get(self.stage as usize - 1).copied().unwrap_or("?");
            panic!("child failed at {name}: {}", std::io::Error::from_raw_os_error(self.value));
        }
        u16::try_from(self.value).expect("a port")
    }
}

/// In a child: writes a report (async-signal-safe).
pub unsafe fn child_report(fd: RawFd, stage: i32, value: i32) {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&stage.to_ne_bytes());
    bytes[4..].copy_from_slice(&value.to_ne_bytes());
    libc::write(fd, bytes.as_ptr().cast(), bytes.len());
}

pub unsafe fn errno() -> i32 {
    *libc::__errno_location()
}

/// In a child: socket, bind 127.0.0.1:0, listen, getsockname. Returns the
/// port, or Err((stage, errno)) with stages 1..=4 in that order.
pub unsafe fn child_listen_v4() -> Result<u16, (i32, i32)> {
    child_listen_v4_at([127, 0, 0, 1])
}

/// As [`child_listen_v4`], on another IPv4 address.
pub unsafe fn child_listen_v4_at(address: [u8; 4]) -> Result<u16, (i32, i32)> {
    let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
    if fd < 0 {
        return Err((1, errno()));
    }
    let mut addr: libc::sockaddr_in = std::mem::zeroed();
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes(address);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0 {
        return Err((2, errno()));
    }
    if libc::listen(fd, 16) != 0 {
        return Err((3, errno()));
    }
    let mut bound: libc::sockaddr_in = std::mem::zeroed();
    let mut bound_len = len;
    if libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_in).cast(), &mut bound_len) != 0 {
        return Err((4, errno()));
    }
    Ok(u16::from_be(bound.sin_port))
}

pub const CHILD_LISTEN_STAGES: [&str; 4] = ["socket", "bind", "listen", "getsockname"];

// ---------------------------------------------------------------- chromium

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Skips the test when Chromium is not installed.
pub fn require_chromium() {
    require_program(CHROMIUM, "chromium");
}

/// `chromium --headless --dump-dom URL` with a fresh profile and `extra`
/// switches (e.g. `--host-resolver-rules=...`): the DOM after load.
pub fn dump_dom(url: &str, extra: &[&str]) -> String {
    use std::os::unix::process::CommandExt;

    let profile = ScratchDir::new("chromium-profile");
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.path.display()))
        .args(["--dump-dom", url])
        .env("HOME", &profile.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that the browser and its helpers are
        // stopped together (by that group's id).
        .process_group(0);
    let out = run_within(command, &format!("chromium for {url}"), BROWSER_TIMEOUT);
    assert_eq!(out.code, 0, "chromium exited with {} for {url}\n{}", out.code, out.stdout);
    out.stdout
}

// ---------------------------------------------------------------- namespaces

/// A network namespace made with `ip netns add`, deleted on drop.
pub struct NetnsGuard {
    pub name: String,
}

impl NetnsGuard {
    /// `ip netns add berth-test-<pid>-<tag>` and `ip -n NAME link set lo up`.
    pub fn create(tag: &str) -> NetnsGuard {
        require_root("network namespaces");
        require_program("ip", "iproute2");
        let name = format!("berth-test-{}-{tag}", std::process::id());
        // A leftover from a crashed earlier run with the same pid: remove it.
        let _ = ip(&["netns", "del", &name]);
        let (ok, err) = ip(&["netns", "add", &name]);
        assert!(ok, "ip netns add {name} failed: {err}");
        let guard = NetnsGuard { name };
        let (ok, err) = ip(&["-n", &guard.name, "link", "set", "lo", "up"]);
        assert!(ok, "ip -n {} link set lo up failed: {err}", guard.name);
        guard
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let (ok, err) = ip(&["netns", "del", &self.name]);
        if !ok {
            eprintln!("warning: ip netns del {} failed: {err}", self.name);
        }
    }
}

/// The address of namespace A on the link of a [`Link`].
pub const A_ADDR: &str = "198.51.100.1";

/// Two namespaces joined by a veth pair: A (198.51.100.1 on ra0) and B
/// (198.51.100.2 on rb0).
pub struct Link {
    pub a: NetnsGuard,
    pub b: NetnsGuard,
}

impl Link {
    pub fn new(tag: &str) -> Link {
        let a = NetnsGuard::create(&format!("{tag}a"));
        let b = NetnsGuard::create(&format!("{tag}b"));
        for args in [
            vec![
                "-n",
                a.name.as_str(),
                "link",
                "add",
                "ra0",
                "type",
                "veth",
                "peer",
                "name",
                "rb0",
                "netns",
                b.name.as_str(),
            ],
            vec!["-n", a.name.as_str(), "addr", "add", "198.51.100.1/24", "dev", "ra0"],
            vec!["-n", b.name.as_str(), "addr", "add", "198.51.100.2/24", "dev", "rb0"],
            vec!["-n", a.name.as_str(), "link", "set", "ra0", "up"],
            vec!["-n", b.name.as_str(), "link", "set", "rb0", "up"],
        ] {
            let (ok, err) = ip(&args);
            assert!(ok, "ip {args:?}: {err}");
        }
        Link { a, b }
    }

    /// Runs a program inside A; panics with its stderr on failure.
    pub fn in_a(&self, args: &[&str]) {
        run_in(&self.a, args);
    }

    /// Can B open a TCP connection to A's address at `port`?
    pub fn b_connects(&self, port: u16) -> bool {
        self.b_connects_to(A_ADDR, port)
    }

    /// Can B open a TCP connection to `address`:`port` (1.5 s at most)?
    pub fn b_connects_to(&self, address: &str, port: u16) -> bool {
        let script =
            "import socket,sys\ns=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\ns.close()";
        let status = Command::new("ip")
            .args(["netns", "exec", &self.b.name, "python3", "-c", script, address, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run python3 in B");
        status.success()
    }

    /// Makes B send packets for 127.0.0.1 to A over the link, as an
    /// attacker on the same network does (CVE-2020-8558): B's local table
    /// moves behind a rule that routes 127.0.0.1/32 via A.
    pub fn b_routes_loopback_to_a(&self) {
        let b = self.b.name.as_str();
        for args in [
            vec!["-n", b, "rule", "add", "pref", "100", "lookup", "local"],
            vec!["-n", b, "rule", "del", "pref", "0"],
            vec!["-n", b, "rule", "add", "pref", "10", "to", "127.0.0.1/32", "lookup", "200"],
            vec![
                "-n",
                b,
                "route",
                "add",
                "127.0.0.1/32",
                "via",
                A_ADDR,
                "dev",
                "rb0",
                "src",
                "198.51.100.2",
                "table",
                "200",
            ],
        ] {
            let (ok, err) = ip(&args);
            assert!(ok, "ip {args:?}: {err}");
        }
        run_in(&self.b, &["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
        run_in(&self.b, &["sysctl", "-qw", "net.ipv4.conf.rb0.route_localnet=1"]);
    }
}

pub fn run_in(netns: &NetnsGuard, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ip netns exec");
    assert!(out.status.success(), "{args:?} in {} failed: {}", netns.name, String::from_utf8_lossy(&out.stderr));
}

/// Runs `ip ARGS`; (success, stderr).
pub fn ip(args: &[&str]) -> (bool, String) {
    match Command::new("ip").args(args).stdin(Stdio::null()).output() {
        Ok(out) => (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(e) => (false, format!("cannot run ip: {e}")),
    }
}

/// Polls `check` every 20 ms until it returns Some or `timeout` has passed
/// (bounded by the time, whatever each check takes: one last check runs
/// after the deadline, so a slow check is not cut short by its own length).
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if started.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- port probes
//
// The machine may be busy with other programs' sockets. Before asserting
// that berth finds *nothing* on a port, a test checks with bind(2) that no
// other socket of that protocol uses the port at the addresses concerned:
// bind without SO_REUSEADDR fails when any socket (listening, connected,
// or TIME_WAIT) already has the port there.

/// Where a probe binds.
#[derive(Clone, Copy, Debug)]
pub enum ProbeAt {
    /// One IPv4 address (0.0.0.0 for all of them).
    V4(std::net::Ipv4Addr),
    /// One IPv6 address with IPV6_V6ONLY set (:: for every IPv6 address).
    V6Only(Ipv6Addr),
    /// `::` dual-stack: every IPv4 and IPv6 address.
    Everywhere,
}

/// True when a socket of `protocol` ("tcp" or "udp") could bind `port` at
/// `at` right now, i.e. no other socket of that protocol has it there.
pub fn port_unused(protocol: &str, port: u16, at: ProbeAt) -> bool {
    let kind = if protocol == "tcp" { libc::SOCK_STREAM } else { libc::SOCK_DGRAM };
    // SAFETY: plain socket calls on a descriptor we own and close.
    unsafe {
        let family = if matches!(at, ProbeAt::V4(_)) { libc::AF_INET } else { libc::AF_INET6 };
        let fd = libc::socket(family, kind | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "probe socket: {}", std::io::Error::last_os_error());
        let rc = match at {
            ProbeAt::V4(ip) => {
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_port = port.to_be();
                addr.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
            ProbeAt::V6Only(_) | ProbeAt::Everywhere => {
                let (ip, v6only) = match at {
                    ProbeAt::V6Only(ip) => (ip, 1 as libc::c_int),
                    _ => (Ipv6Addr::UNSPECIFIED, 0),
                };
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&v6only as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
                addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                addr.sin6_port = port.to_be();
                addr.sin6_addr.s6_addr = ip.octets();
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        };
        libc::close(fd);
        rc == 0
    }
}

/// Makes sockets with `make` (at most 50 tries) until `quiet` says nothing
/// else on the machine shares the port in a way that would change the test.
pub fn quiet<T>(mut make: impl FnMut() -> (T, u16), quiet: impl Fn(u16) -> bool) -> (T, u16) {
    for _ in 0..50 {
        let (socket, port) = make();
        if quiet(port) {
            return (socket, port);
        }
    }
    panic!("could not find a port that no other socket on this machine shares (50 tries)");
}

/// A port no TCP or UDP socket uses anywhere right now (bound, read, released).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let port = released_port();
        if port_unused("tcp", port, ProbeAt::Everywhere) && port_unused("udp", port, ProbeAt::Everywhere) {
            return port;
        }
    }
    panic!("no free port found in 50 tries");
}

/// A 127.0.0.1 listener whose port no other socket shares: no UDP socket
/// anywhere, no IPv6 TCP socket, nothing on 127.0.0.2.
pub fn quiet_listener_v4() -> (TcpListener, u16) {
    quiet(listener_v4, |port| {
        port_unused("udp", port, ProbeAt::Everywhere)
            && port_unused("tcp", port, ProbeAt::V6Only(Ipv6Addr::UNSPECIFIED))
            && port_unused("tcp", port, ProbeAt::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)))
    })
}

// ---------------------------------------------------------------- schema

/// The field names of the first table after `heading` in docs/json.md
/// (rows written as "| `name` | type | meaning |"), sorted.
pub fn documented_fields(heading: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text.find(heading).unwrap_or_else(|| panic!("{path} has no '{heading}'"));
    let mut fields = Vec::new();
    let mut in_table = false;
    for line in text[start..].lines().skip(1) {
        if let Some(rest) = line.strip_prefix("| `") {
            in_table = true;
            if let Some((name, _)) = rest.split_once('`') {
                fields.push(name.to_string());
            }
        } else if in_table && !line.starts_with('|') {
            break;
        }
    }
    fields.sort();
    fields
}

/// The keys of a JSON object, sorted.
pub fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("a JSON object").keys().cloned().collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------- wrapped runs

/// Runs `wrapper` (for example `ip netns exec NAME`, or `unshare -m sh -c
/// ...`) followed by the berth binary and `args`, with the clean
/// environment and time limit of [`run_berth_with`]. The wrapper is killed
/// by its pid if it overruns.
pub fn run_berth_wrapped(wrapper: &[&str], args: &[&str]) -> Output {
    let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
    let mut command = clean_command(program);
    command.args(wrapper_args).arg(env!("CARGO_BIN_EXE_berth")).args(args);
    run_to_end(command, &format!("{wrapper:?} berth {args:?}"))
}

// ---------------------------------------------------------------- TIME_WAIT

/// A port whose only socket is a TIME_WAIT remnant: a connection to a
/// quiet listener is closed by the server first (the active close leaves
/// TIME_WAIT on the server's end, whose local port is the listener's),
/// then by the client, and the listener is dropped. Returns the port.
pub fn time_wait_port() -> u16 {
    let (listener, port) = quiet_listener_v4();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    drop(accepted);
    // Let the client see the FIN, then close it too.
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1];
    let _ = std::io::Read::read(&mut &client, &mut buf);
    let _ = client.shutdown(std::net::Shutdown::Both);
    drop(client);
    drop(listener);
    port
}

// ---------------------------------------------------------------- berth serve

/// A directory under the system temp dir, removed (with everything in it) on drop.
pub struct ScratchDir {
    pub path: std::path::PathBuf,
}

impl ScratchDir {
    pub fn new(tag: &str) -> ScratchDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("berth-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        ScratchDir { path }
    }

    /// Writes `content` to `relative` (parents created), returns the full path.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A running `berth serve` child, started with `--port 0`; its URL is read
/// from the "serving ... on http://..." line on stderr. Its stderr keeps
/// being collected; the child is killed by its pid and reaped on drop.
pub struct ServeChild {
    child: std::process::Child,
    pub url: String,
    pub port: u16,
    stderr: std::sync::Arc<Mutex<String>>,
}

impl ServeChild {
    /// `berth serve ARGS --port 0` with extra environment `env`.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServeChild {
        ServeChild::start_with(args, env, |_| {})
    }

    /// As [`ServeChild::start`], with `configure` given the command last
    /// (for a `pre_exec` hook, say).
    pub fn start_with(args: &[&str], env: &[(&str, &str)], configure: impl FnOnce(&mut Command)) -> ServeChild {
        use std::io::BufRead;
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        configure(&mut command);
        let mut child = command.spawn().expect("cannot start berth serve");
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr piped");
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(pipe);
            let mut line = String::new();
            // Ends when berth exits and the pipe closes.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                collected.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
                line.clear();
            }
        });
        let mut server = ServeChild { child, url: String::new(), port: 0, stderr };
        let started = Instant::now();
        for _ in 0..1000 {
            let text = server.stderr();
            if let Some(line) = text.lines().find(|l| l.starts_with("berth: serving ")) {
                let url = line.rsplit(' ').next().expect("a URL").to_string();
                let port = url.trim_end_matches('/').rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
                server.url = url;
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("berth serve {args:?} exited ({status}) before serving:\n{text}");
            }
            assert!(started.elapsed() < Duration::from_secs(15), "berth serve {args:?} printed no URL:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("berth serve {args:?} printed no URL:\n{}", server.stderr());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything berth wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits (at most `timeout`) until stderr contains `needle`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.stderr().contains(needle).then_some(())).is_some()
    }

    /// The child still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        // Child::kill signals the pid of this (unreaped) child; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
