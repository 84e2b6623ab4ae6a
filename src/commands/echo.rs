//! `berth echo` (being written).

use crate::cli::{EchoArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &EchoArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("echo is being written".into()))
}
