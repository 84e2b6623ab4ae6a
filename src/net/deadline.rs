//! A TCP connection whose every read and write ends by a deadline: the one
//! way berth's probes (`probe`, `audit`) talk to a service.
//!
//! Why not a socket timeout set once, or a deadline checked between reads:
//! a timeout bounds one system call, not a conversation, and the loops that
//! read (rustls's `complete_io`, which reads until it has a whole record;
//! `write_all`, which writes until all is sent) make as many calls as the
//! peer wants. A service that sends one byte every half second, or reads
//! one kilobyte every half second, kept each call short and the loop going
//! for minutes. Here each call gets `SO_RCVTIMEO` / `SO_SNDTIMEO` set to
//! the time left before it starts, and none starts once the deadline has
//! passed, so no call — and no loop of calls, however it is written — can
//! end later than the deadline (plus the kernel's timer granularity).
//!
//! A call the deadline cuts short, and a connect that does not finish by
//! it, fail with [`io::ErrorKind::TimedOut`], never `WouldBlock` (rustls
//! takes that for a non-blocking socket and would return early with
//! nothing to say why): callers match `TimedOut` alone.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::{is_socket_timeout, time_left};

/// A connected TCP stream and the instant all I/O on it must end by.
#[derive(Debug)]
pub struct DeadlineStream {
    tcp: TcpStream,
    deadline: Instant,
    /// Bytes read so far: tells a service that went silent from one that
    /// answered too slowly when the deadline cuts it off.
    received: usize,
    /// Whether a read or write was cut off (or refused) by the deadline.
    timed_out: bool,
}

impl DeadlineStream {
    /// Wraps a connected stream.
    pub fn new(tcp: TcpStream, deadline: Instant) -> DeadlineStream {
        DeadlineStream { tcp, deadline, received: 0, timed_out: false }
    }

    /// Connects to `address` within the time left before `deadline`, with
    /// Nagle off (probes send one small request and wait for its answer).
    pub fn connect(address: &SocketAddr, deadline: Instant) -> io::Result<DeadlineStream> {
        let left = time_left(deadline).ok_or_else(deadline_passed)?;
        let tcp = TcpStream::connect_timeout(address, left)?;
        let _ = tcp.set_nodelay(true);
        Ok(DeadlineStream::new(tcp, deadline))
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Bytes read from the peer so far.
    pub fn received(&self) -> usize {
        self.received
    }

    /// True once the deadline cut a read or write short: the peer was
    /// still being waited for when time ran out.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Reads what is there, waiting until `by` at most (and never past the
    /// stream's deadline): for waits shorter than the whole conversation,
    /// such as the pause that ends a banner.
    pub fn read_by(&mut self, buf: &mut [u8], by: Instant) -> io::Result<usize> {
        let by = by.min(self.deadline);
        // Bounded: each round is one read that ends by `by`; EINTR repeats it
        // with less time left, until none is.
        loop {
            let Some(left) = time_left(by) else { return Err(self.cut_off(by)) };
            self.tcp.set_read_timeout(Some(left))?;
            match self.tcp.read(buf) {
                Ok(n) => {
                    self.received += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_socket_timeout(&e) => return Err(self.cut_off(by)),
                Err(e) => return Err(e),
            }
        }
    }

    /// The error for a call that `by` cut short; marks the stream timed out
    /// when `by` was the stream's own deadline.
    fn cut_off(&mut self, by: Instant) -> io::Error {
        if by >= self.deadline {
            self.timed_out = true;
        }
        deadline_passed()
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_by(buf, self.deadline)
    }
}

impl Write for DeadlineStream {
    /// Writes what fits before the deadline: a peer that reads slowly gets
    /// the bytes it makes room for, and the call after the deadline fails.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Bounded as `read_by`.
        loop {
            let Some(left) = time_left(self.deadline) else { return Err(self.cut_off(self.deadline)) };
            self.tcp.set_write_timeout(Some(left))?;
            match self.tcp.write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_socket_timeout(&e) => return Err(self.cut_off(self.deadline)),
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The error of a read or write the deadline did not allow.
pub fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the deadline passed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair on loopback: (ours, the peer's end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (theirs, _) = listener.accept().expect("accept");
        (ours, theirs)
    }

    #[test]
    fn a_peer_that_drips_is_cut_off_at_the_deadline() {
        let (ours, mut theirs) = pair();
        let dripper = std::thread::spawn(move || {
            // Bounded: 40 bytes at most, or until berth's end closes.
            for _ in 0..40 {
                if theirs.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let mut stream = DeadlineStream::new(ours, started + Duration::from_millis(400));
        // read_to_end loops on read like rustls does: each read returns a
        // byte well within any per-call timeout.
        let error = stream.read_to_end(&mut Vec::new()).expect_err("never ends by itself");
        let took = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(took < Duration::from_millis(900), "took {took:?}");
        assert!(stream.timed_out() && stream.received() > 0);
        drop(stream);
        dripper.join().expect("dripper");
    }

    #[test]
    fn writes_to_a_peer_that_never_reads_end_at_the_deadline() {
        let (ours, theirs) = pair();
        // Small buffers on both ends, so the kernel holds little of what is sent.
        let ours = socket2::Socket::from(ours);
        ours.set_send_buffer_size(4096).expect("SO_SNDBUF");
        let theirs = socket2::Socket::from(theirs);
        theirs.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let started = Instant::now();
        let mut stream = DeadlineStream::new(ours.into(), started + Duration::from_millis(400));
        let error = stream.write_all(&vec![b'a'; 8 << 20]).expect_err("the peer never reads");
        let took = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(took < Duration::from_millis(900), "took {took:?}");
        assert!(stream.timed_out());
        drop(theirs);
    }

    #[test]
    fn writes_to_a_peer_that_reads_slowly_end_at_the_deadline() {
        let (ours, theirs) = pair();
        let ours = socket2::Socket::from(ours);
        ours.set_send_buffer_size(4096).expect("SO_SNDBUF");
        let theirs = socket2::Socket::from(theirs);
        theirs.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut theirs: TcpStream = theirs.into();
        theirs.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 2048];
            // Bounded: 100 reads at most; ends when berth's end closes.
            for _ in 0..100 {
                match theirs.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        let started = Instant::now();
        let mut stream = DeadlineStream::new(ours.into(), started + Duration::from_millis(400));
        // Every write makes progress, so a timeout per call never fires.
        let error = stream.write_all(&vec![b'a'; 8 << 20]).expect_err("too much to send in time");
        let took = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(took < Duration::from_millis(900), "took {took:?}");
        drop(stream);
        reader.join().expect("reader");
    }

    #[test]
    fn a_shorter_wait_does_not_mark_the_stream_timed_out() {
        let (ours, _theirs) = pair();
        let mut stream = DeadlineStream::new(ours, Instant::now() + Duration::from_secs(5));
        let error = stream.read_by(&mut [0u8; 16], Instant::now() + Duration::from_millis(30)).expect_err("silent");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(!stream.timed_out());
    }

    #[test]
    fn nothing_is_tried_after_the_deadline() {
        let (ours, _theirs) = pair();
        let mut stream = DeadlineStream::new(ours, Instant::now());
        assert_eq!(stream.write(b"x").expect_err("too late").kind(), io::ErrorKind::TimedOut);
        assert_eq!(stream.read(&mut [0u8; 1]).expect_err("too late").kind(), io::ErrorKind::TimedOut);
        let closed: SocketAddr = "127.0.0.1:9".parse().expect("address");
        assert_eq!(
            DeadlineStream::connect(&closed, Instant::now()).expect_err("too late").kind(),
            io::ErrorKind::TimedOut
        );
    }
}
