//! Collecting the request head from the client: the lab's `Rio_readlineb`
//! loop in `doit` and `read_requesthdrs`.
//!
//! The C proxy reads line by line until the empty line. Here the bytes are
//! read in chunks into a [`HeadBuf`], which decides — without touching a
//! socket — whether the head is complete and whether it broke a limit. The
//! blocking and async connection code only differ in how they fill it.

use crate::error::ProxyError;

/// Longest request line accepted, without its line ending (`414` beyond).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest request head accepted, request line included (`431` beyond).
pub const MAX_HEAD: usize = 64 * 1024;

/// How many bytes one read asks for while collecting the head.
pub const READ_CHUNK: usize = 4096;

/// The start of a client connection, kept until the end of the request head
/// (an empty line, CRLF or bare LF) has arrived.
#[derive(Debug, Default)]
pub struct HeadBuf {
    buf: Vec<u8>,
    /// How far `buf` has been scanned for line ends (each byte once, so a
    /// client dripping one byte at a time costs linear, not quadratic, work).
    scanned: usize,
    /// Where the line being scanned starts.
    line_start: usize,
    /// The request line's length without its line ending, once complete.
    request_line: Option<usize>,
    /// Whether the request line has been checked by httparse.
    request_line_ok: bool,
    /// The length of the head, once its empty line has arrived.
    end: Option<usize>,
}

impl HeadBuf {
    /// An empty buffer.
    pub fn new() -> HeadBuf {
        HeadBuf::default()
    }

    /// How many bytes the next read may ask for: never more than one byte
    /// past [`MAX_HEAD`], so a client cannot make the proxy hold more than
    /// the limit.
    pub fn read_limit(&self) -> usize {
        READ_CHUNK.min(MAX_HEAD + 1 - self.buf.len().min(MAX_HEAD))
    }

    /// Appends bytes read from the client.
    ///
    /// Returns `Ok(Some(len))` once the whole head (`len` bytes, through the
    /// empty line) is in, `Ok(None)` when more is needed, or the limit the
    /// client broke. A request line that can never become valid (HTTP/0.9,
    /// a TLS `ClientHello`, garbage) is refused with `400` as soon as it is
    /// seen, without waiting for the header timeout. Bytes after the head
    /// (a body, a pipelined request) are kept but never used: one request
    /// per connection.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<usize>, ProxyError> {
        self.buf.extend_from_slice(bytes);
        if self.end.is_none() {
            self.scan();
        }
        if !self.request_line_ok {
            self.check_request_line()?;
        }
        let line_len = match self.request_line {
            Some(len) => len,
            // A CR at the end may be the first half of the CRLF.
            None => trim_cr(&self.buf).len(),
        };
        if line_len > MAX_REQUEST_LINE {
            return Err(ProxyError::UriTooLong(MAX_REQUEST_LINE));
        }
        match self.end {
            Some(end) if end <= MAX_HEAD => Ok(Some(end)),
            Some(_) => Err(ProxyError::HeadersTooLarge(MAX_HEAD)),
            None if self.buf.len() > MAX_HEAD => Err(ProxyError::HeadersTooLarge(MAX_HEAD)),
            None => Ok(None),
        }
    }

    /// Scans the new bytes for line ends: the first line is the request
    /// line; the first empty line after it ends the head.
    fn scan(&mut self) {
        while self.scanned < self.buf.len() {
            let i = self.scanned;
            self.scanned += 1;
            if self.buf[i] != b'\n' {
                continue;
            }
            let line = trim_cr(&self.buf[self.line_start..i]);
            match self.request_line {
                None => self.request_line = Some(line.len()),
                Some(_) if line.is_empty() => {
                    self.end = Some(i + 1);
                    return;
                }
                Some(_) => {}
            }
            self.line_start = i + 1;
        }
    }

    /// Runs httparse on the request line as far as it has arrived (at most
    /// [`MAX_REQUEST_LINE`] bytes of it): an error there cannot be cured by
    /// more bytes. See [`request_line_error`].
    fn check_request_line(&mut self) -> Result<(), ProxyError> {
        if let Some(error) = request_line_error(&self.buf) {
            return Err(error);
        }
        self.request_line_ok = self.request_line.is_some();
        Ok(())
    }

    /// The head (its first `end` bytes, as [`HeadBuf::push`] returned) and
    /// what came after it in the same reads.
    pub fn split(&self, end: usize) -> (Vec<u8>, Vec<u8>) {
        let (head, rest) = self.buf.split_at(end.min(self.buf.len()));
        (head.to_vec(), rest.to_vec())
    }

    /// Everything received so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The error for a client that closed its side before the head was
    /// complete: silence if it sent nothing, `400` otherwise.
    pub fn eof_error(&self) -> ProxyError {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            ProxyError::ClientGone("closed without a request".into())
        } else {
            ProxyError::BadRequest("connection closed before the end of the request head".into())
        }
    }
}

/// Replays a client's reads from memory: pushes `input` into a new
/// [`HeadBuf`] one read at a time, as the connection code reads a socket,
/// until the head is complete, a limit is broken, or the input runs out
/// (`Ok(None)`). Read number `step` takes at most `chunk(step, &buf)`
/// bytes (`0`: as many as the reader asks), and never more than
/// [`HeadBuf::read_limit`]. For the property tests, the regression tests
/// and the fuzz target, which all feed a head in pieces this way.
pub fn read_in_chunks(
    input: &[u8],
    mut chunk: impl FnMut(usize, &HeadBuf) -> usize,
) -> (HeadBuf, Result<Option<usize>, ProxyError>) {
    let mut buf = HeadBuf::new();
    let mut step = 0;
    loop {
        let at = buf.bytes().len();
        if at >= input.len() {
            return (buf, Ok(None));
        }
        let size = match chunk(step, &buf) {
            0 => usize::MAX,
            n => n,
        };
        step += 1;
        let end = input.len().min(at + size.min(buf.read_limit()));
        match buf.push(&input[at..end]) {
            Ok(None) => {}
            done => return (buf, done),
        }
    }
}

/// `Some(400)` when the start of `buf` cannot begin a valid request line,
/// judged by httparse on the request line as far as it has arrived: through
/// its line end if it is complete and within [`MAX_REQUEST_LINE`], else its
/// first `MAX_REQUEST_LINE` bytes (what is longer is `414` anyway).
pub fn request_line_error(buf: &[u8]) -> Option<ProxyError> {
    let upto = match buf.iter().position(|&b| b == b'\n') {
        Some(lf) if trim_cr(&buf[..lf]).len() <= MAX_REQUEST_LINE => lf + 1,
        _ => buf.len().min(MAX_REQUEST_LINE),
    };
    let mut no_headers = [httparse::EMPTY_HEADER; 0];
    match httparse::Request::new(&mut no_headers).parse(&buf[..upto]) {
        Err(httparse::Error::TooManyHeaders) | Ok(_) => None,
        Err(e) => Some(ProxyError::BadRequest(format!(
            "malformed request line ({e})"
        ))),
    }
}

/// The length of the head in `buf` through its terminating empty line
/// (`\r\n\r\n`, `\n\n` or a mix), if it has arrived.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if trim_cr(&buf[line_start..i]).is_empty() && line_start > 0 {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_end_with_crlf_bare_lf_and_mixed() {
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\n\r\n"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\nA: b\n\r\nbody"), Some(23));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\nA: b\r\n"), None);
        assert_eq!(find_head_end(b""), None);
    }

    #[test]
    fn head_arriving_in_pieces() {
        let mut head = HeadBuf::new();
        assert!(matches!(head.push(b"GET http://a/ HT"), Ok(None)));
        assert!(matches!(head.push(b"TP/1.0\r\nHost: a\r"), Ok(None)));
        assert!(matches!(head.push(b"\n\r\nextra"), Ok(Some(35))));
    }

    #[test]
    fn long_request_line_is_414() {
        let mut head = HeadBuf::new();
        let line = vec![b'a'; MAX_REQUEST_LINE + 1];
        assert!(matches!(head.push(&line), Err(ProxyError::UriTooLong(_))));
        let mut ok = HeadBuf::new();
        let start = b"GET http://a/";
        let end = b" HTTP/1.0";
        let mut line = start.to_vec();
        line.resize(MAX_REQUEST_LINE - end.len(), b'a');
        line.extend_from_slice(end);
        assert_eq!(line.len(), MAX_REQUEST_LINE);
        line.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(ok.push(&line), Ok(Some(_))));
    }

    #[test]
    fn large_head_is_431() {
        let mut head = HeadBuf::new();
        assert!(matches!(head.push(b"GET http://a/ HTTP/1.0\r\n"), Ok(None)));
        let header = format!("X-Pad: {}\r\n", "p".repeat(1000));
        let mut result = Ok(None);
        while head.bytes().len() <= MAX_HEAD + 2000 {
            result = head.push(header.as_bytes());
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(ProxyError::HeadersTooLarge(_))));
    }

    #[test]
    fn read_limit_never_passes_max_head() {
        let mut head = HeadBuf::new();
        let _ = head.push(b"GET http://a/ HTTP/1.0\r\n");
        while head.bytes().len() <= MAX_HEAD {
            let n = head.read_limit();
            assert!(n > 0);
            let _ = head.push(&vec![b'x'; n]);
        }
        assert_eq!(head.bytes().len(), MAX_HEAD + 1);
    }

    #[test]
    fn hopeless_request_lines_are_refused_at_once() {
        for start in [
            &b"GET /\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"GET http://a/ HTTP/1.0 extra\r\n",
            b"G\0",
        ] {
            let result = HeadBuf::new().push(start);
            assert!(
                matches!(result, Err(ProxyError::BadRequest(_))),
                "{start:?}: {result:?}"
            );
        }
        // A valid prefix waits for more.
        assert!(matches!(
            HeadBuf::new().push(b"GET http://a/ HTTP/1."),
            Ok(None)
        ));
        assert!(matches!(
            HeadBuf::new().push(b"GET http://a/ HTTP/1.0\r\nHost: a"),
            Ok(None)
        ));
    }

    #[test]
    fn eof_before_anything_is_silent() {
        assert!(HeadBuf::new().eof_error().status().is_none());
        let mut head = HeadBuf::new();
        let _ = head.push(b"GET http://a/");
        assert_eq!(head.eof_error().status(), Some(400));
    }
}
