//! The echo server: TCP (a thread per client) and UDP (one thread
//! answering every datagram that cannot start a loop: see [`serve_udp`]).
//!
//! TCP clients cannot hold the server: one that sends nothing for the idle
//! timeout is closed, one that does not read its echo for the send timeout
//! is dropped (both are socket timeouts, SO_RCVTIMEO and SO_SNDTIMEO, on
//! the client's own blocking calls: no timer thread), and the memory of all
//! of them together is bounded:
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

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Most clients served at once; more are refused.
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

/// Why a client was let go before it closed.
#[derive(Debug)]
enum Ended {
    /// Nothing came for the idle timeout.
    Idle(u64),
    /// Its echo could not be sent for the send timeout.
    Stalled(u64),
    /// A socket error.
    Failed(io::Error),
}

/// Echoes every TCP client of `listener` until the process ends.
pub fn serve_tcp(listener: TcpListener, limits: TcpLimits, log: Option<LogFormat>) -> io::Result<()> {
    let clients = Arc::new(AtomicUsize::new(0));
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
        let max_clients = limits.max_clients;
        if clients.load(Ordering::Relaxed) >= max_clients {
            eprintln!("berth: echo: {peer}: refused, {max_clients} clients already (--max-clients)");
            drop(stream);
            continue;
        }
        clients.fetch_add(1, Ordering::Relaxed);
        let (client_count, pool) = (Arc::clone(&clients), Arc::clone(&pool));
        let spawned = std::thread::Builder::new().name(format!("echo {peer}")).stack_size(STACK).spawn(move || {
            if log.is_some() {
                eprintln!("berth: echo: {peer} connected");
            }
            match echo_stream(stream, peer, limits, &pool, log) {
                Ok(bytes) if log.is_some() => eprintln!("berth: echo: {peer} closed after {bytes} bytes"),
                Ok(_) => {}
                Err(Ended::Idle(bytes)) => eprintln!(
                    "berth: echo: {peer}: closed, nothing received for {:.1} s (--idle-timeout), after {bytes} bytes",
                    limits.idle_timeout.as_secs_f64()
                ),
                Err(Ended::Stalled(bytes)) => eprintln!(
                    "berth: echo: {peer}: dropped, it did not read its echo for {:.1} s (--send-timeout), after {bytes} bytes",
                    limits.send_timeout.as_secs_f64()
                ),
                Err(Ended::Failed(e)) if log.is_some() => eprintln!("berth: echo: {peer}: {e}"),
                Err(Ended::Failed(_)) => {}
            }
            client_count.fetch_sub(1, Ordering::Relaxed);
        });
        if spawned.is_err() {
            clients.fetch_sub(1, Ordering::Relaxed);
            eprintln!("berth: echo: {peer}: no thread for it (system limit); dropped");
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ECONNABORTED | libc::EINTR | libc::ENOBUFS))
}

/// A socket timeout: SO_RCVTIMEO and SO_SNDTIMEO end a call with EAGAIN.
fn timed_out(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Sends back everything one client sends; returns the byte count.
fn echo_stream(
    mut stream: TcpStream,
    peer: SocketAddr,
    limits: TcpLimits,
    pool: &Pool,
    log: Option<LogFormat>,
) -> Result<u64, Ended> {
    // No TCP_NODELAY: each read is written back whole, so Nagle never
    // holds a reply back, and bulk transfers go in full segments.
    stream.set_read_timeout(Some(limits.idle_timeout)).map_err(Ended::Failed)?;
    // Linux restarts this timeout whenever a send makes progress, so it
    // is a "no progress for" limit, however large the echo.
    stream.set_write_timeout(Some(limits.send_timeout)).map_err(Ended::Failed)?;
    let mut small = vec![0u8; SMALL];
    let mut large = Loan { pool, buffer: None };
    let mut total = 0u64;
    loop {
        let buffer: &mut [u8] = match large.buffer.as_mut() {
            Some(buffer) => buffer,
            None => &mut small,
        };
        let n = match stream.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if timed_out(&e) => return Err(Ended::Idle(total)),
            Err(e) => return Err(Ended::Failed(e)),
        };
        if let Some(format) = log {
            log_data(peer, "tcp", &buffer[..n], format);
        }
        match stream.write_all(&buffer[..n]) {
            Ok(()) => {}
            Err(e) if timed_out(&e) => return Err(Ended::Stalled(total)),
            Err(e) => return Err(Ended::Failed(e)),
        }
        total += n as u64;
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
    Ok(total)
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
            eprintln!(
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
        eprintln!(
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
            Err(e) if timed_out(&e) => {
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

/// One log line per read: the peer, the size, and the bytes as escaped
/// text or hex (never raw: they could drive the terminal).
fn log_data(peer: SocketAddr, protocol: &str, data: &[u8], format: LogFormat) {
    let shown = match format {
        LogFormat::Text => crate::render::printable_bytes(data).into_owned(),
        LogFormat::Hex => data.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
    };
    eprintln!("berth: echo: {protocol} {peer} {} bytes: {shown}", data.len());
}

#[cfg(test)]
mod tests {
    use super::*;

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
