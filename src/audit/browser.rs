//! What a web page the user visits can do to an HTTP service on this
//! machine. The browser runs the page's script on the user's machine, so
//! "it only listens on 127.0.0.1" does not keep a web page out:
//!
//! - **DNS rebinding** (`http.dns-rebinding`): the page's own domain is
//!   re-pointed at 127.0.0.1, and the browser then sends the page's requests
//!   to the local service under the page's name, same-origin, so the page
//!   reads every answer. The only defence is the service refusing Host
//!   names it does not know. berth asks for `/` under a foreign name
//!   ([`FOREIGN_HOST`]) and compares with the answer under the loopback
//!   name.
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
//! Every request is a read (GET and OPTIONS of `/`, and WebSocket
//! handshakes dropped at the 101); they are asked in
//! [`crate::audit::probe::browser`].
//!
//! [`FOREIGN_HOST`]: crate::audit::probe::browser::FOREIGN_HOST

use super::probe::browser::{self, grant, Grant, Rebinding, Upgrade, FOREIGN_ORIGIN};
use super::probe::Service;
use super::{Check, CheckInfo, Finding, Machine, Severity};
use crate::net::http_client::Response;

/// `http.dns-rebinding`: the service answers a foreign Host as it answers
/// the loopback one.
pub struct DnsRebinding;

impl Check for DnsRebinding {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "http.dns-rebinding",
            summary: "an HTTP service answers requests for a foreign Host name, so any web page can read it through DNS rebinding",
            default_severity: Severity::High,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        let rebinding = service.answers.browser.as_ref().and_then(|answers| answers.rebinding.as_ref());
        rebinding.and_then(|rebinding| dns_rebinding(service, rebinding)).into_iter().collect()
    }
}

/// `http.cors-any-origin` and `http.cors-reflected`: CORS headers that let
/// any page read the answers (as GET / or the preflight shows them).
pub struct Cors;

impl Check for Cors {
    fn ids(&self) -> &'static [CheckInfo] {
        &[
            CheckInfo {
                id: "http.cors-any-origin",
                summary: "an HTTP service allows every origin (Access-Control-Allow-Origin: *)",
                default_severity: Severity::Medium,
            },
            CheckInfo {
                id: "http.cors-reflected",
                summary: "an HTTP service reflects any Origin in Access-Control-Allow-Origin",
                default_severity: Severity::Medium,
            },
        ]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        let Some(answers) = &service.answers.browser else { return Vec::new() };
        let (mut cors, preflight) = grants(answers);
        // CORS as the preflight shows it counts too (for requests that need one).
        if let Some(p) = &preflight {
            cors.merge(&p.cors);
        }
        cors.findings(service)
    }
}

/// `http.private-network`: the service lets public pages into the private
/// network.
pub struct PrivateNetwork;

impl Check for PrivateNetwork {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "http.private-network",
            summary: "an HTTP service allows Private Network Access from public web pages",
            default_severity: Severity::Medium,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        let Some(answers) = &service.answers.browser else { return Vec::new() };
        let (cors, preflight) = grants(answers);
        let Some(preflight) = preflight else { return Vec::new() };
        let allows_foreign = cors.allows_foreign() || preflight.cors.allows_foreign();
        private_network(service, &preflight, allows_foreign).into_iter().collect()
    }
}

/// `http.websocket-origin`: a WebSocket handshake from a foreign Origin
/// is accepted.
pub struct WebSocketOrigin;

impl Check for WebSocketOrigin {
    fn ids(&self) -> &'static [CheckInfo] {
        &[CheckInfo {
            id: "http.websocket-origin",
            summary: "a WebSocket endpoint accepts a connection from a foreign Origin",
            default_severity: Severity::High,
        }]
    }

    fn judge_service(&self, service: &Service, _machine: &Machine) -> Vec<Finding> {
        let upgrade = service.answers.browser.as_ref().and_then(|answers| answers.websocket.as_ref());
        upgrade.map(|upgrade| websocket(service, upgrade)).into_iter().collect()
    }
}

/// What the answers to GET / from foreign Origins allowed, and the preflight's.
fn grants(answers: &browser::Answers) -> (CorsGrants, Option<Preflight>) {
    let mut cors = CorsGrants::default();
    for (origin, response) in &answers.cors {
        cors.read("GET /", origin, response);
    }
    (cors, answers.preflight.as_ref().map(preflight))
}

/// "200 OK (1234 bytes)".
fn describe(response: &Response) -> String {
    let reason = if response.head.reason.is_empty() { String::new() } else { format!(" {}", response.head.reason) };
    let more = if response.truncated { "+" } else { "" };
    format!("{}{reason} ({}{more} bytes)", response.head.status, response.body.len())
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
fn dns_rebinding(service: &Service, rebinding: &Rebinding) -> Option<Finding> {
    let Rebinding { loopback: baseline, foreign_host, foreign } = rebinding;
    if refusal(foreign, baseline, foreign_host).is_some() {
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
        .evidence(format!("GET / with Host: {foreign_host} -> {}", describe(foreign)));
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
        "python's http.server has no Host check: serve the directory with `berth serve DIR` instead, as your own user (without sudo), which answers only loopback Host names".into()
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
struct CorsGrants {
    /// Evidence for `*`.
    any: Option<String>,
    /// Evidence for an echoed Origin (foreign or null).
    reflected: Vec<String>,
    /// Access-Control-Allow-Credentials: true came with an allowed origin.
    credentials: bool,
}

impl CorsGrants {
    fn allows_foreign(&self) -> bool {
        self.any.is_some() || !self.reflected.is_empty()
    }

    fn merge(&mut self, other: &CorsGrants) {
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
        let credentials =
            response.header("access-control-allow-credentials").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let credentials_text = if credentials { ", Access-Control-Allow-Credentials: true" } else { "" };
        match grant(response, origin) {
            Grant::Any if self.any.is_none() => {
                self.any = Some(format!(
                    "{request} with Origin: {origin} -> Access-Control-Allow-Origin: *{credentials_text}"
                ));
            }
            Grant::Reflected => {
                let allowed = response.header("access-control-allow-origin").map(str::trim).unwrap_or(origin);
                self.reflected.push(format!(
                    "{request} with Origin: {origin} -> Access-Control-Allow-Origin: {allowed}{credentials_text}"
                ));
                self.credentials |= credentials;
            }
            Grant::Any | Grant::Denied => {}
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

// ------------------------------------------------------------ Private Network Access

/// The answer to a Private Network Access preflight.
struct Preflight {
    /// Access-Control-Allow-Private-Network: true.
    allows_private: bool,
    status: u16,
    cors: CorsGrants,
}

/// What the answer to `OPTIONS /`, as Chromium sends it before a public
/// page's request to a local server, allowed.
fn preflight(response: &Response) -> Preflight {
    let allows_private =
        response.header("access-control-allow-private-network").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let mut cors = CorsGrants::default();
    cors.read("OPTIONS / (preflight)", FOREIGN_ORIGIN, response);
    Preflight { allows_private, status: response.head.status, cors }
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

/// A WebSocket handshake from a foreign Origin that got a 101.
fn websocket(service: &Service, upgrade: &Upgrade) -> Finding {
    let Upgrade { path, response, expected_accept } = upgrade;
    let accept = match response.header("sec-websocket-accept").map(str::trim) {
        Some(value) if value == expected_accept => {
            "Sec-WebSocket-Accept matches the key: a real WebSocket handshake".into()
        }
        Some(value) => format!("Sec-WebSocket-Accept {value} does not match the key (expected {expected_accept})"),
        None => "no Sec-WebSocket-Accept header".to_string(),
    };
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
    .fix("check the Origin header of WebSocket handshakes against an allow-list and refuse others with 403")
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
        let mut cors = CorsGrants::default();
        cors.read("GET /", "null", &response(200, &[("Access-Control-Allow-Origin", "null")], ""));
        assert!(cors.allows_foreign() && !cors.credentials);
        let mut any = CorsGrants::default();
        any.read(
            "GET /",
            FOREIGN_ORIGIN,
            &response(200, &[("access-control-allow-origin", "*"), ("Access-Control-Allow-Credentials", "true")], ""),
        );
        assert!(any.any.is_some() && any.reflected.is_empty() && !any.credentials);
        let mut none = CorsGrants::default();
        none.read(
            "GET /",
            FOREIGN_ORIGIN,
            &response(200, &[("Access-Control-Allow-Origin", "http://localhost:3000")], ""),
        );
        assert!(!none.allows_foreign());
    }
}
