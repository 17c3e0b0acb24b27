//! A fetch with curl's semantics: what `curl --max-time T --silent
//! [--proxy P] --output FILE URL` leaves in `FILE`, the way the course's
//! driver.sh fetches every object before it `diff`s two files.
//!
//! What curl saves is not every byte that arrived:
//!
//! - only the body — the status line and headers are not saved;
//! - at most `Content-Length` bytes (header names in any case); bytes a
//!   proxy sends after them are dropped. Without a length, everything up
//!   to the close; with `Transfer-Encoding: chunked`, the decoded body;
//!   `1xx` interim answers are skipped;
//! - what arrived before a timeout, a reset or a close: a short body is
//!   saved as it is (curl reports an error, the file stays);
//! - nothing at all when no body byte arrived and the transfer failed, or
//!   when the answer is not HTTP (no `HTTP/` status line: curl since 7.66
//!   refuses HTTP/0.9) — then there is no file, and driver.sh's `diff` of
//!   a missing file fails.
//!
//! The request is the one curl sends, through a proxy in absolute form
//! with `Proxy-Connection: Keep-Alive`. The connection goes to `localhost`
//! as the driver's does, to whatever loopback addresses that name has.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The `User-Agent` curl sends (the version does not matter to a proxy).
pub const CURL_USER_AGENT: &str = "curl/7.88.1";

/// What one curl run left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The file's content, `None` when curl would have written no file.
    pub file: Option<Vec<u8>>,
    /// The status code of the (final) answer, if it had one.
    pub status: Option<u16>,
    /// Every byte that arrived, for messages.
    pub raw: Vec<u8>,
    /// Why curl would have exited non-zero, if it would.
    pub error: Option<String>,
}

impl Saved {
    /// `true` when `diff` would call this file identical to `expected`.
    #[must_use]
    pub fn same_file_as(&self, expected: &[u8]) -> bool {
        self.file.as_deref() == Some(expected)
    }

    /// The first line that arrived, for messages.
    #[must_use]
    pub fn first_line(&self) -> String {
        super::first_line(&self.raw)
    }
}

/// Where the request goes: through a proxy, or straight to the origin.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// `--proxy http://localhost:PORT`.
    Proxy(u16),
    /// No proxy.
    Direct,
}

/// `curl --max-time limit [--proxy http://localhost:PORT] --output FILE
/// http://localhost:ORIGIN_PORT/PATH`.
#[must_use]
pub fn fetch(route: Route, origin_port: u16, path: &str, limit: Duration) -> Saved {
    let deadline = Instant::now() + limit;
    let host = format!("localhost:{origin_port}");
    let (port, request) = match route {
        Route::Proxy(port) => (
            port,
            format!(
                "GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {CURL_USER_AGENT}\r\n\
                 Accept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n"
            ),
        ),
        Route::Direct => (
            origin_port,
            format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {CURL_USER_AGENT}\r\n\
                 Accept: */*\r\n\r\n"
            ),
        ),
    };
    let mut stream = match connect_localhost(port, deadline) {
        Ok(stream) => stream,
        Err(e) => {
            return failed(
                Vec::new(),
                format!("could not connect to localhost:{port}: {e}"),
            );
        }
    };
    let _ = stream.set_write_timeout(Some(limit));
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return failed(Vec::new(), format!("sending the request failed: {e}"));
    }
    receive(&mut stream, deadline)
}

/// Connects to `localhost:port` as curl does: every address `localhost`
/// resolves to (from `/etc/hosts`), IPv6 first as curl's happy eyeballs
/// starts, the next one when a connection is refused.
fn connect_localhost(port: u16, deadline: Instant) -> std::io::Result<TcpStream> {
    let mut addrs: Vec<SocketAddr> = ("localhost", port)
        .to_socket_addrs()
        .map(|found| found.filter(|a| a.ip().is_loopback()).collect())
        .unwrap_or_default();
    if addrs.is_empty() {
        addrs = vec![
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        ];
    }
    addrs.sort_by_key(SocketAddr::is_ipv4);
    let mut last = std::io::Error::other("no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn failed(raw: Vec<u8>, error: String) -> Saved {
    Saved {
        file: None,
        status: None,
        raw,
        error: Some(error),
    }
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// After this many bytes.
    Length(usize),
    /// Decoded chunks, up to the last one.
    Chunked,
    /// At the close.
    Close,
}

/// Reads the answer and applies curl's rules to what arrives.
fn receive(stream: &mut TcpStream, deadline: Instant) -> Saved {
    let mut raw = Vec::new();
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(done) = parser.complete(&raw) {
            return done.into_saved(raw);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return parser.cut_short(raw, "operation timed out (curl exit 28)");
        }
        match stream.read(&mut buf) {
            // Bytes that arrive once the time is up do not count, however
            // late the kernel's timer woke the read: curl has stopped.
            Ok(_) if Instant::now() > deadline => {
                return parser.cut_short(raw, "operation timed out (curl exit 28)");
            }
            Ok(0) => return parser.cut_short(raw, "the connection closed"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return parser.cut_short(raw, "operation timed out (curl exit 28)");
            }
            Err(e) => return parser.cut_short(raw, &format!("receive failed: {e}")),
        }
    }
}

/// The final answer's head, once it is known.
#[derive(Debug, Default)]
struct Parser {
    /// Where the final answer's body starts, its status and framing.
    head: Option<(usize, u16, Framing)>,
}

/// A complete transfer.
struct Done {
    status: u16,
    body: Vec<u8>,
}

impl Done {
    fn into_saved(self, raw: Vec<u8>) -> Saved {
        Saved {
            file: Some(self.body),
            status: Some(self.status),
            raw,
            error: None,
        }
    }
}

impl Parser {
    /// Finds the final head (skipping `1xx` answers) once it arrived.
    /// `Err` when the answer is not HTTP.
    fn find_head(&mut self, raw: &[u8]) -> Result<(), String> {
        if self.head.is_some() {
            return Ok(());
        }
        let mut start = 0;
        loop {
            let rest = &raw[start..];
            if rest.len() >= 5 && !rest.starts_with(b"HTTP/") {
                return Err("the answer is not HTTP (no HTTP/ status line)".into());
            }
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut response = httparse::Response::new(&mut headers);
            let len = match response.parse(rest) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(()),
                Err(e) => return Err(format!("the answer's head is malformed: {e}")),
            };
            let status = response.code.unwrap_or(0);
            if (100..200).contains(&status) {
                start += len;
                continue;
            }
            let framing = framing(status, response.headers);
            self.head = Some((start + len, status, framing));
            return Ok(());
        }
    }

    fn complete(&mut self, raw: &[u8]) -> Option<Done> {
        if self.find_head(raw).is_err() {
            return None;
        }
        let (body_at, status, framing) = self.head?;
        let body = &raw[body_at..];
        match framing {
            Framing::Length(n) if body.len() >= n => Some(Done {
                status,
                body: body[..n].to_vec(),
            }),
            Framing::Chunked => match dechunk(body) {
                (decoded, true) => Some(Done {
                    status,
                    body: decoded,
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// The transfer ended (close, error or timeout) before it was
    /// complete by its framing.
    fn cut_short(mut self, raw: Vec<u8>, why: &str) -> Saved {
        if let Err(not_http) = self.find_head(&raw) {
            return failed(raw, not_http);
        }
        let Some((body_at, status, framing)) = self.head else {
            let why = if raw.is_empty() && why == "the connection closed" {
                "the connection closed with nothing received (curl: empty reply from server)"
                    .to_string()
            } else if raw.is_empty() {
                format!("{why}, nothing received")
            } else {
                format!("{why} before the end of the head")
            };
            return failed(raw, why);
        };
        let body = match framing {
            Framing::Chunked => dechunk(&raw[body_at..]).0,
            Framing::Length(_) | Framing::Close => raw[body_at..].to_vec(),
        };
        let complete = framing == Framing::Close && why == "the connection closed";
        let error = (!complete).then(|| format!("{why} after {} body bytes", body.len()));
        let file = if complete || !body.is_empty() {
            Some(body)
        } else {
            None
        };
        Saved {
            file,
            status: Some(status),
            raw,
            error,
        }
    }
}

fn framing(status: u16, headers: &[httparse::Header<'_>]) -> Framing {
    if status == 204 || status == 304 {
        return Framing::Length(0);
    }
    let value = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if value("Transfer-Encoding").is_some_and(|te| te.ends_with("chunked")) {
        return Framing::Chunked;
    }
    match value("Content-Length").and_then(|v| v.parse().ok()) {
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    }
}

/// Decodes chunked data: what was decoded, and whether the last chunk
/// arrived.
fn dechunk(mut data: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Ok(httparse::Status::Complete((at, size))) = httparse::parse_chunk_size(data) else {
            return (out, false);
        };
        let Ok(size) = usize::try_from(size) else {
            return (out, false);
        };
        data = &data[at..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        if data.len() < size + 2 {
            return (out, false);
        }
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests;
