//! The connect scan: which ports of one address accept a connection (TCP),
//! or answer a datagram (UDP).
//!
//! Attempts are non-blocking sockets watched with epoll, a few thousand in
//! flight at most and always well under the descriptor limit (see
//! [`super::limits`]). Ports are handed out in chunks to one worker thread
//! per core, each with its own epoll instance, so that on loopback, where
//! the kernel's work per attempt is the whole cost, every core takes part.
//!
//! Three facts of Linux shape the loop:
//!
//! - On loopback the SYN and the answer (SYN-ACK or RST) are handled inside
//!   the connect() call, so the outcome is already known when it returns
//!   EINPROGRESS. Asking a second time with connect() — the POSIX way to
//!   learn how a non-blocking connect ended — gives ECONNREFUSED, EISCONN,
//!   or EALREADY (still in flight: only then is epoll involved). A socket
//!   whose connect was refused is back in its initial state and is used for
//!   the next port, saving a socket() and a close() per closed port: a
//!   third of the cost of a loopback scan.
//! - A connect to an unused port of this machine inside the ephemeral range
//!   can succeed with no server at all: the kernel may pick the target port
//!   as the local port, and the SYN meets itself (TCP simultaneous open).
//!   Such a self-connection (local address == peer address) is never
//!   reported as open. The same check applies to UDP, where the datagram
//!   would come back to its own socket.
//! - Running out of descriptors (EMFILE/ENFILE), buffers, or local ports
//!   (EADDRNOTAVAIL, EAGAIN) is a reason to wait for attempts in flight to
//!   finish and try again, not to fail. (Only EADDRNOTAVAIL that lasts
//!   [`ADDRESS_WAIT`] with nothing in flight is reported as a failure: the
//!   address cannot be used from here.)
//!
//! UDP: an empty datagram goes to each port from a connected socket. An
//! answer means open; ICMP port unreachable arrives as ECONNREFUSED and
//! means closed; silence until the timeout is "open|filtered" (a service
//! that ignores empty datagrams, or a firewall that drops them). Remote
//! hosts rate-limit their ICMP errors (Linux: about one per second by
//! default), so closed UDP ports of another host may show as open|filtered;
//! loopback is exempt from that limit.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::{Domain, SockAddr, Socket, Type};

use super::epoll::Epoll;
use super::error_text;
use crate::error::Error;
use berth_inventory::Protocol;

/// What a scan found on one port worth reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PortState {
    /// TCP: a connection was accepted. UDP: an answer came back.
    #[serde(rename = "open")]
    Open,
    /// UDP only: neither an answer nor a refusal before the timeout.
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    /// TCP, this machine only: the connect timed out, and the port's
    /// listener has a full accept queue (the kernel drops new SYNs), so the
    /// port is open but its program is not accepting; not a firewall.
    #[serde(rename = "open|not-accepting")]
    NotAccepting,
}

impl PortState {
    pub fn name(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::OpenFiltered => "open|filtered",
            PortState::NotAccepting => "open|not-accepting",
        }
    }
}

/// One port worth reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub port: u16,
    pub state: PortState,
    /// From the start of the attempt to its outcome.
    pub latency: Duration,
}

/// How to scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub address: IpAddr,
    pub protocol: Protocol,
    /// How long one attempt may wait for an outcome.
    pub timeout: Duration,
    /// Attempts in flight at once, over all threads.
    pub in_flight: usize,
    /// Worker threads; 0 picks one per core (at most 4), and 1 for short lists.
    pub threads: usize,
}

/// Everything a scan learned.
#[derive(Clone, Debug, Default)]
pub struct ScanOutcome {
    /// Open (and, for UDP, open|filtered) ports, by port.
    pub found: Vec<Found>,
    pub scanned: usize,
    /// Refused: nothing listens.
    pub closed: usize,
    /// TCP attempts that timed out (a firewall dropping them, or a local
    /// listener whose accept queue is full).
    pub timed_out: usize,
    /// The ports of those attempts, by port: `scan` asks the local
    /// inventory about them (see [`super::local::not_accepting`]).
    pub timed_out_ports: Vec<u16>,
    /// Connections that turned out to be with themselves (never reported open).
    pub self_connections: usize,
    /// Attempts that failed otherwise, by error message: (message, count).
    pub errors: Vec<(String, usize)>,
    pub elapsed: Duration,
}

/// Ports handed to a worker at a time: small enough to share the end of
/// the list fairly, large enough that the shared counter is rarely touched.
const CHUNK: usize = 64;

/// How long a worker keeps retrying when it cannot open a socket, has
/// nothing in flight to wait for, and no other worker makes progress either.
const STUCK_LIMIT: Duration = Duration::from_secs(10);

/// How long one port waits for a local address or port (EADDRNOTAVAIL)
/// when nothing of the worker's is in flight. Long enough for the kernel
/// to reuse a TIME_WAIT pair on loopback (after 1 s), short enough that an
/// address that is unusable from here (IPv6 disabled) is soon reported.
const ADDRESS_WAIT: Duration = Duration::from_secs(2);

/// Scans `ports` of `options.address`. `done` counts finished ports, for a
/// progress bar the caller draws.
pub fn scan(ports: &[u16], options: &ScanOptions, done: &AtomicUsize) -> Result<ScanOutcome, Error> {
    let started = Instant::now();
    let threads = match options.threads {
        0 if ports.len() < 4 * CHUNK => 1,
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4),
        n => n,
    }
    .clamp(1, options.in_flight.max(1));
    let epolls = epoll_instances(threads)?;
    let threads = epolls.len();
    let next = AtomicUsize::new(0);
    let budget = (options.in_flight / threads).max(1);
    let results: Vec<Result<WorkerOutcome, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = epolls
            .into_iter()
            .map(|epoll| {
                let next = &next;
                scope.spawn(move || Worker::new(options, budget, epoll).run(ports, next, done))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("scan worker panicked")).collect()
    });

    let mut outcome = ScanOutcome { scanned: ports.len(), ..ScanOutcome::default() };
    let mut errors: Vec<(String, usize)> = Vec::new();
    for result in results {
        let part = result?;
        outcome.found.extend(part.found);
        outcome.closed += part.closed;
        outcome.timed_out += part.timed_out;
        outcome.timed_out_ports.extend(part.timed_out_ports);
        outcome.self_connections += part.self_connections;
        for (message, count) in part.errors {
            match errors.iter_mut().find(|(m, _)| *m == message) {
                Some(entry) => entry.1 += count,
                None => errors.push((message, count)),
            }
        }
    }
    outcome.found.sort_by_key(|f| f.port);
    outcome.timed_out_ports.sort_unstable();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    outcome.errors = errors;
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// One epoll instance per worker, up to `wanted`: fewer when descriptors
/// are short (each worker then just has more to do), and at least one,
/// waiting for a descriptor if need be.
fn epoll_instances(wanted: usize) -> Result<Vec<Epoll>, Error> {
    let mut epolls = Vec::with_capacity(wanted);
    let started = Instant::now();
    // Bounded: `wanted` instances, or STUCK_LIMIT of waiting for the first.
    while epolls.len() < wanted {
        match Epoll::new(1024) {
            Ok(epoll) => epolls.push(epoll),
            Err(e) if out_of_resources(&e) && !epolls.is_empty() => break,
            Err(e) if out_of_resources(&e) && started.elapsed() < STUCK_LIMIT => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => return Err(Error::System(format!("cannot create an epoll instance for the scan: {e}"))),
        }
    }
    Ok(epolls)
}

/// An attempt waiting in epoll.
struct Attempt {
    socket: Socket,
    port: u16,
    started: Instant,
    /// Tells this attempt's deadline entry from those of earlier attempts in the same slot.
    serial: u64,
}

/// How one attempt ended.
enum Outcome {
    Open,
    Closed,
    /// UDP: no answer, no refusal.
    Silent,
    /// TCP: no answer at all.
    TimedOut,
    SelfConnection,
    Failed(io::Error),
}

/// What starting an attempt gave.
enum Started {
    /// Known at once (the usual case on loopback).
    Done(Outcome),
    /// In flight: watch it.
    Pending(Socket),
    /// Out of descriptors, buffers or local ports: wait, then try this port again.
    NoResources(io::Error),
}

#[derive(Default)]
struct WorkerOutcome {
    found: Vec<Found>,
    closed: usize,
    timed_out: usize,
    timed_out_ports: Vec<u16>,
    self_connections: usize,
    errors: Vec<(String, usize)>,
}

/// One thread's share of the scan: its own epoll, its own attempts.
struct Worker<'a> {
    options: &'a ScanOptions,
    target_domain: Domain,
    budget: usize,
    epoll: Epoll,
    /// Attempts in flight, by slot; the slot number is the epoll token.
    slots: Vec<Option<Attempt>>,
    free_slots: Vec<usize>,
    in_flight: usize,
    /// (slot, serial, deadline) in start order, which is deadline order.
    deadlines: VecDeque<(usize, u64, Instant)>,
    serial: u64,
    /// A socket whose last connect was refused, ready for the next port.
    spare: Option<Socket>,
    /// Waiting for a local address or port already took ADDRESS_WAIT once,
    /// with no attempt started since: fail further EADDRNOTAVAIL at once.
    address_unusable: bool,
    outcome: WorkerOutcome,
}

impl<'a> Worker<'a> {
    fn new(options: &'a ScanOptions, budget: usize, epoll: Epoll) -> Self {
        Worker {
            options,
            target_domain: if options.address.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 },
            budget,
            epoll,
            slots: Vec::new(),
            free_slots: Vec::new(),
            in_flight: 0,
            deadlines: VecDeque::new(),
            serial: 0,
            spare: None,
            address_unusable: false,
            outcome: WorkerOutcome::default(),
        }
    }

    fn run(mut self, ports: &[u16], next: &AtomicUsize, done: &AtomicUsize) -> Result<WorkerOutcome, Error> {
        let mut chunk: std::ops::Range<usize> = 0..0;
        let mut retry: Option<u16> = None;
        let mut stuck_since: Option<Instant> = None;
        // Since when the port in `retry` has been waiting.
        let mut retry_since: Option<Instant> = None;
        let mut last_shortage: Option<io::Error> = None;
        let mut progress_seen = usize::MAX;
        loop {
            // Start attempts until the budget is used or the ports run out.
            let mut starved = false;
            while self.in_flight < self.budget {
                let port = match retry.take() {
                    Some(port) => port,
                    None => {
                        if chunk.is_empty() {
                            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                            if start >= ports.len() {
                                break;
                            }
                            chunk = start..(start + CHUNK).min(ports.len());
                        }
                        let port = ports[chunk.start];
                        chunk.start += 1;
                        port
                    }
                };
                let began = Instant::now();
                match self.start(port) {
                    Started::Done(outcome) => {
                        if !matches!(outcome, Outcome::Failed(_)) {
                            self.address_unusable = false;
                        }
                        self.record(port, outcome, began.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                        stuck_since = None;
                        retry_since = None;
                    }
                    Started::Pending(socket) => {
                        self.address_unusable = false;
                        self.watch(socket, port, began)?;
                        stuck_since = None;
                        retry_since = None;
                    }
                    Started::NoResources(error) => {
                        retry_since.get_or_insert_with(Instant::now);
                        last_shortage = Some(error);
                        retry = Some(port);
                        starved = true;
                        break;
                    }
                }
            }
            if self.in_flight == 0 {
                if retry.is_none() {
                    break;
                }
                // Nothing of ours to wait for: other threads or other code
                // hold the descriptors or ports. Wait while the scan as a
                // whole progresses; give up only when nothing has for a while.
                let finished = done.load(Ordering::Relaxed);
                if finished != progress_seen {
                    progress_seen = finished;
                    stuck_since = None;
                }
                let since = *stuck_since.get_or_insert_with(Instant::now);
                let no_address = last_shortage.as_ref().and_then(io::Error::raw_os_error) == Some(libc::EADDRNOTAVAIL);
                let waited = retry_since.map_or(Duration::ZERO, |t| t.elapsed());
                if no_address && waited > ADDRESS_WAIT {
                    // This port's outcome: no local address or port to try it from.
                    let error = last_shortage.take().expect("the shortage");
                    self.record(retry.take().expect("a port to retry"), Outcome::Failed(error), waited);
                    done.fetch_add(1, Ordering::Relaxed);
                    self.address_unusable = true;
                    stuck_since = None;
                    retry_since = None;
                    continue;
                }
                if since.elapsed() > STUCK_LIMIT {
                    let why = last_shortage.as_ref().map(error_text).unwrap_or_default();
                    return Err(Error::System(format!(
                        "no attempt on {} could start for {} s ({why}); free some file descriptors \
                         (ulimit -n) or local ports, or scan with a smaller --concurrency",
                        SocketAddr::new(self.options.address, retry.unwrap_or(0)),
                        STUCK_LIMIT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            // Wait for outcomes: until the earliest deadline, or briefly when
            // starved so the retry comes soon after descriptors free up.
            let now = Instant::now();
            let mut wait = self.deadlines.front().map_or(self.options.timeout, |d| d.2.saturating_duration_since(now));
            if starved {
                wait = wait.min(Duration::from_millis(5));
            }
            self.wait_and_finish(wait, done)?;
            self.expire(done);
        }
        Ok(self.outcome)
    }

    /// Opens (or reuses) a socket and starts the attempt on `port`.
    fn start(&mut self, port: u16) -> Started {
        let socket = match self.spare.take() {
            Some(socket) => socket,
            None => {
                let kind = match self.options.protocol {
                    Protocol::Tcp => Type::STREAM,
                    Protocol::Udp => Type::DGRAM,
                };
                match Socket::new(self.target_domain, kind.nonblocking(), None) {
                    Ok(socket) => socket,
                    Err(e) if out_of_resources(&e) => return Started::NoResources(e),
                    Err(e) => return Started::Done(Outcome::Failed(e)),
                }
            }
        };
        let target = SockAddr::from(SocketAddr::new(self.options.address, port));
        match self.options.protocol {
            Protocol::Tcp => self.start_tcp(socket, &target),
            Protocol::Udp => self.start_udp(socket, &target),
        }
    }

    fn start_tcp(&mut self, socket: Socket, target: &SockAddr) -> Started {
        let first = socket.connect(target);
        let result = match first {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => socket.connect(target),
            other => other,
        };
        match result {
            Ok(()) => Started::Done(connected(socket)),
            Err(e) => match e.raw_os_error() {
                Some(libc::EISCONN) => Started::Done(connected(socket)),
                Some(libc::EALREADY) | Some(libc::EINPROGRESS) => Started::Pending(socket),
                Some(libc::ECONNREFUSED) => {
                    self.spare = Some(socket);
                    Started::Done(Outcome::Closed)
                }
                _ if self.must_wait(&e) => Started::NoResources(e),
                _ => Started::Done(Outcome::Failed(e)),
            },
        }
    }

    /// Whether a failed connect or send should wait and retry: out of
    /// descriptors or buffers, or out of local addresses or ports
    /// (EADDRNOTAVAIL: attempts in flight or TIME_WAIT pairs may give some
    /// back). Once waiting for an address got nowhere (IPv6 disabled, say),
    /// EADDRNOTAVAIL is the outcome of each attempt, until one starts.
    fn must_wait(&self, error: &io::Error) -> bool {
        out_of_resources(error)
            || (error.raw_os_error() == Some(libc::EADDRNOTAVAIL) && (self.in_flight > 0 || !self.address_unusable))
    }

    fn start_udp(&mut self, socket: Socket, target: &SockAddr) -> Started {
        if let Err(e) = socket.connect(target) {
            return if self.must_wait(&e) { Started::NoResources(e) } else { Started::Done(Outcome::Failed(e)) };
        }
        if is_self_connection(&socket) {
            return Started::Done(Outcome::SelfConnection);
        }
        if let Err(e) = socket.send(&[]) {
            return match e.raw_os_error() {
                Some(libc::ECONNREFUSED) => {
                    self.spare = Some(socket);
                    Started::Done(Outcome::Closed)
                }
                _ if self.must_wait(&e) => Started::NoResources(e),
                _ => Started::Done(Outcome::Failed(e)),
            };
        }
        // On loopback the ICMP refusal has usually arrived already.
        match udp_answer(&socket) {
            Some(Outcome::Closed) => {
                self.spare = Some(socket);
                Started::Done(Outcome::Closed)
            }
            Some(outcome) => Started::Done(outcome),
            None => Started::Pending(socket),
        }
    }

    /// Puts an attempt in flight in epoll, with its deadline.
    fn watch(&mut self, socket: Socket, port: u16, started: Instant) -> Result<(), Error> {
        use std::os::fd::AsRawFd;
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let writable = self.options.protocol == Protocol::Tcp;
        if let Err(e) = self.epoll.add(socket.as_raw_fd(), slot as u64, writable) {
            self.free_slots.push(slot);
            return Err(Error::System(format!("epoll_ctl failed during the scan: {e}")));
        }
        self.serial += 1;
        self.slots[slot] = Some(Attempt { socket, port, started, serial: self.serial });
        self.in_flight += 1;
        self.deadlines.push_back((slot, self.serial, started + self.options.timeout));
        Ok(())
    }

    /// Waits up to `wait` and settles every attempt epoll reports.
    fn wait_and_finish(&mut self, wait: Duration, done: &AtomicUsize) -> Result<(), Error> {
        let events: Vec<(usize, bool)> = self
            .epoll
            .wait(wait)
            .map_err(|e| Error::System(format!("epoll_wait failed during the scan: {e}")))?
            .map(|e| (e.token as usize, e.error))
            .collect();
        for (slot, error) in events {
            let Some(attempt) = self.slots.get_mut(slot).and_then(Option::take) else { continue };
            let outcome = match self.options.protocol {
                Protocol::Tcp => tcp_outcome(attempt.socket, error),
                Protocol::Udp => match udp_answer(&attempt.socket) {
                    Some(outcome) => outcome,
                    None => {
                        // Woken without an outcome: keep waiting.
                        self.slots[slot] = Some(attempt);
                        continue;
                    }
                },
            };
            self.free_slots.push(slot);
            self.in_flight -= 1;
            self.record(attempt.port, outcome, attempt.started.elapsed());
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Settles the attempts whose deadline has passed. Entries of attempts
    /// settled earlier (whose slot may hold a newer attempt) are dropped.
    fn expire(&mut self, done: &AtomicUsize) {
        let now = Instant::now();
        while let Some(&(slot, serial, deadline)) = self.deadlines.front() {
            let live = self.slots[slot].as_ref().is_some_and(|a| a.serial == serial);
            if !live {
                self.deadlines.pop_front();
                continue;
            }
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let attempt = self.slots[slot].take().expect("live slot");
            self.free_slots.push(slot);
            self.in_flight -= 1;
            let outcome = match self.options.protocol {
                Protocol::Tcp => Outcome::TimedOut,
                Protocol::Udp => Outcome::Silent,
            };
            self.record(attempt.port, outcome, self.options.timeout);
            done.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record(&mut self, port: u16, outcome: Outcome, latency: Duration) {
        let out = &mut self.outcome;
        match outcome {
            Outcome::Open => out.found.push(Found { port, state: PortState::Open, latency }),
            Outcome::Silent => out.found.push(Found { port, state: PortState::OpenFiltered, latency }),
            Outcome::Closed => out.closed += 1,
            Outcome::TimedOut => {
                out.timed_out += 1;
                out.timed_out_ports.push(port);
            }
            Outcome::SelfConnection => out.self_connections += 1,
            Outcome::Failed(e) => {
                let message = error_text(&e);
                match out.errors.iter_mut().find(|(m, _)| *m == message) {
                    Some(entry) => entry.1 += 1,
                    None => out.errors.push((message, 1)),
                }
            }
        }
    }
}

/// A TCP connect that succeeded: open, unless it is a connection with itself.
fn connected(socket: Socket) -> Outcome {
    let outcome = if is_self_connection(&socket) { Outcome::SelfConnection } else { Outcome::Open };
    // Reset rather than close: no TIME_WAIT left behind per open port.
    let _ = socket.set_linger(Some(Duration::ZERO));
    outcome
}

/// How a TCP attempt epoll reported on ended.
fn tcp_outcome(socket: Socket, error: bool) -> Outcome {
    match socket.take_error() {
        Ok(Some(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Outcome::Closed,
        Ok(Some(e)) => Outcome::Failed(e),
        Err(e) => Outcome::Failed(e),
        Ok(None) if error => Outcome::Closed,
        Ok(None) => match socket.peer_addr() {
            Ok(_) => connected(socket),
            Err(_) => Outcome::Closed,
        },
    }
}

/// A UDP socket's outcome, if one has arrived: a datagram (open) or a
/// refusal (closed); None while nothing has.
fn udp_answer(socket: &Socket) -> Option<Outcome> {
    let mut buffer = [0u8; 512];
    let mut reader: &Socket = socket;
    match reader.read(&mut buffer) {
        Ok(_) => Some(Outcome::Open),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Some(Outcome::Closed),
        Err(e) => Some(Outcome::Failed(e)),
    }
}

/// True when a connected socket's local and peer addresses are the same:
/// the kernel picked the target port as the local port and the socket
/// connected to itself (TCP simultaneous open), or a datagram would come
/// back to its sender. Nothing listens there.
pub fn is_self_connection(socket: &Socket) -> bool {
    match (socket.local_addr(), socket.peer_addr()) {
        (Ok(local), Ok(peer)) => local.as_socket().is_some() && local.as_socket() == peer.as_socket(),
        _ => false,
    }
}

/// Errors that mean "not now": wait for attempts in flight, then retry.
fn out_of_resources(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_drops_the_errno() {
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(error_text(&e), "Network is unreachable");
    }
}
