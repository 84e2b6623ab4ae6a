//! Who holds which socket: one pass over /proc/PID/fd, and the facts about
//! the processes found (command line, user, start time, container, unit).
//!
//! The pass is the expensive part of every listing (one readlink per open
//! descriptor on the machine), so it is written for speed: directory file
//! descriptors and readlinkat instead of path strings, a reused buffer, no
//! allocation per descriptor, and the pids split over the machine's cores.
//! Everything else about a process is read only for the few that own a
//! socket we report.

use std::collections::HashSet;
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{cgroup, users};

/// What a process is, as far as berth reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    /// The process id (the thread-group id, as /proc lists it).
    pub pid: u32,
    /// The parent's pid (/proc/PID/stat field 4); 0 for the processes the
    /// kernel starts itself (init, kthreadd).
    pub ppid: u32,
    /// The kernel's short name (comm), at most 15 bytes.
    pub name: String,
    /// The full command line; empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    /// The effective uid: the owner of /proc/PID.
    pub uid: u32,
    /// The name of `uid` (getpwuid_r(3), so NSS sources such as LDAP
    /// count); None when it has none.
    pub user: Option<String>,
    /// Start time in seconds since the Unix epoch.
    pub start_time: Option<u64>,
    /// The kernel's start time in clock ticks since boot (/proc/PID/stat
    /// field 22): what tells a process from a later one that got the same
    /// pid within the same second. Not in the JSON output.
    #[serde(skip)]
    pub start_ticks: u64,
    /// The container it runs in, from /proc/PID/cgroup.
    pub container: Option<Container>,
    /// The innermost systemd service (`nginx.service`) or, failing that,
    /// scope (`session-3.scope`) its cgroup path names.
    pub systemd_unit: Option<String>,
    /// Inode of the process's network namespace (/proc/PID/ns/net); None
    /// when that link cannot be read (another user's process, without root).
    pub netns: Option<u64>,
}

/// A container, as the process's cgroup names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    /// docker, podman, containerd, cri-o, lxc, kubernetes.
    pub runtime: String,
    /// The container's id as the cgroup path gives it (a long hex id for
    /// docker, podman, containerd, cri-o and kubernetes; the container's
    /// name for lxc).
    pub id: String,
}

/// The result of the pass over /proc.
#[derive(Default)]
pub(crate) struct FdScan {
    /// (socket inode, pid, fd) for every socket descriptor on the machine.
    pub(crate) socket_fds: Vec<(u64, u32, u32)>,
    /// Processes whose fd directory could not be read.
    pub(crate) unreadable_pids: usize,
    /// pid -> network namespace inode, when asked for.
    pub(crate) netns_of_pid: Vec<(u32, u64)>,
}

/// Reads /proc/*/fd once for all processes, on every core. With
/// `with_netns` it also notes each process's network namespace.
pub(crate) fn scan_socket_fds(with_netns: bool) -> FdScan {
    let pids = list_pids();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let threads = threads.min(pids.len().max(1));
    let mut results: Vec<FdScan> = Vec::with_capacity(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // Interleave pids so each thread gets a like share of big and small processes.
                let mine: Vec<u32> = pids.iter().copied().skip(t).step_by(threads).collect();
                scope.spawn(move || scan_pids(&mine, with_netns))
            })
            .collect();
        for handle in handles {
            results.push(handle.join().expect("fd scan thread panicked"));
        }
    });
    let mut total = FdScan { socket_fds: Vec::new(), unreadable_pids: 0, netns_of_pid: Vec::new() };
    for part in results {
        total.socket_fds.extend(part.socket_fds);
        total.unreadable_pids += part.unreadable_pids;
        total.netns_of_pid.extend(part.netns_of_pid);
    }
    total
}

/// Every numeric entry of /proc: the thread-group leaders.
pub(crate) fn list_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())).collect()
}

fn scan_pids(pids: &[u32], with_netns: bool) -> FdScan {
    let mut out = FdScan { socket_fds: Vec::new(), unreadable_pids: 0, netns_of_pid: Vec::new() };
    let mut path = Vec::with_capacity(64);
    let mut link = [0u8; 64];
    for &pid in pids {
        if with_netns {
            if let Some(ns) = netns_of(pid) {
                out.netns_of_pid.push((pid, ns));
            }
        }
        path.clear();
        path.extend_from_slice(format!("/proc/{pid}/fd\0").as_bytes());
        // SAFETY: `path` is NUL-terminated; the directory stream is closed below.
        let dir = unsafe {
            let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
            if fd < 0 {
                let errno = *libc::__errno_location();
                // ENOENT: the process exited between listing and reading.
                if errno != libc::ENOENT {
                    out.unreadable_pids += 1;
                }
                continue;
            }
            let dir = libc::fdopendir(fd);
            if dir.is_null() {
                libc::close(fd);
                continue;
            }
            dir
        };
        // SAFETY: `dir` is a valid stream until closedir; d_name is NUL-terminated.
        unsafe {
            let dir_fd = libc::dirfd(dir);
            loop {
                let entry = libc::readdir(dir);
                if entry.is_null() {
                    break;
                }
                let name = CStr::from_ptr((*entry).d_name.as_ptr());
                let Some(fd_number) = parse_decimal(name.to_bytes()) else { continue };
                let len = libc::readlinkat(dir_fd, name.as_ptr(), link.as_mut_ptr().cast(), link.len());
                if len <= 0 {
                    continue;
                }
                if let Some(inode) = socket_inode(&link[..len as usize]) {
                    out.socket_fds.push((inode, pid, fd_number as u32));
                }
            }
            libc::closedir(dir);
        }
    }
    out
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_decimal(digits)
}

fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    Some(value)
}

/// The network namespace inode of a process (`net:[4026531840]`).
pub(crate) fn netns_of(pid: u32) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    namespace_inode(link.to_str()?)
}

/// `net:[4026531840]` -> 4026531840.
pub(crate) fn namespace_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// berth's own pid and every ancestor's, up to pid 1: the processes `kill`
/// must never stop (stopping the shell that runs berth ends the session).
pub fn self_and_ancestors() -> Vec<u32> {
    let mut names = users::UserNames::default();
    let mut chain = vec![std::process::id()];
    let mut current = std::process::id();
    // Bounded: no chain is longer than the pid space allows.
    for _ in 0..4096 {
        match read_process(current, &mut names) {
            Some(p) if p.ppid != 0 && !chain.contains(&p.ppid) => {
                chain.push(p.ppid);
                current = p.ppid;
            }
            _ => break,
        }
    }
    chain
}

/// The start time of a process in clock ticks since boot, or None if it is
/// gone. `kill` compares it with the snapshot's [`Process::start_ticks`] so
/// that a pid reused by a new process in the meantime is never signalled:
/// ticks (1/100 s), not seconds, since a pid can be reused within a second.
pub fn start_ticks_of(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat(&stat)?.start_ticks)
}

/// The executable a process runs, compared with the file now at its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// The path the process was started from, without the kernel's
    /// " (deleted)" mark.
    pub path: String,
    /// The file it runs was unlinked from that path (the kernel marks the
    /// link " (deleted)"; replacing a file by renaming another over it
    /// does this too).
    pub deleted: bool,
    /// The file the process runs.
    pub running: FileIdentity,
    /// The file now at `path`, seen from the process's own root (so that a
    /// container's process is compared with the container's files); None
    /// when nothing is there or it cannot be seen.
    pub on_disk: Option<FileIdentity>,
}

/// Which file a path names, as stat(2) tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// st_dev: the device (file system) the file is on.
    pub device: u64,
    /// st_ino: the file's inode on that device.
    pub inode: u64,
    /// st_size, in bytes.
    pub size: u64,
    /// Modification time, Unix seconds.
    pub modified: i64,
}

impl FileIdentity {
    fn of(meta: &fs::Metadata) -> FileIdentity {
        FileIdentity { device: meta.dev(), inode: meta.ino(), size: meta.size(), modified: meta.mtime() }
    }

    /// Another file than `other`. Layered file systems (overlayfs) may
    /// show the running file on another device than the path: then only a
    /// different size or modification time counts.
    pub fn differs_from(&self, other: &FileIdentity) -> bool {
        if self.device == other.device {
            self.inode != other.inode
        } else {
            (self.size, self.modified) != (other.size, other.modified)
        }
    }
}

impl Executable {
    /// The path now holds another file than the one the process runs.
    pub fn replaced(&self) -> bool {
        self.on_disk.is_some_and(|file| file.differs_from(&self.running))
    }
}

/// Reads /proc/PID/exe: the path it names and the identity of the running
/// file, and stats that path inside the process's root (/proc/PID/root) to
/// see whether it still holds the same file. Err when the process cannot
/// be read (another user's without root, a kernel thread, gone).
pub fn executable_of(pid: u32) -> Result<Executable, std::io::Error> {
    let exe = format!("/proc/{pid}/exe");
    let link = fs::read_link(&exe)?.to_string_lossy().into_owned();
    let running = FileIdentity::of(&fs::metadata(&exe)?);
    let on_disk = |path: &str| fs::metadata(format!("/proc/{pid}/root{path}")).ok().map(|m| FileIdentity::of(&m));
    match link.strip_suffix(" (deleted)") {
        // A file really named "... (deleted)" that is still there is not deleted.
        Some(_) if on_disk(&link).is_some_and(|file| !file.differs_from(&running)) => {
            Ok(Executable { on_disk: on_disk(&link), path: link, deleted: false, running })
        }
        Some(path) => Ok(Executable { on_disk: on_disk(path), path: path.to_string(), deleted: true, running }),
        None => Ok(Executable { on_disk: on_disk(&link), path: link, deleted: false, running }),
    }
}

/// Reads the facts of each pid; processes that vanished meanwhile are left out.
pub(crate) fn read_processes(pids: &HashSet<u32>) -> FxHashMap<u32, Process> {
    let mut names = users::UserNames::default();
    pids.iter().filter_map(|&pid| read_process(pid, &mut names)).map(|p| (p.pid, p)).collect()
}

/// Adds every ancestor of the processes already present, up to pid 1.
pub(crate) fn add_ancestors(processes: &mut FxHashMap<u32, Process>) {
    let mut names = users::UserNames::default();
    let mut pending: Vec<u32> = processes.values().map(|p| p.ppid).collect();
    // Bounded: a parent chain cannot be longer than the number of processes.
    let mut budget = 100_000;
    while let Some(pid) = pending.pop() {
        budget -= 1;
        if pid == 0 || processes.contains_key(&pid) || budget == 0 {
            continue;
        }
        if let Some(process) = read_process(pid, &mut names) {
            pending.push(process.ppid);
            processes.insert(pid, process);
        }
    }
}

/// One process: /proc/PID/stat, cmdline, cgroup and ns/net.
pub(crate) fn read_process(pid: u32, names: &mut users::UserNames) -> Option<Process> {
    let base = format!("/proc/{pid}");
    let uid = fs::metadata(&base).ok()?.uid();
    let stat = fs::read_to_string(format!("{base}/stat")).ok()?;
    let parsed = parse_stat(&stat)?;
    let cmdline = fs::read(format!("{base}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let cgroup = fs::read_to_string(format!("{base}/cgroup")).unwrap_or_default();
    let (container, systemd_unit) = cgroup::parse(&cgroup);
    Some(Process {
        pid,
        ppid: parsed.ppid,
        name: parsed.name,
        cmdline,
        uid,
        user: names.name_of(uid),
        start_time: boot_time().map(|boot| boot + parsed.start_ticks / clock_ticks_per_second()),
        start_ticks: parsed.start_ticks,
        container,
        systemd_unit,
        netns: netns_of(pid),
    })
}

struct Stat {
    name: String,
    ppid: u32,
    start_ticks: u64,
}

/// `pid (comm) state ppid ... starttime ...`: comm may hold spaces and
/// parentheses, so split at the last ')'.
fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_ascii_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, starttime field 22.
    let ppid = rest.get(1)?.parse().ok()?;
    let start_ticks = rest.get(19)?.parse().ok()?;
    Some(Stat { name, ppid, start_ticks })
}

/// Boot time in Unix seconds, from /proc/stat's `btime`.
fn boot_time() -> Option<u64> {
    static BOOT: OnceLock<Option<u64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    })
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_socket_links_only() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn stat_with_odd_command_names() {
        let stat = "42 (my (odd) name) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        let parsed = parse_stat(stat).unwrap();
        assert_eq!(parsed.name, "my (odd) name");
        assert_eq!(parsed.ppid, 7);
        assert_eq!(parsed.start_ticks, 123456);
    }

    #[test]
    fn own_executable_is_on_disk() {
        let exe = executable_of(std::process::id()).unwrap();
        assert!(!exe.deleted, "{exe:?}");
        assert!(!exe.replaced(), "{exe:?}");
        assert_eq!(exe.on_disk, Some(exe.running));
        assert!(executable_of(u32::MAX).is_err());
    }

    #[test]
    fn identities_compare_by_inode_or_by_content_across_devices() {
        let file = FileIdentity { device: 1, inode: 10, size: 100, modified: 5 };
        assert!(!file.differs_from(&file));
        assert!(file.differs_from(&FileIdentity { inode: 11, ..file }));
        // overlayfs may show another device for the same file.
        assert!(!file.differs_from(&FileIdentity { device: 2, inode: 99, ..file }));
        assert!(file.differs_from(&FileIdentity { device: 2, size: 101, ..file }));
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        let mut names = users::UserNames::default();
        let process = read_process(me, &mut names).unwrap();
        assert_eq!(process.pid, me);
        assert!(!process.cmdline.is_empty());
        assert!(process.start_time.is_some());
    }
}
