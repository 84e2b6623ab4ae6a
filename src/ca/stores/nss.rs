//! NSS databases, where Chromium (on Linux) and Firefox look for roots,
//! through NSS's own certutil (Debian's libnss3-tools). Chromium's
//! ~/.pki/nssdb is created when it does not exist yet: a fresh machine
//! has none until Chromium first runs, which is why a root installed
//! before then is not trusted (mkcert#6, caddy#3205). A database berth
//! created is removed again by uninstall when nothing else is in it.

use std::fs;
use std::path::{Path, PathBuf};

use super::StoreKind;
use super::{failure, find_program, run, shown, Context, Manifest, NssEntry, Outcome, Report};

/// One database: its directory and the prefix certutil wants (`sql:` for
/// cert9.db, `dbm:` for the old cert8.db).
struct Database {
    dir: PathBuf,
    prefix: &'static str,
    exists: bool,
}

impl Database {
    fn spec(&self) -> String {
        format!("{}{}", self.prefix, self.dir.display())
    }
}

/// Chromium's database (there or not), then every other that exists.
fn databases(home: &Path) -> Vec<Database> {
    let chromium = home.join(".pki/nssdb");
    let mut found = vec![Database { exists: chromium.join("cert9.db").exists(), dir: chromium, prefix: "sql:" }];
    let snap = home.join("snap/chromium/current/.pki/nssdb");
    if snap.join("cert9.db").exists() {
        found.push(Database { dir: snap, prefix: "sql:", exists: true });
    }
    for profiles in [home.join(".mozilla/firefox"), home.join("snap/firefox/common/.mozilla/firefox")] {
        let Ok(entries) = fs::read_dir(&profiles) else { continue };
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for dir in dirs {
            if dir.join("cert9.db").exists() {
                found.push(Database { dir, prefix: "sql:", exists: true });
            } else if dir.join("cert8.db").exists() {
                found.push(Database { dir, prefix: "dbm:", exists: true });
            }
        }
    }
    found
}

fn certutil() -> Result<PathBuf, Report> {
    find_program("certutil").ok_or_else(|| {
        Report::new(
            StoreKind::Nss,
            "NSS (Chromium, Firefox)",
            Outcome::Skipped,
            "certutil is missing: apt install libnss3-tools (dnf install nss-tools, pacman -S nss)",
        )
    })
}

fn no_home() -> Report {
    Report::new(StoreKind::Nss, "NSS (Chromium, Firefox)", Outcome::Skipped, "HOME is not set")
}

/// Whether the database holds the root under `nickname`.
fn holds(certutil: &Path, database: &Database, nickname: &str) -> bool {
    let spec = database.spec();
    run(certutil, &["-L", "-d", spec.as_str(), "-n", nickname]).is_ok_and(|o| o.status.success())
}

pub fn install(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let certutil = match certutil() {
        Ok(path) => path,
        Err(report) => return vec![report],
    };
    let Some(home) = &context.home else { return vec![no_home()] };
    let nickname = context.nickname();
    let root = context.authority.paths.root().display().to_string();
    let mut reports = Vec::new();
    for database in databases(home) {
        let place = format!("NSS {}", shown(&database.dir));
        let mut created = false;
        if !database.exists {
            if let Err(why) = create(&certutil, &database) {
                reports.push(Report::new(StoreKind::Nss, place, Outcome::Failed, why));
                continue;
            }
            created = true;
        }
        if holds(&certutil, &database, &nickname) {
            remember(manifest, &database.dir, false);
            reports.push(Report::new(StoreKind::Nss, place, Outcome::AlreadyTrusted, ""));
            continue;
        }
        let spec = database.spec();
        let args = ["-A", "-d", spec.as_str(), "-t", "C,,", "-n", nickname.as_str(), "-i", root.as_str()];
        match run(&certutil, &args) {
            Ok(output) if output.status.success() => {
                remember(manifest, &database.dir, created);
                let detail = if created { "created the database, then added the root" } else { "" };
                reports.push(Report::new(StoreKind::Nss, place, Outcome::Installed, detail));
            }
            Ok(output) => {
                reports.push(Report::new(StoreKind::Nss, place, Outcome::Failed, failure("certutil -A", &output)))
            }
            Err(why) => reports.push(Report::new(StoreKind::Nss, place, Outcome::Failed, why)),
        }
    }
    reports
}

fn remember(manifest: &mut Manifest, dir: &Path, created: bool) {
    match manifest.nss.iter_mut().find(|entry| entry.dir == dir) {
        Some(entry) => entry.created |= created,
        None => manifest.nss.push(NssEntry { dir: dir.to_path_buf(), created }),
    }
}

/// A new, empty database with no password, as Chromium would make it.
fn create(certutil: &Path, database: &Database) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&database.dir)
        .map_err(|e| format!("cannot create {}: {e}", shown(&database.dir)))?;
    let spec = database.spec();
    let output = run(certutil, &["-N", "-d", spec.as_str(), "--empty-password"])?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failure("certutil -N", &output))
    }
}

pub fn uninstall(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let certutil = match certutil() {
        Ok(path) => path,
        Err(report) => return vec![report],
    };
    let Some(home) = &context.home else { return vec![no_home()] };
    let nickname = context.nickname();
    let mut all = databases(home);
    for entry in &manifest.nss {
        if !all.iter().any(|d| d.dir == entry.dir) {
            all.push(Database { exists: entry.dir.join("cert9.db").exists(), dir: entry.dir.clone(), prefix: "sql:" });
        }
    }
    let mut reports = Vec::new();
    for database in all.into_iter().filter(|d| d.exists) {
        let place = format!("NSS {}", shown(&database.dir));
        let spec = database.spec();
        let mut removed = false;
        let mut error = None;
        // A nickname can be there more than once; bounded.
        for _ in 0..8 {
            if !holds(&certutil, &database, &nickname) {
                break;
            }
            match run(&certutil, &["-D", "-d", spec.as_str(), "-n", nickname.as_str()]) {
                Ok(output) if output.status.success() => removed = true,
                Ok(output) => {
                    error = Some(failure("certutil -D", &output));
                    break;
                }
                Err(why) => {
                    error = Some(why);
                    break;
                }
            }
        }
        let created = manifest.nss.iter().any(|e| e.dir == database.dir && e.created);
        let mut detail = String::new();
        if error.is_none() && created && is_empty(&certutil, &database) {
            match remove_database(&database.dir, home) {
                Ok(()) => detail = "and the database berth had created".into(),
                Err(why) => error = Some(why),
            }
        }
        manifest.nss.retain(|e| e.dir != database.dir || error.is_some());
        reports.push(match (error, removed) {
            (Some(why), _) => Report::new(StoreKind::Nss, place, Outcome::Failed, why),
            (None, true) => Report::new(StoreKind::Nss, place, Outcome::Removed, detail),
            (None, false) => Report::new(StoreKind::Nss, place, Outcome::NotThere, detail),
        });
    }
    if reports.is_empty() {
        reports.push(Report::new(StoreKind::Nss, "NSS (Chromium, Firefox)", Outcome::NotThere, "no databases"));
    }
    reports
}

/// Whether a database lists no certificates at all.
fn is_empty(certutil: &Path, database: &Database) -> bool {
    let spec = database.spec();
    match run(certutil, &["-L", "-d", spec.as_str()]) {
        // The listing is a two-line header, a blank line, then one line a
        // certificate.
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).lines().skip(3).all(|line| line.trim().is_empty())
        }
        _ => false,
    }
}

/// Removes the files certutil -N made, then the directories up to HOME
/// that are left empty (.pki/nssdb, .pki).
fn remove_database(dir: &Path, home: &Path) -> Result<(), String> {
    for name in ["cert9.db", "key4.db", "pkcs11.txt"] {
        let path = dir.join(name);
        if path.exists() {
            fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", shown(&path)))?;
        }
    }
    let mut current = Some(dir);
    while let Some(path) = current {
        if path == home || !path.starts_with(home) || fs::remove_dir(path).is_err() {
            break;
        }
        current = path.parent();
    }
    Ok(())
}

pub fn status(context: &Context<'_>) -> Vec<Report> {
    let certutil = match certutil() {
        Ok(path) => path,
        Err(report) => return vec![report],
    };
    let Some(home) = &context.home else { return vec![no_home()] };
    let nickname = context.nickname();
    let mut reports = Vec::new();
    for database in databases(home) {
        let place = format!("NSS {}", shown(&database.dir));
        if !database.exists {
            reports.push(Report::new(StoreKind::Nss, place, Outcome::NotTrusted, "no database yet"));
        } else if holds(&certutil, &database, &nickname) {
            reports.push(Report::new(StoreKind::Nss, place, Outcome::Trusted, ""));
        } else {
            reports.push(Report::new(StoreKind::Nss, place, Outcome::NotTrusted, ""));
        }
    }
    reports
}
