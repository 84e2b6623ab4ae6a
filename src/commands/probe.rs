//! `berth probe` (being written).

use crate::cli::{GlobalArgs, ProbeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &ProbeArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("probe is being written".into()))
}
