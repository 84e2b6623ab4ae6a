//! berth's network clients: `probe` (is it reachable, and what answers),
//! `scan` (which ports of a host are open), and the HTTP and TLS clients
//! they and the audit's probes speak through.
//!
//! This is the one place besides the servers that opens sockets to other
//! ends. It never reads the kernel's socket tables (that is the inventory's
//! job) and never prints (that is render's): it returns reports as values.
//!
//! - [`deadline`]: the TCP stream every probe reads and writes through,
//!   each call ending by the probe's deadline;
//! - [`resolve`]: what the user typed (PORT, HOST:PORT, a URL) and the
//!   addresses it names;
//! - [`ports`]: port lists such as `1-1024,8080`;
//! - [`probe`]: the engine of `berth probe`: one target, every address:
//!   connect, banner, then TLS and HTTP by simple rules ([`tls_client`],
//!   [`http_client`]);
//! - [`http_client`]: one HTTP/1.1 request per connection (the server is
//!   `servers::http`);
//! - [`tls_client`]: a TLS handshake that reports what it saw, and chain
//!   checks against given roots;
//! - [`scan`]: the non-blocking connect scan (TCP, and UDP on request) over
//!   [`epoll`], within the descriptor budget of [`limits`];
//! - [`local`]: whether a host is this machine, and who holds its open ports.

pub mod deadline;
pub mod epoll;
pub mod http_client;
pub mod limits;
pub mod local;
pub mod ports;
pub mod probe;
pub mod resolve;
pub mod scan;
pub mod tls_client;

/// The time left before `deadline`, or None once (almost) nothing is left:
/// how every deadline-bounded read and connect in berth sizes its timeout.
pub(crate) fn time_left(deadline: std::time::Instant) -> Option<std::time::Duration> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    (left >= std::time::Duration::from_millis(1)).then_some(left)
}

/// Whether a blocking call on a socket ended because its SO_RCVTIMEO or
/// SO_SNDTIMEO expired: Linux ends it with EAGAIN, which std reports as
/// `WouldBlock`. (`TimedOut`, ETIMEDOUT, is not one: that is a connection
/// the kernel gave up on. A [`deadline::DeadlineStream`] reports its
/// deadline as `TimedOut`, and never `WouldBlock`.)
pub(crate) fn is_socket_timeout(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
}

/// An I/O error as people read it: an OS error without Rust's "(os error
/// N)" suffix; a TLS error (a read or write on a TLS session) in the words
/// of [`tls_client::tls_error_words`], and a close without close_notify
/// as such (rustls's own text for it is a URL to its manual).
pub(crate) fn error_text(error: &std::io::Error) -> String {
    if let Some(tls) = tls_client::rustls_error(error) {
        return tls_client::tls_error_words(tls);
    }
    let text = error.to_string();
    if error.kind() == std::io::ErrorKind::UnexpectedEof && text.contains("close_notify") {
        return "the server closed the connection without a TLS close_notify".into();
    }
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
