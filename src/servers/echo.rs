//! The echo server: TCP (a thread per client, a fixed buffer each, so
//! memory per client is bounded whatever the client sends) and UDP (one
//! thread answering every datagram).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::cli::LogFormat;

/// Per-client buffer: the only memory a client can make berth hold.
const BUFFER: usize = 256 * 1024;

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
    let _ = stream.set_nodelay(true);
    if log.is_none() {
        // Without a log the bytes need not visit user space at all.
        if let Some(result) = splice_echo(&stream) {
            let _ = stream.shutdown(std::net::Shutdown::Write);
            return result;
        }
    }
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

/// Pipe capacity asked for the splice path (the kernel may grant less).
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Echo through a kernel pipe with splice(2): socket -> pipe -> socket, no
/// copy into user space; the pipe bounds what a client can make the kernel
/// hold for it. None when a pipe cannot be had (then the copy loop runs).
fn splice_echo(stream: &TcpStream) -> Option<io::Result<u64>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors, which OwnedFd then owns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let (pipe_read, pipe_write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // A larger pipe means fewer round trips; failure (a capped
    // pipe-max-size) only leaves the default 64 KiB.
    unsafe { libc::fcntl(pipe_write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
    let socket = stream.as_raw_fd();
    let mut total = 0u64;
    Some(loop {
        // SAFETY: splice between descriptors we hold; null offsets for pipes and sockets.
        let received = unsafe {
            libc::splice(socket, std::ptr::null_mut(), pipe_write.as_raw_fd(), std::ptr::null_mut(), PIPE_SIZE as usize, libc::SPLICE_F_MOVE)
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break Err(error);
        }
        if received == 0 {
            break Ok(total);
        }
        let mut pending = received as usize;
        while pending > 0 {
            // SAFETY: as above.
            let sent = unsafe {
                libc::splice(pipe_read.as_raw_fd(), std::ptr::null_mut(), socket, std::ptr::null_mut(), pending, libc::SPLICE_F_MOVE)
            };
            if sent < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Some(Err(error));
            }
            pending -= sent as usize;
        }
        total += received as u64;
    })
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
        LogFormat::Text => String::from_utf8_lossy(data).escape_debug().to_string(),
        LogFormat::Hex => data.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
    };
    eprintln!("berth: echo: {protocol} {peer} {} bytes: {shown}", data.len());
}
