//! The echo server: TCP (a thread per client) and UDP (one thread
//! answering every datagram that cannot start a loop: see [`serve_udp`]).
//!
//! TCP clients cannot hold the server: one that sends nothing for the idle
//! timeout is closed, one that does not read its echo for the send timeout
//! is dropped (both are socket timeouts, SO_RCVTIMEO and SO_SNDTIMEO, on
//! the client's own blocking calls: no timer thread). Those catch only a
//! client that makes no progress at all: one that sends a byte just inside
//! the idle timeout, or reads a byte per send timeout, passes both. So at
//! `--max-clients` a new client is not refused: the client quiet the
//! longest (the oldest last read from it or echo completed to it) is
//! closed to make room ([`Clients`]), as `berth serve` does at its
//! connection cap. Holding every slot then takes out-talking every other
//! client, all the time, not one byte a second. And the memory of all of
//! them together is bounded:
//!
//! - a client is read only once everything it sent before has been
//!   echoed (backpressure): what a client that does not read keeps
//!   sending waits in the kernel's socket buffers, whose size the kernel
//!   bounds, not in berth;
//! - each client has a [`SMALL`] buffer and a [`STACK`] thread stack;
//! - bulk transfers need large reads to go fast (1 MiB measured best here:
//!   a 128 KiB buffer cost half again as much CPU per GiB), so a client
//!   whose read fills its small buffer borrows a [`LARGE`] one from a pool
//!   of [`LARGE_COUNT`], made on first use and reused, never freed, and
//!   gives it back once its reads are small again (or it ends).
//!
//! So berth's buffers and stacks never take more than
//! `max_clients × (SMALL + STACK) + LARGE_COUNT × LARGE`: 56 MiB at the
//! default 512 clients, where one 1 MiB buffer per client held 532 MB.

use crate::stderr::say;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::is_socket_timeout;

/// How `--log` shows the traffic that passes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// As text, with what would act on a terminal escaped.
    Text,
    /// As hex bytes.
    Hex,
}

/// Every client's own buffer: enough for interactive use and small echoes.
pub const SMALL: usize = 16 * 1024;
/// A buffer for bulk transfers, lent from the pool.
pub const LARGE: usize = 1024 * 1024;
/// How many large buffers there are: that many clients move bulk data at
/// full speed at once; others go on with their small buffers.
pub const LARGE_COUNT: usize = 16;
/// A client thread's stack: the thread only copies and formats log lines.
pub const STACK: usize = 64 * 1024;

/// The limits of the TCP echo, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Most clients served at once; at the cap a new one closes the
    /// client quiet the longest.
    pub max_clients: usize,
    /// A client that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A client whose echo cannot be sent for this long (it does not
    /// read) is dropped.
    pub send_timeout: Duration,
}

/// The shared large buffers (see the module comment).
struct Pool {
    /// Buffers made so far, and the ones not lent out.
    state: Mutex<(usize, Vec<Box<[u8]>>)>,
}

impl Pool {
    fn new() -> Pool {
        Pool { state: Mutex::new((0, Vec::new())) }
    }

    /// A large buffer, if one is free or may still be made.
    fn take(&self) -> Option<Box<[u8]>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(buffer) = state.1.pop() {
            return Some(buffer);
        }
        if state.0 < LARGE_COUNT {
            state.0 += 1;
            return Some(vec![0u8; LARGE].into_boxed_slice());
        }
        None
    }

    fn give(&self, buffer: Box<[u8]>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1.push(buffer);
    }
}

/// A large buffer on loan, returned to the pool when dropped.
struct Loan<'a> {
    pool: &'a Pool,
    buffer: Option<Box<[u8]>>,
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give(buffer);
        }
    }
}

/// How long a new client waits at the cap for the client closed to make
/// room to be gone (its thread sees EOF or EPIPE at once and ends; only a
/// stderr that takes no log line holds it up), before it is refused.
const MAKING_ROOM: Duration = Duration::from_secs(1);

/// The TCP clients being served: what `--max-clients` counts, and whom to
/// close at the cap.
struct Clients {
    max: usize,
    started: Instant,
    table: Mutex<Vec<Arc<Client>>>,
    /// Signalled whenever a client leaves the table.
    left: Condvar,
}

/// One client's entry.
struct Client {
    /// Its socket, valid while the entry is in the table: [`Slot`] takes
    /// the entry out before the socket is closed.
    fd: RawFd,
    /// Milliseconds since [`Clients::started`] at its last activity: the
    /// connect, a read that brought bytes, an echo sent in full.
    active: AtomicU64,
    /// Closed to make room for a newer client.
    evicted: AtomicBool,
}

impl Clients {
    fn new(max: usize) -> Clients {
        Clients { max, started: Instant::now(), table: Mutex::new(Vec::new()), left: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Client>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A slot for `stream`. At the cap, the client quiet the longest is
    /// shut down (its blocked read or write returns at once) and this one
    /// waits until it is gone, so there are never more client threads, or
    /// buffers, than `max`. None (refused) only when no one left within
    /// [`MAKING_ROOM`]; a client shut down earlier that has not left yet
    /// is waited for, not joined by another.
    fn admit(this: &Arc<Clients>, stream: TcpStream) -> Option<Slot> {
        let mut table = this.lock();
        if table.len() >= this.max {
            let leaving = table.iter().any(|c| c.evicted.load(Ordering::Relaxed));
            let quietest = table.iter().min_by_key(|c| c.active.load(Ordering::Relaxed)).filter(|_| !leaving);
            if let Some(victim) = quietest {
                victim.evicted.store(true, Ordering::Relaxed);
                // SAFETY: the table is locked and the entry in it, so its
                // socket is still open (see `Client::fd`).
                unsafe { libc::shutdown(victim.fd, libc::SHUT_RDWR) };
            }
            let (waited, _) = this
                .left
                .wait_timeout_while(table, MAKING_ROOM, |table| table.len() >= this.max)
                .unwrap_or_else(|p| p.into_inner());
            table = waited;
            if table.len() >= this.max {
                return None;
            }
        }
        let client = Arc::new(Client {
            fd: stream.as_raw_fd(),
            active: AtomicU64::new(this.now()),
            evicted: AtomicBool::new(false),
        });
        table.push(Arc::clone(&client));
        Some(Slot { stream, client, clients: Arc::clone(this) })
    }
}

/// A client's place in [`Clients`], owning its socket: dropping it takes
/// the entry out of the table first, then closes the socket (fields drop
/// after `drop`), so the table never names a closed descriptor.
struct Slot {
    stream: TcpStream,
    client: Arc<Client>,
    clients: Arc<Clients>,
}

impl Slot {
    fn touch(&self) {
        self.client.active.store(self.clients.now(), Ordering::Relaxed);
    }

    fn evicted(&self) -> bool {
        self.client.evicted.load(Ordering::Relaxed)
    }

    /// Seconds since its last activity.
    fn quiet_for(&self) -> f64 {
        let last = self.client.active.load(Ordering::Relaxed);
        Duration::from_millis(self.clients.now().saturating_sub(last)).as_secs_f64()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.clients.lock();
        if let Some(i) = table.iter().position(|c| Arc::ptr_eq(c, &self.client)) {
            table.swap_remove(i);
        }
        drop(table);
        self.clients.left.notify_all();
    }
}

/// Why a client was let go before it closed.
#[derive(Debug)]
enum Ended {
    /// Nothing came for the idle timeout.
    Idle(u64),
    /// Its echo could not be sent for the send timeout.
    Stalled(u64),
    /// Closed to make room for a new client at the cap.
    Evicted(u64),
    /// A socket error.
    Failed(io::Error),
}

/// Echoes every TCP client of `listener` until the process ends.
pub fn serve_tcp(listener: TcpListener, limits: TcpLimits, log: Option<LogFormat>) -> io::Result<()> {
    let clients = Arc::new(Clients::new(limits.max_clients));
    let pool = Arc::new(Pool::new());
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // Out of descriptors or an aborted handshake: keep serving the others.
            Err(e) if is_transient(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(slot) = Clients::admit(&clients, stream) else {
            let max_clients = limits.max_clients;
            say!("berth: echo: {peer}: refused, {max_clients} clients already (--max-clients) and none left in time");
            continue;
        };
        let pool = Arc::clone(&pool);
        // The slot moves into the thread; if no thread can be made, it is
        // dropped with the closure, which frees the slot and closes the socket.
        let spawned = std::thread::Builder::new().name(format!("echo {peer}")).stack_size(STACK).spawn(move || {
            if log.is_some() {
                say!("berth: echo: {peer} connected");
            }
            let ended = echo_stream(&slot, peer, limits, &pool, log);
            let quiet_for = slot.quiet_for();
            // Leave before logging: a newcomer waiting for this slot does
            // not wait for stderr too.
            drop(slot);
            match ended {
                Ok(bytes) if log.is_some() => say!("berth: echo: {peer} closed after {bytes} bytes"),
                Ok(_) => {}
                Err(Ended::Idle(bytes)) => say!(
                    "berth: echo: {peer}: closed, nothing received for {:.1} s (--idle-timeout), after {bytes} bytes",
                    limits.idle_timeout.as_secs_f64()
                ),
                Err(Ended::Stalled(bytes)) => say!(
                    "berth: echo: {peer}: dropped, it did not read its echo for {:.1} s (--send-timeout), after {bytes} bytes",
                    limits.send_timeout.as_secs_f64()
                ),
                Err(Ended::Evicted(bytes)) => say!(
                    "berth: echo: {peer}: closed to make room for a new client (--max-clients {}): it was the \
                     quietest, nothing moved for {:.1} s, after {bytes} bytes",
                    limits.max_clients,
                    quiet_for
                ),
                Err(Ended::Failed(e)) if log.is_some() => say!("berth: echo: {peer}: {e}"),
                Err(Ended::Failed(_)) => {}
            }
        });
        if spawned.is_err() {
            say!("berth: echo: {peer}: no thread for it (system limit); dropped");
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ECONNABORTED | libc::EINTR | libc::ENOBUFS))
}

/// Sends back everything one client sends; returns the byte count.
fn echo_stream(
    slot: &Slot,
    peer: SocketAddr,
    limits: TcpLimits,
    pool: &Pool,
    log: Option<LogFormat>,
) -> Result<u64, Ended> {
    let mut total = 0;
    let result = echo_until_done(slot, &mut total, peer, limits, pool, log);
    // Shut down by a newer client: that is why, whatever the socket said.
    if slot.evicted() {
        return Err(Ended::Evicted(total));
    }
    result.map(|()| total)
}

/// [`echo_stream`]'s loop; `total` counts the bytes echoed.
fn echo_until_done(
    slot: &Slot,
    total: &mut u64,
    peer: SocketAddr,
    limits: TcpLimits,
    pool: &Pool,
    log: Option<LogFormat>,
) -> Result<(), Ended> {
    let mut stream = &slot.stream;
    // No TCP_NODELAY: each read is written back whole, so Nagle never
    // holds a reply back, and bulk transfers go in full segments.
    stream.set_read_timeout(Some(limits.idle_timeout)).map_err(Ended::Failed)?;
    // Linux restarts this timeout whenever a send makes progress, so it
    // is a "no progress for" limit, however large the echo.
    stream.set_write_timeout(Some(limits.send_timeout)).map_err(Ended::Failed)?;
    let mut small = vec![0u8; SMALL];
    let mut large = Loan { pool, buffer: None };
    loop {
        let buffer: &mut [u8] = match large.buffer.as_mut() {
            Some(buffer) => buffer,
            None => &mut small,
        };
        let n = match stream.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_socket_timeout(&e) => return Err(Ended::Idle(*total)),
            Err(e) => return Err(Ended::Failed(e)),
        };
        slot.touch();
        if let Some(format) = log {
            log_data(peer, "tcp", &buffer[..n], format);
        }
        match stream.write_all(&buffer[..n]) {
            Ok(()) => {}
            Err(e) if is_socket_timeout(&e) => return Err(Ended::Stalled(*total)),
            Err(e) => return Err(Ended::Failed(e)),
        }
        // Only a whole echo counts: a client that takes its echo a byte at
        // a time stays as quiet as it was when it last sent.
        slot.touch();
        *total += n as u64;
        // A full small buffer: more is waiting, borrow a large one. Small
        // reads again: give it back for the next bulk client.
        if large.buffer.is_none() && n == SMALL {
            large.buffer = pool.take();
        } else if n < SMALL {
            if let Some(buffer) = large.buffer.take() {
                pool.give(buffer);
            }
        }
    }
    // The client closed its side: close ours once everything is sent back.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Source ports below this one are the system's services (echo 7,
/// discard 9, daytime 13, qotd 17, chargen 19, time 37, DNS 53, NTP 123
/// ...), several of which answer whatever datagram arrives: echoing to one
/// starts a loop that never ends (the "fraggle" attack, with chargen or
/// another echo). Clients send from ephemeral ports (32768-60999 by
/// default on Linux), so the whole privileged range is dropped rather than
/// a list that is never complete; OpenBSD's inetd does the same for its
/// UDP built-ins. Echo-like services on higher ports are what the per-peer
/// rate limit is for.
const SERVICE_PORTS_BELOW: u16 = 1024;

/// Slots of the per-peer rate table. Fixed, so spoofed sources cannot grow
/// it; peers whose (keyed) hashes collide share a bucket.
const RATE_SLOTS: usize = 4096;

/// How often later drops are summed up in the log.
const DROP_REPORT: Duration = Duration::from_secs(10);

/// Why a datagram is not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dropped {
    /// It comes from the echo's own port: its own reply coming back (the
    /// source was spoofed to be the echo itself), or another echo on the
    /// same port number elsewhere. Any address: either way it loops.
    OwnPort,
    /// It comes from a system service's port ([`SERVICE_PORTS_BELOW`]).
    ServicePort,
    /// Its peer sent more than the rate allows.
    RateLimit,
}

impl Dropped {
    const ALL: [Dropped; 3] = [Dropped::OwnPort, Dropped::ServicePort, Dropped::RateLimit];

    fn index(self) -> usize {
        self as usize
    }

    fn why(self, rate: u32) -> String {
        match self {
            Dropped::OwnPort => "it is berth's own port (a spoofed source, or another echo on the same port \
                                 number): answering would start an endless loop"
                .to_string(),
            Dropped::ServicePort => "ports below 1024 are system services (echo, chargen, daytime, time ...) \
                                     that may answer whatever they get: answering would start an endless loop"
                .to_string(),
            Dropped::RateLimit => format!(
                "more than {rate} datagrams a second (--udp-rate): a loop with another echo-like service dies out here"
            ),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Dropped::OwnPort => "from its own port",
            Dropped::ServicePort => "from service ports",
            Dropped::RateLimit => "over --udp-rate",
        }
    }
}

/// A token bucket: `tokens` left at `at` (seconds since the guard started).
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: f64,
}

/// Decides which datagrams the UDP echo answers, and logs the ones it
/// does not without flooding the log: each reason once, with its source,
/// then a sum every [`DROP_REPORT`].
struct UdpGuard {
    own_port: u16,
    /// Datagrams a second per peer, and the burst (one second's worth).
    rate: u32,
    buckets: Vec<Bucket>,
    hasher: std::collections::hash_map::RandomState,
    started: Instant,
    said: [bool; 3],
    counts: [u64; 3],
    last_peer: [Option<SocketAddr>; 3],
    reported: Instant,
}

impl UdpGuard {
    fn new(own_port: u16, rate: u32) -> UdpGuard {
        let now = Instant::now();
        UdpGuard {
            own_port,
            rate,
            buckets: vec![Bucket { tokens: f64::from(rate), at: 0.0 }; RATE_SLOTS],
            hasher: Default::default(),
            started: now,
            said: [false; 3],
            counts: [0; 3],
            last_peer: [None; 3],
            reported: now,
        }
    }

    /// None to answer `peer`, or why not.
    fn check(&mut self, peer: SocketAddr, now: Instant) -> Option<Dropped> {
        if peer.port() == self.own_port {
            return Some(Dropped::OwnPort);
        }
        if peer.port() < SERVICE_PORTS_BELOW {
            return Some(Dropped::ServicePort);
        }
        let slot = self.slot(peer);
        let at = now.duration_since(self.started).as_secs_f64();
        let rate = f64::from(self.rate);
        let bucket = &mut self.buckets[slot];
        bucket.tokens = (bucket.tokens + (at - bucket.at) * rate).min(rate);
        bucket.at = at;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Dropped::RateLimit)
        }
    }

    fn slot(&self, peer: SocketAddr) -> usize {
        (std::hash::BuildHasher::hash_one(&self.hasher, peer) as usize) % RATE_SLOTS
    }

    /// Logs a drop: the first of each reason at once, later ones counted.
    fn note(&mut self, reason: Dropped, peer: SocketAddr, now: Instant) {
        let i = reason.index();
        if !self.said[i] {
            self.said[i] = true;
            say!(
                "berth: echo: udp: dropping datagrams from {peer}: {}; said once, later drops are summed every {} s",
                reason.why(self.rate),
                DROP_REPORT.as_secs()
            );
        } else {
            self.counts[i] += 1;
            self.last_peer[i] = Some(peer);
        }
        self.report(now);
    }

    /// The sum of the drops not logged yet, at most once every [`DROP_REPORT`].
    fn report(&mut self, now: Instant) {
        if now.duration_since(self.reported) < DROP_REPORT || self.counts.iter().all(|&n| n == 0) {
            return;
        }
        let parts: Vec<String> = Dropped::ALL
            .iter()
            .filter(|r| self.counts[r.index()] > 0)
            .map(|r| {
                let last = self.last_peer[r.index()].map(|p| format!(", last {p}")).unwrap_or_default();
                format!("{} {}{last}", self.counts[r.index()], r.short())
            })
            .collect();
        say!(
            "berth: echo: udp: dropped {} more datagrams in {:.0} s: {}",
            self.counts.iter().sum::<u64>(),
            now.duration_since(self.reported).as_secs_f64(),
            parts.join("; ")
        );
        self.counts = [0; 3];
        self.reported = now;
    }
}

/// Answers every datagram with itself, until the process ends, except
/// those [`UdpGuard`] drops: from the echo's own port, from service ports,
/// and beyond `rate` a second from one peer.
pub fn serve_udp(socket: UdpSocket, rate: u32, log: Option<LogFormat>) -> io::Result<()> {
    let mut guard = UdpGuard::new(socket.local_addr()?.port(), rate);
    // Wakes up now and then to log the sum of drops even when no more come.
    socket.set_read_timeout(Some(DROP_REPORT))?;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (n, peer) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_socket_timeout(&e) => {
                guard.report(Instant::now());
                continue;
            }
            // An ICMP error for an earlier reply: nothing to do but go on.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if let Some(reason) = guard.check(peer, now) {
            guard.note(reason, peer, now);
            continue;
        }
        if let Some(format) = log {
            log_data(peer, "udp", &buffer[..n], format);
        }
        let _ = socket.send_to(&buffer[..n], peer);
    }
}

/// The buffer a log line is formatted in, on the client thread's stack.
const LOG_CHUNK: usize = 8 * 1024;

/// One log line per read: the peer, the size, and every byte, as escaped
/// text or hex (never raw: they could drive the terminal).
///
/// A read is up to [`LARGE`] bytes, and its line up to 3 times that in
/// hex and 6 as text (`\u{1b}`), for each of up to [`LARGE_COUNT`] bulk
/// clients at once: formatted into a String first, that was a peak of
/// 73 MB for text and 895 MB for hex (a String per byte) with 16 clients
/// echoing 8 MiB each, where the echo itself took 14 MB. So the line goes out in [`LOG_CHUNK`] pieces from a
/// buffer on the stack, under the stderr lock, which keeps lines whole:
/// logging costs no memory, and its speed is stderr's. A write error ends
/// the line; the log is best effort, and the echo goes on.
fn log_data(peer: SocketAddr, protocol: &str, data: &[u8], format: LogFormat) {
    let stderr = io::stderr();
    let mut line = Chunked { out: stderr.lock(), buffer: [0; LOG_CHUNK], len: 0 };
    let _ = write_log_line(&mut line, peer, protocol, data, format).and_then(|()| line.flush());
}

fn write_log_line(
    line: &mut Chunked<impl Write>,
    peer: SocketAddr,
    protocol: &str,
    data: &[u8],
    format: LogFormat,
) -> std::fmt::Result {
    use std::fmt::Write as _;
    write!(line, "berth: echo: {protocol} {peer} {} bytes: ", data.len())?;
    match format {
        LogFormat::Text => crate::printable::write_printable_bytes(line, data)?,
        LogFormat::Hex => line.put_hex(data)?,
    }
    line.put(b"\n")
}

/// A [`std::fmt::Write`] into a fixed buffer that is written out (to
/// stderr) whenever it is full (see [`log_data`]).
struct Chunked<W: Write> {
    out: W,
    buffer: [u8; LOG_CHUNK],
    len: usize,
}

impl<W: Write> Chunked<W> {
    fn put(&mut self, mut bytes: &[u8]) -> std::fmt::Result {
        // Bounded: each round copies at least one byte or writes a full buffer.
        while !bytes.is_empty() {
            if self.len == LOG_CHUNK {
                self.flush()?;
            }
            let n = bytes.len().min(LOG_CHUNK - self.len);
            self.buffer[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// `data` as hex digits, a space between bytes: formatted in place,
    /// as many bytes at a time as the buffer has room for.
    fn put_hex(&mut self, data: &[u8]) -> std::fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let Some((&first, rest)) = data.split_first() else { return Ok(()) };
        self.put(&[DIGITS[usize::from(first >> 4)], DIGITS[usize::from(first & 0xf)]])?;
        let mut rest = rest;
        // Bounded: each round formats at least one byte (the buffer holds
        // far more than 3 bytes once flushed).
        while !rest.is_empty() {
            if LOG_CHUNK - self.len < 3 {
                self.flush()?;
            }
            let room = (LOG_CHUNK - self.len) / 3;
            let (now, later) = rest.split_at(room.min(rest.len()));
            let out = &mut self.buffer[self.len..self.len + 3 * now.len()];
            for (hex, &byte) in out.chunks_exact_mut(3).zip(now) {
                hex.copy_from_slice(&[b' ', DIGITS[usize::from(byte >> 4)], DIGITS[usize::from(byte & 0xf)]]);
            }
            self.len += 3 * now.len();
            rest = later;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::fmt::Result {
        let pending = std::mem::take(&mut self.len);
        self.out.write_all(&self.buffer[..pending]).map_err(|_| std::fmt::Error)
    }
}

impl<W: Write> std::fmt::Write for Chunked<W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.put(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log line of `data`, made as `log_data` makes it, into memory.
    fn log_line(data: &[u8], format: LogFormat) -> String {
        let mut line = Chunked { out: Vec::new(), buffer: [0; LOG_CHUNK], len: 0 };
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        write_log_line(&mut line, peer, "tcp", data, format).and_then(|()| line.flush()).unwrap();
        String::from_utf8(line.out).unwrap()
    }

    #[test]
    fn a_log_line_holds_every_byte_across_chunks() {
        // Every byte value, many times over: a line of several buffers,
        // escapes and multi-byte characters.
        let mut data: Vec<u8> = (0..=255u8).cycle().take(5 * LOG_CHUNK + 7).collect();
        data.extend_from_slice("é 日本 🦀 \u{202e}".as_bytes());
        let head = format!("berth: echo: tcp 127.0.0.1:40000 {} bytes: ", data.len());
        let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(log_line(&data, LogFormat::Hex), format!("{head}{}\n", hex.join(" ")));
        let text = log_line(&data, LogFormat::Text);
        assert_eq!(text, format!("{head}{}\n", crate::printable::printable_bytes(&data)));
        assert!(!text[..text.len() - 1].chars().any(crate::printable::must_escape), "nothing raw");
        assert_eq!(
            log_line(b"hi\x1b[2J\n", LogFormat::Text),
            "berth: echo: tcp 127.0.0.1:40000 7 bytes: hi\\u{1b}[2J\\n\n"
        );
    }

    #[test]
    fn own_port_and_service_ports_are_dropped_whatever_the_address() {
        let mut guard = UdpGuard::new(49342, 1000);
        let now = Instant::now();
        for (peer, expected) in [
            ("127.0.0.1:49342", Some(Dropped::OwnPort)),
            ("192.0.2.7:49342", Some(Dropped::OwnPort)),
            ("[::1]:49342", Some(Dropped::OwnPort)),
            ("127.0.0.1:7", Some(Dropped::ServicePort)),
            ("127.0.0.1:19", Some(Dropped::ServicePort)),
            ("127.0.0.1:0", Some(Dropped::ServicePort)),
            ("127.0.0.1:1023", Some(Dropped::ServicePort)),
            ("127.0.0.1:1024", None),
            ("127.0.0.1:40000", None),
        ] {
            assert_eq!(guard.check(peer.parse().unwrap(), now), expected, "{peer}");
        }
    }

    #[test]
    fn a_peer_gets_a_burst_then_the_rate_and_others_are_not_held_back() {
        let mut guard = UdpGuard::new(49342, 100);
        let start = guard.started;
        let loud: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let answered = (0..1000).filter(|_| guard.check(loud, start).is_none()).count();
        assert_eq!(answered, 100, "one second's worth at once");
        assert_eq!(guard.check(loud, start), Some(Dropped::RateLimit));
        // A tenth of a second later: ten more.
        let later = start + Duration::from_millis(100);
        let answered = (0..1000).filter(|_| guard.check(loud, later).is_none()).count();
        assert!((9..=11).contains(&answered), "{answered}");
        // Another peer (one whose keyed hash does not share the slot).
        let quiet = (40001..40100)
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .find(|&peer| guard.slot(peer) != guard.slot(loud))
            .unwrap();
        assert_eq!(guard.check(quiet, later), None, "another peer has its own bucket");
    }
}
