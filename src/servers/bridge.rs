//! nc-style plumbing: stdin to a socket, the socket to stdout.
//!
//! A TCP bridge is two copies running at once, stdin → socket and socket →
//! stdout, each on its own thread, and it ends only when both are done:
//!
//! - stdin's end becomes a half-close (shutdown(SHUT_WR)): the peer reads
//!   EOF and may still answer;
//! - the peer's end closes stdout (a reader downstream sees EOF), while
//!   berth goes on sending the rest of stdin;
//! - once both are done, berth waits until the peer's kernel has
//!   acknowledged every byte it sent (the socket's send queue is empty), so
//!   a reset that comes after the last write is still noticed.
//!
//! Ending when the peer's side ends (as `nc -l` does) loses whatever stdin
//! had not been sent yet; that is how `berth listen > file &` (stdin
//! /dev/null, so berth half-closes at once) used to cut `berth connect <
//! file` short. Any byte left unsent or unwritten is a [`Failure`], never a
//! quiet success. Two exceptions end the bridge early, both chosen by the
//! user: an idle timeout, and a terminal on stdin (when the peer is done,
//! nothing typed is waiting to be sent, and nobody wants to press Ctrl-D to
//! leave; ncat does the same).

use std::fmt;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Copy buffer: large enough for full-speed loopback transfers.
const CHUNK: usize = 256 * 1024;

/// How a bridge failed; every case but [`Failure::Idle`] means bytes were
/// lost on the way.
#[derive(Debug)]
pub enum Failure {
    /// Nothing moved either way for this long (`--idle-timeout`).
    Idle(Duration),
    /// Reading stdin failed after `sent` bytes had been sent.
    Stdin { error: io::Error, sent: u64 },
    /// Sending failed after `sent` bytes: the rest of stdin was not sent.
    Send { error: io::Error, sent: u64 },
    /// Receiving failed after `received` bytes (typically a reset).
    Receive { error: io::Error, received: u64 },
    /// Writing stdout failed after `written` bytes.
    Stdout { error: io::Error, written: u64 },
    /// The connection ended before the peer acknowledged the last `unacknowledged` bytes sent.
    Unacknowledged { error: Option<io::Error>, unacknowledged: u64, sent: u64 },
    /// The peer refused a datagram (ICMP port unreachable): it was not delivered.
    Refused { sent: u64 },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Idle(limit) => {
                write!(f, "nothing moved either way for {:.1} s (--idle-timeout); gave up", limit.as_secs_f64())
            }
            Failure::Stdin { error, sent } => {
                write!(f, "cannot read stdin: {error} (after {sent} bytes sent; the rest was not sent)")
            }
            Failure::Send { error, sent } => write!(
                f,
                "sending failed: {} (after {sent} bytes sent; the rest of stdin was not sent)",
                peer_error(error)
            ),
            Failure::Receive { error, received } => write!(
                f,
                "receiving failed: {} (after {received} bytes received; what was sent may not have arrived)",
                peer_error(error)
            ),
            Failure::Stdout { error, written } => {
                write!(f, "cannot write to stdout: {error} (after {written} bytes; the rest was not written)")
            }
            Failure::Unacknowledged { error, unacknowledged, sent } => {
                let why = error.as_ref().map(peer_error).unwrap_or_else(|| "the connection was closed".into());
                write!(f, "{why} before acknowledging the last {unacknowledged} of {sent} bytes sent")
            }
            Failure::Refused { sent } => write!(
                f,
                "the peer's port is closed (ICMP port unreachable) after {sent} bytes sent: a datagram was not delivered"
            ),
        }
    }
}

/// A socket error in words: the kernel reports a reset that comes after
/// the peer's FIN as EPIPE ("Broken pipe"), which says nothing about whom.
fn peer_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::BrokenPipe => format!("the peer closed or reset the connection ({error})"),
        io::ErrorKind::ConnectionReset => format!("the peer reset the connection ({error})"),
        _ => error.to_string(),
    }
}

/// The counters both copy threads update and the idle clock.
struct Progress {
    started: Instant,
    /// Milliseconds since `started` at the last byte moved either way.
    last: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// The stdin copy's state, for ending early on a terminal: the main thread
/// may end the stdin side only while it waits for input, never while a
/// line read is being sent.
const READING: u8 = 0;
const WRITING: u8 = 1;
const ENDED: u8 = 2;

/// How often the main thread looks whether a terminal's line has been sent.
const TERMINAL_POLL: Duration = Duration::from_millis(20);

enum Event {
    Sent(Result<(), Failure>),
    Received(Result<(), Failure>),
}

/// Runs the TCP bridge until both directions are done (see the module
/// comment), or `idle` passes with nothing moving.
pub fn tcp(stream: TcpStream, idle: Option<Duration>) -> Result<(), Failure> {
    let progress = Arc::new(Progress::new());
    let state = Arc::new(AtomicU8::new(READING));
    let (events, inbox) = mpsc::channel();
    let clone = |stream: &TcpStream| stream.try_clone().map_err(|error| Failure::Send { error, sent: 0 });
    {
        let (writer, progress, state, events) = (clone(&stream)?, progress.clone(), state.clone(), events.clone());
        // Not joined: on a terminal this thread may stay blocked reading
        // after the bridge is over; the caller exits the process.
        std::thread::spawn(move || {
            let _ = events.send(Event::Sent(stdin_to_socket(writer, &progress, &state)));
        });
    }
    {
        let (reader, progress) = (clone(&stream)?, progress.clone());
        std::thread::spawn(move || {
            let _ = events.send(Event::Received(socket_to_stdout(reader, &progress)));
        });
    }
    let interactive = io::stdin().is_terminal();
    let (mut sent, mut received) = (false, false);
    while !(sent && received) {
        let ending_early = received && interactive;
        if ending_early && state.compare_exchange(READING, ENDED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            let _ = stream.shutdown(Shutdown::Write);
            break;
        }
        let mut wait = idle.map(|limit| limit.saturating_sub(progress.idle_for()));
        if ending_early {
            // A line is being sent: look again once it is.
            wait = Some(wait.map_or(TERMINAL_POLL, |w| w.min(TERMINAL_POLL)));
        }
        let event = match wait {
            None => inbox.recv().ok(),
            Some(wait) => match inbox.recv_timeout(wait) {
                Ok(event) => Some(event),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(limit) = idle.filter(|&limit| progress.idle_for() >= limit) {
                        return Err(Failure::Idle(limit));
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        match event {
            Some(Event::Sent(result)) => {
                result?;
                sent = true;
            }
            Some(Event::Received(result)) => {
                result?;
                received = true;
            }
            // Both threads gone without a word: cannot happen (each sends
            // before it ends), but never wait forever on it.
            None => break,
        }
    }
    wait_acknowledged(&stream, &progress, idle)
}

/// stdin → socket, then the half-close.
fn stdin_to_socket(mut writer: TcpStream, progress: &Progress, state: &AtomicU8) -> Result<(), Failure> {
    let mut stdin = io::stdin().lock();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Failure::Stdin { error, sent: progress.sent.load(Ordering::Relaxed) }),
        };
        // The bridge ended while this read waited (a terminal, after the
        // peer was done): these bytes were typed after the end.
        if state.compare_exchange(READING, WRITING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(());
        }
        let mut chunk = &buffer[..n];
        while !chunk.is_empty() {
            match writer.write(chunk) {
                Ok(0) => {
                    let error = io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    return Err(Failure::Send { error, sent: progress.sent.load(Ordering::Relaxed) });
                }
                Ok(written) => {
                    chunk = &chunk[written..];
                    progress.sent.fetch_add(written as u64, Ordering::Relaxed);
                    progress.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Failure::Send { error, sent: progress.sent.load(Ordering::Relaxed) }),
            }
        }
        state.store(READING, Ordering::Release);
    }
    if state.compare_exchange(READING, ENDED, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return Ok(());
    }
    // Half-close: the peer sees EOF, and may still answer.
    writer
        .shutdown(Shutdown::Write)
        .map_err(|error| Failure::Send { error, sent: progress.sent.load(Ordering::Relaxed) })
}

/// socket → stdout, then stdout closed.
fn socket_to_stdout(mut reader: TcpStream, progress: &Progress) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut buffer = vec![0u8; CHUNK];
    let stdout_failed =
        |error, progress: &Progress| Failure::Stdout { error, written: progress.received.load(Ordering::Relaxed) };
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset (or any error) cuts the stream short: what the peer
            // had not read of ours is gone, and so is what it meant to send.
            Err(error) => return Err(Failure::Receive { error, received: progress.received.load(Ordering::Relaxed) }),
        };
        progress.touch();
        // Locked per write, never across a read, so nothing else that
        // touches stdout waits on the peer.
        let mut out = stdout.lock();
        out.write_all(&buffer[..n]).and_then(|_| out.flush()).map_err(|e| stdout_failed(e, progress))?;
        progress.received.fetch_add(n as u64, Ordering::Relaxed);
    }
    close_stdout();
    Ok(())
}

/// Closes what stdout was (a pipe reader sees EOF now, not when berth
/// exits) and leaves /dev/null in its place, so descriptor 1 stays valid.
/// Best effort: everything was written and flushed already, so failing
/// here loses nothing; the reader then sees EOF when berth exits.
fn close_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 on two descriptors this process holds.
        unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) };
    }
}

/// Waits until the peer has acknowledged everything sent, the FIN
/// included (SIOCOUTQ, the bytes sent but not acknowledged, is 0), or the
/// connection fails. Exiting earlier would report success for bytes a
/// reset may still throw away.
fn wait_acknowledged(stream: &TcpStream, progress: &Progress, idle: Option<Duration>) -> Result<(), Failure> {
    let mut pause = Duration::from_millis(1);
    loop {
        let sent = progress.sent.load(Ordering::Relaxed);
        let failed = |error: Option<io::Error>, unacknowledged| Failure::Unacknowledged { error, unacknowledged, sent };
        let unacknowledged = match unacknowledged_bytes(stream) {
            Ok(n) => n,
            // No longer a connection the kernel can tell about: nothing is queued.
            Err(_) => return Ok(()),
        };
        if unacknowledged == 0 {
            return Ok(());
        }
        if let Ok(Some(error)) = stream.take_error() {
            return Err(failed(Some(error), unacknowledged));
        }
        if tcp_state(stream) == Some(TCP_CLOSE) {
            return Err(failed(None, unacknowledged));
        }
        if let Some(limit) = idle {
            if progress.idle_for() >= limit {
                return Err(Failure::Idle(limit));
            }
        }
        // Polling a kernel counter: there is no event for "acknowledged".
        // On loopback the queue is usually empty at the first look.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// SIOCOUTQ: bytes (and the FIN) sent but not yet acknowledged, plus any not yet sent.
fn unacknowledged_bytes(stream: &TcpStream) -> io::Result<u64> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (= SIOCOUTQ) writes one int through the pointer.
    if unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(queued.max(0) as u64)
}

/// TCP_CLOSE in the kernel's enum of TCP states (include/net/tcp_states.h).
const TCP_CLOSE: u8 = 7;

/// The TCP state (TCP_INFO's tcpi_state), when the kernel tells.
fn tcp_state(stream: &TcpStream) -> Option<u8> {
    // SAFETY: getsockopt writes at most `len` bytes into a zeroed tcp_info.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc == 0).then_some(info.tcpi_state)
    }
}

/// How often the UDP bridge looks whether stdin has ended, while it has not.
const STDIN_POLL: Duration = Duration::from_millis(50);

/// Runs the UDP bridge on a connected socket: each read of stdin is one
/// datagram; each datagram received goes to stdout.
///
/// UDP has no end of stream to pass on, so stdin's end is not the end of
/// the session. `linger` says what is: Some for a client (`connect -u`),
/// which has sent what it had and waits that long, after stdin and after
/// each reply, for more replies; None for a listener (`listen -u`), which
/// keeps receiving until `idle` passes with nothing moving or a signal
/// ends it, as `ncat -ul` does: a script's stdin is /dev/null, and ending
/// a second after it (as berth did, and `socat UDP-LISTEN:P -` does half
/// a second after) lost every datagram that came later, with exit 0.
/// `idle` applies throughout, before stdin's end and after.
///
/// A datagram that could not be sent, or that the peer's host refused
/// (ICMP port unreachable), is a failure: something was not delivered.
pub fn udp(socket: UdpSocket, linger: Option<Duration>, idle: Option<Duration>) -> Result<(), Failure> {
    let sender = socket.try_clone().map_err(|error| Failure::Send { error, sent: 0 })?;
    let progress = Arc::new(Progress::new());
    let (done_tx, done_rx) = mpsc::channel::<Result<(), Failure>>();
    {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(stdin_to_datagrams(&sender, &progress));
        });
    }
    let mut stdout = io::stdout().lock();
    let mut buffer = vec![0u8; 65_536];
    let mut quiet_since: Option<Instant> = None;
    let mut stdin_done = false;
    loop {
        if !stdin_done {
            match done_rx.try_recv() {
                Ok(result) => {
                    result?;
                    stdin_done = true;
                }
                Err(mpsc::TryRecvError::Disconnected) => stdin_done = true,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        // The longest this receive may wait: until stdin is looked at
        // again, the linger is over or the idle limit is reached; without
        // any of them (a listener whose stdin ended), as long as it takes.
        let mut wait = (!stdin_done).then_some(STDIN_POLL);
        if let (true, Some(linger)) = (stdin_done, linger) {
            let left = linger.saturating_sub(quiet_since.get_or_insert_with(Instant::now).elapsed());
            if left.is_zero() {
                return Ok(());
            }
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        if let Some(limit) = idle {
            let left = limit.saturating_sub(progress.idle_for());
            if left.is_zero() {
                return Err(Failure::Idle(limit));
            }
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        // Never zero (which set_read_timeout refuses): a millisecond at least.
        let _ = socket.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))));
        match socket.recv(&mut buffer) {
            Ok(n) => {
                progress.touch();
                stdout
                    .write_all(&buffer[..n])
                    .and_then(|_| stdout.flush())
                    .map_err(|error| Failure::Stdout { error, written: progress.received.load(Ordering::Relaxed) })?;
                progress.received.fetch_add(n as u64, Ordering::Relaxed);
                quiet_since = None;
            }
            Err(e) if crate::net::is_socket_timeout(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(Failure::Refused { sent: progress.sent.load(Ordering::Relaxed) })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(Failure::Receive { error, received: progress.received.load(Ordering::Relaxed) }),
        }
    }
}

/// Each read of stdin, sent as one datagram.
fn stdin_to_datagrams(sender: &UdpSocket, progress: &Progress) -> Result<(), Failure> {
    let mut stdin = io::stdin().lock();
    let mut buffer = vec![0u8; 65_507];
    loop {
        let n = match stdin.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(Failure::Stdin { error, sent: progress.sent.load(Ordering::Relaxed) }),
        };
        loop {
            match sender.send(&buffer[..n]) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The kernel reports an ICMP error for an earlier datagram
                // on this send, and does not send this one.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(Failure::Refused { sent: progress.sent.load(Ordering::Relaxed) })
                }
                Err(error) => return Err(Failure::Send { error, sent: progress.sent.load(Ordering::Relaxed) }),
            }
        }
        progress.sent.fetch_add(n as u64, Ordering::Relaxed);
        progress.touch();
    }
}
