//! Sending signals without hitting the wrong process.
//!
//! A pid can be reused between the moment berth looks and the moment it
//! signals. So berth opens a pidfd (pidfd_open, Linux 5.3+) for the
//! process it saw, checks through /proc that the process behind the pid
//! still has the start time the snapshot recorded (in clock ticks since
//! boot, the kernel's own unit: a pid can be reused within one second), and from then on
//! signals and watches the process through the pidfd, which can never
//! refer to another process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_inventory::processes::start_ticks_of;

/// A signal, by name or number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    pub const TERM: Signal = Signal(libc::SIGTERM);
    pub const KILL: Signal = Signal(libc::SIGKILL);

    /// `TERM`, `SIGTERM`, `term`, `15`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        let number = match name {
            "HUP" => libc::SIGHUP,
            "INT" => libc::SIGINT,
            "QUIT" => libc::SIGQUIT,
            "KILL" => libc::SIGKILL,
            "USR1" => libc::SIGUSR1,
            "USR2" => libc::SIGUSR2,
            "ALRM" => libc::SIGALRM,
            "TERM" => libc::SIGTERM,
            other => match other.parse::<i32>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "unknown signal '{text}': use TERM, INT, HUP, QUIT, KILL, USR1, USR2, ALRM or a number from 1 to 64"
                    ))
                }
            },
        };
        Ok(Signal(number))
    }

    pub fn name(self) -> String {
        match self.0 {
            libc::SIGHUP => "SIGHUP".into(),
            libc::SIGINT => "SIGINT".into(),
            libc::SIGQUIT => "SIGQUIT".into(),
            libc::SIGKILL => "SIGKILL".into(),
            libc::SIGUSR1 => "SIGUSR1".into(),
            libc::SIGUSR2 => "SIGUSR2".into(),
            libc::SIGALRM => "SIGALRM".into(),
            libc::SIGTERM => "SIGTERM".into(),
            n => format!("signal {n}"),
        }
    }
}

/// A handle on one process that stays valid even if its pid is reused.
pub struct ProcessHandle {
    pub pid: u32,
    pidfd: OwnedFd,
}

/// Why a process could not be taken hold of.
#[derive(Debug)]
pub enum HandleError {
    /// It exited already (or its pid now belongs to a newer process).
    Gone,
    Other(io::Error),
}

impl ProcessHandle {
    /// Opens the process with this pid, if it is still the one that started
    /// at `expected_start` (clock ticks since boot, as in /proc/PID/stat and
    /// `Process::start_ticks`; None skips the check).
    pub fn open(pid: u32, expected_start: Option<u64>) -> Result<Self, HandleError> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            return Err(if error.raw_os_error() == Some(libc::ESRCH) {
                HandleError::Gone
            } else {
                HandleError::Other(error)
            });
        }
        // SAFETY: the syscall returned a new descriptor that we now own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // The pidfd refers to whatever process has the pid now; make sure it
        // is the one the snapshot saw.
        if let Some(expected) = expected_start {
            if start_ticks_of(pid) != Some(expected) {
                return Err(HandleError::Gone);
            }
        }
        Ok(ProcessHandle { pid, pidfd })
    }

    /// Sends `signal`; Ok(false) when the process had already exited.
    pub fn send(&self, signal: Signal) -> io::Result<bool> {
        // SAFETY: pidfd_send_signal(pidfd, sig, info = NULL, flags = 0).
        let rc = unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), signal.0, std::ptr::null::<u8>(), 0)
        };
        if rc == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(error)
        }
    }

    /// True once the process has exited (the pidfd becomes readable).
    pub fn has_exited(&self) -> bool {
        self.wait_exit(Duration::ZERO)
    }

    /// Waits up to `timeout` for the process to exit; true if it did.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let mut poll = libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut poll, 1, millis) };
        rc > 0 && poll.revents & libc::POLLIN != 0
    }
}

/// SIGINT and SIGTERM set the returned flag, which a long-running loop
/// stops on (`watch` then prints its summary and closes the history,
/// `metrics --textfile` removes its temporary file), instead of being
/// killed mid-write.
pub fn stop_on_signals() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::Relaxed);
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &STOP
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(Signal::parse("TERM").unwrap(), Signal::TERM);
        assert_eq!(Signal::parse("sigkill").unwrap(), Signal::KILL);
        assert_eq!(Signal::parse("1").unwrap(), Signal(libc::SIGHUP));
        assert!(Signal::parse("FOO").is_err());
        assert!(Signal::parse("0").is_err());
        assert!(Signal::parse("65").is_err());
        assert_eq!(Signal::TERM.name(), "SIGTERM");
    }

    #[test]
    fn own_process_handle_is_alive() {
        let me = std::process::id();
        let ticks = start_ticks_of(me).unwrap();
        let handle = ProcessHandle::open(me, Some(ticks)).unwrap();
        assert!(!handle.has_exited());
        assert!(matches!(ProcessHandle::open(me, Some(1)), Err(HandleError::Gone)));
        // One tick later is another process, though the same second.
        assert!(matches!(ProcessHandle::open(me, Some(ticks + 1)), Err(HandleError::Gone)));
    }
}
