//! `berth echo [PORT]`: TCP and UDP echo on 127.0.0.1:49342.

use crate::cli::{EchoArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::servers::echo::{serve_tcp, serve_udp};
use crate::servers::listener::{tcp_listener, udp_socket, ListenSpec};
use crate::stderr::say;

/// How often `--port 0` may find the TCP port taken for UDP before giving up.
const SAME_PORT_TRIES: usize = 16;

pub fn run(args: &EchoArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    let (tcp_wanted, udp_wanted) = args.protocols();
    let limits = args.tcp_limits();
    let spec = args.listen_spec();

    // With --port 0, TCP and UDP should still share one number: take a TCP
    // port from the kernel, then the same number for UDP (retrying when
    // that UDP port happens to be taken).
    let (tcp, udp) = if tcp_wanted && udp_wanted && args.port() == 0 {
        let mut pair = None;
        for _ in 0..SAME_PORT_TRIES {
            let listener = tcp_listener(&spec)?;
            let port = listener.local_addr().map_err(|e| Error::System(e.to_string()))?.port();
            if let Ok(socket) = udp_socket(&ListenSpec { port, ..spec.clone() }) {
                pair = Some((Some(listener), Some(socket)));
                break;
            }
        }
        pair.ok_or_else(|| Error::System("could not find one port free for both TCP and UDP; give --port".into()))?
    } else {
        let tcp = if tcp_wanted { Some(tcp_listener(&spec)?) } else { None };
        let udp = if udp_wanted { Some(udp_socket(&spec)?) } else { None };
        (tcp, udp)
    };

    let mut listening = Vec::new();
    if let Some(listener) = &tcp {
        listening.push(format!("tcp {}", listener.local_addr().map_err(|e| Error::System(e.to_string()))?));
    }
    if let Some(socket) = &udp {
        listening.push(format!("udp {}", socket.local_addr().map_err(|e| Error::System(e.to_string()))?));
    }
    say!("berth: echoing on {} (Ctrl-C to stop)", listening.join(" and "));

    let log = args.log;
    let rate = args.udp_rate;
    let udp_thread = udp.map(|socket| std::thread::spawn(move || serve_udp(socket, rate, log)));
    if let Some(listener) = tcp {
        serve_tcp(listener, limits, log).map_err(|e| Error::System(format!("echo server failed: {e}")))?;
    }
    if let Some(handle) = udp_thread {
        match handle.join() {
            Ok(result) => result.map_err(|e| Error::System(format!("udp echo failed: {e}")))?,
            Err(_) => return Err(Error::System("udp echo thread panicked".into())),
        }
    }
    Ok(ExitCode::Success)
}
