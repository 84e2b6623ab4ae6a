//! `berth metrics`: checks the input, then prints one exposition, keeps a
//! node_exporter textfile up to date, or serves `/metrics` on the HTTP
//! core (see [`crate::metrics`]).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::{GlobalArgs, MetricsArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::metrics::audit_runner::{self, AuditResult, AuditSettings};
use crate::metrics::exporter::Exporter;
use crate::metrics::exposition::Format;
use crate::metrics::handler::MetricsHandler;
use crate::metrics::textfile::Textfile;
use crate::printable::printable;
use crate::servers::http::guard::{Auth, Guard};
use crate::servers::http::host::HostGuard;
use crate::servers::http::{server, Limits, Options};
use crate::servers::listener::{tcp_listener, ListenSpec};
use crate::stderr::say;

pub fn run(args: &MetricsArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    // Everything the user typed is checked before anything is bound or written.
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => Some(check_token(token, "--token")?),
        (None, Some(path)) => Some(read_token(path)?),
        (None, None) => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::servers::http::tls::server_config(cert, key)?),
        _ => None,
    };
    let textfile = args.textfile.as_deref().map(Textfile::new).transpose()?;
    let settings = AuditSettings { source: global.source, probe: !args.no_probe };
    let auditing = !args.audit_every.is_zero();
    let long_running = args.listen.is_some() || args.every.is_some();
    if long_running {
        crate::metrics::exporter::limit_malloc_arenas();
    }

    // A one-shot exposition audits once, before it is made; a long-running
    // exporter audits on its own thread.
    let audit: Option<Arc<Mutex<Option<AuditResult>>>> = match (auditing, long_running) {
        (false, _) => None,
        (true, false) => Some(Arc::new(Mutex::new(Some(audit_runner::run_once(settings, None))))),
        (true, true) => Some(
            audit_runner::spawn(settings, args.audit_every)
                .map_err(|e| Error::System(format!("cannot start the audit thread: {e}")))?,
        ),
    };

    if let Some((bind, port)) = args.listen {
        // Bound before the exporter starts its threads: a taken port is
        // said at once.
        let spec = ListenSpec { bind, port, expose: args.expose };
        let listener = tcp_listener(&spec)?;
        let exporter = Arc::new(Exporter::new(global.source, audit, true));
        return serve(args, exporter, listener, token, tls);
    }
    let exporter = Exporter::new(global.source, audit, long_running);
    match (&textfile, args.every) {
        (Some(textfile), None) => {
            textfile.write(&classic_text(&exporter)?)?;
            Ok(ExitCode::Success)
        }
        (Some(textfile), Some(every)) => keep_writing(textfile, &exporter, every),
        (None, _) => {
            let mut out = super::stdout();
            out.write_all(&classic_text(&exporter)?)?;
            out.flush()?;
            Ok(ExitCode::Success)
        }
    }
}

/// `--textfile DIR --every T`: rewrites the file every T until SIGINT or
/// SIGTERM, then removes a temporary file an interrupted write left.
fn keep_writing(textfile: &Textfile, exporter: &Exporter, every: Duration) -> Result<ExitCode, Error> {
    let stop = crate::actions::signal::stop_on_signals();
    say!(
        "berth: writing {} every {}",
        printable(&textfile.path().display().to_string()),
        humantime::format_duration(every)
    );
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let written = classic_text(exporter).and_then(|text| textfile.write(&text));
        if let Err(e) = written {
            textfile.clean_up();
            return Err(e);
        }
        // Sleep in short steps, so a signal ends berth promptly.
        while !stop.load(Ordering::Relaxed) && started.elapsed() < every {
            std::thread::sleep(Duration::from_millis(50).min(every.saturating_sub(started.elapsed())));
        }
    }
    textfile.clean_up();
    Ok(ExitCode::Success)
}

/// One exposition in the classic text format (what stdout and the textfile get).
fn classic_text(exporter: &Exporter) -> Result<bytes::Bytes, Error> {
    exporter.scrape().map(|exposition| exposition.body(Format::Prometheus)).ok_or_else(|| {
        Error::System(
            "reading the system failed (a bug in berth: the panic is printed above); nothing was written; please report it"
                .into(),
        )
    })
}

/// `--listen`: `/metrics` on the HTTP core, until berth is stopped.
fn serve(
    args: &MetricsArgs,
    exporter: Arc<Exporter>,
    listener: std::net::TcpListener,
    token: Option<String>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<ExitCode, Error> {
    super::serve::ignore_sigpipe();
    let bound = listener.local_addr().map_err(|e| Error::System(format!("cannot read the bound address: {e}")))?;
    let mut url = super::serve::local_url(bound);
    if tls.is_some() {
        url = url.replacen("http://", "https://", 1);
    }
    say!("berth: metrics on {url}metrics");
    let (allowed_addresses, hostname) =
        if args.expose { super::serve::exposed_names(bound.ip()) } else { Default::default() };
    let hosts = HostGuard {
        allowed_hosts: hostname.into_iter().collect(),
        allowed_addresses,
        allow_local_address: args.expose,
    };
    let auth = token.map(|token| Auth::Token { token, cookie: "berth_metrics_token".into() });
    let limits = Limits {
        max_connections: super::serve::fit_to_open_files(256),
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(30),
    };
    // Two workers: scrapes are few, and the collection runs on the
    // blocking pool, not on the event loops. Up to 16 scrapes at once
    // wait there for the one collection they share (Exporter::scrape);
    // more wait for a permit.
    let options = Options { limits, quiet: !args.log, hosts, workers: 2, blocking_jobs: Some(16), tls };
    let handler = MetricsHandler { exporter, guard: Guard { cors: Vec::new(), auth } };
    server::run(handler, options, listener)?;
    Ok(ExitCode::Success)
}

/// A token must be printable ASCII without spaces: it travels in a header.
fn check_token(token: &str, source: &str) -> Result<String, Error> {
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Usage(format!("{source} is empty: give the token Prometheus sends (its bearer_token)")));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Usage(format!(
            "{source}: a token is printable ASCII without spaces (it travels in the Authorization header)"
        )));
    }
    Ok(token.to_string())
}

/// `--token-file FILE`: its first line.
fn read_token(path: &Path) -> Result<String, Error> {
    let text = path.display().to_string();
    let shown = printable(&text);
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "--token-file {shown}: {}; give a readable file holding the token",
            crate::net::error_text(&e)
        ))
    })?;
    check_token(text.lines().next().unwrap_or(""), &format!("--token-file {shown}"))
}
