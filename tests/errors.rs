//! Bad input exits 2 with one line on stderr; help, completions and the man
//! page work.

use crate::common::*;

/// Exit 2, nothing on stdout, exactly one non-empty stderr line starting
/// with "berth:", and no panic.
fn assert_usage_error(args: &[&str]) {
    let (code, stdout, stderr) = run_berth(args, &[]);
    assert!(!stderr.contains("panicked") && !stdout.contains("panicked"), "berth {args:?} panicked: {stderr}");
    assert_eq!(code, 2, "berth {args:?} should exit 2\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "", "berth {args:?}: nothing on stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "berth {args:?}: exactly one stderr line, got:\n{stderr}");
    assert!(stderr.ends_with('\n'), "berth {args:?}: the line ends with a newline: {stderr:?}");
    assert!(lines[0].starts_with("berth:"), "berth {args:?}: {stderr}");
    assert!(lines[0].len() > "berth: ".len(), "berth {args:?}: a message follows: {stderr}");
}

fn malformed_ports_for_who() {
    let _serial = serial();
    for target in [
        "0",
        "65536",
        "99999999999",
        "abc",
        "::1:80",
        "foo.example:80",
        "sctp/80",
        "",
        "12ab",
        "[::1]80",
        "[::1:80",
        "127.0.0.1:",
        "1.2.3:80",
        "tcp/",
        ":",
        "udp/0",
    ] {
        assert_usage_error(&["who", target]);
    }
    // The message says what was wrong.
    let (_, _, stderr) = run_berth(&["who", "65536"], &[]);
    assert!(stderr.contains("invalid port '65536': a target is a port 1-65535"), "{stderr}");
    let (_, _, stderr) = run_berth(&["who", "::1:80"], &[]);
    assert!(stderr.contains("invalid target '::1:80': write IPv6 addresses in brackets, as [::1]:80"), "{stderr}");
    let (_, _, stderr) = run_berth(&["who", "sctp/80"], &[]);
    assert!(stderr.contains("invalid protocol 'sctp' in 'sctp/80': use tcp/PORT or udp/PORT"), "{stderr}");
}

fn bad_flags() {
    let _serial = serial();
    assert_usage_error(&["ls", "--port", "70000"]);
    assert_usage_error(&["ls", "--port", "0"]);
    assert_usage_error(&["ls", "--port", "http"]);
    assert_usage_error(&["ls", "--bogus"]);
    assert_usage_error(&["ls", "--pid", "notanumber"]);
    assert_usage_error(&["ls", "--pid", "-1"]);
    assert_usage_error(&["ls", "-a", "-l"]);
    assert_usage_error(&["ls", "--source", "bogus"]);
    assert_usage_error(&["ls", "--color", "sometimes"]);
    assert_usage_error(&["who"]);
    assert_usage_error(&["who", "80", "81"]);
    assert_usage_error(&["frobnicate"]);
    assert_usage_error(&["completions", "tcsh"]);
    assert_usage_error(&["completions"]);
}

fn bad_source_in_the_environment() {
    let _serial = serial();
    let (code, stdout, stderr) = run_berth(&["ls"], &[("BERTH_SOURCE", "bogus")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("berth:"), "{stderr}");
}

fn help_has_examples() {
    let _serial = serial();
    for args in [&["--help"][..], &["ls", "--help"], &["who", "--help"], &["help"], &["help", "who"], &["ls", "-h"]] {
        let (code, stdout, stderr) = run_berth(args, &[]);
        assert_eq!(code, 0, "berth {args:?}: {stderr}");
        assert!(stdout.contains("Examples"), "berth {args:?} shows examples:\n{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (_, stdout, _) = run_berth(&["--help"], &[]);
    for word in ["ls", "who", "completions", "man", "Exit codes"] {
        assert!(stdout.contains(word), "--help mentions {word}:\n{stdout}");
    }
    let (_, stdout, _) = run_berth(&["who", "--help"], &[]);
    assert!(stdout.contains("udp/53") && stdout.contains("Exit codes"), "{stdout}");
}

fn version() {
    let _serial = serial();
    let (code, stdout, _) = run_berth(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("berth "), "{stdout}");
    assert!(stdout.trim().ends_with(env!("CARGO_PKG_VERSION")), "{stdout}");
}

fn completions() {
    let _serial = serial();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, stdout, stderr) = run_berth(&["completions", shell], &[]);
        assert_eq!(code, 0, "completions {shell}: {stderr}");
        assert!(stdout.contains("berth"), "completions {shell}:\n{stdout}");
        assert!(stdout.contains("all-netns"), "completions {shell} know the flags");
    }
}

fn man_page() {
    let _serial = serial();
    let (code, stdout, stderr) = run_berth(&["man"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with('.'), "roff starts with a request:\n{}", &stdout[..stdout.len().min(200)]);
    assert!(stdout.contains(".TH berth 1"), "a .TH header for berth");
    assert!(stdout.contains(".TH berth-ls"), "a page for ls");
    assert!(stdout.contains(".TH berth-who"), "a page for who");
    assert!(stdout.contains("Examples"), "the examples are in the man page");
}

fn error_names_the_input_once() {
    let _serial = serial();
    for target in ["abc", "12ab", "65536"] {
        let (code, _, stderr) = run_berth(&["who", target], &[]);
        assert_eq!(code, 2);
        let quoted = format!("'{target}'");
        assert!(stderr.matches(&quoted).count() <= 1, "berth who {target}: the input is quoted at most once: {stderr}");
        assert!(stderr.contains(target), "berth who {target}: the message names the input: {stderr}");
    }
}

fn control_characters_in_input_stay_on_one_line() {
    let _serial = serial();
    // What the user typed is echoed in the message; a newline or an escape
    // sequence in it must not break the one-line rule or drive the terminal.
    assert_usage_error(&["who", "a\nb"]);
    let (code, _, stderr) = run_berth(&["who", "\u{1b}[31mred"], &[]);
    assert_eq!(code, 2);
    assert!(!stderr.contains('\u{1b}'), "raw escape sequence echoed to stderr: {stderr:?}");
}

tests![
    malformed_ports_for_who,
    bad_flags,
    bad_source_in_the_environment,
    help_has_examples,
    version,
    completions,
    man_page,
    error_names_the_input_once,
    control_characters_in_input_stay_on_one_line,
];
