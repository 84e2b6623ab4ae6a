//! The clap definition's own promises: every flag or argument with a fixed
//! set of values completes those values in bash, zsh and fish, and every
//! other value-taking argument is a kind of free-form value this list
//! knows, so that a new enum-valued flag cannot slip in without them.

use clap::{Arg, CommandFactory};

use super::Cli;

/// Value names of arguments whose values are free-form (numbers, names,
/// addresses, paths): no list of words to complete. A new value name must
/// be added here or be given its words (a ValueEnum or `values::Choices`).
const FREE_FORM: &[&str] = &[
    "PORT",
    "PORTS",
    "SPEC",
    "DELAY",
    "RATE:KIND",
    "URL",
    "ADDRESS",
    "NAME",
    "ORIGIN",
    "USER:PASSWORD",
    "N",
    "SECONDS",
    "PID",
    "FILE",
    "DIR",
    "HOST",
    "TARGET",
    "LOW-HIGH",
    "CMD",
    "TIME",
    "DURATION",
    // `watch --alert KIND [FILE]`: exposed, new, or policy and its file.
    "KIND",
    "SIZE",
    // `metrics --listen [ADDRESS:]PORT` and `--token TOKEN`.
    "[ADDRESS:]PORT",
    "TOKEN",
    // `proxy --to HOST:PORT`.
    "HOST:PORT",
];

/// Every (subcommand, argument) pair that takes a value, globals included;
/// a subcommand with subcommands of its own (`ca`) is left out, see
/// [`nested_value_arguments`].
fn value_arguments() -> Vec<(String, Arg)> {
    let mut root = Cli::command();
    root.build();
    let mut found = Vec::new();
    for sub in root.get_subcommands().filter(|sub| sub.get_name() != "help" && !sub.has_subcommands()) {
        for arg in sub.get_arguments() {
            if arg.get_action().takes_values() && arg.get_id() != "help" && arg.get_id() != "version" {
                found.push((sub.get_name().to_string(), arg.clone()));
            }
        }
    }
    found
}

/// The value arguments of nested subcommands (`ca install --store`), as
/// ("ca install", argument): held to the same naming rule, though the
/// completion test reads only the first level's blocks.
fn nested_value_arguments() -> Vec<(String, Arg)> {
    let mut root = Cli::command();
    root.build();
    let mut found = Vec::new();
    for sub in root.get_subcommands().filter(|sub| sub.has_subcommands()) {
        for leaf in sub.get_subcommands().filter(|leaf| leaf.get_name() != "help") {
            for arg in leaf.get_arguments() {
                if arg.get_action().takes_values() && arg.get_id() != "help" && arg.get_id() != "version" {
                    found.push((format!("{} {}", sub.get_name(), leaf.get_name()), arg.clone()));
                }
            }
        }
    }
    found
}

fn words(arg: &Arg) -> Vec<String> {
    arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_string()).collect()
}

fn script(shell: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "berth", &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn every_value_argument_is_an_enum_or_known_free_form() {
    for (sub, arg) in value_arguments().into_iter().chain(nested_value_arguments()) {
        if !words(&arg).is_empty() {
            continue;
        }
        let names: Vec<String> =
            arg.get_value_names().unwrap_or_default().iter().map(|n| n.as_str().to_string()).collect();
        assert!(
            !names.is_empty() && names.iter().all(|n| FREE_FORM.contains(&n.as_str())),
            "berth {sub} {}: value {names:?} has no possible values; give it its words (ValueEnum or \
             values::Choices) so completions offer them, or add a free-form value name to FREE_FORM",
            arg.get_id()
        );
    }
}

#[test]
fn enum_values_complete_in_bash_zsh_and_fish() {
    let bash = script(clap_complete::Shell::Bash);
    let zsh = script(clap_complete::Shell::Zsh);
    let fish = script(clap_complete::Shell::Fish);
    let mut checked = 0;
    for (sub, arg) in value_arguments() {
        let values = words(&arg);
        if values.is_empty() {
            continue;
        }
        checked += 1;
        let joined = values.join(" ");
        // bash: the subcommand's block completes the flag with its words
        // (a positional's words are in the block's opts).
        let start = bash.find(&format!("        berth__subcmd__{sub})")).unwrap_or_else(|| panic!("bash block {sub}"));
        let block = &bash[start..];
        let block = &block[..block[1..].find("\n        berth__").map_or(block.len(), |end| end + 1)];
        match arg.get_long() {
            Some(long) => {
                let case = block
                    .find(&format!("                --{long})\n"))
                    .unwrap_or_else(|| panic!("bash: berth {sub} --{long} has no case:\n{block}"));
                let next = block[case..].lines().nth(1).unwrap_or_default();
                assert!(
                    next.contains(&format!("compgen -W \"{joined}\"")),
                    "bash: berth {sub} --{long} completes {next:?}, not {joined}"
                );
                // zsh: `--long=[help]:NAME:(words)`.
                assert!(
                    zsh.lines().any(|l| l.starts_with(&format!("'--{long}=[")) && l.contains(&format!(":({joined})"))),
                    "zsh: berth {sub} --{long} does not complete {joined}"
                );
                // fish: `-l long ... -a "word\t''` one word a line.
                let line = fish
                    .find(&format!("__fish_berth_using_subcommand {sub}\"{} -l {long} ", short_part(&arg)))
                    .unwrap_or_else(|| panic!("fish: berth {sub} --{long} missing"));
                let entry = &fish[line..];
                let entry = &entry[..entry.find("\ncomplete ").unwrap_or(entry.len())];
                for value in &values {
                    assert!(
                        entry.contains(&format!("{value}\\t")),
                        "fish: berth {sub} --{long} lacks {value}:\n{entry}"
                    );
                }
            }
            None => {
                let opts = block.lines().find(|l| l.trim_start().starts_with("opts=")).unwrap_or_default();
                assert!(opts.contains(&joined), "bash: berth {sub} <{}> does not offer {joined}: {opts}", arg.get_id());
                assert!(zsh.contains(&format!(":({joined})'")), "zsh: berth {sub} <{}> lacks {joined}", arg.get_id());
            }
        }
    }
    // --source, --color (in every command), --log, --fail-on,
    // --min-severity, --signal and completions' shell at least.
    assert!(checked >= 7, "only {checked} enum-valued arguments found");
}

/// ` -s X` when the argument has a short form, as fish writes it.
fn short_part(arg: &Arg) -> String {
    arg.get_short().map(|c| format!(" -s {c}")).unwrap_or_default()
}

/// `berth watch`'s recording flags (RecordArgs, flattened into WatchArgs):
/// their defaults, their units, and --history against --no-history.
#[test]
fn record_args_parse_and_give_a_retention() {
    use clap::Parser;

    use super::RecordArgs;
    use crate::history::Retention;

    #[derive(Parser, Debug)]
    struct Watch {
        #[command(flatten)]
        record: RecordArgs,
    }
    let parse = |args: &[&str]| Watch::try_parse_from(std::iter::once("watch").chain(args.iter().copied()));
    let defaults = parse(&[]).expect("no flags").record;
    assert_eq!(defaults.retention(), Retention::default());
    let given = parse(&["--keep", "12h", "--max-size", "1GiB", "--history", "/tmp/h.sqlite"]).expect("flags").record;
    assert_eq!(given.retention(), Retention { keep: std::time::Duration::from_secs(12 * 3600), max_bytes: 1 << 30 });
    assert_eq!(given.history_path().expect("a path"), Some(std::path::PathBuf::from("/tmp/h.sqlite")));
    let none = parse(&["--no-history"]).expect("--no-history").record;
    assert_eq!(none.history_path().expect("no path"), None);
    assert!(none.recorder().expect("no recorder").is_none());
    assert!(parse(&["--history", "x", "--no-history"]).is_err(), "they conflict");
    for bad in [&["--keep", "10s"][..], &["--keep", "soon"], &["--max-size", "10"], &["--max-size", "5XB"]] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(super::values::size("500MB").expect("MB"), 500_000_000);
    assert_eq!(super::values::size("64k").ok(), None, "under 1 MiB");
}
