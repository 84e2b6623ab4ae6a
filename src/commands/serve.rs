//! `berth serve [DIR]`: a directory over HTTP, safe by default (loopback,
//! Host checks, no CORS, nothing outside DIR). The server lives in
//! `servers::http`; this module checks the input, binds through the shared
//! listener setup, prints where it serves, and runs it.

use crate::stderr::say;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::actions::privileges::{self, Privilege};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::net::limits;
use crate::printable::printable;
use crate::servers::http::guard::{Auth, Guard};
use crate::servers::http::host::HostGuard;
use crate::servers::http::site::path::Root;
use crate::servers::http::site::Site;
use crate::servers::http::{server, Limits, Options};
use crate::servers::listener::{reachable_at, tcp_listener, ListenSpec};

/// Environment variables that tune the timeouts (milliseconds) and the
/// number of worker threads; meant for tests and benchmarks, so not flags.
const HEADER_TIMEOUT_ENV: &str = "BERTH_SERVE_HEADER_TIMEOUT_MS";
const IDLE_TIMEOUT_ENV: &str = "BERTH_SERVE_IDLE_TIMEOUT_MS";
const SEND_TIMEOUT_ENV: &str = "BERTH_SERVE_SEND_TIMEOUT_MS";
const WORKERS_ENV: &str = "BERTH_SERVE_WORKERS";

pub fn run(args: &ServeArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    // Everything the user typed is checked before the port is bound.
    let root = open_root(&args.dir, args.follow_symlinks)?;
    let basic = args.auth.as_deref().map(Auth::basic).transpose().map_err(Error::Usage)?;
    let cors = args.http.cors.iter().map(|origin| check_origin(origin)).collect::<Result<Vec<_>, _>>()?;
    let allowed_hosts = args.http.allow_host.iter().map(|name| check_host_name(name)).collect::<Result<Vec<_>, _>>()?;
    let (limits, workers) = tuned_limits(args.http.max_connections)?;
    ignore_sigpipe();

    let spec = ListenSpec { bind: args.http.bind, port: args.port, expose: args.http.expose };
    let listener = tcp_listener(&spec)?;
    let (root, as_root) = give_up_root(root, args)?;
    let bound = listener.local_addr().map_err(|e| Error::System(format!("cannot read the bound address: {e}")))?;
    let auth = match (basic, args.token) {
        (Some(basic), _) => Some(basic),
        (None, true) => {
            Some(Auth::random_token(bound.port()).map_err(|e| Error::System(format!("cannot make a token: {e}")))?)
        }
        (None, false) => None,
    };
    let url = local_url(bound);
    say!("berth: serving {} on {url}", printable(&root.path.display().to_string()));
    if let Some(Auth::Token { token, .. }) = &auth {
        say!("berth: token required; open {url}?token={token} (or send Authorization: Bearer {token})");
    }
    let (allowed_addresses, hostname) = announce_exposed(bound, args.http.expose);
    let mut allowed_hosts = allowed_hosts;
    allowed_hosts.extend(hostname);
    if as_root {
        say!(
            "berth: warning: serving as root: whatever reaches this server (every local user; a web page, through the browser) talks to a root process, and files only root may read are served; run berth serve as your own user, without sudo (with sudo, berth serves as you once the port is bound)"
        );
    }
    let site =
        Site { root: std::sync::Arc::new(root), guard: Guard { cors, auth }, spa: args.spa, hidden: args.hidden };
    let hosts = HostGuard { allowed_hosts, allowed_addresses, allow_local_address: args.http.expose };
    let options = Options { limits, quiet: args.http.quiet, hosts, workers, blocking_jobs: None, tls: None };
    server::run(site, options, listener)?;
    Ok(ExitCode::Success)
}

/// The core's limits for `--max-connections`, with the timeouts and the
/// worker count the environment may set (tests and benchmarks), and the
/// connection cap fitted to the open-file limit. serve's and mock's.
pub(crate) fn tuned_limits(max_connections: usize) -> Result<(Limits, usize), Error> {
    let defaults = Limits::default();
    let limits = Limits {
        max_connections: fit_to_open_files(max_connections),
        header_timeout: env_millis(HEADER_TIMEOUT_ENV)?.unwrap_or(defaults.header_timeout),
        idle_timeout: env_millis(IDLE_TIMEOUT_ENV)?.unwrap_or(defaults.idle_timeout),
        send_timeout: env_millis(SEND_TIMEOUT_ENV)?.unwrap_or(defaults.send_timeout),
    };
    let workers = match env_number(WORKERS_ENV)? {
        Some(n) => n.clamp(1, 64) as usize,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    Ok((limits, workers))
}

/// With --expose, the machine's own addresses and name are answered too
/// (see [`exposed_names`]); says where else the server is reachable, and
/// returns them for the Host guard.
pub(crate) fn announce_exposed(bound: SocketAddr, expose: bool) -> (Vec<IpAddr>, Option<String>) {
    let (allowed_addresses, hostname) = if expose { exposed_names(bound.ip()) } else { Default::default() };
    if !allowed_addresses.is_empty() || hostname.is_some() {
        // A link-local IPv6 address needs its zone in a URL, which
        // browsers do not take: it is answered, but not offered.
        let urls: Vec<String> = allowed_addresses
            .iter()
            .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
            .map(|ip| local_url(SocketAddr::new(*ip, bound.port())))
            .chain(hostname.iter().map(|name| format!("http://{name}:{}/", bound.port())))
            .collect();
        say!("berth: also at {}", crate::audit::list_words(&urls));
    }
    (allowed_addresses, hostname)
}

/// Root serves nothing: started with sudo (to bind a low port, say),
/// berth becomes the user who ran sudo now that the port is bound, before
/// any thread starts, and opens DIR again as that user, so it serves only
/// what they may read. True when it stays root (no sudo user to go back
/// to): the caller says what that risks, after where it serves. The
/// audit's `owner.root-http` is this risk.
fn give_up_root(root: Root, args: &ServeArgs) -> Result<(Root, bool), Error> {
    match privileges::current() {
        Privilege::User => Ok((root, false)),
        Privilege::Sudo(user) => {
            drop(root);
            privileges::drop_to(&user).map_err(Error::System)?;
            let who = match &user.name {
                Some(name) => format!("{} (uid {})", printable(name), user.uid),
                None => format!("uid {}", user.uid),
            };
            say!("berth: started with sudo: the port is bound, now serving as {who}, not root");
            let root = open_root(&args.dir, args.follow_symlinks).map_err(|e| match e {
                Error::Usage(message) => {
                    Error::Usage(format!("{message} (as {who}: berth serves as the user who ran sudo)"))
                }
                other => other,
            })?;
            Ok((root, false))
        }
        Privilege::Root => Ok((root, true)),
    }
}

/// What an exposed server answers to besides loopback names: the
/// addresses it is reachable at (every interface address for a wildcard
/// bind, IPv4 ones only for 0.0.0.0; the address itself otherwise, see
/// [`reachable_at`]), and for a wildcard bind the machine's host name.
/// All are the machine's own: a web page cannot re-point them at it.
pub(crate) fn exposed_names(bound: IpAddr) -> (Vec<IpAddr>, Option<String>) {
    if bound.is_loopback() {
        return (Vec::new(), None);
    }
    let addresses = reachable_at(bound).into_iter().map(|i| i.address).collect();
    let hostname = bound.is_unspecified().then(host_name).flatten();
    (addresses, hostname)
}

/// The machine's host name (gethostname), lowercase, when it is a usable
/// Host name other than localhost.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most buffer.len() bytes into the buffer.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let name = std::str::from_utf8(&buffer[..end]).ok()?;
    let name = check_host_name(name).ok()?;
    (name != "localhost").then_some(name)
}

/// DIR must exist, be a directory, and be readable.
fn open_root(dir: &Path, follow_symlinks: bool) -> Result<Root, Error> {
    let text = dir.display().to_string();
    let shown = printable(&text);
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::Usage(format!("{shown}: no such directory")));
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Err(Error::Usage(format!("{shown}: permission denied")));
        }
        Err(e) => return Err(Error::Usage(format!("{shown}: {e}"))),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Usage(format!(
                "{shown} is a file, not a directory: serve the directory that holds it (berth serve DIR)"
            )));
        }
        Ok(_) => {}
    }
    Root::open(dir, follow_symlinks).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => {
            Error::Usage(format!("{shown}: permission denied (berth needs to read and enter it)"))
        }
        _ => Error::Usage(format!("{shown}: cannot open it: {e}")),
    })
}

/// `--cors` takes exact origins: scheme://host[:port], as browsers send them.
pub(crate) fn check_origin(origin: &str) -> Result<String, Error> {
    if origin == "*" || origin == "null" {
        return Err(Error::Usage(format!(
            "--cors {origin} would let any web site read these files; name the exact origin, e.g. --cors http://localhost:3000"
        )));
    }
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') && !host.contains(char::is_whitespace) => {
            Ok(origin.to_string())
        }
        _ => Err(Error::Usage(format!(
            "--cors takes an origin like http://localhost:3000 (scheme, host and port, no path), not '{}'",
            printable(origin)
        ))),
    }
}

/// `--allow-host NAME`: a host name (a port, if given, is dropped).
pub(crate) fn check_host_name(name: &str) -> Result<String, Error> {
    let bare = match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => name,
    };
    let bare = bare.trim_end_matches('.');
    let valid = !bare.is_empty()
        && bare.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':'));
    if !valid {
        return Err(Error::Usage(format!(
            "--allow-host takes a host name such as myhost.lan, not '{}'",
            printable(name)
        )));
    }
    Ok(bare.to_ascii_lowercase())
}

fn env_millis(name: &str) -> Result<Option<Duration>, Error> {
    Ok(env_number(name)?.map(|ms| Duration::from_millis(ms.max(1))))
}

fn env_number(name: &str) -> Result<Option<u64>, Error> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::Usage(format!("{name} must be a whole number, not '{}'", printable(&text)))),
        Err(_) => Ok(None),
    }
}

/// The URL to print: the bound address, or loopback when bound to all
/// (127.0.0.1 for `::` too: berth binds it dual-stack).
pub(crate) fn local_url(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}/", bound.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}/", bound.port()),
    }
}

/// Each connection is a descriptor: raise the soft limit to the hard one,
/// and serve fewer connections at once if even that is too low.
pub(crate) fn fit_to_open_files(wanted: usize) -> usize {
    // The soft limit raised to the hard one (the shared helper): deep
    // paths, listings and connections all hold descriptors.
    let soft = limits::raise_fd_limit(u64::MAX);
    // Room for the listener, files being sent, stdio and the runtime.
    let room = usize::try_from(soft).unwrap_or(usize::MAX).saturating_sub(64).max(1);
    if wanted > room {
        say!("berth: note: at most {room} connections at once (open-file limit {soft}; see 'ulimit -n')");
        return room;
    }
    wanted
}

/// A client that goes away mid-response must not kill the server: writes
/// to its socket fail with EPIPE instead of raising SIGPIPE.
pub(crate) fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition; serve runs no code that relies on SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(check_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert!(check_origin("*").is_err());
        assert!(check_origin("localhost:3000").is_err());
        assert!(check_origin("http://localhost:3000/").is_err());
    }

    #[test]
    fn host_names() {
        assert_eq!(check_host_name("MyHost.lan:8080").unwrap(), "myhost.lan");
        assert_eq!(check_host_name("myhost.lan.").unwrap(), "myhost.lan");
        assert!(check_host_name("a b").is_err());
        assert!(check_host_name("").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(local_url("127.0.0.1:80".parse().unwrap()), "http://127.0.0.1:80/");
        assert_eq!(local_url("[::1]:80".parse().unwrap()), "http://[::1]:80/");
        assert_eq!(local_url("0.0.0.0:80".parse().unwrap()), "http://127.0.0.1:80/");
        assert_eq!(local_url("[::]:80".parse().unwrap()), "http://127.0.0.1:80/");
    }
}
