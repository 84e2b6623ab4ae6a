//! `probe`: is a port reachable, at every address its host stands for, and
//! what answers there.
//!
//! Each address gets a TCP connect (open / refused / timed out, and how
//! long it took). What happens on an open connection follows four rules,
//! chosen so that berth sends nothing a server did not ask for unless the
//! user or the port says which protocol it speaks:
//!
//! 1. `https://` URL: a TLS handshake, then an HTTP GET over it.
//! 2. `http://` URL: an HTTP GET.
//! 3. Otherwise, a known TLS port (443, 8443, 993, 995, 465, 636): a TLS
//!    handshake (these servers wait for the client's hello, so no banner
//!    is awaited); on 443 and 8443 then an HTTP HEAD over it.
//! 4. Otherwise: wait up to 300 ms for a banner (SSH, SMTP, FTP and MySQL
//!    speak first); if none came and the server kept the connection open,
//!    an HTTP HEAD, on any port: a silent server is most often an HTTP one
//!    (dev servers pick any port). A server of another protocol gets one
//!    small request it does not understand; whatever it does then (close,
//!    reset, answer in its own protocol, say nothing) is reported as "not
//!    HTTP" by the stream's deadline, never waited on past it.
//!
//! Redirects are followed only to the same host ([`super::http_client`]).
//!
//! The classic trap gets named: `localhost` is both 127.0.0.1 and ::1, and a
//! server listening on one family only is refused on the other, so clients
//! that try the other first fail while `curl 127.0.0.1` works.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::deadline::DeadlineStream;
use super::http_client::{self, HttpReport, Location};
use super::resolve::{ProbeTarget, Scheme};
use super::tls_client::{self, TlsReport};
use crate::analysis::doctor::accept_queue::{self, AcceptQueue};
use berth_inventory::Snapshot;

/// Ports where servers expect TLS from the first byte.
pub const TLS_PORTS: [u16; 6] = [443, 8443, 993, 995, 465, 636];
/// TLS ports that carry HTTP.
pub const HTTPS_PORTS: [u16; 2] = [443, 8443];
/// Ports where a silent server is taken to speak HTTP by the audit (probe
/// asks HTTP of a silent server on any port).
pub const HTTP_PORTS: [u16; 7] = [80, 3000, 5000, 8000, 8008, 8080, 8888];

/// How long to wait for a server that speaks first.
pub const BANNER_WAIT: Duration = Duration::from_millis(300);
/// Once some banner bytes came, how long to wait for more.
const BANNER_IDLE: Duration = Duration::from_millis(50);
/// The most banner bytes kept.
pub const BANNER_LIMIT: usize = 512;

/// What berth will do after connecting, by the rules above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// TLS, then HTTP over it when `http` is set.
    Tls { http: Option<&'static str> },
    /// HTTP with this method.
    Http { method: &'static str },
    /// Wait for a banner; HTTP HEAD if none came.
    Banner,
}

impl Plan {
    pub fn for_target(target: &ProbeTarget) -> Plan {
        match target.scheme {
            Some(Scheme::Https) => Plan::Tls { http: Some("GET") },
            Some(Scheme::Http) => Plan::Http { method: "GET" },
            None if TLS_PORTS.contains(&target.port) => {
                Plan::Tls { http: HTTPS_PORTS.contains(&target.port).then_some("HEAD") }
            }
            None => Plan::Banner,
        }
    }

    /// "tls", "tls+http", "http", "banner+http" (HTTP only if no banner came).
    pub fn name(self) -> &'static str {
        match self {
            Plan::Tls { http: None } => "tls",
            Plan::Tls { http: Some(_) } => "tls+http",
            Plan::Http { .. } => "http",
            Plan::Banner => "banner+http",
        }
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How a connect ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    Open,
    Refused,
    TimedOut,
    /// No route, address not available, and other failures (see `error`).
    Unreachable,
}

impl Reach {
    pub fn name(self) -> &'static str {
        match self {
            Reach::Open => "open",
            Reach::Refused => "refused",
            Reach::TimedOut => "timed out",
            Reach::Unreachable => "unreachable",
        }
    }
}

/// What a server said first, unprompted.
#[derive(Clone, Debug, Serialize)]
pub struct Banner {
    /// The bytes as text, made safe to print by
    /// [`crate::printable::printable_bytes`]: UTF-8 text as is, control and
    /// format characters escaped (`\r`, `\n`, `\u{1b}`, `\u{202e}`), bytes
    /// that are not UTF-8 as `\xNN`.
    pub text: String,
    pub bytes: usize,
    /// More than [`BANNER_LIMIT`] bytes came; only the first are kept.
    pub truncated: bool,
}

/// Everything learned at one address.
#[derive(Clone, Debug, Serialize)]
pub struct AddressReport {
    pub address: IpAddr,
    pub port: u16,
    pub state: Reach,
    /// The OS's words when the connect failed.
    pub error: Option<String>,
    /// Time to connect (or to be refused), milliseconds.
    pub connect_ms: Option<f64>,
    pub banner: Option<Banner>,
    /// The server closed the connection before saying anything or being asked.
    pub closed_by_server: bool,
    pub tls: Option<TlsReport>,
    pub http: Option<HttpReport>,
    /// Why a connect to this machine timed out: the listener's accept
    /// queue is full (see [`explain_timeouts`]). None otherwise.
    pub accept_queue: Option<AcceptQueue>,
}

/// A warning about how the addresses differ.
#[derive(Clone, Debug, Serialize)]
pub struct Warning {
    /// `family_mismatch`: open on one address family, refused on the other.
    pub kind: &'static str,
    pub message: String,
}

/// The whole probe.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub target: String,
    pub host: String,
    pub port: u16,
    pub scheme: Option<Scheme>,
    pub path: Option<String>,
    pub plan: Plan,
    /// Open on at least one address (exit status 0).
    pub reachable: bool,
    pub addresses: Vec<AddressReport>,
    pub warnings: Vec<Warning>,
}

/// Probes every address of `target` at once, each within `timeout`: the
/// connect, banner, TLS handshake, HTTP request and redirects of an address
/// all end by one deadline, `timeout` after its connect began.
pub fn probe(target: &ProbeTarget, addresses: &[IpAddr], timeout: Duration) -> ProbeReport {
    let plan = Plan::for_target(target);
    let reports: Vec<AddressReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = addresses
            .iter()
            .map(|&address| scope.spawn(move || probe_address(target, address, plan, timeout)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("probe thread panicked")).collect()
    });
    let warnings = family_mismatch(&reports).into_iter().collect();
    ProbeReport {
        target: target.text.clone(),
        host: target.host.clone(),
        port: target.port,
        scheme: target.scheme,
        path: target.path.clone(),
        plan,
        reachable: reports.iter().any(|r| r.state == Reach::Open),
        addresses: reports,
        warnings,
    }
}

fn probe_address(target: &ProbeTarget, address: IpAddr, plan: Plan, timeout: Duration) -> AddressReport {
    let mut report = AddressReport {
        address,
        port: target.port,
        state: Reach::Open,
        error: None,
        connect_ms: None,
        banner: None,
        closed_by_server: false,
        tls: None,
        http: None,
        accept_queue: None,
    };
    let started = Instant::now();
    let deadline = started + timeout;
    let stream = DeadlineStream::connect(&SocketAddr::new(address, target.port), deadline);
    report.connect_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    let stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            report.state = match e.kind() {
                io::ErrorKind::ConnectionRefused => Reach::Refused,
                io::ErrorKind::TimedOut => Reach::TimedOut,
                _ => Reach::Unreachable,
            };
            if report.state == Reach::TimedOut {
                report.connect_ms = None;
            }
            report.error = Some(super::error_text(&e));
            return report;
        }
    };
    let http_start = |scheme: Scheme| Location {
        scheme,
        host: target.host.clone(),
        port: target.port,
        path: target.path.clone().unwrap_or_else(|| "/".into()),
    };

    match plan {
        Plan::Tls { http } => {
            let (tls_report, session) = tls_client::handshake(stream, &target.host, address, http.is_some());
            report.tls = Some(tls_report);
            if let (Some(method), Some(mut session)) = (http, session) {
                report.http =
                    Some(http_client::converse(&mut session, http_start(Scheme::Https), address, method, deadline));
            }
        }
        Plan::Http { method } => {
            let mut stream = stream;
            report.http = Some(http_client::converse(&mut stream, http_start(Scheme::Http), address, method, deadline));
        }
        Plan::Banner => {
            let mut stream = stream;
            let (banner, closed) = read_banner(&mut stream);
            report.closed_by_server = closed;
            let silent = banner.is_none();
            report.banner = banner;
            if silent && !closed {
                let http = http_client::converse(&mut stream, http_start(Scheme::Http), address, "HEAD", deadline);
                drop(stream);
                report.http = Some(http);
                try_tls_instead(&mut report, target, address, deadline, http_start(Scheme::Https));
            }
        }
    }
    report
}

/// How long the TLS try after a refused plain HTTP request may take.
const TLS_RETRY_WAIT: Duration = Duration::from_secs(1);

/// A silent server that refused plain HTTP (it closed or reset the connection,
/// or answered with a TLS record: [`http_client::may_be_tls`]) may speak TLS on a
/// port berth does not know for it: ask again with a TLS handshake on a
/// new connection, as nmap's version scan does. When the handshake
/// completes, the TLS facts and the answer over TLS replace the plain
/// attempt; when it does not, the plain attempt's report stands alone.
fn try_tls_instead(
    report: &mut AddressReport,
    target: &ProbeTarget,
    address: IpAddr,
    deadline: Instant,
    https: Location,
) {
    let refused_plain = report.http.as_ref().is_some_and(http_client::may_be_tls);
    if !refused_plain || Instant::now() >= deadline {
        return;
    }
    // A server that is not TLS after all may say nothing to a ClientHello:
    // the second try waits at most TLS_RETRY_WAIT of what is left.
    let deadline = deadline.min(Instant::now() + TLS_RETRY_WAIT);
    let Ok(stream) = DeadlineStream::connect(&SocketAddr::new(address, target.port), deadline) else {
        return;
    };
    let (tls, session) = tls_client::handshake(stream, &target.host, address, true);
    if tls.version.is_none() {
        return;
    }
    report.http = session.map(|mut session| http_client::converse(&mut session, https, address, "HEAD", deadline));
    report.tls = Some(tls);
}

/// Names the cause of each connect to this machine that timed out when the
/// local inventory shows it: a listener whose accept queue is full drops
/// new SYNs, so its clients time out as if a firewall dropped them.
/// `snapshot` holds the port's listeners; addresses of other hosts are left
/// alone (a local listener on the same port says nothing about them).
pub fn explain_timeouts(report: &mut ProbeReport, snapshot: &Snapshot) {
    for address in &mut report.addresses {
        if address.state == Reach::TimedOut && super::local::is_this_machine(address.address) {
            address.accept_queue = accept_queue::why_timed_out(snapshot, address.address, address.port);
        }
    }
}

/// Waits up to [`BANNER_WAIT`] (never past the stream's deadline) for the
/// server to speak, and a little longer for the rest of what it sends at
/// once. Returns the banner (None if the server said nothing) and whether
/// it closed the connection.
fn read_banner(stream: &mut DeadlineStream) -> (Option<Banner>, bool) {
    let deadline = (Instant::now() + BANNER_WAIT).min(stream.deadline());
    let mut bytes: Vec<u8> = Vec::new();
    let mut chunk = [0u8; BANNER_LIMIT + 1];
    let mut closed = false;
    // Bounded by the deadline, the byte limit, and the idle wait.
    loop {
        let now = Instant::now();
        let mut until = deadline;
        if !bytes.is_empty() {
            until = until.min(now + BANNER_IDLE).max(now + Duration::from_millis(1));
        }
        if until <= now || bytes.len() > BANNER_LIMIT {
            break;
        }
        match stream.read_by(&mut chunk[..BANNER_LIMIT + 1 - bytes.len().min(BANNER_LIMIT)], until) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                if !bytes.is_empty() {
                    break;
                }
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    if bytes.is_empty() {
        return (None, closed);
    }
    let truncated = bytes.len() > BANNER_LIMIT;
    bytes.truncate(BANNER_LIMIT);
    (
        Some(Banner { text: crate::printable::printable_bytes(&bytes).into_owned(), bytes: bytes.len(), truncated }),
        closed,
    )
}

/// The warning for a port open on one address family and refused on the
/// other, naming the consequence and the fix.
pub fn family_mismatch(reports: &[AddressReport]) -> Option<Warning> {
    let first = |v4: bool, state: Reach| reports.iter().find(|r| r.address.is_ipv4() == v4 && r.state == state);
    let open_v4 = first(true, Reach::Open);
    let open_v6 = first(false, Reach::Open);
    let (open, refused, v4_open) = match (open_v4, open_v6) {
        (Some(open), None) => (open, first(false, Reach::Refused)?, true),
        (None, Some(open)) => (open, first(true, Reach::Refused)?, false),
        _ => return None,
    };
    let open_at = berth_inventory::target::address_with_port(open.address, open.port);
    let refused_at = berth_inventory::target::address_with_port(refused.address, refused.port);
    let loopback = open.address.is_loopback() && refused.address.is_loopback();
    let message = match (v4_open, loopback) {
        (true, true) => format!(
            "{open_at} is open but {refused_at} refuses: clients that try ::1 first (localhost) get \
             'connection refused'; bind [::] or both"
        ),
        (false, true) => format!(
            "{open_at} is open but {refused_at} refuses: clients that use 127.0.0.1 or try it first (localhost) \
             get 'connection refused'; bind [::] with IPV6_V6ONLY off, or both"
        ),
        (true, false) => format!(
            "{open_at} is open but {refused_at} refuses: clients that try IPv6 first get 'connection refused'; \
             listen on IPv6 too"
        ),
        (false, false) => format!(
            "{open_at} is open but {refused_at} refuses: clients that try IPv4 first get 'connection refused'; \
             listen on IPv4 too"
        ),
    };
    Some(Warning { kind: "family_mismatch", message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> ProbeTarget {
        ProbeTarget::parse(text).unwrap()
    }

    #[test]
    fn plans_follow_the_rules() {
        assert_eq!(Plan::for_target(&target("https://h:9000/")), Plan::Tls { http: Some("GET") });
        assert_eq!(Plan::for_target(&target("http://h:9000/")), Plan::Http { method: "GET" });
        assert_eq!(Plan::for_target(&target("h:443")), Plan::Tls { http: Some("HEAD") });
        assert_eq!(Plan::for_target(&target("993")), Plan::Tls { http: None });
        // A silent server is asked HTTP on any port, not only the usual ones.
        assert_eq!(Plan::for_target(&target("8080")), Plan::Banner);
        assert_eq!(Plan::for_target(&target("62893")), Plan::Banner);
        assert_eq!(Plan::for_target(&target("22")), Plan::Banner);
    }

    fn at(address: &str, state: Reach) -> AddressReport {
        AddressReport {
            address: address.parse().unwrap(),
            port: 8080,
            state,
            error: None,
            connect_ms: None,
            banner: None,
            closed_by_server: false,
            tls: None,
            http: None,
            accept_queue: None,
        }
    }

    #[test]
    fn the_trap_is_named_exactly_when_one_family_refuses() {
        let warning = family_mismatch(&[at("127.0.0.1", Reach::Open), at("::1", Reach::Refused)]).unwrap();
        assert_eq!(
            warning.message,
            "127.0.0.1:8080 is open but [::1]:8080 refuses: clients that try ::1 first (localhost) get \
             'connection refused'; bind [::] or both"
        );
        assert!(family_mismatch(&[at("127.0.0.1", Reach::Refused), at("::1", Reach::Open)]).is_some());
        assert!(family_mismatch(&[at("127.0.0.1", Reach::Open), at("::1", Reach::Open)]).is_none());
        assert!(family_mismatch(&[at("127.0.0.1", Reach::Refused), at("::1", Reach::Refused)]).is_none());
        assert!(family_mismatch(&[at("127.0.0.1", Reach::Open), at("::1", Reach::TimedOut)]).is_none());
        assert!(family_mismatch(&[at("127.0.0.1", Reach::Open)]).is_none());
    }
}
