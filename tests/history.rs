//! `berth history`: a history filled as `berth watch` fills it (through
//! the same [`Recorder`], from `berth::test_support`), then asked through
//! the real binary, in JSON and as tables; and a writer killed with -9
//! mid-batch leaves a sound file holding every batch it committed.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use berth::test_support::{
    EventKind, EventOwner, EventSource, Lifetime, ListenerRef, Recorder, Retention, SocketFacts, WatchEvent,
};
use berth_inventory::port_facts::{PortClass, PortFacts};
use berth_inventory::{Family, Protocol, SocketState};
use serde_json::Value;

use crate::common::*;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Documentation addresses (RFC 5737): nothing is sent to them.
const PEER_A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
const PEER_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));

fn owner(pid: u32, name: &str) -> EventOwner {
    EventOwner {
        pid,
        name: Some(name.to_string()),
        cmdline: vec![format!("/usr/sbin/{name}"), "-g".to_string()],
        uid: Some(1000),
        user: Some("alice".to_string()),
    }
}

fn socket(
    local: (IpAddr, u16),
    remote: Option<(IpAddr, u16)>,
    state: SocketState,
    owners: Vec<EventOwner>,
) -> SocketFacts {
    SocketFacts {
        protocol: Protocol::Tcp,
        family: Family::V4,
        local: berth::test_support::Endpoint { address: local.0, port: local.1 },
        remote: remote.map(|(address, port)| berth::test_support::Endpoint { address, port }),
        state,
        netns: 4026531840,
        inode: Some(1),
        uid: Some(1000),
        user: Some("alice".to_string()),
        v6only: None,
        scope: if local.0.is_loopback() { "loopback" } else { "all" },
        interface: None,
        port_facts: PortFacts { port_class: PortClass::of(local.1), ephemeral: false, reserved: false, service: None },
        owners: owners.into(),
        listener: None,
        open_seen: true,
        lifetime: None,
        bytes_in: None,
        bytes_out: None,
        was_listening: None,
    }
}

fn listener(kind: EventKind, time: SystemTime, address: IpAddr, port: u16, owners: Vec<EventOwner>) -> WatchEvent {
    let state = if kind == EventKind::ListenerClosed { SocketState::Close } else { SocketState::Listen };
    let source = if kind == EventKind::ListenerClosed { EventSource::Destroy } else { EventSource::Dump };
    let mut facts = socket((address, port), None, state, owners);
    if kind == EventKind::ListenerClosed {
        facts.state = SocketState::Listen;
        facts.inode = None;
    }
    WatchEvent::about(time, kind, source, facts)
}

fn connection_closed(time: SystemTime, port: u16, peer: IpAddr, peer_port: u16, bytes: (u64, u64)) -> WatchEvent {
    let mut facts = socket((LO, port), Some((peer, peer_port)), SocketState::Close, Vec::new());
    facts.listener = Some(ListenerRef { local: facts.local, owners: vec![owner(4242, "webd")].into() });
    facts.open_seen = false;
    facts.lifetime = Some(Lifetime { at_least_ms: 0.0, at_most_ms: Some(3.0) });
    facts.bytes_in = Some(bytes.0);
    facts.bytes_out = Some(bytes.1);
    WatchEvent::about(time, EventKind::ConnectionClosed, EventSource::Destroy, facts)
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(time).to_string()
}

fn history(file: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = vec!["history"];
    all.extend_from_slice(args);
    let file = file.to_str().expect("a UTF-8 path");
    all.extend_from_slice(&["--file", file]);
    run_berth(&all, &[])
}

fn history_json(file: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let (code, stdout, stderr) = history(file, &with_json);
    assert!(code == 0 || code == 1, "berth history {args:?} exited {code}: {stderr}");
    (code, parse_array(&stdout, &["history"]))
}

/// A history of one run, ten minutes ago to now: a web server on 8080 from
/// t+60 s to t+300 s, then another process on 8080; an exposed one on 0.0.0.0.
struct Sample {
    _dir: ScratchDir,
    file: std::path::PathBuf,
    t0: SystemTime,
}

fn sample() -> Sample {
    let dir = ScratchDir::new("history");
    let file = dir.path.join("history.sqlite");
    let t0 = SystemTime::now() - Duration::from_secs(600);
    let t = |s: u64| t0 + Duration::from_secs(s);
    let mut recorder = Recorder::open(&file, Retention::default()).expect("a new history");
    recorder
        .record(&[
            listener(EventKind::ListenerPresent, t(0), LO, 5432, vec![owner(300, "postgres")]),
            listener(EventKind::ListenerOpened, t(60), LO, 8080, vec![owner(4242, "webd")]),
            connection_closed(t(100), 8080, PEER_A, 40001, (100, 2000)),
            connection_closed(t(110), 8080, PEER_A, 40002, (100, 2000)),
            connection_closed(t(120), 8080, PEER_B, 40003, (5, 7)),
        ])
        .expect("recorded");
    recorder
        .record(&[
            listener(EventKind::ListenerClosed, t(300), LO, 8080, Vec::new()),
            listener(EventKind::ListenerOpened, t(400), LO, 8080, vec![owner(5151, "other")]),
            listener(EventKind::ListenerOpened, t(450), ANY, 9999, vec![owner(6060, "exposedd")]),
        ])
        .expect("recorded");
    recorder.close().expect("closed");
    Sample { _dir: dir, file, t0 }
}

fn pids(listeners: &[Value]) -> Vec<u64> {
    listeners
        .iter()
        .flat_map(|l| l["owners"].as_array().cloned().unwrap_or_default())
        .filter_map(|o| o["pid"].as_u64())
        .collect()
}

fn what_listened_at_a_time_and_who_owned_it() {
    let _serial = serial();
    let s = sample();
    let at = |secs: u64| rfc3339(s.t0 + Duration::from_secs(secs));
    let (code, then) = history_json(&s.file, &["at", &at(200), "--port", "8080"]);
    assert_eq!(code, 0);
    assert_eq!(pids(&then), vec![4242], "{}", dump(&then));
    assert_eq!(then[0]["local"]["port"], 8080);
    let (_, later) = history_json(&s.file, &["at", &at(500), "--port", "8080"]);
    assert_eq!(pids(&later), vec![5151], "{}", dump(&later));
    let (code, between) = history_json(&s.file, &["at", &at(350), "--port", "8080"]);
    assert_eq!((code, between.len()), (1, 0), "nothing listened on 8080 between close and reopen");
    let (_, everything) = history_json(&s.file, &["at", &at(200)]);
    assert_eq!(pids(&everything), vec![300, 4242], "postgres (present since the start) and webd");
    let (code, table, _) = history(&s.file, &["at", &at(200), "--port", "8080"]);
    assert_eq!(code, 0);
    assert!(table.contains("webd[4242]") && table.contains("127.0.0.1:8080"), "{table}");
}

fn which_processes_ever_listened_beyond_loopback() {
    let _serial = serial();
    let s = sample();
    let (code, exposed) = history_json(&s.file, &["listeners", "--exposed"]);
    assert_eq!(code, 0);
    assert_eq!(exposed.len(), 1, "{}", dump(&exposed));
    assert_eq!(exposed[0]["local"]["address"], "0.0.0.0");
    assert_eq!(exposed[0]["processes"][0]["name"], "exposedd");
    let (_, all) = history_json(&s.file, &["listeners"]);
    let ports: Vec<u64> = all.iter().filter_map(|l| l["local"]["port"].as_u64()).collect();
    assert_eq!(ports, vec![5432, 8080, 9999]);
    let web = &all[1];
    let names: Vec<&str> =
        web["processes"].as_array().expect("processes").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, vec!["webd", "other"], "every holder of 8080 over time");
    assert_eq!(web["open"], false, "the run ended: nothing is open");
    assert_eq!(keys_of(web), documented_fields("**`berth history at TIME --json`**"), "{web}");
    let (code, table, _) = history(&s.file, &["listeners", "--exposed"]);
    assert_eq!(code, 0);
    assert!(table.contains("exposedd[6060]") && !table.contains("webd"), "{table}");
}

fn the_busiest_peers_of_a_port() {
    let _serial = serial();
    let s = sample();
    let (code, peers) = history_json(&s.file, &["peers", "--port", "8080"]);
    assert_eq!(code, 0);
    let summary: Vec<(String, u64, u64, u64)> = peers
        .iter()
        .map(|p| {
            (
                p["remote_address"].as_str().unwrap_or("").to_string(),
                p["connections"].as_u64().unwrap_or(0),
                p["bytes_in"].as_u64().unwrap_or(0),
                p["bytes_out"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(summary, vec![("198.51.100.7".to_string(), 2, 200, 4000), ("198.51.100.9".to_string(), 1, 5, 7)]);
    assert_eq!(keys_of(&peers[0]), documented_fields("**`berth history peers --port PORT --json`**"));
    let (code, table, _) = history(&s.file, &["peers", "--port", "8080"]);
    assert_eq!(code, 0);
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("198.51.100.7")), "{table}");
    let (code, none) = history_json(&s.file, &["peers", "--port", "5432"]);
    assert_eq!((code, none.len()), (1, 0));
}

fn since_and_until_bound_the_events() {
    let _serial = serial();
    let s = sample();
    let at = |secs: u64| rfc3339(s.t0 + Duration::from_secs(secs));
    let (code, events) = history_json(&s.file, &["events", "--since", &at(100), "--until", &at(300)]);
    assert_eq!(code, 0);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["connection-closed", "connection-closed", "connection-closed", "listener-closed"]);
    assert!(events.iter().all(|e| e["run"].as_u64() == Some(1)), "{}", dump(&events));
    let (_, recent) = history_json(&s.file, &["--since", "3m"]);
    let ports: Vec<u64> = recent.iter().filter_map(|e| e["local"]["port"].as_u64()).collect();
    assert_eq!(ports, vec![9999], "only the last event is less than 3 minutes old: {}", dump(&recent));
    let (_, on_port) = history_json(&s.file, &["--port", "5432"]);
    assert_eq!(on_port.len(), 1);
    let (_, by_process) = history_json(&s.file, &["--process", "WEBD"]);
    assert_eq!(by_process.len(), 4, "its listener and, through it, its connections: {}", dump(&by_process));
    let (code, table, _) = history(&s.file, &["events", "--port", "8080"]);
    assert_eq!(code, 0);
    assert!(
        table.starts_with("TIME") && table.contains("listener-opened") && table.contains("198.51.100.7:40001"),
        "{table}"
    );
    let before = rfc3339(s.t0 - Duration::from_secs(1));
    let (code, nothing) = history_json(&s.file, &["--until", &before]);
    assert_eq!((code, nothing.len()), (1, 0), "an empty answer exits 1");
}

fn bad_times_and_missing_files_are_refused() {
    let _serial = serial();
    let s = sample();
    for bad in ["tomorrow", "25:00", "2026-02-30", "14"] {
        let (code, _, stderr) = history(&s.file, &["--since", bad]);
        assert_eq!(code, 2, "--since {bad}: {stderr}");
        assert!(stderr.contains(&format!("invalid time '{bad}'")) && stderr.contains("yesterday HH:MM"), "{stderr}");
    }
    let (code, _, stderr) = history(&s.file, &["at"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("needs a time"), "{stderr}");
    let (code, _, stderr) = history(&s.file, &["peers"]);
    assert_eq!(code, 2, "{stderr}");
    let missing = s.file.with_file_name("none.sqlite");
    let (code, stdout, stderr) = history(&missing, &["listeners"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty() && stderr.contains("no history at") && stderr.contains("berth watch"), "{stderr}");
    // BERTH_HISTORY names the default file.
    let (code, _, stderr) = run_berth(&["history", "listeners"], &[("BERTH_HISTORY", s.file.to_str().expect("utf-8"))]);
    assert_eq!(code, 0, "{stderr}");
}

/// Whose environment variable makes the kill -9 child run instead of
/// skipping: the file it records to.
const CHILD_FILE: &str = "BERTH_TEST_HISTORY_CHILD";

/// The writer the kill -9 test starts (this test binary, run again on this
/// one case): records batches until killed, printing each committed one.
fn recording_child() {
    let Some(file) = std::env::var_os(CHILD_FILE) else {
        skip("the kill -9 test's child: runs only when that test starts it");
    };
    use std::io::Write;
    let mut recorder = Recorder::open(Path::new(&file), Retention::default()).expect("the child's history");
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    for batch in 0..100_000u64 {
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
        let now = SystemTime::now();
        let events: Vec<WatchEvent> = (0..500u64)
            .map(|i| connection_closed(now, 8080, PEER_A, (1000 + (batch * 500 + i) % 60000) as u16, (batch, i)))
            .collect();
        recorder.record(&events).expect("recorded");
        let _ = writeln!(out, "committed {batch}");
        let _ = out.flush();
    }
}

fn a_writer_killed_mid_batch_leaves_a_sound_file() {
    let _serial = serial();
    // Killed at different points of its loop: after a few batches, then
    // after waits that are not multiples of a batch's time, so that some
    // kills land inside a transaction.
    for (round, delay_ms) in [0u64, 3, 7, 11, 17].into_iter().enumerate() {
        kill_a_writer(round, Duration::from_millis(delay_ms));
    }
}

fn kill_a_writer(round: usize, delay: Duration) {
    let dir = ScratchDir::new("history-kill");
    let file = dir.path.join("history.sqlite");
    let me = std::env::current_exe().expect("this test binary");
    let child = Command::new(me)
        .args(["--exact", "history::recording_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_FILE, &file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the recording child");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("its stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ").and_then(|n| n.trim().parse::<u64>().ok()) {
                if sender.send(n).is_err() {
                    break;
                }
            }
        }
    });
    let mut committed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while committed.len() < 3 && Instant::now() < deadline {
        if let Ok(n) = receiver.recv_timeout(Duration::from_millis(200)) {
            committed.push(n);
        }
    }
    assert!(committed.len() >= 3, "round {round}: the child reported {} batches in 20 s", committed.len());
    std::thread::sleep(delay);
    // SAFETY: kill on the pid of our own child.
    unsafe { libc::kill(child.pid() as i32, libc::SIGKILL) };
    let _ = child.0.wait();
    committed.extend(receiver.try_iter());
    let (integrity, batches) = check_after_kill(&file);
    assert_eq!(integrity, "ok", "round {round}: integrity_check after kill -9");
    let last = *committed.iter().max().expect("batches");
    assert!(batches > last, "round {round}: batch {last} was committed but {batches} batches are in the file");
    // The lock went with the process: a new writer opens it.
    Recorder::open(&file, Retention::default()).expect("a new writer after kill -9").close().expect("closed");
}

/// `PRAGMA integrity_check` of the file, and how many batches are in it
/// (read through `berth history` itself).
fn check_after_kill(file: &Path) -> (String, u64) {
    let integrity: String = rusqlite::Connection::open(file)
        .and_then(|conn| conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)))
        .expect("integrity_check runs");
    let (code, events) = history_json(file, &["events", "--port", "8080"]);
    assert_eq!(code, 0);
    // Each batch's events carry the batch number as bytes_in; all 500 or none.
    let mut per_batch = std::collections::BTreeMap::<u64, u64>::new();
    for event in &events {
        *per_batch.entry(event["bytes_in"].as_u64().expect("bytes_in")).or_default() += 1;
    }
    assert!(per_batch.values().all(|n| *n == 500), "a batch is in the file in part");
    let batches = per_batch.keys().next_back().map_or(0, |last| last + 1);
    assert_eq!(per_batch.len() as u64, batches, "every batch up to the last is there");
    (integrity, batches)
}

tests![
    what_listened_at_a_time_and_who_owned_it,
    which_processes_ever_listened_beyond_loopback,
    the_busiest_peers_of_a_port,
    since_and_until_bound_the_events,
    bad_times_and_missing_files_are_refused,
    recording_child,
    a_writer_killed_mid_batch_leaves_a_sound_file,
];
