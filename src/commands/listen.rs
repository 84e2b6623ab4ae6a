//! `berth listen PORT`: wait for one client (or the first datagram), then
//! connect it to stdin and stdout, like `nc -l`.

use crate::stderr::say;
use std::io::{self, Write};
use std::time::Duration;

use super::connect::finish_bridge;
use crate::cli::{GlobalArgs, ListenArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::servers::bridge;
use crate::servers::listener::{tcp_listener, udp_socket, ListenSpec};

pub fn run(args: &ListenArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    let (timeout, idle) = (args.timeout, args.idle_timeout);
    let spec = args.listen_spec();
    if args.udp {
        return listen_udp(&spec, timeout, idle);
    }
    let listener = tcp_listener(&spec)?;
    let local = listener.local_addr().map_err(|e| Error::System(e.to_string()))?;
    say!("berth: listening on tcp {local}");
    let stream = match timeout {
        None => listener.accept().map(|(s, _)| s).map_err(|e| Error::System(format!("accept failed: {e}")))?,
        Some(limit) => match accept_within(&listener, limit)? {
            Some(stream) => stream,
            None => {
                say!("berth: no client within {:.1} s", limit.as_secs_f64());
                return Ok(ExitCode::TimedOut);
            }
        },
    };
    // One client only: stop listening so the port is not held for nothing.
    drop(listener);
    let peer = stream.peer_addr().map_err(|e| Error::System(format!("accept failed: {e}")))?;
    say!("berth: connection from {peer}");
    let _ = stream.set_nodelay(true);
    finish_bridge(peer, bridge::tcp(stream, idle))
}

/// Waits for a client for at most `limit`, polling the listener.
fn accept_within(listener: &std::net::TcpListener, limit: Duration) -> Result<Option<std::net::TcpStream>, Error> {
    listener.set_nonblocking(true).map_err(|e| Error::System(e.to_string()))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| Error::System(e.to_string()))?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Error::System(format!("accept failed: {e}"))),
        }
    }
}

fn listen_udp(spec: &ListenSpec, timeout: Option<Duration>, idle: Option<Duration>) -> Result<ExitCode, Error> {
    let socket = udp_socket(spec)?;
    let local = socket.local_addr().map_err(|e| Error::System(e.to_string()))?;
    say!("berth: listening on udp {local}");
    socket.set_read_timeout(timeout).map_err(|e| Error::System(e.to_string()))?;
    let mut buffer = vec![0u8; 65_536];
    let (n, peer) = match socket.recv_from(&mut buffer) {
        Ok(received) => received,
        Err(e) if crate::net::is_socket_timeout(&e) => {
            say!("berth: no datagram within {:.1} s", timeout.unwrap_or_default().as_secs_f64());
            return Ok(ExitCode::TimedOut);
        }
        Err(e) => return Err(Error::System(format!("receive failed: {e}"))),
    };
    say!("berth: datagrams from {peer}");
    {
        let mut stdout = io::stdout().lock();
        stdout.write_all(&buffer[..n]).and_then(|_| stdout.flush()).map_err(Error::from)?;
    }
    // From now on, talk to that peer only.
    socket.connect(peer).map_err(|e| Error::System(e.to_string()))?;
    // No linger: stdin's end (at once, in a script) ends nothing; the
    // session lasts until --idle-timeout or a signal (see bridge::udp). A
    // refusal means a datagram did not arrive: a failure here (connect
    // reports it as "nothing listens", exit 1).
    finish_bridge(peer, bridge::udp(socket, None, idle))
}
