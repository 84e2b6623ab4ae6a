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
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::System(_) => ExitCode::SystemError,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::System(msg) => f.write_str(msg),
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

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::System(format!("cannot write output: {e}"))
    }
}
