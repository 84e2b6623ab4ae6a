//! What `noauth.postgres-trust` asks a PostgreSQL server: a protocol 3.0
//! StartupMessage (no SSLRequest first) for user `postgres`, database
//! `postgres`, and the first answer read: `AuthenticationOk` (R, code 0)
//! before any password is trust; a password, MD5, SASL, GSS or SSPI request
//! means the server wants credentials, and an ErrorResponse (no pg_hba.conf
//! entry, role missing) means no way in. When the `postgres` role does not
//! exist, the socket owner's user name is tried once more. Each connection
//! ends with Terminate (X) at once: no query is ever sent.

use super::service::Service;
use super::wire::{Conn, MAX_FRAME};

/// Messages read after AuthenticationOk at most (ParameterStatus, ...).
const MAX_MESSAGES: usize = 40;

/// The protocol version 3.0.
const PROTOCOL_3_0: u32 = 196_608;

/// What the server answered the startup message with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Startup {
    /// AuthenticationOk without a password; ParameterStatus pairs read after it.
    Trusted { parameters: Vec<(String, String)>, error: Option<String> },
    /// An authentication request: its code and name.
    Credentials(u32, &'static str),
    /// An ErrorResponse: SQLSTATE and message.
    Error { code: String, message: String },
    /// Something that is not the PostgreSQL protocol.
    Other(String),
}

/// A StartupMessage for `user` and `database`.
pub fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (key, value) in [("user", user), ("database", database), ("application_name", "berth-audit")] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = u32::try_from(body.len() + 4).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// Terminate.
pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// One backend message: its type byte and payload.
pub fn read_message(conn: &mut Conn) -> Result<(u8, Vec<u8>), String> {
    let head = conn.exact(5)?;
    let kind = head[0];
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=MAX_FRAME).contains(&length) || !kind.is_ascii_alphabetic() {
        return Err(format!("not a PostgreSQL message: {}", crate::printable::printable_bytes(&head)));
    }
    Ok((kind, conn.exact(length - 4)?))
}

/// The name of an authentication request code.
pub fn auth_name(code: u32) -> &'static str {
    match code {
        0 => "AuthenticationOk",
        2 => "KerberosV5",
        3 => "cleartext password",
        5 => "MD5 password",
        7 => "GSSAPI",
        9 => "SSPI",
        10 => "SASL (SCRAM)",
        _ => "another method",
    }
}

/// The fields of an ErrorResponse: (SQLSTATE, message).
pub fn error_fields(payload: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut message = String::new();
    for field in payload.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else { continue };
        let value = String::from_utf8_lossy(value).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    (code, message)
}

/// Two NUL-terminated strings (a ParameterStatus).
fn pair(payload: &[u8]) -> Option<(String, String)> {
    let mut parts = payload.split(|&b| b == 0);
    let name = String::from_utf8_lossy(parts.next()?).into_owned();
    let value = String::from_utf8_lossy(parts.next()?).into_owned();
    Some((name, value))
}

/// Reads the server's answer to a startup message.
pub fn read_startup(conn: &mut Conn) -> Startup {
    let (kind, payload) = match read_message(conn) {
        Ok(message) => message,
        Err(e) => return Startup::Other(e),
    };
    match kind {
        b'R' if payload.len() >= 4 => {
            let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            if code != 0 {
                return Startup::Credentials(code, auth_name(code));
            }
            let mut parameters = Vec::new();
            let mut error = None;
            for _ in 0..MAX_MESSAGES {
                match read_message(conn) {
                    Ok((b'S', payload)) => parameters.extend(pair(&payload)),
                    Ok((b'E', payload)) => {
                        let (code, message) = error_fields(&payload);
                        error = Some(format!("{code} {message}"));
                        break;
                    }
                    Ok((b'Z', _)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            Startup::Trusted { parameters, error }
        }
        b'E' => {
            let (code, message) = error_fields(&payload);
            Startup::Error { code, message }
        }
        other => Startup::Other(format!("message type '{}'", other as char)),
    }
}

/// One attempt: connect, start up as `user`, read, terminate.
fn attempt(service: &Service, user: &str) -> Option<Startup> {
    let stream = service.connect().ok()?;
    let mut conn = Conn::new(stream);
    conn.send(&startup_message(user, "postgres")).ok()?;
    let answer = read_startup(&mut conn);
    let _ = conn.send(&TERMINATE);
    Some(answer)
}

/// Who berth started up as, and what the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub answer: Startup,
}

/// Starts up as `postgres`, and when that role does not exist, as the
/// socket owner's user. None when a connection could not be made.
pub fn ask(service: &Service) -> Option<Login> {
    let mut user = "postgres".to_string();
    let mut answer = attempt(service, &user)?;
    let role_missing = matches!(&answer, Startup::Error { code, message }
        if code == "28000" && message.contains("does not exist"));
    if role_missing {
        let owner = service.listener.owners.first().and_then(|o| o.user.clone());
        if let Some(owner) = owner.filter(|o| o != "postgres" && !o.is_empty()) {
            user = owner;
            answer = attempt(service, &user)?;
        }
    }
    Some(Login { user, answer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_message_is_framed() {
        let message = startup_message("postgres", "postgres");
        let length = u32::from_be_bytes([message[0], message[1], message[2], message[3]]) as usize;
        assert_eq!(length, message.len());
        assert_eq!(&message[4..8], &PROTOCOL_3_0.to_be_bytes());
        assert!(message.ends_with(b"berth-audit\0\0"));
    }

    #[test]
    fn error_fields_are_read() {
        let payload = b"SFATAL\0VFATAL\0C28000\0Mrole \"postgres\" does not exist\0Fpostinit.c\0\0";
        assert_eq!(error_fields(payload), ("28000".into(), "role \"postgres\" does not exist".into()));
        assert_eq!(auth_name(10), "SASL (SCRAM)");
    }
}
