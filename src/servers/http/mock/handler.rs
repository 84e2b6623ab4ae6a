//! The mock's [`Handler`]: each request is routed to an operation of the
//! API being served (the current [`Loaded`] version, swapped whole by hot
//! reload, so a request sees one version from start to end), then
//! checked, answered, delayed or failed on purpose, and journaled.
//!
//! Order per request: route → injected fault (a flaky server fails
//! whatever it is sent) → security → parameters and body → the answer
//! (status, media type, body) → the pause. `/__berth/requests` is the
//! journal, for loopback clients only.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::json;

use super::check::{self, Parts, Refused};
use super::faults::{Delay, FailRules, FaultKind};
use super::journal::{Entry, Journal, Problem, BODY_KEPT};
use super::model::{Api, Operation};
use super::prefer::Preferences;
use super::proxy::{Proxy, ProxyJob};
use super::respond::{self, Choice, Mode, Rendered, Unanswerable};
use super::router::{Routed, Router};
use super::schema::generate::rng_for;
use crate::servers::http::guard::Guard;
use crate::servers::http::handler::{Answer, Exchange, Fault, Handler};
use crate::servers::http::request::{Method, Request};
use crate::servers::http::response::{push_header_line, Body, Head, Reply};

/// Largest request body read (a mock API's bodies are small; this keeps a
/// client from making berth hold more).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// One version of the API, ready to answer; replaced whole on reload.
pub struct Loaded {
    pub api: Api,
    pub router: Router,
    plans: Vec<Plan>,
}

/// What is fixed per operation once loaded.
struct Plan {
    delay: Option<Delay>,
    fail: Option<FailRules>,
    /// "GET /pets/{petId}".
    route: String,
    /// The default answer (no Prefer, the first media type) when it is
    /// fixed (an example, a literal, no body): rendered once.
    fixed: OnceLock<Option<Rendered>>,
}

impl Loaded {
    /// Checks what the loader leaves as text (each operation's delay and
    /// faults), naming the operation when one is wrong.
    pub fn new(api: Api) -> Result<Loaded, String> {
        let mut plans = Vec::with_capacity(api.operations.len());
        for operation in &api.operations {
            let place = || format!("{} ({} {})", operation.location, operation.method, operation.path);
            let delay =
                operation.delay.as_deref().map(Delay::parse).transpose().map_err(|e| format!("{}: {e}", place()))?;
            let fail = match operation.fail.is_empty() {
                true => None,
                false => Some(FailRules::parse(&operation.fail).map_err(|e| format!("{}: {e}", place()))?),
            };
            plans.push(Plan {
                delay,
                fail,
                route: format!("{} {}", operation.method, operation.path),
                fixed: OnceLock::new(),
            });
        }
        let router = Router::new(&api.operations, &api.base_paths);
        Ok(Loaded { api, router, plans })
    }
}

/// What the command line sets for every version of the API.
pub struct Settings {
    pub seed: Option<u64>,
    pub dynamic: bool,
    pub validate: bool,
    pub delay: Option<Delay>,
    pub fail: FailRules,
    /// `--cors` origins (no authentication: the spec's security is checked instead).
    pub guard: Guard,
    pub proxy: Option<Arc<Proxy>>,
}

pub struct MockHandler {
    pub current: Arc<ArcSwap<Loaded>>,
    pub settings: Settings,
    pub journal: Arc<Journal>,
}

impl Handler for MockHandler {
    type Scratch = ();

    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, _scratch: &mut ()) -> Answer {
        if !request.target.starts_with('/') {
            let text = "berth: the request target must be a path (/...), not an absolute URL or '*'\n";
            return exchange.text(request, 400, text, "not a path").into();
        }
        let (raw_path, query) = match request.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.target, None),
        };
        if raw_path == "/__berth" || raw_path.starts_with("/__berth/") {
            return self.internal(request, exchange, raw_path, query).into();
        }
        if request.method() == Method::Options
            && request.access_control_request_method.is_some()
            && self.settings.guard.cors_origin(request).is_some()
        {
            return preflight(request, exchange).into();
        }
        let loaded = self.current.load_full();
        let headers: Vec<(&str, &[u8])> = request.headers().collect();
        let mut entry = new_entry(request, exchange, raw_path, query, &headers);
        if let Some(proxy) = self.settings.proxy.as_ref().filter(|p| p.recorder.is_some()) {
            return self.proxied(proxy, entry, request, exchange);
        }
        match loaded.router.route(request.method_text, raw_path) {
            Routed::NotFound => {
                if let Some(proxy) = &self.settings.proxy {
                    return self.proxied(proxy, entry, request, exchange);
                }
                let detail = format!(
                    "no operation of the spec matches {} {}",
                    request.method_text,
                    crate::printable::printable(raw_path)
                );
                entry.response = "not-found".into();
                self.refuse(request, exchange, entry, 404, &detail, &[], None).into()
            }
            Routed::WrongMethod { allowed } => {
                let allow = allowed.join(", ");
                push_header_line(exchange.extra, "Allow", allow.as_bytes());
                let detail = format!("{} is not documented for this path (documented: {allow})", request.method_text);
                entry.response = "method-not-allowed".into();
                self.refuse(request, exchange, entry, 405, &detail, &[], None).into()
            }
            Routed::Found { operation: index, params } => {
                let operation = &loaded.api.operations[index];
                let plan = &loaded.plans[index];
                entry.operation = operation.operation_id.clone();
                entry.route = Some(plan.route.clone());
                let pause = plan.delay.as_ref().or(self.settings.delay.as_ref()).map(|d| d.draw(&mut rand::rng()));
                let pause = pause.filter(|pause| !pause.is_zero());
                entry.delay_ms = pause.map(millis);
                let parts = Parts { path_params: &params, query, headers: &headers, body: exchange.body };
                let answer = self.operation(&loaded, operation, plan, &parts, request, exchange, entry);
                match pause {
                    Some(pause) => {
                        let _ = write!(exchange.note, "{}delayed {} ms", sep(exchange.note), pause.as_millis());
                        Answer::Delayed(pause, Box::new(answer))
                    }
                    None => answer,
                }
            }
        }
    }

    fn headers(&self, request: &Request<'_>, extra: &mut Vec<u8>) {
        let guard = &self.settings.guard;
        if guard.has_cors() {
            extra.extend_from_slice(b"Vary: Origin\r\n");
            if let Some(origin) = guard.cors_origin(request) {
                push_header_line(extra, "Access-Control-Allow-Origin", origin.as_bytes());
                extra.extend_from_slice(b"Access-Control-Expose-Headers: *\r\n");
            }
        }
    }

    fn body_limit(&self, _request: &Request<'_>) -> Option<usize> {
        Some(BODY_LIMIT)
    }
}

impl MockHandler {
    /// One request for a known operation, after routing.
    #[allow(clippy::too_many_arguments)]
    fn operation(
        &self,
        loaded: &Loaded,
        operation: &Operation,
        plan: &Plan,
        parts: &Parts<'_>,
        request: &Request<'_>,
        exchange: &mut Exchange<'_>,
        mut entry: Entry,
    ) -> Answer {
        let api = &loaded.api;
        let fault = plan.fail.as_ref().unwrap_or(&self.settings.fail).draw(&mut rand::rng());
        entry.fault = fault.map(FaultKind::word);
        match fault {
            Some(FaultKind::Status(status)) => {
                entry.response = "fault".into();
                let detail = format!("an injected fault (--fail): {status}");
                return self.refuse(request, exchange, entry, status, &detail, &[], None).into();
            }
            Some(kind @ (FaultKind::Reset | FaultKind::Empty)) => {
                entry.status = 0;
                entry.response = "fault".into();
                self.journal.record(entry);
                return Answer::Fault(if kind == FaultKind::Reset { Fault::Reset } else { Fault::Close });
            }
            _ => {}
        }
        let preferences = match Preferences::parse(
            parts.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("prefer")).map(|(_, v)| *v),
        ) {
            Ok(preferences) => preferences,
            Err(detail) => {
                entry.response = "invalid".into();
                let problems = [Problem { pointer: "/header/Prefer".into(), detail: detail.clone() }];
                return self.refuse(request, exchange, entry, 400, &detail, &problems, None).into();
            }
        };
        if self.settings.validate {
            let checked = check::security(api, operation, parts).and_then(|()| check::request(api, operation, parts));
            if let Err(Refused { status, problems, challenge }) = checked {
                entry.response = if status == 401 { "unauthorized" } else { "invalid" }.into();
                let detail = format!(
                    "the request does not match the spec for {}: {}",
                    plan.route,
                    crate::analysis::plural(problems.len(), "problem", "problems")
                );
                return self.refuse(request, exchange, entry, status, &detail, &problems, challenge.as_deref()).into();
            }
        }
        let mode = match preferences.dynamic.unwrap_or(self.settings.dynamic) {
            true => Mode::Dynamic,
            false => Mode::Examples,
        };
        let choice =
            Choice { code: preferences.code, example: preferences.example.as_deref(), mode, accept: request.accept };
        let rendered = if choice.code.is_none()
            && choice.example.is_none()
            && mode == Mode::Examples
            && takes_first(operation, request.accept)
        {
            plan.fixed
                .get_or_init(|| {
                    let fixed = respond::render(api, operation, &Choice { accept: None, ..choice }, &mut rand::rng());
                    fixed.ok().filter(|r| r.chosen != "generated")
                })
                .clone()
                .map(Ok)
        } else {
            None
        };
        let rendered = match rendered {
            Some(rendered) => rendered,
            None => match self.settings.seed {
                Some(seed) => respond::render(
                    api,
                    operation,
                    &choice,
                    &mut rng_for(seed, &[request.method_text.as_bytes(), request.target.as_bytes()]),
                ),
                None => respond::render(api, operation, &choice, &mut rand::rng()),
            },
        };
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(unanswerable) => {
                let (status, pointer, detail) = match unanswerable {
                    Unanswerable::NoSuchCode { asked, documented } => (
                        400,
                        "/header/Prefer",
                        format!(
                            "Prefer: code={asked} is not documented for {} (documented: {})",
                            plan.route,
                            documented.join(", ")
                        ),
                    ),
                    Unanswerable::NoSuchExample { asked, available } => (
                        400,
                        "/header/Prefer",
                        format!(
                            "Prefer: example={asked}: no such example for {} (named examples: {})",
                            plan.route,
                            if available.is_empty() { "none".to_string() } else { available.join(", ") }
                        ),
                    ),
                    Unanswerable::NotAcceptable { documented } => (
                        406,
                        "/header/Accept",
                        format!("Accept matches none of the documented types: {}", documented.join(", ")),
                    ),
                };
                entry.response = if status == 406 { "not-acceptable" } else { "invalid" }.into();
                let problems = [Problem { pointer: pointer.into(), detail: detail.clone() }];
                return self.refuse(request, exchange, entry, status, &detail, &problems, None).into();
            }
        };
        let reply = write_rendered(request, exchange, &rendered);
        let _ = write!(exchange.note, "{}", rendered.chosen);
        entry.status = rendered.status;
        entry.response = rendered.chosen;
        self.journal.record(entry);
        if fault == Some(FaultKind::Stall) {
            return Answer::Fault(Fault::Stall(reply));
        }
        reply.into()
    }

    fn proxied(&self, proxy: &Arc<Proxy>, entry: Entry, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Answer {
        Answer::Blocking(Box::new(ProxyJob::new(proxy.clone(), self.journal.clone(), entry, request, exchange.body)))
    }

    /// A problem answer (RFC 9457, application/problem+json), journaled.
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        request: &Request<'_>,
        exchange: &mut Exchange<'_>,
        mut entry: Entry,
        status: u16,
        detail: &str,
        problems: &[Problem],
        challenge: Option<&str>,
    ) -> Reply {
        if let Some(challenge) = challenge {
            push_header_line(exchange.extra, "WWW-Authenticate", challenge.as_bytes());
        }
        let _ = write!(exchange.note, "{}", entry.response);
        entry.status = status;
        entry.errors = problems.to_vec();
        self.journal.record(entry);
        exchange.body(request, status, b"application/problem+json", problem_body(status, detail, problems), "")
    }

    /// `GET /__berth/requests` (optionally `?method=POST&path=/pets&limit=10`)
    /// and `DELETE /__berth/requests`; only for clients on this machine.
    fn internal(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, path: &str, query: Option<&str>) -> Reply {
        if !exchange.peer.ip().is_loopback() && !exchange.peer.ip().to_canonical().is_loopback() {
            return exchange.text(request, 404, "berth: not found\n", "journal: not a loopback client");
        }
        if path != "/__berth/requests" {
            let text = "berth: unknown; GET /__berth/requests is the journal of requests\n";
            return exchange.text(request, 404, text, "");
        }
        match request.method_text {
            "GET" | "HEAD" => {
                let pairs = check::query_pairs(query);
                let wanted = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
                let (method, only_path) = (wanted("method"), wanted("path"));
                let mut entries = self.journal.recent(|entry| {
                    method.is_none_or(|m| entry.method.eq_ignore_ascii_case(m))
                        && only_path.is_none_or(|p| entry.path == p)
                });
                if let Some(limit) = wanted("limit").and_then(|l| l.parse::<usize>().ok()) {
                    let skip = entries.len().saturating_sub(limit);
                    entries.drain(..skip);
                }
                let entries: Vec<&Entry> = entries.iter().map(|e| &**e).collect();
                let body = serde_json::to_vec_pretty(&json!({ "requests": entries })).unwrap_or_default();
                exchange.body(request, 200, b"application/json", Bytes::from(body), "")
            }
            "DELETE" => {
                self.journal.clear();
                let mut head = Head::start(exchange.head, 204);
                head.raw(exchange.extra).finish();
                Reply { status: 204, body: Body::Empty, close: false, note: None }
            }
            _ => {
                exchange.extra.extend_from_slice(b"Allow: GET, HEAD, DELETE\r\n");
                exchange.text(request, 405, "berth: GET or DELETE /__berth/requests\n", "")
            }
        }
    }
}

/// Whether the client takes the operation's default media type (so the
/// fixed answer fits).
fn takes_first(operation: &Operation, accept: Option<&[u8]>) -> bool {
    let Some((response, _)) = respond::default_response(operation) else { return true };
    match (response.content.first(), accept) {
        (None, _) | (_, None) => true,
        (Some(first), accept) => respond::negotiate(&response.content, accept).is_some_and(|m| std::ptr::eq(m, first)),
    }
}

/// The head and body of a chosen answer.
fn write_rendered(request: &Request<'_>, exchange: &mut Exchange<'_>, rendered: &Rendered) -> Reply {
    let mut head = Head::start(exchange.head, rendered.status);
    let has_body = !matches!(rendered.status, 204 | 304) && rendered.status >= 200;
    if has_body {
        head.number("Content-Length", rendered.body.len() as u64);
    }
    if let Some(content_type) = &rendered.content_type {
        head.header("Content-Type", content_type.as_bytes());
    }
    head.raw(&rendered.headers).raw(exchange.extra).finish();
    let body =
        if request.method() == Method::Head || !has_body { Body::Empty } else { Body::Bytes(rendered.body.clone()) };
    Reply { status: rendered.status, body, close: false, note: None }
}

/// An RFC 9457 problem document, with each failing part in `errors`.
pub fn problem_body(status: u16, detail: &str, problems: &[Problem]) -> Bytes {
    let document = json!({
        "type": "about:blank",
        "title": crate::servers::http::response::reason(status),
        "status": status,
        "detail": detail,
        "errors": problems,
    });
    Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
}

fn preflight(request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply {
    exchange.extra.extend_from_slice(b"Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n");
    if let Some(asked) = request.access_control_request_headers {
        // Only header-name characters: nothing else is echoed.
        if asked.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b',' | b' ')) {
            push_header_line(exchange.extra, "Access-Control-Allow-Headers", asked);
        }
    }
    exchange.extra.extend_from_slice(b"Access-Control-Max-Age: 600\r\n");
    let mut head = Head::start(exchange.head, 204);
    head.raw(exchange.extra).finish();
    exchange.note.push_str("CORS preflight");
    Reply { status: 204, body: Body::Empty, close: false, note: None }
}

/// The journal entry of a request, its answer filled in later.
fn new_entry(
    request: &Request<'_>,
    exchange: &Exchange<'_>,
    raw_path: &str,
    query: Option<&str>,
    headers: &[(&str, &[u8])],
) -> Entry {
    let body = exchange.body;
    let kept = &body[..body.len().min(BODY_KEPT)];
    let (text, base64) = match std::str::from_utf8(kept) {
        _ if body.is_empty() => (None, None),
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(data_encoding::BASE64.encode(kept))),
    };
    Entry {
        time: SystemTime::now(),
        peer: exchange.peer.to_string(),
        method: request.method_text.to_string(),
        path: raw_path.to_string(),
        query: query.map(str::to_string),
        headers: headers.iter().map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned())).collect(),
        body: text,
        body_base64: base64,
        body_truncated: body.len() > BODY_KEPT,
        status: 0,
        operation: None,
        route: None,
        response: String::new(),
        errors: Vec::new(),
        fault: None,
        delay_ms: None,
    }
}

fn sep(note: &str) -> &'static str {
    if note.is_empty() {
        ""
    } else {
        "; "
    }
}

/// How long a pause was, for the journal.
pub fn millis(pause: Duration) -> f64 {
    pause.as_secs_f64() * 1000.0
}
