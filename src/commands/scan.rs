//! `berth scan` (being written).

use crate::cli::{GlobalArgs, ScanArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &ScanArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("scan is being written".into()))
}
