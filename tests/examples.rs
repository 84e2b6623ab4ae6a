//! Every example berth prints in `--help` (the top level's and each
//! command's) and every `berth ...` line in README.md's shell code blocks is
//! run, so that a printed example cannot drift from what berth accepts.
//!
//! The examples are taken from the text itself: the lines of each help's
//! `Examples:` section, and the commands of README.md's `sh` and `console`
//! blocks. Each berth invocation in a line (also after a pipe, `&&`, or in
//! `$(...)`) runs in one scratch directory, in order, so that an example
//! using a file an earlier one wrote finds it; files and directories they
//! name (`./dist`, `file.bin`, `./server`) are made there first, and
//! redirections go there (never to /etc or /usr). A fixed port is changed
//! only where it would do harm or collide: the ports of `kill` examples are
//! ports held by children this test forks (so nothing else on the machine is
//! stopped), and a server's fixed or default port that is taken right now is
//! swapped for a free one. Servers are stopped by their pid once they print
//! their ready line; every run has a time limit. None may exit 2 or print a
//! usage error. Examples that need root (`sudo`) or a program that is not
//! installed (`npm`) are reported skipped, with the reason.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::harness::find_program;
use crate::common::*;

/// One example as printed, and where.
struct Example {
    origin: String,
    line: String,
}

/// The commands of `berth --help`'s command list, without `help`.
fn subcommands() -> Vec<String> {
    let (code, help, _) = run_berth(&["--help"], &[]);
    assert_eq!(code, 0);
    let start = help.find("Commands:\n").expect("berth --help lists its commands");
    help[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        // A name is indented by two; a wrapped description by more.
        .filter(|line| !line[2..].starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Does this line of text run berth (rather than describe it)?
fn runs_berth(line: &str) -> bool {
    line.starts_with("berth ")
        || line == "berth"
        || line.starts_with("sudo berth ")
        || ["$(berth ", "| berth ", "&& berth "].iter().any(|at| line.contains(at))
}

/// The example lines of every help text: the lines of each `Examples:` (or
/// `Example:`) section, up to its first blank line, that run berth, with
/// the explanation (after two or more spaces, outside quotes) cut off.
fn help_examples() -> Vec<Example> {
    let mut found = Vec::new();
    let mut pages = vec![String::new()];
    pages.extend(subcommands());
    for page in pages {
        let args: Vec<&str> = if page.is_empty() { vec!["--help"] } else { vec![page.as_str(), "--help"] };
        let (code, help, stderr) = run_berth(&args, &[]);
        assert_eq!(code, 0, "berth {args:?}: {stderr}");
        let mut in_examples = false;
        for line in help.lines() {
            if line.starts_with("Example") && line.ends_with(':') {
                in_examples = true;
                continue;
            }
            if line.trim().is_empty() {
                in_examples = false;
            }
            let text = line.trim();
            if in_examples && runs_berth(text) {
                found.push(Example {
                    origin: format!("berth {} --help", page).replace("  ", " "),
                    line: cut_comment(text),
                });
            }
        }
    }
    found
}

/// A help line's command, without the explanation after it.
fn cut_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b' ' if !single && !double && bytes.get(at + 1) == Some(&b' ') => return line[..at].to_string(),
            _ => {}
        }
    }
    line.to_string()
}

/// The commands of README.md's shell blocks (`sh`, `bash`, `shell`: every
/// line; `console`: the lines after `$ `) that run berth.
fn readme_examples() -> Vec<Example> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut found = Vec::new();
    let mut block: Option<&str> = None;
    for (number, line) in text.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(info.trim()),
            };
            continue;
        }
        let command = match block {
            Some("sh" | "bash" | "shell") => Some(line),
            Some("console") => line.strip_prefix("$ "),
            _ => None,
        };
        if let Some(command) = command.map(str::trim).filter(|c| runs_berth(c)) {
            found.push(Example { origin: format!("README.md:{}", number + 1), line: command.to_string() });
        }
    }
    found
}

/// One berth run an example makes: its arguments and redirections.
#[derive(Debug, Default)]
struct Invocation {
    sudo: bool,
    args: Vec<String>,
    stdin: Option<String>,
    stdout: Option<String>,
}

/// The berth invocations of a shell line: words split as sh splits them
/// (quotes, backslashes, `#` comments), commands split at `|`, `||`, `&&`,
/// `;` and `&`, the commands inside `$(...)` too, and `<`/`>` taken as
/// redirections. Variables are left as written (they only appear in
/// arguments berth passes on, or in redirections, which go to the scratch
/// directory anyway).
fn invocations(line: &str) -> Vec<Invocation> {
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut inner: Vec<Invocation> = Vec::new();
    let end_word = |word: &mut Option<String>, commands: &mut Vec<Vec<String>>| {
        if let Some(w) = word.take() {
            commands.last_mut().unwrap().push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        _ => w.push(q),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                let mut depth = 1;
                let mut text = String::new();
                for q in chars.by_ref() {
                    depth += match q {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        break;
                    }
                    text.push(q);
                }
                inner.extend(invocations(&text));
                word.get_or_insert_with(String::new).push_str("SUBSTITUTED");
            }
            '#' if word.is_none() => break,
            ' ' | '\t' => end_word(&mut word, &mut commands),
            '|' | '&' | ';' => {
                end_word(&mut word, &mut commands);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            '<' | '>' => {
                end_word(&mut word, &mut commands);
                commands.last_mut().unwrap().push(c.to_string());
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut commands);
    let mut found = Vec::new();
    for words in commands {
        let mut invocation = Invocation::default();
        let mut words = words.into_iter().peekable();
        match words.peek().map(String::as_str) {
            Some("berth") => {}
            Some("sudo") => {
                invocation.sudo = true;
                words.next();
                if words.peek().map(String::as_str) != Some("berth") {
                    continue;
                }
            }
            _ => continue,
        }
        words.next();
        while let Some(w) = words.next() {
            match w.as_str() {
                "<" => invocation.stdin = words.next(),
                ">" => invocation.stdout = words.next(),
                _ => invocation.args.push(w),
            }
        }
        found.push(invocation);
    }
    found.extend(inner);
    found
}

/// The last path component of a redirection target, in the scratch directory.
fn in_scratch(dir: &ScratchDir, target: &str) -> std::path::PathBuf {
    let name = target.rsplit('/').find(|part| !part.is_empty()).unwrap_or("out");
    dir.path.join(name)
}

/// The value given to `--port`/`-p`, and where it is in `args`.
fn port_option(args: &[String]) -> Option<(usize, String)> {
    for (at, arg) in args.iter().enumerate() {
        if arg == "--port" || arg == "-p" {
            return args.get(at + 1).map(|value| (at + 1, value.clone()));
        }
        if let Some(value) = arg.strip_prefix("--port=") {
            return Some((at, value.to_string()));
        }
    }
    None
}

/// Can 127.0.0.1:`port` be bound now (TCP, and UDP when `udp`)?
fn bindable(port: u16, udp: bool) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok() && (!udp || UdpSocket::bind(("127.0.0.1", port)).is_ok())
}

/// What running an example came to.
enum Outcome {
    Exited(i32),
    /// A server printed its ready line and was stopped.
    Served,
    /// Still running at the time limit, as a session or server may be.
    StillRunning,
}

/// What this test did with an example beyond running it as printed.
struct Prepared {
    args: Vec<String>,
    notes: Vec<String>,
    /// Children holding the ports of a `kill` example.
    holders: Vec<ChildGuard>,
}

/// Forks a child that holds a new socket (TCP or UDP) and returns it with its port.
fn port_holder(udp: bool) -> (ChildGuard, u16) {
    let (fd, port, socket): (i32, u16, Box<dyn std::any::Any>) = if udp {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = socket.local_addr().unwrap().port();
        (socket.as_raw_fd(), port, Box::new(socket))
    } else {
        let (listener, port) = listener_v4();
        (listener.as_raw_fd(), port, Box::new(listener))
    };
    // SAFETY: the child does nothing but hold the socket until killed.
    let child = unsafe { fork_child(&[fd], || {}) };
    // The test's copy closes: the child alone holds the port.
    drop(socket);
    (child, port)
}

/// Makes what an example names and changes the ports that must change.
fn prepare(invocation: &Invocation, dir: &ScratchDir) -> Result<Prepared, String> {
    if invocation.sudo && !is_root() {
        return Err("needs root (sudo)".into());
    }
    let mut args = invocation.args.clone();
    let mut notes = Vec::new();
    let mut holders = Vec::new();
    let command = args.first().cloned().unwrap_or_default();
    if let Some(stdin) = &invocation.stdin {
        let path = in_scratch(dir, stdin);
        if !path.exists() {
            std::fs::write(&path, "hello from an example\n").unwrap();
        }
    }
    match command.as_str() {
        "run" => {
            let after = args.iter().position(|a| a == "--").map(|at| at + 1).unwrap_or(args.len());
            if let Some(program) = args.get(after) {
                if let Some(name) = program.strip_prefix("./") {
                    let script = dir.write(name, "#!/bin/sh\necho \"$PORT\"\n");
                    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
                } else if find_program(program).is_none() {
                    return Err(format!("needs {program}, which is not installed"));
                }
            }
        }
        "watch" => {
            // `--alert policy FILE`: a policy that expects nothing.
            if let Some(at) = args.windows(2).position(|pair| pair[0] == "--alert" && pair[1] == "policy") {
                if let Some(file) = args.get(at + 2) {
                    let path = in_scratch(dir, file);
                    if !path.exists() {
                        std::fs::write(&path, "version = 2\n").unwrap();
                    }
                }
            }
        }
        "metrics" => {
            let mut at = 1;
            while at + 1 < args.len() {
                let value = args[at + 1].clone();
                match args[at].as_str() {
                    // The token file an example names is made, with a token.
                    "--token-file" => {
                        std::fs::write(in_scratch(dir, &value), "example-token\n").unwrap();
                        args[at + 1] = in_scratch(dir, &value).display().to_string();
                    }
                    // node_exporter's directory becomes one of the scratch
                    // directory's (never the machine's own).
                    "--textfile" => {
                        let textfile = dir.path.join("textfile");
                        std::fs::create_dir_all(&textfile).unwrap();
                        args[at + 1] = textfile.display().to_string();
                        notes.push(format!("{value} -> the scratch directory's textfile/"));
                    }
                    // A --listen port that is taken here becomes a free one.
                    "--listen" => {
                        let port = value.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
                        if port != 0 && !bindable(port, false) {
                            let free = free_port().to_string();
                            args[at + 1] = format!("{}{free}", &value[..value.len() - port.to_string().len()]);
                            notes.push(format!("port {port} is taken here: {free} instead"));
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        "mock" => {
            // The spec an example names is made: the OpenAPI Initiative's
            // petstore for a document, a one-route file for a routes file.
            let mut previous = String::new();
            for arg in args.iter().skip(1) {
                let named_output = previous == "--record" || previous == "--journal";
                previous = arg.clone();
                if named_output || arg.starts_with('-') || in_scratch(dir, arg).exists() {
                    continue;
                }
                if arg.ends_with(".toml") {
                    std::fs::write(in_scratch(dir, arg), "[[route]]\npath = \"/users/{id}\"\njson = { id = 1 }\n")
                        .unwrap();
                } else if arg.ends_with(".yaml") || arg.ends_with(".json") {
                    let petstore = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mock/oai/v3.0/petstore.yaml");
                    std::fs::copy(petstore, in_scratch(dir, arg)).unwrap();
                }
            }
        }
        "ca" if matches!(args.get(1).map(String::as_str), Some("install" | "uninstall")) => {
            // Trust stores change only in a private mount namespace (see
            // `execute`), which needs root.
            if !is_root() {
                return Err("needs root (a private mount namespace for the trust stores)".into());
            }
            if find_program("unshare").is_none() {
                return Err("needs unshare (util-linux)".into());
            }
        }
        "serve" => {
            for arg in args.iter().skip(1).filter(|a| a.starts_with("./")) {
                dir.write(&format!("{arg}/index.html"), "<h1>example</h1>");
            }
        }
        "kill" => {
            // Each port becomes one a child of this test holds.
            let mut at = 1;
            while at < args.len() {
                let arg = args[at].clone();
                if ["-s", "--signal", "-t", "--timeout"].contains(&arg.as_str()) {
                    at += 2;
                    continue;
                }
                let (udp, number) = match arg.strip_prefix("udp/") {
                    Some(number) => (true, number),
                    None => (false, arg.strip_prefix("tcp/").unwrap_or(&arg)),
                };
                if number.parse::<u16>().is_ok() {
                    let (child, port) = port_holder(udp);
                    args[at] = if udp { format!("udp/{port}") } else { port.to_string() };
                    notes.push(format!("{arg} -> {} (held by a child of the test)", args[at]));
                    holders.push(child);
                }
                at += 1;
            }
        }
        _ => {}
    }
    // A server's port (given, nc-style, or its default) that is taken now.
    let udp = match command.as_str() {
        "echo" => !args.iter().any(|a| a == "--tcp" || a == "-t"),
        "listen" => args.iter().any(|a| a == "-u" || a == "--udp"),
        _ => false,
    };
    // The proxy's default port is its target's + 443.
    let proxy_default = args
        .get(1)
        .and_then(|target| target.rsplit(':').next())
        .and_then(|port| port.parse::<u16>().ok())
        .and_then(|port| port.checked_add(443));
    let default = match command.as_str() {
        "serve" => Some(62893),
        "echo" => Some(49342),
        "mock" => Some(4010),
        "proxy" => proxy_default,
        _ => None,
    };
    if matches!(command.as_str(), "serve" | "echo" | "listen" | "run" | "mock" | "proxy") {
        let positional = match command.as_str() {
            "echo" | "listen" => args.iter().position(|a| a.parse::<u16>().is_ok()),
            _ => None,
        };
        let given = port_option(&args).or_else(|| positional.map(|at| (at, args[at].clone())));
        let fixed = match &given {
            Some((_, value)) => value.parse::<u16>().ok().filter(|p| *p != 0),
            None => default,
        };
        if let Some(port) = fixed.filter(|port| !bindable(*port, udp)) {
            let free = free_port().to_string();
            match given {
                Some((at, value)) => args[at] = args[at].replace(&value, &free),
                None => args.splice(1..1, ["--port".to_string(), free.clone()]).for_each(drop),
            }
            notes.push(format!("port {port} is taken here: {free} instead"));
        }
    }
    Ok(Prepared { args, notes, holders })
}

/// The ready line of a server, for the commands that serve.
fn ready_marker(command: &str) -> Option<&'static str> {
    match command {
        "serve" => Some("berth: serving"),
        "mock" => Some("berth: mocking"),
        "proxy" => Some("berth: proxying"),
        "echo" => Some("berth: echoing on"),
        "listen" => Some("berth: listening on"),
        "run" => Some("berth: running"),
        "metrics" => Some("berth: metrics on"),
        _ => None,
    }
}

/// Runs one prepared invocation in `dir`; returns how it ended and its stderr.
fn execute(invocation: &Invocation, args: &[String], dir: &ScratchDir) -> (Outcome, String) {
    let command_name = args.first().map(String::as_str).unwrap_or_default();
    let changes_stores =
        command_name == "ca" && matches!(args.get(1).map(String::as_str), Some("install" | "uninstall"));
    let mut command = if changes_stores {
        // The system store's directories are copies, bind-mounted in a
        // namespace of the example's own: the machine's store is untouched.
        let mut command = Command::new("unshare");
        command.args(["-m", "--propagation", "private", "sh", "-c"]).arg(
            "for d in /etc/ssl/certs /usr/local/share/ca-certificates; do c=$(mktemp -d); cp -a \"$d/.\" \"$c/\"; mount --bind \"$c\" \"$d\"; done; exec \"$0\" \"$@\"",
        );
        command.arg(env!("CARGO_BIN_EXE_berth"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_berth"))
    };
    command.args(args).current_dir(&dir.path).env_remove("BERTH_SOURCE").stderr(Stdio::piped());
    // berth's CA (ca, proxy) lives in a home of the scratch directory's,
    // never the user's own, and so do the NSS databases ca install finds.
    let home = dir.path.join("home");
    std::fs::create_dir_all(&home).unwrap();
    command.env("HOME", &home).env("XDG_DATA_HOME", home.join(".local/share"));
    // `watch` records and `history` reads a file of the scratch directory,
    // never the user's own history.
    command.env("BERTH_HISTORY", dir.path.join("history.sqlite"));
    command.stdin(match &invocation.stdin {
        Some(file) => Stdio::from(std::fs::File::open(in_scratch(dir, file)).unwrap()),
        None => Stdio::null(),
    });
    command.stdout(match &invocation.stdout {
        Some(file) => Stdio::from(std::fs::File::create(in_scratch(dir, file)).unwrap()),
        None => Stdio::null(),
    });
    let mut child = KillOnDrop(command.spawn().expect("start berth"));
    let stderr = child.0.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // audit probes for up to its 20 s budget; servers and sessions are
    // given a few seconds; the rest finish at once.
    let long_running = matches!(command_name, "serve" | "echo" | "listen" | "connect" | "run" | "mock" | "proxy")
        || (command_name == "metrics" && args.iter().any(|a| a == "--every"));
    let limit = match command_name {
        // A watch runs until stopped: a moment shows its arguments work.
        "watch" => 2,
        _ if long_running => 10,
        _ => 60,
    };
    let mut deadline = Instant::now() + Duration::from_secs(limit);
    let mut text = String::new();
    let outcome = loop {
        while let Ok(line) = received.try_recv() {
            text.push_str(&line);
            text.push('\n');
            if ready_marker(command_name).is_some_and(|marker| line.contains(marker)) {
                if command_name == "run" {
                    // The program runs now: let it finish, or stop it soon.
                    deadline = deadline.min(Instant::now() + Duration::from_secs(3));
                } else {
                    break;
                }
            }
        }
        if ready_marker(command_name).is_some_and(|marker| text.contains(marker)) && command_name != "run" {
            break Outcome::Served;
        }
        if let Some(status) = child.0.try_wait().expect("wait for berth") {
            // What it printed last, then its status.
            std::thread::sleep(Duration::from_millis(50));
            while let Ok(line) = received.try_recv() {
                text.push_str(&line);
                text.push('\n');
            }
            break Outcome::Exited(status.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            break Outcome::StillRunning;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(child);
    (outcome, text)
}

/// Words of a usage error, in berth's and clap's wording.
const USAGE_WORDS: &[&str] =
    &["unexpected argument", "invalid ", "(try 'berth", "unknown command", "required arguments", "Usage:"];

fn every_printed_example_runs() {
    let _serial = serial();
    let mut examples = help_examples();
    let from_help = examples.len();
    examples.extend(readme_examples());
    assert!(from_help >= 40, "only {from_help} examples found in the help texts");
    assert!(examples.len() > from_help + 10, "only {} examples found in README.md", examples.len() - from_help);
    let dir = ScratchDir::new("examples");
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for example in &examples {
        for invocation in invocations(&example.line) {
            let shown = format!("{}: {}", example.origin, example.line);
            let prepared = match prepare(&invocation, &dir) {
                Ok(prepared) => prepared,
                Err(reason) => {
                    report.push(format!("skipped  {shown} ({reason})"));
                    continue;
                }
            };
            let (outcome, stderr) = execute(&invocation, &prepared.args, &dir);
            drop(prepared.holders);
            let how = match outcome {
                Outcome::Exited(code) => format!("exit {code}"),
                Outcome::Served => "served, stopped".to_string(),
                Outcome::StillRunning => "still running at the limit, stopped".to_string(),
            };
            let notes =
                if prepared.notes.is_empty() { String::new() } else { format!(" [{}]", prepared.notes.join("; ")) };
            report.push(format!("{how:<36} {shown}{notes}"));
            let usage = USAGE_WORDS.iter().find(|w| stderr.contains(*w));
            let command = prepared.args.first().map(String::as_str).unwrap_or_default();
            let may_run_on = matches!(
                command,
                "serve" | "echo" | "listen" | "connect" | "run" | "watch" | "metrics" | "mock" | "proxy"
            );
            if matches!(outcome, Outcome::Exited(2)) || usage.is_some() || stderr.contains("panicked") {
                failures.push(format!("{shown}\n  ran berth {:?}: {how}\n  {stderr}", prepared.args));
            } else if matches!(outcome, Outcome::StillRunning) && !may_run_on {
                failures.push(format!("{shown}\n  ran berth {:?}: did not finish\n  {stderr}", prepared.args));
            }
        }
    }
    eprintln!("examples:\n{}", report.join("\n"));
    assert!(failures.is_empty(), "{} examples fail as printed:\n{}", failures.len(), failures.join("\n"));
}

/// The example extractor itself: quotes, pipes, `$(...)` and redirections.
fn examples_are_read_as_sh_reads_them() {
    let _serial = serial();
    let found = invocations("PORT=$(berth free) && my-server --port \"$PORT\"");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].args, ["free"]);
    let found = invocations("printf 'PING\\r\\n' | berth connect localhost:6379");
    assert_eq!(found[0].args, ["connect", "localhost:6379"]);
    let found = invocations("berth audit --json | jq '.[] | select(.severity == \"critical\")'");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].args, ["audit", "--json"]);
    let found = invocations("berth listen 9000 > received.bin   # in one terminal");
    assert_eq!(
        (found[0].args.clone(), found[0].stdout.as_deref()),
        (vec!["listen".into(), "9000".into()], Some("received.bin"))
    );
    let found = invocations("mkdir -p /usr/local/share/man/man1 && sudo berth man | gzip > /x/berth.1.gz");
    assert_eq!((found.len(), found[0].sudo, found[0].stdout.as_deref()), (1, true, None));
    assert_eq!(cut_comment("berth who '[::1]:5432'  the  rest"), "berth who '[::1]:5432'");
}

tests![every_printed_example_runs, examples_are_read_as_sh_reads_them];
