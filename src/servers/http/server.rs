//! The HTTP core: the accept loop, the connection loop, timeouts, the
//! connection cap, the Host guard and keep-alive, for any [`Handler`].
//!
//! One single-threaded tokio runtime per core, all accepting from the same
//! listening socket: no work stealing and no locks on the request path,
//! and each worker's caches (the site's files) stay on its own core.
//!
//! Whichever worker wakes first tends to accept a whole burst of new
//! connections, so each accepted connection goes to the worker serving the
//! fewest (through that worker's inbox), which keeps the cores evenly loaded.
//!
//! Timeouts and the cap are kept by the registry of open connections:
//!
//! - a head must arrive within the header timeout from its first byte (or
//!   from the accept): a client trickling bytes is cut off (408);
//! - an idle keep-alive connection is closed after the idle timeout;
//! - a response that makes no progress for the send timeout is abandoned;
//! - at `--max-connections`, the connection that has waited longest for a
//!   request is closed to make room for a new one; only when every
//!   connection is busy writing does a newcomer get 503.
//!
//! For each request that arrives within those limits, the core decides
//! whether the connection stays open, checks the Host ([`super::host`]),
//! and only then asks the handler; a handler's [`Blocking`] job runs on
//! tokio's blocking threads, a bounded number at a time (`run_blocking`).
//!
//! With [`Options::tls`], a connection first does a TLS handshake, within
//! the header timeout of the accept (which then also bounds the first
//! head), and the same loop runs over the session ([`super::tls`]); the
//! plain path pays one branch for it.

use crate::stderr::say;
use std::borrow::Cow;
use std::io::{self, IoSlice, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use super::body::{BodyError, Chunked};
use super::handler::{Answer, Blocking, Exchange, Fault, Handler};
use super::host::HostGuard;
use super::log::{finish_log_line, start_log_line};
use super::registry::{Registry, SlotGuard, State};
use super::request::{self, HeadError, Parsed, Request, MAX_HEAD};
use super::response::{Body, Reply};
use super::tls::{Session, HANDSHAKE_RECORD};
use crate::error::Error;

/// How long clients may take, and how many may be connected at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// From the first byte of a request (or the accept) to its complete head.
    pub header_timeout: Duration,
    /// Between requests on a kept-alive connection.
    pub idle_timeout: Duration,
    /// Without progress while writing a response.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// How the server runs, apart from what it serves.
#[derive(Clone, Debug)]
pub struct Options {
    pub limits: Limits,
    /// No log line per request.
    pub quiet: bool,
    /// The Host names answered besides loopback.
    pub hosts: HostGuard,
    /// Worker threads (one per core by default).
    pub workers: usize,
    /// How many handlers' blocking jobs may run at once; None is half the
    /// workers (see [`blocking_limit`]). metrics raises it: its jobs mostly
    /// wait for one shared collection, and each waiter holds a thread.
    pub blocking_jobs: Option<usize>,
    /// HTTPS: every connection starts with a TLS handshake (see
    /// [`super::tls::server_config`]); None is plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

struct Shared<H> {
    handler: H,
    options: Options,
    registry: Arc<Registry>,
    workers: Vec<Worker>,
    /// Permits to run a handler's blocking job (see [`run_blocking`]).
    blocking: Arc<Semaphore>,
}

/// What other workers know of one worker: how busy it is, and where to
/// hand it a connection.
struct Worker {
    connections: AtomicUsize,
    inbox: mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>,
}

/// A new connection in transit to the worker that will serve it.
type Inbox = mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>;

/// Serves `handler`'s answers on `listener` until the process is stopped.
pub fn run<H: Handler>(handler: H, options: Options, listener: std::net::TcpListener) -> Result<(), Error> {
    listener.set_nonblocking(true).map_err(|e| Error::System(format!("cannot set up the listening socket: {e}")))?;
    let registry = Arc::new(Registry::new(options.limits));
    let (workers, mut inboxes): (Vec<Worker>, Vec<Inbox>) = (0..options.workers.max(1))
        .map(|_| {
            let (inbox, receiver) = mpsc::unbounded_channel();
            (Worker { connections: AtomicUsize::new(0), inbox }, receiver)
        })
        .unzip();
    let blocking =
        Arc::new(Semaphore::new(options.blocking_jobs.unwrap_or_else(|| blocking_limit(options.workers)).max(1)));
    let shared = Arc::new(Shared { handler, registry: registry.clone(), options, workers, blocking });
    std::thread::Builder::new()
        .name("berth-sweeper".into())
        .spawn(move || registry.sweep_forever())
        .map_err(|e| Error::System(format!("cannot start a thread: {e}")))?;
    let first_inbox = inboxes.remove(0);
    for (index, inbox) in inboxes.into_iter().enumerate().map(|(i, inbox)| (i + 1, inbox)) {
        let listener =
            listener.try_clone().map_err(|e| Error::System(format!("cannot share the listening socket: {e}")))?;
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("berth-worker-{index}"))
            .spawn(move || {
                // The other workers go on serving; say why this one stopped.
                if let Err(error) = worker(shared, index, listener, inbox) {
                    say!("berth: warning: a worker thread stopped: {error}");
                }
            })
            .map_err(|e| Error::System(format!("cannot start a thread: {e}")))?;
    }
    worker(shared, 0, listener, first_inbox)
}

/// One worker: a single-threaded runtime accepting connections and serving
/// its share of them.
///
/// Every worker waits on the one listening socket, and whichever wakes first
/// tends to accept a whole burst of connections; so each accepted
/// connection goes to the worker with the fewest (handed over through its
/// inbox when that is another one), which keeps the cores evenly loaded.
fn worker<H: Handler>(
    shared: Arc<Shared<H>>,
    index: usize,
    listener: std::net::TcpListener,
    mut inbox: Inbox,
) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::System(format!("cannot start the server's event loop: {e}")))?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)
            .map_err(|e| Error::System(format!("cannot watch the listening socket: {e}")))?;
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some((stream, peer)) = inbox.recv().await {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => admit(&shared, index, stream, peer),
                        Err(_) => {
                            shared.workers[index].connections.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => hand_out(&shared, index, stream, peer),
                Err(e) => accept_failed(&e),
            }
        }
    })
}

/// Serves a new connection here, or hands it to a less busy worker. It is
/// counted as that worker's at once, so that a burst is spread evenly.
fn hand_out<H: Handler>(shared: &Arc<Shared<H>>, index: usize, stream: TcpStream, peer: SocketAddr) {
    let load = |i: usize| shared.workers[i].connections.load(Ordering::Relaxed);
    let least = (0..shared.workers.len()).min_by_key(|&i| (load(i), i != index)).unwrap_or(index);
    shared.workers[least].connections.fetch_add(1, Ordering::Relaxed);
    if least == index {
        return admit(shared, index, stream, peer);
    }
    let Ok(stream) = stream.into_std() else {
        shared.workers[least].connections.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    if let Err(mpsc::error::SendError((stream, peer))) = shared.workers[least].inbox.send((stream, peer)) {
        // That worker is gone: serve it here after all.
        shared.workers[least].connections.fetch_sub(1, Ordering::Relaxed);
        shared.workers[index].connections.fetch_add(1, Ordering::Relaxed);
        match TcpStream::from_std(stream) {
            Ok(stream) => admit(shared, index, stream, peer),
            Err(_) => {
                shared.workers[index].connections.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Registers a connection (within the cap) and serves it on this worker,
/// which has already counted it.
fn admit<H: Handler>(shared: &Arc<Shared<H>>, index: usize, stream: TcpStream, peer: SocketAddr) {
    let counted = Counted { shared: shared.clone(), index };
    let Some(slot) = Registry::admit(&shared.registry, stream.as_raw_fd()) else {
        // Every connection is busy writing: say so, and close (over TLS,
        // just close: a handshake for a refusal costs what is short).
        if shared.options.tls.is_none() {
            let _ = stream.try_write(&canned(503, "berth: too many connections; retry in a moment\n"));
        }
        return;
    };
    let _ = stream.set_nodelay(true);
    let local = if shared.options.hosts.allow_local_address { stream.local_addr().ok().map(|a| a.ip()) } else { None };
    let connection = Connection { slot, stream, tls: None };
    tokio::spawn(async move {
        connection.serve(&counted.shared, peer, local).await;
        drop(counted);
    });
}

/// Counts a connection as its worker's while it lives.
struct Counted<H> {
    shared: Arc<Shared<H>>,
    index: usize,
}

impl<H> Drop for Counted<H> {
    fn drop(&mut self) {
        self.shared.workers[self.index].connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many blocking jobs run at once: half the workers (at least one), so
/// that however many are asked for (directory listings, say), the other
/// cores stay free for the event loops.
fn blocking_limit(workers: usize) -> usize {
    (workers / 2).max(1)
}

/// Runs a handler's job on tokio's blocking threads, never on the event
/// loop: a directory listing of 100,000 names takes a second or more of
/// CPU, which would stall every other connection of this worker. At most
/// [`blocking_limit`] run at once; more wait for a permit (in order)
/// without holding a thread. The job comes back for its reply even when it
/// could not run or panicked; None only when its thread was lost (the
/// runtime shutting down).
async fn run_blocking(permits: &Arc<Semaphore>, mut job: Box<dyn Blocking>) -> Option<Box<dyn Blocking>> {
    // The semaphore is never closed; were it, the job replies unrun.
    let Ok(permit) = permits.clone().acquire_owned().await else { return Some(job) };
    let ran = tokio::task::spawn_blocking(move || {
        // Caught here rather than by tokio, so that the job itself comes
        // back and can answer the request (its reply copes with work that
        // did not finish).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
        drop(permit);
        job
    })
    .await;
    ran.ok()
}

/// Too many open files and the like: the connection waits in the kernel's
/// backlog; pause briefly rather than spin on the error.
fn accept_failed(error: &io::Error) {
    match error.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM) => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| say!("berth: warning: cannot accept connections: {error} (raise 'ulimit -n'?)"));
            std::thread::sleep(Duration::from_millis(10));
        }
        _ => {}
    }
}

/// How much of a body [`Connection::read_body`] took from the buffer, and
/// whether it read past the body's end (the connection then closes).
struct BodyRead {
    from_buffer: usize,
    overran: bool,
}

/// A request refused before the handler: status, text, log note.
type Refusal = (u16, &'static str, &'static str);

/// The log note of a fault, with the handler's own note when it has one.
fn fault_note<'a>(what: &'a str, note: &str) -> Cow<'a, str> {
    if note.is_empty() {
        Cow::Borrowed(what)
    } else {
        Cow::Owned(format!("{what}; {note}"))
    }
}

/// A complete response that closes the connection, for the rare answers
/// given before a request reaches the handler (503 at the cap, 408, 400
/// and 431 for heads).
fn canned(status: u16, message: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
        super::response::reason(status),
        message.len()
    )
    .into_bytes()
}

/// What the connection loop does with a request's answer.
enum Outcome {
    Send(Reply),
    Fault(Fault),
}

/// The answer to one complete request: whether the connection stays open
/// (and the Connection line that says so), the handler's lines for every
/// response, the Host check, and only then the handler, with its blocking
/// job run off the event loop and its pauses waited out (the connection's
/// deadline moved past each one). `body_read`: the handler has read the
/// request's body, so the connection may stay open.
async fn answer<H: Handler>(
    shared: &Shared<H>,
    request: &Request<'_>,
    local: Option<IpAddr>,
    body_read: bool,
    slot: &SlotGuard,
    mut exchange: Exchange<'_>,
    scratch: &mut H::Scratch,
) -> Outcome {
    exchange.extra.clear();
    exchange.note.clear();
    let host = shared.options.hosts.check(request, local);
    let close = !request.keep_alive || (request.has_body && !body_read) || host.ends_connection();
    if close {
        exchange.extra.extend_from_slice(b"Connection: close\r\n");
    } else if request.minor_version == 0 {
        exchange.extra.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    shared.handler.headers(request, exchange.extra);
    let mut reply = match host.refusal() {
        Some(refusal) => exchange.text(request, refusal.status, refusal.message, refusal.note),
        None => {
            let mut next = shared.handler.respond(request, &mut exchange, scratch);
            loop {
                match next {
                    Answer::Reply(reply) => break reply,
                    Answer::Fault(fault) => return Outcome::Fault(fault),
                    Answer::Delayed(pause, then) => {
                        let limits = shared.options.limits;
                        slot.extend(shared.registry.deadline(pause + limits.send_timeout));
                        tokio::time::sleep(pause).await;
                        next = *then;
                    }
                    Answer::Blocking(job) => match run_blocking(&shared.blocking, job).await {
                        Some(job) => break job.reply(request, &mut exchange),
                        None => {
                            let mut reply =
                                exchange.text(request, 500, "berth: this request was lost\n", "blocking job lost");
                            reply.close = true;
                            break reply;
                        }
                    },
                }
            }
        }
    };
    reply.close |= close;
    Outcome::Send(reply)
}

/// One client connection. Field order matters: the slot leaves the
/// registry before the socket closes, so the sweeper can never shut down
/// a descriptor number that has been reused by a newer connection.
struct Connection {
    slot: SlotGuard,
    stream: TcpStream,
    /// The TLS session, on an HTTPS server once the client has sent its
    /// first bytes; every read and write goes through it then.
    tls: Option<Box<Session>>,
}

/// Reusable buffers of one connection.
struct Buffers<S> {
    /// Received bytes; a head must fit.
    input: Box<[u8]>,
    start: usize,
    end: usize,
    head: Vec<u8>,
    extra: Vec<u8>,
    /// The request's body, for handlers that read bodies.
    body: Vec<u8>,
    /// The handler's note for the log line.
    note: String,
    log: String,
    /// The handler's own, from request to request.
    scratch: S,
}

impl Connection {
    async fn serve<H: Handler>(mut self, shared: &Shared<H>, peer: SocketAddr, local: Option<IpAddr>) {
        if let Some(config) = &shared.options.tls {
            if self.start_tls(shared, peer, config).await.is_err() {
                return;
            }
        }
        let mut buffers = Buffers {
            input: vec![0u8; MAX_HEAD].into_boxed_slice(),
            start: 0,
            end: 0,
            head: Vec::with_capacity(512),
            extra: Vec::new(),
            body: Vec::new(),
            note: String::new(),
            log: String::new(),
            scratch: H::Scratch::default(),
        };
        let _ = self.serve_requests(shared, peer, local, &mut buffers).await;
    }

    /// The TLS handshake, within the header timeout of the accept (the
    /// registry's deadline for a new connection, which then also bounds
    /// the first head). A client that speaks plain HTTP to this port gets
    /// a plain-text 400 saying so (nginx's 497), and the connection ends.
    async fn start_tls<H: Handler>(
        &mut self,
        shared: &Shared<H>,
        peer: SocketAddr,
        config: &Arc<rustls::ServerConfig>,
    ) -> io::Result<()> {
        let mut first = [0u8; 1];
        if self.stream.peek(&mut first).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if first[0] != HANDSHAKE_RECORD {
            if first[0].is_ascii_alphabetic() {
                self.refuse_plain_http(shared, peer).await;
            }
            return Err(io::ErrorKind::InvalidData.into());
        }
        let mut session = Box::new(Session::new(config)?);
        session.handshake(&self.stream).await?;
        self.tls = Some(session);
        Ok(())
    }

    async fn refuse_plain_http<H: Handler>(&mut self, shared: &Shared<H>, peer: SocketAddr) {
        let registry = &shared.registry;
        let limits = shared.options.limits;
        if !shared.options.quiet {
            let mut log = String::new();
            start_log_line(&mut log, peer, "-", "-", None);
            finish_log_line(&mut log, 400, 0, Duration::ZERO, Some("plain HTTP on the HTTPS port"));
            let _ = io::stderr().write_all(log.as_bytes());
        }
        if self.slot.enter(State::Idle, State::Writing, registry.deadline(limits.send_timeout)) {
            let text = canned(400, "berth: this port speaks HTTPS: use https:// (plain HTTP was sent)\n");
            if self.write_all(registry, limits, &text, &[]).await.is_ok() {
                let _ = self.close_gracefully(registry, &mut [0u8; 4096]).await;
            }
        }
    }

    async fn serve_requests<H: Handler>(
        &mut self,
        shared: &Shared<H>,
        peer: SocketAddr,
        local: Option<IpAddr>,
        b: &mut Buffers<H::Scratch>,
    ) -> io::Result<()> {
        let limits = shared.options.limits;
        let registry = &shared.registry;
        let mut first = true;
        loop {
            if b.end > b.start {
                let parsed = request::parse(&b.input[b.start..b.end]);
                match parsed {
                    Parsed::Complete(request) => {
                        // The body, for a handler that reads bodies; bytes of
                        // it already in the buffer are used from there.
                        // The log line starts as the request arrives; it ends once answered.
                        if !shared.options.quiet {
                            start_log_line(
                                &mut b.log,
                                peer,
                                request.method_text,
                                request.target,
                                shared.handler.log_secret(),
                            );
                        }
                        let mut consumed = request.head_len;
                        let mut body_read = false;
                        let mut close_after = false;
                        b.body.clear();
                        if let Some(limit) = request.has_body.then(|| shared.handler.body_limit(&request)).flatten() {
                            let buffered = &b.input[b.start + request.head_len..b.end];
                            match self.read_body(registry, limits, &request, buffered, limit, &mut b.body).await? {
                                Ok(read) => {
                                    consumed += read.from_buffer;
                                    close_after = read.overran;
                                    body_read = true;
                                }
                                Err((status, message, note)) => {
                                    if !shared.options.quiet {
                                        finish_log_line(&mut b.log, status, 0, Duration::ZERO, Some(note));
                                        let _ = io::stderr().write_all(b.log.as_bytes());
                                    }
                                    if self.slot.enter(
                                        State::Reading,
                                        State::Writing,
                                        registry.deadline(limits.send_timeout),
                                    ) {
                                        self.send(registry, limits, &canned(status, message), Body::Empty).await?;
                                    }
                                    return self.close_gracefully(registry, &mut b.input).await;
                                }
                            }
                        }
                        if !self.slot.enter(State::Reading, State::Writing, registry.deadline(limits.send_timeout)) {
                            return Ok(());
                        }
                        let started = (!shared.options.quiet).then(Instant::now);
                        let exchange =
                            Exchange { head: &mut b.head, extra: &mut b.extra, body: &b.body, peer, note: &mut b.note };
                        let outcome =
                            answer(shared, &request, local, body_read, &self.slot, exchange, &mut b.scratch).await;
                        b.start += consumed;
                        if b.start >= b.end {
                            b.start = 0;
                            b.end = 0;
                        }
                        let reply = match outcome {
                            Outcome::Send(reply) => reply,
                            Outcome::Fault(fault) => {
                                if let Some(started) = started {
                                    let (status, what) = match &fault {
                                        Fault::Reset => (0, "fault: connection reset"),
                                        Fault::Close => (0, "fault: closed without a reply"),
                                        Fault::Stall(reply) => (reply.status, "fault: the body stalls"),
                                    };
                                    let with_note = fault_note(what, &b.note);
                                    finish_log_line(&mut b.log, status, 0, started.elapsed(), Some(&with_note));
                                    let _ = io::stderr().write_all(b.log.as_bytes());
                                }
                                return self.fault(registry, limits, &b.head, fault, &mut b.input).await;
                            }
                        };
                        let close = reply.close || close_after;
                        let (status, note, length) = (reply.status, reply.note, reply.body.len());
                        let sent = self.send(registry, limits, &b.head, reply.body).await;
                        if let Some(started) = started {
                            let note = match (note, b.note.is_empty()) {
                                (Some(note), true) => Some(Cow::Borrowed(note)),
                                (Some(note), false) => Some(Cow::Owned(format!("{note}; {}", b.note))),
                                (None, false) => Some(Cow::Borrowed(b.note.as_str())),
                                (None, true) => None,
                            };
                            finish_log_line(&mut b.log, status, length, started.elapsed(), note.as_deref());
                            let _ = io::stderr().write_all(b.log.as_bytes());
                        }
                        sent?;
                        if close {
                            return self.close_gracefully(registry, &mut b.input).await;
                        }
                        let (next, timeout) = if b.end > b.start {
                            (State::Reading, limits.header_timeout)
                        } else {
                            (State::Idle, limits.idle_timeout)
                        };
                        if !self.slot.enter(State::Writing, next, registry.deadline(timeout)) {
                            return Ok(());
                        }
                        continue;
                    }
                    Parsed::Partial => {
                        if b.start > 0 {
                            b.input.copy_within(b.start..b.end, 0);
                            b.end -= b.start;
                            b.start = 0;
                        }
                    }
                    Parsed::Error(error) => {
                        let (status, text, note) = match error {
                            HeadError::Malformed => (
                                400,
                                canned(400, "berth: malformed HTTP/1.x request\n"),
                                "malformed or oversized request head",
                            ),
                            HeadError::TooLarge => (
                                431,
                                canned(431, "berth: the request head is larger than 16 KiB\n"),
                                "malformed or oversized request head",
                            ),
                            HeadError::BadLength => (
                                400,
                                canned(400, "berth: Content-Length must be one number (digits only)\n"),
                                "invalid Content-Length",
                            ),
                            HeadError::BothFramings => (
                                400,
                                canned(400, "berth: Content-Length and Transfer-Encoding together are refused\n"),
                                "both Content-Length and Transfer-Encoding",
                            ),
                        };
                        if !shared.options.quiet {
                            start_log_line(&mut b.log, peer, "-", "-", None);
                            finish_log_line(&mut b.log, status, 0, Duration::ZERO, Some(note));
                            let _ = io::stderr().write_all(b.log.as_bytes());
                        }
                        if self.slot.enter(State::Reading, State::Writing, registry.deadline(limits.send_timeout)) {
                            self.send(registry, limits, &text, Body::Empty).await?;
                        }
                        return self.close_gracefully(registry, &mut b.input).await;
                    }
                }
            }
            let was_idle = b.end == b.start;
            let n = self.read(&mut b.input[b.end..]).await?;
            if n == 0 {
                if !was_idle && self.slot.state() == State::Closing {
                    // The header timeout ran out on a partial head.
                    let text = canned(408, "berth: the request head took too long\n");
                    match &mut self.tls {
                        None => {
                            let _ = self.stream.try_write(&text);
                        }
                        Some(tls) => tls.try_send_last(&self.stream, &text),
                    }
                    if !shared.options.quiet {
                        start_log_line(&mut b.log, peer, "-", "-", None);
                        finish_log_line(&mut b.log, 408, 0, Duration::ZERO, Some("request head too slow"));
                        let _ = io::stderr().write_all(b.log.as_bytes());
                    }
                }
                return Ok(());
            }
            if was_idle {
                // The head must be complete within the header timeout of its
                // first byte; on a new connection, of the accept (a client
                // cannot win time by waiting before it starts to trickle).
                let deadline = if first { self.slot.deadline() } else { registry.deadline(limits.header_timeout) };
                if !self.slot.enter(State::Idle, State::Reading, deadline) {
                    return Ok(());
                }
                first = false;
            }
            b.end += n;
        }
    }

    /// Reads a request's body into `body`: first what is already in the
    /// buffer after the head (`buffered`), then from the socket, each read
    /// moving the deadline by the header timeout (a client that stops
    /// sending is cut off by the sweeper, and the read ends). A client
    /// that sent `Expect: 100-continue` is told to go on first. The error
    /// is the refusal to send (status, text, log note); io errors end the
    /// connection.
    async fn read_body(
        &mut self,
        registry: &Registry,
        limits: Limits,
        request: &Request<'_>,
        buffered: &[u8],
        limit: usize,
        body: &mut Vec<u8>,
    ) -> io::Result<Result<BodyRead, Refusal>> {
        if request.other_coding {
            return Ok(Err((501, "berth: only Transfer-Encoding: chunked is read\n", "unsupported Transfer-Encoding")));
        }
        if request.content_length.is_some_and(|length| length > limit as u64) {
            return Ok(Err((413, "berth: the request body is larger than this server takes\n", "body too large")));
        }
        if request.expect_continue && buffered.is_empty() {
            self.send(registry, limits, b"HTTP/1.1 100 Continue\r\n\r\n", Body::Empty).await?;
        }
        let too_large = || Err((413, "berth: the request body is larger than this server takes\n", "body too large"));
        if let Some(length) = request.content_length {
            let length = length as usize;
            let from_buffer = buffered.len().min(length);
            body.extend_from_slice(&buffered[..from_buffer]);
            body.resize(length, 0);
            let mut filled = from_buffer;
            while filled < length {
                let n = self.read(&mut body[filled..]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                filled += n;
                self.slot.extend(registry.deadline(limits.header_timeout));
            }
            return Ok(Ok(BodyRead { from_buffer, overran: false }));
        }
        let mut decoder = Chunked::default();
        let refuse = |error| match error {
            BodyError::TooLarge => too_large(),
            BodyError::BadChunk => {
                Err((400, "berth: the chunked request body is malformed\n", "malformed chunked body"))
            }
        };
        let (from_buffer, done) = match decoder.feed(buffered, body, limit) {
            Ok(fed) => fed,
            Err(error) => return Ok(refuse(error)),
        };
        if done {
            return Ok(Ok(BodyRead { from_buffer, overran: false }));
        }
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = self.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.slot.extend(registry.deadline(limits.header_timeout));
            match decoder.feed(&chunk[..n], body, limit) {
                // Bytes after the body (a pipelined request) were read past:
                // the connection closes after this answer rather than lose them.
                Ok((used, true)) => return Ok(Ok(BodyRead { from_buffer, overran: used < n })),
                Ok((_, false)) => {}
                Err(error) => return Ok(refuse(error)),
            }
        }
    }

    /// Carries out a handler's [`Fault`]: a reset (SO_LINGER 0, so that
    /// the close sends RST), a close without a reply, or a head and half a
    /// body and then silence until the client gives up or the send
    /// deadline passes (the sweeper then shuts the socket, which ends the
    /// wait).
    async fn fault(
        &mut self,
        registry: &Registry,
        limits: Limits,
        head: &[u8],
        fault: Fault,
        scratch: &mut [u8],
    ) -> io::Result<()> {
        match fault {
            Fault::Reset => {
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
                Ok(())
            }
            Fault::Close => self.close_gracefully(registry, scratch).await,
            Fault::Stall(reply) => {
                let body = match reply.body {
                    Body::Bytes(bytes) => bytes.slice(..bytes.len() / 2),
                    _ => bytes::Bytes::new(),
                };
                self.send(registry, limits, head, Body::Bytes(body)).await?;
                self.slot.extend(registry.deadline(limits.send_timeout));
                while matches!(self.read_plain(scratch).await, Ok(n) if n > 0) {}
                Ok(())
            }
        }
    }

    /// Reads what has arrived (0 at the end of the stream), waiting if nothing has.
    async fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        match &mut self.tls {
            None => self.read_plain(into).await,
            Some(tls) => tls.read(&self.stream, into).await,
        }
    }

    /// Reads what has arrived on the socket itself.
    async fn read_plain(&self, into: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.try_read(into) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stream.readable().await?,
                result => return result,
            }
        }
    }

    /// Writes the head in `head` and then the body.
    async fn send(&mut self, registry: &Registry, limits: Limits, head: &[u8], body: Body) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            let slot = &self.slot;
            let waiting = || slot.extend(registry.deadline(limits.send_timeout));
            return match body {
                Body::Empty => tls.write_all(&self.stream, &waiting, head, &[]).await,
                Body::Bytes(bytes) => tls.write_all(&self.stream, &waiting, head, &bytes).await,
                Body::File { file, offset, len } => {
                    tls.send_file(&self.stream, &waiting, head, &file, offset, len).await
                }
            };
        }
        match body {
            Body::Empty => self.write_all(registry, limits, head, &[]).await,
            Body::Bytes(bytes) => self.write_all(registry, limits, head, &bytes).await,
            Body::File { file, offset, len } => {
                self.write_head_more(registry, limits, head).await?;
                self.send_file(registry, limits, &file, offset, len).await
            }
        }
    }

    /// Head and body in one writev when the socket takes them (the usual case).
    async fn write_all(&self, registry: &Registry, limits: Limits, mut head: &[u8], mut body: &[u8]) -> io::Result<()> {
        while !head.is_empty() || !body.is_empty() {
            let result = if head.is_empty() {
                self.stream.try_write(body)
            } else {
                self.stream.try_write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    let from_head = n.min(head.len());
                    head = &head[from_head..];
                    n -= from_head;
                    body = &body[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.slot.extend(registry.deadline(limits.send_timeout));
                    self.stream.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The head of a sendfile response, with MSG_MORE so that it leaves in
    /// the same packet as the start of the file.
    async fn write_head_more(&self, registry: &Registry, limits: Limits, mut head: &[u8]) -> io::Result<()> {
        let fd = self.stream.as_raw_fd();
        while !head.is_empty() {
            let result = self.stream.try_io(Interest::WRITABLE, || {
                // SAFETY: send reads `head`, which outlives the call.
                let n =
                    unsafe { libc::send(fd, head.as_ptr().cast(), head.len(), libc::MSG_MORE | libc::MSG_NOSIGNAL) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(n) => head = &head[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.slot.extend(registry.deadline(limits.send_timeout));
                    self.stream.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// sendfile(2): from the page cache to the socket, no copy through berth.
    async fn send_file(
        &self,
        registry: &Registry,
        limits: Limits,
        file: &std::fs::File,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let socket = self.stream.as_raw_fd();
        let mut position = offset as libc::off_t;
        let end = offset + len;
        while (position as u64) < end {
            let count = ((end - position as u64).min(1 << 30)) as usize;
            let result = self.stream.try_io(Interest::WRITABLE, || {
                // SAFETY: both descriptors are open; sendfile advances `position`.
                let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut position, count) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                // The file shrank under us: the promised length cannot be sent.
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.slot.extend(registry.deadline(limits.send_timeout));
                    self.stream.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// After a response that ends the connection: stop sending, then read
    /// and drop what the client still sends for a moment, so that closing
    /// with unread data (which makes the kernel send a reset) cannot destroy
    /// the response before the client has read it. Bounded in time by the
    /// registry deadline and in bytes.
    async fn close_gracefully(&mut self, registry: &Registry, scratch: &mut [u8]) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            // Waited for only while Writing, where the sweeper bounds it by
            // the send deadline; otherwise the socket takes it at once or not at all.
            if self.slot.state() == State::Writing {
                let _ = tls.close(&self.stream).await;
            } else {
                tls.try_close(&self.stream);
            }
        }
        // SAFETY: shutdown on our own open socket.
        unsafe { libc::shutdown(self.stream.as_raw_fd(), libc::SHUT_WR) };
        if !self.slot.enter(State::Writing, State::Reading, registry.deadline(Duration::from_secs(2))) {
            return Ok(());
        }
        let mut drained = 0;
        while drained < 1 << 20 {
            match self.read_plain(scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
        Ok(())
    }
}
