//! A bounded loopback load generator for the `berth watch` tests (issue 12):
//! short-lived connections at a paced rate, a burst as fast as the machine
//! goes, and listeners that live a set time.
//!
//! Why here and not a C program: the watch tests must know, exactly, which
//! ports were used and when each connection closed, so that "watch reports
//! every one, exactly once" can be checked port by port. Everything uses
//! real sockets on 127.0.0.1 or ::1, with ports bound at 0 and read back;
//! every loop is bounded by its count and by a time limit, and every thread
//! started here is joined before a function returns (or panics).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the client sends and the server answers on each short connection.
const HELLO: &[u8; 4] = b"ping";
const REPLY: &[u8; 4] = b"pong";

/// The accept backlog: a burst must never see a full queue (a dropped SYN is
/// retried after a second, which would turn a burst into a crawl). The
/// kernel caps it at net.core.somaxconn.
const BACKLOG: libc::c_int = 4096;

/// How long one wait for an accept lasts before the loop checks its bounds.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// What a run of connections did: the ports to look for in `watch`'s
/// output, and the measured rate and lifetimes, to check that the load was
/// what the test asked for.
#[derive(Debug, Clone)]
pub struct Connections {
    /// The listener the connections went to (its port is the server port of
    /// every connection).
    pub server: SocketAddr,
    /// The client (ephemeral) port of each connection, in the order made.
    /// A port can come round again within a run (on loopback the kernel
    /// reuses a port whose TIME_WAIT it may, net.ipv4.tcp_tw_reuse), and a
    /// burst longer than the ephemeral range always does: compare as multisets.
    pub client_ports: Vec<u16>,
    /// The peer port of each connection the server side accepted, in accept
    /// order: the same ports as `client_ports`, seen from the other end.
    pub accepted_ports: Vec<u16>,
    /// When each client socket was closed (CLOCK_REALTIME, µs since the
    /// epoch), parallel to `client_ports`: what a watcher's close events
    /// can be compared with for latency.
    pub closed_unix_us: Vec<u64>,
    /// Connections per second actually reached: `client_ports.len()` over `elapsed`.
    pub achieved_per_s: f64,
    /// From the first connect to the last close.
    pub elapsed: Duration,
    /// Client-side lifetime (from the start of connect to the end of close),
    /// the 99th percentile.
    pub lifetime_p99: Duration,
    /// Client-side lifetime, the longest.
    pub lifetimes_max: Duration,
}

/// `count` connections to a fresh listener on 127.0.0.1 (or ::1 with
/// `family_v6`) at `per_second`, paced: connection i starts at
/// `i / per_second` after the first, so the load is spread evenly rather
/// than bursty (a late one starts at once, and the schedule does not drift).
/// Each connection sends 4 bytes, gets 4 back, and is closed with a FIN by
/// the client (then by the server, on reading the end of stream), well
/// under 1 ms after its connect on an idle machine; the server side accepts
/// on its own thread. Returns every client port used.
///
/// Panics, saying how far it got, when the run has not ended within `limit`
/// or a socket call fails.
pub fn short_connections(family_v6: bool, per_second: u32, count: u32, limit: Duration) -> Connections {
    assert!(per_second > 0, "short_connections: per_second must be > 0");
    let started = Instant::now();
    let deadline = started + limit;
    let listener = fresh_listener(family_v6);
    let server = listener.local_addr().expect("local_addr of the load listener");

    let accepted = Arc::new(AtomicU32::new(0));
    let server_thread = {
        let accepted = Arc::clone(&accepted);
        std::thread::spawn(move || serve_exchanges(listener, count, deadline, accepted))
    };

    let period = Duration::from_secs_f64(1.0 / f64::from(per_second));
    let mut client_ports = Vec::with_capacity(count as usize);
    let mut closed_unix_us = Vec::with_capacity(count as usize);
    let mut lifetimes = Vec::with_capacity(count as usize);
    let first = Instant::now();
    let mut client_error = None;
    for i in 0..count {
        let due = first + period * i;
        if due > deadline {
            client_error = Some(format!("the schedule runs past the limit at connection {i}"));
            break;
        }
        sleep_until(due);
        match exchange_once(server, deadline) {
            Ok((port, lived, closed)) => {
                client_ports.push(port);
                lifetimes.push(lived);
                closed_unix_us.push(closed);
            }
            Err(e) => {
                client_error = Some(format!("connection {i} to {server}: {e}"));
                break;
            }
        }
    }
    let elapsed = first.elapsed();
    let server_result = join(server_thread, "the load generator's server thread");
    let made = client_ports.len();
    if let Some(error) = client_error {
        panic!(
            "short_connections({per_second}/s, {count}) stopped after {made} connections in {elapsed:?} \
             (limit {limit:?}, {} accepted): {error}",
            accepted.load(Ordering::Relaxed)
        );
    }
    let accepted_ports = server_result.unwrap_or_else(|e| {
        panic!("short_connections({per_second}/s, {count}): the server side failed after {made} connections: {e}")
    });
    if started.elapsed() > limit {
        panic!(
            "short_connections({per_second}/s, {count}) took {:?}, past its limit of {limit:?} \
             (reached {:.0}/s): the machine is too busy for this load",
            started.elapsed(),
            made as f64 / elapsed.as_secs_f64()
        );
    }
    finish(server, client_ports, accepted_ports, closed_unix_us, lifetimes, elapsed)
}

/// As fast as possible, `count` connections (each made and closed at once,
/// no data; two socket closes each, so 50,000 connections are the issue's
/// "burst of 100,000 closes"), from `threads` client threads, to one
/// listener on 127.0.0.1 served by as many accepting threads.
///
/// Panics, saying how far it got, past `limit` or when a socket call fails.
pub fn burst(count: u32, threads: u32, limit: Duration) -> Connections {
    assert!(threads > 0, "burst: threads must be > 0");
    let started = Instant::now();
    let deadline = started + limit;
    let listener = fresh_listener(false);
    let server = listener.local_addr().expect("local_addr of the load listener");

    let accepted = Arc::new(AtomicU32::new(0));
    let acceptors: Vec<_> = (0..threads)
        .map(|_| {
            let listener = listener.try_clone().expect("a second handle on the load listener");
            let accepted = Arc::clone(&accepted);
            std::thread::spawn(move || accept_and_close(listener, count, deadline, accepted))
        })
        .collect();

    let first = Instant::now();
    let clients: Vec<_> = (0..threads)
        .map(|t| {
            // Shares as even as possible: the first `count % threads` take one more.
            let share = count / threads + u32::from(t < count % threads);
            std::thread::spawn(move || connect_and_close(server, share, deadline))
        })
        .collect();

    let mut client_ports = Vec::with_capacity(count as usize);
    let mut closed_unix_us = Vec::with_capacity(count as usize);
    let mut lifetimes = Vec::with_capacity(count as usize);
    let mut errors = Vec::new();
    for client in clients {
        let (ports, closed, lived, error) = join(client, "a burst client thread");
        client_ports.extend(ports);
        closed_unix_us.extend(closed);
        lifetimes.extend(lived);
        errors.extend(error);
    }
    let elapsed = first.elapsed();
    let mut accepted_ports = Vec::with_capacity(count as usize);
    for acceptor in acceptors {
        match join(acceptor, "a burst accepting thread") {
            Ok(ports) => accepted_ports.extend(ports),
            Err(e) => errors.push(format!("server side: {e}")),
        }
    }
    drop(listener);
    let made = client_ports.len();
    if !errors.is_empty() || started.elapsed() > limit {
        panic!(
            "burst({count}, {threads} threads) made {made} connections and accepted {} in {elapsed:?} \
             (limit {limit:?}): {}",
            accepted_ports.len(),
            if errors.is_empty() { "past the limit".to_string() } else { errors.join("; ") }
        );
    }
    finish(server, client_ports, accepted_ports, closed_unix_us, lifetimes, elapsed)
}

/// One listener's life, as [`short_listeners_with`] measured it.
#[derive(Debug, Clone, Copy)]
pub struct Listened {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its socket's inode: what tells two listeners apart when the kernel
    /// hands the same port out twice (bind to port 0 after the first closed).
    pub inode: u64,
    /// When it began listening and when it closed, µs since the epoch: what
    /// places a close reported without an inode (a socket never seen open).
    pub opened_unix_us: u64,
    pub closed_unix_us: u64,
    /// From listen() to close().
    pub lived: Duration,
}

/// Listeners on 127.0.0.1:0, one after another, each listening for
/// `lifetime` and then closed: their ports, in order.
pub fn short_listeners(count: u32, lifetime: Duration) -> Vec<u16> {
    short_listeners_with(count, lifetime, |_| {}).into_iter().map(|l| l.port).collect()
}

/// As [`short_listeners`], calling `during(port)` while each listener
/// listens (a test connects there to prove it did); the listener stays open
/// until `lifetime` has passed since listen(), or until `during` returns if
/// that takes longer (then `lived` says so).
pub fn short_listeners_with(count: u32, lifetime: Duration, mut during: impl FnMut(u16)) -> Vec<Listened> {
    let mut lives = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("short_listeners: bind 127.0.0.1:0 after {} listeners: {e}", lives.len()));
        let listening = Instant::now();
        let opened_unix_us = unix_us_now();
        let port = listener.local_addr().expect("local_addr of a short listener").port();
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", listener.as_raw_fd()))
            .expect("the short listener's descriptor in /proc/self/fd")
            .ino();
        during(port);
        sleep_until(listening + lifetime);
        drop(listener);
        let lived = listening.elapsed();
        lives.push(Listened { port, inode, opened_unix_us, closed_unix_us: unix_us_now(), lived });
    }
    lives
}

// ---------------------------------------------------------------- the pieces

/// A listener on the loopback address of the family, port 0, with a backlog
/// large enough for a burst.
fn fresh_listener(family_v6: bool) -> TcpListener {
    let address: SocketAddr = if family_v6 { (Ipv6Addr::LOCALHOST, 0).into() } else { (Ipv4Addr::LOCALHOST, 0).into() };
    let listener = TcpListener::bind(address).unwrap_or_else(|e| {
        panic!("load generator: bind {address}: {e} (for ::1, call require_ipv6_loopback() first)")
    });
    // listen() again on a listening socket only changes its backlog.
    // SAFETY: listen on a descriptor the TcpListener owns.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    assert_eq!(rc, 0, "load generator: listen backlog {BACKLOG}: {}", std::io::Error::last_os_error());
    listener
}

/// One short connection: connect, send 4 bytes, read 4, close (FIN).
/// Returns its client port, its lifetime and its close time (µs since the epoch).
fn exchange_once(server: SocketAddr, deadline: Instant) -> std::io::Result<(u16, Duration, u64)> {
    let opened = Instant::now();
    let wait = remaining(deadline)?;
    let mut stream = TcpStream::connect_timeout(&server, wait)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    let port = stream.local_addr()?.port();
    stream.write_all(HELLO)?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply)?;
    if &reply != REPLY {
        return Err(std::io::Error::other(format!("the server answered {reply:?}")));
    }
    drop(stream);
    let closed = unix_us_now();
    Ok((port, opened.elapsed(), closed))
}

/// The server side of [`short_connections`]: accepts `count` connections
/// one at a time, answers each, and closes it once the client has. Returns
/// the peer port of each, in accept order.
fn serve_exchanges(
    listener: TcpListener,
    count: u32,
    deadline: Instant,
    accepted: Arc<AtomicU32>,
) -> Result<Vec<u16>, String> {
    let mut ports = Vec::with_capacity(count as usize);
    while ports.len() < count as usize {
        let Some((mut stream, peer)) = accept_within(&listener, deadline)? else {
            return Err(format!("accepted {} of {count} before the limit", ports.len()));
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        ports.push(peer.port());
        let wait = remaining(deadline).map_err(|e| e.to_string())?;
        let answer = (|| {
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(wait))?;
            let mut hello = [0u8; 4];
            stream.read_exact(&mut hello)?;
            stream.write_all(REPLY)?;
            // The client closes first; read its FIN, then close ours.
            let mut rest = [0u8; 16];
            loop {
                match stream.read(&mut rest) {
                    Ok(0) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        })();
        answer.map_err(|e: std::io::Error| format!("connection from port {}: {e}", peer.port()))?;
    }
    Ok(ports)
}

/// A burst's accepting thread: accepts and closes at once, until `count`
/// connections have been accepted by all such threads together.
fn accept_and_close(
    listener: TcpListener,
    count: u32,
    deadline: Instant,
    accepted: Arc<AtomicU32>,
) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    // Non-blocking, so that a thread woken for a connection another thread
    // took goes back to its poll instead of blocking in accept.
    listener.set_nonblocking(true).map_err(|e| format!("set_nonblocking: {e}"))?;
    while accepted.load(Ordering::Relaxed) < count {
        match listener.accept() {
            Ok((stream, peer)) => {
                accepted.fetch_add(1, Ordering::Relaxed);
                ports.push(peer.port());
                drop(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(format!("{} of {count} accepted before the limit", accepted.load(Ordering::Relaxed)));
                }
                wait_readable(&listener, ACCEPT_POLL);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    Ok(ports)
}

/// A burst's client thread: `share` connections, each closed right after its connect.
fn connect_and_close(
    server: SocketAddr,
    share: u32,
    deadline: Instant,
) -> (Vec<u16>, Vec<u64>, Vec<Duration>, Option<String>) {
    let mut ports = Vec::with_capacity(share as usize);
    let mut closed = Vec::with_capacity(share as usize);
    let mut lived = Vec::with_capacity(share as usize);
    for i in 0..share {
        let opened = Instant::now();
        let result = remaining(deadline)
            .and_then(|wait| TcpStream::connect_timeout(&server, wait))
            .and_then(|stream| stream.local_addr().map(|local| (stream, local.port())));
        match result {
            Ok((stream, port)) => {
                drop(stream);
                ports.push(port);
                closed.push(unix_us_now());
                lived.push(opened.elapsed());
            }
            Err(e) => return (ports, closed, lived, Some(format!("connection {i} of {share}: {e}"))),
        }
    }
    (ports, closed, lived, None)
}

/// Waits for a connection on `listener` until `deadline`, in short polls.
fn accept_within(listener: &TcpListener, deadline: Instant) -> Result<Option<(TcpStream, SocketAddr)>, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        if !wait_readable(listener, left.min(ACCEPT_POLL)) {
            continue;
        }
        match listener.accept() {
            Ok(pair) => return Ok(Some(pair)),
            Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

/// poll(2) for readability (a pending connection, on a listener), up to `timeout`.
fn wait_readable(socket: &impl AsRawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = timeout.as_millis().clamp(1, 1000) as libc::c_int;
    // SAFETY: one pollfd we own, for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, millis) };
    rc > 0 && pfd.revents & libc::POLLIN != 0
}

/// The time left before `deadline`, or a TimedOut error once it has passed.
fn remaining(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(std::io::Error::new(ErrorKind::TimedOut, "the load generator's time limit has passed"));
    }
    Ok(left)
}

/// Sleeps until `due` (at once if it has passed).
fn sleep_until(due: Instant) {
    let left = due.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        std::thread::sleep(left);
    }
}

/// Now, in µs since the epoch (CLOCK_REALTIME, as berth's `time_unix_us`).
fn unix_us_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Joins a thread, turning its panic into this thread's, with `what`.
fn join<T>(handle: JoinHandle<T>, what: &str) -> T {
    handle.join().unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{what} panicked: {message}")
    })
}

/// The rates and lifetime percentiles of a run.
fn finish(
    server: SocketAddr,
    client_ports: Vec<u16>,
    accepted_ports: Vec<u16>,
    closed_unix_us: Vec<u64>,
    mut lifetimes: Vec<Duration>,
    elapsed: Duration,
) -> Connections {
    lifetimes.sort_unstable();
    let lifetime_p99 = percentile(&lifetimes, 0.99);
    let lifetimes_max = lifetimes.last().copied().unwrap_or_default();
    let achieved_per_s = client_ports.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    Connections {
        server,
        client_ports,
        accepted_ports,
        closed_unix_us,
        achieved_per_s,
        elapsed,
        lifetime_p99,
        lifetimes_max,
    }
}

/// The `q` quantile (0..=1) of sorted durations, nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
