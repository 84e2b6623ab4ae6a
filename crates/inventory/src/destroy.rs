//! Every TCP and UDP socket's end, as the kernel announces it: the sock_diag
//! destroy multicast groups (`SKNLGRP_INET{,6}_{TCP,UDP}_DESTROY`), which
//! `ss -E` reads.
//!
//! When a full TCP or UDP socket is freed and someone listens, the kernel
//! builds one `inet_diag_msg` for it (with the final `tcp_info` for TCP) and
//! multicasts it in the socket's network namespace. That catches what no
//! dump at an interval can: a connection that lived 0.1 ms is still one
//! message. Joining the groups needs no privilege (the kernel checks no
//! capability in `sock_diag_bind`), and an unprivileged listener also gets
//! the messages of other users' sockets.
//!
//! [`DestroyStream`] is the netlink socket; [`DestroyReader`] is the
//! dedicated thread that reads it and hands batches on through a bounded
//! channel. Each message becomes a [`Socket`] by the same conversion the
//! dumps use, so a destroyed socket and a dumped one compare field by field:
//! a destroy message is a dump reply (type SOCK_DIAG_BY_FAMILY, an
//! `inet_diag_msg` and attributes), which netlink-packet-sock-diag parses as
//! an `InetResponse` like any other. The protocol comes from its
//! INET_DIAG_PROTOCOL attribute (a dump knows it from its request).
//!
//! # What the kernel does NOT give
//!
//! Nothing here is filtered or guessed; the engine that reads this decides.
//! - **uid and inode are always 0**: the kernel never fills them in a
//!   destroy message. 0 means "unknown" here, not root. Only a dump gives
//!   them.
//! - **No creation time, no duration**: the message has neither. Bounds come
//!   from the dumps (first seen in a dump at t0, absent from the one before).
//! - **A listener's close is byte for byte the close of a socket that was
//!   only bound**: `127.0.0.1:P -> none`, state CLOSE. It is known to have
//!   been a listener only if a dump saw it listening.
//! - **TCP state is always [`Close`](crate::SocketState::Close)**; UDP is
//!   [`Unconnected`](crate::SocketState::Unconnected), or
//!   [`Established`](crate::SocketState::Established) for a connected UDP
//!   socket. UDP has no byte counters.
//! - **The side that closed with an RST** (SO_LINGER 0) has its source
//!   address and remote port zeroed and its counters zero; the peer's message
//!   is complete. A refused connect looks like `0.0.0.0:sport -> 127.0.0.1:0`,
//!   a socket never used like `0.0.0.0:0 -> none`: noise for the engine to drop.
//! - Byte counters include the SYN and FIN: with 1000 bytes each way,
//!   `bytes_received` is 1001 once the peer's FIN arrived and `bytes_acked`
//!   1001 or 1002; `bytes_sent` counts retransmits.
//! - No TIME_WAIT or SYN_RECV mini-sockets (they are not full sockets). A
//!   FIN-closed connection is reported when its full socket goes, about
//!   0.05 ms after close(), not at the end of TIME_WAIT.
//! - The cookie is unique but not contiguous (per-CPU batches): gaps in it do
//!   not count lost messages.
//! - `at` and `instant` are when the reader received the message, which is
//!   at most a few milliseconds (the reader's nap) after the kernel sent it.
//!
//! # Overflow
//!
//! Messages queue in the socket's receive buffer (1280 bytes each). When it is
//! full the kernel drops messages and sets an error that the next receive
//! returns once (ENOBUFS), *before* the older messages still queued. It
//! becomes a [`Destroyed::Overflow`] item in the place it came, and reading
//! goes on: the messages after it are first the backlog (older than the
//! loss), then new ones. So the gap lies somewhere after the item, and a
//! correct report is "missed events between the last one before the item and
//! a fresh dump taken after the backlog is read". `NETLINK_NO_ENOBUFS` would
//! hide the loss and is never set.
//!
//! # Cost
//!
//! One `recvmmsg` takes up to 64 messages. After a batch that was not full,
//! the next [`DestroyStream::read`] first naps 3 ms, so that the one after
//! finds many messages waiting: measured here at about 1.5-2 µs per message,
//! against 4-7 µs with one poll and one recv per message. The nap needs room
//! for about 100 messages in the buffer and adds at most 3 ms of latency.

use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use super::{netlink, Protocol, Socket};

/// The four groups: SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET_UDP_DESTROY,
/// SKNLGRP_INET6_TCP_DESTROY, SKNLGRP_INET6_UDP_DESTROY (linux/sock_diag.h).
const GROUPS: [libc::c_int; 4] = [1, 2, 3, 4];

/// Bits of `sockaddr_nl.nl_groups` (1 << (group - 1)) of the TCP groups,
/// by which a message's protocol is known if it lacks INET_DIAG_PROTOCOL.
const TCP_GROUP_BITS: u32 = (1 << 0) | (1 << 2);
/// The same for the UDP groups.
const UDP_GROUP_BITS: u32 = (1 << 1) | (1 << 3);

/// nlmsg_type of the destroy messages (inet_diag_msg, as in a dump's replies).
const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// Messages one `recvmmsg` takes.
const BATCH: usize = 64;

/// Room for one message. A TCP message is about 380 bytes on Linux 6.18
/// (tcp_info grows with kernels); a page leaves room for years of growth.
const SLOT: usize = 4096;

/// At most this many messages per [`DestroyStream::read`], so one call
/// returns even while the kernel keeps the buffer full.
const MAX_PER_READ: usize = 64 * BATCH;

/// Receive buffer requested by [`DestroyStream::open`]. With CAP_NET_ADMIN
/// it is forced (the kernel doubles it: 64 MiB, about 50,000 messages);
/// without, the kernel caps it at net.core.rmem_max, doubled.
const DEFAULT_RECEIVE_BUFFER: usize = 32 << 20;

/// The nap after a batch that was not full (see the module doc).
const NAP: Duration = Duration::from_millis(3);

/// How long the reader thread waits on the socket at most, so that
/// [`DestroyReader::stop`] is seen within this.
const READER_POLL: Duration = Duration::from_millis(100);

/// One socket's end, or a report that some were lost.
#[derive(Clone, Debug)]
pub enum Destroyed {
    /// One socket's end. `socket.state` is what the kernel says (TCP:
    /// [`Close`](crate::SocketState::Close); UDP:
    /// [`Unconnected`](crate::SocketState::Unconnected), or
    /// [`Established`](crate::SocketState::Established) for a connected
    /// one); `socket.tcp_counters` are from the final tcp_info (TCP only).
    /// `uid` and `inode` are 0 and `owners` empty: the kernel does not say.
    Closed {
        /// The socket as a dump would have shown it, with the namespace inode
        /// the stream was opened with.
        socket: Socket,
        /// The kernel's socket cookie (unique while the machine runs; the
        /// same as a dump's `INET_DIAG` cookie for that socket).
        cookie: u64,
        /// When the message was received, wall clock.
        at: SystemTime,
        /// The same moment, monotonic.
        instant: Instant,
    },
    /// Messages were lost: the kernel's buffer overflowed (ENOBUFS), or the
    /// reader thread could not hand them on. See the module doc for where
    /// the gap lies.
    Overflow {
        /// When the loss was noticed (for [`OverflowReason::ConsumerBehind`],
        /// when the first batch was dropped), wall clock.
        at: SystemTime,
        /// The same moment, monotonic.
        instant: Instant,
        /// Who dropped them.
        reason: OverflowReason,
    },
}

/// Why destroy messages were lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowReason {
    /// The socket's receive buffer was full and the kernel dropped messages
    /// (recv returned ENOBUFS).
    KernelBuffer,
    /// [`DestroyReader`]'s channel was full and the reader dropped batches.
    ConsumerBehind,
}

/// One netlink socket joined to the four destroy groups, in one network
/// namespace (the one it was opened in; it stays there).
#[derive(Debug)]
pub struct DestroyStream {
    fd: OwnedFd,
    netns: u64,
    receive_buffer: usize,
    /// BATCH slots of SLOT bytes, which recvmmsg fills.
    slots: Box<[u8]>,
    /// The sender address of each slot's message (its group).
    names: Box<[libc::sockaddr_nl]>,
    /// The last read ended on a batch that was not full: nap first.
    nap_due: bool,
    /// Messages that were truncated or could not be parsed.
    unparsed: u64,
}

impl DestroyStream {
    /// Joins the four groups in the calling thread's network namespace
    /// (`netns` = its inode, copied into every Socket), with a receive
    /// buffer as large as the kernel allows (see [`DestroyStream::receive_buffer`]).
    /// Err when the kernel refuses (old or hardened kernels, no sock_diag):
    /// the caller falls back to dumps alone.
    pub fn open(netns: u64) -> io::Result<DestroyStream> {
        // SAFETY: plain socket(2); the descriptor is owned right below.
        let raw =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
        if raw < 0 {
            return Err(context(io::Error::last_os_error(), "cannot open a NETLINK_SOCK_DIAG socket"));
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all zero is a valid value.
        let mut address: libc::sockaddr_nl = unsafe { mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: a valid sockaddr_nl and its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(context(io::Error::last_os_error(), "cannot bind the sock_diag socket"));
        }
        for group in GROUPS {
            set_option(fd.as_raw_fd(), libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, group).map_err(|e| {
                context(
                    e,
                    &format!(
                        "the kernel refused to join sock_diag destroy group {group} \
                         (needs CONFIG_INET_DIAG and Linux 4.9+); closes between dumps cannot be seen"
                    ),
                )
            })?;
        }
        // SAFETY: as above, all-zero sockaddr_nl values.
        let names = vec![unsafe { mem::zeroed::<libc::sockaddr_nl>() }; BATCH].into_boxed_slice();
        let mut stream = DestroyStream {
            fd,
            netns,
            receive_buffer: 0,
            slots: vec![0u8; BATCH * SLOT].into_boxed_slice(),
            names,
            nap_due: false,
            unparsed: 0,
        };
        stream.receive_buffer = set_receive_buffer(stream.fd.as_raw_fd(), DEFAULT_RECEIVE_BUFFER)?;
        Ok(stream)
    }

    /// As [`DestroyStream::open`], in the namespace at `path`
    /// (/proc/PID/ns/net or /run/netns/NAME): a short thread enters it with
    /// setns(2) and opens the socket, which stays in that namespace after
    /// the thread ends. Needs CAP_SYS_ADMIN.
    pub fn open_in(path: &Path, netns: u64) -> io::Result<DestroyStream> {
        let file = File::open(path).map_err(|e| context(e, &format!("cannot open {}", path.display())))?;
        thread::scope(|scope| {
            let opener = thread::Builder::new().name("berth-destroy-open".into()).spawn_scoped(scope, || {
                // SAFETY: setns on this thread only; the thread ends right after.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    let error = io::Error::last_os_error();
                    let what = if error.raw_os_error() == Some(libc::EPERM) {
                        format!("entering {} needs root (CAP_SYS_ADMIN)", path.display())
                    } else {
                        format!("cannot enter the network namespace {}", path.display())
                    };
                    return Err(context(error, &what));
                }
                DestroyStream::open(netns)
            })?;
            opener.join().unwrap_or_else(|_| Err(io::Error::other("the thread opening the destroy socket panicked")))
        })
    }

    /// Asks for a receive buffer of `bytes` instead of open's default
    /// (forced past net.core.rmem_max with CAP_NET_ADMIN; the kernel doubles
    /// it for its bookkeeping). For tests of overflow, and for a caller that
    /// wants less memory held in the kernel.
    pub fn with_receive_buffer(mut self, bytes: usize) -> io::Result<DestroyStream> {
        self.receive_buffer = set_receive_buffer(self.fd.as_raw_fd(), bytes)?;
        Ok(self)
    }

    /// The receive buffer in effect, in bytes, as the kernel reports it (each
    /// message takes about 1280 of them).
    pub fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }

    /// The network namespace inode given at open, copied into every Socket.
    pub fn netns(&self) -> u64 {
        self.netns
    }

    /// Messages dropped because they were truncated or malformed (none are
    /// expected; a non-zero count means the kernel sent something this
    /// parser does not know).
    pub fn unparsed(&self) -> u64 {
        self.unparsed
    }

    /// Waits at most `timeout` for messages and appends what arrived
    /// (recvmmsg batches, up to 4096 items per call) to `out`, in the
    /// kernel's order; returns how many items were appended. An ENOBUFS
    /// becomes a [`Destroyed::Overflow`] item and reading goes on.
    ///
    /// After a call that ended on a batch that was not full, the next call
    /// first naps 3 ms (at most `timeout`) to let messages gather.
    ///
    /// On an error other than ENOBUFS, the items read before it stay in
    /// `out`.
    pub fn read(&mut self, out: &mut Vec<Destroyed>, timeout: Duration) -> io::Result<usize> {
        let started = Instant::now();
        let before = out.len();
        if self.nap_due {
            self.nap_due = false;
            thread::sleep(NAP.min(timeout));
        }
        if !self.wait_readable(timeout.saturating_sub(started.elapsed()))? {
            return Ok(0);
        }
        let mut received = 0;
        while received < MAX_PER_READ {
            match self.receive_batch(out) {
                Ok(count) => {
                    received += count;
                    if count < BATCH {
                        self.nap_due = count > 0;
                        break;
                    }
                }
                Err(error) => match error.raw_os_error() {
                    Some(libc::ENOBUFS) => {
                        out.push(Destroyed::Overflow {
                            at: SystemTime::now(),
                            instant: Instant::now(),
                            reason: OverflowReason::KernelBuffer,
                        });
                    }
                    Some(libc::EINTR) => {}
                    Some(code) if code == libc::EAGAIN || code == libc::EWOULDBLOCK => break,
                    _ => return Err(context(error, "reading the sock_diag destroy socket failed")),
                },
            }
        }
        Ok(out.len() - before)
    }

    /// poll(2) for input (or a pending error, which is how ENOBUFS shows)
    /// for at most `timeout`.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut poll = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up so a sub-millisecond timeout still waits.
            let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut poll, 1, millis) };
            if rc > 0 {
                return Ok(true);
            }
            if rc == 0 {
                return Ok(false);
            }
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                return Err(context(error, "waiting on the sock_diag destroy socket failed"));
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }

    /// One recvmmsg without waiting; parses what came. Returns the number
    /// of datagrams received (not items: a malformed one gives none).
    fn receive_batch(&mut self, out: &mut Vec<Destroyed>) -> io::Result<usize> {
        // SAFETY (all zeroed values below): iovec and mmsghdr are plain data.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let base = self.slots.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: i * SLOT + SLOT <= slots.len().
            iovecs[i].iov_base = unsafe { base.add(i * SLOT) }.cast();
            iovecs[i].iov_len = SLOT;
            headers[i].msg_hdr.msg_iov = &mut iovecs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_nl).cast();
            headers[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        }
        // SAFETY: BATCH headers, each pointing at its own slot and name,
        // all alive for the call.
        let count = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        let count = count as usize;
        let at = SystemTime::now();
        let instant = Instant::now();
        for (i, header) in headers.iter().enumerate().take(count) {
            if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.unparsed += 1;
                continue;
            }
            let length = (header.msg_len as usize).min(SLOT);
            let groups = self.names[i].nl_groups;
            let datagram = &self.slots[i * SLOT..i * SLOT + length];
            self.unparsed += parse_datagram(datagram, groups, self.netns, at, instant, out);
        }
        Ok(count)
    }
}

/// Parses the netlink messages of one datagram (the kernel sends one per
/// socket) into `out`; returns how many could not be parsed.
fn parse_datagram(
    datagram: &[u8],
    groups: u32,
    netns: u64,
    at: SystemTime,
    instant: Instant,
    out: &mut Vec<Destroyed>,
) -> u64 {
    let mut unparsed = 0;
    // A message without the protocol attribute is of the group it came on.
    let by_group = if groups & TCP_GROUP_BITS != 0 {
        Some(Protocol::Tcp)
    } else if groups & UDP_GROUP_BITS != 0 {
        Some(Protocol::Udp)
    } else {
        None
    };
    for message in netlink::Messages(datagram) {
        match message {
            Some((SOCK_DIAG_BY_FAMILY, payload)) => match netlink::parse_inet_diag_msg(payload, by_group, netns) {
                Some((socket, _)) => {
                    let cookie = socket.cookie;
                    out.push(Destroyed::Closed { socket, cookie, at, instant });
                }
                None => unparsed += 1,
            },
            Some(_) => unparsed += 1,
            None => return unparsed + 1,
        }
    }
    unparsed
}

/// setsockopt with an int value.
fn set_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for `bytes` of receive buffer: SO_RCVBUFFORCE where allowed
/// (CAP_NET_ADMIN), else SO_RCVBUF (capped by the kernel at
/// net.core.rmem_max). Returns the size in effect.
fn set_receive_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    // The kernel doubles the value; keep the double within an int.
    let value = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    if set_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value).is_err() {
        set_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value)
            .map_err(|e| context(e, "cannot set the destroy socket's receive buffer"))?;
    }
    let mut effective: libc::c_int = 0;
    let mut length = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int and its size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut effective as *mut libc::c_int).cast(),
            &mut length,
        )
    };
    if rc != 0 {
        return Err(context(io::Error::last_os_error(), "cannot read the destroy socket's receive buffer size"));
    }
    Ok(effective.max(0) as usize)
}

/// The same error kind, with what was being done in front.
fn context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// A dedicated thread reading a [`DestroyStream`]. It never waits on
/// anything but the socket (the default unprivileged buffer holds about
/// 0.3 s of messages at 20,000 a second), and hands batches on through a
/// bounded channel. When the channel is full it drops the batch and sends
/// [`Destroyed::Overflow`] with [`OverflowReason::ConsumerBehind`] as soon as
/// there is room.
///
/// The thread ends on [`DestroyReader::stop`] (or drop), when the receiver
/// is dropped, or on a read error other than ENOBUFS; then the channel is
/// disconnected and [`DestroyReader::error`] says why.
#[derive(Debug)]
pub struct DestroyReader {
    receiver: Receiver<Vec<Destroyed>>,
    stop: Arc<AtomicBool>,
    error: Arc<Mutex<Option<io::Error>>>,
    thread: Option<JoinHandle<()>>,
    receive_buffer: usize,
    netns: u64,
}

impl DestroyReader {
    /// Starts the thread. `capacity` is the number of batches the channel
    /// holds (at least 1); a batch is what one read returned, up to 4096
    /// items. Err only if the thread cannot be started.
    pub fn spawn(stream: DestroyStream, capacity: usize) -> io::Result<DestroyReader> {
        let (receive_buffer, netns) = (stream.receive_buffer(), stream.netns());
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let thread = {
            let stop = Arc::clone(&stop);
            let error = Arc::clone(&error);
            thread::Builder::new()
                .name("berth-destroy".into())
                .spawn(move || {
                    if let Err(e) = run_reader(stream, &sender, &stop) {
                        if let Ok(mut slot) = error.lock() {
                            *slot = Some(e);
                        }
                    }
                })
                .map_err(|e| context(e, "cannot start the destroy reader thread"))?
        };
        Ok(DestroyReader { receiver, stop, error, thread: Some(thread), receive_buffer, netns })
    }

    /// The stream's effective receive buffer, bytes
    /// ([`DestroyStream::receive_buffer`]).
    pub fn receive_buffer(&self) -> usize {
        self.receive_buffer
    }

    /// The stream's network namespace inode ([`DestroyStream::netns`]).
    pub fn netns(&self) -> u64 {
        self.netns
    }

    /// The batches, in order. `recv_timeout` or `try_iter` on it; a
    /// disconnected channel means the thread ended (see [`DestroyReader::error`]).
    pub fn receiver(&self) -> &Receiver<Vec<Destroyed>> {
        &self.receiver
    }

    /// The read error that ended the thread, if one did (taken: a second
    /// call gives None).
    pub fn error(&self) -> Option<io::Error> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }

    /// Ends the thread (within about 100 ms, its poll timeout) and joins it.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for DestroyReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the reader has nothing left to report here.
            let _ = thread.join();
        }
    }
}

/// The reader thread's loop. Ok when stopped or when the receiver is gone.
fn run_reader(mut stream: DestroyStream, sender: &SyncSender<Vec<Destroyed>>, stop: &AtomicBool) -> io::Result<()> {
    // The first moment of a gap not yet reported.
    let mut dropped_since: Option<(SystemTime, Instant)> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = Vec::new();
        stream.read(&mut batch, READER_POLL)?;
        if let Some((at, instant)) = dropped_since {
            let overflow = Destroyed::Overflow { at, instant, reason: OverflowReason::ConsumerBehind };
            match sender.try_send(vec![overflow]) {
                Ok(()) => dropped_since = None,
                Err(TrySendError::Full(_)) => continue, // still no room: this batch goes too
                Err(TrySendError::Disconnected(_)) => return Ok(()),
            }
        }
        if batch.is_empty() {
            continue;
        }
        match sender.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => dropped_since = Some((SystemTime::now(), Instant::now())),
            Err(TrySendError::Disconnected(_)) => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Real sockets on 127.0.0.1 and ::1, ports picked by the kernel; every
    //! wait bounded. Other tests (here and elsewhere on the machine) close
    //! sockets too, so each test looks only at its own ports.

    use std::collections::{HashMap, HashSet};
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::sync::Mutex;

    use super::*;
    use crate::{Family, SocketState};

    /// The tests that make thousands of sockets run one at a time, so that
    /// neither fills the other's buffer.
    static HEAVY: Mutex<()> = Mutex::new(());

    fn own_netns() -> u64 {
        crate::netns::own_namespace()
    }

    fn open() -> DestroyStream {
        DestroyStream::open(own_netns()).expect("joining the destroy groups (works unprivileged on Linux 4.9+)")
    }

    /// Reads until `done` says so or `limit` passes; returns all items read.
    fn read_until(
        stream: &mut DestroyStream,
        limit: Duration,
        mut done: impl FnMut(&[Destroyed]) -> bool,
    ) -> Vec<Destroyed> {
        let started = Instant::now();
        let mut items = Vec::new();
        while started.elapsed() < limit && !done(&items) {
            stream.read(&mut items, Duration::from_millis(20)).expect("read");
        }
        items
    }

    fn closed(items: &[Destroyed]) -> impl Iterator<Item = (&Socket, u64)> {
        items.iter().filter_map(|item| match item {
            Destroyed::Closed { socket, cookie, .. } => Some((socket, *cookie)),
            Destroyed::Overflow { .. } => None,
        })
    }

    /// The message whose local and remote addresses are these.
    fn find(items: &[Destroyed], local: SocketAddr, remote: Option<SocketAddr>) -> Option<&Socket> {
        closed(items).map(|(socket, _)| socket).find(|s| s.local == local && s.remote == remote)
    }

    /// A connection from `ip` to a listener on `ip`, 1000 bytes each way,
    /// both ends read everything and close (FIN). Returns (client, server)
    /// addresses.
    fn connection_with_data(ip: &str) -> Option<(SocketAddr, SocketAddr)> {
        let listener = TcpListener::bind(format!("{ip}:0")).ok()?;
        let server_address = listener.local_addr().expect("listener address");
        let mut client = TcpStream::connect(server_address).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        let client_address = client.local_addr().expect("client address");
        client.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        server.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let payload = [7u8; 1000];
        client.write_all(&payload).expect("client write");
        server.write_all(&payload).expect("server write");
        let mut received = [0u8; 1000];
        client.read_exact(&mut received).expect("client read");
        server.read_exact(&mut received).expect("server read");
        drop(client);
        drop(server);
        Some((client_address, server_address))
    }

    fn check_connection(ip: &str, family: Family) {
        let mut stream = open();
        let Some((client, server)) = connection_with_data(ip) else {
            eprintln!("note: cannot listen on {ip} here (IPv6 disabled?); test skipped");
            return;
        };
        let started = Instant::now();
        let items = read_until(&mut stream, Duration::from_secs(1), |items| {
            find(items, client, Some(server)).is_some() && find(items, server, Some(client)).is_some()
        });
        for (local, remote) in [(client, server), (server, client)] {
            let socket = find(&items, local, Some(remote))
                .unwrap_or_else(|| panic!("no destroy message for {local} -> {remote} within 1 s"));
            assert_eq!(socket.protocol, Protocol::Tcp);
            assert_eq!(socket.family, family);
            assert_eq!(socket.state, SocketState::Close);
            assert_eq!(socket.netns, own_netns());
            assert_eq!((socket.uid, socket.inode), (0, 0), "the kernel does not fill them");
            let counters = socket.tcp_counters.as_ref().expect("tcp_info at destroy");
            assert_eq!(counters.bytes_sent, Some(1000), "{local}: {counters:?}");
            let received = counters.bytes_received.expect("bytes_received");
            assert!(received == 1000 || received == 1001, "{local}: bytes_received {received}");
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn destroy_default_receive_buffer_is_the_largest_allowed() {
        let stream = open();
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("net.core.rmem_max");
        // Forced (CAP_NET_ADMIN): 2 x 32 MiB. Otherwise capped: 2 x rmem_max.
        let least = 2 * rmem_max.min(DEFAULT_RECEIVE_BUFFER);
        assert!(
            stream.receive_buffer() >= least,
            "receive buffer {} < {least} (rmem_max {rmem_max})",
            stream.receive_buffer()
        );
        let small = stream.with_receive_buffer(64 * 1024).expect("a smaller buffer");
        assert_eq!(small.receive_buffer(), 128 * 1024, "the kernel doubles what was asked");
    }

    #[test]
    fn destroy_tcp_v4_connection_both_ends_with_counters() {
        check_connection("127.0.0.1", Family::V4);
    }

    #[test]
    fn destroy_tcp_v6_connection_both_ends_with_counters() {
        check_connection("[::1]", Family::V6);
    }

    #[test]
    fn destroy_udp_bound_and_connected() {
        let mut stream = open();
        let bound = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let bound_address = bound.local_addr().expect("address");
        let connected = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        connected.connect(bound_address).expect("connect udp");
        let connected_address = connected.local_addr().expect("address");
        drop(bound);
        drop(connected);
        let items = read_until(&mut stream, Duration::from_secs(1), |items| {
            find(items, bound_address, None).is_some() && find(items, connected_address, Some(bound_address)).is_some()
        });
        let socket = find(&items, bound_address, None).expect("the bound UDP socket's end within 1 s");
        assert_eq!((socket.protocol, socket.state), (Protocol::Udp, SocketState::Unconnected));
        assert!(socket.tcp_counters.is_none());
        let socket =
            find(&items, connected_address, Some(bound_address)).expect("the connected UDP socket's end within 1 s");
        assert_eq!((socket.protocol, socket.state), (Protocol::Udp, SocketState::Established));
    }

    #[test]
    fn destroy_listener_closed_has_local_address_and_no_remote() {
        let mut stream = open();
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let items = read_until(&mut stream, Duration::from_secs(1), |items| find(items, address, None).is_some());
        let socket = find(&items, address, None).expect("the listener's end within 1 s");
        assert_eq!((socket.protocol, socket.state), (Protocol::Tcp, SocketState::Close));
    }

    /// Messages of connections to `port`: (client port, is the client side) -> count, and their cookies.
    fn tally(items: &[Destroyed], port: u16, counts: &mut HashMap<(u16, bool), usize>, cookies: &mut Vec<u64>) {
        for (socket, cookie) in closed(items) {
            let Some(remote) = socket.remote else { continue };
            if remote.port() == port && socket.local.port() != port {
                *counts.entry((socket.local.port(), true)).or_default() += 1;
                cookies.push(cookie);
            } else if socket.local.port() == port {
                *counts.entry((remote.port(), false)).or_default() += 1;
                cookies.push(cookie);
            }
        }
    }

    #[test]
    fn destroy_2000_short_connections_each_socket_once() {
        let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
        let mut stream = open();
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        let port = address.port();
        // A client port can come back (tcp_tw_reuse on loopback): count uses.
        let mut uses: HashMap<u16, usize> = HashMap::new();
        let mut items = Vec::new();
        let started = Instant::now();
        for i in 0..2000 {
            let client = TcpStream::connect(address).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            *uses.entry(client.local_addr().expect("address").port()).or_default() += 1;
            drop(client);
            drop(server);
            if i % 100 == 99 {
                stream.read(&mut items, Duration::ZERO).expect("read");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "2000 connections took over 30 s");
        }
        let rate = 2000.0 / started.elapsed().as_secs_f64();
        let mut counts = HashMap::new();
        let mut cookies = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut more = Vec::new();
            stream.read(&mut more, Duration::from_millis(50)).expect("read");
            items.extend(more);
            counts.clear();
            cookies.clear();
            tally(&items, port, &mut counts, &mut cookies);
            if cookies.len() >= 4000 || Instant::now() >= deadline {
                break;
            }
        }
        assert!(
            !items.iter().any(|i| matches!(i, Destroyed::Overflow { .. })),
            "the buffer ({} bytes) overflowed",
            stream.receive_buffer()
        );
        for (&client_port, &n) in &uses {
            assert_eq!(counts.get(&(client_port, true)), Some(&n), "client side of port {client_port}");
            assert_eq!(counts.get(&(client_port, false)), Some(&n), "server side of port {client_port}");
        }
        assert_eq!(cookies.len(), 4000, "4000 sockets, each reported once ({rate:.0} conn/s)");
        assert_eq!(cookies.iter().collect::<HashSet<_>>().len(), 4000, "every cookie once");
    }

    #[test]
    fn destroy_overflow_is_reported_and_reading_goes_on() {
        let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
        let mut stream = open().with_receive_buffer(16 * 1024).expect("a small buffer");
        assert!(stream.receive_buffer() < 1 << 20, "asked for 16 KiB, got {}", stream.receive_buffer());
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        for _ in 0..2000 {
            let client = TcpStream::connect(address).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            drop((client, server));
        }
        // Give the kernel's workqueue time to send (and drop) the last ones.
        std::thread::sleep(Duration::from_millis(100));
        let items = read_until(&mut stream, Duration::from_secs(2), |items| {
            items.iter().any(|i| matches!(i, Destroyed::Overflow { reason: OverflowReason::KernelBuffer, .. }))
        });
        assert!(
            items.iter().any(|i| matches!(i, Destroyed::Overflow { reason: OverflowReason::KernelBuffer, .. })),
            "no ENOBUFS with a {} byte buffer after 4000 closes ({} items read)",
            stream.receive_buffer(),
            items.len()
        );
        // Reading goes on: once the backlog is drained, a new connection's
        // close is read. Other tests of this crate run beside this one and
        // close sockets of their own, which can fill a 16 KiB buffer again
        // before ours arrives (the kernel then reports a second overflow):
        // so try up to ten connections, each after a drain, and want one seen.
        let mut attempts = Vec::new();
        for _ in 0..10 {
            let _ = read_until(&mut stream, Duration::from_millis(200), |_| false);
            let client = TcpStream::connect(address).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            let client_address = client.local_addr().expect("address");
            drop((client, server));
            let items = read_until(&mut stream, Duration::from_secs(1), |items| {
                find(items, client_address, Some(address)).is_some()
            });
            if find(&items, client_address, Some(address)).is_some() {
                return;
            }
            let overflowed = items.iter().any(|i| matches!(i, Destroyed::Overflow { .. }));
            attempts.push(format!("{} items, overflow again: {overflowed}", items.len()));
        }
        panic!("no connection after the overflow was seen in 10 tries: {attempts:?}");
    }

    #[test]
    fn destroy_reader_thread_hands_batches_and_stops_promptly() {
        let reader = DestroyReader::spawn(open(), 64).expect("reader thread");
        assert_eq!(reader.netns(), own_netns());
        assert!(reader.receive_buffer() > 0);
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        let mut clients = HashSet::new();
        for _ in 0..10 {
            let client = TcpStream::connect(address).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            clients.insert(client.local_addr().expect("address"));
            drop((client, server));
        }
        let mut items = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let seen = clients.iter().filter(|c| find(&items, **c, Some(address)).is_some()).count();
            if seen == clients.len() {
                break;
            }
            if let Ok(batch) = reader.receiver().recv_timeout(Duration::from_millis(50)) {
                items.extend(batch);
            }
        }
        for client in &clients {
            assert!(find(&items, *client, Some(address)).is_some(), "{client} not seen through the channel");
            assert!(find(&items, address, Some(*client)).is_some(), "server side of {client} not seen");
        }
        assert!(reader.error().is_none());
        let stopping = Instant::now();
        reader.stop();
        assert!(stopping.elapsed() < Duration::from_millis(500), "stop took {:?}", stopping.elapsed());
    }

    #[test]
    fn destroy_reader_reports_a_consumer_behind() {
        let reader = DestroyReader::spawn(open(), 1).expect("reader thread");
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        // Nobody reads the channel: after the first batch, the rest are dropped.
        let started = Instant::now();
        let mut behind = false;
        while started.elapsed() < Duration::from_secs(3) && !behind {
            for _ in 0..20 {
                let client = TcpStream::connect(address).expect("connect");
                let (server, _) = listener.accept().expect("accept");
                drop((client, server));
            }
            std::thread::sleep(Duration::from_millis(30));
            if started.elapsed() > Duration::from_millis(500) {
                // Make room: the next batch must be the overflow report.
                while let Ok(batch) = reader.receiver().recv_timeout(Duration::from_millis(300)) {
                    if batch
                        .iter()
                        .any(|i| matches!(i, Destroyed::Overflow { reason: OverflowReason::ConsumerBehind, .. }))
                    {
                        behind = true;
                        break;
                    }
                }
            }
        }
        assert!(behind, "no Overflow{{ConsumerBehind}} with a channel of 1 nobody read");
        reader.stop();
    }

    #[test]
    fn destroy_open_in_another_namespace_sees_only_that_namespace() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("note: entering a network namespace needs root (CAP_SYS_ADMIN); test skipped");
            return;
        }
        let (to_other, commands) = mpsc::channel::<()>();
        let (replies, from_other) = mpsc::channel::<io::Result<(File, u16)>>();
        let other = thread::spawn(move || {
            // SAFETY: unshare on this thread only.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                let _ = replies.send(Err(io::Error::last_os_error()));
                return;
            }
            let file = match File::open("/proc/thread-self/ns/net") {
                Ok(file) => file,
                Err(e) => {
                    let _ = replies.send(Err(e));
                    return;
                }
            };
            // lo is down in a new namespace: a wildcard bind still works.
            let socket = UdpSocket::bind("0.0.0.0:0").expect("bind in the new namespace");
            let port = socket.local_addr().expect("address").port();
            let _ = replies.send(Ok((file, port)));
            let _ = commands.recv_timeout(Duration::from_secs(5));
            drop(socket);
        });
        let (file, port) =
            from_other.recv_timeout(Duration::from_secs(5)).expect("the thread answers").expect("unshare");
        let inode = std::os::unix::fs::MetadataExt::ino(&file.metadata().expect("nsfs metadata"));
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let mut theirs = DestroyStream::open_in(Path::new(&path), inode).expect("open_in");
        let mut ours = open();
        let _ = to_other.send(());
        other.join().expect("the namespace thread");
        let wanted = |s: &Socket| s.protocol == Protocol::Udp && s.local.port() == port && s.remote.is_none();
        let items = read_until(&mut theirs, Duration::from_secs(1), |items| closed(items).any(|(s, _)| wanted(s)));
        let (socket, _) = closed(&items).find(|(s, _)| wanted(s)).expect("the other namespace's socket");
        assert_eq!(socket.netns, inode);
        let items = read_until(&mut ours, Duration::from_millis(200), |_| false);
        assert!(
            !closed(&items).any(|(s, _)| wanted(s) && s.local.ip().is_unspecified()),
            "our namespace's stream saw the other namespace's socket"
        );
    }
}
