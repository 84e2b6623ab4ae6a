//! A minimal epoll wrapper for the scanner: level-triggered interest in a
//! descriptor, tagged with a u64 token, and a wait that fills a reused
//! buffer. No async runtime: the scanner's loop is the event loop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

/// One readiness report: the token the descriptor was added with, and
/// whether it is writable, readable, or failed.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub token: u64,
    pub error: bool,
}

impl Epoll {
    /// An epoll instance reporting at most `batch` events per wait.
    pub fn new(batch: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd, events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)] })
    }

    /// Watches `fd` for writability (TCP connect done) or readability
    /// (a UDP answer); errors and hang-ups are always reported.
    pub fn add(&self, fd: RawFd, token: u64, writable: bool) -> io::Result<()> {
        let interest = if writable { libc::EPOLLOUT } else { libc::EPOLLIN };
        let mut event = libc::epoll_event { events: interest as u32, u64: token };
        // SAFETY: a valid epoll descriptor, a descriptor the caller owns, an event we own.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits at most `timeout` for events and returns them. A descriptor
    /// is forgotten by epoll when it is closed, so no removal is needed.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<impl Iterator<Item = Event> + '_> {
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up: a wait of 0.4 ms must not become a busy loop of zero waits.
        let millis = if millis == 0 && !timeout.is_zero() { 1 } else { millis };
        // SAFETY: the buffer holds `len` events and outlives the call.
        let n = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), self.events.len() as i32, millis)
        };
        let n = if n < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
            0
        } else {
            n as usize
        };
        Ok(self.events[..n]
            .iter()
            .map(|e| Event { token: e.u64, error: e.events & (libc::EPOLLERR as u32 | libc::EPOLLHUP as u32) != 0 }))
    }
}
