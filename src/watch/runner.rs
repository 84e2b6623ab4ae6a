//! The live loop of `berth watch`: two Samplers (listeners often, every
//! socket at `--interval`), the close feed, and the proc connector as a
//! trigger, fed in time order to the [`Engine`]; each event it returns is
//! filtered, printed, checked against the alerts and recorded.
//!
//! One thread runs the loop; the destroy readers have their own threads
//! (they must never wait on a dump or a write, see
//! docs/design/watch-engine.md §3), and so does the proc connector.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime};

use super::alerts::{Alerts, Exec};
use super::closes::CloseFeed;
use super::engine::{CloseInput, DumpKind, Engine};
use super::event::{EventKind, SocketFacts, Summary, WatchEvent, Watching};
use crate::analysis::filter::LsFilter;
use crate::error::Error;
use crate::history::Recorder;
use crate::render::style::Style;
use crate::render::watch as render;
use crate::stderr::say;
use berth_inventory::diff::{Change, Event as DiffEvent};
use berth_inventory::sampler::{Kernel, Sampler};
use berth_inventory::scope::is_loopback;
use berth_inventory::{collect, Family, Protocol, Query};

/// The longest the loop sleeps between looks at the stop flag and the
/// proc-event trigger.
const MAX_NAP: Duration = Duration::from_millis(50);

/// Events are written to the history at most this long after they happen
/// (what a kill -9 can lose).
const RECORD_EVERY: Duration = Duration::from_millis(250);

/// The earliest a process exec or exit brings the next listener dump.
const PROC_TRIGGER_DELAY: Duration = Duration::from_millis(20);

/// At the end, closes are still read until none came for FINAL_QUIET, for
/// at most FINAL_DRAIN.
const FINAL_QUIET: Duration = Duration::from_millis(50);
const FINAL_DRAIN: Duration = Duration::from_secs(2);

/// How often the listeners' owners are read again (a listener handed to
/// another process, by fork or descriptor passing, is seen within this).
/// Owners of what opens are read when it opens.
const OWNER_REFRESH: Duration = Duration::from_secs(2);

/// Fresh dumps after a loss, at most this often.
const FRESH_DUMP_GAP: Duration = Duration::from_millis(200);

/// Events reach stdout in writes at most this often (each is a system
/// call; under a steady load of closes, one per batch of the reader was
/// most of a watch's own CPU), and the engine's timers are looked at at
/// most this often: both well inside the 10 ms an event may take.
const FLUSH_EVERY: Duration = Duration::from_millis(4);
const TICK_EVERY: Duration = Duration::from_millis(20);

/// The longest closes a dump reported wait for a backlog of messages.
const MAX_TICK_DELAY: Duration = Duration::from_secs(2);

/// Consecutive failed dumps before the watch gives up.
const MAX_DUMP_FAILURES: u32 = 3;

/// Everything the loop needs, configured by `args`.
pub struct WatchConfig {
    /// The query of the full dumps (the listener query is derived from it).
    pub query: Query,
    pub interval: Duration,
    pub listener_interval: Duration,
    pub filter: LsFilter,
    pub listeners_only: bool,
    /// Show the listeners there at the start (`listener-present`).
    pub initial: bool,
    pub json: bool,
    pub style: Style,
    pub alerts: Alerts,
    pub exec: Option<Exec>,
    /// Stop after this long (else at SIGINT / SIGTERM).
    pub duration: Option<Duration>,
    /// Where events are recorded.
    pub recorder: Option<Box<dyn Record>>,
}

/// Where events go to be kept (the history). A trait so that the loop's
/// tests could keep events elsewhere; [`Recorder`] is the real one.
pub trait Record {
    /// Appends events, in one transaction (none: the heartbeat only).
    fn record(&mut self, events: &[WatchEvent]) -> Result<(), String>;
    /// The file, for the started line.
    fn describe(&self) -> String;
    /// Was a listener on this port recorded before this run (`--alert new`)?
    fn port_seen_before(&self, protocol: Protocol, port: u16) -> bool;
    /// Ends the run.
    fn finish(self: Box<Self>) -> Result<(), String>;
}

impl Record for Recorder {
    fn record(&mut self, events: &[WatchEvent]) -> Result<(), String> {
        Recorder::record(self, events).map_err(|e| e.to_string())
    }
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn port_seen_before(&self, protocol: Protocol, port: u16) -> bool {
        Recorder::port_seen_before(self, protocol, port)
    }
    fn finish(self: Box<Self>) -> Result<(), String> {
        self.close().map_err(|e| e.to_string())
    }
}

/// The history's heartbeat: a run with no events still says it is alive
/// this often (what bounds it if it is killed).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Runs the watch until stopped; returns whether any alert fired.
pub fn run(mut config: WatchConfig, out: &mut impl Write) -> Result<bool, Error> {
    let stop = crate::actions::signal::stop_on_signals();
    let began = Instant::now();

    let listener_query = Query { tcp_listening_only: true, owners: false, tcp_counters: false, ..config.query.clone() };
    let owners = OwnerQueries::new(&config.query);
    let mut listeners = Sampler::new(Kernel::new(listener_query), config.listener_interval);
    let mut full = Sampler::new(Kernel::new(config.query.clone()), config.interval);
    listeners.sample()?;
    let namespaces = &listeners.latest().expect("sampled").namespaces;
    let own = namespaces.iter().find(|n| n.own).map(|n| n.inode).unwrap_or(0);
    let others: Vec<(std::path::PathBuf, u64)> =
        namespaces.iter().filter(|n| !n.own).filter_map(|n| n.path.clone().map(|p| (p, n.inode))).collect();

    // The close feed opens before the full dump the story starts from, so
    // no connection's close between the two is lost.
    let (feed, unavailable) = match CloseFeed::open(own, &others) {
        Ok(feed) => (Some(feed), None),
        Err(why) => {
            say!("berth: note: close events from the kernel are unavailable ({why}); polling the socket table only, so sockets shorter than the interval can be missed");
            (None, Some(why))
        }
    };
    let proc_trigger = super::proc_trigger::spawn();
    full.sample()?;
    // The story starts from a read with owners (the dumps carry none).
    let with_owners = collect(&owners.everything)?;
    let first = &with_owners;

    let mut engine = Engine::new(feed.is_some());
    let present = engine.start(first);
    let (listener_count, connection_count) = engine.live_counts();
    let mut sink = Sink {
        out,
        json: config.json,
        style: config.style,
        filter: config.filter.clone(),
        listeners_only: config.listeners_only,
        initial: config.initial,
        alerts: config.alerts,
        exec: config.exec.take(),
        recorder: config.recorder.take(),
        pending: Vec::new(),
        last_record: Instant::now(),
        last_flush: Instant::now(),
        unflushed: false,
        alerted: false,
        alert_count: 0,
        shown: Summary::default(),
    };
    sink.alerts.set_ranges(&first.port_ranges);
    let mut started = WatchEvent::of_berth(first.taken_at, EventKind::Started);
    started.watching = Some(Watching {
        destroy_events: feed.is_some(),
        destroy_unavailable: unavailable,
        receive_buffer: feed.as_ref().map(|f| f.receive_buffer),
        proc_events: proc_trigger.is_some(),
        interval_ms: config.interval.as_millis() as u64,
        listener_interval_ms: config.listener_interval.as_millis() as u64,
        namespaces: first.namespaces.len(),
        listeners: listener_count,
        connections: connection_count,
        history: sink.recorder.as_ref().map(|r| r.describe()),
    });
    sink.emit(started)?;
    for event in present {
        sink.emit(event)?;
    }
    sink.flush(true)?;

    let mut next_listener_dump = Instant::now() + config.listener_interval;
    let mut next_full_dump = Instant::now() + config.interval;
    let mut failures = 0;
    let mut last_tick = Instant::now();
    let mut last_fresh: Option<Instant> = None;
    let mut next_owner_refresh = Instant::now() + OWNER_REFRESH;
    loop {
        if stop.load(Ordering::Relaxed) || config.duration.is_some_and(|d| began.elapsed() >= d) {
            break;
        }
        let now = Instant::now();
        let mut wake = next_listener_dump.min(next_full_dump).min(now + MAX_NAP);
        if let Some(due) = engine.next_due() {
            wake = wake.min(due);
        }
        if let Some(due) = sink.flush_due() {
            wake = wake.min(due);
        }
        if let Some(limit) = config.duration {
            wake = wake.min(began + limit);
        }
        let caught_up = wait_for_closes(feed.as_ref(), wake, &mut engine, &mut sink)?;

        if let Some(trigger) = &proc_trigger {
            if trigger.swap(false, Ordering::Relaxed) {
                let soon = Instant::now() + PROC_TRIGGER_DELAY;
                next_listener_dump = next_listener_dump.min(soon);
            }
        }
        if caught_up {
            engine.caught_up();
        }
        let now = Instant::now();
        let fresh = engine.wants_fresh_dump() && last_fresh.is_none_or(|at: Instant| at.elapsed() >= FRESH_DUMP_GAP);
        if fresh {
            last_fresh = Some(now);
        }
        let full_due = now >= next_full_dump || fresh;
        if now >= next_listener_dump || full_due {
            let kind = if full_due { DumpKind::Full } else { DumpKind::Listeners };
            if now >= next_owner_refresh {
                next_owner_refresh = now + OWNER_REFRESH;
                if let Ok(snapshot) = collect(&owners.listeners) {
                    for event in engine.on_owners(&snapshot) {
                        sink.emit(event)?;
                    }
                }
            }
            match dump(kind, &mut listeners, &mut full, &owners, feed.as_ref(), &mut engine, &mut sink) {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    if failures >= MAX_DUMP_FAILURES {
                        return Err(e);
                    }
                    say!("berth: note: reading the socket table failed ({e}); trying again");
                }
            }
            let after = Instant::now();
            next_listener_dump = after + config.listener_interval;
            if full_due {
                next_full_dump = after + config.interval;
            }
        }
        // Closes a dump saw wait for their messages while messages are
        // still queued (a backlog may hold them), but not forever.
        let since_tick = last_tick.elapsed();
        if (caught_up && since_tick >= TICK_EVERY) || since_tick >= MAX_TICK_DELAY {
            last_tick = Instant::now();
            for event in engine.on_tick(last_tick) {
                sink.emit(event)?;
            }
        }
        sink.flush(false)?;
    }

    // Closes on their way are still reported (the readers nap a few ms
    // between batches, and forwarders may hold one), then the summary.
    if let Some(feed) = &feed {
        let deadline = Instant::now() + FINAL_DRAIN;
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline && quiet_since.elapsed() < FINAL_QUIET {
            match feed.recv_timeout(FINAL_QUIET) {
                Ok(batch) => {
                    handle_batch(batch, &mut engine, &mut sink)?;
                    quiet_since = Instant::now();
                }
                Err(_) => break,
            }
        }
    }
    if let Some(feed) = feed {
        feed.stop();
    }
    let mut summary = engine.summary_event(SystemTime::now(), began.elapsed());
    if let Some(s) = summary.summary.as_mut() {
        // What was shown, with what berth could not see of any of it.
        *s = Summary {
            duration_ms: s.duration_ms,
            alerts: sink.alert_count,
            missed_spans: s.missed_spans,
            unaddressed_closes: s.unaddressed_closes,
            ..sink.shown.clone()
        };
    }
    let alerted = sink.alerted;
    sink.finish(summary)?;
    Ok(alerted)
}

/// Waits until `wake` for closes, handing each batch to the engine; true
/// when every close received so far has been handled.
fn wait_for_closes(
    feed: Option<&CloseFeed>,
    wake: Instant,
    engine: &mut Engine,
    sink: &mut Sink<'_, impl Write>,
) -> Result<bool, Error> {
    let Some(feed) = feed else {
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
        return Ok(true);
    };
    loop {
        let now = Instant::now();
        if wake <= now {
            return drain(feed, engine, sink);
        }
        match feed.recv_timeout(wake - now) {
            Ok(batch) => {
                handle_batch(batch, engine, sink)?;
                drain(feed, engine, sink)?;
                sink.flush(false)?;
            }
            Err(RecvTimeoutError::Timeout) => return Ok(true),
            Err(RecvTimeoutError::Disconnected) => {
                let why = feed.reader_error().unwrap_or_else(|| "the reader ended".into());
                return Err(Error::System(format!(
                    "reading close events from the kernel failed ({why}); run berth watch again"
                )));
            }
        }
    }
}

/// The most batches one drain hands on: under a sustained load the channel
/// is never empty, and the dumps must still run on time.
const DRAIN_BATCHES: usize = 64;

/// Hands the batches already received to the engine (at most
/// DRAIN_BATCHES); true when none is left (the engine has caught up).
fn drain(feed: &CloseFeed, engine: &mut Engine, sink: &mut Sink<'_, impl Write>) -> Result<bool, Error> {
    for _ in 0..DRAIN_BATCHES {
        match feed.try_recv() {
            Ok(batch) => handle_batch(batch, engine, sink)?,
            Err(_) => return Ok(true),
        }
    }
    Ok(false)
}

fn handle_batch(batch: Vec<CloseInput>, engine: &mut Engine, sink: &mut Sink<'_, impl Write>) -> Result<(), Error> {
    for input in batch {
        for event in engine.on_close(input) {
            sink.emit(event)?;
        }
    }
    Ok(())
}

/// The reads with owners: the listeners (for new listeners and the
/// periodic refresh) and every socket (when a full dump saw connections open).
struct OwnerQueries {
    listeners: Query,
    everything: Query,
}

impl OwnerQueries {
    fn new(full: &Query) -> OwnerQueries {
        OwnerQueries {
            listeners: Query { tcp_listening_only: true, owners: true, tcp_counters: false, ..full.clone() },
            everything: Query { owners: true, ..full.clone() },
        }
    }

    /// The read that finds the owners of what `opened` lists: only its
    /// port when there is one, only listeners when no connection opened.
    fn for_opened(&self, opened: &[&DiffEvent]) -> Query {
        let connections = opened.iter().any(|e| !e.socket.state.is_listening());
        let base = if connections { &self.everything } else { &self.listeners };
        let first = opened.first().map(|e| e.socket.local.port());
        let one_port = first.filter(|port| opened.iter().all(|e| e.socket.local.port() == *port));
        Query { port: one_port, ..base.clone() }
    }
}

/// The events of a diff that opened something (their owners are looked up).
fn opened(diff: &[DiffEvent]) -> Vec<&DiffEvent> {
    diff.iter().filter(|e| matches!(e.change, Change::ListenerOpened | Change::ConnectionOpened)).collect()
}

/// One dump: closes read before it first, then its diff, then the closes
/// that came while it ran (see the engine's module docs).
fn dump(
    kind: DumpKind,
    listeners: &mut Sampler<Kernel>,
    full: &mut Sampler<Kernel>,
    owner_queries: &OwnerQueries,
    feed: Option<&CloseFeed>,
    engine: &mut Engine,
    sink: &mut Sink<'_, impl Write>,
) -> Result<(), Error> {
    if let Some(feed) = feed {
        drain(feed, engine, sink)?;
    }
    let events = match kind {
        DumpKind::Listeners => {
            let diff = listeners.sample()?;
            let finished = Instant::now();
            let snapshot = listeners.latest().expect("sampled");
            let mut new: Vec<&DiffEvent> = opened(&diff);
            new.retain(|e| e.socket.state.is_listening());
            // New listeners' owners: one more read, only when there are any.
            let owners = if new.is_empty() { None } else { collect(&owner_queries.for_opened(&new)).ok() };
            engine.on_dump(DumpKind::Listeners, &diff, snapshot, owners.as_ref(), finished)
        }
        DumpKind::Full => {
            // A full dump also refreshes the listeners (its diff for them is
            // the listener Sampler's job, so take that too, first).
            let listener_diff = listeners.sample()?;
            let listeners_finished = Instant::now();
            let diff = full.sample()?;
            let finished = Instant::now();
            let mut new: Vec<&DiffEvent> = opened(&listener_diff);
            new.retain(|e| e.socket.state.is_listening());
            new.extend(opened(&diff).into_iter().filter(|e| !e.socket.state.is_listening()));
            let owners = if new.is_empty() { None } else { collect(&owner_queries.for_opened(&new)).ok() };
            let listener_snapshot = listeners.latest().expect("sampled");
            let snapshot = full.latest().expect("sampled");
            let mut events = engine.on_dump(
                DumpKind::Listeners,
                &listener_diff,
                listener_snapshot,
                owners.as_ref(),
                listeners_finished,
            );
            events.extend(engine.on_dump(DumpKind::Full, &diff, snapshot, owners.as_ref(), finished));
            events
        }
    };
    for event in events {
        sink.emit(event)?;
    }
    if let Some(feed) = feed {
        drain(feed, engine, sink)?;
    }
    Ok(())
}

/// Where events go: the filter, the screen or JSON lines, the alerts and
/// `--exec`, and the history.
struct Sink<'a, W: Write> {
    out: &'a mut W,
    json: bool,
    style: Style,
    filter: LsFilter,
    listeners_only: bool,
    initial: bool,
    alerts: Alerts,
    exec: Option<Exec>,
    recorder: Option<Box<dyn Record>>,
    /// Events not yet recorded.
    pending: Vec<WatchEvent>,
    last_record: Instant,
    last_flush: Instant,
    /// Lines written since the last flush was put off.
    unflushed: bool,
    alerted: bool,
    alert_count: u64,
    /// Counts of the events shown (the summary speaks of what was shown).
    shown: Summary,
}

impl<W: Write> Sink<'_, W> {
    /// When lines held back by FLUSH_EVERY must go out.
    fn flush_due(&self) -> Option<Instant> {
        self.unflushed.then(|| self.last_flush + FLUSH_EVERY)
    }

    fn count(&mut self, event: &WatchEvent) {
        let shown = &mut self.shown;
        match event.kind {
            EventKind::ListenerOpened => shown.listeners_opened += 1,
            EventKind::ListenerClosed => shown.listeners_closed += 1,
            EventKind::ConnectionOpened => shown.connections_opened += 1,
            EventKind::ConnectionClosed => {
                shown.connections_closed += 1;
                if event.socket.as_ref().is_some_and(|s| !s.open_seen) {
                    shown.short_lived += 1;
                }
            }
            _ => {}
        }
    }

    fn emit(&mut self, event: WatchEvent) -> Result<(), Error> {
        let recorder = &self.recorder;
        let alerts = self
            .alerts
            .check(&event, |protocol, port| recorder.as_ref().is_some_and(|r| r.port_seen_before(protocol, port)));
        let shown = self.shows(&event);
        // What the filters hide raises nothing either (no line, no --exec,
        // no exit status); it is still recorded, and `new` still remembers it.
        let alerts = if shown { alerts } else { Vec::new() };
        if shown {
            self.count(&event);
            self.write(&event)?;
        }
        if self.recorder.is_some() {
            self.pending.push(event);
        }
        for alert in alerts {
            self.alerted = true;
            self.alert_count += 1;
            if shown {
                self.write(&alert)?;
            }
            if let Some(exec) = &mut self.exec {
                exec.run(&alert);
            }
            if self.recorder.is_some() {
                self.pending.push(alert);
            }
        }
        Ok(())
    }

    fn write(&mut self, event: &WatchEvent) -> Result<(), Error> {
        if self.json {
            render::write_json_line(self.out, event)?;
        } else {
            render::write_line(self.out, event, &self.style, render::Clock::Local)?;
        }
        Ok(())
    }

    /// Flushes the screen (at most every FLUSH_EVERY, unless `now`), and
    /// the history when RECORD_EVERY has passed (or `now`).
    fn flush(&mut self, now: bool) -> Result<(), Error> {
        if !now && self.last_flush.elapsed() < FLUSH_EVERY {
            self.unflushed = true;
            return Ok(());
        }
        self.last_flush = Instant::now();
        self.unflushed = false;
        self.out.flush()?;
        if let Some(exec) = &mut self.exec {
            exec.reap();
        }
        if now || self.last_record.elapsed() >= RECORD_EVERY {
            self.record()?;
        }
        Ok(())
    }

    fn record(&mut self) -> Result<(), Error> {
        let heartbeat_due = self.last_record.elapsed() >= HEARTBEAT;
        self.last_record = Instant::now();
        if let Some(recorder) = &mut self.recorder {
            if !self.pending.is_empty() || heartbeat_due {
                recorder
                    .record(&self.pending)
                    .map_err(|e| Error::Write(format!("cannot record events in the history: {e}")))?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self, summary: WatchEvent) -> Result<(), Error> {
        self.emit(summary)?;
        self.out.flush()?;
        self.record()?;
        if let Some(recorder) = self.recorder.take() {
            recorder.finish().map_err(|e| Error::Write(format!("cannot close the history: {e}")))?;
        }
        if let Some(exec) = &mut self.exec {
            exec.finish();
        }
        Ok(())
    }

    /// Whether the filters show this event (berth's own always show).
    fn shows(&self, event: &WatchEvent) -> bool {
        match event.kind {
            EventKind::ListenerPresent if !self.initial => return false,
            EventKind::Started | EventKind::Missed | EventKind::Summary => return true,
            _ => {}
        }
        let Some(facts) = &event.socket else { return true };
        if self.listeners_only && facts.remote.is_some() {
            return false;
        }
        shows(&self.filter, facts)
    }
}

/// `ls`'s filters, applied to an event's socket. A connection with no
/// owner of its own (it lived between two dumps) matches `--pid` and
/// `--process` through the local listener it belongs to.
pub fn shows(filter: &LsFilter, facts: &SocketFacts) -> bool {
    if !filter.wants_protocol(facts.protocol) {
        return false;
    }
    if filter.ipv4 != filter.ipv6 {
        let address = facts.local.address;
        let mapped = matches!(address, std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        let dual_stack = address.is_unspecified() && facts.remote.is_none() && facts.v6only != Some(true);
        let takes_v4 = facts.family == Family::V4 || mapped || dual_stack;
        let takes_v6 = facts.family == Family::V6 && !mapped;
        if (filter.ipv4 && !takes_v4) || (filter.ipv6 && !takes_v6) {
            return false;
        }
    }
    if let Some(port) = filter.port {
        if facts.local.port != port && facts.remote.is_none_or(|r| r.port != port) {
            return false;
        }
    }
    // An accepted end no dump saw has no owner of its own: its listener's
    // owner accepted it. (A client end's owner is not its listener's.)
    let through_listener = facts
        .listener
        .as_ref()
        .filter(|l| facts.owners.is_empty() && !facts.open_seen && l.local.port == facts.local.port);
    let owners = facts.owners.iter().chain(through_listener.into_iter().flat_map(|l| l.owners.iter()));
    if let Some(pid) = filter.pid {
        if !owners.clone().any(|o| o.pid == pid) {
            return false;
        }
    }
    if let Some(wanted) = &filter.process {
        let wanted = wanted.to_lowercase();
        let named = owners.clone().any(|o| {
            crate::analysis::filter::process_named(&wanted, o.name.as_deref(), o.cmdline.first().map(String::as_str))
        });
        if !named {
            return false;
        }
    }
    if filter.exposed && is_loopback(facts.local.address) {
        return false;
    }
    true
}
