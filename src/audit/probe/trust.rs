//! Who vouches for the certificate a TLS service presented, as facts for
//! the `tls.*` checks ([`crate::audit::tls`]): the chain the server sent is
//! verified against the system's root certificates and against the user's
//! own local CAs (mkcert's, or berth's), whose files are read once per run.
//!
//! Trust is judged at a moment inside the certificate's validity (so an
//! expired certificate from a trusted CA is expired, not untrusted) and
//! without the name: the question is who issued it, not whether it matches
//! "localhost".

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::net::tls_client::{self, Certificate, TlsReport};

/// What berth found out about a certificate besides the handshake's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Its validity starts after the moment it was checked (by this
    /// machine's clock).
    pub not_yet_valid: bool,
    pub trust: Trust,
}

/// Who vouches for a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// It chains to one of the system's root certificates.
    System,
    /// It was issued by (or is) the local CA in this file.
    Local(String),
    /// Neither.
    Untrusted {
        /// Why no system root vouches for it (rustls's words); None when
        /// the system's root certificates could not be read.
        system_refusal: Option<String>,
        /// The files that held a local CA certificate (none issued it).
        local_cas: Vec<String>,
        /// Every place a local CA was looked for.
        looked: Vec<String>,
    },
}

/// The facts of the certificate `report` shows (its end-entity one).
pub fn facts(report: &TlsReport, certificate: &Certificate) -> CertificateFacts {
    let not_yet_valid = unix_of(&certificate.not_before).is_some_and(|start| start > now_unix());
    CertificateFacts { not_yet_valid, trust: trust(report, certificate, local_roots()) }
}

/// Whether the system roots or a local CA vouch for the server's chain.
fn trust(report: &TlsReport, certificate: &Certificate, local: &LocalRoots) -> Trust {
    let at = validity_moment(certificate);
    let system = if report.chain.is_empty() {
        report.verified.map(|ok| if ok { Ok(()) } else { Err(report.verify_error.clone().unwrap_or_default()) })
    } else {
        tls_client::chains_to_system_roots(&report.chain, at)
    };
    let system_refusal = match system {
        Some(Ok(())) => return Trust::System,
        Some(Err(error)) => Some(error),
        None => None,
    };
    if let Some(file) = local.issuer_of(&report.chain, at) {
        return Trust::Local(file);
    }
    Trust::Untrusted { system_refusal, local_cas: local.files.clone(), looked: local.looked.clone() }
}

/// A moment inside the certificate's validity: now, or the nearest end of
/// its validity when now is outside it (expiry is `tls.expired`'s business).
fn validity_moment(certificate: &Certificate) -> i64 {
    let now = now_unix();
    let start = unix_of(&certificate.not_before).unwrap_or(i64::MIN);
    let end = certificate.not_after_unix;
    if now > end {
        end.saturating_sub(1).max(start)
    } else if now < start {
        start.saturating_add(1).min(end)
    } else {
        now
    }
}

/// The user's local certificate authorities: mkcert's and berth's.
struct LocalRoots {
    store: RootCertStore,
    /// The CA certificates themselves (a server may present one as its own).
    certificates: Vec<(CertificateDer<'static>, String)>,
    /// Files that held a CA certificate.
    files: Vec<String>,
    /// Every place looked at.
    looked: Vec<String>,
}

impl LocalRoots {
    /// Reads the CA certificates at `paths` (missing files are skipped).
    fn load(paths: &[PathBuf]) -> LocalRoots {
        let mut roots = LocalRoots {
            store: RootCertStore::empty(),
            certificates: Vec::new(),
            files: Vec::new(),
            looked: Vec::new(),
        };
        for path in paths {
            let name = path.display().to_string();
            if roots.looked.contains(&name) {
                continue;
            }
            roots.looked.push(name.clone());
            let Ok(certificates) = tls_client::read_pem_certificates(path) else { continue };
            let (added, _) = roots.store.add_parsable_certificates(certificates.iter().cloned());
            if added > 0 {
                roots.files.push(name.clone());
                roots.certificates.extend(certificates.into_iter().map(|c| (c, name.clone())));
            }
        }
        roots
    }

    /// The file of the local CA that issued `chain` (or whose certificate
    /// it is), checked at `at`.
    fn issuer_of(&self, chain: &[CertificateDer<'_>], at: i64) -> Option<String> {
        let end_entity = chain.first()?;
        if let Some((_, file)) = self.certificates.iter().find(|(der, _)| der.as_ref() == end_entity.as_ref()) {
            return Some(file.clone());
        }
        if self.store.is_empty() || tls_client::chains_to(chain, &self.store, at).is_err() {
            return None;
        }
        // Name the file whose CA did it.
        self.files
            .iter()
            .find(|file| {
                let mut one = RootCertStore::empty();
                one.add_parsable_certificates(
                    self.certificates.iter().filter(|(_, f)| f == *file).map(|(der, _)| der.clone()),
                );
                tls_client::chains_to(chain, &one, at).is_ok()
            })
            .cloned()
    }
}

/// The local roots of this process, read once.
fn local_roots() -> &'static LocalRoots {
    static ROOTS: OnceLock<LocalRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let mut homes: Vec<PathBuf> = env("HOME").into_iter().collect();
        // berth run with sudo: the user's own CA is in the invoking user's home.
        if let Some(home) = std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()).and_then(|u| home_of(&u)) {
            homes.push(home);
        }
        LocalRoots::load(&local_ca_paths(env("CAROOT"), env("XDG_DATA_HOME"), &homes))
    })
}

/// Where local CA certificates live: mkcert's `$CAROOT/rootCA.pem` (by
/// default `$XDG_DATA_HOME/mkcert` or `~/.local/share/mkcert`) and berth's
/// own `berth/ca/ca.pem` under the same data directories.
fn local_ca_paths(caroot: Option<PathBuf>, xdg_data: Option<PathBuf>, homes: &[PathBuf]) -> Vec<PathBuf> {
    let mut data_dirs: Vec<PathBuf> = xdg_data.into_iter().collect();
    data_dirs.extend(homes.iter().map(|home| home.join(".local/share")));
    let mut paths = Vec::new();
    match caroot {
        Some(caroot) => paths.push(caroot.join("rootCA.pem")),
        None => paths.extend(data_dirs.iter().map(|dir| dir.join("mkcert/rootCA.pem"))),
    }
    paths.extend(data_dirs.iter().map(|dir| dir.join("berth/ca/ca.pem")));
    paths
}

/// The home directory of a user, from the password database.
fn home_of(user: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(user).ok()?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: getpwnam_r fills `passwd` with pointers into `buffer`, which
    // outlives their use below; a null result means no entry.
    unsafe {
        let mut passwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut passwd, buffer.as_mut_ptr(), buffer.len(), &mut result);
        if rc != 0 || result.is_null() || passwd.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(passwd.pw_dir);
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Unix seconds of an RFC 3339 time as [`tls_client::Certificate`] writes it
/// ("2024-01-01T00:00:00Z", or "@SECONDS" outside humantime's range).
fn unix_of(text: &str) -> Option<i64> {
    if let Some(number) = text.strip_prefix('@') {
        return number.parse().ok();
    }
    let time = humantime::parse_rfc3339(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a path is one of the places [`local_ca_paths`] names.
    fn names(paths: &[PathBuf], wanted: &str) -> bool {
        paths.iter().any(|p| p == std::path::Path::new(wanted))
    }

    #[test]
    fn local_ca_places() {
        let homes = [PathBuf::from("/home/ann"), PathBuf::from("/root")];
        let paths = local_ca_paths(None, None, &homes);
        assert!(names(&paths, "/home/ann/.local/share/mkcert/rootCA.pem"));
        assert!(names(&paths, "/root/.local/share/mkcert/rootCA.pem"));
        assert!(names(&paths, "/home/ann/.local/share/berth/ca/ca.pem"));
        let paths = local_ca_paths(Some("/ca".into()), Some("/data".into()), &homes[..1]);
        assert!(names(&paths, "/ca/rootCA.pem"));
        assert!(!names(&paths, "/home/ann/.local/share/mkcert/rootCA.pem"), "CAROOT replaces mkcert's default");
        assert!(names(&paths, "/data/berth/ca/ca.pem"));
        assert!(names(&paths, "/home/ann/.local/share/berth/ca/ca.pem"));
    }

    #[test]
    fn times_parse() {
        assert_eq!(unix_of("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(unix_of("@-5"), Some(-5));
        assert_eq!(unix_of("yesterday"), None);
    }
}
