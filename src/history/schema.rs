//! The history file's tables and settings, and its version.
//!
//! `PRAGMA user_version` is the schema version and `PRAGMA application_id`
//! marks the file as berth's. A new file is made at [`VERSION`]; a file of
//! an older version is brought up by [`migrate`] (the steps, one per
//! version: only version 1 exists yet); a newer one is refused, since an
//! older berth cannot know what its columns mean.
//!
//! Settings: WAL (readers never block the watch, and a killed watch loses
//! at most its open transaction), `synchronous=NORMAL` (in WAL, a commit
//! is durable against a crash of berth, and against power loss up to the
//! last checkpoint), a busy timeout (a reader checkpointing does not fail
//! a write), and incremental auto-vacuum, which only a new, empty file can
//! be given: retention frees pages with `PRAGMA incremental_vacuum`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::HistoryError;

/// The schema version this berth writes and reads.
pub const VERSION: i64 = 1;

/// `PRAGMA application_id`: "brth".
pub const APPLICATION_ID: i64 = 0x6272_7468;

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1. Times are microseconds since the epoch. The event columns
/// are the facts one asks about (filters, joins, sums); what is only shown
/// (previous owners, the missed span, the started and summary facts) is
/// JSON in `extra`. `owners` and `listener_owners` are JSON arrays of
/// `{pid, name, cmdline, uid, user}`; `pid` and `process` repeat the first
/// owner for plain queries.
const SCHEMA_V1: &str = "
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    started_us   INTEGER NOT NULL,
    heartbeat_us INTEGER NOT NULL,
    ended_us     INTEGER
);
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs(id),
    time_us          INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    source           TEXT NOT NULL,
    protocol         TEXT,
    family           TEXT,
    netns            INTEGER,
    local_address    TEXT,
    local_port       INTEGER,
    remote_address   TEXT,
    remote_port      INTEGER,
    state            TEXT,
    inode            INTEGER,
    uid              INTEGER,
    user             TEXT,
    scope            TEXT,
    interface        TEXT,
    ephemeral        INTEGER,
    reserved         INTEGER,
    pid              INTEGER,
    process          TEXT,
    owners           TEXT,
    listener_address TEXT,
    listener_port    INTEGER,
    listener_owners  TEXT,
    open_seen        INTEGER,
    lifetime_min_ms  REAL,
    lifetime_max_ms  REAL,
    bytes_in         INTEGER,
    bytes_out        INTEGER,
    was_listening    INTEGER,
    alert            TEXT,
    alert_reason     TEXT,
    alert_event_kind TEXT,
    extra            TEXT,
    v6only           INTEGER
);
CREATE INDEX events_time ON events(time_us);
CREATE INDEX events_local_port ON events(local_port, time_us);
CREATE INDEX events_kind ON events(kind, time_us);
CREATE TABLE ports_seen (
    protocol      TEXT NOT NULL,
    port          INTEGER NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    PRIMARY KEY (protocol, port)
) WITHOUT ROWID;
";

/// Opens (creating) the file for writing, at [`VERSION`].
pub fn open_for_writing(path: &Path) -> Result<Connection, HistoryError> {
    let conn = Connection::open(path).map_err(HistoryError::sqlite(path))?;
    configure(&conn, path)?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens an existing file for reading (no migration: a file of an older
/// version is read after the next watch brings it up).
pub fn open_for_reading(path: &Path) -> Result<Connection, HistoryError> {
    // Said in plain words before SQLite would say "unable to open database file".
    if let Err(error) = std::fs::File::open(path) {
        return Err(match error.kind() {
            std::io::ErrorKind::NotFound => HistoryError::Missing { path: path.to_path_buf() },
            _ => HistoryError::Io { path: path.to_path_buf(), what: "read the history", error },
        });
    }
    // Read-write without create: a WAL reader may need to write the -shm
    // index, and a file that vanished in between is not recreated.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .or_else(|_| {
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        })
        .map_err(HistoryError::sqlite(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(HistoryError::sqlite(path))?;
    match version(&conn, path)? {
        VERSION => Ok(conn),
        0 => Err(HistoryError::NotHistory { path: path.to_path_buf() }),
        newer if newer > VERSION => Err(HistoryError::TooNew { path: path.to_path_buf(), version: newer }),
        _ => Err(HistoryError::NotHistory { path: path.to_path_buf() }),
    }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), HistoryError> {
    let sqlite = HistoryError::sqlite;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite(path))?;
    // Before any table exists, so that a new file gets it (it cannot be
    // turned on later without a full VACUUM).
    if table_count(conn, path)? == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(sqlite(path))?;
    }
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(sqlite(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(HistoryError::Io {
            path: path.to_path_buf(),
            what: "use write-ahead logging (is it on a network file system?) for",
            error: std::io::Error::other(format!("journal mode stayed {mode}")),
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite(path))?;
    // The WAL is truncated back to this after checkpoints.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(sqlite(path))?;
    Ok(())
}

fn table_count(conn: &Connection, path: &Path) -> Result<i64, HistoryError> {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |row| row.get(0))
        .map_err(HistoryError::sqlite(path))
}

/// The file's schema version, checking it is berth's.
fn version(conn: &Connection, path: &Path) -> Result<i64, HistoryError> {
    let sqlite = HistoryError::sqlite;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(sqlite(path))?;
    let id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0)).map_err(sqlite(path))?;
    if id != APPLICATION_ID && !(id == 0 && version == 0) {
        return Err(HistoryError::NotHistory { path: path.to_path_buf() });
    }
    Ok(version)
}

/// Brings the file to [`VERSION`]: creates a new one, refuses a newer one
/// or another program's.
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), HistoryError> {
    let sqlite = HistoryError::sqlite;
    let mut current = version(conn, path)?;
    if current > VERSION {
        return Err(HistoryError::TooNew { path: path.to_path_buf(), version: current });
    }
    if current == 0 && table_count(conn, path)? > 0 {
        return Err(HistoryError::NotHistory { path: path.to_path_buf() });
    }
    while current < VERSION {
        let step = match current {
            0 => SCHEMA_V1,
            // Later versions add their steps here (ALTER TABLE ..., new tables).
            _ => return Err(HistoryError::NotHistory { path: path.to_path_buf() }),
        };
        let next = current + 1;
        let batch = format!(
            "BEGIN IMMEDIATE; {step} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {next}; COMMIT;"
        );
        conn.execute_batch(&batch).map_err(sqlite(path))?;
        current = next;
    }
    Ok(())
}
