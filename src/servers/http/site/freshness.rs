//! Knowing when cached files may have changed, without a stat(2) per request.
//!
//! Checking a cached file on every request costs about a sixth of the
//! server's throughput on small files (the path walk and the syscalls).
//! Instead, when a file is cached, inotify watches the file itself and every
//! directory on its path from the root; any event (a write, a rename, a new
//! or deleted name, a changed symlink) bumps one global [`generation`]. A
//! cached entry is trusted without a check while the generation is the one
//! it was checked under, and for at most [`TRUST_MS`]: the bound covers what
//! inotify cannot see (other machines writing to a network file system).
//!
//! The kernel queues an inotify event inside the very write(2) or rename(2)
//! that causes it, and [`generation`] looks at the queue (one FIONREAD,
//! cheaper than a stat) before a cached entry is trusted, so an edit made
//! before a request shows in its response.
//!
//! Watches are a per-user resource shared with every other program of that
//! user (`fs.inotify.max_user_watches`), so berth holds at most
//! [`MAX_WATCHES`] of them: each cache entry holds its watches
//! ([`Watches`]) and gives them back when it is dropped (replaced, evicted).
//! An entry that cannot be watched (the cap, or no inotify at all) is
//! checked from a descriptor on every request instead: opened again beneath
//! the root and fstat'ed.

use std::collections::hash_map::Entry;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rustc_hash::FxHashMap;

use super::path::Root;

/// A cached file is checked at least this often (milliseconds).
pub const TRUST_MS: u64 = 1000;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A number that changes whenever a watched file or directory may have
/// changed; None when that cannot be known (no inotify): then trust nothing
/// without a check.
///
/// Looks at the event queue first (FIONREAD, one cheap system call): an
/// event is queued inside the write(2) or rename(2) that causes it, so a
/// change made before a request was sent is always seen while serving it.
/// Whoever finds events bumps the generation *before* taking them off the
/// queue, so a worker that finds the queue empty because another one just
/// emptied it still sees the new generation. No locks on the way; only
/// events that say the kernel dropped watches take the registry's lock,
/// to give those watches' places under the cap back.
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
        let mut gone = Vec::new();
        for _ in 0..64 {
            // SAFETY: read into a buffer we own, at most its length.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                break; // EAGAIN: empty (perhaps emptied by another worker)
            }
            ignored(&buffer[..n as usize], &mut gone);
        }
        if !gone.is_empty() {
            // The kernel dropped these watches (their inode was deleted, or
            // berth removed them): they no longer count against the cap.
            let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(registry) = registry.as_mut() {
                for wd in gone {
                    registry.remove(&wd);
                }
            }
        }
    }
    Some(GENERATION.load(Ordering::SeqCst)).filter(|&g| g != BROKEN)
}

/// Adds to `gone` the watch descriptors of the IN_IGNORED events in `events`
/// (whole `struct inotify_event`s, as read(2) returns them). Watch
/// descriptors are handed out cyclically, so one that is gone is not reused
/// while berth could still mistake it for the old one.
fn ignored(mut events: &[u8], gone: &mut Vec<i32>) {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    while events.len() >= HEADER {
        let field = |at: usize| u32::from_ne_bytes([events[at], events[at + 1], events[at + 2], events[at + 3]]);
        let (wd, mask, len) = (field(0) as i32, field(4), field(12) as usize);
        if mask & libc::IN_IGNORED != 0 {
            gone.push(wd);
        }
        events = events.get(HEADER + len..).unwrap_or_default();
    }
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

/// Most inotify watches berth holds at once (a file and each directory on
/// its path count one each, shared between entries). The kernel's default
/// per-user limit is 8192 on small machines, so this leaves room for the
/// user's other programs; beyond it, files are checked on every request.
pub const MAX_WATCHES: usize = 4096;

/// The watches berth holds: watch descriptor → how many cache entries use
/// it (the kernel gives the same descriptor for the same inode).
static REGISTRY: Mutex<Option<FxHashMap<i32, u32>>> = Mutex::new(None);

/// The watches one cache entry holds; given back when it is dropped.
#[derive(Debug)]
pub struct Watches {
    descriptors: Vec<i32>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        if let Some(watcher) = instance() {
            let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
            release(watcher, registry.get_or_insert_with(FxHashMap::default), &self.descriptors);
        }
    }
}

fn release(watcher: &Watcher, registry: &mut FxHashMap<i32, u32>, descriptors: &[i32]) {
    for wd in descriptors {
        let Some(users) = registry.get_mut(wd) else { continue };
        *users -= 1;
        if *users == 0 {
            registry.remove(wd);
            // Fails harmlessly when the kernel already dropped it (the
            // inode was deleted).
            // SAFETY: removing a watch from our own inotify descriptor.
            unsafe { libc::inotify_rm_watch(watcher.fd.as_raw_fd(), *wd) };
        }
    }
}

/// Most directories below the root on the path of a watched file. A file
/// deeper than that is not watched (and is checked on every request, as
/// files past [`MAX_WATCHES`] are): its chain of directories would take a
/// watch per level out of the shared cap, and a lookup per level on the
/// request path.
pub const MAX_WATCH_DEPTH: usize = 32;

/// Watches `file` (open, at `relative` under `root`) and the directories
/// leading to it, each named through a descriptor opened beneath the root
/// (never by a path from `/`), one level from the one above it. None when
/// that is not possible (no inotify, [`MAX_WATCHES`] reached, a path more
/// than [`MAX_WATCH_DEPTH`] directories deep): then the caller must check
/// the entry on every request. Both limits are looked at before anything
/// is opened.
///
/// inotify_add_watch(2) takes a path, not a descriptor: each descriptor is
/// named as `/proc/self/fd/N`, the one way to name exactly the inode that
/// was opened. Without /proc mounted nothing is watched, and every cached
/// file is checked from a new descriptor on each request instead.
pub fn watch(root: &Root, relative: &str, file: &File) -> Option<Watches> {
    let watcher = instance()?;
    if GENERATION.load(Ordering::Acquire) == BROKEN {
        return None;
    }
    if relative.matches('/').count() > MAX_WATCH_DEPTH {
        return None;
    }
    let full = REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|r| r.len() >= MAX_WATCHES);
    if full {
        return None;
    }
    // The directories, opened before taking the lock.
    let dirs = root.open_dirs_along(relative).ok()?;
    let mut targets: Vec<(RawFd, u32)> = vec![(file.as_raw_fd(), FILE_EVENTS), (root.raw_fd(), DIR_EVENTS)];
    targets.extend(dirs.iter().map(|dir| (dir.as_raw_fd(), DIR_EVENTS)));
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let registry = registry.get_or_insert_with(FxHashMap::default);
    // Plain numbers until all are in: a `Watches` dropped here would take
    // the lock this function holds.
    let mut held = Vec::with_capacity(targets.len());
    for (fd, mask) in targets {
        // The inode a descriptor refers to, whatever links led to it.
        let path = format!("/proc/self/fd/{fd}\0");
        // SAFETY: a NUL-terminated path; the kernel returns a watch descriptor or -1.
        let wd = unsafe { libc::inotify_add_watch(watcher.fd.as_raw_fd(), path.as_ptr().cast(), mask) };
        let full = registry.len() >= MAX_WATCHES;
        let admitted = wd >= 0
            && match registry.entry(wd) {
                Entry::Occupied(mut users) => {
                    *users.get_mut() += 1;
                    true
                }
                Entry::Vacant(slot) if !full => {
                    slot.insert(1);
                    true
                }
                Entry::Vacant(_) => {
                    // A new watch past the cap: given back at once.
                    // SAFETY: removing the watch just added.
                    unsafe { libc::inotify_rm_watch(watcher.fd.as_raw_fd(), wd) };
                    false
                }
            };
        if !admitted {
            release(watcher, registry, &held);
            return None;
        }
        held.push(wd);
    }
    Some(Watches { descriptors: held })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_events_are_found() {
        let mut events = Vec::new();
        for (wd, mask, name) in
            [(3, libc::IN_MODIFY, &b""[..]), (4, libc::IN_IGNORED, b""), (5, libc::IN_CREATE, b"a.txt\0\0\0")]
        {
            for field in [wd as u32, mask, 0, name.len() as u32] {
                events.extend_from_slice(&field.to_ne_bytes());
            }
            events.extend_from_slice(name);
        }
        events.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0]); // a partial event: ignored
        let mut gone = Vec::new();
        ignored(&events, &mut gone);
        assert_eq!(gone, [4]);
    }
}
