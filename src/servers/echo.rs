//! The echo server: TCP (a thread per client, a fixed buffer each, so
//! memory per client is bounded whatever the client sends) and UDP (one
//! thread answering every datagram).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::cli::LogFormat;

/// Per-client buffer: the only memory a client can make berth hold. 1 MiB
/// measured best here (256 KiB and 4 MiB were a few percent slower).
const BUFFER: usize = 1024 * 1024;

/// Echoes every TCP client of `listener` until the process ends.
pub fn serve_tcp(listener: TcpListener, max_clients: usize, log: Option<LogFormat>) -> io::Result<()> {
    let clients = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // Out of descriptors or an aborted handshake: keep serving the others.
            Err(e) if is_transient(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e),
        };
        if clients.load(Ordering::Relaxed) >= max_clients {
            eprintln!("berth: echo: {peer}: refused, {max_clients} clients already (--max-clients)");
            drop(stream);
            continue;
        }
        clients.fetch_add(1, Ordering::Relaxed);
        let clients = Arc::clone(&clients);
        let spawned = std::thread::Builder::new().name(format!("echo {peer}")).spawn(move || {
            if log.is_some() {
                eprintln!("berth: echo: {peer} connected");
            }
            let result = echo_stream(stream, peer, log);
            if log.is_some() {
                match result {
                    Ok(bytes) => eprintln!("berth: echo: {peer} closed after {bytes} bytes"),
                    Err(e) => eprintln!("berth: echo: {peer}: {e}"),
                }
            }
            clients.fetch_sub(1, Ordering::Relaxed);
        });
        if spawned.is_err() {
            eprintln!("berth: echo: {peer}: no thread for it (system limit); dropped");
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ECONNABORTED | libc::EINTR | libc::ENOBUFS))
}

/// Sends back everything one client sends; returns the byte count.
fn echo_stream(mut stream: TcpStream, peer: SocketAddr, log: Option<LogFormat>) -> io::Result<u64> {
    // No TCP_NODELAY: each read is written back whole, so Nagle never
    // holds a reply back, and bulk transfers go in full segments.
    let mut buffer = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(format) = log {
            log_data(peer, "tcp", &buffer[..n], format);
        }
        stream.write_all(&buffer[..n])?;
        total += n as u64;
    }
    // The client closed its side: close ours once everything is sent back.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(total)
}

/// Answers every datagram with itself, until the process ends.
pub fn serve_udp(socket: UdpSocket, log: Option<LogFormat>) -> io::Result<()> {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (n, peer) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // An ICMP error for an earlier reply: nothing to do but go on.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        if let Some(format) = log {
            log_data(peer, "udp", &buffer[..n], format);
        }
        let _ = socket.send_to(&buffer[..n], peer);
    }
}

/// One log line per read: the peer, the size, and the bytes as escaped
/// text or hex (never raw: they could drive the terminal).
fn log_data(peer: SocketAddr, protocol: &str, data: &[u8], format: LogFormat) {
    let shown = match format {
        LogFormat::Text => crate::render::printable_bytes(data).into_owned(),
        LogFormat::Hex => data.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
    };
    eprintln!("berth: echo: {protocol} {peer} {} bytes: {shown}", data.len());
}
