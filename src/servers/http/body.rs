//! Request bodies, for the handlers that read them (mock; serve reads
//! none and closes instead, see [`super::request::Request::has_body`]).
//!
//! A Content-Length body is copied as it comes; a chunked one goes through
//! [`Chunked`], a decoder fed whatever bytes have arrived, which keeps no
//! more than one chunk-size line of state between reads. Both stop at the
//! handler's limit, so that a client cannot make berth hold more than it
//! asked for.

/// Why a body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// 413: more than the handler's limit.
    TooLarge,
    /// 400: the chunked framing is broken.
    BadChunk,
}

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

/// Decodes a chunked body (RFC 9112 §7.1) fed in pieces.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    /// A chunk-size or trailer line not yet complete.
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// This many data bytes to go.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty line.
    Trailer,
    Done,
}

impl Chunked {
    /// Feeds `input`; the data goes to `out` (at most `limit` bytes in all).
    /// Returns how many bytes of `input` were used and whether the body is
    /// complete; bytes after its end are not used (the next request's).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(usize, bool), BodyError> {
        let mut used = 0;
        while used < input.len() && self.state != State::Done {
            let rest = &input[used..];
            match self.state {
                State::Size | State::Trailer | State::DataEnd => {
                    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                        self.push_line(rest)?;
                        used = input.len();
                        break;
                    };
                    self.push_line(&rest[..end])?;
                    used += end + 1;
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        State::Size => match chunk_size(line)? {
                            0 => State::Trailer,
                            size => State::Data(size),
                        },
                        State::DataEnd if line.is_empty() => State::Size,
                        State::DataEnd => return Err(BodyError::BadChunk),
                        _ if line.is_empty() => State::Done,
                        _ => State::Trailer,
                    };
                }
                State::Data(remaining) => {
                    let take = rest.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    if out.len() + take > limit {
                        return Err(BodyError::TooLarge);
                    }
                    out.extend_from_slice(&rest[..take]);
                    used += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                }
                State::Done => break,
            }
        }
        Ok((used, self.state == State::Done))
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), BodyError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(BodyError::BadChunk);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }
}

/// The size of a chunk-size line: hex digits, then extensions after `;`
/// (ignored). Anything else, or a size past 64 bits, is broken framing.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = super::request::trim(digits);
    if digits.is_empty() || digits.len() > 16 {
        return Err(BodyError::BadChunk);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let digit = (d as char).to_digit(16).ok_or(BodyError::BadChunk)?;
        Ok(n << 4 | u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize, limit: usize) -> Result<(Vec<u8>, usize), BodyError> {
        let mut decoder = Chunked::default();
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let end = (at + piece).min(input.len());
            let (used, done) = decoder.feed(&input[at..end], &mut out, limit)?;
            if done {
                return Ok((out, at + used));
            }
            assert_eq!(used, end - at, "a piece is used whole until the end");
            at = end;
        }
        Err(BodyError::BadChunk)
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_pieces() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next";
        for piece in [1, 2, 3, 7, 64] {
            let (out, used) = decode_in_pieces(body, piece, 100).unwrap();
            assert_eq!(out, b"hello, world", "pieces of {piece}");
            assert_eq!(&body[used..], b"GET /next", "pieces of {piece}");
        }
        let (out, _) = decode_in_pieces(b"A\n0123456789\n0\n\n", 4, 100).unwrap();
        assert_eq!(out, b"0123456789", "bare LF lines are taken");
    }

    #[test]
    fn broken_or_oversized_chunks_are_refused() {
        for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX\r\n", b"\r\n", b"11111111111111111\r\n", b"-1\r\n"] {
            assert_eq!(decode_in_pieces(bad, 3, 100), Err(BodyError::BadChunk), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(decode_in_pieces(b"b\r\nhello world\r\n0\r\n\r\n", 5, 10), Err(BodyError::TooLarge));
        let long_line = [b"1;".as_slice(), &[b'x'; 5000]].concat();
        assert_eq!(decode_in_pieces(&long_line, 100, 10), Err(BodyError::BadChunk), "a chunk line is bounded");
    }
}
