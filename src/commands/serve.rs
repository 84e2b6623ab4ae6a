//! `berth serve` (being written).

use crate::cli::{GlobalArgs, ServeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &ServeArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("serve is being written".into()))
}
