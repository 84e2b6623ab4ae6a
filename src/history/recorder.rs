//! The watch's writer: one run of `berth watch` appending its events.
//!
//! One writer at a time: [`Recorder::open`] takes an exclusive `flock` on
//! `FILE.lock` (and writes its pid there, for the message a second watch
//! gets); the kernel drops the lock when the process ends, however it
//! ends, so a watch killed with -9 leaves no stale lock. Readers
//! (`berth history`) never take it: WAL lets them read while the watch
//! writes; they only test it, to tell whether the last run is still going.
//!
//! Each [`Recorder::record`] is one transaction: the batch, the run's
//! heartbeat and the ports seen commit together or not at all, so a watch
//! killed mid-batch leaves the file as of its last commit.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{params, Connection};

use super::codec::{self, COLUMNS, COLUMN_COUNT};
use super::schema;
use super::{HistoryError, Retention};
use crate::watch::event::{unix_micros_of, EventKind, WatchEvent};
use berth_inventory::Protocol;

/// How often `record` applies the age limit (besides at open and close).
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How often `record` looks at the file's size (two cheap pragmas): at
/// 20,000 events a second, a file grows about 10 MiB in this time, so the
/// cap is never passed by much.
const SIZE_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Oldest events deleted per statement when the file is over its size cap.
const PRUNE_CHUNK_MIN: i64 = 1000;

/// The writer of one run. See the module doc.
pub struct Recorder {
    conn: Connection,
    path: PathBuf,
    run: i64,
    retention: Retention,
    /// (protocol, port) of every listener recorded before this run.
    seen_before: HashSet<(Protocol, u16)>,
    last_prune: Instant,
    last_size_check: Instant,
    /// Held for the recorder's life: the one-writer lock.
    _lock: File,
}

impl Recorder {
    /// Opens (creating, with its directories 0700) the file as this run's
    /// writer. A second watch on the same file gets [`HistoryError::Busy`].
    pub fn open(path: &Path, retention: Retention) -> Result<Recorder, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|error| HistoryError::Io {
                path: dir.to_path_buf(),
                what: "create the history's directory",
                error,
            })?;
        }
        let lock = take_lock(path)?;
        // The history holds command lines and peers: readable by its owner
        // only. SQLite gives its -wal and -shm files the same mode.
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|error| HistoryError::Io { path: path.to_path_buf(), what: "create the history", error })?;
        let conn = schema::open_for_writing(path)?;
        let sqlite = HistoryError::sqlite(path);
        let now = unix_micros_of(SystemTime::now()) as i64;
        conn.execute(
            "INSERT INTO runs (pid, host, started_us, heartbeat_us) VALUES (?1, ?2, ?3, ?3)",
            params![std::process::id(), host_name(), now],
        )
        .map_err(sqlite)?;
        let run = conn.last_insert_rowid();
        let seen_before = load_ports_seen(&conn).map_err(HistoryError::sqlite(path))?;
        let mut recorder = Recorder {
            conn,
            path: path.to_path_buf(),
            run,
            retention,
            seen_before,
            last_prune: Instant::now(),
            last_size_check: Instant::now(),
            _lock: lock,
        };
        recorder.prune()?;
        Ok(recorder)
    }

    /// Appends `events` in one transaction, with the run's heartbeat and
    /// the ports seen; applies the retention when it has not for 10 minutes.
    pub fn record(&mut self, events: &[WatchEvent]) -> Result<(), HistoryError> {
        let sqlite = HistoryError::sqlite(&self.path);
        let now = unix_micros_of(SystemTime::now()) as i64;
        let tx = self.conn.transaction().map_err(sqlite)?;
        {
            let sqlite = || HistoryError::sqlite(&self.path);
            let insert = format!(
                "INSERT INTO events (run_id, {COLUMNS}) VALUES (?{})",
                (1..=COLUMN_COUNT + 1).map(|i| i.to_string()).collect::<Vec<_>>().join(", ?")
            );
            let mut insert = tx.prepare_cached(&insert).map_err(sqlite())?;
            let mut port_seen = tx
                .prepare_cached(
                    "INSERT INTO ports_seen (protocol, port, first_seen_us, last_seen_us) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT (protocol, port) DO UPDATE SET
                         last_seen_us = max(last_seen_us, excluded.last_seen_us),
                         first_seen_us = min(first_seen_us, excluded.first_seen_us)",
                )
                .map_err(sqlite())?;
            for event in events {
                // Bound one by one (no parameter list built per row): the
                // watch records up to 20,000 rows a second at its peak.
                insert.raw_bind_parameter(1, self.run).map_err(sqlite())?;
                for (at, value) in codec::values(event).into_iter().enumerate() {
                    insert.raw_bind_parameter(at + 2, value).map_err(sqlite())?;
                }
                insert.raw_execute().map_err(sqlite())?;
                if let Some(socket) = &event.socket {
                    if is_listener_sighting(event.kind) {
                        let time = unix_micros_of(event.time) as i64;
                        port_seen.execute(params![socket.protocol.name(), socket.local.port, time]).map_err(sqlite())?;
                    }
                }
            }
            tx.prepare_cached("UPDATE runs SET heartbeat_us = ?1 WHERE id = ?2")
                .and_then(|mut s| s.execute(params![now, self.run]))
                .map_err(sqlite())?;
        }
        tx.commit().map_err(HistoryError::sqlite(&self.path))?;
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.prune()?;
        } else if self.last_size_check.elapsed() >= SIZE_CHECK_EVERY {
            self.last_size_check = Instant::now();
            if self.file_bytes()? > self.retention.max_bytes {
                self.prune()?;
            }
        }
        Ok(())
    }

    /// Was a listener on (protocol, port) recorded before this run started?
    pub fn port_seen_before(&self, protocol: Protocol, port: u16) -> bool {
        self.seen_before.contains(&(protocol, port))
    }

    /// Ends the run (its `ended` time) and applies the retention; the lock
    /// goes with the recorder.
    pub fn close(mut self) -> Result<(), HistoryError> {
        let now = unix_micros_of(SystemTime::now()) as i64;
        self.conn
            .execute("UPDATE runs SET heartbeat_us = ?1, ended_us = ?1 WHERE id = ?2", params![now, self.run])
            .map_err(HistoryError::sqlite(&self.path))?;
        self.prune()?;
        // A checkpoint, so that the file alone holds everything (readers
        // that copy only it miss nothing).
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        Ok(())
    }

    /// The file recorded to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This run's id in `runs`.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// Deletes events older than `keep`, then the oldest while the file is
    /// over `max_bytes` (until it is under 90% of it), and gives the freed
    /// pages back to the file system.
    /// The file's size now (its pages, free ones included).
    fn file_bytes(&self) -> Result<u64, HistoryError> {
        let sqlite = || HistoryError::sqlite(&self.path);
        let page_size: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(sqlite())?;
        let pages: i64 = self.conn.pragma_query_value(None, "page_count", |r| r.get(0)).map_err(sqlite())?;
        Ok(u64::try_from(pages.saturating_mul(page_size)).unwrap_or(0))
    }

    pub fn prune(&mut self) -> Result<(), HistoryError> {
        self.last_prune = Instant::now();
        let sqlite = || HistoryError::sqlite(&self.path);
        let cutoff = SystemTime::now().checked_sub(self.retention.keep).map_or(0, unix_micros_of) as i64;
        let mut freed = self.conn.execute("DELETE FROM events WHERE time_us < ?1", [cutoff]).map_err(sqlite())? > 0;
        let page_size: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(sqlite())?;
        let file_bytes = |conn: &Connection| -> rusqlite::Result<i64> {
            let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
            Ok(pages * page_size)
        };
        let used_bytes = |conn: &Connection| -> rusqlite::Result<i64> {
            let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
            let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
            Ok((pages - free) * page_size)
        };
        let cap = i64::try_from(self.retention.max_bytes).unwrap_or(i64::MAX);
        if file_bytes(&self.conn).map_err(sqlite())? > cap {
            let target = cap / 10 * 9;
            // Bounded: each round deletes at least a chunk, or stops when nothing is left.
            for _ in 0..10_000 {
                let used = used_bytes(&self.conn).map_err(sqlite())?;
                if used <= target {
                    break;
                }
                let rows: i64 =
                    self.conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(sqlite())?;
                if rows == 0 {
                    break;
                }
                // The share of rows to go, as the share of bytes over the target.
                let share = (used - target) as f64 / used as f64;
                let chunk = ((rows as f64 * share).ceil() as i64).max(PRUNE_CHUNK_MIN.min(rows));
                self.conn
                    .execute(
                        "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY time_us, id LIMIT ?1)",
                        [chunk],
                    )
                    .map_err(sqlite())?;
                freed = true;
            }
        }
        if freed {
            // Stepped to the end: each step gives back pages, and a single
            // step (as execute would) leaves most of them on the freelist.
            let mut vacuum = self.conn.prepare("PRAGMA incremental_vacuum").map_err(sqlite())?;
            let mut steps = vacuum.query([]).map_err(sqlite())?;
            while steps.next().map_err(sqlite())?.is_some() {}
            // The WAL holds the deletes' pages until a checkpoint: fold it
            // in, so that the file on disk shrinks now.
            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
        Ok(())
    }
}

/// Events that say a listener was there (what `ports_seen` remembers).
fn is_listener_sighting(kind: EventKind) -> bool {
    matches!(kind, EventKind::ListenerPresent | EventKind::ListenerOpened | EventKind::ScopeChanged)
}

fn load_ports_seen(conn: &Connection) -> rusqlite::Result<HashSet<(Protocol, u16)>> {
    let mut statement = conn.prepare("SELECT protocol, port FROM ports_seen")?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
    let mut seen = HashSet::new();
    for row in rows {
        let (protocol, port) = row?;
        if let (Some(protocol), Ok(port)) = (codec::protocol_of(&protocol), u16::try_from(port)) {
            seen.insert((protocol, port));
        }
    }
    Ok(seen)
}

/// `FILE.lock` beside the history.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(path: &Path) -> Result<File, HistoryError> {
    let lock = lock_path(path);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock)
        .map_err(|error| HistoryError::Io { path: lock, what: "open the history's lock file", error })
}

/// The exclusive lock of the one writer. A reader testing the lock holds it
/// shared for an instant, so a few quick retries tell that from a watch.
fn take_lock(path: &Path) -> Result<File, HistoryError> {
    let mut file = open_lock(path)?;
    for attempt in 0..10 {
        // SAFETY: flock on a descriptor this File owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = writeln!(file, "{}", std::process::id());
            let _ = file.flush();
            return Ok(file);
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(HistoryError::Io { path: lock_path(path), what: "lock", error });
        }
        if attempt < 9 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(HistoryError::Busy { pid: lock_holder(&mut file), path: path.to_path_buf() })
}

fn lock_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The pid of the watch writing `path` now, if one is.
pub fn writer_running(path: &Path) -> Option<u32> {
    let mut file = OpenOptions::new().read(true).open(lock_path(path)).ok()?;
    // SAFETY: flock on a descriptor this File owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        // Nobody writes; the lock goes with the file.
        return None;
    }
    Some(lock_holder(&mut file).unwrap_or(0))
}

/// This machine's name (for `runs.host`), empty if it has none.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most the buffer's length into it.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}
