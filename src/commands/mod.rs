//! One module per subcommand: parse what the CLI gave, take a snapshot,
//! analyse, render. Each returns the exit code or an error value.

pub mod completions;
pub mod connect;
pub mod doctor;
pub mod echo;
pub mod free;
pub mod kill;
pub mod listen;
pub mod ls;
pub mod probe;
pub mod run;
pub mod scan;
pub mod serve;
pub mod who;

use std::io::{self, BufWriter, Write};

use crate::analysis::unseen::UnseenCounts;
use crate::inventory::Snapshot;

/// Buffered, locked stdout for a command's whole output.
pub(crate) fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Notes about what the snapshot could not see, on stderr so that stdout
/// stays clean for pipes and JSON.
pub(crate) fn print_visibility_notes(snapshot: &Snapshot, unseen: &UnseenCounts) {
    let mut stderr = io::stderr().lock();
    for note in unseen.notes(snapshot.visibility.unreadable_processes) {
        let _ = writeln!(stderr, "berth: note: {note}");
    }
    if let Some(reason) = &snapshot.visibility.netlink_fallback_reason {
        let _ = writeln!(stderr, "berth: note: netlink sock_diag unavailable ({reason}); read /proc/net instead");
    }
    for skipped in &snapshot.visibility.namespaces_skipped {
        let _ = writeln!(stderr, "berth: note: network namespace {skipped}");
    }
}
