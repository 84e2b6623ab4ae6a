//! `berth echo`, `berth listen` and `berth connect`: byte-exact round trips
//! of large random data over real TCP and UDP sockets, half-close, and
//! refused versus timed out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn tcp_echo_round_trips_large_data_from_many_clients() {
    let _serial = serial();
    let (_server, line, _stderr) = start_berth(&["echo", "0"], "echoing on");
    let port = port_in(&line, "tcp");
    let clients: Vec<_> = (0..4u64)
        .map(|i| {
            std::thread::spawn(move || {
                let data = random_bytes(8 << 20, 0x5eed + i);
                let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to echo");
                stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let sent = data.clone();
                let sender = std::thread::spawn(move || {
                    writer.write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::with_capacity(data.len());
                let mut reader = stream;
                reader.read_to_end(&mut back).expect("echo closes after our half-close");
                sender.join().unwrap();
                assert!(back == data, "client {i}: {} bytes back of {}", back.len(), data.len());
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
}

fn udp_echo_round_trips_datagrams() {
    let _serial = serial();
    let (_server, line, _stderr) = start_berth(&["echo", "0"], "echoing on");
    let port = port_in(&line, "udp");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buffer = vec![0u8; 65_536];
    for (i, size) in [1usize, 512, 1400, 9000, 65_507].into_iter().enumerate() {
        let data = random_bytes(size, i as u64 + 7);
        socket.send(&data).unwrap();
        let n = socket.recv(&mut buffer).expect("an echoed datagram");
        assert_eq!(&buffer[..n], &data[..], "datagram of {size} bytes");
    }
}

fn echo_logs_traffic_escaped() {
    let _serial = serial();
    let (_server, line, mut stderr) = start_berth(&["echo", "0", "--tcp", "--log", "text"], "echoing on");
    let port = port_in(&line, "tcp");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"hi\x1b[2J\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hi\x1b[2J\n");
    let mut logged = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        logged.push_str(&line);
        if line.contains("bytes:") {
            break;
        }
    }
    assert!(logged.contains("7 bytes: hi\\u{1b}[2J\\n"), "escaped log line: {logged}");
    assert!(!logged.contains('\u{1b}'), "no raw escape sequence on stderr");
}

fn echo_port_taken_names_the_holder() {
    let _serial = serial();
    let (listener, port) = listener_v4();
    let (code, _, stderr) = run_berth(&["echo", &port.to_string(), "--tcp"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("in use by") && stderr.contains(&format!("[{}]", std::process::id())), "{stderr}");
    assert!(stderr.contains("is free"), "suggests a free port: {stderr}");
    drop(listener);
    let (code, _, stderr) = run_berth(&["echo", "0", "--bind", "0.0.0.0"], &[]);
    assert_eq!(code, 2, "exposure needs --expose: {stderr}");
    assert!(stderr.contains("--expose"));
}

fn listen_receives_a_file_and_answers_after_half_close() {
    let _serial = serial();
    let (mut server, line, _stderr) = start_berth(&["listen", "0"], "listening on tcp");
    let port = port_in(&line, "tcp");
    // berth listen's stdin is the answer it sends back; what it prints is
    // read on a thread, so a full stdout pipe never stalls it.
    let mut stdin = server.0.stdin.take().unwrap();
    let mut stdout = server.0.stdout.take().unwrap();
    let printed = std::thread::spawn(move || {
        let mut received = Vec::new();
        stdout.read_to_end(&mut received).unwrap();
        received
    });
    let data = random_bytes(4 << 20, 42);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&data).unwrap();
    // Half-close: we are done sending, but still want the answer.
    stream.shutdown(Shutdown::Write).unwrap();
    stdin.write_all(b"thanks").unwrap();
    drop(stdin);
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"thanks", "berth shut its side after its stdin ended");
    let received = printed.join().unwrap();
    assert!(received == data, "{} bytes printed of {}", received.len(), data.len());
    let status = server.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

fn connect_sends_stdin_and_prints_the_reply_after_half_close() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = random_bytes(4 << 20, 99);
    let expected = data.clone();
    let peer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        // Reads to EOF: berth must half-close when its stdin ends.
        stream.read_to_end(&mut got).unwrap();
        stream.write_all(format!("got {}", got.len()).as_bytes()).unwrap();
        got == expected
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&data).unwrap();
    });
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    writer.join().unwrap();
    assert!(peer.join().unwrap(), "the peer got every byte");
    assert_eq!(out, format!("got {}", 4 << 20));
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn udp_connect_and_listen() {
    let _serial = serial();
    let (mut server, line, _stderr) = start_berth(&["listen", "-u", "0", "-w", "3"], "listening on udp");
    let port = port_in(&line, "udp");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"first datagram", ("127.0.0.1", port)).unwrap();
    let mut reader = BufReader::new(server.0.stdout.take().unwrap());
    let mut buffer = [0u8; 14];
    reader.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"first datagram");
    // What berth reads on stdin goes back to that peer.
    let mut stdin = server.0.stdin.take().unwrap();
    stdin.write_all(b"reply").unwrap();
    stdin.flush().unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut reply = [0u8; 16];
    let n = socket.recv(&mut reply).expect("a reply datagram");
    assert_eq!(&reply[..n], b"reply");
    drop(stdin);

    // connect -u to a closed port: refused (ICMP port unreachable), exit 1.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["connect", "-u", &format!("127.0.0.1:{closed_port}"), "-w", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"anyone?").unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "connect -u ends");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(1));
}

fn refused_and_timed_out_differ() {
    let _serial = serial();
    let port = released_port();
    let (code, stdout, stderr) = run_berth(&["connect", &format!("127.0.0.1:{port}"), "-w", "1"], &[]);
    assert_eq!(code, 1, "refused: {stderr}");
    assert!(stdout.is_empty() && stderr.contains("refused"), "{stderr}");

    // A listener whose accept queue is full drops new SYNs: the connect
    // neither succeeds nor is refused, it times out.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(0).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) {
            fillers.push(stream);
        }
    }
    assert!(!fillers.is_empty());
    let started = Instant::now();
    let (code, _, stderr) = run_berth(&["connect", &format!("127.0.0.1:{port}"), "-w", "0.5"], &[]);
    assert_eq!(code, 5, "timed out: {stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(socket);
}

fn listen_times_out_and_bad_input_is_refused() {
    let _serial = serial();
    let (code, _, stderr) = run_berth(&["listen", "0", "-w", "0.2"], &[]);
    assert_eq!(code, 5, "{stderr}");
    for bad in [
        &["connect", "70000"][..],
        &["connect", "::1:80"],
        &["connect", "host.invalid:80"],
        &["connect", "80", "-w", "0"],
        &["listen", "abc"],
        &["listen", "0", "-w", "-1"],
        &["echo", "99999"],
    ] {
        let (code, stdout, stderr) = run_berth(bad, &[]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

tests![
    tcp_echo_round_trips_large_data_from_many_clients,
    udp_echo_round_trips_datagrams,
    echo_logs_traffic_escaped,
    echo_port_taken_names_the_holder,
    listen_receives_a_file_and_answers_after_half_close,
    connect_sends_stdin_and_prints_the_reply_after_half_close,
    udp_connect_and_listen,
    refused_and_timed_out_differ,
    listen_times_out_and_bad_input_is_refused,
];
