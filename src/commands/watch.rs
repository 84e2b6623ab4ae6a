//! `berth watch`.

use crate::args::style;
use crate::cli::{GlobalArgs, WatchArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::watch::alerts::{Alerts, Exec};
use crate::watch::runner::{self, WatchConfig};
use berth_inventory::PortRanges;
use rustc_hash::FxHashSet;

pub fn run(args: &WatchArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    if args.all_netns && unsafe { libc::geteuid() } != 0 {
        return Err(Error::Usage(
            "--all-netns needs root: the other namespaces are entered with setns(2) (run with sudo, or watch this namespace without it)".into(),
        ));
    }
    let rules = args.alert_rules()?;
    let ranges = PortRanges::default();
    let alerts = Alerts::new(rules, FxHashSet::default(), &ranges);
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
        recorder: None,
    };
    let mut out = super::stdout();
    let alerted = runner::run(config, &mut out)?;
    Ok(if alerted { ExitCode::NothingFound } else { ExitCode::Success })
}
