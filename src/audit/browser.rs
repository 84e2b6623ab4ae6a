//! What a web page the user visits can do to an HTTP service on this
//! machine. The browser runs the page's script on the user's machine, so
//! "it only listens on 127.0.0.1" does not keep a web page out:
//!
//! - **DNS rebinding** (`http.dns-rebinding`): the page's own domain is
//!   re-pointed at 127.0.0.1, and the browser then sends the page's requests
//!   to the local service under the page's name, same-origin, so the page
//!   reads every answer. The only defence is the service refusing Host
//!   names it does not know. berth asks for `/` under a foreign name
//!   ([`FOREIGN_HOST`]) and compares with the answer under the loopback name.
//! - **CORS** (`http.cors-any-origin`, `http.cors-reflected`): an
//!   `Access-Control-Allow-Origin` of `*`, or one that echoes whatever
//!   Origin came (also `null`, the origin of sandboxed frames and `file:`
//!   pages), lets any page read the answers; with
//!   `Access-Control-Allow-Credentials: true` also with the user's cookies.
//! - **Private Network Access** (`http.private-network`): Chromium asks a
//!   private or local server before a public page may talk to it; answering
//!   `Access-Control-Allow-Private-Network: true` to anyone opts out.
//! - **WebSocket origins** (`http.websocket-origin`): browsers apply no CORS
//!   to WebSockets; the server must check Origin itself. A 101 to a foreign
//!   Origin means any page can open the socket.
//!
//! Every probe is a read: GET and OPTIONS of `/`, and WebSocket handshakes
//! whose connection is dropped as soon as the 101 head arrives. At most
//! eight requests per service, each within the service's deadline (and at
//! most half of the time left, so one hung request leaves time for the rest).

use super::probe::Service;
use super::{Facts, Finding, Severity};
use crate::net::http_client::Response;

/// The Host name a DNS-rebinding page would send (`.invalid` never resolves).
pub const FOREIGN_HOST: &str = "rebind-check.berth.invalid";
/// The Origin of a web page that should have no access.
pub const FOREIGN_ORIGIN: &str = "https://attacker.example";
/// Where WebSocket handshakes are tried, in order; the first 101 ends the search.
pub const WEBSOCKET_PATHS: &[&str] = &["/", "/ws", "/websocket", "/socket.io/?EIO=4&transport=websocket"];
/// RFC 6455: appended to the key before hashing it into Sec-WebSocket-Accept.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Runs the browser checks on one service that speaks HTTP.
pub fn check(service: &Service, _facts: &Facts) -> Vec<Finding> {
    if !service.is_http() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    findings.extend(dns_rebinding(service));

    let cors = cors(service);
    let preflight = preflight(service);
    // CORS as the preflight shows it counts too (for requests that need one).
    let allows_foreign = cors.allows_foreign() || preflight.as_ref().is_some_and(|p| p.cors.allows_foreign());
    let mut combined = cors;
    if let Some(p) = &preflight {
        combined.merge(&p.cors);
    }
    findings.extend(combined.findings(service));
    if let Some(p) = &preflight {
        findings.extend(private_network(service, p, allows_foreign));
    }
    findings.extend(websocket(service));
    findings
}

/// "200 OK (1234 bytes)".
fn describe(response: &Response) -> String {
    let reason = if response.head.reason.is_empty() { String::new() } else { format!(" {}", response.head.reason) };
    let more = if response.truncated { "+" } else { "" };
    format!("{}{reason} ({}{more} bytes)", response.head.status, response.body.len())
}

/// The Host header value for `name` at the service's port.
fn with_port(name: &str, service: &Service) -> String {
    format!("{name}:{}", service.listener.port)
}

// ------------------------------------------------------------ DNS rebinding

/// Words of rejection pages that answer with 200 (webpack-dev-server said
/// "Invalid Host header" with a 200 for years) or another status.
const REJECTION_WORDS: &[&str] =
    &["invalid host", "host not allowed", "disallowed host", "blocked request", "unknown host", "misdirected request"];

/// Why the answer under the foreign name is a refusal, if it is one
/// (words of a rejection page count only when the loopback answer lacks them).
fn refusal(foreign: &Response, baseline: &Response, foreign_host: &str) -> Option<String> {
    let status = foreign.head.status;
    if matches!(status, 400 | 403 | 421) {
        return Some(format!("answered {status}"));
    }
    let body = foreign.body_text().to_ascii_lowercase();
    let ours = baseline.body_text().to_ascii_lowercase();
    if let Some(word) = REJECTION_WORDS.iter().find(|w| body.contains(*w) && !ours.contains(*w)) {
        return Some(format!("the answer says \"{word}\""));
    }
    if (300..400).contains(&status) {
        // A redirect to the canonical name leaves the attacker's origin.
        if let Some(location) = foreign.header("location") {
            let lower = location.to_ascii_lowercase();
            let absolute = lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//");
            let name = foreign_host.split(':').next().unwrap_or(foreign_host);
            if absolute && !lower.contains(name) {
                return Some(format!("it redirects to another name ({location})"));
            }
        }
    }
    None
}

/// The service answers a foreign Host as it answers the loopback one.
fn dns_rebinding(service: &Service) -> Option<Finding> {
    let fetched;
    let baseline = match &service.baseline {
        Some(baseline) => baseline,
        None => {
            fetched = service.fetch("GET", "/", &service.host, &[]).ok()?;
            &fetched
        }
    };
    let foreign_host = with_port(FOREIGN_HOST, service);
    // A refusal by closing the connection (nginx's 444) is an error here: not vulnerable.
    let foreign = service.fetch("GET", "/", &foreign_host, &[]).ok()?;
    if refusal(&foreign, baseline, &foreign_host).is_some() {
        return None;
    }
    let (ours, theirs) = (baseline.head.status, foreign.head.status);
    let both_succeed = (200..300).contains(&ours) && (200..300).contains(&theirs);
    if ours != theirs && !both_succeed {
        // Another answer (a virtual host's 404, an error): the name matters to it.
        return None;
    }
    if (200..300).contains(&theirs) && foreign.body.is_empty() && !baseline.body.is_empty() {
        // An empty page for unknown names (a catch-all that serves nothing).
        return None;
    }
    // High over TLS too, as the issue sets it: the certificate check is
    // the only thing in the way there, and users click through warnings
    // for local services (the evidence says so).
    let tls = service.endpoint.tls_name.is_some();
    let (severity, title) = if tls {
        (
            Severity::High,
            "HTTPS service answers requests for a foreign Host name: DNS rebinding is stopped only by the certificate check",
        )
    } else {
        (
            Severity::High,
            "HTTP service answers requests for a foreign Host name: any web page can read it through DNS rebinding",
        )
    };
    let mut finding = Finding::new("http.dns-rebinding", severity, title)
        .on(service.listener)
        .evidence(format!("GET / with Host: {} -> {}", service.host, describe(baseline)))
        .evidence(format!("GET / with Host: {foreign_host} -> {}", describe(&foreign)));
    if let Some(server) = baseline.header("server") {
        finding = finding.evidence(format!("Server: {server}"));
    }
    if tls {
        finding = finding.evidence(
            "over TLS a browser refuses the certificate for the rebinding name, unless the user clicks through"
                .to_string(),
        );
    }
    if !service.listener.loopback_only() {
        finding = finding.evidence("it is also bound beyond loopback, so other hosts reach it directly".to_string());
    }
    Some(finding.fix(host_fix(baseline.header("server"), service)))
}

/// How to add a Host allow-list, for the server when it is recognisable.
fn host_fix(server: Option<&str>, service: &Service) -> String {
    let server = server.unwrap_or_default().to_ascii_lowercase();
    let port = service.listener.port;
    if server.starts_with("nginx") {
        format!("nginx: name the real site with `server_name localhost 127.0.0.1;` and add `server {{ listen {port} default_server; return 421; }}` for every other Host")
    } else if server.starts_with("apache") {
        "Apache: make the first <VirtualHost> for the port a catch-all with `Require all denied`, and give the real one `ServerName localhost` and `ServerAlias 127.0.0.1`".into()
    } else if server.starts_with("simplehttp") {
        "python's http.server has no Host check: serve the directory with `berth serve DIR` instead, which answers only loopback Host names".into()
    } else if server.starts_with("werkzeug") {
        "Flask/Werkzeug: set `TRUSTED_HOSTS = [\"localhost\", \"127.0.0.1\"]` (Flask 3.1+) or reject other request.host values".into()
    } else if server.starts_with("uvicorn") || server.starts_with("hypercorn") {
        "Starlette/FastAPI: add `TrustedHostMiddleware(allowed_hosts=[\"localhost\", \"127.0.0.1\"])`".into()
    } else if server.starts_with("wsgiserver") {
        "Django: set `ALLOWED_HOSTS = [\"localhost\", \"127.0.0.1\"]`".into()
    } else {
        "reject Host headers other than localhost and 127.0.0.1 (answer 421 Misdirected Request), e.g. with the server's allowed-hosts setting".into()
    }
}

// ------------------------------------------------------------ CORS

/// What Access-Control-Allow-Origin said to foreign origins.
#[derive(Clone, Debug, Default)]
struct Cors {
    /// Evidence for `*`.
    any: Option<String>,
    /// Evidence for an echoed Origin (foreign or null).
    reflected: Vec<String>,
    /// Access-Control-Allow-Credentials: true came with an allowed origin.
    credentials: bool,
}

impl Cors {
    fn allows_foreign(&self) -> bool {
        self.any.is_some() || !self.reflected.is_empty()
    }

    fn merge(&mut self, other: &Cors) {
        if self.any.is_none() {
            self.any = other.any.clone();
        }
        if self.reflected.is_empty() {
            self.reflected = other.reflected.clone();
        }
        self.credentials |= other.credentials && !other.reflected.is_empty();
    }

    /// Reads one answer to a request from `origin`.
    fn read(&mut self, request: &str, origin: &str, response: &Response) {
        let Some(allowed) = response.header("access-control-allow-origin").map(str::trim) else { return };
        let credentials =
            response.header("access-control-allow-credentials").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let credentials_text = if credentials { ", Access-Control-Allow-Credentials: true" } else { "" };
        if allowed == "*" {
            if self.any.is_none() {
                self.any = Some(format!(
                    "{request} with Origin: {origin} -> Access-Control-Allow-Origin: *{credentials_text}"
                ));
            }
        } else if allowed.eq_ignore_ascii_case(origin) {
            self.reflected.push(format!(
                "{request} with Origin: {origin} -> Access-Control-Allow-Origin: {allowed}{credentials_text}"
            ));
            self.credentials |= credentials;
        }
    }

    fn findings(&self, service: &Service) -> Vec<Finding> {
        let mut findings = Vec::new();
        if !self.reflected.is_empty() {
            let (severity, title) = if self.credentials {
                (
                    Severity::High,
                    "HTTP service reflects any Origin with credentials allowed: any web page can read it with the user's cookies",
                )
            } else {
                (
                    Severity::Medium,
                    "HTTP service reflects any Origin in Access-Control-Allow-Origin: any web page can read it",
                )
            };
            let mut finding = Finding::new("http.cors-reflected", severity, title).on(service.listener);
            for fact in &self.reflected {
                finding = finding.evidence(fact.clone());
            }
            findings.push(finding.fix(
                "compare Origin with an allow-list of exact origins before echoing it (never `null`), and send Access-Control-Allow-Credentials only to those",
            ));
        } else if let Some(fact) = &self.any {
            findings.push(
                Finding::new(
                    "http.cors-any-origin",
                    Severity::Medium,
                    "HTTP service allows every origin (Access-Control-Allow-Origin: *): any web page can read it",
                )
                .on(service.listener)
                .evidence(fact.clone())
                .fix("drop Access-Control-Allow-Origin: *, or send only the exact origins that need access"),
            );
        }
        findings
    }
}

/// GET / from a foreign Origin, then from `null` unless the first answer
/// already allowed foreign origins.
fn cors(service: &Service) -> Cors {
    let mut cors = Cors::default();
    for origin in [FOREIGN_ORIGIN, "null"] {
        if cors.allows_foreign() {
            break;
        }
        if let Ok(response) = service.fetch("GET", "/", &service.host, &[("Origin", origin)]) {
            cors.read("GET /", origin, &response);
        }
    }
    cors
}

// ------------------------------------------------------------ Private Network Access

/// The answer to a Private Network Access preflight.
struct Preflight {
    /// Access-Control-Allow-Private-Network: true.
    allows_private: bool,
    status: u16,
    cors: Cors,
}

/// `OPTIONS /` as Chromium sends it before a public page's request to a
/// local server.
fn preflight(service: &Service) -> Option<Preflight> {
    let headers = [
        ("Origin", FOREIGN_ORIGIN),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Private-Network", "true"),
    ];
    let response = service.fetch("OPTIONS", "/", &service.host, &headers).ok()?;
    let allows_private =
        response.header("access-control-allow-private-network").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let mut cors = Cors::default();
    cors.read("OPTIONS / (preflight)", FOREIGN_ORIGIN, &response);
    Some(Preflight { allows_private, status: response.head.status, cors })
}

fn private_network(service: &Service, preflight: &Preflight, allows_foreign: bool) -> Option<Finding> {
    if !preflight.allows_private {
        return None;
    }
    let (severity, title) = if allows_foreign {
        (
            Severity::High,
            "HTTP service lets public web pages into the private network (Access-Control-Allow-Private-Network: true) and allows their origin",
        )
    } else {
        (
            Severity::Medium,
            "HTTP service lets public web pages into the private network (Access-Control-Allow-Private-Network: true)",
        )
    };
    let mut finding = Finding::new("http.private-network", severity, title).on(service.listener).evidence(format!(
        "OPTIONS / with Origin: {FOREIGN_ORIGIN} and Access-Control-Request-Private-Network: true -> {} with Access-Control-Allow-Private-Network: true",
        preflight.status
    ));
    if allows_foreign {
        finding =
            finding.evidence("its CORS headers also allow that foreign origin (see the CORS finding)".to_string());
    } else {
        finding =
            finding.evidence("no CORS header allowed the foreign origin, so pages can send but not read".to_string());
    }
    Some(
        finding.fix("send Access-Control-Allow-Private-Network: true only in answer to the exact origins that need it"),
    )
}

// ------------------------------------------------------------ WebSocket

/// A WebSocket handshake from a foreign Origin on each of [`WEBSOCKET_PATHS`];
/// the first 101 is the finding.
fn websocket(service: &Service) -> Option<Finding> {
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
        let expected = base64(&sha1(format!("{key}{WEBSOCKET_GUID}").as_bytes()));
        let accept = match response.header("sec-websocket-accept").map(str::trim) {
            Some(value) if value == expected => {
                "Sec-WebSocket-Accept matches the key: a real WebSocket handshake".into()
            }
            Some(value) => format!("Sec-WebSocket-Accept {value} does not match the key (expected {expected})"),
            None => "no Sec-WebSocket-Accept header".to_string(),
        };
        return Some(
            Finding::new(
                "http.websocket-origin",
                Severity::High,
                "WebSocket endpoint accepts a connection from a foreign Origin: any web page can use it",
            )
            .on(service.listener)
            .evidence(format!(
                "GET {path} with Upgrade: websocket and Origin: {FOREIGN_ORIGIN} -> {} {}",
                response.head.status, response.head.reason
            ))
            .evidence(accept)
            .fix("check the Origin header of WebSocket handshakes against an allow-list and refuse others with 403"),
        );
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

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            head: Head {
                status,
                reason: String::new(),
                headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            },
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

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
    fn refusals_are_recognised() {
        let host = "rebind-check.berth.invalid:80";
        let page = response(200, &[], "<h1>Directory listing</h1>");
        assert!(refusal(&response(421, &[], ""), &page, host).is_some());
        assert!(refusal(&response(200, &[], "Invalid Host header"), &page, host).is_some());
        assert!(refusal(&response(301, &[("Location", "http://localhost/")], ""), &page, host).is_some());
        let back_to_us = response(301, &[("Location", "http://rebind-check.berth.invalid/x")], "");
        assert!(refusal(&back_to_us, &page, host).is_none());
        assert!(refusal(&page, &page, host).is_none());
        let docs = response(200, &[], "how to fix an invalid host header");
        assert!(refusal(&docs, &docs, host).is_none());
    }

    #[test]
    fn cors_answers_are_read() {
        let mut cors = Cors::default();
        cors.read("GET /", "null", &response(200, &[("Access-Control-Allow-Origin", "null")], ""));
        assert!(cors.allows_foreign() && !cors.credentials);
        let mut any = Cors::default();
        any.read(
            "GET /",
            FOREIGN_ORIGIN,
            &response(200, &[("access-control-allow-origin", "*"), ("Access-Control-Allow-Credentials", "true")], ""),
        );
        assert!(any.any.is_some() && any.reflected.is_empty() && !any.credentials);
        let mut none = Cors::default();
        none.read(
            "GET /",
            FOREIGN_ORIGIN,
            &response(200, &[("Access-Control-Allow-Origin", "http://localhost:3000")], ""),
        );
        assert!(!none.allows_foreign());
    }
}
