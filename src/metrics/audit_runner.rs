//! The periodic audit behind the `berth_audit_*` series: `berth audit`'s
//! checks (the same [`audit::run`]), on a thread of their own, at most every
//! `--audit-every`, so that a scrape never waits for probes. A scrape shows
//! the last finished run.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::audit::{self, probe, Facts};
use crate::stderr::say;
use berth_inventory::SourceChoice;

/// A finding as the series label it: bounded values only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFinding {
    pub check: &'static str,
    pub severity: &'static str,
    pub port: Option<u16>,
    /// The owner's short name, or "" when unknown.
    pub process: String,
}

/// The last audit that finished.
#[derive(Clone, Debug, Default)]
pub struct AuditResult {
    pub findings: Vec<AuditFinding>,
    /// When it finished, Unix seconds.
    pub finished_unix: f64,
    pub seconds: f64,
    /// Why the last run failed, when it did (`findings` are then the
    /// previous run's, if any).
    pub error: Option<String>,
}

/// What the audit may do.
#[derive(Clone, Copy, Debug)]
pub struct AuditSettings {
    pub source: SourceChoice,
    /// Contact services (the probing checks), as `berth audit` does by default.
    pub probe: bool,
}

/// Runs the audit once and returns what the series show.
pub fn run_once(settings: AuditSettings, previous: Option<&AuditResult>) -> AuditResult {
    let started = Instant::now();
    let outcome = Facts::gather(settings.source).map(|(facts, _)| {
        // The defaults of `berth audit`: 2 s per service, 20 s in all.
        let probing = settings
            .probe
            .then_some(probe::Options { service_timeout: Duration::from_secs(2), budget: Duration::from_secs(20) });
        audit::run(&facts, probing, &AtomicUsize::new(0))
    });
    let finished_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(outcome) => AuditResult {
            findings: outcome
                .findings
                .iter()
                .map(|f| AuditFinding {
                    check: f.id,
                    severity: f.severity.word(),
                    port: f.port,
                    process: f.process.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                })
                .collect(),
            finished_unix,
            seconds,
            error: None,
        },
        Err(e) => AuditResult {
            findings: previous.map(|p| p.findings.clone()).unwrap_or_default(),
            finished_unix,
            seconds,
            error: Some(e.to_string()),
        },
    }
}

/// Starts the audit thread: a run now, then one every `every`. The latest
/// result is in the returned slot.
pub fn spawn(settings: AuditSettings, every: Duration) -> std::io::Result<Arc<Mutex<Option<AuditResult>>>> {
    let latest: Arc<Mutex<Option<AuditResult>>> = Arc::default();
    let slot = latest.clone();
    std::thread::Builder::new().name("berth-audit".into()).spawn(move || loop {
        let started = Instant::now();
        let previous = slot.lock().ok().and_then(|g| g.clone());
        let result = run_once(settings, previous.as_ref());
        // Said when it starts failing, not at every run.
        if let Some(why) = result.error.as_ref().filter(|_| previous.as_ref().is_none_or(|p| p.error.is_none())) {
            say!("berth: warning: the periodic audit failed: {why}; berth_audit_finding keeps the last run's findings and berth_scrape_error{{part=\"audit\"}} is 1 until one succeeds");
        }
        if let Ok(mut guard) = slot.lock() {
            *guard = Some(result);
        }
        std::thread::sleep(every.saturating_sub(started.elapsed()));
    })?;
    Ok(latest)
}
