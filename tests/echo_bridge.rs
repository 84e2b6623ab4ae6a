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
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut printed = String::new();
    child.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    assert_eq!(printed, "hello\n");
    assert!(child.try_wait().unwrap().is_none(), "berth ended with its stdin still open");
    let writer = std::thread::spawn(move || stdin.write_all(&data).map(|_| drop(stdin)));
    let status = wait_exit(&mut child, "berth connect", Duration::from_secs(60));
    writer.join().unwrap().expect("berth read all of its stdin");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(server.join().unwrap(), "the server got every byte, in order: {stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// The same from the listening side: a client that half-closes at once
/// gets all of `berth listen < file`.
fn listen_sends_everything_to_a_client_that_half_closes_at_once() {
    let _serial = serial();
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", &port.to_string(), "--idle-timeout", "0.5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _silent = listener.accept().unwrap();
    let started = Instant::now();
    let status = wait_exit(&mut child, "berth connect --idle-timeout", Duration::from_secs(10));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", &port.to_string()])
        .stdin(slave)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream.write_all(b"bye\n").unwrap();
    drop(stream);
    let mut printed = String::new();
    child.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    assert_eq!(printed, "bye\n");
    let status = wait_exit(&mut child, "berth connect on a terminal", Duration::from_secs(5));
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

/// 20 clients that never send hold all 20 slots of `--max-clients 20`: the
/// 21st is refused, then served once the idle timeout has closed them
/// (before, idle clients were never closed and the 21st waited forever).
fn echo_closes_idle_clients_so_new_ones_are_served() {
    let _serial = serial();
    let (_server, line, stderr) =
        start_berth(&["echo", "0", "--tcp", "--max-clients", "20", "--idle-timeout", "1"], "echoing on");
    let log = collect(stderr);
    let port = port_in(&line, "tcp");
    let idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    // Accepted in order: once the 21st is answered, the 20 hold the slots.
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = [0u8; 16];
    let refused = extra.read(&mut buffer);
    assert!(
        matches!(&refused, Ok(0)) || matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the 21st client is refused at first: {refused:?}"
    );
    let logged =
        poll_until(Duration::from_secs(5), || said(&log).contains("refused, 20 clients already").then_some(()));
    assert!(logged.is_some(), "{}", said(&log));
    let served = poll_until(Duration::from_secs(15), || echoed(port, b"ping").then_some(()));
    assert!(served.is_some(), "a new client is served once the idle ones time out:\n{}", said(&log));
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(stream.read(&mut buffer), Ok(0) | Err(_)), "an idle client was closed");
    }
    let closed =
        poll_until(Duration::from_secs(5), || (said(&log).matches("(--idle-timeout)").count() >= 20).then_some(()));
    assert!(closed.is_some(), "each idle close is logged:\n{}", said(&log));
}

/// Clients that send and never read: berth stops reading each once its
/// echo cannot be sent (backpressure), so its memory stays under the
/// documented bound (`echo --help`: max-clients x (16 KiB buffer + 64 KiB
/// stack) + 16 x 1 MiB shared), and drops them after `--send-timeout`.
/// Before, each held a 1 MiB buffer, without end.
fn echo_memory_is_bounded_and_stalled_clients_are_dropped() {
    const CLIENTS: usize = 64;
    let _serial = serial();
    let (server, line, stderr) = start_berth(
        &["echo", "0", "--tcp", "--max-clients", &CLIENTS.to_string(), "--send-timeout", "3"],
        "echoing on",
    );
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
    // Push until every client is stuck: no socket writable for 500 ms,
    // i.e. berth reads none of them any more. Bounded: 30 s.
    let chunk = vec![0x5au8; 256 << 10];
    let mut pushed = vec![0u64; CLIENTS];
    let started = Instant::now();
    loop {
        for (client, total) in clients.iter().zip(pushed.iter_mut()) {
            for _ in 0..64 {
                match client.send(&chunk) {
                    Ok(n) => *total += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("berth dropped a client too early: {e}\n{}", said(&log)),
                }
            }
        }
        let mut fds: Vec<libc::pollfd> = clients
            .iter()
            .map(|c| libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(c), events: libc::POLLOUT, revents: 0 })
            .collect();
        // SAFETY: poll on descriptors we own, for the array's length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 500) };
        if ready == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "berth kept reading for 30 s: {pushed:?}");
    }
    let stalled_at = Instant::now();
    assert!(pushed.iter().all(|&n| n > 2 << 20), "every client sent more than 2 MiB: {pushed:?}");
    let peak = status_kib(pid, "VmHWM");
    let bound = (CLIENTS as u64 * (16 + 64)) + 16 * 1024 + 8 * 1024; // KiB, with 8 MiB of slack
    assert!(
        peak.saturating_sub(base_rss) <= bound,
        "berth grew from {base_rss} KiB to a peak of {peak} KiB with {CLIENTS} stalled clients (bound {bound} KiB more)"
    );

    // Dropped after the send timeout (3 s), not before and not never.
    let dropped = poll_until(Duration::from_secs(15), || (fd_count(pid) <= base_fds).then_some(()));
    assert!(dropped.is_some(), "berth still holds {} descriptors (had {base_fds})", fd_count(pid));
    assert!(
        stalled_at.elapsed() >= Duration::from_secs(2),
        "dropped after {:?}, before the send timeout",
        stalled_at.elapsed()
    );
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
];
