//! `berth connect TARGET`: connect stdin and stdout to a TCP or UDP peer,
//! like nc. Refused and timed out give different exit codes (1 and 5).

use crate::stderr::say;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::cli::{ConnectArgs, GlobalArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net;
use crate::printable::printable;
use crate::servers::bridge::{self, Failure};

pub fn run(args: &ConnectArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    let (timeout, idle) = (args.timeout, args.idle_timeout);
    // PORT alone is localhost: 127.0.0.1 and ::1, as `probe` resolves it;
    // every address is tried in that order.
    let target = &args.target;
    let addresses: Vec<SocketAddr> =
        net::resolve::resolve(&target.host)?.into_iter().map(|ip| SocketAddr::new(ip, target.port)).collect();
    if args.udp {
        return connect_udp(&addresses, timeout, idle);
    }
    let mut refused = Vec::new();
    let mut timed_out = Vec::new();
    for address in &addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => {
                say!("berth: connected to {address}");
                let _ = stream.set_nodelay(true);
                finish_bridge(*address, bridge::tcp(stream, idle));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused.push(*address),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => timed_out.push(*address),
            Err(e) => return Err(Error::System(format!("cannot connect to {address}: {e}"))),
        }
    }
    let list = |v: &[SocketAddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
    if !timed_out.is_empty() {
        say!(
            "berth: {} did not answer within {:.1} s (packets dropped, or a full accept queue){}",
            list(&timed_out),
            timeout.as_secs_f64(),
            if refused.is_empty() { String::new() } else { format!("; {} refused", list(&refused)) }
        );
        return Ok(ExitCode::TimedOut);
    }
    say!(
        "berth: connection refused by {}: nothing listens there (berth who {} shows what does)",
        list(&refused),
        addresses[0].port()
    );
    Ok(ExitCode::NothingFound)
}

fn connect_udp(addresses: &[SocketAddr], linger: Duration, idle: Option<Duration>) -> Result<ExitCode, Error> {
    let address = addresses[0];
    let local: SocketAddr =
        if address.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).map_err(|e| Error::System(format!("cannot open a UDP socket: {e}")))?;
    socket.connect(address).map_err(|e| Error::System(format!("cannot address {address}: {e}")))?;
    say!("berth: sending datagrams to {address}");
    // After stdin, wait -w for the answers to what was sent.
    match bridge::udp(socket, Some(linger), idle) {
        Err(Failure::Refused { .. }) => {
            say!("berth: {address} refused (ICMP port unreachable): nothing listens there");
            std::process::exit(ExitCode::NothingFound.code())
        }
        result => finish_bridge(address, result),
    }
}

/// Ends the process after a bridge: 0 when everything was delivered both
/// ways, 5 after `--idle-timeout`, 3 when bytes were left unsent or
/// unwritten (a reset, a write error), each failure with one line saying
/// what was lost. It exits rather than returns: the stdin thread may still
/// be blocked reading a terminal, and waiting for it would hang. (stdout
/// needs no flush here: the bridge flushes every write, and a copy thread
/// blocked on a full stdout pipe must not hold up the exit.)
pub(crate) fn finish_bridge(peer: SocketAddr, result: Result<(), Failure>) -> ! {
    let code = match result {
        Ok(()) => ExitCode::Success,
        Err(failure) => {
            say!("berth: {peer}: {}", printable(&failure.to_string()));
            match failure {
                Failure::Idle(_) => ExitCode::TimedOut,
                _ => ExitCode::ActionFailed,
            }
        }
    };
    std::process::exit(code.code())
}
