//! Shell completions and the man page, generated from the clap definition.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;
use crate::exit_codes::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut command = Cli::command();
    let mut out = super::stdout();
    clap_complete::generate(shell, &mut command, "berth", &mut out);
    out.flush()?;
    Ok(ExitCode::Success)
}

pub fn man() -> Result<ExitCode, Error> {
    let command = Cli::command();
    let mut out = super::stdout();
    clap_mangen::Man::new(command).render(&mut out)?;
    for sub in Cli::command().get_subcommands() {
        let name = format!("berth-{}", sub.get_name());
        let sub = sub.clone().name(name);
        clap_mangen::Man::new(sub).render(&mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}
