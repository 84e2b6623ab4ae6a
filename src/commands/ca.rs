//! `berth ca install | uninstall | status | env | cert`: berth's local CA
//! (`crate::ca`), put into and taken out of the trust stores, with a
//! report of what happened where. Changing the stores asks first on a
//! terminal (--yes does not); only the system store needs root, and sudo
//! is asked for just that step.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::ca::authority::CERT_LIFETIME;
use crate::ca::env::{self, Shell};
use crate::ca::stores::{self, Context, Manifest, Report, StoreKind};
use crate::ca::{Authority, CaPaths, LeafName, Permitted};
use crate::cli::{
    CaArgs, CaCertArgs, CaCommand, CaEnvArgs, CaInstallArgs, CaStatusArgs, CaUninstallArgs, EnvShell, GlobalArgs,
};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::printable::printable_path as shown;
use crate::render::ca::{self as render, CaSummary};
use crate::stderr::say;

pub fn run(args: &CaArgs, _global: &GlobalArgs) -> Result<ExitCode, Error> {
    let paths = CaPaths::locate()?;
    match &args.command {
        CaCommand::Install(args) => install(&paths, args),
        CaCommand::Uninstall(args) => uninstall(&paths, args),
        CaCommand::Status(args) => status(&paths, args),
        CaCommand::Env(args) => print_env(&paths, args),
        CaCommand::Cert(args) => cert(&paths, args),
    }
}

fn install(paths: &CaPaths, args: &CaInstallArgs) -> Result<ExitCode, Error> {
    let names = args
        .names
        .iter()
        .map(|n| Permitted::parse(n).map_err(|e| Error::Usage(format!("--name: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = chosen(&args.change.store);
    let existing = Authority::load(paths)?;
    if let Some(authority) = &existing {
        let missing: Vec<String> =
            names.iter().filter(|n| !authority.permitted.contains(n)).map(|n| n.to_string()).collect();
        if !missing.is_empty() {
            return Err(Error::Usage(format!(
                "the CA at {} was made without {}: its names are fixed when it is made; run berth ca uninstall, then berth ca install --name {}",
                shown(&paths.dir),
                missing.join(", "),
                missing.join(" --name ")
            )));
        }
    }
    let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
    if interactive && !args.change.yes {
        let what: Vec<&str> = kinds.iter().map(|k| describe_store(*k)).collect();
        let made = if existing.is_some() { "berth's CA" } else { "a new CA (loopback names only)" };
        if !super::confirm(&format!("Trust {made} in {}?", what.join(", ")))? {
            say!("berth: nothing changed");
            return Ok(ExitCode::ActionFailed);
        }
    }
    let (authority, created) = match existing {
        Some(authority) => (authority, false),
        None => Authority::create(paths, &names)?,
    };
    let mut manifest = Manifest::load(paths);
    let context = context(&authority, interactive);
    let reports = each_store(&kinds, "trusting the CA", |kind| stores::install(&context, &[kind], &mut manifest));
    manifest.save(paths)?;
    env::write_bundle(&authority)?;
    finish(&authority, created, &reports, args.change.json, None)?;
    if !args.change.json {
        say!("berth: for clients that read none of these (Node, Python requests, Deno): eval \"$(berth ca env)\"");
    }
    Ok(if reports.iter().any(|r| r.outcome.is_failure()) { ExitCode::ActionFailed } else { ExitCode::Success })
}

fn uninstall(paths: &CaPaths, args: &CaUninstallArgs) -> Result<ExitCode, Error> {
    let Some(authority) = Authority::load(paths)? else {
        say!("berth: there is no berth CA at {}: nothing to remove", shown(&paths.dir));
        return Ok(ExitCode::NothingFound);
    };
    let kinds = chosen(&args.change.store);
    let every_store = args.change.store.is_empty();
    let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
    if interactive && !args.change.yes {
        let question = if every_store {
            "Remove berth's CA from every store and delete its keys?".to_string()
        } else {
            let what: Vec<&str> = kinds.iter().map(|k| describe_store(*k)).collect();
            format!("Remove berth's CA from {}?", what.join(", "))
        };
        if !super::confirm(&question)? {
            say!("berth: nothing changed");
            return Ok(ExitCode::ActionFailed);
        }
    }
    let mut manifest = Manifest::load(paths);
    let context = context(&authority, interactive);
    let reports = each_store(&kinds, "removing the CA", |kind| stores::uninstall(&context, &[kind], &mut manifest));
    let clean = !reports.iter().any(|r| matches!(r.outcome, stores::Outcome::Failed));
    let remains = !clean
        || manifest.system_anchor.is_some()
        || !manifest.nss.is_empty()
        || reports.iter().any(|r| {
            r.outcome == stores::Outcome::Skipped && r.store == StoreKind::System && r.detail.contains("root")
        });
    let deleted = every_store && !remains;
    if deleted {
        std::fs::remove_dir_all(&paths.dir)
            .map_err(|e| Error::System(format!("cannot delete the CA at {}: {e}", shown(&paths.dir))))?;
    } else {
        manifest.save(paths)?;
    }
    finish(&authority, false, &reports, args.change.json, Some(deleted))?;
    if !args.change.json {
        if deleted {
            say!("berth: deleted the CA and its keys ({})", shown(&paths.dir));
        } else if every_store {
            say!("berth: kept the CA's keys, as it is still trusted somewhere; fix what failed and run berth ca uninstall again");
        }
    }
    Ok(if clean { ExitCode::Success } else { ExitCode::ActionFailed })
}

fn status(paths: &CaPaths, args: &CaStatusArgs) -> Result<ExitCode, Error> {
    let Some(authority) = Authority::load(paths)? else {
        if args.json {
            write_stdout(&render::json(None, &[], None))?;
        } else {
            say!("berth: no berth CA at {} (berth ca install makes one)", shown(&paths.dir));
        }
        return Ok(ExitCode::NothingFound);
    };
    let context = context(&authority, false);
    let reports = stores::status(&context);
    finish(&authority, false, &reports, args.json, None)?;
    Ok(ExitCode::Success)
}

fn print_env(paths: &CaPaths, args: &CaEnvArgs) -> Result<ExitCode, Error> {
    let (authority, created) = Authority::load_or_create(paths, &[])?;
    if created {
        say!("berth: made a new CA at {} (not in any store yet: berth ca install)", shown(&paths.dir));
    }
    let bundle = env::write_bundle(&authority)?;
    let shell = match args.shell {
        EnvShell::Sh => Shell::Sh,
        EnvShell::Fish => Shell::Fish,
    };
    let mut text = env::lines(&paths.root(), &bundle, shell).join("\n");
    text.push('\n');
    write_stdout(&text)?;
    Ok(ExitCode::Success)
}

fn cert(paths: &CaPaths, args: &CaCertArgs) -> Result<ExitCode, Error> {
    let names = args.names.iter().map(|n| LeafName::parse(n).map_err(Error::Usage)).collect::<Result<Vec<_>, _>>()?;
    let (authority, created) = Authority::load_or_create(paths, &[])?;
    if created {
        say!("berth: made a new CA at {} (not in any store yet: berth ca install)", shown(&paths.dir));
    }
    let leaf = authority.issue(&names, CERT_LIFETIME)?;
    let stem = file_stem(&names);
    let cert_file = args.cert_file.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.pem")));
    let key_file = args.key_file.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}-key.pem")));
    write_file(&cert_file, leaf.chain_pem.as_bytes(), 0o644)?;
    write_file(&key_file, leaf.key_pem.as_bytes(), 0o600)?;
    let list: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    say!(
        "berth: wrote {} (the certificate, then the intermediate) and {} (its key) for {}; valid until {}",
        shown(&cert_file),
        shown(&key_file),
        list.join(", "),
        humantime::format_rfc3339_seconds(leaf.not_after)
    );
    Ok(ExitCode::Success)
}

/// mkcert's naming: the first name, `+N` for N more, `*` as `_wildcard`.
fn file_stem(names: &[LeafName]) -> String {
    let first = names.first().map(|n| n.to_string()).unwrap_or_default().replace('*', "_wildcard").replace(':', "_");
    if names.len() > 1 {
        format!("{first}+{}", names.len() - 1)
    } else {
        first
    }
}

/// Writes a file with `mode` from its first byte: a new file beside the
/// target, renamed over it, so the key is never readable by others, not
/// even for a moment. Only a regular file is replaced: a device, a FIFO or
/// a link there is refused (as root, writing to /dev/null must not turn it
/// into a key file).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(existing) = std::fs::symlink_metadata(path) {
        if !existing.file_type().is_file() {
            return Err(Error::Usage(format!(
                "{} is not a regular file: give the path of a file to write",
                shown(path)
            )));
        }
    }
    let name = path.file_name().ok_or_else(|| Error::Usage(format!("{} is not a file name", shown(path))))?;
    let staging = path.with_file_name(format!(".{}.berth-{}", name.to_string_lossy(), std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&staging)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&staging, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        Error::Write(format!("cannot write {}: {e}", shown(path)))
    })
}

/// Runs `step` for each store in turn, with a progress bar on a terminal
/// (the system store's refresh and Java's keytool take seconds). Not while
/// sudo may ask for a password: the bar would draw over its prompt.
fn each_store(kinds: &[StoreKind], doing: &str, mut step: impl FnMut(StoreKind) -> Vec<Report>) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut run = |done: Option<&std::sync::atomic::AtomicUsize>| {
        for &kind in kinds {
            reports.extend(step(kind));
            if let Some(done) = done {
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    if stores::is_root() {
        let template = format!("{doing} [{{bar:20}}] {{pos}}/{{len}} stores");
        super::with_progress(kinds.len(), &template, |done| run(Some(done)));
    } else {
        run(None);
    }
    reports
}

fn chosen(stores: &[StoreKind]) -> Vec<StoreKind> {
    if stores.is_empty() {
        StoreKind::ALL.to_vec()
    } else {
        stores.to_vec()
    }
}

fn describe_store(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::System => "the system store (needs root: sudo asks)",
        StoreKind::Nss => "NSS databases (Chromium, Firefox)",
        StoreKind::Java => "Java's cacerts",
    }
}

fn context(authority: &Authority, interactive: bool) -> Context<'_> {
    Context { authority, home: std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from), interactive }
}

fn summary(authority: &Authority, created: bool) -> CaSummary {
    CaSummary {
        dir: shown(&authority.paths.dir),
        root: shown(&authority.paths.root()),
        name: authority.root_name(),
        fingerprint_sha256: authority.fingerprint(),
        permitted: authority.permitted.iter().map(|p| p.to_string()).collect(),
        created,
    }
}

fn finish(
    authority: &Authority,
    created: bool,
    reports: &[Report],
    json: bool,
    deleted: Option<bool>,
) -> Result<(), Error> {
    let ca = summary(authority, created);
    if json {
        write_stdout(&render::json(Some(&ca), reports, deleted))
    } else {
        write_stdout(&format!("{}{}", render::summary(&ca), render::table(reports)))
    }
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = super::stdout();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
