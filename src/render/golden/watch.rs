//! `berth watch`'s lines and JSON lines, for events made by the engine
//! from built Snapshots and scripted close messages (the way the live loop
//! makes them from the kernel's).

use std::time::{Duration, Instant, SystemTime};

use super::{printed, COLOUR, PIPE};
use crate::render::watch::{write_json_line, write_line, Clock};
use crate::watch::engine::{CloseInput, DumpKind, Engine};
use crate::watch::event::{AlertName, EventKind, MissedReason, WatchEvent, Watching};
use berth_inventory::builder::{plain_socket, SnapshotBuilder, TAKEN_AT_SECS};
use berth_inventory::diff::diff;
use berth_inventory::{Protocol, Snapshot, SocketState, TcpCounters};

/// A fixed start, and times `ms` after it.
fn at(start: Instant, ms: u64) -> (SystemTime, Instant) {
    (
        SystemTime::UNIX_EPOCH + Duration::from_secs(TAKEN_AT_SECS) + Duration::from_millis(ms),
        start + Duration::from_millis(ms),
    )
}

fn snapshot(start: Instant, ms: u64, builder: SnapshotBuilder) -> Snapshot {
    let (wall, instant) = at(start, ms);
    builder.taken_at(wall, instant).build()
}

fn closed(start: Instant, ms: u64, local: &str, remote: Option<&str>, bytes: (u64, u64)) -> CloseInput {
    let (at, instant) = at(start, ms);
    let mut socket = plain_socket(Protocol::Tcp, local, remote, SocketState::Close, 0);
    socket.tcp_counters = Some(Box::new(TcpCounters {
        bytes_received: Some(bytes.0),
        bytes_sent: Some(bytes.1),
        bytes_acked: None,
        rtt_us: None,
    }));
    CloseInput::Closed { socket, at, instant }
}

/// One of each kind of line: the start, a listener there already, a
/// listener opening and moving beyond loopback (with its alert), a
/// connection a dump saw, a connection between two dumps, a listener
/// between two dumps, a gap, and the summary.
fn story() -> Vec<WatchEvent> {
    let start = Instant::now();
    let server = || {
        SnapshotBuilder::new().tcp_listener("127.0.0.1:5432", 10).owner(10, 812).process(
            812,
            "postgres",
            &["/usr/lib/postgresql/15/bin/postgres"],
        )
    };
    let first = snapshot(start, 0, server());
    let mut engine = Engine::new(true);
    let mut events = Vec::new();
    let mut started = WatchEvent::of_berth(first.taken_at, EventKind::Started);
    started.watching = Some(Watching {
        destroy_events: true,
        destroy_unavailable: None,
        receive_buffer: Some(8 << 20),
        proc_events: true,
        interval_ms: 1000,
        listener_interval_ms: 100,
        namespaces: 1,
        listeners: 1,
        connections: 0,
        history: Some("/home/alice/.local/state/berth/history.sqlite".into()),
    });
    events.push(started);
    events.extend(engine.start(&first));

    let opened = snapshot(
        start,
        1000,
        server()
            .tcp_listener("127.0.0.1:3000", 20)
            .owner(20, 4242)
            .process(4242, "node", &["node", "server.js"])
            .tcp_connection("127.0.0.1:5432", "127.0.0.1:41000", SocketState::Established, 11)
            .owner(11, 812)
            .tcp_connection("127.0.0.1:41000", "127.0.0.1:5432", SocketState::Established, 12)
            .owner(12, 4242),
    );
    let changes = diff(&first, &opened);
    events.extend(engine.on_dump(DumpKind::Listeners, &changes, &opened, None, opened.taken));
    events.extend(engine.on_dump(DumpKind::Full, &changes, &opened, None, opened.taken));
    events.extend(engine.on_close(closed(start, 1500, "127.0.0.1:41000", Some("127.0.0.1:5432"), (2049, 380))));
    events.extend(engine.on_close(closed(start, 1500, "127.0.0.1:5432", Some("127.0.0.1:41000"), (381, 2048))));
    events.extend(engine.on_close(closed(start, 1700, "127.0.0.1:41002", Some("127.0.0.1:5432"), (5, 4))));
    events.extend(engine.on_close(closed(start, 1800, "127.0.0.1:8000", None, (0, 0))));
    // node moves from loopback to every interface.
    events.extend(engine.on_close(closed(start, 1900, "127.0.0.1:3000", None, (0, 0))));
    let wide = snapshot(
        start,
        2000,
        server().tcp_listener("0.0.0.0:3000", 30).owner(30, 4242).process(4242, "node", &["node", "server.js"]),
    );
    let changes = diff(&opened, &wide);
    for event in engine.on_dump(DumpKind::Listeners, &changes, &wide, None, wide.taken) {
        let alert = (event.kind == EventKind::ListenerOpened).then(|| {
            event.alert(AlertName::Exposed, "node listens on tcp 0.0.0.0:3000: reachable from every interface".into())
        });
        events.push(event);
        events.extend(alert);
    }
    let (overflow, _) = at(start, 2500);
    engine.on_close(CloseInput::Overflow { at: overflow, reason: MissedReason::KernelBuffer });
    engine.caught_up();
    let after = snapshot(start, 3000, server().tcp_listener("0.0.0.0:3000", 30).owner(30, 4242));
    events.extend(engine.on_dump(DumpKind::Full, &diff(&wide, &after), &after, None, after.taken));
    events.push(engine.summary_event(after.taken_at, Duration::from_secs(3)));
    events
}

#[test]
fn every_kind_of_line() {
    let text = printed(|out| story().iter().try_for_each(|e| write_line(out, e, &PIPE, Clock::Utc)));
    insta::assert_snapshot!(text);
}

#[test]
fn every_kind_of_line_in_colour() {
    let text = printed(|out| story().iter().try_for_each(|e| write_line(out, e, &COLOUR, Clock::Utc)));
    insta::assert_snapshot!(text);
}

#[test]
fn json_lines() {
    let text = printed(|out| story().iter().try_for_each(|e| write_json_line(out, e)));
    insta::assert_snapshot!(text);
}
