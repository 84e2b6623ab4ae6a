//! `berth scan [HOST]`: parse, resolve once, scan, find the holders of the
//! open ports when the host is this machine, render.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{GlobalArgs, ScanArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::inventory::{self, Protocol, Query};
use crate::net::{limits, local, ports, resolve, scan};
use crate::render::{self, style::Style};

/// The soft descriptor limit berth asks for (as far as the hard limit allows).
const WANTED_FD_LIMIT: u64 = 16_384;

pub fn run(args: &ScanArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    let ports = ports::parse_ports(&args.ports)?;
    let timeout = super::probe::seconds(args.timeout, "--timeout")?;
    if args.concurrency == Some(0) {
        return Err(Error::Usage("--concurrency 0: give at least 1 attempt in flight".into()));
    }
    let address = resolve::resolve_one(&args.host)?;
    let protocol = if args.udp { Protocol::Udp } else { Protocol::Tcp };
    let soft_limit = limits::raise_fd_limit(WANTED_FD_LIMIT);
    let options = scan::ScanOptions {
        address,
        protocol,
        timeout,
        in_flight: limits::in_flight_budget(soft_limit, args.concurrency),
        threads: 0,
    };

    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() {
            scope.spawn(|| show_progress(ports.len(), &done, &finished));
        }
        let _stop_progress = SetOnDrop(&finished);
        scan::scan(&ports, &options, &done)
    })?;

    // Who holds the open ports, when they are ports of this machine: one
    // snapshot, listening sockets only.
    let snapshot = if !outcome.found.is_empty() && local::is_this_machine(address) {
        let query = Query {
            tcp: protocol == Protocol::Tcp,
            udp: protocol == Protocol::Udp,
            tcp_listening_only: true,
            source: global.source.into(),
            all_netns: false,
            ancestors: false,
            tcp_counters: false,
            owners: true,
            port: (outcome.found.len() == 1).then(|| outcome.found[0].port),
        };
        match inventory::collect(&query) {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                eprintln!("berth: note: cannot tell who holds the open ports: {e}");
                None
            }
        }
    } else {
        None
    };
    let entries = local::entries(&outcome.found, address, protocol, snapshot.as_ref());

    let mut out = super::stdout();
    if args.json {
        render::json::write_array(&mut out, &entries)?;
    } else {
        let heading = render::scan::Heading { host: &args.host, address, protocol, outcome: &outcome };
        render::scan::write_report(&mut out, &heading, &entries, &Style::detect(global.color.into()))?;
    }
    out.flush()?;
    for note in render::scan::notes(&outcome, timeout) {
        eprintln!("berth: note: {note}");
    }
    if let Some(snapshot) = &snapshot {
        if entries.iter().any(|e| e.owners.as_ref().is_some_and(Vec::is_empty)) && !snapshot.visibility.running_as_root
        {
            eprintln!("berth: note: some open ports belong to processes of other users; run as root to see them");
        }
    }
    Ok(if entries.is_empty() { ExitCode::NothingFound } else { ExitCode::Success })
}

/// Sets the flag when dropped, so the progress thread stops however the scan ends.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A progress bar on stderr, updated from the scan's counter until it ends.
fn show_progress(total: usize, done: &AtomicUsize, finished: &AtomicBool) {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("scanning [{bar:30}] {pos}/{len} ports, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // Bounded by the scan: it sets `finished` when it returns, however it ends.
    while !finished.load(Ordering::Acquire) {
        bar.set_position(done.load(Ordering::Relaxed) as u64);
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.finish_and_clear();
}
