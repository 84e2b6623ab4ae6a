//! Child processes the tests start: forked children that hold sockets
//! (and report back through a pipe, async-signal-safe), spawned programs
//! run to their end within a time limit, and guards that kill and reap
//! every child on drop, on success and on failure.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::RawFd;
use std::process::{Child, ChildStdout, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::berth::Output;

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

/// The first line a child prints on `stdout` (a stand-in server saying
/// its port), waiting at most `limit`: read on a thread, so a child that
/// prints nothing cannot stall the test. None when nothing came in time.
pub fn first_line(stdout: ChildStdout, limit: Duration) -> Option<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    receiver.recv_timeout(limit).ok()
}

/// A spawned child process: killed by its pid (SIGKILL) and reaped on drop.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    pub fn pid(&self) -> u64 {
        u64::from(self.0.id())
    }
}

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

/// Everything `reader` gives until its end, as text; panics when that takes
/// longer than `limit` (the read goes on on a thread of its own, so a child
/// that never closes its output cannot hang the test).
pub fn read_within(mut reader: impl Read + Send + 'static, limit: Duration, what: &str) -> String {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let outcome = reader.read_to_end(&mut text).map(|_| text);
        let _ = done.send(outcome);
    });
    match result.recv_timeout(limit) {
        Ok(Ok(text)) => String::from_utf8_lossy(&text).into_owned(),
        Ok(Err(e)) => panic!("reading {what}: {e}"),
        Err(_) => panic!("{what} did not end within {limit:?}"),
    }
}

/// Everything `child` writes on its (piped) stderr, collected into the
/// returned text by a thread that ends when berth exits and the pipe closes.
pub fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let stderr = Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().expect("stderr piped");
    let collected = stderr.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            collected.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
            line.clear();
        }
    });
    stderr
}
