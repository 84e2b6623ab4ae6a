//! `berth watch` against real sockets: the loopback load generator
//! (`common::load`) opens and closes connections and listeners, the real
//! binary watches with `--json`, and each test checks port by port that
//! every socket was reported, exactly once, with the right ports, as root
//! and as an unprivileged user.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// How long a watch may take to print its `started` line.
const START_LIMIT: Duration = Duration::from_secs(10);

/// How long a watch may take to end after SIGINT.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The uid and gid of `nobody`, for the unprivileged runs.
const NOBODY: (u32, u32) = (65534, 65534);

/// A running `berth watch --json`: its events, collected on a thread as
/// they come; stopped with SIGINT (and killed by its pid if it overruns).
pub struct Watch {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// `berth watch --json ARGS` as the current user.
    pub fn start(args: &[&str]) -> Watch {
        Watch::start_as(args, &[], None)
    }

    /// As [`Watch::start`], with extra environment, as another uid/gid (root only).
    pub fn start_as(args: &[&str], env: &[(&str, &str)], user: Option<(u32, u32)>) -> Watch {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg("watch")
            .arg("--json")
            .args(args)
            .env_remove("BERTH_SOURCE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !args.iter().any(|a| a.starts_with("--history")) {
            command.arg("--no-history");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid).current_dir("/");
        }
        let mut child = command.spawn().expect("berth watch starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&events);
        // Both readers end when berth closes its pipes (at its exit, or when it is killed).
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| Value::String(format!("not JSON ({e}): {line}")));
                sink.lock().expect("events lock").push(value);
            }
        });
        let errors = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut all = errors.lock().expect("stderr lock");
                all.push_str(&line);
                all.push('\n');
            }
        });
        let watch = Watch { child, events, stderr, reader: Some(reader) };
        let started = poll_until(START_LIMIT, || watch.find(|e| e["kind"] == "started"));
        assert!(
            started.is_some(),
            "berth watch printed no started line within {START_LIMIT:?}; stderr: {}",
            watch.stderr()
        );
        watch
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// The first event so far for which `test` holds.
    pub fn find(&self, test: impl Fn(&Value) -> bool) -> Option<Value> {
        self.events.lock().expect("events lock").iter().find(|e| test(e)).cloned()
    }

    /// Waits up to `limit` for an event for which `test` holds.
    pub fn wait_for(&self, limit: Duration, test: impl Fn(&Value) -> bool) -> Option<Value> {
        poll_until(limit, || self.find(&test))
    }

    /// SIGINT, then the exit code and every event (the summary last).
    pub fn stop(mut self) -> (i32, Vec<Value>) {
        // SAFETY: our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + STOP_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("berth watch did not end within {STOP_LIMIT:?} of SIGINT; stderr: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "berth watch panicked: {stderr}");
        let events = std::mem::take(&mut *self.events.lock().expect("events lock"));
        for event in &events {
            assert!(event.is_object(), "a line that is not a JSON object: {event}");
        }
        (status.code().unwrap_or(-1), events)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The user the unprivileged runs are made as: nobody when the tests run as
/// root, else the tests' own user (already unprivileged).
fn unprivileged() -> Option<(u32, u32)> {
    is_root().then_some(NOBODY)
}

fn port_of(event: &Value, side: &str) -> Option<u64> {
    event[side]["port"].as_u64()
}

/// Counts of (kind, local port, remote port) among `events`.
fn tally(events: &[Value]) -> HashMap<(String, u64, u64), usize> {
    let mut counts = HashMap::new();
    for event in events {
        let kind = event["kind"].as_str().unwrap_or("").to_string();
        let local = port_of(event, "local").unwrap_or(0);
        let remote = port_of(event, "remote").unwrap_or(0);
        *counts.entry((kind, local, remote)).or_insert(0) += 1;
    }
    counts
}

/// Every connection of `load` reported exactly once at each end: one
/// close of the client end and one of the accepted end (each standing for
/// its open too when no dump saw it), at most one open each, and an open
/// only with a close that says the open was seen.
fn assert_every_connection_once(load: &Connections, events: &[Value]) {
    let server = u64::from(load.server.port());
    let counts = tally(events);
    let get =
        |kind: &str, local: u64, remote: u64| counts.get(&(kind.to_string(), local, remote)).copied().unwrap_or(0);
    // The kernel may hand a client port out again once its TIME_WAIT can be
    // reused (loopback allows it at once): a port used twice closes twice.
    let mut uses: HashMap<u64, usize> = HashMap::new();
    for &client in &load.client_ports {
        *uses.entry(u64::from(client)).or_insert(0) += 1;
    }
    let mut problems = Vec::new();
    for (&client, &times) in &uses {
        for (local, remote, end) in [(client, server, "client"), (server, client, "accepted")] {
            let closed = get("connection-closed", local, remote);
            let opened = get("connection-opened", local, remote);
            if closed != times || opened > times {
                problems.push(format!("{end} end {local}->{remote} (used {times}x): {opened} opened, {closed} closed"));
            }
        }
    }
    let missed = events.iter().filter(|e| e["kind"] == "missed").count();
    if let Some(first) = problems.first() {
        let port: u64 = first
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.split("->").next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let about: Vec<&Value> =
            events.iter().filter(|e| port_of(e, "local") == Some(port) || port_of(e, "remote") == Some(port)).collect();
        eprintln!("events about port {port}:\n{}", about.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
    }
    assert!(
        problems.is_empty(),
        "{} of {} connections not reported exactly once ({missed} missed spans), e.g.:\n{}",
        problems.len(),
        load.client_ports.len(),
        problems.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    for event in events.iter().filter(|e| e["kind"] == "connection-opened") {
        let (local, remote) = (port_of(event, "local").unwrap_or(0), port_of(event, "remote").unwrap_or(0));
        if local == server || remote == server {
            let close = events
                .iter()
                .find(|e| {
                    e["kind"] == "connection-closed"
                        && port_of(e, "local") == Some(local)
                        && port_of(e, "remote") == Some(remote)
                })
                .expect("checked above");
            assert_eq!(close["open_seen"], true, "an open was reported, so its close must say so: {close}");
        }
    }
}

/// The closes of the client ends: right addresses, the bytes the load sent.
fn assert_close_facts(load: &Connections, events: &[Value], v6: bool) {
    let server = u64::from(load.server.port());
    let loopback = if v6 { "::1" } else { "127.0.0.1" };
    // A close after the listener was seen (the first connections may close
    // before the first listener dump sees the listener they went to).
    let listener_seen =
        events.iter().position(|e| e["kind"] == "listener-opened" && port_of(e, "local") == Some(server)).unwrap_or(0);
    let close = events[listener_seen..]
        .iter()
        .find(|e| e["kind"] == "connection-closed" && port_of(e, "remote") == Some(server))
        .expect("a client end's close");
    assert_eq!(close["local"]["address"], loopback, "{close}");
    assert_eq!(close["remote"]["address"], loopback, "{close}");
    assert_eq!(close["protocol"], "tcp");
    assert_eq!(close["family"], if v6 { "ipv6" } else { "ipv4" });
    assert_eq!(close["bytes_out"], 4, "the load sends 4 bytes: {close}");
    let bytes_in = close["bytes_in"].as_u64().expect("bytes_in");
    assert!(bytes_in == 4 || bytes_in == 5, "4 bytes back (+1 for the FIN): {close}");
    if close["open_seen"] == false {
        assert_eq!(close["owners"], Value::Array(Vec::new()), "no owner invented: {close}");
        assert_eq!(close["uid"], Value::Null, "no uid invented: {close}");
        assert_eq!(close["listener"]["local"]["port"], server, "the listener it connected to: {close}");
    }
}

fn connections_at(per_second: u32, count: u32, v6: bool, user: Option<(u32, u32)>) {
    let _guard = serial();
    let watch = Watch::start_as(&[], &[], user);
    let load = short_connections(v6, per_second, count, Duration::from_secs(60));
    eprintln!(
        "load: {count} at {per_second}/s reached {:.0}/s, lifetime p99 {:?}",
        load.achieved_per_s, load.lifetime_p99
    );
    // Every close is in within a moment of the last one (latency is ms).
    let last = u64::from(*load.client_ports.last().expect("some connections"));
    let server = u64::from(load.server.port());
    watch.wait_for(Duration::from_secs(5), |e| {
        e["kind"] == "connection-closed" && port_of(e, "local") == Some(server) && port_of(e, "remote") == Some(last)
    });
    let (code, events) = watch.stop();
    assert_eq!(code, 0, "berth watch exit code");
    assert_every_connection_once(&load, &events);
    assert_close_facts(&load, &events, v6);
    let summary = events.last().expect("a summary");
    assert_eq!(summary["kind"], "summary", "the last line is the summary: {summary}");
    assert_documented(&events);
}

/// Every event has exactly the keys docs/json.md lists for its shape.
fn assert_documented(events: &[Value]) {
    let socket_keys = documented_fields("## `berth watch --json`");
    let own_keys: Vec<String> = ["time", "time_unix_us", "kind", "source"].map(String::from).to_vec();
    let own_objects = documented_fields("**berth's own events**");
    for event in events {
        let keys = keys_of(event);
        if event["source"] == "berth" {
            let object: Vec<&String> = keys.iter().filter(|k| !own_keys.contains(k)).collect();
            assert_eq!(object.len(), 1, "one object besides the common keys: {event}");
            assert!(own_objects.contains(object[0]), "undocumented {}: {event}", object[0]);
        } else {
            assert_eq!(keys, socket_keys, "the keys of an event about a socket: {event}");
        }
    }
}

fn every_connection_at_100_per_second() {
    connections_at(100, 200, false, None);
}

fn every_connection_at_1000_per_second() {
    connections_at(1000, 2000, false, None);
}

fn every_connection_over_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        skip("needs IPv6 on loopback (::1)");
    }
    connections_at(1000, 500, true, None);
}

fn every_connection_at_1000_per_second_unprivileged() {
    connections_at(1000, 2000, false, unprivileged());
}

/// Listeners living 1 ms, 100 ms and 2 s: each one listener-closed, with
/// its port; the 2 s one also opened, with its owner (this process).
fn listeners_short_and_long(user: Option<(u32, u32)>) {
    let _guard = serial();
    let watch = Watch::start_as(&["--listeners-only"], &[], user);
    let mut lives = short_listeners_with(5, Duration::from_millis(1), |_| {});
    lives.extend(short_listeners_with(3, Duration::from_millis(100), |_| {}));
    lives.extend(short_listeners_with(1, Duration::from_secs(2), |_| {}));
    let last = u64::from(lives.last().expect("listeners").port);
    watch.wait_for(Duration::from_secs(5), |e| e["kind"] == "listener-closed" && port_of(e, "local") == Some(last));
    let (_, events) = watch.stop();
    // Each listener claims its own close: by socket inode, or, for one never
    // seen open (the kernel names no inode then), the first unclaimed close
    // on its port after it began. Not by port alone: bind to port 0 may hand
    // a port out again once its listener closed.
    let of_listener = |kind: &str, inode: u64| {
        events.iter().filter(|e| e["kind"] == kind && e["inode"].as_u64() == Some(inode)).collect::<Vec<_>>()
    };
    let closes: Vec<&Value> = events.iter().filter(|e| e["kind"] == "listener-closed").collect();
    let mut claimed = vec![false; closes.len()];
    for life in &lives {
        let port = life.port;
        let opens = of_listener("listener-opened", life.inode);
        assert!(opens.len() <= 1, "listener {port} opened twice: {}", dump(&events));
        assert!(
            of_listener("listener-closed", life.inode).len() <= 1,
            "listener {port} closed twice: {}",
            dump(&events)
        );
        let mine = |e: &Value| {
            e["inode"].as_u64() == Some(life.inode)
                || (e["inode"].is_null()
                    && port_of(e, "local") == Some(u64::from(port))
                    && e["time_unix_us"].as_u64().is_some_and(|at| at >= life.opened_unix_us))
        };
        let index = (0..closes.len())
            .find(|&i| !claimed[i] && mine(closes[i]))
            .unwrap_or_else(|| panic!("listener {port} (lived {:?}) not seen closing: {}", life.lived, dump(&events)));
        claimed[index] = true;
        let closed = closes[index];
        assert_eq!(closed["local"]["address"], "127.0.0.1");
        if opens.len() == 1 {
            assert_eq!(closed["open_seen"], true, "{closed}");
            assert_eq!(closed["was_listening"], true, "{closed}");
        } else {
            assert_eq!(closed["open_seen"], false, "{closed}");
        }
    }
    // Nothing reported twice: no close left over on these ports while they
    // were in use (a second report would land within moments of the first).
    let first = lives.first().expect("listeners").opened_unix_us;
    let end = lives.last().expect("listeners").closed_unix_us + 500_000;
    let ours: Vec<u64> = lives.iter().map(|l| u64::from(l.port)).collect();
    let left_over: Vec<&&Value> = closes
        .iter()
        .zip(&claimed)
        .filter(|&(e, &taken)| {
            !taken
                && port_of(e, "local").is_some_and(|p| ours.contains(&p))
                && e["time_unix_us"].as_u64().is_some_and(|at| (first..=end).contains(&at))
        })
        .map(|(e, _)| e)
        .collect();
    assert!(left_over.is_empty(), "closes reported twice: {left_over:?}");
    let long = lives.last().expect("the 2 s listener");
    let opened = of_listener("listener-opened", long.inode)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("the 2 s listener {} was not seen opening: {}", long.port, dump(&events)));
    if user.is_none() {
        let pids = owner_pids(opened);
        assert_eq!(pids, vec![u64::from(std::process::id())], "its owner is this test: {opened}");
    }
    assert!(events.iter().all(|e| e["kind"] != "connection-closed"), "--listeners-only shows no connections");
}

fn listeners_living_1ms_100ms_and_2s() {
    listeners_short_and_long(None);
}

fn listeners_living_1ms_100ms_and_2s_unprivileged() {
    listeners_short_and_long(unprivileged());
}

/// 100,000 socket closes (50,000 connections) as fast as the machine goes:
/// every one reported, or the gap reported, and the stream goes on.
fn a_burst_of_100000_closes() {
    let _guard = serial();
    let watch = Watch::start(&[]);
    let load = burst(50_000, 4, Duration::from_secs(120));
    eprintln!("burst: {} connections at {:.0}/s", load.client_ports.len(), load.achieved_per_s);
    // The stream goes on: a listener after the burst is still seen closing.
    let after = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener after the burst");
    let after_port = u64::from(after.local_addr().expect("its address").port());
    std::thread::sleep(Duration::from_millis(300));
    drop(after);
    watch
        .wait_for(Duration::from_secs(90), |e| {
            e["kind"] == "listener-closed" && port_of(e, "local") == Some(after_port)
        })
        .unwrap_or_else(|| panic!("no event after the burst: the stream stopped; stderr: {}", watch.stderr()));
    let (code, events) = watch.stop();
    assert_eq!(code, 0);
    let server = u64::from(load.server.port());
    let closes = events
        .iter()
        .filter(|e| {
            e["kind"] == "connection-closed"
                && (port_of(e, "local") == Some(server) || port_of(e, "remote") == Some(server))
        })
        .count();
    let missed: Vec<&Value> = events.iter().filter(|e| e["kind"] == "missed").collect();
    eprintln!("burst: {closes} of {} closes reported, {} missed spans", load.client_ports.len() * 2, missed.len());
    // Port by port: every close there as often as the port was used, but
    // for those inside a reported gap (and none twice too many).
    let spans: Vec<(u64, u64)> = missed
        .iter()
        .map(|span| {
            let micros = |at: &Value| {
                humantime::parse_rfc3339(at.as_str().expect("a time"))
                    .expect("RFC 3339")
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after the epoch")
                    .as_micros() as u64
            };
            (micros(&span["missed"]["from"]), micros(&span["missed"]["to"]))
        })
        .collect();
    let counts = tally(&events);
    let mut uses: HashMap<u64, (usize, u64)> = HashMap::new();
    for (&port, &closed) in load.client_ports.iter().zip(&load.closed_unix_us) {
        let entry = uses.entry(u64::from(port)).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(closed);
    }
    let mut wrong = Vec::new();
    for (&client, &(times, closed_at)) in &uses {
        let in_gap = spans.iter().any(|&(from, to)| closed_at + 1_000_000 >= from && closed_at <= to + 1_000_000);
        for (local, remote) in [(client, server), (server, client)] {
            let got = counts.get(&("connection-closed".to_string(), local, remote)).copied().unwrap_or(0);
            if got > times || (got < times && !in_gap) {
                wrong.push(format!("{local}->{remote}: used {times}x, {got} closes"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} ends not reported right outside the gaps {spans:?}: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    assert_eq!(events.last().map(|e| e["kind"].clone()), Some(Value::from("summary")));
}

/// A listener that moves from 127.0.0.1 to 0.0.0.0 raises `exposed`, and
/// `--exec` gets the alert as JSON with the BERTH_* variables.
fn a_listener_moving_beyond_loopback_raises_exposed() {
    let _guard = serial();
    let dir = ScratchDir::new("watch-exec");
    let json_file = dir.path.join("alert.json");
    let vars_file = dir.path.join("vars");
    let exec = format!(
        "cat > '{}'; printf '%s %s %s' \"$BERTH_ALERT\" \"$BERTH_PORT\" \"$BERTH_PID\" > '{}'",
        json_file.display(),
        vars_file.display()
    );
    let watch = Watch::start(&["--alert", "exposed", "--exec", &exec]);
    let narrow = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback listener");
    let port = narrow.local_addr().expect("its address").port();
    watch.wait_for(Duration::from_secs(3), |e| {
        e["kind"] == "listener-opened" && port_of(e, "local") == Some(u64::from(port))
    });
    assert!(watch.find(|e| e["kind"] == "alert").is_none(), "a loopback listener raises nothing");
    drop(narrow);
    let wide = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).expect("the same port on 0.0.0.0");
    let alert = watch
        .wait_for(Duration::from_secs(3), |e| e["kind"] == "alert" && port_of(e, "local") == Some(u64::from(port)))
        .unwrap_or_else(|| panic!("no exposed alert; stderr: {}", watch.stderr()));
    assert_eq!(alert["alert"]["name"], "exposed", "{alert}");
    assert_eq!(alert["alert"]["event_kind"], "listener-opened");
    assert_eq!(alert["local"]["address"], "0.0.0.0");
    assert!(watch.find(|e| e["kind"] == "scope-changed" && e["previous"]["scope"] == "loopback").is_some());
    let written = poll_until(Duration::from_secs(5), || {
        let vars = std::fs::read_to_string(&vars_file).ok()?;
        (!vars.is_empty()).then_some(vars)
    })
    .expect("--exec ran");
    assert_eq!(written, format!("exposed {port} {}", std::process::id()));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_file).expect("the alert JSON"))
        .expect("--exec got JSON on stdin");
    assert_eq!(json["alert"]["name"], "exposed");
    assert_eq!(json["local"]["port"], port);
    drop(wide);
    let (code, _) = watch.stop();
    assert_eq!(code, 1, "exit 1 after an alert");
}

/// `--alert policy FILE`: a listener the policy does not expect raises
/// `policy`; one it expects does not.
fn a_listener_the_policy_does_not_expect_raises_policy() {
    let _guard = serial();
    let dir = ScratchDir::new("watch-policy");
    let expected = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let expected_port = expected.local_addr().expect("address").port();
    drop(expected);
    let policy =
        dir.write("policy.toml", format!("version = 2\n[[listener]]\nport = {expected_port}\nscope = \"loopback\"\n"));
    let watch = Watch::start(&["--alert", "policy", policy.to_str().expect("UTF-8 path")]);
    let fine = TcpListener::bind((Ipv4Addr::LOCALHOST, expected_port)).expect("the expected port again");
    let other = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("an unexpected listener");
    let other_port = u64::from(other.local_addr().expect("address").port());
    let alert = watch
        .wait_for(Duration::from_secs(3), |e| e["kind"] == "alert" && port_of(e, "local") == Some(other_port))
        .unwrap_or_else(|| panic!("no policy alert; stderr: {}", watch.stderr()));
    assert_eq!(alert["alert"]["name"], "policy");
    assert!(alert["alert"]["reason"].as_str().unwrap_or("").contains("no policy entry"), "{alert}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        watch.find(|e| e["kind"] == "alert" && port_of(e, "local") == Some(u64::from(expected_port))).is_none(),
        "the expected listener raised an alert"
    );
    drop((fine, other));
    watch.stop();
}

/// `--port` shows only that port's events.
fn the_port_filter_shows_only_that_port() {
    let _guard = serial();
    let wanted = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let port = wanted.local_addr().expect("address").port();
    let watch = Watch::start(&["--port", &port.to_string()]);
    let other = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("another listener");
    std::thread::sleep(Duration::from_millis(300));
    drop(other);
    drop(wanted);
    watch.wait_for(Duration::from_secs(3), |e| e["kind"] == "listener-closed");
    let (_, events) = watch.stop();
    let about_sockets: Vec<&Value> = events.iter().filter(|e| e["local"].is_object()).collect();
    assert!(!about_sockets.is_empty(), "the wanted listener's close is shown");
    for event in about_sockets {
        assert!(
            port_of(event, "local") == Some(u64::from(port)) || port_of(event, "remote") == Some(u64::from(port)),
            "an event about another port: {event}"
        );
    }
}

/// Values berth refuses, each with a message and exit 2.
fn bad_arguments_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["watch", "--interval", "10ms"], "interval"),
        (&["watch", "--interval", "soon"], "interval"),
        (&["watch", "--duration", "0"], "duration"),
        (&["watch", "--alert", "loud"], "alert"),
        (&["watch", "--alert", "policy"], "policy"),
        (&["watch", "--alert", "policy", "/nonexistent/policy.toml"], "policy file"),
        (&["watch", "--exec", "true"], "--alert"),
        (&["watch", "--port", "70000"], "port"),
    ];
    for (args, word) in cases {
        let (code, stdout, stderr) = run_berth(args, &[]);
        assert_eq!(code, 2, "berth {args:?}: exit {code}, stderr {stderr}");
        assert!(stderr.contains(word), "berth {args:?}: the message names {word}: {stderr}");
        assert!(!stderr.contains("panicked"));
        assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    }
    if !is_root() {
        let (code, _, stderr) = run_berth(&["watch", "--all-netns"], &[]);
        assert_eq!(code, 2);
        assert!(stderr.contains("needs root"), "{stderr}");
    }
}

/// `--duration` ends the watch by itself, with the summary; the text view
/// prints lines a person reads.
fn duration_ends_the_watch_with_a_summary() {
    let _guard = serial();
    let (code, stdout, stderr) = run_berth(&["watch", "--duration", "1s", "--no-history", "--color", "never"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.first().is_some_and(|l| l.contains("watching")), "{stdout}");
    assert!(lines.last().is_some_and(|l| l.contains("watched") && l.contains("nothing missed")), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colour with --color never");
}

/// `--all-netns` (root): a connection inside a namespace the test made is
/// reported, with that namespace's inode.
fn all_netns_sees_another_namespace() {
    require_root("entering other network namespaces");
    require_program("ip", "iproute2");
    let _guard = serial();
    let netns = NetnsGuard::create("watch");
    let watch = Watch::start(&["--all-netns"]);
    let load = in_netns(&netns, || short_connections(false, 200, 20, Duration::from_secs(20)));
    let server = u64::from(load.server.port());
    let last = u64::from(*load.client_ports.last().expect("connections"));
    let seen = watch
        .wait_for(Duration::from_secs(5), |e| {
            e["kind"] == "connection-closed"
                && port_of(e, "remote") == Some(server)
                && port_of(e, "local") == Some(last)
        })
        .unwrap_or_else(|| panic!("no close from the other namespace; stderr: {}", watch.stderr()));
    let own = std::fs::read_link("/proc/self/ns/net").expect("our netns").to_string_lossy().to_string();
    assert!(!own.contains(&seen["netns"].to_string()), "the close carries the other namespace's inode: {seen}");
    let (_, events) = watch.stop();
    assert_every_connection_once(&load, &events);
}

/// `--alert new`: a port first seen raises `new` once; the next run, which
/// reads the history, does not raise it again for that port.
fn a_port_first_seen_raises_new_once_across_runs() {
    let _guard = serial();
    let dir = ScratchDir::new("watch-new");
    let file = dir.path.join("history.sqlite");
    let history = file.to_str().expect("UTF-8 path");
    let first = Watch::start(&["--alert", "new", "--history", history]);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let port = u64::from(listener.local_addr().expect("address").port());
    let is_new = |e: &Value| e["kind"] == "alert" && e["alert"]["name"] == "new" && port_of(e, "local") == Some(port);
    first.wait_for(Duration::from_secs(3), is_new).unwrap_or_else(|| panic!("no new alert; {}", first.stderr()));
    let (code, events) = first.stop();
    assert_eq!(code, 1, "an alert was raised");
    assert_eq!(events.iter().filter(|e| is_new(e)).count(), 1, "once");

    // The next run: the port is not there at its start (so only the
    // history can know it), then is bound again.
    drop(listener);
    let second = Watch::start(&["--alert", "new", "--history", history]);
    let again = TcpListener::bind((Ipv4Addr::LOCALHOST, port as u16)).expect("the same port again");
    let other = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a port never seen");
    let other_port = u64::from(other.local_addr().expect("address").port());
    second
        .wait_for(Duration::from_secs(3), |e| e["kind"] == "alert" && port_of(e, "local") == Some(other_port))
        .unwrap_or_else(|| panic!("no new alert for a new port; {}", second.stderr()));
    second.wait_for(Duration::from_secs(3), |e| e["kind"] == "listener-opened" && port_of(e, "local") == Some(port));
    let (_, events) = second.stop();
    assert!(events.iter().all(|e| !is_new(e)), "the port the history knows raised new again: {}", dump(&events));
    drop((again, other));
}

/// `kill -9` of a watch that is recording: the file is sound, and every
/// event it printed more than a second before the kill is in it.
fn kill_9_loses_at_most_the_last_second() {
    let _guard = serial();
    let dir = ScratchDir::new("watch-kill");
    let file = dir.path.join("history.sqlite");
    let watch = Watch::start(&["--history", file.to_str().expect("UTF-8 path")]);
    let load = std::thread::spawn(|| short_connections(false, 200, 800, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(2500));
    let killed_at = std::time::SystemTime::now();
    // SAFETY: our own child, not yet reaped.
    unsafe { libc::kill(watch.pid() as libc::pid_t, libc::SIGKILL) };
    let load = load.join().expect("the load thread");
    let printed: Vec<Value> = watch.events.lock().expect("events lock").clone();
    drop(watch);
    let cutoff = killed_at
        .checked_sub(Duration::from_secs(1))
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_micros() as u64)
        .expect("a time after the epoch");
    let server = u64::from(load.server.port());
    let before: Vec<u64> = printed
        .iter()
        .filter(|e| e["kind"] == "connection-closed" && port_of(e, "remote") == Some(server))
        .filter(|e| e["time_unix_us"].as_u64().is_some_and(|t| t < cutoff))
        .filter_map(|e| port_of(e, "local"))
        .collect();
    assert!(before.len() > 100, "the watch printed closes before the kill: {}", before.len());
    let db = rusqlite::Connection::open(&file).expect("the history opens after kill -9");
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok");
    let mut query = db
        .prepare("SELECT local_port FROM events WHERE kind = 'connection-closed' AND remote_port = ?1")
        .expect("a query of the events");
    let recorded: std::collections::HashSet<u64> = query
        .query_map([server as i64], |row| row.get::<_, i64>(0))
        .expect("rows")
        .filter_map(Result::ok)
        .map(|p| p as u64)
        .collect();
    let lost: Vec<&u64> = before.iter().filter(|p| !recorded.contains(p)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} closes printed over a second before the kill are not in the file",
        lost.len(),
        before.len()
    );
}

/// Connections whose client end closes with a reset (SO_LINGER 0): the
/// kernel clears that end's addresses in its message, and both ends are
/// still reported once, with whole addresses.
fn connections_closed_with_a_reset_are_reported_whole() {
    let _guard = serial();
    let watch = Watch::start(&[]);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let server = listener.local_addr().expect("address");
    let mut clients = Vec::new();
    for _ in 0..50 {
        let client = std::net::TcpStream::connect(server).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        clients.push(u64::from(client.local_addr().expect("address").port()));
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: setsockopt on a descriptor the stream owns, with a linger struct.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&client),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_LINGER");
        drop(client);
        drop(accepted);
    }
    let server_port = u64::from(server.port());
    let last = *clients.last().expect("clients");
    watch.wait_for(Duration::from_secs(5), |e| {
        e["kind"] == "connection-closed"
            && port_of(e, "local") == Some(last)
            && port_of(e, "remote") == Some(server_port)
    });
    let (_, events) = watch.stop();
    let counts = tally(&events);
    let get =
        |local: u64, remote: u64| counts.get(&("connection-closed".to_string(), local, remote)).copied().unwrap_or(0);
    let wrong: Vec<String> = clients
        .iter()
        .flat_map(|&c| [(c, server_port), (server_port, c)])
        .filter(|&(l, r)| get(l, r) != 1)
        .map(|(l, r)| format!("{l}->{r}: {}", get(l, r)))
        .collect();
    assert!(wrong.is_empty(), "ends not reported once: {wrong:?}\n{}", dump(&events));
    let reset = events
        .iter()
        .find(|e| e["kind"] == "connection-closed" && port_of(e, "remote") == Some(server_port))
        .expect("a client end");
    assert_eq!(reset["local"]["address"], "127.0.0.1", "whole addresses: {reset}");
}

/// The same four addresses twice, each connection living through a dump:
/// two opens and two closes, the second connection not taken for the first.
fn the_same_four_addresses_twice_are_two_connections() {
    let _guard = serial();
    let watch = Watch::start(&["--interval", "200ms"]);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let server = listener.local_addr().expect("address");
    let client_port = {
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
        probe.local_addr().expect("address").port()
    };
    for _ in 0..2 {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket
            .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, client_port)).into())
            .expect("bind the client port");
        socket.connect(&server.into()).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        std::thread::sleep(Duration::from_millis(600));
        // The server closes first, so the TIME_WAIT is on its side and the
        // client's port can connect to it again at once.
        drop(accepted);
        std::thread::sleep(Duration::from_millis(50));
        drop(socket);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (client, server_port) = (u64::from(client_port), u64::from(server.port()));
    std::thread::sleep(Duration::from_millis(300));
    let (_, events) = watch.stop();
    let counts = tally(&events);
    let get = |kind: &str| counts.get(&(kind.to_string(), client, server_port)).copied().unwrap_or(0);
    assert_eq!((get("connection-opened"), get("connection-closed")), (2, 2), "{}", dump(&events));
    for close in events.iter().filter(|e| e["kind"] == "connection-closed" && port_of(e, "local") == Some(client)) {
        assert_eq!(close["open_seen"], true, "each lived through a dump: {close}");
        let lived = close["lifetime"]["at_least_ms"].as_f64().unwrap_or(0.0);
        assert!(lived < 2000.0, "the second is not the first going on: {close}");
    }
}

/// A listener handed on (here: the test forks a child that keeps it, then
/// closes its own copy) is an `owner-changed` event naming who held it before.
fn a_listener_handed_to_another_process_changes_owner() {
    let _guard = serial();
    let watch = Watch::start(&["--interval", "200ms"]);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let port = u64::from(listener.local_addr().expect("address").port());
    // SAFETY: the child does nothing but hold the listener until killed.
    let child = unsafe { fork_child(&[std::os::fd::AsRawFd::as_raw_fd(&listener)], || {}) };
    watch.wait_for(Duration::from_secs(3), |e| e["kind"] == "listener-opened" && port_of(e, "local") == Some(port));
    std::thread::sleep(Duration::from_millis(400));
    drop(listener);
    let changed = watch
        .wait_for(Duration::from_secs(3), |e| e["kind"] == "owner-changed" && port_of(e, "local") == Some(port))
        .unwrap_or_else(|| panic!("no owner-changed; stderr: {}", watch.stderr()));
    assert_eq!(owner_pids(&changed), vec![child.pid()], "the child holds it now: {changed}");
    let before: Vec<u64> = changed["previous"]["owners"]
        .as_array()
        .map(|o| o.iter().filter_map(|o| o["pid"].as_u64()).collect())
        .unwrap_or_default();
    assert!(before.contains(&u64::from(std::process::id())), "it names the test as the owner before: {changed}");
    drop(child);
    watch.stop();
}

tests![
    every_connection_at_100_per_second,
    every_connection_at_1000_per_second,
    every_connection_over_ipv6,
    every_connection_at_1000_per_second_unprivileged,
    listeners_living_1ms_100ms_and_2s,
    listeners_living_1ms_100ms_and_2s_unprivileged,
    a_burst_of_100000_closes,
    a_listener_moving_beyond_loopback_raises_exposed,
    a_listener_the_policy_does_not_expect_raises_policy,
    the_port_filter_shows_only_that_port,
    bad_arguments_are_refused,
    duration_ends_the_watch_with_a_summary,
    all_netns_sees_another_namespace,
    a_port_first_seen_raises_new_once_across_runs,
    kill_9_loses_at_most_the_last_second,
    connections_closed_with_a_reset_are_reported_whole,
    the_same_four_addresses_twice_are_two_connections,
    a_listener_handed_to_another_process_changes_owner,
];
