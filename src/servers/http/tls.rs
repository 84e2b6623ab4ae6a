//! TLS for the HTTP core, with rustls: the server's configuration from a
//! PEM certificate chain and key ([`server_config`]), and one connection's
//! session ([`Session`]), through which the core's connection loop reads
//! and writes when [`super::Options::tls`] is set.
//!
//! The session is the connection's own (no lock): the loop that owns the
//! connection is the only one that reads and writes it. rustls reads and
//! writes the socket through [`Io`], with tokio's non-blocking `try_read`
//! and `try_write`; on `WouldBlock` the session waits for readiness as the
//! plain path does. The registry's timeouts hold unchanged: its sweeper
//! shuts the socket down, which ends a stalled handshake like a stalled
//! head (reads see EOF) and a stalled response (writes fail).
//!
//! What TLS changes: no sendfile (a file is read in [`FILE_CHUNK`] pieces
//! and encrypted), and the plaintext is copied once out of rustls' buffer.
//! The plain path is untouched.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use tokio::net::TcpStream;

use crate::error::Error;
use crate::printable::printable;

/// The first byte of a TLS record that carries a handshake (a ClientHello
/// starts with it): anything else on a new connection is not TLS.
pub(super) const HANDSHAKE_RECORD: u8 = 0x16;

/// Called before each wait for the socket while writing (it pushes the
/// send deadline out); Sync, as the connection's future must be Send.
pub(super) type Waiting<'a> = dyn Fn() + Sync + 'a;

/// How much of a file is read and encrypted at a time.
const FILE_CHUNK: usize = 64 * 1024;

/// A certificate or key file larger than this is not one.
const MAX_PEM_FILE: u64 = 1 << 20;

/// The TLS configuration of a server: the certificate chain in `cert` (PEM,
/// the server's own certificate first) and its private key in `key` (PEM:
/// PKCS#8, PKCS#1 or SEC1), TLS 1.2 and 1.3, ALPN `http/1.1`. Every
/// problem is a usage error of one line that names the file and says what
/// to do.
// Until `berth metrics --tls-cert` (the first user) is wired in.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Error> {
    let cert_text = cert.display().to_string();
    let key_text = key.display().to_string();
    let (cert_shown, key_shown) = (printable(&cert_text), printable(&key_text));

    let pem = read_pem_file(cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Usage(format!("the TLS certificate {cert_shown} is not valid PEM ({e})")))?;
    if chain.is_empty() {
        return Err(Error::Usage(format!(
            "the TLS certificate {cert_shown} holds no certificate (no \"BEGIN CERTIFICATE\" block): give the PEM certificate chain{}",
            if PrivateKeyDer::from_pem_slice(&pem).is_ok() { "; this file holds a private key" } else { "" }
        )));
    }

    let pem = read_pem_file(key, "private key")?;
    let key_der = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key_der) => key_der,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let hint = if contains(&pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                "it is encrypted: decrypt it first (openssl pkey -in KEY -out PLAIN-KEY)"
            } else if contains(&pem, b"-----BEGIN CERTIFICATE-----") {
                "this file holds a certificate: give the key that goes with it"
            } else {
                "give the PEM private key (PKCS#8, PKCS#1 or SEC1)"
            };
            return Err(Error::Usage(format!(
                "the TLS key {key_shown} holds no private key (no \"BEGIN PRIVATE KEY\" block): {hint}"
            )));
        }
        Err(e) => return Err(Error::Usage(format!("the TLS key {key_shown} is not valid PEM ({e})"))),
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::System(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der);
    let mut config = config.map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => Error::Usage(format!(
            "the TLS key {key_shown} does not match the certificate {cert_shown}: give the key the certificate was made for"
        )),
        e => Error::Usage(format!("cannot use the TLS key {key_shown} with the certificate {cert_shown}: {e}")),
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The bytes of a PEM file, bounded; `what` names it in errors.
fn read_pem_file(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    let text = path.display().to_string();
    let shown = printable(&text);
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => {
            Error::Usage(format!("the TLS {what} {shown} does not exist: give the path of a PEM file"))
        }
        io::ErrorKind::PermissionDenied => Error::Usage(format!(
            "the TLS {what} {shown} cannot be read (permission denied): make it readable by the user berth runs as"
        )),
        _ => Error::Usage(format!("cannot read the TLS {what} {shown}: {e}")),
    };
    let file = File::open(path).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes).map_err(failed)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(Error::Usage(format!("the TLS {what} {shown} is larger than 1 MiB: give a PEM file")));
    }
    Ok(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The socket as rustls sees it: non-blocking reads and writes, which end
/// in `WouldBlock` (clearing tokio's readiness) when they must wait.
struct Io<'s>(&'s TcpStream);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One connection's TLS session.
pub(super) struct Session {
    connection: ServerConnection,
    /// Where file bodies are read before they are encrypted (made on the
    /// first file sent).
    chunk: Vec<u8>,
}

impl Session {
    pub(super) fn new(config: &Arc<ServerConfig>) -> io::Result<Session> {
        let connection = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Session { connection, chunk: Vec::new() })
    }

    /// The handshake, up to and including the session tickets that follow
    /// it. Bounded by the registry: its sweeper shuts the socket down at
    /// the connection's deadline, which ends the read waited for.
    pub(super) async fn handshake(&mut self, stream: &TcpStream) -> io::Result<()> {
        loop {
            self.flush(stream, &|| {}).await?;
            if !self.connection.is_handshaking() {
                return Ok(());
            }
            if self.receive(stream).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads decrypted bytes (0 at the end of the stream, clean or not),
    /// waiting if none have arrived.
    pub(super) async fn read(&mut self, stream: &TcpStream, into: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.connection.reader().read(into) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The client closed without close_notify: an end all the same
                // (HTTP/1.1 frames its own messages).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.receive(stream).await?;
        }
    }

    /// Reads the records that have arrived (waiting for some) and
    /// processes them; Ok(0) at the end of the stream. A protocol error is
    /// answered with rustls' alert, if the socket takes it at once.
    async fn receive(&mut self, stream: &TcpStream) -> io::Result<usize> {
        let n = loop {
            match self.connection.read_tls(&mut Io(stream)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
                result => break result?,
            }
        };
        if let Err(error) = self.connection.process_new_packets() {
            let _ = self.connection.write_tls(&mut Io(stream));
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        Ok(n)
    }

    /// Sends everything rustls has encrypted, calling `waiting` (which
    /// pushes the send deadline out) before each wait for the socket.
    async fn flush(&mut self, stream: &TcpStream, waiting: &Waiting<'_>) -> io::Result<()> {
        while self.connection.wants_write() {
            match self.connection.write_tls(&mut Io(stream)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    waiting();
                    stream.writable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Encrypts `bytes` and sends them, a buffer's worth (64 KiB) at a time.
    /// What fits stays in rustls until the next flush.
    async fn put(&mut self, stream: &TcpStream, waiting: &Waiting<'_>, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.connection.writer().write(bytes)?;
            bytes = &bytes[n..];
            if !bytes.is_empty() {
                self.flush(stream, waiting).await?;
            }
        }
        Ok(())
    }

    /// Writes the head and then the body.
    pub(super) async fn write_all(
        &mut self,
        stream: &TcpStream,
        waiting: &Waiting<'_>,
        head: &[u8],
        body: &[u8],
    ) -> io::Result<()> {
        self.put(stream, waiting, head).await?;
        self.put(stream, waiting, body).await?;
        self.flush(stream, waiting).await
    }

    /// Writes the head and then `len` bytes of `file` from `offset`, read
    /// a chunk at a time (sendfile cannot encrypt).
    pub(super) async fn send_file(
        &mut self,
        stream: &TcpStream,
        waiting: &Waiting<'_>,
        head: &[u8],
        file: &File,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        self.put(stream, waiting, head).await?;
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.resize(FILE_CHUNK, 0);
        let sent = self.put_file(stream, waiting, &mut chunk, file, offset, len).await;
        self.chunk = chunk;
        sent?;
        self.flush(stream, waiting).await
    }

    async fn put_file(
        &mut self,
        stream: &TcpStream,
        waiting: &Waiting<'_>,
        chunk: &mut [u8],
        file: &File,
        mut offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let end = offset + len;
        while offset < end {
            let want = ((end - offset) as usize).min(chunk.len());
            let n = file.read_at(&mut chunk[..want], offset)?;
            if n == 0 {
                // The file shrank under us: the promised length cannot be sent.
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.put(stream, waiting, &chunk[..n]).await?;
            offset += n as u64;
        }
        Ok(())
    }

    /// A last answer that closes the connection (408), sent only if the
    /// socket takes it at once, with close_notify after it.
    pub(super) fn try_send_last(&mut self, stream: &TcpStream, bytes: &[u8]) {
        if self.connection.writer().write_all(bytes).is_ok() {
            self.try_close(stream);
        }
    }

    /// close_notify, before the connection is shut down for writing; the
    /// caller bounds the wait (the send deadline).
    pub(super) async fn close(&mut self, stream: &TcpStream) -> io::Result<()> {
        self.connection.send_close_notify();
        self.flush(stream, &|| {}).await
    }

    /// close_notify if the socket takes it at once.
    pub(super) fn try_close(&mut self, stream: &TcpStream) {
        self.connection.send_close_notify();
        let _ = self.connection.write_tls(&mut Io(stream));
    }
}
