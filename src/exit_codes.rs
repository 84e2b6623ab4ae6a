//! Every exit code berth gives, in one place.

/// What the process exit status means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// It worked, and found what was asked for.
    Success = 0,
    /// Nothing found: `who` on a free port; `audit` findings at or above the threshold.
    NothingFound = 1,
    /// Bad usage or input: unknown flags, malformed ports or addresses.
    Usage = 2,
    /// The action could not be completed (a port that could not be freed;
    /// `connect`/`listen`: bytes that were not delivered).
    ActionFailed = 3,
    /// berth could not read what it needs from the system.
    SystemError = 4,
    /// A network operation timed out (`connect`, `listen --timeout`,
    /// `--idle-timeout`), as opposed to being refused (1).
    TimedOut = 5,
    /// berth could not write its output: stdout or a file it was asked to
    /// write (`ls > /dev/full`, `audit --write-policy` to a read-only path).
    /// A broken pipe is not one: the reader left, and berth exits 0.
    WriteFailed = 6,
    // Ctrl-C ends berth by the signal itself (no handler is installed), so
    // the shell reports 130 (128 + SIGINT) without berth choosing a code.
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}
