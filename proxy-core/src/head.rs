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
    /// client broke. Bytes after the head (a body, a pipelined request) are
    /// kept but never used: one request per connection.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<usize>, ProxyError> {
        self.buf.extend_from_slice(bytes);
        let line_end = self.buf.iter().position(|&b| b == b'\n');
        let line_len = match line_end {
            Some(pos) => trim_cr(&self.buf[..pos]).len(),
            None => self.buf.len(),
        };
        if line_len > MAX_REQUEST_LINE {
            return Err(ProxyError::UriTooLong(MAX_REQUEST_LINE));
        }
        match find_head_end(&self.buf) {
            Some(end) if end <= MAX_HEAD => Ok(Some(end)),
            Some(_) => Err(ProxyError::HeadersTooLarge(MAX_HEAD)),
            None if self.buf.len() > MAX_HEAD => Err(ProxyError::HeadersTooLarge(MAX_HEAD)),
            None => Ok(None),
        }
    }

    /// Everything received so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The error for a client that closed its side before the head was
    /// complete: silence if it sent nothing, `400` otherwise.
    pub fn eof_error(&self) -> ProxyError {
        if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
            ProxyError::ClientGone("closed without a request".into())
        } else {
            ProxyError::BadRequest("connection closed before the end of the request head".into())
        }
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
        let mut line = vec![b'a'; MAX_REQUEST_LINE];
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
    fn eof_before_anything_is_silent() {
        assert!(HeadBuf::new().eof_error().status().is_none());
        let mut head = HeadBuf::new();
        let _ = head.push(b"GET http://a/");
        assert_eq!(head.eof_error().status(), Some(400));
    }
}
