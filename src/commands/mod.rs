//! One module per subcommand: take the typed arguments (parsed at the clap
//! boundary, configured in [`crate::args`]), read the system, analyse,
//! render. Each returns the exit code or an error value.

pub mod audit;
pub mod ca;
pub mod completions;
pub mod connect;
pub mod doctor;
pub mod echo;
pub mod free;
pub mod history;
pub mod kill;
pub mod listen;
pub mod ls;
pub mod metrics;
pub mod mock;
pub mod probe;
pub mod proxy;
pub mod run;
pub mod scan;
pub mod serve;
pub mod watch;
pub mod who;

use crate::stderr::say;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::unseen::UnseenCounts;
use berth_inventory::Snapshot;

/// Asks `question` on the terminal (stderr, then a line of stdin);
/// anything but y/yes is no. Callers ask only when stdin is a terminal.
pub(crate) fn confirm(question: &str) -> Result<bool, crate::error::Error> {
    use std::io::BufRead;
    let write_error = |e: io::Error| crate::error::Error::Write(format!("cannot write to stderr: {e}"));
    let mut err = io::stderr().lock();
    write!(err, "{question} [y/N] ").map_err(write_error)?;
    err.flush().map_err(write_error)?;
    drop(err);
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| crate::error::Error::System(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Buffered, locked stdout, for a command's whole output.
pub(crate) type Stdout = BufWriter<io::StdoutLock<'static>>;

/// See [`Stdout`].
pub(crate) fn stdout() -> Stdout {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Notes about what the snapshot could not see, on stderr so that stdout
/// stays clean for pipes and JSON.
pub(crate) fn print_visibility_notes(snapshot: &Snapshot, unseen: &UnseenCounts) {
    let mut stderr = io::stderr().lock();
    for note in unseen.notes(snapshot.visibility.unreadable_processes) {
        let _ = writeln!(stderr, "berth: note: {note}");
    }
    print_source_note(snapshot);
    for skipped in &snapshot.visibility.namespaces_skipped {
        // Names of namespaces are file names under /run/netns: from outside.
        let _ = writeln!(stderr, "berth: note: network namespace {}", crate::printable::printable(skipped));
    }
}

/// The note that the /proc fallback was taken, and why, on stderr.
pub(crate) fn print_source_note(snapshot: &Snapshot) {
    if let Some(reason) = &snapshot.visibility.netlink_fallback_reason {
        say!("berth: note: netlink sock_diag unavailable ({reason}); read /proc/net instead");
    }
}

/// Runs `work`, which counts what it finished in the counter it is given,
/// with a progress bar of `total` steps on stderr when stderr is a terminal
/// (never in pipes). `template` is indicatif's, e.g.
/// "scanning [{bar:30}] {pos}/{len} ports, {eta} left".
pub(crate) fn with_progress<T>(total: usize, template: &str, work: impl FnOnce(&AtomicUsize) -> T) -> T {
    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if total > 0 && io::stderr().is_terminal() {
            scope.spawn(|| show_progress(total, template, &done, &finished));
        }
        let _stop_progress = SetOnDrop(&finished);
        work(&done)
    })
}

/// Sets the flag when dropped, so the progress thread stops however the work ends.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A progress bar on stderr, updated from the counter until the work ends.
fn show_progress(total: usize, template: &str, done: &AtomicUsize, finished: &AtomicBool) {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    // Bounded by the work: `finished` is set when it returns, however it ends.
    while !finished.load(Ordering::Acquire) {
        bar.set_position(done.load(Ordering::Relaxed) as u64);
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.finish_and_clear();
}
