//! Running the real `berth` binary, and reading what it prints: the
//! clean environment and time limit of every run, and helpers for its JSON
//! (sockets, owners, the documented schema).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::children::run_within;

/// How long one run of berth may take before the test gives up on it.
const BERTH_TIMEOUT: Duration = Duration::from_secs(20);

/// The output of one berth run.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs berth with `args` and extra environment `env`, as the current user.
/// BERTH_SOURCE and NO_COLOR from the outer environment are removed so
/// that only what the test says counts.
pub fn run_berth(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = run_berth_with(args, env, None);
    (out.code, out.stdout, out.stderr)
}

/// As [`run_berth`], optionally as another uid/gid (needs root).
pub fn run_berth_with(args: &[&str], env: &[(&str, &str)], as_user: Option<(u32, u32)>) -> Output {
    use std::os::unix::process::CommandExt;

    let mut command = clean_command(env!("CARGO_BIN_EXE_berth"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    if let Some((uid, gid)) = as_user {
        command.uid(uid).gid(gid).current_dir("/");
    }
    run_to_end(command, &format!("berth {args:?}"))
}

/// A command for `program` without BERTH_SOURCE and NO_COLOR from the
/// outer environment (callers add their own after), stdin closed, output piped.
fn clean_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("BERTH_SOURCE")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs a prepared command with both pipes read on threads, so a full pipe
/// never stalls it, and BERTH_TIMEOUT as the limit (then it is killed by pid).
fn run_to_end(command: Command, what: &str) -> Output {
    run_within(command, what, BERTH_TIMEOUT)
}

// ---------------------------------------------------------------- wrapped runs

/// Runs `wrapper` (for example `ip netns exec NAME`, or `unshare -m sh -c
/// ...`) followed by the berth binary and `args`, with the clean
/// environment and time limit of [`run_berth_with`]. The wrapper is killed
/// by its pid if it overruns.
pub fn run_berth_wrapped(wrapper: &[&str], args: &[&str]) -> Output {
    let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
    let mut command = clean_command(program);
    command.args(wrapper_args).arg(env!("CARGO_BIN_EXE_berth")).args(args);
    run_to_end(command, &format!("{wrapper:?} berth {args:?}"))
}

/// `berth ls --json ARGS`: asserts exit 0 and no panic, returns the array.
pub fn ls_json(args: &[&str]) -> Vec<Value> {
    ls_json_env(args, &[])
}

pub fn ls_json_env(args: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let mut full = vec!["ls", "--json"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run_berth(&full, env);
    assert_eq!(code, 0, "berth {full:?} exited {code}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    parse_array(&stdout, &full)
}

pub fn parse_array(stdout: &str, what: &[&str]) -> Vec<Value> {
    match serde_json::from_str::<Value>(stdout) {
        Ok(Value::Array(items)) => items,
        Ok(other) => panic!("berth {what:?}: expected a JSON array, got {other}"),
        Err(e) => panic!("berth {what:?}: output is not JSON ({e}):\n{stdout}"),
    }
}

/// `berth who ARGS --json`: returns (exit code, report).
pub fn who_json(args: &[&str]) -> (i32, Value) {
    report_json("who", args)
}

/// `berth probe ARGS --json`: exit code and report; asserts no panic and a clean stderr.
pub fn probe_json(args: &[&str]) -> (i32, Value) {
    report_json("probe", args)
}

/// `berth COMMAND ARGS --json` for a command that prints one JSON report
/// and exits 0 (found) or 1 (nothing found): asserts one of those and no
/// panic, returns (exit code, report).
fn report_json(command: &str, args: &[&str]) -> (i32, Value) {
    let mut full = vec![command];
    full.extend_from_slice(args);
    full.push("--json");
    let (code, stdout, stderr) = run_berth(&full, &[]);
    assert!(code == 0 || code == 1, "berth {full:?} exited {code}\nstderr: {stderr}\nstdout: {stdout}");
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("berth {full:?}: not JSON ({e}):\n{stdout}"));
    (code, value)
}

/// The address entry for `address` in a probe report.
pub fn at<'a>(report: &'a Value, address: &str) -> &'a Value {
    report["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .find(|a| a["address"] == address)
        .unwrap_or_else(|| panic!("no entry for {address} in {report:#}"))
}

/// `berth audit --json --fail-on none ARGS`: asserts exit 0 and no panic;
/// returns the findings and stderr (where the notes go).
pub fn audit_json(args: &[&str]) -> (Vec<Value>, String) {
    audit_json_env(args, &[])
}

/// As [`audit_json`], with extra environment `env`.
pub fn audit_json_env(args: &[&str], env: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut full = vec!["audit", "--json", "--fail-on", "none"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run_berth(&full, env);
    assert_eq!(code, 0, "berth {full:?} exited {code}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "berth {full:?} panicked: {stderr}");
    (parse_array(&stdout, &full), stderr)
}

/// The socket with this inode, if listed.
pub fn find_inode(sockets: &[Value], inode: u64) -> Option<&Value> {
    sockets.iter().find(|s| s["inode"].as_u64() == Some(inode))
}

/// Like [`find_inode`], but panics with the listing when absent.
pub fn expect_inode<'a>(sockets: &'a [Value], inode: u64, what: &str) -> &'a Value {
    find_inode(sockets, inode).unwrap_or_else(|| panic!("{what} (inode {inode}) not listed in:\n{}", dump(sockets)))
}

/// Every socket with this protocol, local port and state.
pub fn find_by<'a>(sockets: &'a [Value], protocol: &str, port: u16, state: &str) -> Vec<&'a Value> {
    sockets
        .iter()
        .filter(|s| {
            s["protocol"] == protocol && s["local"]["port"].as_u64() == Some(u64::from(port)) && s["state"] == state
        })
        .collect()
}

/// A JSON list (sockets, findings), one item a line, for assertion messages.
pub fn dump(items: &[Value]) -> String {
    items.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n")
}

/// The pids among a socket's owners, in listed order.
pub fn owner_pids(socket: &Value) -> Vec<u64> {
    socket["owners"].as_array().map(|o| o.iter().filter_map(|o| o["pid"].as_u64()).collect()).unwrap_or_default()
}

/// The owner entry with this pid.
pub fn owner(socket: &Value, pid: u64) -> Option<&Value> {
    socket["owners"].as_array()?.iter().find(|o| o["pid"].as_u64() == Some(pid))
}

/// The fds listed for an owner.
pub fn fds(owner: &Value) -> Vec<u64> {
    owner["fds"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

/// Is `word` a whole word (separated by whitespace) somewhere in `line`?
pub fn has_word(line: &str, word: &str) -> bool {
    line.split_whitespace().any(|w| w == word)
}

// ---------------------------------------------------------------- schema

/// The field names of the first table after `heading` in docs/json.md
/// (rows written as "| `name` | type | meaning |"), sorted.
pub fn documented_fields(heading: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text.find(heading).unwrap_or_else(|| panic!("{path} has no '{heading}'"));
    let mut fields = Vec::new();
    let mut in_table = false;
    for line in text[start..].lines().skip(1) {
        if let Some(rest) = line.strip_prefix("| `") {
            in_table = true;
            if let Some((name, _)) = rest.split_once('`') {
                fields.push(name.to_string());
            }
        } else if in_table && !line.starts_with('|') {
            break;
        }
    }
    fields.sort();
    fields
}

/// The keys of a JSON object, sorted.
pub fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("a JSON object").keys().cloned().collect();
    keys.sort();
    keys
}
