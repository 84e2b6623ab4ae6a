//! What `noauth.redis` asks a Redis (or Valkey, KeyDB), in RESP: `PING`
//! (`+PONG` means no password; `-NOAUTH` or `-WRONGPASS` means one is
//! required; `-DENIED` means protected mode turned berth away); when it
//! let berth in, `INFO server` for the version and `CONFIG GET
//! protected-mode` (a read; it may be renamed or forbidden, then protected
//! mode is unknown); then `QUIT`.

use super::service::Service;
use super::wire::Conn;
use crate::audit::clip;

/// One RESP reply, as far as the probe needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// The most elements of an array reply berth reads.
const MAX_ELEMENTS: i64 = 256;

/// A command as a RESP array of bulk strings.
pub fn command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// Reads one reply (arrays nested at most `depth` deep).
pub fn read_reply(conn: &mut Conn, depth: u8) -> Result<Reply, String> {
    let line = conn.line()?;
    let Some((&kind, rest)) = line.split_first() else { return Err("an empty line instead of a RESP reply".into()) };
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = || text.trim().parse::<i64>().map_err(|_| format!("not a RESP length: '{}'", clip(&text, 40)));
    match kind {
        b'+' => Ok(Reply::Simple(text)),
        b'-' => Ok(Reply::Error(text)),
        b':' => Ok(Reply::Integer(number()?)),
        b'$' => {
            let length = number()?;
            if length < 0 {
                return Ok(Reply::Bulk(None));
            }
            let length = usize::try_from(length).map_err(|_| "a bulk length out of range".to_string())?;
            let mut data = conn.exact(length + 2)?;
            data.truncate(length);
            Ok(Reply::Bulk(Some(data)))
        }
        b'*' => {
            let count = number()?;
            if count < 0 {
                return Ok(Reply::Array(None));
            }
            if count > MAX_ELEMENTS || depth == 0 {
                return Err(format!("an array reply of {count} elements"));
            }
            let mut items = Vec::new();
            for _ in 0..count {
                items.push(read_reply(conn, depth - 1)?);
            }
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(format!("not a RESP reply: '{}'", clip(&String::from_utf8_lossy(&line), 60))),
    }
}

/// What `PING` told about authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ping {
    /// `+PONG`: no password needed.
    Open,
    /// `-NOAUTH`, `-WRONGPASS`, `-NOPERM`: a password or ACL user is required.
    AuthRequired(String),
    /// `-DENIED`: protected mode refused berth's (non-loopback) connection.
    Denied(String),
    /// Anything else: not Redis, or not understood.
    Other(String),
}

impl Ping {
    /// What a reply to `PING` says.
    pub fn of(reply: &Reply) -> Ping {
        match reply {
            Reply::Simple(text) if text.eq_ignore_ascii_case("PONG") => Ping::Open,
            Reply::Error(text)
                if text.starts_with("NOAUTH") || text.starts_with("WRONGPASS") || text.starts_with("NOPERM") =>
            {
                Ping::AuthRequired(text.clone())
            }
            Reply::Error(text) if text.starts_with("DENIED") => Ping::Denied(text.clone()),
            other => Ping::Other(format!("{other:?}")),
        }
    }
}

/// `redis_version:7.0.15` (or valkey_version) from an INFO answer.
pub fn version_line(info: &str) -> Option<String> {
    info.lines()
        .map(str::trim)
        .find(|l| l.starts_with("redis_version:") || l.starts_with("valkey_version:"))
        .map(str::to_string)
}

/// protected-mode from a `CONFIG GET protected-mode` reply.
pub fn protected_mode(reply: &Reply) -> Result<bool, String> {
    match reply {
        Reply::Array(Some(items)) => {
            let words: Vec<String> = items
                .iter()
                .filter_map(|r| match r {
                    Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                    Reply::Simple(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            match words.iter().position(|w| w.eq_ignore_ascii_case("protected-mode")).and_then(|i| words.get(i + 1)) {
                Some(value) if value.eq_ignore_ascii_case("yes") => Ok(true),
                Some(value) if value.eq_ignore_ascii_case("no") => Ok(false),
                Some(value) => Err(format!("protected-mode is '{}'", clip(value, 20))),
                None => Err("CONFIG GET protected-mode returned no value".into()),
            }
        }
        Reply::Error(text) => Err(format!("CONFIG GET protected-mode answered -{}", clip(text, 80))),
        other => Err(format!("CONFIG GET protected-mode answered {}", clip(&format!("{other:?}"), 80))),
    }
}

/// What a Redis that let berth in without a password told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// `redis_version:7.0.15` from `INFO server`, when it answered one.
    pub version: Option<String>,
    /// `CONFIG GET protected-mode`: on or off, or why it is unknown.
    pub protected_mode: Result<bool, String>,
}

/// Asks `PING`, and when it answers `+PONG` the read-only questions
/// above. None when berth could not connect, or `PING` did not let it in.
pub fn ask(service: &Service) -> Option<Open> {
    let stream = service.connect().ok()?;
    let mut conn = Conn::new(stream);
    conn.send(&command(&["PING"])).ok()?;
    let reply = read_reply(&mut conn, 1).ok()?;
    if Ping::of(&reply) != Ping::Open {
        return None;
    }
    let version =
        conn.send(&command(&["INFO", "server"])).and_then(|_| read_reply(&mut conn, 1)).ok().and_then(|r| match r {
            Reply::Bulk(Some(bytes)) => version_line(&String::from_utf8_lossy(&bytes)),
            _ => None,
        });
    let protected_mode = conn
        .send(&command(&["CONFIG", "GET", "protected-mode"]))
        .and_then(|_| read_reply(&mut conn, 2))
        .and_then(|r| protected_mode(&r));
    let _ = conn.send(&command(&["QUIT"]));
    Some(Open { version, protected_mode })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(command(&["PING"]), b"*1\r\n$4\r\nPING\r\n".to_vec());
        assert_eq!(command(&["INFO", "server"]), b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n".to_vec());
    }

    #[test]
    fn ping_answers_are_judged() {
        assert_eq!(Ping::of(&Reply::Simple("PONG".into())), Ping::Open);
        assert!(matches!(Ping::of(&Reply::Error("NOAUTH Authentication required.".into())), Ping::AuthRequired(_)));
        assert!(matches!(
            Ping::of(&Reply::Error("WRONGPASS invalid username-password pair".into())),
            Ping::AuthRequired(_)
        ));
        assert!(matches!(
            Ping::of(&Reply::Error(
                "DENIED Redis is running in protected mode because protected mode is enabled".into()
            )),
            Ping::Denied(_)
        ));
        assert!(matches!(Ping::of(&Reply::Simple("OK".into())), Ping::Other(_)));
    }

    #[test]
    fn protected_mode_and_version_are_read() {
        let yes =
            Reply::Array(Some(vec![Reply::Bulk(Some(b"protected-mode".to_vec())), Reply::Bulk(Some(b"yes".to_vec()))]));
        assert_eq!(protected_mode(&yes), Ok(true));
        assert!(protected_mode(&Reply::Error("ERR unknown command 'CONFIG'".into())).is_err());
        assert!(protected_mode(&Reply::Array(Some(Vec::new()))).is_err());
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(version_line(info).as_deref(), Some("redis_version:7.0.15"));
    }
}
