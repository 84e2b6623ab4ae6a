//! Live probing of TCP listeners: find out what each one speaks (HTTP,
//! HTTPS, a banner, a known binary protocol: [`identify()`]), ask it what
//! the probing checks need to know ([`redis`], [`memcached`], [`postgres`],
//! [`web`], [`browser`], and [`trust`] for its certificate),
//! then hand the [`Service`] with its [`Answers`] to the checks, which
//! only judge. This folder is the only part of the audit that talks to
//! services.
//!
//! Safety rules every probe follows: requests are reads (GET, HEAD, OPTIONS,
//! a WebSocket handshake that is closed at once, read-only protocol
//! commands); nothing writes, deletes or changes anything. Services the
//! catalog knows to speak a binary protocol never get an HTTP request.
//!
//! Timing: services are probed in parallel on worker threads. Each service
//! has its own deadline (`service_timeout`), and the whole probing stops
//! at the total budget; services not reached by then are reported as
//! skipped. The first contact with a service is limited to
//! [`FIRST_CONTACT`] so that a service that accepts and never answers costs
//! about that much, whatever the service timeout. Every read and write of
//! every probe goes over a [`DeadlineStream`] (directly, in [`Conn`], or
//! under TLS and HTTP), so none outlasts the service's deadline, however
//! slowly the service answers or reads. A service that was still answering
//! when its deadline cut it off is reported as not fully checked.
//!
//! [`DeadlineStream`]: crate::net::deadline::DeadlineStream
//! [`Conn`]: wire::Conn
//! [`FIRST_CONTACT`]: identify::FIRST_CONTACT

pub mod browser;
pub mod identify;
pub mod memcached;
pub mod postgres;
pub mod redis;
pub mod service;
pub mod trust;
pub mod web;
pub mod wire;

use crate::analysis::plural;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::catalog::Wire;
use super::{Facts, Finding, Skipped};
use berth_inventory::Protocol;
pub use identify::identify;
pub use service::{Answers, Service, Speaks};

/// A service is not started with less time than this left in the budget:
/// it could not be probed, only fail, and would pass for probed.
const MIN_SERVICE_TIME: Duration = Duration::from_millis(50);
/// Worker threads at most.
const MAX_THREADS: usize = 64;

/// How long probing may take.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Per service: all of its probes together.
    pub service_timeout: Duration,
    /// All probing together.
    pub budget: Duration,
}

/// Probes every TCP listener: identifies it, asks it what the checks need
/// to know, and hands it to `judge` (the probing checks) on the worker
/// thread. `done` counts the services finished (for a progress bar).
pub fn run<J>(facts: &Facts, options: Options, done: &AtomicUsize, judge: J) -> (Vec<Finding>, Vec<Skipped>)
where
    J: Fn(&Service) -> Vec<Finding> + Sync,
{
    let indices: Vec<usize> =
        facts.listeners.iter().enumerate().filter(|(_, l)| l.protocol == Protocol::Tcp).map(|(i, _)| i).collect();
    let budget_end = Instant::now() + options.budget;
    let next = AtomicUsize::new(0);
    let findings = Mutex::new(Vec::new());
    let unreached = Mutex::new(Vec::new());
    let cut_off = Mutex::new(Vec::new());
    let threads = indices.len().clamp(1, MAX_THREADS);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // Bounded: each round takes the next listener; there are finitely many.
                loop {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = indices.get(slot) else { break };
                    let now = Instant::now();
                    if budget_end.saturating_duration_since(now) < MIN_SERVICE_TIME {
                        unreached.lock().unwrap_or_else(|p| p.into_inner()).push(index);
                        done.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let deadline = (now + options.service_timeout).min(budget_end);
                    let mut service = identify(index, &facts.listeners[index], deadline);
                    if let Some(why) = &service.cut_off {
                        cut_off.lock().unwrap_or_else(|p| p.into_inner()).push((index, why.clone()));
                    }
                    service.answers = ask(&service);
                    let mut found = judge(&service);
                    findings.lock().unwrap_or_else(|p| p.into_inner()).append(&mut found);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let mut skipped = Vec::new();
    let mut cut_off = cut_off.into_inner().unwrap_or_else(|p| p.into_inner());
    cut_off.sort_unstable();
    for (index, why) in cut_off {
        let port = facts.listeners[index].port;
        skipped.push(Skipped {
            check: "probe".into(),
            reason: format!(
                "port {port} timed out while still answering ({why}); it was checked only as far as it answered"
            ),
            remedy: Some(format!("berth who {port} shows what holds it")),
        });
    }
    let mut unreached = unreached.into_inner().unwrap_or_else(|p| p.into_inner());
    if !unreached.is_empty() {
        unreached.sort_unstable();
        let ports: Vec<String> = unreached.iter().map(|&i| facts.listeners[i].port.to_string()).collect();
        skipped.push(Skipped {
            check: "probe".into(),
            reason: format!(
                "the probing budget of {:.1} s ran out before {} {} probed: {} {}",
                options.budget.as_secs_f64(),
                plural(unreached.len(), "listener", "listeners"),
                if unreached.len() == 1 { "was" } else { "were" },
                if unreached.len() == 1 { "port" } else { "ports" },
                ports.join(", ")
            ),
            remedy: Some("give more time with --budget".into()),
        });
    }
    (findings.into_inner().unwrap_or_else(|p| p.into_inner()), skipped)
}

/// Asks an identified service what the probing checks need to know: the
/// questions of the protocol it speaks (for HTTP, the well-known API paths
/// and then a web page's questions), then, for a certificate it presented,
/// who vouches for it. One after the other, so each gets its share of the
/// service's deadline (see [`Service::fetch`]).
fn ask(service: &Service) -> Answers {
    let mut answers = Answers::default();
    match &service.speaks {
        Speaks::Wire(Wire::Redis) => answers.redis = redis::ask(service),
        Speaks::Wire(Wire::Memcached) => answers.memcached = memcached::ask(service),
        Speaks::Wire(Wire::Postgres) => answers.postgres = postgres::ask(service),
        Speaks::Http => {
            answers.web = Some(web::ask(service));
            answers.browser = Some(browser::ask(service));
        }
        _ => {}
    }
    if let Some(report) = &service.tls {
        answers.certificate = report.certificate.as_ref().map(|certificate| trust::facts(report, certificate));
    }
    answers
}
