//! The environment for clients that ignore the system store, or replace
//! it with a bundle of their own: Node (NODE_EXTRA_CA_CERTS, added to its
//! built-in roots), Python requests (REQUESTS_CA_BUNDLE, which replaces
//! certifi's), OpenSSL-based tools (SSL_CERT_FILE), curl (CURL_CA_BUNDLE)
//! and Deno (DENO_CERT, added).
//!
//! The variables that *replace* a bundle point at bundle.pem, the system's
//! bundle plus berth's root, so that public sites keep working for those
//! clients; the ones that add point at the root alone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::authority::{Authority, CaPaths};
use crate::error::Error;

/// The system bundles, in the order distributions put them.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The shell syntax to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Sh,
    Fish,
}

/// The system's CA bundle, if it has one.
pub fn system_bundle() -> Option<PathBuf> {
    SYSTEM_BUNDLES.iter().map(PathBuf::from).find(|path| path.is_file())
}

/// Writes bundle.pem afresh (the system bundle, then the root), atomically.
pub fn write_bundle(authority: &Authority) -> Result<PathBuf, Error> {
    let paths: &CaPaths = &authority.paths;
    let mut text = match system_bundle() {
        Some(path) => fs::read_to_string(&path).unwrap_or_default(),
        None => String::new(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# berth local CA\n");
    text.push_str(&authority.root_pem);
    let target = paths.bundle();
    let staging = paths.dir.join(format!(".bundle-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&staging)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&staging, &target)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&staging);
        Error::System(format!("cannot write {}: {e}", crate::printable::printable(&target.display().to_string())))
    })?;
    Ok(target)
}

/// The lines to eval, one variable each.
pub fn lines(root: &Path, bundle: &Path, shell: Shell) -> Vec<String> {
    let vars = [
        ("NODE_EXTRA_CA_CERTS", root),
        ("REQUESTS_CA_BUNDLE", bundle),
        ("SSL_CERT_FILE", bundle),
        ("CURL_CA_BUNDLE", bundle),
        ("DENO_CERT", root),
    ];
    vars.iter()
        .map(|(name, path)| {
            // shell_word quotes as sh and fish both read it ('it'\''s).
            let value = crate::printable::shell_word(&path.display().to_string());
            match shell {
                Shell::Sh => format!("export {name}={value}"),
                Shell::Fish => format!("set -gx {name} {value}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let quote = |path: &str| {
            lines(Path::new(path), Path::new(path), Shell::Sh)[0].replacen("export NODE_EXTRA_CA_CERTS=", "", 1)
        };
        assert_eq!(quote("/home/a/.local/share/berth/ca/root.pem"), "/home/a/.local/share/berth/ca/root.pem");
        assert_eq!(quote("/home/my dir/it's"), r"'/home/my dir/it'\''s'");
        let lines = lines(Path::new("/r.pem"), Path::new("/b.pem"), Shell::Fish);
        assert_eq!(lines[0], "set -gx NODE_EXTRA_CA_CERTS /r.pem");
        assert_eq!(lines[1], "set -gx REQUESTS_CA_BUNDLE /b.pem");
    }
}
