//! A small buffered reader over one TCP connection for the line- and
//! length-framed protocols the probes speak (RESP, memcached text,
//! PostgreSQL messages). Every read is bounded in size, and every read and
//! write ends by the connection's deadline ([`DeadlineStream`]).

use std::io::{self, Read, Write};

use crate::net::deadline::DeadlineStream;

/// The most bytes one line or message may have.
pub const MAX_FRAME: usize = 64 * 1024;

/// One connection, reads buffered.
pub struct Conn {
    stream: DeadlineStream,
    buffer: Vec<u8>,
}

impl Conn {
    pub fn new(stream: DeadlineStream) -> Conn {
        Conn { stream, buffer: Vec::new() }
    }

    /// Writes all of `bytes` before the deadline.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| describe(&e))
    }

    /// One line without its `\r\n` (or `\n`).
    pub fn line(&mut self) -> Result<Vec<u8>, String> {
        // Bounded: each round reads more or fails; the buffer is capped.
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buffer.len() > MAX_FRAME {
                return Err(format!("a line longer than {MAX_FRAME} bytes"));
            }
            self.fill()?;
        }
    }

    /// Exactly `count` bytes.
    pub fn exact(&mut self, count: usize) -> Result<Vec<u8>, String> {
        if count > MAX_FRAME {
            return Err(format!("a frame of {count} bytes (more than {MAX_FRAME})"));
        }
        // Bounded: each round reads more or fails.
        while self.buffer.len() < count {
            self.fill()?;
        }
        Ok(self.buffer.drain(..count).collect())
    }

    /// Reads what the peer sends next into the buffer.
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err("no answer before the deadline".into()),
            Err(e) => Err(describe(&e)),
        }
    }
}

fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::TimedOut => "the deadline passed".into(),
        _ => crate::net::error_text(error),
    }
}
