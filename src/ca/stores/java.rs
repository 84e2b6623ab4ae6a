//! Java's cacerts, through the JRE's keytool. The keystore is the one the
//! keytool on PATH belongs to (its java.home's lib/security/cacerts, which
//! on Debian is a link to /etc/ssl/certs/java/cacerts). Entries are found
//! by the root's SHA-256 fingerprint, not by alias, so uninstall also
//! removes the copy Debian's ca-certificates-java hook makes under its own
//! alias (what `mkcert -uninstall` and `caddy untrust` left behind).

use std::path::{Path, PathBuf};

use super::{
    failure, find_program, run, run_as_root, shown, skipped_or_failed, Context, JavaEntry, Manifest, Outcome, Report,
    StoreKind,
};

/// The password every JRE ships cacerts with.
const STOREPASS: &str = "changeit";

/// keytool and the cacerts it uses.
struct Java {
    keytool: PathBuf,
    keystore: PathBuf,
}

fn locate() -> Result<Java, Report> {
    let keytool = std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/keytool"))
        .filter(|p| p.is_file())
        .or_else(|| find_program("keytool"))
        .ok_or_else(|| {
            Report::new(StoreKind::Java, "Java cacerts", Outcome::Skipped, "no JRE found (no keytool on PATH)")
        })?;
    // bin/keytool → java.home → lib/security/cacerts.
    let real = std::fs::canonicalize(&keytool).unwrap_or_else(|_| keytool.clone());
    let home = real.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let keystore = home.join("lib/security/cacerts");
    if !keystore.exists() {
        return Err(Report::new(
            StoreKind::Java,
            format!("Java {}", shown(&home)),
            Outcome::Skipped,
            format!("{} has no cacerts", shown(&home)),
        ));
    }
    let keystore = std::fs::canonicalize(&keystore).unwrap_or(keystore);
    Ok(Java { keytool, keystore })
}

impl Java {
    fn place(&self) -> String {
        format!("Java {}", shown(&self.keystore))
    }

    /// The aliases whose certificate is the root.
    fn aliases_of(&self, fingerprint: &str) -> Result<Vec<String>, String> {
        let keystore = self.keystore.display().to_string();
        let args = ["-J-Duser.language=en", "-list", "-keystore", keystore.as_str(), "-storepass", STOREPASS];
        let output = run(&self.keytool, &args)?;
        if !output.status.success() {
            return Err(failure("keytool -list", &output));
        }
        Ok(aliases_with(&String::from_utf8_lossy(&output.stdout), fingerprint))
    }

    /// keytool for a change: as root when the keystore is not writable.
    fn change(&self, args: &[&str], interactive: bool) -> Result<(), String> {
        let writable = std::fs::OpenOptions::new().append(true).open(&self.keystore).is_ok();
        let output = if writable { run(&self.keytool, args)? } else { run_as_root(&self.keytool, args, interactive)? };
        if output.status.success() {
            Ok(())
        } else {
            Err(failure("keytool", &output))
        }
    }
}

/// From `keytool -list`: each entry is a line `alias, date, kind,` then a
/// line `Certificate fingerprint (SHA-256): AB:CD:...`.
fn aliases_with(listing: &str, fingerprint: &str) -> Vec<String> {
    let wanted = fingerprint.to_ascii_uppercase();
    let mut aliases = Vec::new();
    let mut last_alias: Option<&str> = None;
    for line in listing.lines() {
        if let Some(value) = line.trim().strip_prefix("Certificate fingerprint (SHA-256):") {
            let hex: String = value.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            if hex.eq_ignore_ascii_case(&wanted) {
                if let Some(alias) = last_alias {
                    aliases.push(alias.to_string());
                }
            }
        } else if line.contains(", ") && (line.contains("trustedCertEntry") || line.contains("PrivateKeyEntry")) {
            last_alias = line.split(", ").next();
        }
    }
    aliases
}

pub fn install(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let java = match locate() {
        Ok(java) => java,
        Err(report) => return vec![report],
    };
    let fingerprint = context.authority.fingerprint();
    match java.aliases_of(&fingerprint) {
        Ok(aliases) if !aliases.is_empty() => {
            return vec![Report::new(
                StoreKind::Java,
                java.place(),
                Outcome::AlreadyTrusted,
                format!("as {}", aliases.join(", ")),
            )]
        }
        Ok(_) => {}
        Err(why) => return vec![Report::new(StoreKind::Java, java.place(), Outcome::Failed, why)],
    }
    let alias = context.alias();
    let keystore = java.keystore.display().to_string();
    let root = context.authority.paths.root().display().to_string();
    let args = [
        "-J-Duser.language=en",
        "-importcert",
        "-noprompt",
        "-trustcacerts",
        "-alias",
        alias.as_str(),
        "-file",
        root.as_str(),
        "-keystore",
        keystore.as_str(),
        "-storepass",
        STOREPASS,
    ];
    match java.change(&args, context.interactive) {
        Ok(()) => {
            manifest.java.retain(|e| e.keystore != java.keystore);
            manifest.java.push(JavaEntry { keystore: java.keystore.clone(), alias: alias.clone() });
            vec![Report::new(StoreKind::Java, java.place(), Outcome::Installed, format!("as {alias}"))]
        }
        Err(why) => vec![Report::new(
            StoreKind::Java,
            java.place(),
            skipped_or_failed(&why),
            format!("{why}: run `berth ca install --store java` as root (sudo)"),
        )],
    }
}

pub fn uninstall(context: &Context<'_>, manifest: &mut Manifest) -> Vec<Report> {
    let java = match locate() {
        Ok(java) => java,
        Err(report) => return vec![report],
    };
    let aliases = match java.aliases_of(&context.authority.fingerprint()) {
        Ok(aliases) => aliases,
        Err(why) => return vec![Report::new(StoreKind::Java, java.place(), Outcome::Failed, why)],
    };
    if aliases.is_empty() {
        manifest.java.retain(|e| e.keystore != java.keystore);
        return vec![Report::new(StoreKind::Java, java.place(), Outcome::NotThere, "")];
    }
    let keystore = java.keystore.display().to_string();
    for alias in &aliases {
        let args = [
            "-J-Duser.language=en",
            "-delete",
            "-alias",
            alias.as_str(),
            "-keystore",
            keystore.as_str(),
            "-storepass",
            STOREPASS,
        ];
        if let Err(why) = java.change(&args, context.interactive) {
            return vec![Report::new(
                StoreKind::Java,
                java.place(),
                skipped_or_failed(&why),
                format!("{why}: run `berth ca uninstall --store java` as root (sudo)"),
            )];
        }
    }
    manifest.java.retain(|e| e.keystore != java.keystore);
    vec![Report::new(StoreKind::Java, java.place(), Outcome::Removed, aliases.join(", "))]
}

pub fn status(context: &Context<'_>) -> Vec<Report> {
    let java = match locate() {
        Ok(java) => java,
        Err(report) => return vec![report],
    };
    match java.aliases_of(&context.authority.fingerprint()) {
        Ok(aliases) if !aliases.is_empty() => {
            vec![Report::new(StoreKind::Java, java.place(), Outcome::Trusted, format!("as {}", aliases.join(", ")))]
        }
        Ok(_) => vec![Report::new(StoreKind::Java, java.place(), Outcome::NotTrusted, "")],
        Err(why) => vec![Report::new(StoreKind::Java, java.place(), Outcome::Failed, why)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_found_by_fingerprint() {
        let listing = "Keystore type: JKS\n\nYour keystore contains 2 entries\n\n\
            debian:berth-local-ca-0123.pem, Dec 2, 2026, trustedCertEntry,\n\
            Certificate fingerprint (SHA-256): AB:CD:EF\n\
            other, Dec 2, 2026, trustedCertEntry,\n\
            Certificate fingerprint (SHA-256): 01:02:03\n";
        assert_eq!(aliases_with(listing, "abcdef"), vec!["debian:berth-local-ca-0123.pem"]);
        assert!(aliases_with(listing, "ffffff").is_empty());
    }
}
