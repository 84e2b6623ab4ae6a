//! What the browser checks ([`crate::audit::browser`]) ask an HTTP service:
//! what a web page could get from it. At most eight requests, in this
//! order, each within the service's deadline (and at most half of the time
//! left, so one hung request leaves time for the rest):
//!
//! - `GET /` under a foreign Host name ([`FOREIGN_HOST`]), to compare with
//!   the answer under the loopback name (asked again when identification
//!   got none): DNS rebinding;
//! - `GET /` from a foreign Origin ([`FOREIGN_ORIGIN`]), then from `null`
//!   unless the first answer already let the foreign origin read it: CORS;
//! - `OPTIONS /` as Chromium's Private Network Access preflight;
//! - WebSocket handshakes from the foreign Origin on [`WEBSOCKET_PATHS`],
//!   until one is accepted (101); the connection is dropped as soon as the
//!   101 head arrives.

use super::service::Service;
use crate::net::http_client::Response;

/// The Host name a DNS-rebinding page would send (`.invalid` never resolves).
pub const FOREIGN_HOST: &str = "rebind-check.berth.invalid";
/// The Origin of a web page that should have no access.
pub const FOREIGN_ORIGIN: &str = "https://attacker.example";
/// Where WebSocket handshakes are tried, in order; the first 101 ends the search.
pub const WEBSOCKET_PATHS: &[&str] = &["/", "/ws", "/websocket", "/socket.io/?EIO=4&transport=websocket"];
/// RFC 6455: appended to the key before hashing it into Sec-WebSocket-Accept.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What an HTTP service answered to a web page's requests.
#[derive(Clone, Debug, Default)]
pub struct Answers {
    /// `GET /` under the loopback and under a foreign Host name (None when
    /// either got no HTTP answer).
    pub rebinding: Option<Rebinding>,
    /// `GET /` from each Origin asked ([`FOREIGN_ORIGIN`], then maybe `null`)
    /// and its answer.
    pub cors: Vec<(&'static str, Response)>,
    /// The answer to the Private Network Access preflight.
    pub preflight: Option<Response>,
    /// The first WebSocket handshake the service accepted.
    pub websocket: Option<Upgrade>,
}

/// The same page asked for under two Host names.
#[derive(Clone, Debug)]
pub struct Rebinding {
    /// Under the loopback name ("127.0.0.1:8080").
    pub loopback: Response,
    /// The foreign Host header sent ("rebind-check.berth.invalid:8080").
    pub foreign_host: String,
    /// Under that foreign name.
    pub foreign: Response,
}

/// A WebSocket handshake from a foreign Origin that got a 101.
#[derive(Clone, Debug)]
pub struct Upgrade {
    pub path: &'static str,
    pub response: Response,
    /// The Sec-WebSocket-Accept a real WebSocket server answers to the key sent.
    pub expected_accept: String,
}

/// What an answer's Access-Control-Allow-Origin grants a request from an origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// No such header, or it names another origin.
    Denied,
    /// `*`: every origin.
    Any,
    /// The request's own origin, echoed back.
    Reflected,
}

/// What `response` grants a request from `origin`.
pub fn grant(response: &Response, origin: &str) -> Grant {
    match response.header("access-control-allow-origin").map(str::trim) {
        Some("*") => Grant::Any,
        Some(allowed) if allowed.eq_ignore_ascii_case(origin) => Grant::Reflected,
        _ => Grant::Denied,
    }
}

/// Asks the requests above, in order.
pub fn ask(service: &Service) -> Answers {
    Answers {
        rebinding: rebinding(service),
        cors: cors(service),
        preflight: preflight(service),
        websocket: websocket(service),
    }
}

/// The loopback answer to `GET /`, then the foreign one. A refusal by
/// closing the connection (nginx's 444) is no HTTP answer: None.
fn rebinding(service: &Service) -> Option<Rebinding> {
    let loopback = match &service.baseline {
        Some(baseline) => baseline.clone(),
        None => service.fetch("GET", "/", &service.host, &[]).ok()?,
    };
    let foreign_host = format!("{FOREIGN_HOST}:{}", service.listener.port);
    let foreign = service.fetch("GET", "/", &foreign_host, &[]).ok()?;
    Some(Rebinding { loopback, foreign_host, foreign })
}

/// GET / from a foreign Origin, then from `null` unless the first answer
/// already let the foreign origin read it.
fn cors(service: &Service) -> Vec<(&'static str, Response)> {
    let mut answers: Vec<(&'static str, Response)> = Vec::new();
    for origin in [FOREIGN_ORIGIN, "null"] {
        if answers.iter().any(|(asked, response)| grant(response, asked) != Grant::Denied) {
            break;
        }
        if let Ok(response) = service.fetch("GET", "/", &service.host, &[("Origin", origin)]) {
            answers.push((origin, response));
        }
    }
    answers
}

/// `OPTIONS /` as Chromium sends it before a public page's request to a
/// local server.
fn preflight(service: &Service) -> Option<Response> {
    let headers = [
        ("Origin", FOREIGN_ORIGIN),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Private-Network", "true"),
    ];
    service.fetch("OPTIONS", "/", &service.host, &headers).ok()
}

/// A WebSocket handshake from a foreign Origin on each of
/// [`WEBSOCKET_PATHS`], until the first 101.
fn websocket(service: &Service) -> Option<Upgrade> {
    let key = base64(&random_bytes());
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key.as_str()),
        ("Origin", FOREIGN_ORIGIN),
    ];
    for path in WEBSOCKET_PATHS {
        let Ok(response) = service.fetch("GET", path, &service.host, &headers) else { continue };
        if response.head.status != 101 {
            continue;
        }
        let expected_accept = base64(&sha1(format!("{key}{WEBSOCKET_GUID}").as_bytes()));
        return Some(Upgrade { path, response, expected_accept });
    }
    None
}

/// 16 random bytes for a Sec-WebSocket-Key (ring's system random source;
/// the clock if that fails: the key only has to differ between requests).
fn random_bytes() -> [u8; 16] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// SHA-1, only to check Sec-WebSocket-Accept as RFC 6455 defines it.
fn sha1(message: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, message).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http_client::Head;

    #[test]
    fn websocket_accept_of_the_rfc_example() {
        // RFC 6455 section 1.3.
        let accept = base64(&sha1(format!("dGhlIHNhbXBsZSBub25jZQ=={WEBSOCKET_GUID}").as_bytes()));
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&random_bytes()).len(), 24);
    }

    #[test]
    fn grants_are_read() {
        let answer = |value: &str| Response {
            head: Head {
                status: 200,
                reason: String::new(),
                headers: vec![("Access-Control-Allow-Origin".into(), value.into())],
            },
            body: Vec::new(),
            truncated: false,
        };
        assert_eq!(grant(&answer(" * "), FOREIGN_ORIGIN), Grant::Any);
        assert_eq!(grant(&answer("NULL"), "null"), Grant::Reflected);
        assert_eq!(grant(&answer("http://localhost:3000"), FOREIGN_ORIGIN), Grant::Denied);
    }
}
