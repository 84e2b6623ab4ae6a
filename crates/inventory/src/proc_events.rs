//! Processes starting and ending, as the kernel announces them: the proc
//! connector (`NETLINK_CONNECTOR`, group `CN_IDX_PROC`).
//!
//! A trigger, never a source of truth: the events carry pids only (a name
//! needs /proc, which a short process has already left), they come for every
//! process of the machine (about 60 exits a second during ordinary activity
//! here), and they can be lost when the socket's buffer overflows
//! ([`ProcEvents::overflows`] counts it). A caller uses them to rescan
//! sooner, and rate-limits that.
//!
//! Listening needs no privilege on Linux 6.6 and later (the 2023 series
//! "connector/cn_proc: allow non-root users access"); older kernels refuse
//! the bind with EPERM, which [`ProcEvents::open`] returns as it is, so the
//! caller can treat the connector as optional.
//!
//! Thread events are left out: a fork that makes a thread, and a thread's
//! exit, are not reported; pids are thread-group ids (what `ps` calls PID).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::netlink::NLMSG_HEADER;

/// include/uapi/linux/connector.h and cn_proc.h.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 1;
const PROC_EVENT_EXEC: u32 = 2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// struct cn_msg without its data: id {idx, val}, seq, ack, len (u16), flags (u16).
const CN_MSG_HEADER: usize = 20;
/// Offset of `event_data` in struct proc_event (what, cpu, timestamp_ns).
const EVENT_DATA: usize = 16;

/// How long [`ProcEvents::open`] waits for the kernel's answer to LISTEN.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Receive buffer asked for: a fork storm of a few thousand processes.
const RECEIVE_BUFFER: libc::c_int = 1 << 20;

/// At most this many datagrams per [`ProcEvents::read`].
const MAX_PER_READ: usize = 4096;

/// One process event. Pids are thread-group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// The process replaced its program (execve).
    Exec {
        /// The process.
        pid: u32,
    },
    /// The process ended (its main thread exited; the others go with it,
    /// and their exits are not reported).
    Exit {
        /// The process.
        pid: u32,
    },
    /// A new process (not a thread) was created.
    Fork {
        /// The process that forked.
        parent: u32,
        /// The new process.
        child: u32,
    },
}

/// A netlink connector socket listening to process events.
#[derive(Debug)]
pub struct ProcEvents {
    fd: OwnedFd,
    buffer: Vec<u8>,
    /// Events that came while open waited for the kernel's answer.
    pending: Vec<ProcEvent>,
    overflows: u64,
}

impl ProcEvents {
    /// Joins CN_IDX_PROC and asks the kernel to send process events; waits
    /// (up to 1 s) for its answer. Errors are the kernel's, unchanged:
    /// EPERM means this kernel (before 6.6) lets only root listen, and the
    /// caller should go on without process events.
    pub fn open() -> io::Result<ProcEvents> {
        // SAFETY: plain socket(2); the descriptor is owned right below.
        let raw =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_CONNECTOR) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let address = netlink_address(CN_IDX_PROC);
        // SAFETY: a valid sockaddr_nl and its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a valid int and its size. A smaller buffer only means
        // overflows come sooner, so a failure is not an error.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&RECEIVE_BUFFER as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let mut events = ProcEvents { fd, buffer: vec![0u8; 8192], pending: Vec::new(), overflows: 0 };
        // The kernel answers on the multicast group, so other listeners'
        // answers come too: ours carries our ack + 1 (its seq is the
        // kernel's own counter, not ours). The pid and the clock make the
        // value unlikely to be another listener's.
        let seq = std::process::id();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let ack = seq.rotate_left(16) ^ nanos;
        events.send_operation(PROC_CN_MCAST_LISTEN, seq, ack)?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not answer PROC_CN_MCAST_LISTEN within 1 s; going on without process events",
                ));
            }
            if !wait_readable(events.fd.as_raw_fd(), left)? {
                continue;
            }
            let size = match events.receive() {
                Ok(size) => size,
                Err(error) if is_transient(&error) => continue,
                Err(error) => return Err(error),
            };
            let mut pending = mem::take(&mut events.pending);
            let answer = parse_datagram(&events.buffer[..size], &mut pending, Some(ack.wrapping_add(1)));
            events.pending = pending;
            match answer {
                Some(0) => return Ok(events),
                Some(code) => return Err(io::Error::from_raw_os_error(code as i32)),
                None => {}
            }
        }
    }

    /// Waits at most `timeout` for events and appends them to `out` (up to
    /// 4096 datagrams per call); returns how many were appended.
    pub fn read(&mut self, out: &mut Vec<ProcEvent>, timeout: Duration) -> io::Result<usize> {
        let before = out.len();
        out.append(&mut self.pending);
        let wait = if out.len() > before { Duration::ZERO } else { timeout };
        if !wait_readable(self.fd.as_raw_fd(), wait)? {
            return Ok(out.len() - before);
        }
        for _ in 0..MAX_PER_READ {
            match self.receive() {
                Ok(size) => {
                    parse_datagram(&self.buffer[..size], out, None);
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => self.overflows += 1,
                Err(error) if error.raw_os_error() == Some(libc::EINTR) => {}
                Err(error) if is_transient(&error) => break,
                Err(error) => {
                    return Err(io::Error::new(error.kind(), format!("reading process events failed: {error}")))
                }
            }
        }
        Ok(out.len() - before)
    }

    /// How many times the kernel dropped events because the buffer was
    /// full (ENOBUFS): after each, anything may have started or ended.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// One datagram, without waiting.
    fn receive(&mut self) -> io::Result<usize> {
        // SAFETY: the buffer and its length.
        let size = unsafe {
            libc::recv(self.fd.as_raw_fd(), self.buffer.as_mut_ptr().cast(), self.buffer.len(), libc::MSG_DONTWAIT)
        };
        if size < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(size as usize)
        }
    }

    /// Sends PROC_CN_MCAST_LISTEN or _IGNORE to the kernel.
    fn send_operation(&self, operation: u32, seq: u32, ack: u32) -> io::Result<()> {
        let total = NLMSG_HEADER + CN_MSG_HEADER + 4;
        let mut message = Vec::with_capacity(total);
        message.extend((total as u32).to_ne_bytes());
        message.extend((libc::NLMSG_DONE as u16).to_ne_bytes());
        message.extend(0u16.to_ne_bytes()); // flags
        message.extend(seq.to_ne_bytes());
        message.extend(0u32.to_ne_bytes()); // port id: the kernel fills it
        message.extend(CN_IDX_PROC.to_ne_bytes());
        message.extend(CN_VAL_PROC.to_ne_bytes());
        message.extend(seq.to_ne_bytes());
        message.extend(ack.to_ne_bytes());
        message.extend(4u16.to_ne_bytes()); // len of the data: one u32
        message.extend(0u16.to_ne_bytes()); // flags
        message.extend(operation.to_ne_bytes());
        let kernel = netlink_address(0);
        // SAFETY: the message and its length, a valid sockaddr_nl and its size.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for ProcEvents {
    fn drop(&mut self) {
        // Kernels before 6.6 count listeners globally and only IGNORE lowers
        // the count (later ones also do it when the socket closes). Nothing
        // to do if it fails.
        let _ = self.send_operation(PROC_CN_MCAST_IGNORE, std::process::id(), 0);
    }
}

/// EAGAIN / EWOULDBLOCK: nothing (more) to read now.
fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == libc::EAGAIN || code == libc::EWOULDBLOCK)
}

fn netlink_address(groups: u32) -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all zero is a valid value.
    let mut address: libc::sockaddr_nl = unsafe { mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = groups;
    address
}

/// poll(2) for input for at most `timeout`; false when it ran out (or was
/// interrupted).
fn wait_readable(fd: libc::c_int, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut poll, 1, millis) };
    if rc >= 0 {
        return Ok(rc > 0);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EINTR) {
        Ok(false)
    } else {
        Err(io::Error::new(error.kind(), format!("waiting for process events failed: {error}")))
    }
}

/// Parses the connector messages of one datagram into `out`. With
/// `answer_to = Some(ack)`, returns the error code of the kernel's answer
/// carrying that ack, if the datagram holds it.
fn parse_datagram(datagram: &[u8], out: &mut Vec<ProcEvent>, answer_to: Option<u32>) -> Option<u32> {
    let u32_at = |bytes: &[u8], offset: usize| {
        bytes.get(offset..offset + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut answer = None;
    // The netlink framing is sock_diag's (one message walk in the crate).
    for message in crate::netlink::Messages(datagram) {
        let Some((_, cn)) = message else { break };
        let (Some(idx), Some(val), Some(ack)) = (u32_at(cn, 0), u32_at(cn, 4), u32_at(cn, 12)) else {
            continue;
        };
        if idx != CN_IDX_PROC || val != CN_VAL_PROC {
            continue;
        }
        let event = &cn[CN_MSG_HEADER.min(cn.len())..];
        let data = |field: usize| u32_at(event, EVENT_DATA + 4 * field);
        match u32_at(event, 0) {
            Some(PROC_EVENT_NONE) if answer_to == Some(ack) => answer = data(0),
            Some(PROC_EVENT_FORK) => {
                // parent_pid, parent_tgid, child_pid, child_tgid
                if let (Some(parent), Some(child_pid), Some(child)) = (data(1), data(2), data(3)) {
                    if child_pid == child {
                        out.push(ProcEvent::Fork { parent, child });
                    }
                }
            }
            Some(PROC_EVENT_EXEC) => {
                // process_pid, process_tgid
                if let (Some(pid), Some(tgid)) = (data(0), data(1)) {
                    if pid == tgid {
                        out.push(ProcEvent::Exec { pid: tgid });
                    }
                }
            }
            Some(PROC_EVENT_EXIT) => {
                // process_pid, process_tgid, exit_code, exit_signal, ...
                if let (Some(pid), Some(tgid)) = (data(0), data(1)) {
                    if pid == tgid {
                        out.push(ProcEvent::Exit { pid: tgid });
                    }
                }
            }
            _ => {}
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn proc_events_see_a_child_fork_exec_and_exit() {
        let mut events = match ProcEvents::open() {
            Ok(events) => events,
            Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
                eprintln!(
                    "note: this kernel lets only root listen to the proc connector (EPERM, Linux < 6.6); test skipped"
                );
                return;
            }
            Err(error) => panic!("opening the proc connector: {error}"),
        };
        let mut child = Command::new("/bin/true").spawn().expect("spawn /bin/true");
        let pid = child.id();
        child.wait().expect("wait for /bin/true");
        let me = std::process::id();
        let wanted = [ProcEvent::Fork { parent: me, child: pid }, ProcEvent::Exec { pid }, ProcEvent::Exit { pid }];
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < Duration::from_secs(2) && !wanted.iter().all(|w| seen.contains(w)) {
            events.read(&mut seen, Duration::from_millis(50)).expect("read process events");
        }
        for event in wanted {
            assert!(seen.contains(&event), "{event:?} not seen within 2 s ({} events read)", seen.len());
        }
        let order: Vec<usize> = wanted.iter().filter_map(|w| seen.iter().position(|s| s == w)).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "fork, exec, exit in that order: {order:?}");
    }

    #[test]
    fn proc_events_threads_are_left_out() {
        let mut datagram = Vec::new();
        let mut push = |what: u32, data: [u32; 4]| {
            let length = NLMSG_HEADER + CN_MSG_HEADER + EVENT_DATA + 16;
            datagram.extend((length as u32).to_ne_bytes());
            datagram.extend([0u8; 12]);
            for value in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
                datagram.extend(value.to_ne_bytes());
            }
            datagram.extend([0u8; 4]);
            datagram.extend(what.to_ne_bytes());
            datagram.extend([0u8; 12]);
            for value in data {
                datagram.extend(value.to_ne_bytes());
            }
        };
        push(PROC_EVENT_FORK, [10, 10, 11, 11]); // a process
        push(PROC_EVENT_FORK, [10, 10, 12, 10]); // a thread of 10
        push(PROC_EVENT_EXIT, [12, 10, 0, 0]); // that thread ends
        push(PROC_EVENT_EXEC, [11, 11, 0, 0]);
        push(PROC_EVENT_EXIT, [11, 11, 0, 0]);
        let mut out = Vec::new();
        assert_eq!(parse_datagram(&datagram, &mut out, None), None);
        assert_eq!(
            out,
            vec![ProcEvent::Fork { parent: 10, child: 11 }, ProcEvent::Exec { pid: 11 }, ProcEvent::Exit { pid: 11 }]
        );
    }
}
