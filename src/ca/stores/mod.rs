//! The trust stores berth's root goes into, each behind the same three
//! verbs (install, uninstall, status), each saying per place what it did,
//! skipped and why, or could not do:
//! - [`system`]: the distribution's store (update-ca-certificates,
//!   update-ca-trust), which curl, Python's urllib, Go and OpenSSL read.
//!   The only one that needs root: sudo is asked for just its commands.
//! - [`nss`]: NSS databases (Chromium's ~/.pki/nssdb, created if missing;
//!   Firefox profiles; snap Chromium), through certutil.
//! - [`java`]: the JRE's cacerts, through keytool.
//!
//! What install changed is recorded in the CA's directory
//! ([`Manifest`]), so uninstall removes exactly that, and then looks again
//! by fingerprint for copies that something else made (Debian's Java hook
//! copies the system store into cacerts).

pub mod java;
pub mod nss;
pub mod system;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::{Deserialize, Serialize};

use super::authority::{Authority, CaPaths};
use crate::error::Error;
use crate::printable::printable;

/// A store berth knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    System,
    Nss,
    Java,
}

impl StoreKind {
    pub const ALL: [StoreKind; 3] = [StoreKind::System, StoreKind::Nss, StoreKind::Java];
}

/// What happened in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Installed,
    AlreadyTrusted,
    Removed,
    NotThere,
    Trusted,
    NotTrusted,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::AlreadyTrusted => "already trusted",
            Outcome::Removed => "removed",
            Outcome::NotThere => "not there",
            Outcome::Trusted => "trusted",
            Outcome::NotTrusted => "not trusted",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }

    pub fn is_failure(self) -> bool {
        self == Outcome::Failed
    }
}

/// One line of a report: a store, the place in it, what happened, why.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub store: StoreKind,
    pub place: String,
    pub outcome: Outcome,
    pub detail: String,
}

impl Report {
    pub fn new(store: StoreKind, place: impl Into<String>, outcome: Outcome, detail: impl Into<String>) -> Report {
        Report { store, place: place.into(), outcome, detail: detail.into() }
    }
}

/// What `berth ca install` changed, for uninstall.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The file put into the system store's anchors.
    #[serde(default)]
    pub system_anchor: Option<PathBuf>,
    /// NSS databases the root was added to, and whether berth made them.
    #[serde(default)]
    pub nss: Vec<NssEntry>,
    /// Java keystores the root was imported into, with the alias.
    #[serde(default)]
    pub java: Vec<JavaEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NssEntry {
    pub dir: PathBuf,
    pub created: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JavaEntry {
    pub keystore: PathBuf,
    pub alias: String,
}

impl Manifest {
    pub fn load(paths: &CaPaths) -> Manifest {
        std::fs::read(paths.manifest()).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
    }

    pub fn save(&self, paths: &CaPaths) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        std::fs::write(paths.manifest(), text).map_err(|e| {
            Error::System(format!("cannot record what was installed in {}: {e}", shown(&paths.manifest())))
        })
    }
}

/// Everything a store needs to act.
pub struct Context<'a> {
    pub authority: &'a Authority,
    /// The user's home (NSS databases live there).
    pub home: Option<PathBuf>,
    /// Whether sudo may prompt (stdin and stderr are a terminal).
    pub interactive: bool,
}

impl Context<'_> {
    /// The nickname and alias the root goes by in stores: its fingerprint
    /// in it, so two CAs (two users, or a remade one) never collide.
    pub fn nickname(&self) -> String {
        format!("berth local CA {}", &self.authority.fingerprint()[..16])
    }

    pub fn alias(&self) -> String {
        format!("berth-local-ca-{}", &self.authority.fingerprint()[..16])
    }
}

/// Whether berth runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A program on PATH (or at an absolute path) that can be run.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // The store tools live in sbin, which a user's PATH often lacks.
    for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|dir| dir.join(name)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt;
        candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Runs a program to completion, stdin closed; its output, or why not.
pub fn run<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<Output, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))
}

/// Runs a program as root: directly when berth is root, through sudo
/// otherwise (which prompts only when `interactive`; else `sudo -n`, which
/// fails at once rather than hang waiting for a password nobody types).
pub fn run_as_root<S: AsRef<OsStr>>(program: &Path, args: &[S], interactive: bool) -> Result<Output, String> {
    if is_root() {
        return run(program, args);
    }
    let sudo = find_program("sudo").ok_or("it needs root, and sudo is not installed")?;
    let mut command = Command::new(sudo);
    if !interactive {
        command.arg("-n");
    }
    command.arg("--").arg(program).args(args).env("LC_ALL", "C");
    // sudo prompts on the terminal itself; stdin stays the user's.
    command
        .stdin(if interactive { Stdio::inherit() } else { Stdio::null() })
        .output()
        .map_err(|e| format!("cannot run sudo: {e}"))
}

/// A step that needs root and could not get it (no sudo, or sudo wanting a
/// password with no terminal to ask on) was skipped; anything else failed.
pub fn skipped_or_failed(why: &str) -> Outcome {
    if why.contains("sudo") || why.contains("password") {
        Outcome::Skipped
    } else {
        Outcome::Failed
    }
}

/// Why a program failed, from its exit status and its last line of stderr.
pub fn failure(what: &str, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").trim();
    let status = output.status.code().map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
    if last.is_empty() {
        format!("{what} ended with {status}")
    } else {
        format!("{what} ended with {status}: {}", printable(last))
    }
}

pub use crate::printable::printable_path as shown;

/// Puts the root into every store in `kinds`.
pub fn install(context: &Context<'_>, kinds: &[StoreKind], manifest: &mut Manifest) -> Vec<Report> {
    let mut reports = Vec::new();
    for kind in StoreKind::ALL.into_iter().filter(|k| kinds.contains(k)) {
        match kind {
            StoreKind::System => reports.extend(system::install(context, manifest)),
            StoreKind::Nss => reports.extend(nss::install(context, manifest)),
            StoreKind::Java => reports.extend(java::install(context, manifest)),
        }
    }
    reports
}

/// Takes the root out of every store in `kinds`.
pub fn uninstall(context: &Context<'_>, kinds: &[StoreKind], manifest: &mut Manifest) -> Vec<Report> {
    let mut reports = Vec::new();
    for kind in StoreKind::ALL.into_iter().filter(|k| kinds.contains(k)) {
        match kind {
            StoreKind::System => reports.extend(system::uninstall(context, manifest)),
            StoreKind::Nss => reports.extend(nss::uninstall(context, manifest)),
            StoreKind::Java => reports.extend(java::uninstall(context, manifest)),
        }
    }
    reports
}

/// Where the root is trusted now.
pub fn status(context: &Context<'_>) -> Vec<Report> {
    let mut reports = system::status(context);
    reports.extend(nss::status(context));
    reports.extend(java::status(context));
    reports
}

/// Whether a PEM bundle holds the certificate `der`.
pub fn bundle_holds(bundle: &Path, der: &[u8]) -> bool {
    use rustls::pki_types::pem::PemObject;
    let Ok(text) = std::fs::read(bundle) else { return false };
    rustls::pki_types::CertificateDer::pem_slice_iter(&text).flatten().any(|cert| cert.as_ref() == der)
}
