//! berth's local certificate authority: a root that only loopback names
//! can chain to, an intermediate that signs, and the leaves it issues.
//!
//! Why the shape:
//! - **Name constraints** on the root and on the intermediate (RFC 5280
//!   §4.2.1.10): `localhost` (which covers every `*.localhost`),
//!   127.0.0.0/8 and ::1/128, plus the names given at creation. A stolen
//!   key cannot sign for the user's bank: OpenSSL, rustls, NSS and Chromium
//!   refuse such a leaf. The intermediate carries them too, because some
//!   verifiers ignore constraints on trust anchors but none on
//!   intermediates.
//! - **An intermediate signs** leaves, so the root key, which every store
//!   trusts, is used once (to sign the intermediate) and stays unused on
//!   disk, readable by the user alone.
//! - ECDSA P-256 throughout: fast handshakes, accepted by every client
//!   (Java's keytool and NSS included).
//!
//! The files live in one directory ([`CaPaths`]), created whole in a
//! temporary directory and renamed into place, so a CA is never half made.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;
use crate::printable::{printable, printable_path};

/// The names every berth CA permits: loopback, by name and by address.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.0/8", "::1/128"];

/// The root and the intermediate live this long (the intermediate is made
/// with the root and is never re-issued, so the two end together).
const AUTHORITY_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A leaf written by `berth ca cert`: the longest browsers accept from a
/// public CA (398 days), so a habit formed here does not break elsewhere.
pub const CERT_LIFETIME: Duration = Duration::from_secs(397 * 24 * 3600);

/// Leaves start this long in the past: a client whose clock is a little
/// behind still accepts a certificate issued a moment ago.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Where the CA's files are.
#[derive(Clone, Debug)]
pub struct CaPaths {
    pub dir: PathBuf,
}

impl CaPaths {
    /// `$XDG_DATA_HOME/berth/ca`, else `~/.local/share/berth/ca`.
    pub fn locate() -> Result<CaPaths, Error> {
        let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".local/share"),
                None => {
                    return Err(Error::Usage(
                        "neither XDG_DATA_HOME nor HOME is set: set one, so berth knows where to keep its CA".into(),
                    ))
                }
            },
        };
        Ok(CaPaths { dir: data.join("berth").join("ca") })
    }

    /// The root certificate: what the stores trust and clients are pointed at.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }
    pub fn intermediate(&self) -> PathBuf {
        self.dir.join("intermediate.pem")
    }
    pub fn intermediate_key(&self) -> PathBuf {
        self.dir.join("intermediate-key.pem")
    }
    /// The system's CA bundle plus the root: for clients whose variable
    /// replaces their bundle rather than adding to it (REQUESTS_CA_BUNDLE).
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle.pem")
    }
    /// Where `berth ca install` recorded what it changed.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("installed.json")
    }
}

/// One name a CA permits, as a name constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permitted {
    /// A DNS name and every name under it.
    Dns(String),
    /// An address block.
    Block(IpAddr, u8),
}

impl Permitted {
    /// `example.test`, `192.0.2.7`, `192.0.2.0/24`, `fd00::/8`.
    pub fn parse(text: &str) -> Result<Permitted, String> {
        if let Some((address, prefix)) = text.split_once('/') {
            let address: IpAddr =
                address.parse().map_err(|_| format!("{} is not an address block (ADDRESS/PREFIX)", printable(text)))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{}: the prefix length must be 0 to {max}", printable(text)))?;
            return Ok(Permitted::Block(address, prefix));
        }
        if let Ok(address) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(Permitted::Block(address, if address.is_ipv4() { 32 } else { 128 }));
        }
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let name = name.strip_prefix("*.").unwrap_or(&name).to_string();
        if !is_dns_name(&name) {
            return Err(format!("{} is neither a DNS name nor an IP address", printable(text)));
        }
        Ok(Permitted::Dns(name))
    }

    /// Whether a leaf name falls within this constraint.
    fn covers(&self, name: &LeafName) -> bool {
        match (self, name) {
            (Permitted::Dns(base), LeafName::Dns(name)) => {
                let name = name.strip_prefix("*.").unwrap_or(name);
                name == base || name.ends_with(&format!(".{base}"))
            }
            (Permitted::Block(block, prefix), LeafName::Ip(address)) => in_block(*address, *block, *prefix),
            _ => false,
        }
    }

    fn subtree(&self) -> GeneralSubtree {
        match self {
            Permitted::Dns(name) => GeneralSubtree::DnsName(name.clone()),
            Permitted::Block(address, prefix) => {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*address, *prefix))
            }
        }
    }
}

impl std::fmt::Display for Permitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Permitted::Dns(name) => write!(f, "{name}"),
            Permitted::Block(address, prefix) => write!(f, "{address}/{prefix}"),
        }
    }
}

/// A name a leaf is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeafName {
    Dns(String),
    Ip(IpAddr),
}

impl LeafName {
    /// `localhost`, `*.app.localhost`, `127.0.0.1`, `::1`, `[::1]`.
    pub fn parse(text: &str) -> Result<LeafName, String> {
        if let Ok(address) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(LeafName::Ip(address));
        }
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let bare = name.strip_prefix("*.").unwrap_or(&name);
        if !is_dns_name(bare) {
            return Err(format!("{} is neither a DNS name nor an IP address", printable(text)));
        }
        Ok(LeafName::Dns(name))
    }

    fn san(&self) -> Result<SanType, Error> {
        Ok(match self {
            LeafName::Dns(name) => SanType::DnsName(
                name.clone().try_into().map_err(|e| Error::Usage(format!("{}: {e}", printable(name))))?,
            ),
            LeafName::Ip(address) => SanType::IpAddress(*address),
        })
    }
}

impl std::fmt::Display for LeafName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafName::Dns(name) => write!(f, "{name}"),
            LeafName::Ip(address) => write!(f, "{address}"),
        }
    }
}

/// The names of a proxy's leaf: loopback by name and by both addresses.
pub fn loopback_leaf_names() -> Vec<LeafName> {
    vec![
        LeafName::Dns("localhost".into()),
        LeafName::Ip(IpAddr::from([127, 0, 0, 1])),
        LeafName::Ip(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
    ]
}

/// A leaf certificate and its key, ready for a TLS server.
pub struct Leaf {
    /// The leaf then the intermediate (what a server sends).
    pub chain: Vec<CertificateDer<'static>>,
    pub chain_pem: String,
    pub key: PrivateKeyDer<'static>,
    pub key_pem: String,
    pub not_after: SystemTime,
}

/// A loaded CA: its root (to trust) and its intermediate (to sign).
pub struct Authority {
    pub paths: CaPaths,
    pub root_pem: String,
    pub root_der: CertificateDer<'static>,
    intermediate_der: CertificateDer<'static>,
    intermediate_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// What it may sign for, read back from the intermediate.
    pub permitted: Vec<Permitted>,
}

impl Authority {
    /// The CA at `paths`, if one was made; a CA that is there but cannot be
    /// read or parsed is an error naming the file.
    pub fn load(paths: &CaPaths) -> Result<Option<Authority>, Error> {
        if !paths.dir.exists() {
            return Ok(None);
        }
        let read = |path: PathBuf, what: &str| {
            fs::read_to_string(&path).map_err(|e| {
                Error::System(format!(
                    "cannot read the CA's {what} {}: {e}; fix its permissions (yours, mode 0600){}",
                    printable_path(&path),
                    remedy(paths)
                ))
            })
        };
        let root_pem = read(paths.root(), "root certificate")?;
        let intermediate_pem = read(paths.intermediate(), "intermediate certificate")?;
        let key_pem = read(paths.intermediate_key(), "intermediate key")?;
        let corrupt = |path: PathBuf, what: &str, detail: String| {
            Error::System(format!(
                "the CA's {what} {} is damaged ({detail}): restore it from a backup{}",
                printable_path(&path),
                remedy(paths)
            ))
        };
        let root_der = single_certificate(&root_pem).map_err(|e| corrupt(paths.root(), "root certificate", e))?;
        let intermediate_der = single_certificate(&intermediate_pem)
            .map_err(|e| corrupt(paths.intermediate(), "intermediate certificate", e))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| corrupt(paths.intermediate_key(), "intermediate key", e.to_string()))?;
        let issuer = Issuer::from_ca_cert_der(&intermediate_der, key)
            .map_err(|e| corrupt(paths.intermediate(), "intermediate certificate", e.to_string()))?;
        let permitted = read_constraints(&intermediate_der)
            .map_err(|e| corrupt(paths.intermediate(), "intermediate certificate", e))?;
        Ok(Some(Authority {
            paths: paths.clone(),
            root_pem,
            root_der,
            intermediate_der,
            intermediate_pem,
            issuer,
            permitted,
        }))
    }

    /// Makes a new CA at `paths` (which must not exist), permitting
    /// loopback and `extra` names; true when this call made it, false when
    /// another berth made one at the same moment (theirs is loaded then).
    pub fn create(paths: &CaPaths, extra: &[Permitted]) -> Result<(Authority, bool), Error> {
        let mut permitted: Vec<Permitted> =
            LOOPBACK_NAMES.iter().map(|name| Permitted::parse(name).expect("a valid built-in name")).collect();
        for name in extra {
            if !permitted.contains(name) {
                permitted.push(name.clone());
            }
        }
        let owner = owner_label();
        let now = SystemTime::now();

        let root_key = KeyPair::generate().map_err(crypto_error)?;
        let mut root = ca_params(&format!("berth local CA {owner}"), &permitted, now, 1)?;
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root.self_signed(&root_key).map_err(crypto_error)?;
        let root_issuer = Issuer::new(root, root_key);

        let intermediate_key = KeyPair::generate().map_err(crypto_error)?;
        let mut intermediate = ca_params(&format!("berth intermediate {owner}"), &permitted, now, 0)?;
        intermediate.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        intermediate.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        intermediate.use_authority_key_identifier_extension = true;
        let intermediate_cert = intermediate.signed_by(&intermediate_key, &root_issuer).map_err(crypto_error)?;

        let parent = paths.dir.parent().expect("the CA directory has a parent");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::System(format!("cannot create {} for the CA: {e}", printable_path(parent))))?;
        // Made whole beside its final place, then renamed: never half there.
        let staging = parent.join(format!(".ca-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        let write_all = || -> std::io::Result<()> {
            fs::DirBuilder::new().mode(0o700).create(&staging)?;
            let files = [
                ("root.pem", root_cert.pem(), 0o644),
                ("root-key.pem", root_issuer.key().serialize_pem(), 0o600),
                ("intermediate.pem", intermediate_cert.pem(), 0o644),
                ("intermediate-key.pem", intermediate_key.serialize_pem(), 0o600),
            ];
            for (name, text, mode) in files {
                write_private(&staging.join(name), text.as_bytes(), mode)?;
            }
            fs::rename(&staging, &paths.dir)
        };
        if let Err(e) = write_all() {
            let _ = fs::remove_dir_all(&staging);
            // Another berth made it first (two proxies started at once):
            // theirs is whole, as ours was, and is the one to use.
            let taken = matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST));
            if !(taken && paths.root().exists()) {
                return Err(Error::System(format!("cannot write the CA to {}: {e}", printable_path(&paths.dir))));
            }
            let theirs = Authority::load(paths)?.ok_or_else(|| Error::System("the CA just written is gone".into()))?;
            return Ok((theirs, false));
        }
        let ours = Authority::load(paths)?.ok_or_else(|| Error::System("the CA just written is gone".into()))?;
        Ok((ours, true))
    }

    /// The CA at `paths`, made first if there is none (and then `true`).
    pub fn load_or_create(paths: &CaPaths, extra: &[Permitted]) -> Result<(Authority, bool), Error> {
        match Authority::load(paths)? {
            Some(authority) => Ok((authority, false)),
            None => Authority::create(paths, extra),
        }
    }

    /// SHA-256 of the root, hex: how stores and users recognise it.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.root_der);
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The root's subject CN, as stores list it.
    pub fn root_name(&self) -> String {
        x509_parser::parse_x509_certificate(&self.root_der)
            .ok()
            .and_then(|(_, cert)| {
                cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(String::from)
            })
            .unwrap_or_else(|| "berth local CA".into())
    }

    /// The names among `names` this CA may not sign for.
    pub fn refused<'n>(&self, names: &'n [LeafName]) -> Vec<&'n LeafName> {
        names.iter().filter(|name| !self.permitted.iter().any(|p| p.covers(name))).collect()
    }

    /// A leaf for `names`, valid from a moment ago for `lifetime`. Names the
    /// CA's constraints do not cover are refused here, with what to do,
    /// rather than issued and rejected by every client.
    pub fn issue(&self, names: &[LeafName], lifetime: Duration) -> Result<Leaf, Error> {
        let refused = self.refused(names);
        if !refused.is_empty() {
            let list: Vec<String> = refused.iter().map(|n| n.to_string()).collect();
            let allowed: Vec<String> = self.permitted.iter().map(|p| p.to_string()).collect();
            return Err(Error::Usage(format!(
                "berth's CA may sign only for {}; {} {} outside that: make a new CA that allows {} (berth ca uninstall, then berth ca install --name {})",
                allowed.join(", "),
                list.join(", "),
                if list.len() == 1 { "is" } else { "are" },
                if list.len() == 1 { "it" } else { "them" },
                list.join(" --name ")
            )));
        }
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.subject_alt_names = names.iter().map(LeafName::san).collect::<Result<_, _>>()?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::OrganizationName, "berth development certificate");
        subject.push(DnType::CommonName, names.first().map_or_else(|| "localhost".into(), |n| n.to_string()));
        params.distinguished_name = subject;
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + lifetime).into();
        params.serial_number = Some(random_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(crypto_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(crypto_error)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.intermediate_der.clone()],
            chain_pem: format!("{}{}", cert.pem(), self.intermediate_pem),
            key: key_der,
            key_pem: key.serialize_pem(),
            not_after: now + lifetime,
        })
    }
}

/// What to tell the user when the CA's files are unusable.
fn remedy(paths: &CaPaths) -> String {
    format!(", or remove {} (berth ca uninstall, or by hand) and a new CA is made", printable_path(&paths.dir))
}

/// The parameters shared by the root and the intermediate.
fn ca_params(
    name: &str,
    permitted: &[Permitted],
    now: SystemTime,
    path_length: u8,
) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "berth local CA");
    subject.push(DnType::CommonName, name);
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_length));
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + AUTHORITY_LIFETIME).into();
    params.serial_number = Some(random_serial()?);
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: permitted.iter().map(Permitted::subtree).collect(),
        excluded_subtrees: Vec::new(),
    });
    Ok(params)
}

/// `user@host`, so that two users' CAs on one machine are told apart.
fn owner_label() -> String {
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        // SAFETY: geteuid has no preconditions.
        format!("uid {}", unsafe { libc::geteuid() })
    });
    let host = fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let label = if host.is_empty() { user } else { format!("{user}@{host}") };
    label.chars().filter(|c| !c.is_control()).take(48).collect()
}

/// 16 random bytes, high bit clear (a positive INTEGER).
fn random_serial() -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Error::System("the kernel gave no random bytes for a serial number".into()))?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn crypto_error(e: rcgen::Error) -> Error {
    Error::System(format!("cannot make the certificate: {e}"))
}

/// Writes `bytes` to a new file with `mode` from the start (never a moment
/// readable by others), synced.
fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(bytes)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

/// The one certificate in a PEM text.
fn single_certificate(pem: &str) -> Result<CertificateDer<'static>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    match certs.next() {
        Some(Ok(cert)) => Ok(cert),
        Some(Err(e)) => Err(format!("not valid PEM: {e}")),
        None => Err("no certificate in it".into()),
    }
}

/// The permitted subtrees of a CA certificate.
fn read_constraints(der: &[u8]) -> Result<Vec<Permitted>, String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
    let mut permitted = Vec::new();
    for extension in cert.extensions() {
        if let ParsedExtension::NameConstraints(constraints) = extension.parsed_extension() {
            for subtree in constraints.permitted_subtrees.iter().flatten() {
                match &subtree.base {
                    GeneralName::DNSName(name) => permitted.push(Permitted::Dns(name.to_ascii_lowercase())),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(block) = block_from_bytes(bytes) {
                            permitted.push(block);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if permitted.is_empty() {
        return Err("it has no name constraints: it was not made by berth".into());
    }
    Ok(permitted)
}

/// An iPAddress constraint: address then mask, 8 or 32 bytes.
fn block_from_bytes(bytes: &[u8]) -> Option<Permitted> {
    let prefix = |mask: &[u8]| mask.iter().map(|b| b.count_ones() as u8).sum::<u8>();
    match bytes.len() {
        8 => Some(Permitted::Block(IpAddr::from(<[u8; 4]>::try_from(&bytes[..4]).ok()?), prefix(&bytes[4..]))),
        32 => Some(Permitted::Block(IpAddr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?), prefix(&bytes[16..]))),
        _ => None,
    }
}

fn in_block(address: IpAddr, block: IpAddr, prefix: u8) -> bool {
    match (address, block) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> CaPaths {
        let dir = std::env::temp_dir().join(format!(
            "berth-ca-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        CaPaths { dir: dir.join("berth/ca") }
    }

    // Names and addresses here are parsed and compared only, never
    // connected to.
    #[test]
    fn names_parse_and_constraints_cover() {
        assert_eq!(Permitted::parse("127.0.0.0/8").unwrap(), Permitted::Block([127, 0, 0, 0].into(), 8));
        assert_eq!(Permitted::parse("App.Test.").unwrap(), Permitted::Dns("app.test".into()));
        assert!(Permitted::parse("192.0.2.0/33").is_err());
        assert!(Permitted::parse("bad name").is_err());
        let localhost = Permitted::Dns("localhost".into());
        assert!(localhost.covers(&LeafName::parse("localhost").unwrap()));
        assert!(localhost.covers(&LeafName::parse("*.app.localhost").unwrap()));
        assert!(!localhost.covers(&LeafName::parse("notlocalhost").unwrap()));
        assert!(!localhost.covers(&LeafName::parse("localhost.example.com").unwrap()));
        let block = Permitted::parse("127.0.0.0/8").unwrap();
        assert!(block.covers(&LeafName::parse("127.1.2.3").unwrap()));
        assert!(!block.covers(&LeafName::parse("128.0.0.1").unwrap()));
        assert!(Permitted::parse("::1/128").unwrap().covers(&LeafName::parse("[::1]").unwrap()));
    }

    #[test]
    fn created_once_loaded_back_and_private() {
        let paths = scratch();
        let (made, _) = Authority::create(&paths, &[Permitted::parse("myapp.test").unwrap()]).unwrap();
        let loaded = Authority::load(&paths).unwrap().expect("there");
        assert_eq!(made.fingerprint(), loaded.fingerprint());
        assert_eq!(loaded.permitted.len(), 4, "{:?}", loaded.permitted);
        assert!(loaded.permitted.contains(&Permitted::Dns("myapp.test".into())));
        for key in [paths.dir.join("root-key.pem"), paths.intermediate_key()] {
            assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(fs::metadata(&paths.dir).unwrap().permissions().mode() & 0o777, 0o700);
        let leaf = loaded.issue(&loopback_leaf_names(), Duration::from_secs(3600)).unwrap();
        assert_eq!(leaf.chain.len(), 2);
        let refused = loaded.issue(&[LeafName::parse("example.com").unwrap()], CERT_LIFETIME);
        assert!(matches!(refused, Err(Error::Usage(ref m)) if m.contains("example.com")), "{:?}", refused.err());
        fs::write(paths.intermediate_key(), "garbage").unwrap();
        let damaged = Authority::load(&paths).err().expect("a damaged key is an error").to_string();
        assert!(damaged.contains("intermediate-key.pem") && damaged.contains("damaged"), "{damaged}");
        let _ = fs::remove_dir_all(paths.dir.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn rustls_accepts_loopback_leaves() {
        use rustls::client::danger::ServerCertVerifier;
        let paths = scratch();
        let (authority, _) = Authority::create(&paths, &[]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(authority.root_der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.into(),
            rustls::crypto::ring::default_provider().into(),
        )
        .build()
        .unwrap();
        let leaf = authority.issue(&loopback_leaf_names(), Duration::from_secs(3600)).unwrap();
        for name in ["localhost", "127.0.0.1", "::1"] {
            let server = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf.chain[0], &leaf.chain[1..], &server, &[], rustls::pki_types::UnixTime::now())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let _ = fs::remove_dir_all(paths.dir.parent().unwrap().parent().unwrap());
    }
}
