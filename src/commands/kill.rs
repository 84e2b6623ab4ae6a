//! `berth kill PORT...`: plan, ask, signal gracefully, escalate only when
//! told to, and verify that the port is free.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::actions::signal::{HandleError, ProcessHandle, Signal};
use crate::analysis::kill::{self, plan, ports_free, KillReport, PortOutcome, Requester, Signalled};
use crate::cli::{GlobalArgs, KillArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::render;
use berth_inventory::sampler::{Kernel, Sampler};
use berth_inventory::{self as inventory, processes, Snapshot};

/// How often the port is checked while waiting for it to be released.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How long to wait for processes to die after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(3);

pub fn run(args: &KillArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let targets = &args.targets;
    let signal = args.signal;
    let style = crate::args::style(global);

    let snapshot = inventory::collect(&args.holders_query(global))?;
    let requester = Requester {
        // SAFETY: geteuid cannot fail.
        uid: unsafe { libc::geteuid() },
        protected_pids: processes::self_and_ancestors(),
    };
    let plan = plan(targets, &snapshot, &requester);
    let mut report = KillReport { dry_run: args.dry_run, plan, signalled: Vec::new(), outcome: Vec::new() };

    let mut err = io::stderr().lock();
    if !args.json {
        render::kill::write_plan(&mut err, &report.plan, args.dry_run, &style).map_err(stderr_error)?;
    }
    if !report.plan.ports.iter().any(|p| p.held) {
        return finish(&report, args.json, ExitCode::NothingFound);
    }
    if report.plan.is_empty() || args.dry_run {
        if report.plan.is_empty() && !args.json {
            // What could not be stopped, and why, is above.
            writeln!(err, "berth: nothing was stopped").map_err(stderr_error)?;
        }
        report.outcome = outcomes(args, global)?;
        let code = if report.plan.is_empty() { ExitCode::ActionFailed } else { ExitCode::Success };
        return finish(&report, args.json, code);
    }
    if !args.yes && io::stdin().is_terminal() && !confirm_stop(&mut err, report.plan.victims.len())? {
        writeln!(err, "berth: nothing was stopped").map_err(stderr_error)?;
        return finish(&report, args.json, ExitCode::ActionFailed);
    }

    // Take hold of every victim before signalling any, checking each is
    // still the process the snapshot saw.
    let mut handles = Vec::new();
    for victim in report.plan.victims.values() {
        match ProcessHandle::open(victim.pid, victim.start_ticks) {
            Ok(handle) => handles.push(handle),
            Err(HandleError::Gone) => report.signalled.push(Signalled {
                pid: victim.pid,
                signal: signal.name(),
                exited: true,
                forced: false,
                already_gone: true,
            }),
            Err(HandleError::Other(e)) => {
                return Err(Error::System(format!("cannot take hold of pid {}: {e}", victim.pid)));
            }
        }
    }
    for handle in &handles {
        let delivered = handle.send(signal).map_err(|e| signal_error(handle.pid, e))?;
        report.signalled.push(Signalled {
            pid: handle.pid,
            signal: signal.name(),
            exited: !delivered,
            forced: false,
            already_gone: !delivered,
        });
    }
    if !args.json {
        render::kill::write_signalled(&mut err, &report, &style).map_err(stderr_error)?;
    }

    // Wait for the ports to be released (or every victim to exit): the
    // ports' sockets sampled at POLL_INTERVAL, without owners (cheap).
    let deadline = Instant::now() + args.timeout;
    let mut sampler = Sampler::new(Kernel::new(args.release_query(global)), POLL_INTERVAL);
    loop {
        sampler.next_sample()?;
        if handles.iter().all(|h| h.has_exited()) || ports_free(targets, latest(&sampler)) {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
    }

    let still_running: Vec<&ProcessHandle> = handles.iter().filter(|h| !h.has_exited()).collect();
    let free_now = !still_running.is_empty() && {
        sampler.sample()?;
        ports_free(targets, latest(&sampler))
    };
    if !still_running.is_empty() && !free_now && args.force {
        for handle in &still_running {
            handle.send(Signal::KILL).map_err(|e| signal_error(handle.pid, e))?;
            if let Some(entry) = report.signalled.iter_mut().find(|s| s.pid == handle.pid) {
                entry.forced = true;
            }
        }
        for handle in &still_running {
            handle.wait_exit(KILL_GRACE);
        }
    }
    for entry in &mut report.signalled {
        if let Some(handle) = handles.iter().find(|h| h.pid == entry.pid) {
            entry.exited = handle.has_exited();
        }
    }

    report.outcome = outcomes(args, global)?;
    if !args.json {
        render::kill::write_outcome(&mut err, &report, args.force, &style).map_err(stderr_error)?;
    }
    let all_free = report.outcome.iter().all(|o| o.free);
    finish(&report, args.json, if all_free { ExitCode::Success } else { ExitCode::ActionFailed })
}

fn finish(report: &KillReport, json: bool, code: ExitCode) -> Result<ExitCode, Error> {
    if json {
        let mut out = super::stdout();
        render::json::write_value(&mut out, report)?;
        out.flush()?;
    }
    Ok(code)
}

/// kill's report goes to stderr. A stderr that cannot be written to is a
/// write error (6), even a closed pipe: exit 0 would say the port is free.
fn stderr_error(error: io::Error) -> Error {
    Error::Write(format!("cannot write to stderr: {error}"))
}

fn signal_error(pid: u32, error: io::Error) -> Error {
    if error.raw_os_error() == Some(libc::EPERM) {
        Error::System(format!("not allowed to signal pid {pid}: it belongs to another user; run as root"))
    } else {
        Error::System(format!("cannot signal pid {pid}: {error}"))
    }
}

/// "Stop N processes?", asked through the one prompt of the commands.
fn confirm_stop(err: &mut impl Write, count: usize) -> Result<bool, Error> {
    err.flush().map_err(stderr_error)?;
    super::confirm(&format!("Stop {count} {}?", if count == 1 { "process" } else { "processes" }))
}

/// The sampler's last snapshot: there is one once a sample succeeded.
fn latest(sampler: &Sampler<Kernel>) -> &Snapshot {
    sampler.latest().expect("a sample was taken")
}

/// Each target's state now, read with owners.
fn outcomes(args: &KillArgs, global: &GlobalArgs) -> Result<Vec<PortOutcome>, Error> {
    let snapshot = inventory::collect(&args.holders_query(global))?;
    Ok(kill::outcomes(&args.targets, &snapshot))
}
