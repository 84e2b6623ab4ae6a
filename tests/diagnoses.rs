//! Diagnoses a new user meets (issue 11): a listener whose accept queue is
//! full, as `doctor`, `probe`, `scan` and `ls -a` report it (both socket
//! sources); HTTP asked of a silent server on any port (python's
//! http.server on a run-time port) and servers of other protocols that
//! close, answer garbage or say nothing; `ls -a --port` listing the
//! listener first.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::http::read_request_head;
use crate::common::*;
use serde_json::Value;

/// The listen() backlog of the stuck listener.
const BACKLOG: u32 = 16;

/// A listener on 127.0.0.1 that never accepts, with its accept queue
/// full: the connections the kernel queued for it (held open here) and
/// the backlog it was given.
pub(crate) struct FullQueue {
    _listener: TcpListener,
    pub(crate) port: u16,
    _clients: Vec<TcpStream>,
    waiting: u32,
}

/// listen(backlog 16) and connect until a connect times out: the kernel
/// queues connections up to one over the backlog (it is full when the
/// queue is longer than the backlog), then drops every SYN. Bounded: at
/// most 64 connects of 300 ms each.
pub(crate) fn full_accept_queue() -> FullQueue {
    let (listener, port) = listener_v4();
    // listen() again on a listening socket sets its backlog (Linux).
    // SAFETY: a plain call on a descriptor the listener owns.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG as libc::c_int) };
    assert_eq!(rc, 0, "listen(16): {}", std::io::Error::last_os_error());
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut clients = Vec::new();
    let mut dropped = false;
    for _ in 0..64 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(stream) => clients.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                dropped = true;
                break;
            }
            Err(e) => panic!("connect to the stuck listener: {e}"),
        }
    }
    assert!(dropped, "64 connects to a listener with backlog {BACKLOG} that never accepts all succeeded");
    let waiting = clients.len() as u32;
    assert!(waiting > BACKLOG, "the queue took {waiting} connections, not more than its backlog of {BACKLOG}");
    FullQueue { _listener: listener, port, _clients: clients, waiting }
}

/// This process's name (comm), as berth names the listener's holder.
fn own_name() -> String {
    std::fs::read_to_string("/proc/self/comm").expect("/proc/self/comm").trim().to_string()
}

fn doctor_names_a_full_accept_queue() {
    let _serial = serial();
    let queue = full_accept_queue();
    let (code, stdout, stderr) = run_berth(&["doctor", &queue.port.to_string(), "--json"], &[]);
    assert_eq!(code, 1, "a full accept queue is a problem\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "port.accept_queue")
        .unwrap_or_else(|| panic!("no port.accept_queue check: {report:#}"));
    assert_eq!(check["status"], "fail", "{check:#}");
    let summary = check["summary"].as_str().unwrap();
    let expected = format!(
        "accept queue full on 127.0.0.1:{}: {} waiting connections over a backlog of {BACKLOG}; pid {} ({}) is not \
         accepting (stuck or overloaded)",
        queue.port,
        queue.waiting,
        std::process::id(),
        own_name()
    );
    assert_eq!(summary, expected);
    assert!(check["fix"].as_str().is_some_and(|f| f.contains("restart it")), "{check:#}");

    let (_, text, _) = run_berth(&["doctor", &queue.port.to_string()], &[]);
    assert!(text.contains("accept queue full"), "{text}");
    assert!(!text.contains("no problems found"), "{text}");
}

fn probe_says_the_accept_queue_is_full() {
    let _serial = serial();
    let queue = full_accept_queue();
    let target = format!("127.0.0.1:{}", queue.port);
    let started = Instant::now();
    let (code, report) = probe_json(&[&target, "-w", "0.5"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, 1, "{report:#}");
    let entry = at(&report, "127.0.0.1");
    assert_eq!(entry["state"], "timed_out", "{report:#}");
    let why = &entry["accept_queue"];
    assert_eq!(why["full"], true, "{report:#}");
    assert_eq!(why["waiting"], queue.waiting);
    assert_eq!(why["backlog"], BACKLOG);
    assert_eq!(why["holders"][0]["pid"], std::process::id());

    let (code, stdout, _) = run_berth(&["probe", &target, "-w", "0.5"], &[]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains(&format!(
            "timed out    (the listener's accept queue is full: {} waiting connections over a backlog of {BACKLOG}; \
             pid {}",
            queue.waiting,
            std::process::id()
        )),
        "{stdout}"
    );
}

fn scan_reports_open_but_not_accepting_not_filtered() {
    let _serial = serial();
    let queue = full_accept_queue();
    let port = queue.port.to_string();
    let (code, stdout, stderr) = run_berth(&["scan", "127.0.0.1", "-p", &port, "-w", "0.5", "--json"], &[]);
    assert_eq!(code, 0, "a port that is open but not accepting is found\n{stdout}\n{stderr}");
    let entries = parse_array(&stdout, &["scan"]);
    assert_eq!(entries.len(), 1, "{stdout}");
    assert_eq!(entries[0]["state"], "open|not-accepting", "{stdout}");
    assert_eq!(entries[0]["accept_queue"]["waiting"], queue.waiting);
    assert_eq!(entries[0]["owners"][0]["pid"], std::process::id());
    assert!(!stderr.contains("firewall"), "not blamed on a firewall: {stderr}");
    assert!(stderr.contains("accept queue is full"), "{stderr}");

    let (_, text, _) = run_berth(&["scan", "127.0.0.1", "-p", &port, "-w", "0.5"], &[]);
    assert!(text.contains("1 open but not accepting"), "{text}");
    assert!(text.contains("open|not-accepting"), "{text}");
}

/// The LISTEN row of `ls -a --port P` (table), split in words.
fn listen_row(port: u16, source: &str) -> Vec<String> {
    let (code, stdout, stderr) = run_berth(&["ls", "-a", "--port", &port.to_string(), "--source", source], &[]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("LISTEN"))
        .unwrap_or_else(|| panic!("no LISTEN row: {stdout}"));
    line.split_whitespace().map(str::to_string).collect()
}

fn ls_shows_the_accept_queue_and_backlog_from_both_sources() {
    let _serial = serial();
    let queue = full_accept_queue();
    let port = queue.port.to_string();
    // Netlink: Recv-Q is the accept queue, Send-Q the backlog, as ss shows.
    let row = listen_row(queue.port, "netlink");
    assert_eq!(row[2], queue.waiting.to_string(), "Recv-Q: {row:?}");
    assert_eq!(row[3], BACKLOG.to_string(), "Send-Q is the backlog: {row:?}");
    let sockets = ls_json(&["-a", "--port", &port, "--source", "netlink"]);
    let listener = &find_by(&sockets, "tcp", queue.port, "LISTEN")[0];
    assert_eq!(listener["recv_queue"], queue.waiting);
    assert_eq!(listener["listen_backlog"], BACKLOG);

    // /proc/net/tcp has the queue but not the backlog: '-' and null.
    let row = listen_row(queue.port, "proc");
    assert_eq!(row[2], queue.waiting.to_string(), "Recv-Q from /proc: {row:?}");
    assert_eq!(row[3], "-", "/proc does not carry the backlog: {row:?}");
    let sockets = ls_json(&["-a", "--port", &port, "--source", "proc"]);
    let listener = &find_by(&sockets, "tcp", queue.port, "LISTEN")[0];
    assert_eq!(listener["recv_queue"], queue.waiting);
    assert_eq!(listener["listen_backlog"], Value::Null);

    // doctor from /proc cannot compare with the backlog, but still warns.
    let (code, stdout, _) = run_berth(&["doctor", &port, "--source", "proc"], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("the backlog is not known"), "{stdout}");
}

fn ls_port_lists_the_listener_first() {
    let _serial = serial();
    // Two ports from the kernel: the lower one for the client's end, so
    // that sorting by local port alone would put it before the listener.
    let (first, first_port) = listener_v4();
    let (second, second_port) = listener_v4();
    let (server, port, spare, client_port) = if first_port > second_port {
        (first, first_port, second, second_port)
    } else {
        (second, second_port, first, first_port)
    };
    drop(spare); // frees the lower port for the client to bind
    let client = bound_client(client_port, port);
    let (accepted, _) = server.accept().expect("accept");

    let (code, stdout, stderr) = run_berth(&["ls", "-a", "--tcp", "--port", &port.to_string()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let states: Vec<&str> = stdout.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(states.first(), Some(&"LISTEN"), "the listener leads:\n{stdout}");
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(rows[1].contains(&format!(" {port} ")), "then the server's end of the connection:\n{stdout}");
    assert!(rows[2].contains(&format!(" {client_port} ")), "then the client's:\n{stdout}");
    drop((client, accepted));
}

/// A client bound to `local` (127.0.0.1) connected to `port`.
fn bound_client(local: u16, port: u16) -> TcpStream {
    // SAFETY: plain socket calls on a descriptor handed to TcpStream.
    unsafe {
        use std::os::fd::FromRawFd;
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let stream = TcpStream::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sockaddr = |port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
            sin_zero: [0; 8],
        };
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let here = sockaddr(local);
        assert_eq!(libc::bind(fd, (&here as *const libc::sockaddr_in).cast(), size), 0, "bind {local}");
        let there = sockaddr(port);
        assert_eq!(libc::connect(fd, (&there as *const libc::sockaddr_in).cast(), size), 0, "connect {port}");
        stream
    }
}

fn probe_asks_http_of_python_http_server_on_any_port() {
    let _serial = serial();
    let python = require_program("python3", "python3");
    let dir = ScratchDir::new("probe-http");
    dir.write("index.html", "hello\n");
    let mut command = Command::new(python);
    command
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(&dir.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = KillOnDrop(command.spawn().expect("start python3 -m http.server"));
    let stdout = child.0.stdout.take().expect("stdout");
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let line = first_line(stdout, Duration::from_secs(10)).expect("http.server says its port");
    let port: u16 = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));

    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["plan"], "banner+http");
    let http = &at(&report, "127.0.0.1")["http"];
    assert_eq!(http["method"], "HEAD", "{report:#}");
    assert_eq!(http["status"], 200, "{report:#}");
    assert!(http["server"].as_str().is_some_and(|s| s.starts_with("SimpleHTTP")), "{report:#}");

    let (_, text, _) = run_berth(&["probe", &format!("127.0.0.1:{port}")], &[]);
    assert!(text.contains(&format!("HEAD http://127.0.0.1:{port}/ → 200 OK, server SimpleHTTP")), "{text}");
    drop(child);
}

/// A silent server of another protocol: reads what the probe sends, then
/// does what `answer` says with the stream.
fn other_protocol(answer: fn(&mut TcpStream)) -> (ServerThread, u16) {
    let (listener, port) = listener_v4();
    let server = ServerThread::start(listener, 1, move |mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
        let mut first = [0u8; 1];
        if stream.read(&mut first).unwrap_or(0) == 0 {
            return;
        }
        answer(&mut stream);
    });
    (server, port)
}

fn binary_services_asked_http_are_reported_sensibly() {
    let _serial = serial();
    // Answers in its own binary protocol and keeps the connection open.
    let (server, port) = other_protocol(|stream| {
        use std::io::Write;
        let _ = stream.write_all(b"\x00\x00\x00\x08\xffSRV\x01");
        std::thread::sleep(Duration::from_millis(1500));
    });
    let started = Instant::now();
    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}"), "-w", "2"]);
    assert!(started.elapsed() < Duration::from_millis(1400), "not HTTP is known from the first bytes");
    assert_eq!(code, 0);
    let error = at(&report, "127.0.0.1")["http"]["error"].as_str().unwrap_or_default().to_string();
    assert_eq!(error, r#"not an HTTP answer: "\u{0}\u{0}\u{0}\u{8}\xffSRV\u{1}""#, "{report:#}");
    drop(server);

    // Hangs up on what it does not understand (with the request unread: a reset).
    let (server, port) = other_protocol(|_| {});
    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0);
    assert_eq!(
        at(&report, "127.0.0.1")["http"]["error"],
        "the server reset the connection without an HTTP answer",
        "{report:#}"
    );
    drop(server);

    // Says nothing at all: the probe ends by its deadline.
    let (server, port) = other_protocol(|stream| {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let started = Instant::now();
    let (code, report) = probe_json(&[&format!("127.0.0.1:{port}"), "-w", "1"]);
    assert!(started.elapsed() < Duration::from_secs(5), "the probe outlived its deadline");
    assert_eq!(code, 0);
    assert_eq!(at(&report, "127.0.0.1")["http"]["error"], "timed out: no HTTP answer in time", "{report:#}");
    drop(server);

    // The request the silent server was sent: one HTTP HEAD, nothing else.
    let (listener, port) = listener_v4();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = ServerThread::start(listener, 1, move |mut stream| {
        *record.lock().unwrap() = read_request_head(&mut stream);
    });
    let _ = probe_json(&[&format!("127.0.0.1:{port}"), "-w", "1"]);
    drop(server);
    let head = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(head.starts_with("HEAD / HTTP/1.1\r\n"), "{head:?}");
}

tests![
    doctor_names_a_full_accept_queue,
    probe_says_the_accept_queue_is_full,
    scan_reports_open_but_not_accepting_not_filtered,
    ls_shows_the_accept_queue_and_backlog_from_both_sources,
    ls_port_lists_the_listener_first,
    probe_asks_http_of_python_http_server_on_any_port,
    binary_services_asked_http_are_reported_sensibly,
];
