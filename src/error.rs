//! Errors are values carried up to one place (`app::run`) that prints them
//! as one line and picks the exit code.

use std::fmt;

use crate::exit_codes::ExitCode;

#[derive(Debug)]
pub enum Error {
    /// The user's input was wrong; the message says what is accepted.
    Usage(String),
    /// The system would not tell us something; the message says what to do.
    System(String),
    /// berth could not write its output (stdout, stderr, a file it was
    /// asked to write): a full disk, a read-only path. Not a failure to
    /// read the system, so it has its own exit code.
    Write(String),
    /// The reader of berth's output went away (`berth ls | head -1`): it
    /// has all it wanted, so berth stops quietly with status 0, as
    /// ripgrep and other Unix tools do.
    BrokenPipe,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::System(_) => ExitCode::SystemError,
            Error::Write(_) => ExitCode::WriteFailed,
            Error::BrokenPipe => ExitCode::Success,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::System(msg) | Error::Write(msg) => f.write_str(msg),
            Error::BrokenPipe => f.write_str("the reader of berth's output went away"),
        }
    }
}

impl std::error::Error for Error {}

impl From<berth_inventory::target::TargetError> for Error {
    fn from(e: berth_inventory::target::TargetError) -> Self {
        Error::Usage(e.0)
    }
}

impl From<berth_inventory::InventoryError> for Error {
    fn from(e: berth_inventory::InventoryError) -> Self {
        Error::System(e.to_string())
    }
}

/// `?` on an I/O error: berth's own I/O that is not reading the system is
/// writing its output (reads of the system go through the inventory, and
/// say what they read).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::writing("output", &e)
    }
}

impl Error {
    /// Writing `what` failed: a broken pipe is the reader leaving, anything
    /// else a write error.
    pub fn writing(what: &str, e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::BrokenPipe
        } else {
            // Say where the output went wrong and what to look at: the
            // redirection is the user's, not berth's.
            Error::Write(format!(
                "cannot write {what}: {e}; check where standard output goes (a full disk, a file that cannot be written)"
            ))
        }
    }
}
