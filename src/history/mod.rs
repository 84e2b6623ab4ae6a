//! The history: what `berth watch` saw, kept in SQLite, and what
//! `berth history` asks of it afterwards.
//!
//! - [`schema`]: the file's tables, its settings and its version (a file of
//!   another version is refused in words, never misread).
//! - [`codec`]: one [`WatchEvent`](crate::watch::event::WatchEvent) as one
//!   row, and back.
//! - [`recorder`]: the watch's writer ([`Recorder`]): one writer at a time
//!   (a lock file), one transaction per batch, retention.
//! - [`query`]: the reader behind `berth history`'s views.
//! - [`when`]: times as people type them, and local times as tables print them.
//!
//! Every time in the file is microseconds since the Unix epoch (UTC).

pub mod codec;
pub mod query;
pub mod recorder;
pub mod schema;
pub mod when;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use recorder::Recorder;

/// How much history is kept: events older than `keep` are deleted, and
/// the oldest events go when the file grows past `max_bytes`. Runs and the
/// ports ever seen are kept whatever their age (they are small, and the
/// ports seen are what `--alert new` remembers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub keep: Duration,
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep: DEFAULT_KEEP, max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// Seven days.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The environment variable naming the history file (tests set it).
pub const HISTORY_ENV: &str = "BERTH_HISTORY";

/// Where the history is kept unless `--history`/`--file` says: `$BERTH_HISTORY`,
/// else `$XDG_STATE_HOME/berth/history.sqlite`, else
/// `~/.local/state/berth/history.sqlite`. None without any of them (no HOME).
pub fn default_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = var(HISTORY_ENV) {
        return Some(path);
    }
    // XDG: a relative XDG_STATE_HOME is invalid and ignored.
    let state = var("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|home| home.join(".local/state")))?;
    Some(state.join("berth").join("history.sqlite"))
}

/// What can go wrong with the history file. Each message names the file
/// and says what to do.
#[derive(Debug)]
pub enum HistoryError {
    /// Another watch is writing this file.
    Busy { pid: Option<u32>, path: PathBuf },
    /// There is no history file (yet).
    Missing { path: PathBuf },
    /// The file was written by a newer berth.
    TooNew { path: PathBuf, version: i64 },
    /// The file is not a berth history (another program's database).
    NotHistory { path: PathBuf },
    /// No default place for the file (no HOME, no XDG_STATE_HOME).
    NoDefault,
    /// SQLite refused (a corrupt file, a full disk, no permission).
    Sqlite { path: PathBuf, error: rusqlite::Error },
    /// The file or its directory or lock could not be made or opened.
    Io { path: PathBuf, what: &'static str, error: std::io::Error },
}

impl HistoryError {
    pub(crate) fn sqlite(path: &Path) -> impl FnOnce(rusqlite::Error) -> HistoryError + '_ {
        move |error| HistoryError::Sqlite { path: path.to_path_buf(), error }
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::printable::printable;
        let shown = |path: &Path| printable(&path.to_string_lossy()).into_owned();
        match self {
            HistoryError::Busy { pid, path } => {
                let who = match pid {
                    Some(pid) => format!("another berth watch (pid {pid})"),
                    None => "another berth watch".to_string(),
                };
                write!(
                    f,
                    "the history {} is being written by {who}; one watch writes a history at a time: \
                     give this one its own file with --history FILE, or record nothing with --no-history",
                    shown(path)
                )
            }
            HistoryError::Missing { path } => write!(
                f,
                "no history at {}: berth watch records one (berth watch, then ask again), \
                 or name another file with --file FILE",
                shown(path)
            ),
            HistoryError::TooNew { path, version } => write!(
                f,
                "the history {} is of a newer berth (schema version {version}, this berth reads {}): \
                 use that berth, or give this one another file",
                shown(path),
                schema::VERSION
            ),
            HistoryError::NotHistory { path } => {
                write!(f, "{} is not a berth history (another program's SQLite file?): name another file", shown(path))
            }
            HistoryError::NoDefault => write!(
                f,
                "no place for the history: neither HOME nor XDG_STATE_HOME is set; name a file with \
                 --history FILE (watch) or --file FILE (history), or set {HISTORY_ENV}"
            ),
            HistoryError::Sqlite { path, error } => {
                use rusqlite::ErrorCode;
                let hint = match error.sqlite_error_code() {
                    Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                        "; berth must be able to write the file and its directory (readers too: SQLite keeps \
                         FILE-shm beside it): a history of another user is read as that user"
                    }
                    Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                        "; the file is damaged: move it away, and berth watch starts a new one"
                    }
                    Some(ErrorCode::DiskFull) => "; free some space, or lower --max-size",
                    _ => "",
                };
                write!(f, "the history {}: {error}{hint}", shown(path))
            }
            HistoryError::Io { path, what, error } => {
                write!(f, "cannot {what} {}: {error}", shown(path))
            }
        }
    }
}

impl std::error::Error for HistoryError {}

impl From<HistoryError> for crate::error::Error {
    fn from(e: HistoryError) -> Self {
        crate::error::Error::System(e.to_string())
    }
}

#[cfg(test)]
mod tests;
