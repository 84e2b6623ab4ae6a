//! Running nft and iptables-save: found on PATH or in the sbin
//! directories, with a time limit, their output or how they failed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ToolOutcome;

/// How long one run of nft or iptables-save may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The program's path: PATH first, then the sbin directories a non-root
/// user's PATH often lacks.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a tool with a time limit, returning its stdout, or how it failed.
/// A tool that hangs is killed (by its pid, through `Child::kill`).
pub(super) fn run_tool(name: &'static str, args: &[&str]) -> Result<String, ToolOutcome> {
    let Some(path) = find_program(name) else { return Err(ToolOutcome::Absent) };
    let mut child = Command::new(&path)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ToolOutcome::Failed(format!("cannot run {}: {e}", path.display())))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Both pipes are drained on threads so a full pipe never stalls the tool.
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let mut status = None;
    // Bounded: at most TOOL_TIMEOUT in 10 ms steps.
    for _ in 0..(TOOL_TIMEOUT.as_millis() / 10 + 1) {
        match child.try_wait() {
            Ok(Some(done)) => {
                status = Some(done);
                break;
            }
            Ok(None) if started.elapsed() < TOOL_TIMEOUT => std::thread::sleep(Duration::from_millis(10)),
            _ => break,
        }
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ToolOutcome::Failed(format!("{name} did not answer within {}s", TOOL_TIMEOUT.as_secs())));
    };
    let out = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    if status.success() {
        return Ok(out);
    }
    let first = err.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message").to_string();
    if err.contains("Operation not permitted") || err.contains("Permission denied") || err.contains("must be root") {
        Err(ToolOutcome::NeedsPrivilege(first))
    } else {
        Err(ToolOutcome::Failed(format!("{name} failed: {first}")))
    }
}
