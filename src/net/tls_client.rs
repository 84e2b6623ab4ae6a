//! berth's TLS client: the TLS facts `probe` and the audit report
//! (protocol version, cipher suite, and the server's certificate: subject,
//! issuer, validity, names), and checks of a chain against given roots.
//!
//! A probe must see the certificate of a server that is misconfigured —
//! self-signed, expired, for another name — because that is what people
//! probe for. So the handshake accepts any certificate, and separately
//! records whether it would have been accepted: the chain is checked
//! against the system's root certificates (loaded once, only when a TLS
//! probe happens) for the name probed. The handshake's own signatures are
//! still checked with the certificate's key, as in any TLS client.

use crate::analysis::plural;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme};
use serde::Serialize;

use super::deadline::DeadlineStream;

/// A TLS session over a TCP stream, readable and writable like the stream,
/// and like it bounded by the stream's deadline: rustls reads until it has
/// a whole record, and each of those reads ends by the deadline.
pub type TlsStream = rustls::StreamOwned<ClientConnection, DeadlineStream>;

/// What the handshake showed. `error` is set when it failed; the other
/// fields then hold what was learned before the failure (often nothing).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsReport {
    /// "TLSv1.3" or "TLSv1.2".
    pub version: Option<String>,
    /// As IANA names it, e.g. "TLS13_AES_256_GCM_SHA384".
    pub cipher_suite: Option<String>,
    /// The application protocol the server chose (ALPN), if any.
    pub alpn: Option<String>,
    /// The server's own (end-entity) certificate.
    pub certificate: Option<Certificate>,
    /// Certificates the server sent, its own included.
    pub chain_length: usize,
    /// Whether the chain verifies against the system roots for the name
    /// probed; None when no system roots could be loaded.
    pub verified: Option<bool>,
    /// Why it does not verify.
    pub verify_error: Option<String>,
    pub error: Option<String>,
    /// The handshake was cut off by the deadline after the server had sent
    /// part of its answer (a server that answers too slowly, or trickles
    /// bytes to hold the client), as opposed to one that sent nothing.
    /// Not part of the JSON report (`error` says it in words).
    #[serde(skip)]
    pub stalled: bool,
    /// The certificates the server sent (its own first), as DER, for
    /// checks that verify the chain against other roots (see [`chains_to`]).
    /// Not part of the JSON report.
    #[serde(skip)]
    pub chain: Vec<CertificateDer<'static>>,
}

/// The facts of one X.509 certificate.
#[derive(Clone, Debug, Serialize)]
pub struct Certificate {
    /// The distinguished name, as "CN=localhost, O=Example".
    pub subject: String,
    pub issuer: String,
    /// Hex bytes separated by colons, as openssl prints them.
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days from now until expiry; negative once expired.
    pub expires_in_days: i64,
    /// Seconds from now until expiry; negative once expired. What the
    /// report words as hours or minutes when under a day.
    pub expires_in_seconds: i64,
    pub expired: bool,
    /// Subject and issuer are the same name: the certificate signed itself.
    pub self_signed: bool,
    /// DNS names and IP addresses the certificate is valid for.
    pub subject_alt_names: Vec<String>,
}

/// Runs a TLS handshake over `io`, naming `host` (SNI and verification),
/// by the stream's deadline. With `offer_http`, ALPN offers http/1.1 (only
/// when HTTP will follow: strict servers of other protocols may refuse it).
/// Returns the report and, when the handshake succeeded, the session.
pub fn handshake(
    mut io: DeadlineStream,
    host: &str,
    address: IpAddr,
    offer_http: bool,
) -> (TlsReport, Option<TlsStream>) {
    let allowed = io.deadline().saturating_duration_since(Instant::now());
    let mut report = TlsReport::default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder =
        Arc::new(Recorder { roots: system_roots(&provider), provider: provider.clone(), verdict: Mutex::new(None) });
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map(|builder| builder.dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth());
    let mut config = match config {
        Ok(config) => config,
        Err(e) => {
            report.error = Some(format!("cannot set up TLS: {e}"));
            return (report, None);
        }
    };
    if offer_http {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    let name = ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::IpAddress(address.into()));
    let mut connection = match ClientConnection::new(Arc::new(config), name) {
        Ok(connection) => connection,
        Err(e) => {
            report.error = Some(format!("cannot start TLS: {e}"));
            return (report, None);
        }
    };

    let result = drive_handshake(&mut connection, &mut io);

    if let Some(chain) = connection.peer_certificates() {
        report.chain_length = chain.len();
        report.chain = chain.to_vec();
        report.certificate = chain.first().and_then(|der| parse_certificate(der));
    }
    if let Some(verdict) = recorder.verdict.lock().unwrap_or_else(|p| p.into_inner()).take() {
        report.verified = Some(verdict.is_ok());
        report.verify_error = verdict.err();
    }
    if let Err(e) = result {
        report.stalled = io.timed_out() && io.received() > 0;
        report.error = Some(handshake_error(&e, allowed, io.received()));
        return (report, None);
    }
    report.version = connection.protocol_version().map(version_name);
    report.cipher_suite = connection.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()));
    report.alpn = connection.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    (report, Some(rustls::StreamOwned::new(connection, io)))
}

/// Sends and reads handshake records until the handshake is done, the
/// server closes, or it fails. Each read and write is one call on `io`,
/// which ends by its deadline, so this ends by the deadline too (rustls's
/// `complete_io` would do the same over `io`; spelled out, the loop shows
/// that nothing here waits longer than `io` allows).
fn drive_handshake(connection: &mut ClientConnection, io: &mut DeadlineStream) -> io::Result<()> {
    // Bounded: every round reads or writes at least one byte (or fails), and
    // every read and write ends by the deadline.
    while connection.is_handshaking() {
        if connection.wants_write() {
            write_some(connection, io)?;
            continue;
        }
        if !connection.wants_read() {
            return Err(io::Error::other("the handshake stopped with nothing to send or read"));
        }
        if connection.read_tls(io)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        if let Err(e) = connection.process_new_packets() {
            // Tell the server why (an alert), as complete_io does.
            let _ = connection.write_tls(io);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
    // The last flight (the client's Finished) goes out before the session
    // is handed over.
    while connection.wants_write() {
        write_some(connection, io)?;
    }
    Ok(())
}

/// One `write_tls`; a write of nothing (which would loop) is an error.
fn write_some(connection: &mut ClientConnection, io: &mut DeadlineStream) -> io::Result<()> {
    match connection.write_tls(io)? {
        0 => Err(io::Error::new(io::ErrorKind::WriteZero, "the connection took no more bytes")),
        _ => Ok(()),
    }
}

/// A handshake failure in words people recognise. `allowed` is the time
/// the handshake had; `received` what the server had sent by the end.
fn handshake_error(error: &io::Error, allowed: Duration, received: usize) -> String {
    match error.kind() {
        io::ErrorKind::TimedOut if received > 0 => format!(
            "the TLS handshake timed out after {:.1} s: the server had sent only {} of its answer",
            allowed.as_secs_f64(),
            plural(received, "byte", "bytes")
        ),
        io::ErrorKind::TimedOut => {
            format!(
                "no TLS answer within {:.1} s: timed out (the server may not speak TLS here)",
                allowed.as_secs_f64()
            )
        }
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            "the server closed the connection during the TLS handshake".into()
        }
        _ => match rustls_error(error) {
            Some(tls @ (rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateHandshakeMessage { .. })) => {
                format!("the server does not speak TLS here ({})", tls_error_words(tls))
            }
            Some(tls) => format!("TLS handshake failed: {}", tls_error_words(tls)),
            None => format!("TLS handshake failed: {}", super::error_text(error)),
        },
    }
}

/// The rustls error inside an I/O error, if that is what it carries.
pub(crate) fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// rustls's errors in plain words: its Display is its Debug ("invalid peer
/// certificate: Other(OtherError(CaUsedAsEndEntity))"), which names types,
/// not what went wrong. The one place probe and audit turn a TLS error into
/// text (the certificate verdict, a failed handshake, and, through
/// [`super::error_text`], any failed read or write); an
/// error not named here keeps rustls's own text.
pub fn tls_error_words(error: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match error {
        Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => "the certificate's issuer is not one of the trusted roots".into(),
            CertificateError::BadSignature => "a signature in the certificate's chain does not verify".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the certificate has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the certificate is not valid for this name".into()
            }
            CertificateError::Revoked => "the certificate was revoked".into(),
            CertificateError::BadEncoding => "the certificate is not valid DER".into(),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "the certificate is not for TLS servers (its extended key usage)".into()
            }
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "the certificate is signed with an algorithm berth does not support".into()
            }
            // webpki's errors that rustls has no variant for, by name.
            CertificateError::Other(other) => match format!("{:?}", other.0).as_str() {
                "CaUsedAsEndEntity" => {
                    "the certificate is a CA certificate used as a server's (a self-signed CA)".into()
                }
                "EndEntityUsedAsCa" => "a server's certificate is used as a CA in the chain".into(),
                "PathLenConstraintViolated" | "MaximumPathDepthExceeded" => {
                    "the certificate's chain is too long".into()
                }
                "NameConstraintViolation" => "the certificate breaks its CA's name constraints".into(),
                "UnsupportedCertVersion" => "the certificate is not an X.509 v3 certificate".into(),
                name => format!("the certificate is not valid ({name})"),
            },
            other => format!("the certificate is not valid ({other:?})"),
        },
        Error::AlertReceived(alert) => format!("the server refused the handshake (TLS alert {alert:?})"),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
            "the answer is not TLS as rustls expects it".into()
        }
        Error::PeerIncompatible(why) => format!("the server supports nothing berth offers ({why:?})"),
        Error::NoCertificatesPresented => "the server sent no certificate".into(),
        other => other.to_string(),
    }
}

fn version_name(version: ProtocolVersion) -> String {
    match version {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// The system's root certificates as a verifier, loaded once per process;
/// None when the system has none berth can read.
fn system_roots(provider: &Arc<CryptoProvider>) -> Option<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(system_root_store()?, provider.clone()).build().ok()
}

/// The system's root certificates, loaded once per process; None when
/// the system has none berth can read.
fn system_root_store() -> Option<Arc<RootCertStore>> {
    static ROOTS: OnceLock<Option<Arc<RootCertStore>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            (!store.is_empty()).then(|| Arc::new(store))
        })
        .clone()
}

/// Whether `chain` (the server's own certificate first, then the
/// intermediates it sent) is signed by one of `roots`, as a TLS client
/// would check it at the Unix time `at`, but without checking the name
/// (the audit asks "who issued this", not "is it for this name").
/// Err says why not.
pub fn chains_to(chain: &[CertificateDer<'_>], roots: &RootCertStore, at: i64) -> Result<(), String> {
    let (end_entity, intermediates) = chain.split_first().ok_or("the server sent no certificate")?;
    let parsed = rustls::server::ParsedCertificate::try_from(end_entity).map_err(|e| tls_error_words(&e))?;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or(0)));
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    rustls::client::verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, at, algorithms.all)
        .map_err(|e| tls_error_words(&e))
}

/// [`chains_to`] the system's root certificates; None when the system has
/// no roots berth can read.
pub fn chains_to_system_roots(chain: &[CertificateDer<'_>], at: i64) -> Option<Result<(), String>> {
    Some(chains_to(chain, &*system_root_store()?, at))
}

/// The certificates of a PEM file (CERTIFICATE blocks; other blocks are
/// skipped). Err when the file cannot be read or holds none.
pub fn read_pem_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&bytes).map_while(Result::ok).collect();
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certificates)
}

/// Accepts any certificate, and records whether the system roots would have.
#[derive(Debug)]
struct Recorder {
    roots: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    verdict: Mutex<Option<Result<(), String>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let verdict = roots
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| tls_error_words(&e));
            *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads the facts of a DER certificate; None if it does not parse.
pub fn parse_certificate(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    let not_after_unix = validity.not_after.timestamp();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => names.push(dns.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        names.push(IpAddr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.push(IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Some(Certificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(validity.not_before.timestamp()),
        not_after: rfc3339(not_after_unix),
        not_after_unix,
        expires_in_days: (not_after_unix - now).div_euclid(86_400),
        expires_in_seconds: not_after_unix - now,
        expired: not_after_unix < now,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        subject_alt_names: names,
    })
}

/// RFC 3339 for Unix times humantime can write (1970 to 9999), the number otherwise.
fn rfc3339(unix: i64) -> String {
    match u64::try_from(unix) {
        Ok(secs) if secs < 253_402_300_800 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
        }
        _ => format!("@{unix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    fn ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA");
        (cert.der().clone(), Issuer::new(params, key))
    }

    fn now() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }

    #[test]
    fn a_self_signed_ca_as_the_server_certificate_is_said_in_words() {
        // What a self-signed certificate made with CA:TRUE (as many tools make them) gets from webpki:
        // rustls's text for it is "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))".
        let (der, _) = ca("berth self-signed");
        let mut roots = RootCertStore::empty();
        roots.add(der.clone()).expect("root");
        assert_eq!(
            chains_to(&[der], &roots, now()),
            Err("the certificate is a CA certificate used as a server's (a self-signed CA)".to_string())
        );
    }

    #[test]
    fn an_unknown_issuer_is_said_in_words() {
        let (_, issuer) = ca("berth test CA");
        let (other, _) = ca("another CA");
        let key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("params").signed_by(&key, &issuer);
        let mut roots = RootCertStore::empty();
        roots.add(other).expect("root");
        assert_eq!(
            chains_to(&[leaf.expect("leaf").der().clone()], &roots, now()),
            Err("the certificate's issuer is not one of the trusted roots".to_string())
        );
    }

    #[test]
    fn an_io_error_that_carries_a_rustls_error_is_said_in_words() {
        let error = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented);
        assert_eq!(super::super::error_text(&error), "the server sent no certificate");
    }
}
