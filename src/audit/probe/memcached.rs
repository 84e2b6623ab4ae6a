//! What `noauth.memcached` asks a memcached: `stats` in the text
//! protocol (`STAT pid ...` lines mean no authentication; `CLIENT_ERROR
//! unauthenticated` is what memcached started with an auth file (`-Y FILE`)
//! answers before a login, and with SASL (`-S`) the text protocol is
//! refused altogether), then `quit`.

use super::service::Service;
use super::wire::Conn;
use crate::audit::clip;

/// The most lines of a `stats` answer berth reads.
const MAX_LINES: usize = 200;

/// What `stats` told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stats {
    /// Statistics came back: (name, value) pairs as read.
    Open(Vec<(String, String)>),
    /// An error line (`CLIENT_ERROR unauthenticated`, `ERROR`, ...).
    Refused(String),
}

/// Reads the answer to `stats`: STAT lines up to END, or one error line.
pub fn read_stats(conn: &mut Conn) -> Result<Stats, String> {
    let mut stats = Vec::new();
    for _ in 0..MAX_LINES {
        let line = String::from_utf8_lossy(&conn.line()?).into_owned();
        if line == "END" {
            break;
        }
        match line.strip_prefix("STAT ") {
            Some(rest) => {
                let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                stats.push((name.to_string(), value.to_string()));
            }
            None if stats.is_empty() => return Ok(Stats::Refused(clip(&line, 80))),
            None => break,
        }
    }
    if stats.iter().any(|(name, _)| name == "pid") {
        Ok(Stats::Open(stats))
    } else {
        Ok(Stats::Refused("no STAT pid line".into()))
    }
}

/// Asks `stats`, then `quit`. None when berth could not connect or send,
/// or the answer could not be read.
pub fn ask(service: &Service) -> Option<Stats> {
    let stream = service.connect().ok()?;
    let mut conn = Conn::new(stream);
    conn.send(b"stats\r\n").ok()?;
    let stats = read_stats(&mut conn);
    let _ = conn.send(b"quit\r\n");
    stats.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// A Conn reading `answer` from a loopback peer.
    fn conn_reading(answer: &'static [u8]) -> Conn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let writer = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().expect("accept");
            let _ = peer.write_all(answer);
        });
        let stream = TcpStream::connect(address).expect("connect");
        writer.join().expect("writer");
        Conn::new(crate::net::deadline::DeadlineStream::new(stream, Instant::now() + Duration::from_secs(2)))
    }

    #[test]
    fn stats_are_read() {
        let mut conn = conn_reading(b"STAT pid 42\r\nSTAT version 1.6.18\r\nEND\r\n");
        let Ok(Stats::Open(stats)) = read_stats(&mut conn) else { panic!("stats not read") };
        assert_eq!(stats[1], ("version".to_string(), "1.6.18".to_string()));
        let mut conn = conn_reading(b"CLIENT_ERROR unauthenticated\r\n");
        assert_eq!(read_stats(&mut conn), Ok(Stats::Refused("CLIENT_ERROR unauthenticated".into())));
    }
}
