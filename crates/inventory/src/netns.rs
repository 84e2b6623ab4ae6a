//! Network namespaces: which exist, and reading the sockets inside each.
//!
//! A namespace is found through a process living in it (/proc/PID/ns/net)
//! or a name `ip netns add` gave it (/run/netns/NAME). To read one, a
//! short-lived thread enters it with setns(2) — which changes only that
//! thread's namespace — and runs the same socket reader as for our own.
//! Socket inodes are global, so owners are found by the one fd pass.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::{interfaces, processes, read_sockets, Namespace, Query, Socket};

/// Directory where `ip netns` keeps named namespaces.
const NAMED_NETNS_DIR: &str = "/run/netns";

/// The namespace berth's calling thread is in.
pub fn own_namespace() -> u64 {
    fs::read_link("/proc/thread-self/ns/net")
        .ok()
        .and_then(|l| l.to_str().and_then(processes::namespace_inode))
        .unwrap_or(0)
}

/// What reading the other namespaces found.
pub(crate) struct OtherNamespaces {
    /// The namespaces that could be entered and read.
    pub(crate) namespaces: Vec<Namespace>,
    /// Their sockets, owners not attached yet.
    pub(crate) sockets: Vec<Socket>,
    /// `NAME: reason` for each namespace that could not be read.
    pub(crate) skipped: Vec<String>,
}

/// A namespace to read: how to open it and what it is called.
struct Candidate {
    path: PathBuf,
    name: Option<String>,
}

/// Reads every namespace other than `own`.
pub(crate) fn read_other_namespaces(
    query: &Query,
    own: u64,
    netns_of_pid: &[(u32, u64)],
    bindv6only: bool,
) -> OtherNamespaces {
    let mut candidates: BTreeMap<u64, Candidate> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(NAMED_NETNS_DIR) {
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(meta) = fs::metadata(&path) {
                let name = entry.file_name().to_string_lossy().into_owned();
                candidates.insert(meta.ino(), Candidate { path, name: Some(name) });
            }
        }
    }
    for &(pid, inode) in netns_of_pid {
        candidates
            .entry(inode)
            .or_insert_with(|| Candidate { path: PathBuf::from(format!("/proc/{pid}/ns/net")), name: None });
    }
    candidates.remove(&own);

    let mut result = OtherNamespaces { namespaces: Vec::new(), sockets: Vec::new(), skipped: Vec::new() };
    for (inode, candidate) in candidates {
        let label = candidate.name.clone().unwrap_or_else(|| format!("net:[{inode}]"));
        match read_one(&candidate, query, inode, bindv6only) {
            Ok((sockets, interfaces)) => {
                result.sockets.extend(sockets);
                result.namespaces.push(Namespace {
                    inode,
                    name: candidate.name,
                    own: false,
                    container: None,
                    interfaces,
                    path: Some(candidate.path),
                });
            }
            Err(reason) => result.skipped.push(format!("{label}: {reason}")),
        }
    }
    result
}

/// Enters the namespace on a fresh thread and reads it there.
fn read_one(
    candidate: &Candidate,
    query: &Query,
    inode: u64,
    bindv6only: bool,
) -> Result<(Vec<Socket>, Vec<interfaces::Interface>), String> {
    let file = File::open(&candidate.path).map_err(|e| format!("cannot open {}: {e}", candidate.path.display()))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on this thread only; the thread ends right after.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    let error = std::io::Error::last_os_error();
                    return Err(if error.raw_os_error() == Some(libc::EPERM) {
                        "entering it needs root (CAP_SYS_ADMIN)".to_string()
                    } else {
                        format!("setns failed: {error}")
                    });
                }
                let raw = read_sockets(query, inode, bindv6only).map_err(|e| e.to_string())?;
                Ok((raw.sockets, interfaces::list()))
            })
            .join()
            .unwrap_or_else(|_| Err("reader thread panicked".to_string()))
    })
}
