//! nc-style plumbing: stdin to a socket, the socket to stdout.
//!
//! TCP half-close is honoured both ways: when stdin ends, berth shuts down
//! its sending side (the peer reads EOF) and keeps printing what the peer
//! still sends; the bridge ends when the peer finishes sending.

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

/// Copy buffer: large enough for full-speed loopback transfers.
const CHUNK: usize = 256 * 1024;

/// Runs the TCP bridge until the peer stops sending. Returns the bytes
/// received.
pub fn tcp(stream: TcpStream) -> io::Result<u64> {
    let writer = stream.try_clone()?;
    // stdin -> socket on its own thread; it may stay blocked on a terminal
    // after the peer has finished, which is why the caller exits the
    // process rather than joining it.
    std::thread::spawn(move || {
        let mut writer = writer;
        let mut stdin = io::stdin().lock();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        // Half-close: the peer sees EOF, and may still answer.
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut reader = stream;
    let mut stdout = io::stdout().lock();
    let mut buffer = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                stdout.write_all(&buffer[..n])?;
                stdout.flush()?;
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after the peer is done is the end of the stream too.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    stdout.flush()?;
    Ok(total)
}

/// How a UDP bridge ended.
#[derive(Debug, PartialEq, Eq)]
pub enum UdpEnd {
    /// stdin ended and no datagram came for the linger time.
    Quiet,
    /// The peer's port is closed (ICMP port unreachable).
    Refused,
}

/// Runs the UDP bridge on a connected socket: each read of stdin is one
/// datagram; each datagram received goes to stdout. After stdin ends it
/// waits `linger` for late replies.
pub fn udp(socket: UdpSocket, linger: Duration) -> io::Result<UdpEnd> {
    let sender = socket.try_clone()?;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buffer = vec![0u8; 65_507];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = sender.send(&buffer[..n]);
                }
            }
        }
        let _ = done_tx.send(());
    });
    let mut stdout = io::stdout().lock();
    let mut buffer = vec![0u8; 65_536];
    // Short reads so the stdin side's end is noticed promptly.
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut quiet_since: Option<std::time::Instant> = None;
    loop {
        match socket.recv(&mut buffer) {
            Ok(n) => {
                stdout.write_all(&buffer[..n])?;
                stdout.flush()?;
                quiet_since = None;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(UdpEnd::Refused),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let stdin_done = matches!(done_rx.try_recv(), Ok(()) | Err(std::sync::mpsc::TryRecvError::Disconnected));
        if stdin_done {
            let since = *quiet_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= linger {
                return Ok(UdpEnd::Quiet);
            }
        }
    }
}
