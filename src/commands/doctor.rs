//! `berth doctor [PORT]` (being written).

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn run(_args: &DoctorArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    Err(Error::System("doctor is being written".into()))
}
