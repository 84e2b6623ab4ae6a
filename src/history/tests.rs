//! The history's unit tests: every field back as it went in, retention by
//! age and by size, one writer at a time, versions refused, and a timing
//! of the writer (printed, not asserted).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use super::query::{History, HistoryFilter};
use super::{HistoryError, Recorder, Retention};
use crate::analysis::report::Endpoint;
use crate::watch::event::*;
use berth_inventory::port_facts::{PortClass, PortFacts};
use berth_inventory::{Family, Protocol, SocketState};

/// A directory under the temp dir, removed on drop.
pub(super) struct Scratch(pub PathBuf);

impl Scratch {
    pub(super) fn new(tag: &str) -> Scratch {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("berth-unit-history-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a scratch directory");
        Scratch(path)
    }

    fn file(&self) -> PathBuf {
        self.0.join("history.sqlite")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn at_us(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

fn owner(pid: u32, name: &str) -> EventOwner {
    EventOwner {
        pid,
        name: Some(name.to_string()),
        cmdline: vec![format!("/usr/bin/{name}"), "--flag".to_string()],
        uid: Some(1000),
        user: Some("alice".to_string()),
    }
}

fn facts(protocol: Protocol, local: (IpAddr, u16), remote: Option<(IpAddr, u16)>, state: SocketState) -> SocketFacts {
    SocketFacts {
        protocol,
        family: if local.0.is_ipv4() { Family::V4 } else { Family::V6 },
        local: Endpoint { address: local.0, port: local.1 },
        remote: remote.map(|(address, port)| Endpoint { address, port }),
        state,
        netns: 4026531840,
        inode: Some(123456),
        uid: Some(1000),
        user: Some("alice".to_string()),
        v6only: if local.0.is_ipv6() { Some(true) } else { None },
        scope: if local.0.is_loopback() { "loopback" } else { "all" },
        interface: None,
        port_facts: PortFacts {
            port_class: PortClass::of(local.1),
            ephemeral: false,
            reserved: false,
            service: berth_inventory::services::service_name(local.1, protocol),
        },
        owners: vec![owner(42, "nginx")].into(),
        listener: None,
        open_seen: true,
        lifetime: None,
        bytes_in: None,
        bytes_out: None,
        was_listening: None,
    }
}

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One event of every shape: every field the row keeps, set.
fn every_kind_of_event() -> Vec<WatchEvent> {
    let t = |n: u64| at_us(1_800_000_000_000_000 + n * 1000);
    let mut started = WatchEvent::of_berth(t(0), EventKind::Started);
    started.watching = Some(Watching {
        destroy_events: false,
        destroy_unavailable: Some("EPERM".to_string()),
        receive_buffer: Some(4 << 20),
        proc_events: true,
        interval_ms: 1000,
        listener_interval_ms: 250,
        namespaces: 1,
        listeners: 3,
        connections: 7,
        history: Some("/tmp/h.sqlite".to_string()),
    });
    let listener = facts(Protocol::Tcp, (LO, 8080), None, SocketState::Listen);
    let present = WatchEvent::about(t(1), EventKind::ListenerPresent, EventSource::Dump, listener.clone());
    let mut accepted = facts(
        Protocol::Tcp,
        (LO, 8080),
        Some((IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)), 50123)),
        SocketState::Close,
    );
    accepted.listener = Some(ListenerRef { local: listener.local, owners: vec![owner(42, "nginx")].into() });
    accepted.lifetime = Some(Lifetime { at_least_ms: 0.0, at_most_ms: Some(12.5) });
    accepted.bytes_in = Some(518);
    accepted.bytes_out = Some(90_000);
    accepted.open_seen = false;
    accepted.inode = None;
    accepted.uid = None;
    accepted.user = None;
    accepted.owners = Vec::new().into();
    let closed = WatchEvent::about(t(2), EventKind::ConnectionClosed, EventSource::Destroy, accepted);
    let mut udp = facts(Protocol::Udp, (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 5353), None, SocketState::Unconnected);
    udp.interface = Some("eth0".to_string());
    udp.scope = "address";
    udp.port_facts.ephemeral = true;
    udp.port_facts.reserved = true;
    let mut changed = WatchEvent::about(t(3), EventKind::OwnerChanged, EventSource::Dump, udp.clone());
    changed.previous = Some(Previous { local: udp.local, scope: "loopback", owners: vec![owner(7, "avahi")].into() });
    let alert = WatchEvent::about(t(4), EventKind::ListenerOpened, EventSource::Dump, udp)
        .alert(AlertName::Exposed, "reachable from every interface".to_string());
    let mut closed_listener = facts(Protocol::Tcp, (LO, 8080), None, SocketState::Close);
    closed_listener.was_listening = Some(true);
    let listener_closed = WatchEvent::about(t(5), EventKind::ListenerClosed, EventSource::Destroy, closed_listener);
    let mut missed = WatchEvent::of_berth(t(6), EventKind::Missed);
    missed.missed = Some(MissedSpan { from: t(5), to: t(6), reason: MissedReason::KernelBuffer });
    let mut summary = WatchEvent::of_berth(t(7), EventKind::Summary);
    summary.summary = Some(Summary { duration_ms: 7, listeners_opened: 1, short_lived: 1, ..Summary::default() });
    vec![started, present, closed, changed, alert, listener_closed, missed, summary]
}

#[test]
fn every_field_reads_back_as_recorded() {
    let scratch = Scratch::new("roundtrip");
    let events = every_kind_of_event();
    let mut recorder =
        Recorder::open(&scratch.file(), Retention { keep: Duration::from_secs(u64::MAX / 4), ..Retention::default() })
            .expect("a new history");
    recorder.record(&events).expect("recorded");
    recorder.close().expect("closed");
    let history = History::open(&scratch.file()).expect("readable");
    let back: Vec<WatchEvent> =
        history.events(&HistoryFilter::default()).expect("events").into_iter().map(|e| e.event).collect();
    assert_eq!(back.len(), events.len());
    for (read, written) in back.iter().zip(&events) {
        assert_eq!(read, written, "{:?}", written.kind);
    }
}

#[test]
fn old_events_go_and_runs_and_ports_stay() {
    let scratch = Scratch::new("age");
    let mut recorder = Recorder::open(&scratch.file(), Retention::default()).expect("a new history");
    let now = SystemTime::now();
    let listener = facts(Protocol::Tcp, (LO, 9090), None, SocketState::Listen);
    let old = WatchEvent::about(
        now - Duration::from_secs(8 * 86_400),
        EventKind::ListenerOpened,
        EventSource::Dump,
        listener.clone(),
    );
    let new = WatchEvent::about(now, EventKind::ListenerPresent, EventSource::Dump, listener);
    recorder.record(&[old, new]).expect("recorded");
    recorder.close().expect("closed: pruned");
    let history = History::open(&scratch.file()).expect("readable");
    let kept = history.events(&HistoryFilter::default()).expect("events");
    assert_eq!(kept.len(), 1, "the 8-day-old event is gone");
    assert_eq!(kept[0].event.kind, EventKind::ListenerPresent);
    let reopened = Recorder::open(&scratch.file(), Retention::default()).expect("reopened");
    assert!(reopened.port_seen_before(Protocol::Tcp, 9090), "the port is remembered");
    assert!(!reopened.port_seen_before(Protocol::Udp, 9090));
    let runs: i64 = Connection::open(scratch.file())
        .and_then(|c| c.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)))
        .expect("runs");
    assert_eq!(runs, 2);
}

fn connection_at(time: SystemTime, n: u16) -> WatchEvent {
    let mut s = facts(Protocol::Tcp, (LO, 8080), Some((LO, 30000 + n % 20000)), SocketState::Close);
    s.bytes_in = Some(u64::from(n));
    s.bytes_out = Some(100);
    s.lifetime = Some(Lifetime { at_least_ms: 0.0, at_most_ms: Some(1.0) });
    WatchEvent::about(time, EventKind::ConnectionClosed, EventSource::Destroy, s)
}

#[test]
fn the_size_cap_deletes_the_oldest() {
    let scratch = Scratch::new("size");
    let cap = 2 * 1024 * 1024;
    let mut recorder = Recorder::open(&scratch.file(), Retention { keep: Duration::from_secs(86_400), max_bytes: cap })
        .expect("a new history");
    let start = SystemTime::now() - Duration::from_secs(3600);
    // About 6 MiB of events, in batches: three times the cap.
    for batch in 0..30u64 {
        let events: Vec<WatchEvent> =
            (0..1000u64).map(|i| connection_at(start + Duration::from_millis(batch * 1000 + i), i as u16)).collect();
        recorder.record(&events).expect("recorded");
    }
    recorder.prune().expect("pruned");
    let bytes = std::fs::metadata(scratch.file()).expect("the file").len();
    assert!(bytes <= cap, "the file is {bytes} bytes, over the cap of {cap}");
    let conn = Connection::open(scratch.file()).expect("open");
    let (count, oldest): (i64, i64) =
        conn.query_row("SELECT count(*), min(time_us) FROM events", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("count");
    assert!(count > 0 && count < 30_000, "{count} events kept");
    let first = unix_micros_of(start) as i64;
    assert!(oldest > first, "the oldest events went first");
    drop(recorder);
}

#[test]
fn one_writer_at_a_time_and_the_lock_goes_at_close() {
    let scratch = Scratch::new("busy");
    let first = Recorder::open(&scratch.file(), Retention::default()).expect("the first writer");
    match Recorder::open(&scratch.file(), Retention::default()) {
        Err(HistoryError::Busy { pid, path }) => {
            assert_eq!(pid, Some(std::process::id()));
            assert_eq!(path, scratch.file());
            let message = HistoryError::Busy { pid, path }.to_string();
            assert!(message.contains("--history FILE") && message.contains("--no-history"), "{message}");
            assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        }
        Err(other) => panic!("a second writer got {other}"),
        Ok(_) => panic!("a second writer opened the history"),
    }
    assert_eq!(super::recorder::writer_running(&scratch.file()), Some(std::process::id()));
    first.close().expect("closed");
    assert_eq!(super::recorder::writer_running(&scratch.file()), None);
    Recorder::open(&scratch.file(), Retention::default())
        .expect("a writer after the first closed")
        .close()
        .expect("closed");
}

#[test]
fn a_newer_or_foreign_file_is_refused() {
    let scratch = Scratch::new("version");
    Recorder::open(&scratch.file(), Retention::default()).expect("new").close().expect("closed");
    Connection::open(scratch.file()).and_then(|c| c.execute_batch("PRAGMA user_version = 9;")).expect("bumped");
    match Recorder::open(&scratch.file(), Retention::default()) {
        Err(e @ HistoryError::TooNew { version: 9, .. }) => assert!(e.to_string().contains("newer berth"), "{e}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a newer file was opened for writing"),
    }
    assert!(matches!(History::open(&scratch.file()), Err(HistoryError::TooNew { version: 9, .. })));
    let foreign = scratch.0.join("other.sqlite");
    Connection::open(&foreign).and_then(|c| c.execute_batch("CREATE TABLE t (x);")).expect("foreign");
    assert!(matches!(Recorder::open(&foreign, Retention::default()), Err(HistoryError::NotHistory { .. })));
    let missing = scratch.0.join("none.sqlite");
    assert!(matches!(History::open(&missing), Err(HistoryError::Missing { .. })));
}

/// What listened at T: the run's heartbeat bounds a run without an end.
#[test]
fn at_follows_opens_closes_and_runs() {
    let scratch = Scratch::new("at");
    let base = SystemTime::now() - Duration::from_secs(600);
    let t = |s: u64| base + Duration::from_secs(s);
    let listener = facts(Protocol::Tcp, (LO, 7000), None, SocketState::Listen);
    let mut closing = listener.clone();
    closing.owners = Vec::new().into();
    let mut recorder = Recorder::open(&scratch.file(), Retention::default()).expect("new");
    recorder
        .record(&[
            WatchEvent::about(t(0), EventKind::ListenerOpened, EventSource::Dump, listener.clone()),
            WatchEvent::about(t(10), EventKind::ListenerClosed, EventSource::Destroy, closing),
        ])
        .expect("recorded");
    let history = History::open(&scratch.file()).expect("readable");
    let filter = HistoryFilter { port: Some(7000), ..HistoryFilter::default() };
    let then = history.at(t(5), &filter).expect("at");
    assert_eq!(then.len(), 1);
    assert_eq!(then[0].owners[0].pid, 42);
    assert!(history.at(t(11), &filter).expect("at").is_empty(), "closed at t+10");
    assert!(history.at(t(0) - Duration::from_secs(1), &filter).expect("at").is_empty(), "not yet open");
    // --pid narrows the answer, not the closes.
    let other = HistoryFilter { pid: Some(1), ..filter.clone() };
    assert!(history.at(t(5), &other).expect("at").is_empty());
    drop(recorder);
}

/// A listener open in a watch still running is open, with no last time;
/// once the run ends it was last seen at the run's end.
#[test]
fn listeners_are_open_only_while_their_watch_runs() {
    let scratch = Scratch::new("open");
    let mut recorder = Recorder::open(&scratch.file(), Retention::default()).expect("new");
    let listener = facts(Protocol::Tcp, (LO, 7100), None, SocketState::Listen);
    recorder
        .record(&[WatchEvent::about(SystemTime::now(), EventKind::ListenerPresent, EventSource::Dump, listener)])
        .expect("recorded");
    let history = History::open(&scratch.file()).expect("readable");
    let seen = history.listeners(&HistoryFilter::default()).expect("listeners");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].open && seen[0].last_seen.is_none(), "{seen:?}");
    // Past the last heartbeat, the running watch still vouches for it.
    let soon = SystemTime::now() + Duration::from_secs(5);
    assert_eq!(history.at(soon, &HistoryFilter::default()).expect("at").len(), 1);
    recorder.close().expect("closed");
    assert!(history.at(soon, &HistoryFilter::default()).expect("at").is_empty(), "after the run's end");
    let seen = history.listeners(&HistoryFilter::default()).expect("listeners");
    assert!(!seen[0].open, "{seen:?}");
    assert!(seen[0].last_seen.is_some_and(|last| last >= seen[0].first_seen), "{seen:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(scratch.file()).expect("file").permissions());
    assert_eq!(mode & 0o777, 0o600, "the history is its owner's only");
}

/// The ls filters over recorded events: --pid and --process match the
/// socket's owners or its listener's, --exposed the local address, -t/-u
/// the protocol; berth's own events only pass no filter.
#[test]
fn the_filters_of_ls_apply_to_events() {
    let scratch = Scratch::new("filters");
    let mut recorder = Recorder::open(&scratch.file(), Retention::default()).expect("new");
    recorder.record(&every_kind_of_event()).expect("recorded");
    let history = History::open(&scratch.file()).expect("readable");
    let kinds = |filter: HistoryFilter| -> Vec<EventKind> {
        history.events(&filter).expect("events").into_iter().map(|e| e.event.kind).collect()
    };
    use EventKind::*;
    let none = HistoryFilter::default();
    assert_eq!(kinds(none.clone()).len(), 8);
    assert_eq!(
        kinds(HistoryFilter { pid: Some(42), ..none.clone() }),
        vec![ListenerPresent, ConnectionClosed, OwnerChanged, Alert, ListenerClosed],
        "the close holds no owner: its listener's owner counts"
    );
    assert_eq!(kinds(HistoryFilter { process: Some("NGI".into()), ..none.clone() }).len(), 5);
    assert_eq!(kinds(HistoryFilter { process: Some("avahi".into()), ..none.clone() }), Vec::<EventKind>::new());
    assert_eq!(kinds(HistoryFilter { udp: true, ..none.clone() }), vec![OwnerChanged, Alert]);
    assert_eq!(kinds(HistoryFilter { exposed: true, ..none.clone() }), vec![OwnerChanged, Alert]);
    assert_eq!(kinds(HistoryFilter { port: Some(50123), ..none.clone() }), vec![ConnectionClosed], "a remote port");
    drop(recorder);
}

/// Rows a second through the writer, in batches of 5,000 (20,000 events/s
/// is the watch's peak): printed for the report, not asserted.
#[test]
fn writer_speed() {
    let scratch = Scratch::new("speed");
    let mut recorder = Recorder::open(&scratch.file(), Retention::default()).expect("new");
    let now = SystemTime::now();
    let batches = 20;
    let events: Vec<WatchEvent> = (0..5000u16).map(|i| connection_at(now, i)).collect();
    let started = Instant::now();
    for _ in 0..batches {
        recorder.record(&events).expect("recorded");
    }
    let elapsed = started.elapsed();
    let rows = batches * events.len();
    let rate = rows as f64 / elapsed.as_secs_f64();
    // How much of it is turning events into rows (Rust, unoptimized in a
    // test build) rather than SQLite.
    let started = Instant::now();
    for _ in 0..batches {
        for event in &events {
            std::hint::black_box(super::codec::values(event));
        }
    }
    let encoding = started.elapsed();
    crate::stderr::say!("history writer: {rows} rows in {elapsed:?}: {rate:.0} rows/s ({encoding:?} of it encoding)");
    recorder.close().expect("closed");
}
