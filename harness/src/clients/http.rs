//! Talking to a proxy and an origin: raw sockets when every byte matters,
//! reqwest when a real client is wanted. Every call has a deadline.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What a test usually allows one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A response read to the end of the connection.
#[derive(Debug, Clone)]
pub struct Response {
    /// Every byte received.
    pub raw: Vec<u8>,
    /// The status code, if the first line had one.
    pub status: Option<u16>,
    /// Where the body starts in `raw` (the length of the head).
    pub head_len: usize,
    /// How long the exchange took.
    pub elapsed: Duration,
}

impl Response {
    /// Splits raw bytes into head and body.
    pub fn parse(raw: Vec<u8>, elapsed: Duration) -> Response {
        let head_len = find_head_end(&raw).unwrap_or(raw.len());
        let status = status_of(&raw);
        Response {
            raw,
            status,
            head_len,
            elapsed,
        }
    }

    /// The body (everything after the empty line).
    pub fn body(&self) -> &[u8] {
        &self.raw[self.head_len..]
    }

    /// The head as text (lossy).
    pub fn head(&self) -> String {
        String::from_utf8_lossy(&self.raw[..self.head_len]).into_owned()
    }

    /// The first line, for messages.
    pub fn status_line(&self) -> String {
        super::first_line(&self.raw)
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head().lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// The status code in `HTTP/1.x NNN ...`.
pub fn status_of(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|&b| b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn find_head_end(raw: &[u8]) -> Option<usize> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An exchange that did not end with the server closing the connection in
/// time: what had arrived, and why it stopped.
#[derive(Debug)]
pub struct Incomplete {
    /// The bytes received before the error.
    pub partial: Vec<u8>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if !self.partial.is_empty() {
            let first = self
                .partial
                .split(|&b| b == b'\n')
                .next()
                .unwrap_or_default();
            write!(
                f,
                "; first line: {:?}",
                String::from_utf8_lossy(first).trim_end()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Incomplete {}

/// Connects, sends `request`, and reads until the server closes — all
/// within `limit`. A timeout is an error that says how much had arrived.
pub fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Result<Response> {
    let start = Instant::now();
    let deadline = start + limit;
    let mut stream = TcpStream::connect_timeout(&addr, limit)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_write_timeout(Some(limit))?;
    // A server may answer and close before reading everything (an error
    // page for an over-long request): keep what it sent.
    let write_error = stream.write_all(request).err();
    let raw = read_to_end_by(&mut stream, deadline).map_err(|(partial, e)| Incomplete {
        message: format!(
            "{e} after {:.1} s with {} bytes received{}",
            start.elapsed().as_secs_f64(),
            partial.len(),
            write_error
                .as_ref()
                .map(|w| format!(" (sending failed: {w})"))
                .unwrap_or_default()
        ),
        partial,
    })?;
    Ok(Response::parse(raw, start.elapsed()))
}

/// Reads until EOF or the deadline; on error returns what had arrived.
pub fn read_to_end_by(
    stream: &mut TcpStream,
    deadline: Instant,
) -> std::result::Result<Vec<u8>, (Vec<u8>, anyhow::Error)> {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((raw, anyhow::anyhow!("timed out")));
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            return Err((raw, e.into()));
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err((raw, anyhow::anyhow!("timed out")));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => {
                return Ok(raw);
            }
            Err(e) => return Err((raw, e.into())),
        }
    }
}

/// The request a browser or curl sends to a proxy: absolute URI,
/// HTTP/1.1, `Host`, a `User-Agent`, keep-alive asked for.
pub fn proxy_request(url: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let mut request = format!(
        "GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: harness/1.0\r\nAccept: */*\r\n\
         Proxy-Connection: Keep-Alive\r\n"
    );
    for (name, value) in extra {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Fetches `url` through the proxy at `proxy` with a raw socket.
pub fn get_via_proxy(proxy: SocketAddr, url: &str, limit: Duration) -> Result<Response> {
    exchange(proxy, &proxy_request(url, &[]), limit)
}

/// Fetches `path` straight from the origin (HTTP/1.0, like the proxy does).
pub fn get_direct(origin: SocketAddr, path: &str, limit: Duration) -> Result<Response> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: {origin}\r\nConnection: close\r\n\r\n");
    exchange(origin, request.as_bytes(), limit)
}

/// The URL of `path` on the origin at `origin`.
pub fn url(origin: SocketAddr, path: &str) -> String {
    format!("http://{origin}{path}")
}

/// A reqwest client that always goes through `proxy` (and never through
/// whatever `http_proxy` the environment has).
pub fn reqwest_via(proxy: SocketAddr) -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::http(format!("http://{proxy}"))?)
        .timeout(FETCH_TIMEOUT)
        .build()?)
}

/// A reqwest client that never uses a proxy.
pub fn reqwest_direct() -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .build()?)
}

/// Fetches with a reqwest client: status and body.
pub fn reqwest_get(client: &reqwest::blocking::Client, url: &str) -> Result<(u16, Vec<u8>)> {
    let response = client.get(url).send()?;
    let status = response.status().as_u16();
    let body = response.bytes()?.to_vec();
    Ok((status, body))
}

/// The first offset where two byte strings differ, for failure messages.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}
