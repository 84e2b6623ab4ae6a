//! What the HTTP core asks of whatever a server serves: one [`Handler`].
//!
//! The core ([`super::server`]) is the same for every server berth starts:
//! the accept loop, the connection loop, the limits and timeouts, the
//! connection cap, head parsing, the Host guard, keep-alive and the request
//! log. A handler only turns an admitted request into an answer. serve's
//! static site ([`super::site`]) is the first; mock, the dashboard, metrics
//! and the proxy plug in the same way, without touching any of that.
//!
//! A handler is called on the event loop of the worker that owns the
//! connection, so it must not block: work that does (reading a big
//! directory, taking a snapshot of the system) goes back to the core as a
//! [`Blocking`] job, which the core runs on tokio's blocking threads, a
//! bounded number at a time, while the connection waits.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::request::{Method, Request};
use super::response::{Body, Head, Reply};

/// Answers the requests of one server.
pub trait Handler: Send + Sync + 'static {
    /// What the handler keeps for one connection from one request to the
    /// next, made when the connection opens (the site: a buffer for the
    /// decoded path, so that no request allocates one).
    type Scratch: Default + Send;

    /// Answers a request the core has admitted: its head arrived complete
    /// and within the limits, and its Host is allowed. The response head
    /// goes to `exchange.head` (see [`Head`]) and ends with
    /// `exchange.extra`; the body comes back in the [`Reply`].
    fn respond(&self, request: &Request<'_>, exchange: &mut Exchange<'_>, scratch: &mut Self::Scratch) -> Answer;

    /// Adds to `extra` the header lines every response to `request`
    /// carries, the core's own refusals included (the site's CORS lines).
    /// Called before the Host check and [`Handler::respond`].
    fn headers(&self, _request: &Request<'_>, _extra: &mut Vec<u8>) {}

    /// A secret the request log must never show: masked wherever it
    /// appears in a logged target, along with every `token=` value.
    fn log_secret(&self) -> Option<&str> {
        None
    }

    /// The largest request body the handler reads for `request`, or None
    /// for a handler that reads none (the core then answers and closes the
    /// connection, so that a body is never taken for the next request).
    /// With a limit, the core reads the body (Content-Length or chunked,
    /// after a `100 Continue` when the client asks for one) before
    /// [`Handler::respond`], into [`Exchange::body`]; a larger one is
    /// answered 413.
    fn body_limit(&self, _request: &Request<'_>) -> Option<usize> {
        None
    }
}

/// The connection's buffers, lent to a handler for one request.
pub struct Exchange<'a> {
    /// The response head is written here.
    pub head: &'a mut Vec<u8>,
    /// Header lines ("Name: value\r\n...") every response to this request
    /// carries: the core's Connection line and the handler's
    /// [`Handler::headers`], then whatever the handler adds while answering
    /// (Allow, Set-Cookie, Location).
    pub extra: &'a mut Vec<u8>,
    /// The request's body, when [`Handler::body_limit`] asked for it
    /// (empty otherwise).
    pub body: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
    /// What the request log says after the status, for this request only
    /// (mock: which response it chose); empty is nothing. Cleared by the
    /// core before each request.
    pub note: &'a mut String,
}

impl Exchange<'_> {
    /// A short plain-text answer (errors, redirects), with the extra lines;
    /// `message` is a static text or one built for this request (both
    /// become the body without copying a static one). An empty `note` is
    /// no note.
    pub fn text(&mut self, request: &Request<'_>, status: u16, message: impl Into<Bytes>, note: &'static str) -> Reply {
        self.body(request, status, b"text/plain; charset=utf-8", message.into(), note)
    }

    /// A whole answer held in memory (a text, a generated page, an
    /// exposition), typed `content_type`, not to be cached, with the extra
    /// lines; a HEAD request gets the head alone.
    pub fn body(
        &mut self,
        request: &Request<'_>,
        status: u16,
        content_type: &[u8],
        body: Bytes,
        note: &'static str,
    ) -> Reply {
        let mut head = Head::start(self.head, status);
        head.number("Content-Length", body.len() as u64)
            .header("Content-Type", content_type)
            .header("Cache-Control", b"no-store")
            .header("X-Content-Type-Options", b"nosniff")
            .raw(self.extra)
            .finish();
        let body = if request.method() == Method::Head { Body::Empty } else { Body::Bytes(body) };
        Reply { status, body, close: false, note: (!note.is_empty()).then_some(note) }
    }
}

/// What a handler makes of a request.
pub enum Answer {
    /// The answer: its head is in `exchange.head`.
    Reply(Reply),
    /// Work to do off the event loop before the answer can be given.
    Blocking(Box<dyn Blocking>),
    /// The answer after a pause (mock's latency), the connection kept
    /// open and within its deadline meanwhile.
    Delayed(Duration, Box<Answer>),
    /// No proper answer, on purpose (mock's fault injection).
    Fault(Fault),
}

/// A broken answer a handler may give, so that clients can be tested
/// against a bad server.
#[derive(Debug)]
pub enum Fault {
    /// The connection is reset (RST, no response).
    Reset,
    /// The connection is closed without a response ("empty reply").
    Close,
    /// The head and the first half of the body are sent, then nothing
    /// more until the client gives up (or the send timeout closes it).
    Stall(Reply),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Reply(reply)
    }
}

/// Work a handler must not do on the event loop, and the answer it leads
/// to. It owns everything it needs, so that it can run on another thread
/// while the connection waits; the request stays with the core.
pub trait Blocking: Send + 'static {
    /// Does the work, on one of tokio's blocking threads.
    fn run(&mut self);

    /// Back on the event loop: the answer, its head in `exchange.head` as
    /// for [`Handler::respond`]. Also called when `run` panicked (the core
    /// catches the panic), so that the request still gets an answer, as
    /// for any other failure of the work.
    fn reply(self: Box<Self>, request: &Request<'_>, exchange: &mut Exchange<'_>) -> Reply;
}
