//! `berth listen` / `berth connect` deliver every byte both ways and fail
//! loudly when they cannot (issue 9 item 12); `berth echo` frees idle and
//! stalled TCP clients and bounds its memory (item 11), and does not loop
//! on spoofed UDP datagrams (item 4).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// Writes `len` deterministic pseudo-random bytes (xorshift, 8 at a time)
/// to `path` and returns them.
fn random_file(path: &std::path::Path, len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, &data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    data
}

/// Waits (at most `limit`) for a child to exit; kills it and panics if it does not.
fn wait_exit(child: &mut Child, what: &str, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `berth connect ARGS < stdin`, run to its end (at most 60 s).
fn connect_from(args: &[&str], stdin: Stdio) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.arg("connect").args(args).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    run_within(command, &format!("berth connect {args:?}"), Duration::from_secs(60))
}

/// The README's own example, as a script runs it: `berth listen PORT >
/// received.bin &` (a background job: stdin is /dev/null, so listen
/// half-closes at once) and `berth connect PORT < file.bin`. Every byte
/// must arrive and both must exit 0; before the fix connect ended at
/// listen's half-close and delivered a random part of the file.
fn readme_listen_and_connect_deliver_every_byte() {
    let _serial = serial();
    isolated("bridge-readme", readme_listen_and_connect_deliver_every_byte_here);
}

fn readme_listen_and_connect_deliver_every_byte_here() {
    let dir = ScratchDir::new("bridge-readme");
    for (round, size) in [5_000_000usize, 5_000_000, 5_000_000, 100 << 20].into_iter().enumerate() {
        let file = dir.path.join(format!("file-{round}.bin"));
        let data = random_file(&file, size, 0xb1d9e + round as u64);
        let received = dir.path.join(format!("received-{round}.bin"));
        let out = File::create(&received).unwrap();
        let (mut listen, line, _stderr) =
            start_berth_with(&["listen", "0"], "listening on tcp", Stdio::null(), out.into());
        let port = port_in(&line, "tcp").to_string();
        let connect = connect_from(&[&port], File::open(&file).unwrap().into());
        let listen_status = wait_exit(&mut listen.0, "berth listen", Duration::from_secs(30));
        let got = std::fs::read(&received).unwrap();
        assert!(
            got.len() == data.len() && got == data,
            "round {round}: {} of {} bytes arrived (connect said {:?})",
            got.len(),
            data.len(),
            connect.stderr
        );
        assert_eq!(connect.code, 0, "connect: {}", connect.stderr);
        assert_eq!(listen_status.code(), Some(0), "listen");
    }
}

/// A server that shuts its sending side right after accept and then reads
/// everything: connect must send all of stdin (it used to send nothing),
/// close its stdout as soon as the server's side ends (a reader of its
/// output sees EOF then, while berth still sends), and exit 0.
fn connect_sends_everything_to_a_server_that_half_closes_at_once() {
    let _serial = serial();
    isolated("bridge-connect", connect_sends_everything_to_a_server_that_half_closes_at_once_here);
}

fn connect_sends_everything_to_a_server_that_half_closes_at_once_here() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = random_bytes(20 << 20, 7);
    let expected = data.clone();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"hello\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("berth half-closes when its stdin ends");
        got == expected
    });
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["connect", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    let printed = read_within(child.0.stdout.take().unwrap(), Duration::from_secs(30), "berth connect's output");
    assert_eq!(printed, "hello\n");
    assert!(child.0.try_wait().unwrap().is_none(), "berth ended with its stdin still open");
    let writer = std::thread::spawn(move || stdin.write_all(&data).map(|_| drop(stdin)));
    let status = wait_exit(&mut child.0, "berth connect", Duration::from_secs(60));
    writer.join().unwrap().expect("berth read all of its stdin");
    let mut stderr = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(server.join().unwrap(), "the server got every byte, in order: {stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// The same from the listening side: a client that half-closes at once
/// gets all of `berth listen < file`.
fn listen_sends_everything_to_a_client_that_half_closes_at_once() {
    let _serial = serial();
    isolated("bridge-listen", listen_sends_everything_to_a_client_that_half_closes_at_once_here);
}

fn listen_sends_everything_to_a_client_that_half_closes_at_once_here() {
    let dir = ScratchDir::new("bridge-listen");
    let file = dir.path.join("file.bin");
    let data = random_file(&file, 20 << 20, 11);
    let (mut listen, line, _stderr) =
        start_berth_with(&["listen", "0"], "listening on tcp", File::open(&file).unwrap().into(), Stdio::null());
    let port = port_in(&line, "tcp");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap();
    assert!(got == data, "{} of {} bytes arrived", got.len(), data.len());
    let status = wait_exit(&mut listen.0, "berth listen", Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

/// Closes `stream` with a reset (SO_LINGER 0): whatever it had not read is thrown away.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// A peer that resets the connection before it has everything: berth
/// exits 3 and says what was not sent, whether the reset comes while it
/// sends, after the peer half-closed, or after berth's last write while
/// the bytes still wait for the peer's acknowledgement. ncat and socat
/// exit 1 here; berth used to exit 0.
fn a_reset_before_everything_arrived_is_an_error() {
    let _serial = serial();
    isolated("bridge-reset", a_reset_before_everything_arrived_is_an_error_here);
}

fn a_reset_before_everything_arrived_is_an_error_here() {
    let dir = ScratchDir::new("bridge-reset");
    let big = dir.path.join("big.bin");
    random_file(&big, 20 << 20, 3);
    let small = dir.path.join("small.bin");
    random_file(&small, 64 << 10, 4);

    for (case, half_close_first) in [("reset while reading", false), ("reset after a half-close", true)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            if half_close_first {
                stream.shutdown(Shutdown::Write).unwrap();
            }
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buffer = vec![0u8; 64 << 10];
            let mut read = 0;
            while read < 1 << 20 {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            reset(stream);
        });
        let out = connect_from(&[&port.to_string()], File::open(&big).unwrap().into());
        server.join().unwrap();
        assert_eq!(out.code, 3, "{case}: {}", out.stderr);
        assert!(out.stderr.contains("reset") && out.stderr.contains("not"), "{case}: {}", out.stderr);
        assert_eq!(out.stderr.lines().filter(|l| !l.contains("connected to")).count(), 1, "{case}: {}", out.stderr);
    }

    // The peer half-closes, never reads (a tiny receive window) and resets
    // once berth has read all of its stdin: the 64 KiB may all be in
    // berth's send queue by then, so only waiting for the acknowledgement
    // tells that they never arrived.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(1).unwrap();
    let listener: TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", &port.to_string()])
        .stdin(File::open(&small).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let fdinfo = format!("/proc/{}/fdinfo/0", child.id());
    let read_all = poll_until(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&fdinfo).ok()?;
        let pos: u64 = text.lines().find_map(|l| l.strip_prefix("pos:"))?.trim().parse().ok()?;
        (pos == 64 << 10).then_some(())
    });
    assert!(read_all.is_some(), "berth read its stdin (or exited early: {:?})", child.try_wait());
    assert!(child.try_wait().unwrap().is_none(), "berth exited before the peer took its bytes");
    reset(stream);
    let status = wait_exit(&mut child, "berth connect", Duration::from_secs(10));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("reset") || stderr.contains("acknowledged"), "{stderr}");
}

/// UDP: `berth listen -u` whose peer went away (its port now closed)
/// cannot deliver what it reads on stdin: exit 3 and say so, not 0.
fn udp_listen_reports_a_datagram_not_delivered() {
    let _serial = serial();
    let (mut listen, line, _stderr) = start_berth(&["listen", "-u", "0", "-w", "5"], "listening on udp");
    let port = port_in(&line, "udp");
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"hello", ("127.0.0.1", port)).unwrap();
    let mut first = [0u8; 5];
    listen.0.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"hello");
    drop(peer);
    let mut stdin = listen.0.stdin.take().unwrap();
    stdin.write_all(b"are you there?").unwrap();
    stdin.flush().unwrap();
    let status = wait_exit(&mut listen.0, "berth listen -u", Duration::from_secs(10));
    drop(stdin);
    assert_eq!(status.code(), Some(3));
}

/// The two ways a session ends before both directions are done, both the
/// user's choice: `--idle-timeout` (nothing moved: exit 5, and it says
/// so), and a terminal on stdin, where the peer's end is enough (nothing
/// typed waits to be sent; ncat does the same).
fn idle_timeout_and_a_terminal_end_a_session_early() {
    let _serial = serial();
    isolated("bridge-idle", idle_timeout_and_a_terminal_end_a_session_early_here);
}

fn idle_timeout_and_a_terminal_end_a_session_early_here() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["connect", &port.to_string(), "--idle-timeout", "0.5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let _silent = listener.accept().unwrap();
    let started = Instant::now();
    let status = wait_exit(&mut child.0, "berth connect --idle-timeout", Duration::from_secs(10));
    let mut stderr = String::new();
    child.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("--idle-timeout"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "ended {:?} after the timeout", started.elapsed());

    // stdin a terminal (a pseudo-terminal nobody types on), the peer says
    // goodbye and closes: berth ends at once, exit 0.
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors we then own.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are ours, each owned once.
    let (_master, slave) = unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(master), File::from_raw_fd(slave))
    };
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["connect", &port.to_string()])
            .stdin(slave)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (mut stream, _) = listener.accept().unwrap();
    stream.write_all(b"bye\n").unwrap();
    drop(stream);
    let printed = read_within(child.0.stdout.take().unwrap(), Duration::from_secs(10), "berth connect's output");
    assert_eq!(printed, "bye\n");
    let status = wait_exit(&mut child.0, "berth connect on a terminal", Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

/// Keeps reading a child's stderr on a thread (so a chatty server never
/// blocks on a full pipe); returns what it said so far, on demand.
fn collect(stderr: BufReader<ChildStderr>) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

fn said(text: &Arc<Mutex<String>>) -> String {
    text.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A /proc/PID/status field in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How many descriptors a process has open.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Does `client` get its bytes echoed (within half a second)?
fn echoed(port: u16, probe: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    if stream.write_all(probe).is_err() {
        return false;
    }
    let mut back = vec![0u8; probe.len()];
    stream.read_exact(&mut back).is_ok() && back == probe
}

/// Idle clients are closed after --idle-timeout, each one logged, and at
/// the cap they cannot keep a new client out: with 20 idle clients holding
/// every slot of `--max-clients 20`, a 21st is served at once, and the
/// idle client that came first is closed to make room for it. (Before,
/// idle clients were never closed and the 21st waited forever.)
fn echo_closes_idle_clients_so_new_ones_are_served() {
    let _serial = serial();
    isolated("echo-idle", echo_closes_idle_clients_so_new_ones_are_served_here);
}

fn echo_closes_idle_clients_so_new_ones_are_served_here() {
    const IDLE: Duration = Duration::from_secs(2);
    let (server, line, stderr) =
        start_berth(&["echo", "0", "--tcp", "--max-clients", "20", "--idle-timeout", "2"], "echoing on");
    let log = collect(stderr);
    let port = port_in(&line, "tcp");
    let pid = server.0.id();
    let base_fds = fd_count(pid);
    // Connected (and accepted, and admitted) in order, each noted when.
    let idle: Vec<(TcpStream, Instant)> =
        (0..20).map(|_| (TcpStream::connect(("127.0.0.1", port)).unwrap(), Instant::now())).collect();
    let first = idle[0].0.local_addr().unwrap();
    assert!(echoed(port, b"ping"), "the 21st client is served at once:\n{}", said(&log));
    let made_room = poll_until(Duration::from_secs(5), || {
        said(&log).lines().find(|l| l.contains("to make room")).map(str::to_string)
    });
    let made_room = made_room.unwrap_or_else(|| panic!("a client was closed to make room:\n{}", said(&log)));
    assert!(made_room.contains(&format!("{first}:")), "the first idle client was the one: {made_room}");
    // Every idle client is closed: the first at once, the others once the
    // idle timeout has passed since they connected, not before.
    let mut buffer = [0u8; 16];
    for (i, (mut stream, connected)) in idle.into_iter().enumerate() {
        stream.set_read_timeout(Some(IDLE + Duration::from_secs(10))).unwrap();
        let read = stream.read(&mut buffer);
        assert!(
            matches!(read, Ok(0) | Err(_)) && !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "idle client {i} is closed: {read:?}"
        );
        if i > 0 {
            assert!(connected.elapsed() >= IDLE, "idle client {i} closed {:?} after it connected", connected.elapsed());
        }
    }
    let closed =
        poll_until(Duration::from_secs(5), || (said(&log).matches("(--idle-timeout)").count() == 19).then_some(()));
    assert!(closed.is_some(), "each idle close is logged:\n{}", said(&log));
    let released = poll_until(Duration::from_secs(5), || (fd_count(pid) <= base_fds).then_some(()));
    assert!(released.is_some(), "berth still holds {} descriptors (had {base_fds})", fd_count(pid));
}

/// Clients that send and never read: berth stops reading each once its
/// echo cannot be sent (backpressure), so its memory stays under the
/// documented bound (`echo --help`: max-clients x (16 KiB buffer + 64 KiB
/// stack) + 16 x 1 MiB shared), and drops them after `--send-timeout`.
/// Before, each held a 1 MiB buffer, without end.
///
/// The test pushes to every client until berth drops it, rather than
/// guessing from a pause that berth is stuck on all of them (on a slow
/// machine berth is merely slow, and a client it had caught up with was
/// then idle, not stalled; or the first drops came while the test still
/// pushed, and failed it). Each drop is timed from that client's first
/// send: berth cannot stall on a client before it has read from it, so a
/// drop sooner than the send timeout after that is too early.
fn echo_memory_is_bounded_and_stalled_clients_are_dropped() {
    let _serial = serial();
    isolated("echo-stall", echo_memory_is_bounded_and_stalled_clients_are_dropped_here);
}

fn echo_memory_is_bounded_and_stalled_clients_are_dropped_here() {
    const CLIENTS: usize = 64;
    const SEND_TIMEOUT: Duration = Duration::from_secs(3);
    let timeout = SEND_TIMEOUT.as_secs().to_string();
    // Room for strangers (see `isolated`): none of the test's clients is
    // closed to make room; the memory bound counts the test's 64.
    let max_clients = (CLIENTS + 16).to_string();
    let (server, line, stderr) =
        start_berth(&["echo", "0", "--tcp", "--max-clients", &max_clients, "--send-timeout", &timeout], "echoing on");
    let log = collect(stderr);
    let port = port_in(&line, "tcp");
    let pid = server.0.id();
    let base_rss = status_kib(pid, "VmRSS");
    let base_fds = fd_count(pid);

    let address: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let clients: Vec<socket2::Socket> = (0..CLIENTS)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            // Small kernel buffers on our side: the test is about berth's memory.
            socket.set_recv_buffer_size(16 << 10).unwrap();
            socket.set_send_buffer_size(256 << 10).unwrap();
            socket.connect(&address.into()).unwrap();
            socket.set_nonblocking(true).unwrap();
            socket
        })
        .collect();
    let mut first_send: Vec<Option<Instant>> = vec![None; CLIENTS];
    let mut dropped_at: Vec<Option<Instant>> = vec![None; CLIENTS];
    let mut pushed = vec![0u64; CLIENTS];
    let chunk = vec![0x5au8; 256 << 10];
    // Bounded: 60 s, or until berth has dropped every client.
    let started = Instant::now();
    while dropped_at.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(60) {
        for (i, client) in clients.iter().enumerate() {
            if dropped_at[i].is_some() {
                continue;
            }
            for _ in 0..64 {
                first_send[i].get_or_insert_with(Instant::now);
                match client.send(&chunk) {
                    Ok(n) => pushed[i] += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                        dropped_at[i] = Some(Instant::now());
                        break;
                    }
                    Err(e) => panic!("client {i}: {e}\n{}", said(&log)),
                }
            }
        }
        // Wait for room on a socket, or for berth to close one (a reset or
        // a FIN: POLLERR, POLLHUP, POLLRDHUP), 200 ms at most.
        let live: Vec<usize> = (0..CLIENTS).filter(|&i| dropped_at[i].is_none()).collect();
        let mut fds: Vec<libc::pollfd> = live
            .iter()
            .map(|&i| libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&clients[i]),
                events: libc::POLLOUT | libc::POLLRDHUP,
                revents: 0,
            })
            .collect();
        // SAFETY: poll on descriptors we own, for the array's length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        assert!(ready >= 0, "poll: {}", std::io::Error::last_os_error());
        for (fd, &i) in fds.iter().zip(&live) {
            if fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLRDHUP) != 0 {
                dropped_at[i] = Some(Instant::now());
            }
        }
    }
    let kept = dropped_at.iter().filter(|d| d.is_none()).count();
    assert_eq!(kept, 0, "{kept} of {CLIENTS} stalled clients not dropped in 60 s: {pushed:?}\n{}", said(&log));
    assert!(pushed.iter().all(|&n| n > 2 << 20), "every client sent more than 2 MiB: {pushed:?}");
    let peak = status_kib(pid, "VmHWM");
    let bound = (CLIENTS as u64 * (16 + 64)) + 16 * 1024 + 8 * 1024; // KiB, with 8 MiB of slack
    assert!(
        peak.saturating_sub(base_rss) <= bound,
        "berth grew from {base_rss} KiB to a peak of {peak} KiB with {CLIENTS} stalled clients (bound {bound} KiB more)"
    );
    for i in 0..CLIENTS {
        let after = dropped_at[i].unwrap() - first_send[i].unwrap();
        assert!(
            after >= SEND_TIMEOUT,
            "client {i} dropped {after:?} after its first send, before --send-timeout:\n{}",
            said(&log)
        );
    }
    let released = poll_until(Duration::from_secs(5), || (fd_count(pid) <= base_fds).then_some(()));
    assert!(released.is_some(), "berth still holds {} descriptors (had {base_fds})", fd_count(pid));
    let logged = poll_until(Duration::from_secs(5), || {
        (said(&log).matches("(--send-timeout)").count() == CLIENTS).then_some(())
    });
    assert!(logged.is_some(), "each drop is logged:\n{}", said(&log));
    drop(clients);
    assert!(echoed(port, b"still here"), "berth serves new clients after the drops");
}

/// Sends `count` UDP datagrams to 127.0.0.1:`to` whose source port is
/// `from`, through a raw socket inside `netns` (root): the source is
/// whatever we say, as a spoofer's is.
fn spoof(netns: &NetnsGuard, from: u16, to: u16, payload: &[u8], count: usize) {
    let mut packet = Vec::with_capacity(8 + payload.len());
    packet.extend_from_slice(&from.to_be_bytes());
    packet.extend_from_slice(&to.to_be_bytes());
    packet.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]); // no checksum (allowed over IPv4)
    packet.extend_from_slice(payload);
    in_netns(netns, move || {
        let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::RAW, Some(socket2::Protocol::UDP))
            .expect("a raw socket");
        let destination: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        for _ in 0..count {
            raw.send_to(&packet, &destination.into()).expect("send the spoofed datagram");
        }
    });
}

/// A counter of the Udp line of /proc/PID/net/snmp: that process's
/// network namespace, where only the test's programs run.
fn udp_counter(pid: u32, name: &str) -> u64 {
    let snmp = std::fs::read_to_string(format!("/proc/{pid}/net/snmp")).unwrap();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let index = names.split_whitespace().position(|n| n == name).unwrap_or_else(|| panic!("no {name}: {names}"));
    values.split_whitespace().nth(index).unwrap().parse().unwrap()
}

/// `berth echo 0 --udp ARGS` inside `netns`.
fn udp_echo_in(netns: &NetnsGuard, args: &[&str]) -> (KillOnDrop, u16, Arc<Mutex<String>>) {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &netns.name, env!("CARGO_BIN_EXE_berth"), "echo", "0", "--udp"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let (server, line, stderr) = start_berth_command(command, "echoing on");
    (server, port_in(&line, "udp"), collect(stderr))
}

/// Does the echo in `netns` at `port` answer a client (an ephemeral port)?
fn answers_in(netns: &NetnsGuard, port: u16) -> bool {
    in_netns(netns, move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        socket.send_to(b"hello", ("127.0.0.1", port)).unwrap();
        let mut buffer = [0u8; 16];
        matches!(socket.recv_from(&mut buffer), Ok((5, _))) && &buffer[..5] == b"hello"
    })
}

/// One spoofed datagram whose source is the echo's own address and port
/// made it answer itself forever (630k packets in 5 s); one from chargen's
/// port 19 starts the classic fraggle loop. Both are dropped now, each
/// reason said once in the log, however many come; real clients are still
/// answered. Counted in a namespace of the test's own, so the counters are
/// the echo's alone.
fn udp_echo_drops_datagrams_from_its_own_port_and_service_ports() {
    let _serial = serial();
    let netns = NetnsGuard::create("echo-own");
    let (server, port, log) = udp_echo_in(&netns, &[]);
    let pid = server.0.id();
    let (received, sent) = (udp_counter(pid, "InDatagrams"), udp_counter(pid, "OutDatagrams"));
    spoof(&netns, port, port, b"is anyone there?", 100);
    spoof(&netns, 19, port, b"chargen says hi", 100);
    let arrived =
        poll_until(Duration::from_secs(5), || (udp_counter(pid, "InDatagrams") >= received + 200).then_some(()));
    assert!(arrived.is_some(), "the spoofed datagrams reach the echo");
    // Watch for 2 s: not one answer.
    let answered = poll_until(Duration::from_secs(2), || (udp_counter(pid, "OutDatagrams") > sent).then_some(()));
    assert!(
        answered.is_none(),
        "the echo answered: {} datagrams sent, {} received, in {}",
        udp_counter(pid, "OutDatagrams") - sent,
        udp_counter(pid, "InDatagrams") - received,
        netns.name
    );
    let dropping = |text: &str| text.lines().filter(|l| l.contains("dropping")).count();
    let text = poll_until(Duration::from_secs(5), || Some(said(&log)).filter(|t| dropping(t) >= 2))
        .unwrap_or_else(|| said(&log));
    assert_eq!(dropping(&text), 2, "one line per reason, for 200 datagrams:\n{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("127.0.0.1:19"), "{text}");
    assert!(answers_in(&netns, port), "a client on an ephemeral port is still answered");
}

/// Two echo servers on two ports, pointed at each other by one spoofed
/// datagram: no own-port rule sees it, so the per-peer rate limit must end
/// the loop: after a burst, the datagram is dropped and nothing moves.
fn udp_echo_loop_between_two_echo_servers_dies_out() {
    let _serial = serial();
    let netns = NetnsGuard::create("echo-pair");
    let (a, port_a, log_a) = udp_echo_in(&netns, &[]);
    let (_b, port_b, log_b) = udp_echo_in(&netns, &[]);
    let pid = a.0.id();
    let sent = udp_counter(pid, "OutDatagrams");
    spoof(&netns, port_b, port_a, b"ping-pong", 1);
    // Watch 2 s (an observation window, not a wait for an event): the
    // loop must end within the first second and stay dead in the second.
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let after_one = udp_counter(pid, "OutDatagrams") - sent;
    std::thread::sleep(Duration::from_secs(1));
    let after_two = udp_counter(pid, "OutDatagrams") - sent;
    assert!(
        after_two == after_one,
        "still looping after {:?}: {after_one} datagrams after 1 s, {after_two} after 2 s",
        started.elapsed()
    );
    // The loop lasted under a second, so each side answered at most its
    // burst (1000, --udp-rate) and a second's refill (1000).
    assert!(after_two <= 2 * (1000 + 1000), "{after_two} datagrams before the loop died");
    assert!(after_two >= 2, "the datagram did bounce: {after_two}");
    let logged =
        poll_until(Duration::from_secs(2), || (said(&log_a) + &said(&log_b)).contains("(--udp-rate)").then_some(()));
    assert!(logged.is_some(), "the drop is logged: {}{}", said(&log_a), said(&log_b));
    assert!(answers_in(&netns, port_a), "a client is still answered");
}

/// What `berth echo --log` printed, summed up while it is read (the log of
/// a bulk transfer is hundreds of megabytes: kept as counts, not text).
#[derive(Default)]
struct LogTally {
    /// Lines that are not a read's log line (the first 100).
    other: Vec<String>,
    /// Per peer ("127.0.0.1:PORT"): the byte counts its reads' lines
    /// announce, and whether its "closed after" line came.
    peers: std::collections::HashMap<String, (u64, bool)>,
    /// The first line whose shown bytes do not match its count, or that
    /// holds a raw control character.
    bad: Option<String>,
}

/// Reads `berth echo --log FORMAT`'s stderr on a thread into a [`LogTally`].
fn tally_log(stderr: BufReader<ChildStderr>, hex: bool) -> Arc<Mutex<LogTally>> {
    let tally = Arc::new(Mutex::new(LogTally::default()));
    let sink = Arc::clone(&tally);
    std::thread::spawn(move || {
        let mut stderr = BufReader::with_capacity(1 << 20, stderr.into_inner());
        let mut line = Vec::new();
        // Bounded by the child's stderr: ends when berth is stopped.
        loop {
            line.clear();
            match stderr.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let mut tally = sink.lock().unwrap_or_else(|p| p.into_inner());
            let marker = b" bytes: ";
            let Some(at) = text.windows(marker.len()).position(|w| w == marker) else {
                let text = String::from_utf8_lossy(text).into_owned();
                // "berth: echo: PEER closed after N bytes"
                if let Some((peer, _)) = text.strip_prefix("berth: echo: ").and_then(|t| t.split_once(" closed after "))
                {
                    tally.peers.entry(peer.to_string()).or_default().1 = true;
                }
                if tally.other.len() < 100 {
                    tally.other.push(text);
                }
                continue;
            };
            // "berth: echo: tcp PEER N bytes: ..."
            let head = String::from_utf8_lossy(&text[..at]).into_owned();
            let mut words = head.rsplit(' ');
            let count: u64 = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let peer = words.next().unwrap_or_default().to_string();
            let shown = &text[at + marker.len()..];
            let well_formed = if hex {
                shown.len() as u64 == (3 * count).saturating_sub(1)
                    && shown
                        .chunks(3)
                        .all(|c| c[..2].iter().all(u8::is_ascii_hexdigit) && c.get(2).is_none_or(|&s| s == b' '))
            } else {
                shown.len() as u64 >= count && !shown.iter().any(|&b| b < 0x20 || b == 0x7f)
            };
            if !well_formed && tally.bad.is_none() {
                tally.bad = Some(String::from_utf8_lossy(&text[..text.len().min(300)]).into_owned());
            }
            tally.peers.entry(peer).or_default().0 += count;
        }
    });
    tally
}

/// `--log` keeps the memory bound of `echo --help` (--max-clients x 80 KiB,
/// plus 16 MiB): 16 clients each echoing 8 MiB, logged as hex and as text,
/// and every byte of every read is in the log, escaped. Before, hex built
/// a String per byte (VmHWM 991 MB here) and text copied each 1 MiB read
/// into growing Strings (76 MB), where the bound is 17 MiB above the 11 MB
/// berth starts with. (--max-clients has room for others, so that a
/// stranger connecting does not close one of the test's clients; the bound
/// counts the test's 16.)
fn echo_log_keeps_memory_bounded() {
    let _serial = serial();
    isolated("echo-log", echo_log_keeps_memory_bounded_here);
}

fn echo_log_keeps_memory_bounded_here() {
    const CLIENTS: usize = 16;
    const SIZE: usize = 8 << 20;
    for format in ["hex", "text"] {
        let (server, line, stderr) = start_berth(
            &["echo", "0", "--tcp", "--max-clients", &(2 * CLIENTS).to_string(), "--log", format],
            "echoing on",
        );
        let log = tally_log(stderr, format == "hex");
        let port = port_in(&line, "tcp");
        let pid = server.0.id();
        let base_rss = status_kib(pid, "VmRSS");
        let clients: Vec<_> = (0..CLIENTS as u64)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                let client = std::thread::spawn(move || {
                    let data = random_bytes(SIZE, 0x10c + i);
                    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to echo");
                    let _ = tx.send(stream.local_addr().unwrap().to_string());
                    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    let mut writer = stream.try_clone().unwrap();
                    let sent = data.clone();
                    let sender = std::thread::spawn(move || {
                        writer.write_all(&sent).unwrap();
                        writer.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut back = Vec::with_capacity(SIZE);
                    let mut reader = stream;
                    reader.read_to_end(&mut back).expect("echo closes after our half-close");
                    sender.join().unwrap();
                    assert!(back == data, "client {i}: {} bytes back of {}", back.len(), data.len());
                });
                (client, rx)
            })
            .collect();
        let ours: Vec<String> = clients
            .into_iter()
            .map(|(client, address)| {
                client.join().expect("client");
                address.recv().expect("the client's address")
            })
            .collect();
        let peak = status_kib(pid, "VmHWM");
        let bound = CLIENTS as u64 * (16 + 64) + 16 * 1024 + 8 * 1024; // KiB, with 8 MiB of slack
        eprintln!("--log {format}: VmRSS {base_rss} KiB at start, VmHWM {peak} KiB after {CLIENTS} x {SIZE} bytes");
        assert!(
            peak.saturating_sub(base_rss) <= bound,
            "--log {format}: berth grew from {base_rss} KiB to a peak of {peak} KiB (bound {bound} KiB more)"
        );
        // Every byte of each client's reads logged once, and its close.
        let logged = |tally: &LogTally| -> Vec<(u64, bool)> {
            ours.iter().map(|peer| tally.peers.get(peer).copied().unwrap_or_default()).collect()
        };
        let complete = poll_until(Duration::from_secs(20), || {
            let tally = log.lock().unwrap_or_else(|p| p.into_inner());
            logged(&tally).iter().all(|&(_, closed)| closed).then_some(())
        });
        let tally = log.lock().unwrap_or_else(|p| p.into_inner());
        assert!(complete.is_some(), "--log {format}: {:?}\n{}", logged(&tally), tally.other.join("\n"));
        assert!(
            logged(&tally).iter().all(|&(bytes, _)| bytes == SIZE as u64),
            "--log {format}: every byte logged once: {:?}",
            logged(&tally)
        );
        assert!(tally.bad.is_none(), "--log {format}: {:?}", tally.bad);
    }
}

/// A client that sends a byte just inside --idle-timeout never times out,
/// so two of them held both slots of `--max-clients 2` and the third was
/// refused for as long as they kept on (issue 9 item 11's lockout, with a
/// drip). At the cap a newcomer now closes the client quiet the longest:
/// the third is served.
fn echo_at_its_cap_closes_the_quietest_client_for_a_new_one() {
    let _serial = serial();
    isolated("echo-cap", echo_at_its_cap_closes_the_quietest_client_for_a_new_one_here);
}

fn echo_at_its_cap_closes_the_quietest_client_for_a_new_one_here() {
    let (_server, line, stderr) =
        start_berth(&["echo", "0", "--tcp", "--max-clients", "2", "--idle-timeout", "1"], "echoing on");
    let log = collect(stderr);
    let port = port_in(&line, "tcp");
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
    let stop = Arc::new(AtomicBool::new(false));
    // Per dripper: echoes received, and whether berth closed it.
    let echoes: Arc<[AtomicU32; 2]> = Arc::new(Default::default());
    let closed: Arc<[AtomicBool; 2]> = Arc::new(Default::default());
    let drippers: Vec<_> = (0..2)
        .map(|i| {
            let (stop, echoes, closed) = (Arc::clone(&stop), Arc::clone(&echoes), Arc::clone(&closed));
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                // Bounded: 25 bytes (20 s) at most; ends when berth closes it.
                for _ in 0..25 {
                    if stop.load(Relaxed) {
                        return;
                    }
                    let mut byte = [0u8; 1];
                    if stream.write_all(b"x").is_err() || !matches!(stream.read(&mut byte), Ok(1)) {
                        closed[i].store(true, Relaxed);
                        return;
                    }
                    echoes[i].fetch_add(1, Relaxed);
                    std::thread::sleep(Duration::from_millis(800));
                }
            })
        })
        .collect();
    // Both drip for three idle timeouts and more (4 echoes each, 0.8 s apart).
    let counts = || echoes.iter().map(|c| c.load(Relaxed)).collect::<Vec<_>>();
    let closes = || closed.iter().filter(|c| c.load(Relaxed)).count();
    let dripping = poll_until(Duration::from_secs(15), || counts().iter().all(|&n| n >= 4).then_some(()));
    assert!(dripping.is_some(), "both drippers kept their slots: {:?}\n{}", counts(), said(&log));
    assert_eq!(closes(), 0, "{}", said(&log));
    assert!(!said(&log).contains("(--idle-timeout)"), "a byte every 0.8 s is not idle:\n{}", said(&log));
    let served = echoed(port, b"third");
    // The closed dripper finds out at its next byte (0.8 s later at most).
    let one_closed = poll_until(Duration::from_secs(5), || (closes() > 0).then_some(()));
    stop.store(true, Relaxed);
    for dripper in drippers {
        dripper.join().expect("dripper");
    }
    assert!(served, "the third client is served, not refused:\n{}", said(&log));
    assert!(one_closed.is_some() && closes() == 1, "one dripper was closed to make room, not {}", closes());
    let logged = poll_until(Duration::from_secs(5), || said(&log).contains("to make room").then_some(()));
    assert!(logged.is_some(), "the close is logged:\n{}", said(&log));
}

/// The repro of the review: `berth listen -u PORT </dev/null >out &`, a
/// datagram, 1.5 s of quiet, another datagram. stdin at /dev/null ends at
/// once, and berth used to exit 0 one second later, losing the second.
/// UDP has no end of stream: berth receives until --idle-timeout (exit 5)
/// or a signal, as `ncat -ul` does. `connect -u` still ends -w after stdin
/// (it waits that long for answers).
fn udp_listen_keeps_receiving_after_stdin_ends() {
    let _serial = serial();
    let dir = ScratchDir::new("listen-udp");
    let out = dir.path.join("out");
    let (mut listen, line, _stderr) =
        start_berth_with(&["listen", "-u", "0"], "listening on udp", Stdio::null(), File::create(&out).unwrap().into());
    let port = port_in(&line, "udp");
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let printed = |expected: &str| {
        poll_until(Duration::from_secs(5), || (std::fs::read(&out).ok()? == expected.as_bytes()).then_some(()))
    };
    peer.send_to(b"one", ("127.0.0.1", port)).unwrap();
    assert!(printed("one").is_some(), "{:?}", std::fs::read_to_string(&out));
    // The quiet of the repro, longer than the old one-second linger.
    std::thread::sleep(Duration::from_millis(1500));
    peer.send_to(b"two", ("127.0.0.1", port)).unwrap();
    let got = printed("onetwo");
    let status = listen.0.try_wait().unwrap();
    assert!(got.is_some(), "out holds {:?}; berth: {status:?}", std::fs::read_to_string(&out));
    assert!(status.is_none(), "berth listen -u still receives");
    drop(listen);

    // --idle-timeout ends it, as it ends a TCP session: exit 5, said why.
    let (mut listen, line, mut stderr) =
        start_berth_with(&["listen", "-u", "0", "-i", "1"], "listening on udp", Stdio::null(), Stdio::null());
    let port = port_in(&line, "udp");
    peer.send_to(b"one", ("127.0.0.1", port)).unwrap();
    let status = wait_exit(&mut listen.0, "berth listen -u -i 1", Duration::from_secs(10));
    let mut said = String::new();
    stderr.read_to_string(&mut said).unwrap();
    assert_eq!(status.code(), Some(5), "{said}");
    assert!(said.contains("--idle-timeout"), "{said}");

    // connect -u: after stdin ends it waits -w for answers, then exit 0.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_port = server.local_addr().unwrap().port();
    let answerer = std::thread::spawn(move || {
        server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buffer = [0u8; 64];
        let (n, from) = server.recv_from(&mut buffer).expect("the query");
        std::thread::sleep(Duration::from_millis(300));
        server.send_to(&buffer[..n], from).unwrap();
    });
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(["connect", "-u", &format!("127.0.0.1:{server_port}"), "-w", "1"])
        .stdin(File::open(dir.write("query", "query")).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let output = run_within(command, "berth connect -u", Duration::from_secs(10));
    answerer.join().unwrap();
    assert_eq!((output.code, output.stdout.as_str()), (0, "query"), "{}", output.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

tests![
    readme_listen_and_connect_deliver_every_byte,
    connect_sends_everything_to_a_server_that_half_closes_at_once,
    listen_sends_everything_to_a_client_that_half_closes_at_once,
    a_reset_before_everything_arrived_is_an_error,
    udp_listen_reports_a_datagram_not_delivered,
    idle_timeout_and_a_terminal_end_a_session_early,
    echo_closes_idle_clients_so_new_ones_are_served,
    echo_memory_is_bounded_and_stalled_clients_are_dropped,
    udp_echo_drops_datagrams_from_its_own_port_and_service_ports,
    udp_echo_loop_between_two_echo_servers_dies_out,
    echo_log_keeps_memory_bounded,
    echo_at_its_cap_closes_the_quietest_client_for_a_new_one,
    udp_listen_keeps_receiving_after_stdin_ends,
];
