//! Shared helpers for the integration tests: running the real `berth`
//! binary, reading its JSON, and guards that clean up every child process
//! and network namespace a test creates, on success and on failure.
//!
//! Every test in a test binary takes [`serial`] first. Tests fork children
//! and spawn `berth`; a process forked (or spawned, before its exec) while
//! another test's sockets are open would briefly hold them too and show up
//! as an extra owner. Running one test at a time per binary keeps each
//! test's view of "who holds my socket" exact.
//!
//! The helpers are split by job; every test module takes them all with
//! `use crate::common::*;` (the re-exports below).

#![allow(dead_code)]

pub mod harness;
pub mod http;

// Private, and taken through the re-exports: a public module named `berth`
// would come in with every `use crate::common::*` and hide the berth crate.
mod berth;
mod browser;
mod children;
mod load;
mod netns;
mod servers;
mod sockets;
mod system;

pub use berth::*;
pub use browser::*;
pub use children::*;
pub use harness::{require_program, require_root, skip};
pub use load::*;
pub use netns::*;
pub use servers::*;
pub use sockets::*;
pub use system::*;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of one binary one at a time (see the module comment).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
