//! `--proxy URL`: requests the spec does not know (all of them with
//! `--record FILE`) go to a real service on loopback, and with `--record`
//! each answer becomes a route of a routes file that `berth mock FILE`
//! serves back.
//!
//! The upstream call is a blocking job on the core's pool (the same
//! deadline-bound client the audit uses, [`crate::net::http_client`]), one
//! connection per request: a mock's proxy is for recording and for filling
//! gaps, not a production path.

use crate::stderr::say;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use super::journal::{Entry, Journal};
use crate::net::http_client::{self, Endpoint, FetchError, Response};
use crate::servers::http::handler::{Blocking, Exchange};
use crate::servers::http::request::{Method, Request};
use crate::servers::http::response::{Body, Head, Reply};

/// How long an upstream answer may take.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(30);

/// Largest upstream body passed on.
const UPSTREAM_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Headers that belong to one connection (RFC 9110 §7.6.1) or that berth
/// sets itself: never passed on, either way.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
    "date",
];

pub struct Proxy {
    endpoint: Endpoint,
    /// The Host header the upstream gets: its own authority.
    host: String,
    /// The URL's path, put before each request's path ("/api").
    base: String,
    pub recorder: Option<Recorder>,
}

impl Proxy {
    /// `http://127.0.0.1:8080`, `http://localhost:3000/api`: plain HTTP to a
    /// loopback address (berth's traffic stays on this machine).
    pub fn parse(url: &str, record: Option<&Path>) -> Result<Proxy, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("--proxy {url}: give an http:// URL of a service on this machine (http://127.0.0.1:8080)")
        })?;
        let (authority, base) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let with_port = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addresses: Vec<SocketAddr> = with_port
            .to_socket_addrs()
            .map_err(|e| format!("--proxy {url}: cannot resolve '{authority}': {e}"))?
            .collect();
        let address = addresses.iter().copied().find(|a| a.ip().is_loopback()).ok_or_else(|| {
            format!("--proxy {url}: '{authority}' is not a loopback address; berth mock proxies only to this machine")
        })?;
        let recorder = record.map(Recorder::new).transpose()?;
        Ok(Proxy {
            endpoint: Endpoint { address, tls_name: None },
            host: authority.to_string(),
            base: base.to_string(),
            recorder,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.endpoint.address
    }
}

/// One proxied request, run off the event loop.
pub struct ProxyJob {
    proxy: Arc<Proxy>,
    journal: Arc<Journal>,
    entry: Entry,
    method: String,
    target: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    result: Option<Result<Response, FetchError>>,
}

impl ProxyJob {
    pub fn new(proxy: Arc<Proxy>, journal: Arc<Journal>, entry: Entry, request: &Request<'_>, body: &[u8]) -> ProxyJob {
        let headers = request
            .headers()
            .filter(|(name, _)| !HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)))
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value).into_owned()))
            .collect();
        let path = request.target.split('?').next().unwrap_or_default().to_string();
        ProxyJob {
            target: format!("{}{}", proxy.base, request.target),
            proxy,
            journal,
            entry,
            method: request.method_text.to_string(),
            path,
            headers,
            body: body.to_vec(),
            result: None,
        }
    }
}

impl Blocking for ProxyJob {
    fn run(&mut self) {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = http_client::Request {
            method: &self.method,
            path: &self.target,
            host: &self.proxy.host,
            headers: &headers,
            body: &self.body,
        };
        let result =
            http_client::fetch(&self.proxy.endpoint, &request, Instant::now() + UPSTREAM_DEADLINE, UPSTREAM_BODY_LIMIT);
        self.result = Some(result);
    }

    fn reply(self: Box<Self>, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
        let ProxyJob { proxy, journal, mut entry, method, path, result, .. } = *self;
        let response = match result {
            Some(Ok(response)) if !response.truncated => response,
            other => {
                let why = match other {
                    Some(Err(error)) => error.to_string(),
                    Some(Ok(_)) => format!("the answer is larger than {} MiB", UPSTREAM_BODY_LIMIT >> 20),
                    None => "the request was not sent".into(),
                };
                let detail = format!(
                    "the upstream {} did not answer: {why}; is the service running, and is --proxy its address?",
                    proxy.address()
                );
                entry.status = 502;
                entry.response = "proxy".into();
                journal.record(entry);
                exchange.note.push_str("proxy failed");
                let body = super::handler::problem_body(502, &detail, &[]);
                return exchange.body(request, 502, b"application/problem+json", body, "");
            }
        };
        let status = response.head.status;
        let mut kept: Vec<(String, String)> = Vec::new();
        let mut head = Head::start(exchange.head, status);
        for (name, value) in &response.head.headers {
            if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
                || value.bytes().any(|b| b.is_ascii_control() && b != b'\t')
            {
                continue;
            }
            head.header(name, value.as_bytes());
            kept.push((name.clone(), value.clone()));
        }
        head.number("Content-Length", response.body.len() as u64).raw(exchange.extra).finish();
        if let Some(recorder) = &proxy.recorder {
            recorder.record(&method, &path, status, &kept, &response.body);
        }
        entry.status = status;
        entry.response = "proxy".into();
        journal.record(entry);
        exchange.note.push_str(if proxy.recorder.is_some() { "proxy, recorded" } else { "proxy" });
        let body = if request.method() == Method::Head { Body::Empty } else { Body::Bytes(Bytes::from(response.body)) };
        Reply { status, body, close: false, note: None }
    }
}

/// The routes file being recorded: every answer, the latest per method
/// and path, rewritten whole (a new file renamed over the old) after each,
/// so that it is always complete and can be served at once.
pub struct Recorder {
    path: PathBuf,
    routes: Mutex<Vec<Recorded>>,
}

#[derive(Clone, Debug, Serialize)]
struct Recorded {
    method: String,
    path: String,
    status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_table")]
    headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_file: Option<String>,
}

fn as_table<S: serde::Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(headers.len()))?;
    for (name, value) in headers {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

#[derive(Serialize)]
struct RoutesFile<'a> {
    route: &'a [Recorded],
}

#[derive(Serialize)]
struct RoutesJson<'a> {
    routes: &'a [Recorded],
}

impl Recorder {
    fn new(path: &Path) -> Result<Recorder, String> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(format!("--record {}: the directory {} does not exist", path.display(), parent.display()));
        }
        let recorder = Recorder { path: path.to_path_buf(), routes: Mutex::new(Vec::new()) };
        recorder.write(&[]).map_err(|e| format!("--record {}: cannot write it: {e}", path.display()))?;
        Ok(recorder)
    }

    /// Where recorded binary bodies go: `FILE.bodies/`.
    fn bodies_dir(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".bodies");
        self.path.with_file_name(name)
    }

    fn record(&self, method: &str, path: &str, status: u16, headers: &[(String, String)], body: &[u8]) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let content_type = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.clone());
        let headers: Vec<(String, String)> =
            headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-type")).cloned().collect();
        let index = routes.iter().position(|r| r.method == method && r.path == path).unwrap_or(routes.len());
        let (body, body_file) = match std::str::from_utf8(body) {
            Ok(text) => ((!text.is_empty()).then(|| text.to_string()), None),
            Err(_) => {
                let dir = self.bodies_dir();
                let name = format!("{index}.bin");
                let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(&name), body));
                if let Err(error) = written {
                    say!("berth: warning: cannot record a body in {}: {error}", dir.display());
                }
                let dir_name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
                (None, Some(format!("{dir_name}/{name}")))
            }
        };
        let recorded = Recorded {
            method: method.to_string(),
            path: path.to_string(),
            status,
            headers,
            content_type,
            body,
            body_file,
        };
        if index == routes.len() {
            routes.push(recorded);
        } else {
            routes[index] = recorded;
        }
        if let Err(error) = self.write(&routes) {
            say!("berth: warning: cannot write the recording {}: {error}", self.path.display());
        }
    }

    fn write(&self, routes: &[Recorded]) -> std::io::Result<()> {
        let is_json = self.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let text = if is_json {
            serde_json::to_string_pretty(&RoutesJson { routes }).map_err(std::io::Error::other)?
        } else {
            let body = toml::to_string(&RoutesFile { route: routes }).map_err(std::io::Error::other)?;
            format!("# Recorded by berth mock --record; serve it with: berth mock {}\n{body}", self.path.display())
        };
        let temporary = self.path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path)
    }
}
