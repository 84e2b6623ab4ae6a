//! `berth connect` (being written).

use crate::cli::{ConnectArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &ConnectArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("connect is being written".into()))
}
