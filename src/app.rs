//! The thin layer between the command line and the commands: parse, call,
//! print errors as one line, map them to exit codes.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::printable::{printable, printable_bytes, shell_word, shorten_inputs};

/// Runs berth with the process's arguments and returns the exit status.
///
/// SIGPIPE stays ignored (Rust's default): a reader that goes away makes
/// writes fail with EPIPE, which [`Error::BrokenPipe`] turns into a quiet
/// exit 0, instead of the signal ending berth with status 141 under
/// `set -o pipefail`. (Programs `berth run` starts get SIGPIPE back at its
/// default: the standard library resets it before exec.)
pub fn run() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(error) => return usage_error(error, &argv),
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
        Command::Mock(args) => commands::mock::run(args, &cli.global),
        Command::Proxy(args) => commands::proxy::run(args, &cli.global),
        Command::Ca(args) => commands::ca::run(args, &cli.global),
        Command::Echo(args) => commands::echo::run(args, &cli.global),
        Command::Listen(args) => commands::listen::run(args, &cli.global),
        Command::Connect(args) => commands::connect::run(args, &cli.global),
        Command::Probe(args) => commands::probe::run(args, &cli.global),
        Command::Scan(args) => commands::scan::run(args, &cli.global),
        Command::Watch(args) => commands::watch::run(args, &cli.global),
        Command::History(args) => commands::history::run(args, &cli.global),
        Command::Metrics(args) => commands::metrics::run(args, &cli.global),
    };
    match result {
        Ok(code) => code.code(),
        Err(error) => report(&error, &argv, false),
    }
}

/// Prints an error value as one line and gives its exit code. A value
/// refused while parsing ends with the command's --help (`with_help`); a
/// command's own errors already say what to do instead.
fn report(error: &Error, argv: &[OsString], with_help: bool) -> i32 {
    if let Error::BrokenPipe = error {
        return error.exit_code().code();
    }
    let message = error.to_string();
    let hint = if with_help { format!(" (try '{}')", help_command(argv)) } else { String::new() };
    print_error(&format!("{message}{hint}"), argv);
    error.exit_code().code()
}

/// The one way an error line reaches stderr: `berth: MESSAGE`, with the
/// user's over-long inputs shortened and control characters escaped, so
/// the line stays one short line and cannot drive the terminal.
fn print_error(message: &str, argv: &[OsString]) {
    let inputs: Vec<String> = argv.iter().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
    let mut quoted: Vec<&str> = inputs.iter().map(String::as_str).collect();
    // `--flag=VALUE`: clap quotes VALUE alone.
    quoted.extend(inputs.iter().filter_map(|arg| arg.split_once('=').map(|(_, value)| value)));
    // A stderr that cannot be written to changes nothing: the exit code says it.
    let _ = writeln!(std::io::stderr(), "berth: {}", printable(&shorten_inputs(message, &quoted)));
}

/// The subcommand named on the command line (by name or alias), if any:
/// the first argument before `--` that is one.
fn subcommand_in(argv: &[OsString]) -> Option<(usize, String)> {
    let root = Cli::command();
    argv.iter().enumerate().skip(1).take_while(|(_, arg)| arg.as_os_str() != "--").find_map(|(at, arg)| {
        let text = arg.to_str()?;
        root.find_subcommand(text).map(|sub| (at, sub.get_name().to_string()))
    })
}

/// `berth CMD --help` for the command given, else `berth --help`.
fn help_command(argv: &[OsString]) -> String {
    match subcommand_in(argv) {
        Some((_, name)) => format!("berth {name} --help"),
        None => "berth --help".to_string(),
    }
}

/// Help and version go to stdout with status 0; usage errors become one
/// line on stderr, exit 2, in berth's words: a value that a parser of
/// `cli::values` refused is reported as every other error value is; an
/// unknown command gets "did you mean"; a flag of a command given before
/// it, the command line that works; every other case clap's first
/// paragraph. Each ends with the --help to read.
fn usage_error(error: clap::Error, argv: &[OsString]) -> i32 {
    if error.kind() == ErrorKind::InvalidUtf8 {
        return not_utf8(argv);
    }
    if let Some(refusal) = std::error::Error::source(&error).and_then(|source| source.downcast_ref::<Error>()) {
        return report(&name_the_flag(refusal, &error), argv, true);
    }
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Help and version go to stdout, which may be a full disk or a
            // closed pipe: the same exit codes as any other output.
            if let Err(failure) = error.print().and_then(|()| std::io::stdout().flush()) {
                return report(&Error::from(failure), argv, false);
            }
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::Usage.code()
            } else {
                ExitCode::Success.code()
            }
        }
        ErrorKind::InvalidSubcommand => {
            let given = context(&error, ContextKind::InvalidSubcommand).unwrap_or_default();
            // clap may suggest an alias (`list` for `lss`): name the command.
            let suggested = context(&error, ContextKind::SuggestedSubcommand)
                .map(|similar| Cli::command().find_subcommand(&similar).map_or(similar, |c| c.get_name().to_string()));
            let message = match suggested {
                Some(similar) => {
                    format!("unknown command '{given}'; did you mean 'berth {similar}'? (try 'berth --help')")
                }
                None => format!("unknown command '{given}' (try 'berth --help' for the commands)"),
            };
            print_error(&message, argv);
            ExitCode::Usage.code()
        }
        ErrorKind::InvalidValue if context(&error, ContextKind::ValidValue).is_some() => {
            // A value enum's refusal, in the words of every other bad value.
            let flag = context(&error, ContextKind::InvalidArg).unwrap_or_default();
            let flag = flag.split(' ').next().unwrap_or_default();
            let given = context(&error, ContextKind::InvalidValue).unwrap_or_default();
            let valid = match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(words)) => words.join(", "),
                _ => String::new(),
            };
            // `--color`, or a positional's name: `<SHELL>` → shell.
            let what = if flag.starts_with('-') {
                flag.to_string()
            } else {
                flag.trim_matches(|c| c == '<' || c == '>').to_ascii_lowercase()
            };
            let refusal = crate::cli::values::invalid(&what, &given, &format!("use one of {valid}"));
            report(&refusal, argv, true)
        }
        _ => {
            if let Some(message) = misplaced_flag(&error, argv) {
                print_error(&message, argv);
                return ExitCode::Usage.code();
            }
            // clap's message is a paragraph, then tips and usage after a
            // blank line: keep the paragraph, joined into one line.
            let rendered = error.render().to_string();
            let paragraph: Vec<&str> = rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
            let message = paragraph.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let similar = match context(&error, ContextKind::SuggestedArg) {
                Some(similar) => format!("; did you mean '{similar}'?"),
                None => String::new(),
            };
            print_error(&format!("{message}{similar} (try '{}')", help_command(argv)), argv);
            ExitCode::Usage.code()
        }
    }
}

/// A value that is not UTF-8 (`berth serve -p $'\xff'`), where clap says
/// only "invalid UTF-8 was detected in one or more arguments". Parsing
/// again with every such argument as it is shown (`\xff`) lets the value's
/// own parser refuse it in its own words (`invalid port '\xff' for --port:
/// ...`); a value that only its bytes spoil (a URL's path) is refused in
/// the same style, as an argument that must be UTF-8.
fn not_utf8(argv: &[OsString]) -> i32 {
    let shown: Vec<OsString> = argv
        .iter()
        .map(|arg| match arg.to_str() {
            Some(_) => arg.clone(),
            None => OsString::from(printable_bytes(arg.as_bytes()).into_owned()),
        })
        .collect();
    match Cli::try_parse_from(&shown) {
        Err(error)
            if !matches!(error.kind(), ErrorKind::InvalidUtf8 | ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) =>
        {
            usage_error(error, &shown)
        }
        _ => {
            let at = argv.iter().position(|arg| arg.to_str().is_none()).unwrap_or(0);
            let given = shown[at].to_string_lossy();
            let refusal = crate::cli::values::invalid("argument", &given, "berth reads this value as UTF-8 text");
            report(&refusal, &shown, true)
        }
    }
}

/// A refusal of a flag's value names the flag, when its words do not:
/// `invalid port 'abc' for --port: ...` (a positional's refusal is left
/// as it is: there is no flag to name).
fn name_the_flag(refusal: &Error, error: &clap::Error) -> Error {
    let message = refusal.to_string();
    let flag = context(error, ContextKind::InvalidArg).unwrap_or_default();
    let flag = flag.split([' ', '=']).next().unwrap_or_default();
    let value = context(error, ContextKind::InvalidValue).unwrap_or_default();
    let quoted = format!("'{value}': ");
    if !flag.starts_with('-') || message.contains(flag) || !message.contains(&quoted) {
        return Error::Usage(message);
    }
    Error::Usage(message.replacen(&quoted, &format!("'{value}' for {flag}: "), 1))
}

/// One string of a clap error's context.
fn context(error: &clap::Error, kind: ContextKind) -> Option<String> {
    match error.get(kind)? {
        ContextValue::String(text) => Some(text.clone()),
        ContextValue::Strings(texts) => texts.first().cloned(),
        _ => None,
    }
}

/// `berth --json ls`: a flag of a command, given before the command. The
/// message names the command line that works, with every argument given
/// before the command moved after it: `berth ls --json`.
fn misplaced_flag(error: &clap::Error, argv: &[OsString]) -> Option<String> {
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let flag = context(error, ContextKind::InvalidArg)?;
    let (at, name) = subcommand_in(argv)?;
    let flag_at =
        argv[1..at].iter().position(|arg| arg.to_str().is_some_and(|a| a.split('=').next() == Some(&flag)))?;
    let root = Cli::command();
    let sub = root.find_subcommand(&name)?;
    let bare = flag.split('=').next().unwrap_or(&flag);
    let known = sub.get_arguments().any(|arg| match bare.strip_prefix("--") {
        Some(long) => arg.get_long() == Some(long),
        None => bare.strip_prefix('-').and_then(|s| s.chars().next()).is_some_and(|c| arg.get_short() == Some(c)),
    });
    if !known {
        return None;
    }
    // Everything before the command that clap did not take as a global
    // option moves after it, from the misplaced flag on.
    let before: Vec<String> = argv[1 + flag_at..at].iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let globals: Vec<String> = argv[1..1 + flag_at].iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let after: Vec<String> = argv[at + 1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let line: Vec<String> = std::iter::once("berth".to_string())
        .chain(globals)
        .chain(std::iter::once(name.clone()))
        .chain(after)
        .chain(before)
        .map(|word| shell_word(&word))
        .collect();
    Some(format!(
        "{flag} is an option of 'berth {name}': give it after the command, as {} (try 'berth {name} --help')",
        line.join(" ")
    ))
}
