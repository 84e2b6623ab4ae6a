//! Headless Chromium, for the pages berth serves and the audit's claims
//! about what a browser may read.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::children::run_within;
use super::harness::require_program;
use super::ScratchDir;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one Chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Skips the test when Chromium is not installed.
pub fn require_chromium() {
    require_program(CHROMIUM, "chromium");
}

/// `chromium --headless --dump-dom URL` with a fresh profile and `extra`
/// switches (e.g. `--host-resolver-rules=...`): the DOM after load.
pub fn dump_dom(url: &str, extra: &[&str]) -> String {
    let out = dump_dom_run(url, extra, None);
    assert_eq!(out.code, 0, "chromium exited with {} for {url}\n{}", out.code, out.stdout);
    out.stdout
}

/// As [`dump_dom`] with HOME at `home` (where Chromium finds its NSS
/// database, ~/.pki/nssdb), whatever Chromium's exit status: a page that
/// fails to load (a refused certificate) is an answer here.
pub fn dump_dom_at_home(url: &str, extra: &[&str], home: &std::path::Path) -> String {
    dump_dom_run(url, extra, Some(home)).stdout
}

fn dump_dom_run(url: &str, extra: &[&str], home: Option<&std::path::Path>) -> super::Output {
    use std::os::unix::process::CommandExt;

    let profile = ScratchDir::new("chromium-profile");
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.path.display()))
        .args(["--dump-dom", url])
        .env("HOME", home.unwrap_or(&profile.path))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that the browser and its helpers are
        // stopped together (by that group's id).
        .process_group(0);
    run_within(command, &format!("chromium for {url}"), BROWSER_TIMEOUT)
}
