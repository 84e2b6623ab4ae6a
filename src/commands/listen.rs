//! `berth listen` (being written).

use crate::cli::{ListenArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &ListenArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("listen is being written".into()))
}
