//! One request through the proxy: the Host guard, CORS preflights, the
//! login link and credentials, then the request to the backend with its
//! body streamed (never held whole), the answer streamed back the same way
//! (so server-sent events arrive as they are written), and upgrades
//! (WebSocket) joined end to end once the backend agrees.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioIo;

use crate::printable::printable;
use crate::servers::http::guard::{constant_time_eq, query_value, Auth, AuthCheck, Guard};
use crate::servers::http::host::HostGuard;
use crate::servers::http::request::Request as HeadView;
use crate::stderr::say;

/// Every answer's body: the backend's, streamed, or one of the proxy's own.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The service behind the proxy.
#[derive(Clone, Debug)]
pub struct Backend {
    /// The Host the backend is sent (unless --preserve-host) and the 502
    /// page names, as the user named it: `127.0.0.1:3000`, `[::1]:3000`,
    /// `localhost:3000` for a port alone.
    pub authority: String,
    /// Where to connect, in order: for `localhost`, 127.0.0.1 then ::1
    /// whatever /etc/hosts says (dev servers listen on either), each
    /// connection trying the next when one is refused.
    pub addresses: Arc<Vec<SocketAddr>>,
}

/// The backend's addresses as the client's resolver: fixed at start, so
/// no lookup per connection and no surprise from /etc/hosts.
#[derive(Clone, Debug)]
pub struct BackendResolver(pub Arc<Vec<SocketAddr>>);

impl tower_service::Service<Name> for BackendResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _name: Name) -> Self::Future {
        std::future::ready(Ok(self.0.as_ref().clone().into_iter()))
    }
}

/// The one-time login link of `--token`: its code works once, and is then
/// swapped for the token in an HttpOnly cookie (as Jupyter's link is).
#[derive(Debug)]
pub struct Login {
    code: Mutex<Option<String>>,
}

impl Login {
    pub fn new(code: String) -> Login {
        Login { code: Mutex::new(Some(code)) }
    }

    /// True the first time the right code is given, never again.
    fn redeem(&self, given: &str) -> bool {
        let mut code = self.code.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match code.as_deref() {
            Some(expected) if constant_time_eq(expected.as_bytes(), given.as_bytes()) => {
                *code = None;
                true
            }
            _ => false,
        }
    }
}

/// What every request of one proxy shares (each worker thread has its
/// own copy, with its own pool of backend connections).
#[derive(Clone)]
pub struct Shared {
    pub backend: Backend,
    pub client: Client<HttpConnector<BackendResolver>, SharedBody>,
    pub host_guard: HostGuard,
    pub guard: Guard,
    pub login: Option<Arc<Login>>,
    pub preserve_host: bool,
    pub quiet: bool,
}

/// The query parameter of the login link.
pub const LOGIN_PARAMETER: &str = "berth_login";

/// Answers one request (never an error: failures are answers too).
pub async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let version = request.version();
    let (response, note) = decide(&shared, peer, local, request).await;
    if !shared.quiet {
        let note = if note.is_empty() { String::new() } else { format!(" ({note})") };
        say!(
            "{} {} {} {:?} {} {:.1}ms{note}",
            peer.ip(),
            method,
            printable(&target),
            version,
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(response)
}

async fn decide(
    shared: &Shared,
    peer: SocketAddr,
    local: SocketAddr,
    mut request: Request<Incoming>,
) -> (Response<Body>, &'static str) {
    let headers = request.headers();
    let host_value: Option<Vec<u8>> = headers
        .get(header::HOST)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| request.uri().authority().map(|a| a.as_str().as_bytes().to_vec()));
    let view = HeadView {
        minor_version: if request.version() == Version::HTTP_10 { 0 } else { 1 },
        host: host_value.as_deref(),
        duplicate_host: headers.get_all(header::HOST).iter().count() > 1,
        authorization: headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
        cookie: headers.get(header::COOKIE).map(HeaderValue::as_bytes),
        origin: headers.get(header::ORIGIN).map(HeaderValue::as_bytes),
        ..HeadView::default()
    };
    if let Some(refusal) = shared.host_guard.check(&view, Some(local.ip())).refusal() {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
        return (text(status, refusal.message.to_string()), refusal.note);
    }
    let cors_origin = shared.guard.cors_origin(&view).map(str::to_string);
    if request.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        if let Some(origin) = &cors_origin {
            return (preflight(origin, headers), "CORS preflight");
        }
    }
    let query = request.uri().query().map(str::to_string);
    if let (Some(login), Some(code)) = (&shared.login, query.as_deref().and_then(|q| query_value(q, LOGIN_PARAMETER))) {
        return if login.redeem(code) {
            (signed_in(&shared.guard, request.uri(), LOGIN_PARAMETER), "login link redeemed")
        } else {
            (
                text(
                    StatusCode::UNAUTHORIZED,
                    "berth proxy: this login link was used already (it works once); \
                     send the token instead (Authorization: Bearer TOKEN)\n"
                        .into(),
                ),
                "login link used again",
            )
        };
    }
    match shared.guard.check_auth(&view, query.as_deref()) {
        AuthCheck::Allowed => {}
        AuthCheck::AllowedSetCookie => return (signed_in(&shared.guard, request.uri(), "token"), "token in the URL"),
        AuthCheck::Denied => return (unauthorized(&shared.guard), "no valid credentials"),
    }
    let host_for_backend = host_value.as_deref().and_then(|h| HeaderValue::from_bytes(h).ok());
    let upgrade = wants_upgrade(request.headers()) && request.version() == Version::HTTP_11;
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let forwarded = match outgoing(shared, peer, request, host_for_backend, upgrade) {
        Ok(forwarded) => forwarded,
        Err(why) => return (text(StatusCode::BAD_REQUEST, format!("berth proxy: {why}\n")), "bad request"),
    };
    if upgrade {
        return match upgrade_through(shared, forwarded, client_upgrade).await {
            Ok(response) => (answer(response.map(BodyExt::boxed), cors_origin.as_deref(), true), ""),
            Err(why) => (bad_gateway(&shared.backend, &why), "backend unreachable"),
        };
    }
    // The upload is shared with the answer, which reads what the backend
    // left unread once it has been sent (see [`DrainAfter`]).
    let (parts, body) = forwarded.into_parts();
    let upload = Arc::new(Mutex::new(Some(body)));
    let forwarded = Request::from_parts(parts, SharedBody(upload.clone()));
    match shared.client.request(forwarded).await {
        Ok(response) => {
            let response = response.map(|body| DrainAfter::new(body, upload).boxed());
            (answer(response, cors_origin.as_deref(), false), "")
        }
        Err(e) => {
            let page = bad_gateway(&shared.backend, &describe_client_error(&e));
            (page.map(|body| DrainAfter::new(body, upload).boxed()), "backend unreachable")
        }
    }
}

/// The backend's answer as the client gets it: hop-by-hop headers gone
/// (but for a 101, whose Upgrade and Connection are the point), CORS added
/// for an allowed origin.
fn answer(response: Response<Body>, cors_origin: Option<&str>, upgrading: bool) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if !(upgrading && parts.status == StatusCode::SWITCHING_PROTOCOLS) {
        strip_hop_by_hop(&mut parts.headers);
    }
    if let Some(origin) = cors_origin {
        add_cors(&mut parts.headers, origin);
    }
    Response::from_parts(parts, body)
}

/// The client's upload, held by both the backend client (which streams it)
/// and the answer (which drains what is left of it).
type Upload = Arc<Mutex<Option<Incoming>>>;

/// The upload as the backend client reads it.
pub struct SharedBody(Upload);

impl hyper::body::Body for SharedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let mut upload = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match upload.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let upload = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        upload.as_ref().is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let upload = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        upload.as_ref().map_or_else(|| hyper::body::SizeHint::with_exact(0), hyper::body::Body::size_hint)
    }
}

/// A drained upload waits this long for more bytes, and this long in all
/// (nginx's lingering_timeout and lingering_time).
const LINGER_IDLE: Duration = Duration::from_secs(5);
const LINGER_TOTAL: Duration = Duration::from_secs(30);

/// An answer that, once sent (when hyper drops it), reads and drops what is
/// left of the upload on a task of its own: a lingering close. A backend
/// may answer early (413, 401) and stop reading; if the proxy then closed
/// with the client's bytes unread, the kernel would reset the connection
/// and the reset could overtake the answer (HTTP/1.1), or the client would
/// wait for flow control for ever (HTTP/2). While the task reads, hyper
/// goes on reading the connection for it; bounded by [`LINGER_IDLE`] and
/// [`LINGER_TOTAL`], after which the upload is dropped and the connection
/// closed. Nothing is kept.
pub struct DrainAfter<B> {
    inner: B,
    upload: Upload,
}

impl<B> DrainAfter<B> {
    fn new(inner: B, upload: Upload) -> DrainAfter<B> {
        DrainAfter { inner, upload }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for DrainAfter<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for DrainAfter<B> {
    fn drop(&mut self) {
        let upload = self.upload.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let Some(upload) = upload.filter(|body| !hyper::body::Body::is_end_stream(body)) else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(upload));
        }
    }
}

/// Reads and drops an upload until it ends, pauses [`LINGER_IDLE`], or
/// [`LINGER_TOTAL`] has passed.
async fn linger(mut upload: Incoming) {
    let until = tokio::time::Instant::now() + LINGER_TOTAL;
    loop {
        let next = tokio::time::timeout_at(until.min(tokio::time::Instant::now() + LINGER_IDLE), upload.frame());
        match next.await {
            Ok(Some(Ok(_dropped))) => {}
            _ => return,
        }
    }
}

/// The request as the backend gets it: origin-form path, HTTP/1.1, the
/// hop-by-hop headers and berth's own credentials gone, X-Forwarded-* set.
fn outgoing(
    shared: &Shared,
    peer: SocketAddr,
    request: Request<Incoming>,
    client_host: Option<HeaderValue>,
    upgrade: bool,
) -> Result<Request<Incoming>, String> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(shared.backend.authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|e| format!("cannot forward {}: {e}", printable(path)))?;
    parts.version = Version::HTTP_11;
    let upgrade_value = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    if upgrade {
        if let Some(value) = upgrade_value {
            parts.headers.insert(header::UPGRADE, value);
            parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }
    strip_credentials(&shared.guard, &mut parts.headers);
    let backend_host = HeaderValue::from_str(&shared.backend.authority).map_err(|e| e.to_string())?;
    let host = if shared.preserve_host { client_host.clone().unwrap_or(backend_host) } else { backend_host };
    parts.headers.insert(header::HOST, host);
    // berth is the edge: what a client says of earlier hops is not kept.
    let for_value = HeaderValue::from_str(&peer.ip().to_string()).expect("an address is a header value");
    parts.headers.insert(HeaderName::from_static("x-forwarded-for"), for_value);
    parts.headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("https"));
    match client_host {
        Some(value) => parts.headers.insert(HeaderName::from_static("x-forwarded-host"), value),
        None => parts.headers.remove(HeaderName::from_static("x-forwarded-host")),
    };
    Ok(Request::from_parts(parts, body))
}

/// An upgrade (WebSocket): the request goes on a connection of its own
/// (pooled connections cannot be handed over), and once the backend says
/// 101 the two upgraded streams are joined until either side closes.
async fn upgrade_through(
    shared: &Shared,
    mut request: Request<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response<Incoming>, String> {
    // hyper's connection-level client sends the URI as given: origin-form, as the legacy client does.
    *request.uri_mut() = request.uri().path_and_query().map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
    let stream =
        tokio::net::TcpStream::connect(shared.backend.addresses.as_slice()).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        if let Some(client_upgrade) = client_upgrade {
            tokio::spawn(async move {
                if let (Ok(client), Ok(backend)) = (client_upgrade.await, backend_upgrade.await) {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(backend)).await;
                }
            });
        }
    }
    Ok(response)
}

/// Why the backend gave no answer, in words for the 502 page.
fn describe_client_error(error: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut cause: Option<&dyn std::error::Error> = error.source();
    let mut deepest = error.to_string();
    while let Some(inner) = cause {
        deepest = inner.to_string();
        cause = inner.source();
    }
    deepest
}

/// RFC 9110 §7.6.1: Connection and the headers it names, and the fixed
/// hop-by-hop ones, do not cross a proxy.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")))
}

/// berth's credentials are for berth: the Authorization it checked and its
/// cookie are not passed on (the backend may have credentials of its own).
fn strip_credentials(guard: &Guard, headers: &mut HeaderMap) {
    let Some(auth) = &guard.auth else { return };
    let scheme = match auth {
        Auth::Basic { .. } => "basic ",
        Auth::Token { .. } => "bearer ",
    };
    let ours = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > scheme.len() && v[..scheme.len()].eq_ignore_ascii_case(scheme));
    if ours {
        headers.remove(header::AUTHORIZATION);
    }
    if let Auth::Token { cookie, .. } = auth {
        let prefix = format!("{cookie}=");
        let kept: Vec<String> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty() && !pair.starts_with(&prefix))
            .map(String::from)
            .collect();
        headers.remove(header::COOKIE);
        if !kept.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
                headers.insert(header::COOKIE, value);
            }
        }
    }
}

fn add_cors(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn preflight(origin: &str, request: &HeaderMap) -> Response<Body> {
    let mut response = empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    add_cors(headers, origin);
    if let Some(method) = request.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, method.clone());
    }
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// The token goes into an HttpOnly cookie and the browser is sent back to
/// the same address without the secret in it (out of history, out of
/// Referer, never forwarded to the backend).
fn signed_in(guard: &Guard, uri: &Uri, parameter: &str) -> Response<Body> {
    let Some(Auth::Token { token, cookie }) = &guard.auth else { return unauthorized(guard) };
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(parameter))
        .collect();
    let location = if rest.is_empty() { uri.path().to_string() } else { format!("{}?{}", uri.path(), rest.join("&")) };
    let mut response = empty(StatusCode::SEE_OTHER);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    let set = format!("{cookie}={token}; HttpOnly; Secure; SameSite=Strict; Path=/");
    headers.insert(header::SET_COOKIE, HeaderValue::from_str(&set).expect("a token is a header value"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unauthorized(guard: &Guard) -> Response<Body> {
    let (challenge, hint) = match &guard.auth {
        Some(Auth::Basic { .. }) => ("Basic realm=\"berth proxy\", charset=\"UTF-8\"", "a user name and password"),
        _ => ("Bearer realm=\"berth proxy\"", "the token it printed (Authorization: Bearer TOKEN) or its login link"),
    };
    let mut response = text(StatusCode::UNAUTHORIZED, format!("berth proxy: this service needs {hint}\n"));
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

fn bad_gateway(backend: &Backend, why: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html>\n<title>502: nothing answers at {address}</title>\n\
         <h1>502 Bad Gateway</h1>\n<p>berth proxy could not reach <code>http://{address}</code>: {why}.</p>\n\
         <p>Start the service there and reload: every request tries again.</p>\n",
        address = html_escape(&backend.authority),
        why = html_escape(why),
    );
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(String::new()));
    *response.status_mut() = status;
    response
}

pub fn full(body: String) -> Body {
    Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_go() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::ACCEPT));
    }

    #[test]
    fn berths_cookie_and_bearer_are_not_forwarded() {
        let guard =
            Guard { auth: Some(Auth::Token { token: "t".into(), cookie: "berth_token_1".into() }), ..Guard::default() };
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; berth_token_1=t; b=2"));
        strip_credentials(&guard, &mut headers);
        assert!(!headers.contains_key(header::AUTHORIZATION));
        assert_eq!(headers[header::COOKIE], "a=1; b=2");
    }

    #[test]
    fn a_login_code_works_once() {
        let login = Login::new("abc".into());
        assert!(!login.redeem("abd"));
        assert!(login.redeem("abc"));
        assert!(!login.redeem("abc"));
    }
}
