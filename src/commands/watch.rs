//! `berth watch`.

use crate::args::style;
use crate::cli::{GlobalArgs, WatchArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::history::{HistoryError, Recorder};
use crate::stderr::say;
use crate::watch::alerts::{Alerts, Exec};
use crate::watch::runner::{self, Record, WatchConfig};
use berth_inventory::PortRanges;

pub fn run(args: &WatchArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    if args.all_netns && unsafe { libc::geteuid() } != 0 {
        return Err(Error::Usage(
            "--all-netns needs root: the other namespaces are entered with setns(2) (run with sudo, or watch this namespace without it)".into(),
        ));
    }
    let rules = args.alert_rules()?;
    if rules.new && args.record.no_history {
        return Err(Error::Usage(
            "--alert new remembers the ports it has seen in the history, so it cannot go with --no-history (give it a file with --history FILE)".into(),
        ));
    }
    let recorder = match args.record.history_path()? {
        None => None,
        Some(path) => match Recorder::open(&path, args.record.retention()) {
            Ok(recorder) => Some(recorder),
            // A second watch on the default file still shows events, and
            // says why it records none. Asked for a file by name, or for
            // `--alert new` (which needs it), it stops.
            Err(busy @ HistoryError::Busy { .. }) if args.record.history.is_none() && !rules.new => {
                say!("berth: note: not recording: {busy}");
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let alerts = Alerts::new(rules, &PortRanges::default());
    let config = WatchConfig {
        query: args.query(global),
        interval: args.interval,
        listener_interval: args.listener_interval(),
        filter: args.filter(),
        listeners_only: args.listeners_only,
        initial: args.initial,
        json: args.json,
        style: style(global),
        alerts,
        exec: args.exec.clone().map(Exec::new),
        duration: args.duration,
        recorder: recorder.map(|r| Box::new(r) as Box<dyn Record>),
    };
    let mut out = super::stdout();
    let alerted = runner::run(config, &mut out)?;
    Ok(if alerted { ExitCode::NothingFound } else { ExitCode::Success })
}
