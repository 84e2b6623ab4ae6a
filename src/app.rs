//! The thin layer between the command line and the commands: parse, call,
//! print errors as one line, map them to exit codes.

use clap::error::ErrorKind;
use clap::Parser;
use std::io::Write;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::printable::printable;

/// Runs berth with the process's arguments and returns the exit status.
///
/// SIGPIPE stays ignored (Rust's default): a reader that goes away makes
/// writes fail with EPIPE, which [`Error::BrokenPipe`] turns into a quiet
/// exit 0, instead of the signal ending berth with status 141 under
/// `set -o pipefail`. (Programs `berth run` starts get SIGPIPE back at its
/// default: the standard library resets it before exec.)
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let result = match &cli.command {
        Command::Ls(args) => commands::ls::run(args, &cli.global),
        Command::Who(args) => commands::who::run(args, &cli.global),
        Command::Completions { shell } => commands::completions::completions(*shell),
        Command::Man => commands::completions::man(),
        Command::Kill(args) => commands::kill::run(args, &cli.global),
        Command::Free(args) => commands::free::run(args, &cli.global),
        Command::Run(args) => commands::run::run(args, &cli.global),
        Command::Doctor(args) => commands::doctor::run(args, &cli.global),
        Command::Audit(args) => commands::audit::run(args, &cli.global),
        Command::Serve(args) => commands::serve::run(args, &cli.global),
        Command::Echo(args) => commands::echo::run(args, &cli.global),
        Command::Listen(args) => commands::listen::run(args, &cli.global),
        Command::Connect(args) => commands::connect::run(args, &cli.global),
        Command::Probe(args) => commands::probe::run(args, &cli.global),
        Command::Scan(args) => commands::scan::run(args, &cli.global),
    };
    match result {
        Ok(code) => code.code(),
        Err(error) => report(&error),
    }
}

/// Prints an error value as one line and gives its exit code.
fn report(error: &Error) -> i32 {
    if let Error::BrokenPipe = error {
        return error.exit_code().code();
    }
    // Messages may quote the user's input: escape control characters so an
    // error stays one line and cannot drive the terminal.
    // A stderr that cannot be written to changes nothing: the code says it.
    let _ = writeln!(std::io::stderr(), "berth: {}", printable(&error.to_string()));
    error.exit_code().code()
}

/// Help and version go to stdout with status 0; real usage errors become
/// one line on stderr (clap's first line, plus where to look) and status 2.
/// A value that a parser of `cli::values` refused in berth's own words is
/// reported as every other error value is.
fn usage_error(error: clap::Error) -> i32 {
    if let Some(refusal) = std::error::Error::source(&error).and_then(|source| source.downcast_ref::<Error>()) {
        return report(refusal);
    }
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::Usage.code()
            } else {
                ExitCode::Success.code()
            }
        }
        _ => {
            // clap's message is a paragraph, then tips and usage after a
            // blank line: keep the paragraph, joined into one line.
            let rendered = error.render().to_string();
            let paragraph: Vec<&str> = rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
            let message = paragraph.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("berth: {} (see 'berth --help')", printable(message));
            ExitCode::Usage.code()
        }
    }
}
