//! The command line as a new user meets it: every command that binds takes
//! `-p/--port` alike, every hint berth prints works when typed, a bad value
//! is refused in one style wherever it is given, and arguments (paths,
//! `run`'s program) may be any bytes.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::http::get;
use crate::common::*;

/// How long a command here may take.
const LIMIT: Duration = Duration::from_secs(20);

/// berth with OS-string arguments (any bytes), the clean environment of
/// `run_berth`, stdin closed, within [`LIMIT`].
fn berth_os(args: &[OsString]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env_remove("BERTH_SOURCE")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_within(command, &format!("berth {args:?}"), LIMIT)
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The server's ready line, for each command that binds.
fn ready_marker(command: &str) -> &'static str {
    match command {
        "serve" => "berth: serving",
        "echo" => "berth: echoing on",
        "listen" => "berth: listening on",
        other => panic!("no ready line for {other}"),
    }
}

/// Starts `berth ARGS`, asserts its ready line, and stops it by its pid.
fn assert_serves(args: &[&str]) -> String {
    let dir = ScratchDir::new("cli-serve");
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(args).current_dir(&dir.path).stdin(Stdio::null()).stdout(Stdio::null());
    let (_child, line, _stderr) = start_berth_command(command, ready_marker(args[0]));
    line
}

/// `run ARGS -- sh -c 'echo $PORT'`: exit 0, and the port it printed.
fn run_prints_port(args: &[&str]) -> u16 {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--", "sh", "-c", "echo $PORT"]);
    let (code, stdout, stderr) = run_berth(&full, &[]);
    assert_eq!(code, 0, "berth {full:?}: {stderr}");
    stdout.trim().parse().unwrap_or_else(|_| panic!("berth {full:?} printed {stdout:?}\n{stderr}"))
}

/// serve, echo, listen and run take the port as `-p/--port`, with `0` and
/// `auto` both meaning any free port; echo and listen also take it alone.
fn every_binding_command_takes_port_alike() {
    let _serial = serial();
    for command in ["serve", "echo", "listen"] {
        for port in [&["--port", "0"][..], &["-p", "auto"], &["--port=0"]] {
            let mut args = vec![command];
            args.extend_from_slice(port);
            let line = assert_serves(&args);
            assert!(!line.contains(":0 ") && !line.trim_end().ends_with(":0"), "a real port: {line}");
        }
    }
    for shorthand in [&["echo", "0"][..], &["echo", "auto"], &["listen", "0"], &["listen", "auto"]] {
        assert_serves(shorthand);
    }
    let free = free_port();
    let line = assert_serves(&["echo", "--tcp", "--port", &free.to_string()]);
    assert!(line.contains(&format!(":{free}")), "echo --port {free}: {line}");
    for port in [&["--port", "0"][..], &["--port", "auto"], &["-p", "0"]] {
        assert!(run_prints_port(port) > 0);
    }
    let free = free_port();
    assert_eq!(run_prints_port(&["--port", &free.to_string()]), free);
}

/// The hints of a failed bind (`see 'berth who tcp/P'`, `--port Q`,
/// `--port 0`) and of a refused exposure (`add --expose`), taken from
/// berth's own message and run as printed, for every command that binds.
fn bind_failure_hints_work_as_printed() {
    let _serial = serial();
    let (_held, port) = listener_v4();
    let taken = port.to_string();
    let cases: [(&str, Vec<&str>); 5] = [
        ("serve", vec!["serve", "--port", &taken]),
        ("echo", vec!["echo", "--tcp", &taken]),
        ("listen", vec!["listen", &taken]),
        ("listen", vec!["listen", "--port", &taken]),
        ("run", vec!["run", "--port", &taken, "--", "sh", "-c", "echo $PORT"]),
    ];
    for (command, args) in cases {
        let (code, _, stderr) = run_berth(&args, &[]);
        assert_ne!(code, 0, "berth {args:?} with the port taken: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // `see 'berth who tcp/P'` runs and finds the holder (this test).
        let who = between(&stderr, "see 'berth ", "'").unwrap_or_else(|| panic!("berth {args:?}: {stderr}"));
        let who_args: Vec<&str> = who.split_whitespace().collect();
        let (code, stdout, who_err) = run_berth(&who_args, &[]);
        assert_eq!(code, 0, "the hint 'berth {who}' of berth {args:?}: {stdout}{who_err}");
        // `--port Q` and `--port 0`, in place of the port given.
        let free = between(&stderr, "(--port ", ",").unwrap_or_else(|| panic!("berth {args:?}: no --port Q: {stderr}"));
        assert!(stderr.contains("--port 0 for any"), "berth {args:?}: {stderr}");
        for replacement in [free.as_str(), "0"] {
            let mut fixed: Vec<&str> = Vec::new();
            let mut skip_next = false;
            for (at, arg) in args.iter().enumerate() {
                if skip_next {
                    skip_next = false;
                } else if *arg == "--port" {
                    skip_next = true;
                } else if *arg == taken && at > 0 && args[at - 1] != "--port" {
                    // The nc-style positional: the hint's --port replaces it.
                } else {
                    fixed.push(arg);
                }
            }
            let insert_at = fixed.iter().position(|a| *a == "--").unwrap_or(fixed.len());
            fixed.splice(insert_at..insert_at, ["--port", replacement]);
            if command == "run" {
                let (code, stdout, stderr) = run_berth(&fixed, &[]);
                assert_eq!(code, 0, "the hint's command berth {fixed:?}: {stderr}");
                assert!(stdout.trim().parse::<u16>().is_ok_and(|p| p != port), "{stdout}");
            } else {
                assert_serves(&fixed);
            }
        }
    }
    // A refused connection: `berth who P shows what does`, run as printed
    // (exit 1: nothing holds the port, which is the answer).
    let free = free_port().to_string();
    let (code, _, stderr) = run_berth(&["connect", &free], &[]);
    assert_eq!(code, 1, "{stderr}");
    let who = between(&stderr, "(berth ", " shows what does").unwrap_or_else(|| panic!("{stderr}"));
    let who_args: Vec<&str> = who.split_whitespace().collect();
    let (code, _, who_err) = run_berth(&who_args, &[]);
    assert_eq!(code, 1, "the hint 'berth {who}': {who_err}");
    // Beyond loopback without --expose: the hint says to add it, and with it
    // the server starts (on any free port, stopped at once).
    let (code, _, stderr) = run_berth(&["serve", "-b", "0.0.0.0", "-p", "0"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("add --expose"), "{stderr}");
    assert_serves(&["serve", "-b", "0.0.0.0", "-p", "0", "--expose"]);
}

/// The text between `start` and the next `end` after it.
fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(rest[..rest.find(end)?].to_string())
}

/// Exit 2, one line, berth's words, the command's own --help, and none of
/// Rust's or clap's parser wording, for `args`.
fn assert_refused(args: &[&str], help: &str) -> String {
    let (code, stdout, stderr) = run_berth(args, &[]);
    assert_eq!(code, 2, "berth {args:?} exits 2\n{stdout}{stderr}");
    assert_eq!(stdout, "", "berth {args:?}");
    assert_eq!(stderr.lines().count(), 1, "berth {args:?}: one line:\n{stderr}");
    assert!(stderr.starts_with("berth: "), "berth {args:?}: {stderr}");
    for rust in ["invalid digit", "float literal", "number too large", "ParseIntError", "is not in 0..=", "error:"] {
        assert!(!stderr.contains(rust), "berth {args:?} shows Rust's or clap's wording '{rust}': {stderr}");
    }
    assert!(stderr.contains(&format!("(try '{help}')")), "berth {args:?} points to {help}: {stderr}");
    // The help it points to is there.
    let words: Vec<&str> = help.split_whitespace().skip(1).collect();
    let (code, text, _) = run_berth(&words, &[]);
    assert!(code == 0 && text.contains("Usage:"), "{help} as printed: exit {code}");
    stderr
}

/// One style of refusal for a bad value, in every command.
fn bad_values_are_refused_in_one_style() {
    let _serial = serial();
    let port_words = ": a port is a number 1-65535, or 0/auto for any free port";
    let target_words = "a target is a port 1-65535, ADDRESS:PORT, [IPV6]:PORT, localhost:PORT, tcp/PORT or udp/PORT";
    let connect_words = "a target is a port 1-65535, HOST:PORT or [IPV6]:PORT";
    let list_words = "give ports 1-65535 and ranges LOW-HIGH, separated by commas, as 1-1024,8080";
    let range_words = "a range is LOW-HIGH, two ports 1-65535, as 20000-20100";
    for args in [
        &["serve", "-p", "abc"][..],
        &["serve", "--port=abc"],
        &["echo", "abc"],
        &["echo", "--port", "abc"],
        &["listen", "abc"],
        &["listen", "-p", "abc"],
        &["run", "--port", "abc", "--", "true"],
    ] {
        let stderr = assert_refused(args, &format!("berth {} --help", args[0]));
        assert!(stderr.contains("invalid port 'abc'") && stderr.contains(port_words), "berth {args:?}: {stderr}");
        if args.iter().any(|a| a.starts_with("-p") || a.starts_with("--port")) {
            assert!(stderr.contains("'abc' for --port: "), "the flag is named: {stderr}");
        }
    }
    for (args, words) in [
        (&["serve", "-p", "65536"][..], "invalid port '65536' for --port: a port is a number 1-65535"),
        (&["echo", "--port=-1"], "invalid port '-1'"),
        (&["listen", "99999999999"], "invalid port '99999999999'"),
        (&["ls", "--pid", "abc"], "invalid process id 'abc'"),
        (&["ls", "--pid=-1"], "invalid process id '-1'"),
        (&["ls", "--port", "abc"], "invalid port 'abc'"),
        (&["free", "-n", "abc"], "invalid count 'abc'"),
        (&["free", "-n", "5000"], "invalid count '5000'"),
        (&["echo", "--max-clients", "x"], "invalid --max-clients 'x'"),
        (&["echo", "--udp-rate", "0"], "invalid --udp-rate '0'"),
        (&["serve", "--max-connections", "many"], "invalid --max-connections 'many'"),
        (&["scan", "--concurrency", "1e3"], "invalid --concurrency '1e3'"),
        (&["kill", "-t", "soon", "3000"], "invalid --timeout 'soon'"),
        (&["probe", "-w", "abc", "80"], "invalid --timeout 'abc'"),
        (&["connect", "--timeout=-5", "80"], "invalid --timeout '-5'"),
        (&["audit", "--budget", "x"], "invalid --budget 'x'"),
        (&["audit", "--fail-on", "severe"], "invalid severity 'severe'"),
        (&["audit", "--min-severity", "x"], "invalid severity 'x'"),
        (&["kill", "-s", "FOO", "3000"], "invalid signal 'FOO'"),
        (&["ls", "--color", "sometimes"], "invalid --color 'sometimes': use one of auto, always, never"),
        (&["echo", "--log", "json"], "invalid --log 'json'"),
        (&["completions", "tcsh"], "invalid shell 'tcsh'"),
        // Ports, targets, ranges, addresses and port lists, in every command
        // that takes one: the part that is wrong, then what is accepted.
        (&["who", "abc"], &format!("invalid port 'abc': {target_words}")),
        (&["who", "0"], "invalid port '0': 0 asks for any free port and names none; a target is a port 1-65535"),
        (&["who", "65536"], &format!("invalid port '65536': {target_words}")),
        (&["who", "abc:99999"], &format!("invalid port '99999' in 'abc:99999': {target_words}")),
        (&["who", "1.2.3:80"], "invalid address '1.2.3' in '1.2.3:80': use an IP address, localhost or *"),
        (&["who", "sctp/80"], "invalid protocol 'sctp' in 'sctp/80': use tcp/PORT or udp/PORT"),
        (&["who", "::1:80"], "invalid target '::1:80': write IPv6 addresses in brackets, as [::1]:80"),
        (&["kill", "abc"], &format!("invalid port 'abc': {target_words}")),
        (&["kill", "-y", "0"], "invalid port '0': 0 asks for any free port"),
        (&["kill", "65536"], &format!("invalid port '65536': {target_words}")),
        (&["kill", "localhost:x"], &format!("invalid port 'x' in 'localhost:x': {target_words}")),
        (&["doctor", "abc"], &format!("invalid port 'abc': {target_words}")),
        (&["doctor", "0"], "invalid port '0': 0 asks for any free port"),
        (&["doctor", "65536"], &format!("invalid port '65536': {target_words}")),
        (&["doctor", "[::1]80"], "invalid target '[::1]80': expected ':PORT' after ']'"),
        (&["scan", "-p", "abc"], &format!("invalid port 'abc' for --ports: {list_words}")),
        (&["scan", "-p", "0"], "invalid port '0' for --ports: 0 asks for any free port"),
        (&["scan", "--ports=65536"], &format!("invalid port '65536' for --ports: {list_words}")),
        (&["scan", "-p", "80,1-70000"], &format!("invalid port '70000' in '80,1-70000' for --ports: {list_words}")),
        (&["scan", "-p", "9-1"], "invalid range '9-1' for --ports: a range runs upwards, as 1-9"),
        (&["scan", "-p", "1-2-3"], "invalid range '1-2-3' for --ports: a range is LOW-HIGH"),
        (&["scan", "-p", "1,,2"], "invalid port list '1,,2' for --ports: an item between commas is empty"),
        (&["scan", "bad host", "-p", "80"], "invalid host 'bad host': a host is a name"),
        (&["probe", "abc"], "invalid target 'abc': a host needs a port, as abc:80; a target is a port 1-65535"),
        (&["probe", "0"], "invalid port '0': 0 asks for any free port"),
        (&["probe", "65536"], "invalid port '65536': a target is a port 1-65535, HOST:PORT"),
        (&["probe", "http://localhost:99999/"], "invalid port '99999' in 'http://localhost:99999/': "),
        (&["probe", "bad host:80"], "invalid host 'bad host' in 'bad host:80': a host is a name"),
        (&["probe", "ftp://localhost"], "invalid scheme 'ftp' in 'ftp://localhost': "),
        (&["connect", "abc"], &format!("invalid target 'abc': a host needs a port, as abc:80; {connect_words}")),
        (&["connect", "0"], "invalid port '0': 0 asks for any free port"),
        (&["connect", "65536"], &format!("invalid port '65536': {connect_words}")),
        (&["connect", "bad host:80"], "invalid host 'bad host' in 'bad host:80': a host is a name"),
        (
            &["connect", "http://localhost/"],
            &format!("invalid target 'http://localhost/': connect takes no URL; {connect_words}"),
        ),
        (&["free", "-r", "abc"], &format!("invalid range 'abc' for --range: {range_words}")),
        (&["free", "-r", "0-5"], "invalid port '0' in '0-5' for --range: 0 asks for any free port"),
        (&["free", "-r", "1-65536"], &format!("invalid port '65536' in '1-65536' for --range: {range_words}")),
        (&["free", "-r", "9-1"], "invalid range '9-1' for --range: a range runs upwards, as 1-9"),
        (&["free", "-b", "abc"], "invalid address 'abc' for --bind: an address is an IP address"),
        (&["run", "-b", "abc", "--", "true"], "invalid address 'abc' for --bind: an address is an IP address"),
        (&["run", "-e", "1X", "--", "true"], "invalid variable name '1X' for --env: a name is letters, digits and _"),
        (&["ls", "--port", "0"], "invalid port '0' for --port: 0 asks for any free port"),
    ] {
        let stderr = assert_refused(args, &format!("berth {} --help", args[0]));
        assert!(stderr.contains(words), "berth {args:?} says {words:?}: {stderr}");
    }
    // A value that is not UTF-8 is refused by its own parser, shown escaped.
    for (args, words) in [
        (&[&b"serve"[..], b"-p", b"\xff"][..], "invalid port '\\xff' for --port: a port is a number 1-65535"),
        (&[b"run", b"--env", b"A\xff", b"--", b"true"], "invalid variable name 'A\\xff' for --env: "),
        (&[b"who", b"\xfe"], "invalid port '\\xfe': a target is a port 1-65535"),
        (&[b"scan", b"-p", b"1-\xfe"], "invalid port '\\xfe' in '1-\\xfe' for --ports: "),
        (
            &[b"probe", b"http://localhost/\xff"],
            "invalid argument 'http://localhost/\\xff': berth reads this value as UTF-8",
        ),
    ] {
        let argv: Vec<OsString> = args.iter().map(|a| OsStr::from_bytes(a).to_os_string()).collect();
        let out = berth_os(&argv);
        let help = format!("(try 'berth {} --help')", String::from_utf8_lossy(args[0]));
        assert_eq!(out.code, 2, "berth {argv:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "berth {argv:?}: {}", out.stderr);
        assert!(!out.stderr.contains("UTF-8 was detected"), "berth {argv:?}: clap's words: {}", out.stderr);
        assert!(
            out.stderr.contains(words) && out.stderr.contains(&help),
            "berth {argv:?} says {words:?}: {}",
            out.stderr
        );
    }
    // An unknown command: did you mean, and the suggestion runs.
    let stderr = assert_refused(&["lss"], "berth --help");
    assert!(stderr.contains("unknown command 'lss'; did you mean 'berth ls'?"), "{stderr}");
    let (code, _, err) = run_berth(&["ls"], &[]);
    assert_eq!(code, 0, "the suggested berth ls: {err}");
    // A command's flag before the command: the command line that works.
    for (args, fixed) in [
        (&["--json", "ls"][..], "berth ls --json"),
        (&["--json", "ls", "-t"], "berth ls -t --json"),
        (&["--color", "never", "-a", "ls"], "berth --color never ls -a"),
    ] {
        let stderr = assert_refused(args, "berth ls --help");
        let suggested = between(&stderr, "as ", " (try").unwrap_or_else(|| panic!("berth {args:?}: {stderr}"));
        assert_eq!(suggested, fixed, "berth {args:?}: {stderr}");
        let words: Vec<&str> = suggested.split_whitespace().skip(1).collect();
        let (code, _, err) = run_berth(&words, &[]);
        assert_eq!(code, 0, "the suggested {suggested}: {err}");
    }
    // clap's own refusals point to the command's help too.
    assert_refused(&["ls", "--bogus"], "berth ls --help");
    assert_refused(&["who"], "berth who --help");
    assert_refused(&["echo", "-p", "1", "2"], "berth echo --help");
}

/// An argument of 100,000 characters is quoted shortened, whatever quotes it.
fn over_long_arguments_are_shortened() {
    let _serial = serial();
    let long = "7".repeat(100_000);
    let word = "x".repeat(100_000);
    let host = format!("{word}:80");
    let flag = format!("--{word}");
    let pid = format!("--pid={long}");
    let missing = format!("/nonexistent/{word}");
    for args in [
        &["serve", "-p", &long][..],
        &["echo", &long],
        &["ls", &pid],
        &["who", &long],
        &["who", &host],
        &[&word],
        &["ls", &flag],
        &["serve", &missing],
        &["audit", "--fail-on", &word],
    ] {
        let (code, _, stderr) = run_berth(args, &[]);
        assert_eq!(code, 2, "berth {}…: {}", &args.join(" ")[..40], &stderr[..stderr.len().min(300)]);
        assert!(
            stderr.len() < 400,
            "berth {}…: the line is {} bytes: {}…",
            &args.join(" ")[..40],
            stderr.len(),
            &stderr[..300]
        );
        assert!(stderr.contains(" bytes)"), "berth {}…: says how long the input was: {stderr}", &args.join(" ")[..40]);
    }
}

/// `run`'s arguments reach the program byte for byte, non-UTF-8 included,
/// with `{port}` replaced.
fn run_passes_arguments_byte_for_byte() {
    let _serial = serial();
    let dir = ScratchDir::new("cli-run-bytes");
    let out = dir.path.join("argv");
    let odd = OsString::from_vec(b"\xff\xfe caf\xc3\xa9 {port}/{port}} $PORT \\".to_vec());
    let mut args = os(&["run", "--port", "auto", "--", "sh", "-c", "printf %s \"$1\" > \"$2\"", "sh"]);
    args.push(odd);
    args.push(out.clone().into_os_string());
    let result = berth_os(&args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let port = between(&result.stderr, "PORT=", "\n").expect("berth says the port");
    let written = std::fs::read(&out).expect("the program wrote its argument");
    let expected = [&b"\xff\xfe caf\xc3\xa9 "[..], port.as_bytes(), b"/", port.as_bytes(), b"} $PORT \\"].concat();
    assert_eq!(written, expected, "{}", String::from_utf8_lossy(&written));
}

/// Paths may be any bytes: serve DIR, audit --policy, --write-policy.
fn paths_may_be_non_utf8() {
    let _serial = serial();
    let scratch = ScratchDir::new("cli-paths");
    let odd = scratch.path.join(OsStr::from_bytes(b"site-\xff"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("index.html"), "hi").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.arg("serve").arg(&odd).args(["-p", "0"]).stdin(Stdio::null()).stdout(Stdio::null());
    let (_server, line, _) = start_berth_command(command, "berth: serving");
    let port: u16 = between(&line, "http://127.0.0.1:", "/").and_then(|p| p.parse().ok()).expect(&line);
    assert_eq!(get(port, "/index.html").status, 200, "{line}");

    let policy = scratch.path.join(OsStr::from_bytes(b"policy-\xfe.toml"));
    let written = berth_os(&[os(&["audit", "--write-policy"]), vec![policy.clone().into_os_string()]].concat());
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert!(std::fs::metadata(&policy).is_ok_and(|m| m.len() > 0), "the policy was written: {}", written.stderr);
    let missing = scratch.path.join(OsStr::from_bytes(b"none-\xfe.toml"));
    let refused = berth_os(&[os(&["audit", "--no-probe", "--policy"]), vec![missing.into_os_string()]].concat());
    assert_eq!(refused.code, 2, "a missing policy is bad input: {}", refused.stderr);
    assert!(!refused.stderr.contains("UTF-8") && !refused.stderr.contains("panicked"), "{}", refused.stderr);
    assert!(refused.stderr.contains("none-"), "the message names the file: {}", refused.stderr);
}

/// The help's example `berth run --port auto -- python3 -m http.server
/// {port} ...` works as printed: python serves on the port berth chose.
fn run_help_example_serves_on_its_port() {
    let _serial = serial();
    require_program("python3", "python3");
    let (code, help, _) = run_berth(&["run", "--help"], &[]);
    assert_eq!(code, 0);
    let example = help
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("berth run") && line.contains("http.server"))
        .unwrap_or_else(|| panic!("run --help has a python3 -m http.server example:\n{help}"));
    let words: Vec<&str> = example.split_whitespace().skip(1).collect();
    let dir = ScratchDir::new("cli-run-python");
    dir.write("hello.txt", "hello from python");
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(&words).current_dir(&dir.path).stdin(Stdio::null()).stdout(Stdio::null());
    // stderr stays open: python logs each request there.
    let (_python, line, _stderr) = start_berth_command(command, "berth: running");
    let port: u16 = between(&line, "PORT=", "\n").and_then(|p| p.trim().parse().ok()).expect(&line);
    // python's server answers HTTP/1.0 and closes: read to the end.
    let response = poll_until(Duration::from_secs(10), || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"GET /hello.txt HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        // A connection made to berth's own socket before the exec closes
        // empty; python's answers.
        (!text.is_empty()).then_some(text)
    })
    .unwrap_or_else(|| panic!("{example}: nothing served on {port}"));
    assert!(response.contains(" 200 ") && response.ends_with("hello from python"), "{example}: {response}");
}

tests![
    every_binding_command_takes_port_alike,
    bind_failure_hints_work_as_printed,
    bad_values_are_refused_in_one_style,
    over_long_arguments_are_shortened,
    run_passes_arguments_byte_for_byte,
    paths_may_be_non_utf8,
    run_help_example_serves_on_its_port,
];
