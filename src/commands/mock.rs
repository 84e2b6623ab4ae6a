//! `berth mock [SPEC]`: a mock HTTP API, safe by default (loopback, Host
//! checks, no CORS). The mock lives in `servers::http::mock`; this module
//! checks the input, loads the spec, binds through the shared listener
//! setup, says what it serves (and what of the spec it cannot), and runs it.

use crate::stderr::say;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::serve::{announce_exposed, check_host_name, check_origin, ignore_sigpipe, local_url, tuned_limits};
use crate::cli::{GlobalArgs, MockArgs};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::printable::printable;
use crate::servers::http::guard::Guard;
use crate::servers::http::host::HostGuard;
use crate::servers::http::mock::faults::{Delay, FailRules};
use crate::servers::http::mock::handler::{Loaded, MockHandler, Settings};
use crate::servers::http::mock::journal::Journal;
use crate::servers::http::mock::model::{Api, SourceKind};
use crate::servers::http::mock::proxy::Proxy;
use crate::servers::http::mock::{reload, spec};
use crate::servers::http::{server, Options};
use crate::servers::listener::{tcp_listener, ListenSpec};

pub fn run(args: &MockArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    // Everything the user typed is checked before the port is bound.
    let cors = args.http.cors.iter().map(|origin| check_origin(origin)).collect::<Result<Vec<_>, _>>()?;
    let mut allowed_hosts =
        args.http.allow_host.iter().map(|name| check_host_name(name)).collect::<Result<Vec<_>, _>>()?;
    let delay =
        args.delay.as_deref().map(Delay::parse).transpose().map_err(|e| Error::Usage(format!("--delay: {e}")))?;
    let fail = FailRules::parse(&args.fail).map_err(|e| Error::Usage(format!("--fail: {e}")))?;
    let proxy = match &args.proxy {
        Some(url) => Some(Arc::new(Proxy::parse(url, args.record.as_deref()).map_err(Error::Usage)?)),
        None => None,
    };
    let loaded = match &args.spec {
        Some(path) => load(path).map_err(Error::Usage)?,
        None => Loaded::new(Api { title: "proxy".into(), source: SourceKind::Routes, ..Api::default() })
            .map_err(Error::Usage)?,
    };
    let journal = Arc::new(Journal::open(args.journal.as_deref()).map_err(Error::Usage)?);
    let (limits, workers) = tuned_limits(args.http.max_connections)?;
    ignore_sigpipe();

    let listen = ListenSpec { bind: args.http.bind, port: args.port, expose: args.http.expose };
    let listener = tcp_listener(&listen)?;
    let bound = listener.local_addr().map_err(|e| Error::System(format!("cannot read the bound address: {e}")))?;
    let url = local_url(bound);
    say!("berth: mocking {} on {url}", describe(&loaded.api, args.spec.as_deref()));
    warn_unsupported(&loaded.api);
    if let Some(proxy) = &proxy {
        match &args.record {
            Some(file) => say!(
                "berth: passing every request to http://{} and recording its answers in {}",
                proxy.address(),
                printable(&file.display().to_string())
            ),
            None => say!("berth: requests the spec does not know go to http://{}", proxy.address()),
        }
    }
    let (allowed_addresses, hostname) = announce_exposed(bound, args.http.expose);
    allowed_hosts.extend(hostname);

    let current = Arc::new(ArcSwap::from_pointee(loaded));
    if let (Some(path), false) = (&args.spec, args.no_reload) {
        reload::watch(path.clone(), current.clone(), load)
            .map_err(|e| Error::System(format!("cannot start the reload thread: {e}")))?;
    }
    let settings = Settings {
        seed: args.seed,
        dynamic: args.dynamic,
        validate: !args.no_validate,
        delay,
        fail,
        guard: Guard { cors, auth: None },
        proxy,
    };
    let handler = MockHandler { current, settings, journal };
    let hosts = HostGuard { allowed_hosts, allowed_addresses, allow_local_address: args.http.expose };
    let options = Options { limits, quiet: args.http.quiet, hosts, workers, blocking_jobs: None, tls: None };
    server::run(handler, options, listener)?;
    Ok(ExitCode::Success)
}

/// Loads a version of the API: start-up's and every reload's.
fn load(path: &Path) -> Result<Loaded, String> {
    let api = spec::load(path).map_err(|e| e.to_string())?;
    Loaded::new(api)
}

/// "Swagger Petstore (OpenAPI 3.0, petstore.yaml, 3 operations)".
fn describe(api: &Api, spec: Option<&Path>) -> String {
    let kind = match api.source {
        SourceKind::OpenApi30 => "OpenAPI 3.0",
        SourceKind::OpenApi31 => "OpenAPI 3.1",
        SourceKind::Swagger20 => "Swagger 2.0",
        SourceKind::Routes => "routes",
    };
    let file = spec.map(|p| format!(", {}", p.display())).unwrap_or_default();
    let operations = crate::analysis::plural(api.operations.len(), "operation", "operations");
    printable(&format!("{} ({kind}{file}, {operations})", api.title)).into_owned()
}

/// Says what of the spec berth does not act on, each once, where it first appears.
fn warn_unsupported(api: &Api) {
    for item in &api.unsupported {
        let places = if item.count > 1 {
            format!(" ({} places; first at {})", item.count, item.location)
        } else {
            format!(" (at {})", item.location)
        };
        say!("berth: warning: not supported, left out: {}{places}", printable(&item.what));
    }
}
