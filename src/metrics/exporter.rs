//! One exporter: reads the system for an exposition, shares a collection
//! between scrapes that overlap, and keeps what must outlive a scrape (the
//! owner cache, the byte totals, the audit thread's last result).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::stderr::say;
use berth_inventory::destroy::{DestroyReader, DestroyStream};
use berth_inventory::{self as inventory, Query, SourceChoice};

use super::audit_runner::AuditResult;
use super::bytes::PortBytes;
use super::exposition::Exposition;
use super::owners::OwnerCache;
use super::series::{encode_openmetrics, Inputs, Part};

pub struct Exporter {
    source: SourceChoice,
    /// The owner cache, held by the one collection running.
    owners: Mutex<OwnerCache>,
    /// Fed by the close-feed thread, read by collections.
    bytes: Arc<Mutex<PortBytes>>,
    /// The close feed was asked for, and is up (false: it could not be
    /// opened, or its thread ended).
    closes_wanted: bool,
    closes_ok: Arc<AtomicBool>,
    audit: Option<Arc<Mutex<Option<AuditResult>>>>,
    flight: Mutex<Flight>,
    landed: Condvar,
    /// Said once: the first failure of each part, on stderr.
    warned: Mutex<Vec<Part>>,
    /// Sockets in the last collection (see [`TRIM_FROM_SOCKETS`]).
    last_socket_count: AtomicUsize,
}

/// The collection in progress, if any, and the last one made.
#[derive(Default)]
struct Flight {
    running: bool,
    /// Counts finished collections, so a waiter knows its one landed.
    generation: u64,
    last: Option<Arc<Exposition>>,
}

/// A poisoned lock only means a collection panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Exporter {
    /// An exporter of berth's namespace; `audit` is the audit thread's slot.
    /// `closes` starts the close feed (for the byte totals of closed
    /// connections): a one-shot exposition has no use for it.
    pub fn new(source: SourceChoice, audit: Option<Arc<Mutex<Option<AuditResult>>>>, closes: bool) -> Exporter {
        let bytes: Arc<Mutex<PortBytes>> = Arc::default();
        let closes_ok = Arc::new(AtomicBool::new(false));
        if closes {
            match start_close_feed(bytes.clone(), closes_ok.clone()) {
                Ok(()) => closes_ok.store(true, Ordering::Relaxed),
                Err(e) => say!(
                    "berth: warning: no close messages from the kernel: {}; bytes of connections that open and close between two scrapes are not counted (berth_scrape_error{{part=\"closes\"}} is 1)",
                    crate::watch::closes::describe_refusal(&e)
                ),
            }
        }
        Exporter {
            source,
            closes_wanted: closes,
            owners: Mutex::default(),
            bytes,
            closes_ok,
            audit,
            flight: Mutex::default(),
            landed: Condvar::new(),
            warned: Mutex::default(),
            last_socket_count: AtomicUsize::new(0),
        }
    }

    /// An exposition of now. A scrape that arrives while another's
    /// collection runs waits for that one and shares it: ten scrapers at
    /// once cost one read of the system. None when the collection failed
    /// outright (a panic, which is a bug): no scraper is handed an old or an
    /// empty exposition as if it were now.
    pub fn scrape(&self) -> Option<Arc<Exposition>> {
        let mut flight = lock(&self.flight);
        if flight.running {
            let generation = flight.generation;
            while flight.generation == generation {
                flight = self.landed.wait(flight).unwrap_or_else(PoisonError::into_inner);
            }
            return flight.last.clone();
        }
        flight.running = true;
        drop(flight);
        // A panic in the collection must still wake the waiters.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.collect()));
        let mut flight = lock(&self.flight);
        flight.running = false;
        flight.generation += 1;
        flight.last = made.ok().map(Arc::new);
        let exposition = flight.last.clone();
        self.landed.notify_all();
        drop(flight);
        if self.last_socket_count.load(Ordering::Relaxed) >= TRIM_FROM_SOCKETS {
            give_back_memory();
        }
        exposition
    }

    /// Reads the system once: every socket of the namespace (all states,
    /// with tcp_info, no owners), the listeners' owners from the cache, the
    /// byte totals and the last audit.
    fn collect(&self) -> Exposition {
        let started = Instant::now();
        let mut failed = Vec::new();
        let query = Query {
            tcp_listening_only: false,
            source: self.source,
            tcp_counters: true,
            owners: false,
            without_time_wait: false,
            ..Query::default()
        };
        lock(&self.bytes).begin_read();
        let snapshot = match inventory::collect(&query) {
            Ok(snapshot) => {
                self.last_socket_count.store(snapshot.sockets.len(), Ordering::Relaxed);
                Some(snapshot)
            }
            Err(e) => {
                self.warn_once(Part::Sockets, &e.to_string());
                failed.push(Part::Sockets);
                None
            }
        };
        let mut owners = lock(&self.owners);
        if let Some(snapshot) = &snapshot {
            if let Some(why) = &snapshot.port_ranges.unread {
                self.warn_once(Part::PortRanges, why);
                failed.push(Part::PortRanges);
            }
            if let Err(e) = owners.update(snapshot, self.source) {
                self.warn_once(Part::Owners, &e.to_string());
                failed.push(Part::Owners);
            }
        }
        // The close feed's thread waits on this lock: held only to match
        // the table against the closes, not while owners are read or the
        // text is written.
        let (totals, close_overflows) = {
            let mut bytes = lock(&self.bytes);
            let totals = match &snapshot {
                Some(snapshot) => bytes.totals(snapshot).clone(),
                None => {
                    bytes.abandon_read();
                    Default::default()
                }
            };
            (totals, bytes.overflows)
        };
        if self.closes_wanted && !self.closes_ok.load(Ordering::Relaxed) {
            failed.push(Part::Closes);
        }
        let audit = self.audit.as_ref().and_then(|slot| lock(slot).clone());
        if audit.as_ref().is_some_and(|a| a.error.is_some()) {
            failed.push(Part::Audit);
        }
        let owner_of = |socket: &inventory::Socket| owners.get(socket);
        let inputs = Inputs {
            sockets: snapshot.as_ref(),
            owner_of: &owner_of,
            bytes: &totals,
            close_overflows,
            audit: audit.as_ref(),
            failed: &failed,
            scrape_seconds: started.elapsed().as_secs_f64(),
        };
        Exposition::from_openmetrics(encode_openmetrics(&inputs))
    }

    fn warn_once(&self, part: Part, why: &str) {
        let mut warned = lock(&self.warned);
        if !warned.contains(&part) {
            warned.push(part);
            say!(
                "berth: warning: {}: {why} (berth_scrape_error{{part=\"{}\"}} is 1 while it lasts)",
                part.word(),
                part.word()
            );
        }
    }
}

/// From how many sockets a collection's memory is handed back: below, the
/// pages it would free are few, and faulting them in again on the next
/// scrape costs more time (3% of a scrape at 4,500 sockets) than they save.
const TRIM_FROM_SOCKETS: usize = 10_000;

/// A collection at 45,000 sockets allocates some 10 MiB and frees it all;
/// glibc keeps freed memory in the arena of the thread that freed it, and
/// each blocking thread gets an arena of its own, so without this the
/// exporter's resident size stays at its peak times the threads (53 MiB
/// measured at 45k sockets, against 31 MiB with one arena and 18 MiB
/// trimmed). Each scrape hands the free memory back to the kernel.
pub fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Long-running exporters keep glibc to two arenas (see [`give_back_memory`]),
/// set before any thread starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets an allocator parameter; called before threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// The thread that hands the kernel's close messages to the byte totals.
fn start_close_feed(bytes: Arc<Mutex<PortBytes>>, ok: Arc<AtomicBool>) -> std::io::Result<()> {
    let stream = DestroyStream::open(inventory::own_namespace())?;
    let reader = DestroyReader::spawn(stream, 256)?;
    std::thread::Builder::new().name("berth-closes".into()).spawn(move || loop {
        match reader.receiver().recv_timeout(Duration::from_secs(1)) {
            Ok(batch) => {
                let mut totals = lock(&bytes);
                for item in &batch {
                    totals.on_destroyed(item);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let why = reader.error().map(|e| e.to_string()).unwrap_or_else(|| "it stopped".into());
                say!("berth: warning: the kernel's close messages stopped ({why}): bytes of connections that close between scrapes are no longer counted; restart berth metrics to read them again");
                ok.store(false, Ordering::Relaxed);
                return;
            }
        }
    })?;
    Ok(())
}
