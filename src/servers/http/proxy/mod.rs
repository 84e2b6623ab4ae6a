//! `berth proxy`: HTTPS in front of a plain local service.
//!
//! Unlike serve and mock, the proxy is not built on berth's own HTTP/1.1
//! core: it speaks HTTP/2 to clients, streams bodies both ways and hands
//! connections over on upgrade, which is hyper's job (hyper-util's auto
//! server picks HTTP/1.1 or HTTP/2 per connection, tokio-rustls does TLS
//! with ALPN). What it shares with the core is what makes a berth server
//! safe: the listener setup (loopback unless --expose), the Host guard
//! against DNS rebinding ([`super::host`]), CORS and credentials
//! ([`super::guard`]).
//!
//! - [`forward`]: one request, from the checks to the backend and back.
//! - [`certs`]: the leaf from berth's CA, renewed before it expires.
//!
//! Limits: a TLS handshake has [`HANDSHAKE_TIMEOUT`], a request head
//! [`HEADER_TIMEOUT`] (which also ends idle keep-alive connections), and at
//! most `max_connections` are served at once (more wait in the backlog).

pub mod certs;
pub mod forward;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::error::Error;
use crate::servers::http::host::HostGuard;
use crate::servers::http::tls::HANDSHAKE_RECORD;
use certs::{Issuer, LeafResolver};
use forward::{Body, Shared};

/// A client has this long to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long to send a request head (from connecting, or from the
/// end of the previous response on a kept-alive connection).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a running proxy needs, bound and checked by the command.
pub struct Proxy {
    /// The HTTPS listeners (127.0.0.1 and ::1, or what was asked for).
    pub listeners: Vec<std::net::TcpListener>,
    /// `--http-port`: plain HTTP that redirects to HTTPS (none without).
    pub redirect: Vec<std::net::TcpListener>,
    pub https_port: u16,
    pub shared: Shared,
    pub resolver: Arc<LeafResolver>,
    pub issuer: Issuer,
    pub not_after: std::time::SystemTime,
    pub max_connections: usize,
    pub workers: usize,
}

/// The backend client: HTTP/1.1, kept-alive connections pooled, Nagle off,
/// to the backend's addresses (tried in order).
pub fn backend_client(
    backend: &forward::Backend,
) -> Client<HttpConnector<forward::BackendResolver>, forward::SharedBody> {
    let mut connector = HttpConnector::new_with_resolver(forward::BackendResolver(backend.addresses.clone()));
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Runs the proxy until the process ends: one thread a core, each with a
/// runtime of its own, accepting on the same listeners and keeping its own
/// pool of backend connections. A request, its backend connection and its
/// answer then stay on one thread (no cross-thread wake-ups, which a
/// work-stealing runtime with one shared pool costs on every request).
pub fn run(proxy: Proxy) -> Result<(), Error> {
    let Proxy { listeners, redirect, https_port, shared, resolver, issuer, not_after, max_connections, workers } =
        proxy;
    let acceptor = TlsAcceptor::from(tls_config(resolver.clone()));
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    // The first worker also renews the leaf and serves the redirect.
    let mut first_jobs = Some((issuer, resolver, redirect));
    let mut threads = Vec::new();
    for worker in 0..workers.max(1) {
        let mut own = Vec::new();
        for listener in &listeners {
            own.push(
                listener.try_clone().map_err(|e| Error::System(format!("cannot share the listening socket: {e}")))?,
            );
        }
        // The first worker keeps the pool the command made; each other its own.
        let client = if worker == 0 { shared.client.clone() } else { backend_client(&shared.backend) };
        let shared = Arc::new(Shared { client, ..shared.clone() });
        let (acceptor, permits, jobs) = (acceptor.clone(), permits.clone(), first_jobs.take());
        let thread = std::thread::Builder::new()
            .name(format!("berth-proxy-{worker}"))
            .spawn(move || -> Result<(), Error> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::System(format!("cannot start the proxy's runtime: {e}")))?;
                runtime.block_on(async move {
                    if let Some((issuer, resolver, redirect)) = jobs {
                        tokio::spawn(issuer.renew_forever(resolver, not_after));
                        for listener in redirect {
                            let listener = tokio_listener(listener)?;
                            tokio::spawn(redirect_forever(
                                listener,
                                shared.host_guard.clone(),
                                https_port,
                                permits.clone(),
                            ));
                        }
                    }
                    let mut accepting = Vec::new();
                    for listener in own {
                        let listener = tokio_listener(listener)?;
                        accepting.push(tokio::spawn(accept_forever(
                            listener,
                            acceptor.clone(),
                            shared.clone(),
                            permits.clone(),
                            https_port,
                        )));
                    }
                    for task in accepting {
                        let _ = task.await;
                    }
                    Ok(())
                })
            })
            .map_err(|e| Error::System(format!("cannot start the proxy's threads: {e}")))?;
        threads.push(thread);
    }
    drop(listeners);
    for thread in threads {
        thread.join().map_err(|_| Error::System("a proxy thread stopped unexpectedly".into()))??;
    }
    Ok(())
}

/// rustls with aws-lc-rs, AES-128-GCM first. Handshakes are most of the
/// proxy's work when clients do not keep connections: with ring, X25519
/// was a quarter of the CPU of a resumed handshake and a SHA-384 suite
/// (what OpenSSL clients ask for first) spent a tenth more in its portable
/// SHA-512; aws-lc's assembly does both faster. AES-128-GCM is as safe
/// here. The server's order wins. (The rest of berth's TLS stays on ring.)
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::cipher_suite as suite;
    rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS13_CHACHA20_POLY1305_SHA256,
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ],
        ..rustls::crypto::aws_lc_rs::default_provider()
    }
}

fn tls_config(resolver: Arc<LeafResolver>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider().into())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    // One resumption ticket per handshake, not rustls' default of two: a
    // client that closes after each request (a handshake each) asks for one
    // at a time, and each ticket is sealed and sent.
    config.send_tls13_tickets = 1;
    if let Ok(ticketer) = rustls::crypto::aws_lc_rs::Ticketer::new() {
        config.ticketer = ticketer;
    }
    Arc::new(config)
}

fn tokio_listener(listener: std::net::TcpListener) -> Result<TcpListener, Error> {
    listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
        .map_err(|e| Error::System(format!("cannot use the listening socket: {e}")))
}

async fn accept_forever(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    https_port: u16,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like: wait a little rather than spin.
                crate::stderr::say!("berth: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Taken once a connection is here: a loop idle in accept holds no place.
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let Ok(local) = stream.local_addr() else { return };
            connection(stream, peer, local, acceptor, shared, https_port).await;
        });
    }
}

/// One client connection: TLS (or a plain-HTTP hint), then HTTP/1.1 or
/// HTTP/2 as the client chose.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    https_port: u16,
) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => {
            // Plain HTTP to the HTTPS port: say so in a way a person sees.
            let body = format!("berth proxy: this port speaks HTTPS: use https://localhost:{https_port}/\n");
            let reply = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        _ => return,
    }
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    let service = service_fn(move |request: Request<Incoming>| forward::handle(shared.clone(), peer, local, request));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await;
}

/// `--http-port`: every request is sent to the same path over HTTPS (308
/// keeps the method and body), once its Host passes the guard.
async fn redirect_forever(listener: TcpListener, guard: HostGuard, https_port: u16, permits: Arc<Semaphore>) {
    let guard = Arc::new(guard);
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let guard = guard.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(local) = stream.local_addr() else { return };
            let service = service_fn(move |request: Request<Incoming>| {
                let guard = guard.clone();
                async move { Ok::<_, std::convert::Infallible>(redirect(&guard, local, https_port, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn redirect(guard: &HostGuard, local: SocketAddr, https_port: u16, request: &Request<Incoming>) -> Response<Body> {
    let host = request.headers().get(header::HOST).map(HeaderValue::as_bytes);
    let view = crate::servers::http::request::Request {
        minor_version: 1,
        host,
        duplicate_host: request.headers().get_all(header::HOST).iter().count() > 1,
        ..Default::default()
    };
    if let Some(refusal) = guard.check(&view, Some(local.ip())).refusal() {
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
        return forward::text(status, refusal.message.to_string());
    }
    let name = host
        .and_then(crate::servers::http::host::parse_host)
        .map_or_else(|| "localhost".to_string(), |parts| parts.name.to_string());
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{name}:{https_port}{path}");
    let mut response = forward::text(StatusCode::PERMANENT_REDIRECT, format!("berth proxy: use {location}\n"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
