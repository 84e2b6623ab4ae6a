//! Knowing when cached files may have changed, without a stat(2) per request.
//!
//! Checking a cached file with stat on every request costs about a sixth of
//! the server's throughput on small files (the path walk and the syscall).
//! Instead, when a file is cached, inotify watches the file itself and every
//! directory on its path from the root; any event (a write, a rename, a new
//! or deleted name, a changed symlink) bumps one global [`generation`]. A
//! cached entry is trusted without a stat while the generation is the one it
//! was checked under, and for at most [`TRUST_MS`]: the bound covers what
//! inotify cannot see (other machines writing to a network file system).
//!
//! The kernel queues an inotify event inside the very write(2) or rename(2)
//! that causes it, and [`generation`] looks at the queue (one FIONREAD,
//! cheaper than a stat) before a cached entry is trusted, so an edit made
//! before a request shows in its response. Where inotify is not available
//! (no more instances or watches), entries are checked with stat on every
//! request.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A cached file is checked with stat at least this often (milliseconds).
pub const TRUST_MS: u64 = 1000;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A number that changes whenever a watched file or directory may have
/// changed; None when that cannot be known (no inotify): then trust nothing
/// without a stat.
///
/// Looks at the event queue first (FIONREAD, one cheap system call): an
/// event is queued inside the write(2) or rename(2) that causes it, so a
/// change made before a request was sent is always seen while serving it.
/// Whoever finds events bumps the generation *before* taking them off the
/// queue, so a worker that finds the queue empty because another one just
/// emptied it still sees the new generation. No locks: workers never wait
/// for each other here.
pub fn generation() -> Option<u64> {
    let watcher = instance()?;
    if GENERATION.load(Ordering::SeqCst) == BROKEN {
        return None;
    }
    let fd = watcher.fd.as_raw_fd();
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int we own.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) } != 0 {
        GENERATION.store(BROKEN, Ordering::SeqCst);
        return None;
    }
    if pending > 0 {
        GENERATION.fetch_add(1, Ordering::SeqCst);
        let mut buffer = [0u8; 4096];
        for _ in 0..64 {
            // SAFETY: read into a buffer we own, at most its length.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                break; // EAGAIN: empty (perhaps emptied by another worker)
            }
        }
    }
    Some(GENERATION.load(Ordering::SeqCst)).filter(|&g| g != BROKEN)
}

/// The generation once the inotify descriptor failed.
const BROKEN: u64 = u64::MAX;

struct Watcher {
    fd: OwnedFd,
}

/// The inotify instance, if one could be made.
fn instance() -> Option<&'static Watcher> {
    static INSTANCE: OnceLock<Option<Watcher>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            // SAFETY: inotify_init1 returns a new descriptor or -1.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
            // SAFETY: the descriptor is new and ours.
            (fd >= 0).then(|| Watcher { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
        })
        .as_ref()
}

const FILE_EVENTS: u32 =
    libc::IN_MODIFY | libc::IN_ATTRIB | libc::IN_CLOSE_WRITE | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
const DIR_EVENTS: u32 = FILE_EVENTS | libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;

/// Watches `file` (open, at `relative` under `root`) and the directories
/// leading to it. False when that is not possible: then the caller must
/// not trust the entry without a stat.
pub fn watch(root: &Path, relative: &str, file: &File) -> bool {
    let Some(watcher) = instance() else { return false };
    if GENERATION.load(Ordering::Acquire) == BROKEN {
        return false;
    }
    let inotify = &watcher.fd;
    // The file's own inode, whatever links led to it.
    if !add(inotify, Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())), FILE_EVENTS) {
        return false;
    }
    let mut dir = root.to_path_buf();
    if !add(inotify, &dir, DIR_EVENTS) {
        return false;
    }
    let mut segments: Vec<&str> = relative.split('/').collect();
    segments.pop();
    for segment in segments {
        dir.push(segment);
        if !add(inotify, &dir, DIR_EVENTS) {
            return false;
        }
    }
    true
}

fn add(inotify: &OwnedFd, path: &Path, mask: u32) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a NUL-terminated path; the kernel returns a watch descriptor or -1.
    unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), c_path.as_ptr(), mask) >= 0 }
}
