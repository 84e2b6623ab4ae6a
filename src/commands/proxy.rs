//! `berth proxy TARGET`: HTTPS in front of a local service. This module
//! checks the input, gets the leaf from berth's CA (made if there is none),
//! binds through the shared listener setup (127.0.0.1 and ::1 unless told
//! otherwise), says where it serves, and runs the proxy
//! (`servers::http::proxy`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::serve::{announce_exposed, check_host_name, check_origin, ignore_sigpipe, tuned_limits};
use crate::ca::{Authority, CaPaths, LeafName};
use crate::cli::{GlobalArgs, ProxyArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::resolve::{ProbeTarget, Scheme};
use crate::printable::{printable, printable_path as shown};
use crate::servers::http::guard::{random_hex, Auth, Guard};
use crate::servers::http::host::HostGuard;
use crate::servers::http::proxy::certs::{Issuer, LEAF_LIFETIME};
use crate::servers::http::proxy::forward::{Backend, Login, Shared, LOGIN_PARAMETER};
use crate::servers::http::proxy::{self, backend_client, Proxy};
use crate::servers::listener::{tcp_listener, ListenSpec};
use crate::stderr::say;

/// The HTTPS port is the target's plus this, unless --port (3000 -> 3443).
const PORT_OFFSET: u16 = 443;

pub fn run(args: &ProxyArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    // Everything the user typed is checked before the CA is touched or a port bound.
    let target = args.target.as_ref().or(args.to.as_ref()).expect("clap requires TARGET or --to");
    let backend = backend(target)?;
    let port = match args.port {
        Some(port) => port,
        None => target.port.checked_add(PORT_OFFSET).ok_or_else(|| {
            Error::Usage(format!(
                "the HTTPS port would be {} + {PORT_OFFSET}, past 65535: give one with --port",
                target.port
            ))
        })?,
    };
    let cors = args.http.cors.iter().map(|origin| check_origin(origin)).collect::<Result<Vec<_>, _>>()?;
    let mut allowed_hosts =
        args.http.allow_host.iter().map(|name| check_host_name(name)).collect::<Result<Vec<_>, _>>()?;
    let mut names = crate::ca::authority::loopback_leaf_names();
    for name in &args.names {
        let name = LeafName::parse(name).map_err(|e| Error::Usage(format!("--name: {e}")))?;
        if let LeafName::Dns(dns) = &name {
            allowed_hosts.push(dns.clone());
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let basic = args.auth.as_deref().map(Auth::basic).transpose().map_err(Error::Usage)?;
    let (limits, workers) = tuned_limits(args.http.max_connections)?;

    let paths = CaPaths::locate()?;
    let (authority, created) = Authority::load_or_create(&paths, &[])?;
    let root = paths.root();
    let (resolver, issuer, not_after) = Issuer::start(authority, names, args.leaf_lifetime.unwrap_or(LEAF_LIFETIME))?;
    ignore_sigpipe();

    let listeners = bind(args, port)?;
    let bound = listeners[0].local_addr().map_err(|e| Error::System(format!("cannot read the bound address: {e}")))?;
    let https_port = bound.port();
    let redirect = match args.http_port {
        Some(http_port) => bind(args, http_port)?,
        None => Vec::new(),
    };

    let auth = match (&args.token, basic) {
        (Some(token), _) => Some(token_auth(token, https_port)?),
        (None, basic) => basic,
    };
    let login = match &auth {
        Some(Auth::Token { .. }) => {
            Some(random_hex().map_err(|e| Error::System(format!("no random bytes for a login code: {e}")))?)
        }
        _ => None,
    };

    say!("berth: proxying http://{} at https://localhost:{https_port}/", printable(&backend.authority));
    let also: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| match a.ip() {
            IpAddr::V6(v6) => format!("https://[{v6}]:{https_port}/"),
            IpAddr::V4(v4) => format!("https://{v4}:{https_port}/"),
        })
        .collect();
    say!("berth: also at {}", also.join(" and "));
    if created {
        say!(
            "berth: made a new CA at {}: trust it with `berth ca install` (or point clients at {})",
            shown(&paths.dir),
            shown(&root)
        );
    }
    if let Some(Auth::Token { token, .. }) = &auth {
        say!("berth: token {token} (send Authorization: Bearer {token})");
        if let Some(code) = &login {
            say!("berth: login link, works once: https://localhost:{https_port}/?{LOGIN_PARAMETER}={code}");
        }
    }
    if let Some(redirect) = redirect.first() {
        if let Ok(address) = redirect.local_addr() {
            say!("berth: http://localhost:{}/ redirects to HTTPS", address.port());
        }
    }
    if !reachable(&backend.addresses) {
        say!(
            "berth: note: nothing answers at {} yet: requests get a 502 page until it does",
            printable(&backend.authority)
        );
    }
    let (allowed_addresses, hostname) = announce_exposed(bound, args.http.expose);
    allowed_hosts.extend(hostname);

    let shared = Shared {
        client: backend_client(&backend),
        backend,
        host_guard: HostGuard { allowed_hosts, allowed_addresses, allow_local_address: args.http.expose },
        guard: Guard { cors, auth },
        login: login.map(|code| std::sync::Arc::new(Login::new(code))),
        preserve_host: args.preserve_host,
        quiet: args.http.quiet,
    };
    proxy::run(Proxy {
        listeners,
        redirect,
        https_port,
        shared,
        resolver,
        issuer,
        not_after,
        max_connections: limits.max_connections,
        workers,
    })?;
    Ok(ExitCode::Success)
}

/// The backend as the proxy connects to it and names it in Host.
fn backend(target: &ProbeTarget) -> Result<Backend, Error> {
    if target.scheme == Some(Scheme::Https) {
        return Err(Error::Usage(format!(
            "{}: the backend must speak plain HTTP (berth proxy adds the HTTPS); give http://HOST:PORT or a port",
            printable(&target.text)
        )));
    }
    if target.path.as_deref().is_some_and(|p| p != "/") {
        return Err(Error::Usage(format!(
            "{}: the proxy forwards every path as it comes; give the backend without a path",
            printable(&target.text)
        )));
    }
    let authority = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let addresses: Vec<SocketAddr> = if target.host.eq_ignore_ascii_case("localhost") {
        vec![(Ipv4Addr::LOCALHOST, target.port).into(), (Ipv6Addr::LOCALHOST, target.port).into()]
    } else if let Ok(ip) = target.host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, target.port)]
    } else {
        use std::net::ToSocketAddrs;
        let found: Vec<SocketAddr> = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| Error::Usage(format!("cannot resolve the backend {}: {e}", printable(&target.host))))?
            .collect();
        if found.is_empty() {
            return Err(Error::Usage(format!("the backend {} has no address", printable(&target.host))));
        }
        found
    };
    Ok(Backend { authority, addresses: std::sync::Arc::new(addresses) })
}

/// 127.0.0.1 and ::1 on one port (a port of 0 picks it on the first and
/// takes the same on the second); ::1 is skipped, with a note, on a
/// machine without it. With -b or --expose, what they say.
fn bind(args: &ProxyArgs, port: u16) -> Result<Vec<std::net::TcpListener>, Error> {
    let spec = ListenSpec { bind: args.http.bind, port, expose: args.http.expose };
    let first = tcp_listener(&spec)?;
    let mut listeners = vec![first];
    if args.http.bind.is_none() && !args.http.expose {
        let port =
            listeners[0].local_addr().map_err(|e| Error::System(format!("cannot read the bound address: {e}")))?.port();
        let v6 = ListenSpec { bind: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), port, expose: false };
        match tcp_listener(&v6) {
            Ok(listener) => listeners.push(listener),
            Err(e) => say!("berth: note: not listening on [::1]:{port} ({e}); 127.0.0.1 serves"),
        }
    }
    Ok(listeners)
}

fn token_auth(token: &str, port: u16) -> Result<Auth, Error> {
    if token.is_empty() {
        return Auth::random_token(port).map_err(|e| Error::System(format!("no random bytes for a token: {e}")));
    }
    if token.len() < 8 || !token.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
        return Err(Error::Usage(
            "--token takes at least 8 printable characters without ; or , (or nothing, for a random one)".into(),
        ));
    }
    Ok(Auth::Token { token: token.to_string(), cookie: format!("berth_token_{port}") })
}

/// Whether something accepts connections at the backend now (a hint only).
fn reachable(addresses: &[SocketAddr]) -> bool {
    addresses.iter().any(|a| TcpStream::connect_timeout(a, Duration::from_millis(300)).is_ok())
}
