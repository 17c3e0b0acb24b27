//! The one log line per request (SPEC §3): client, method, URI, status,
//! bytes, duration and cache hit or miss. Filled in by both the blocking and
//! the async `doit` as the request goes along.

use std::net::SocketAddr;
use std::time::Instant;

use crate::error::ProxyError;
use crate::relay::{RelayEnd, Relayed};

/// Whether the cache answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// The cache is off, or the request never got that far.
    None,
    /// Served from the cache without contacting the origin.
    Hit,
    /// Fetched from the origin.
    Miss,
    /// The request may not use the shared cache (credentials, a range, a
    /// condition): fetched from the origin and not stored.
    Bypass,
}

impl CacheUse {
    fn as_str(self) -> &'static str {
        match self {
            CacheUse::None => "-",
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Bypass => "bypass",
        }
    }
}

/// What happened to one client connection.
#[derive(Debug)]
pub struct Outcome {
    started: Instant,
    /// The client's address (logged here only; never sent to the origin).
    pub client: Option<SocketAddr>,
    /// Request method, once parsed.
    pub method: String,
    /// Request URI, once parsed.
    pub uri: String,
    /// Status sent to the client.
    pub status: Option<u16>,
    /// Bytes sent to the client.
    pub bytes: u64,
    /// Cache hit or miss.
    pub cache: CacheUse,
    /// What went wrong, if anything.
    pub problem: Option<String>,
    /// For a tunnel: bytes from the client to the origin (`bytes` counts
    /// the other way).
    pub up: Option<u64>,
}

impl Outcome {
    /// Starts the clock for a new connection.
    pub fn new(client: Option<SocketAddr>) -> Outcome {
        Outcome {
            started: Instant::now(),
            client,
            method: "-".into(),
            uri: "-".into(),
            status: None,
            bytes: 0,
            cache: CacheUse::None,
            problem: None,
            up: None,
        }
    }

    /// Takes method and URI from the request line, for the log, before
    /// the request is checked (so a refused request is logged with them).
    pub fn request_line(&mut self, head: &[u8]) {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        if let (Some(method), Some(uri)) = (words.next(), words.next()) {
            self.method = method.chars().take(16).collect();
            self.uri = uri.chars().take(200).collect();
        }
    }

    /// Records an error and the page sent for it.
    pub fn error(&mut self, error: &ProxyError, page_len: Option<usize>) {
        self.status = error.status();
        self.bytes = page_len.unwrap_or(0) as u64;
        self.problem = Some(error.to_string());
    }

    /// Records a finished relay.
    pub fn relayed(&mut self, relayed: &Relayed) {
        self.status = relayed.status;
        self.bytes = relayed.bytes;
        if relayed.end != RelayEnd::Complete {
            let why = relayed
                .error
                .as_ref()
                .map(std::string::ToString::to_string)
                .unwrap_or_default();
            self.problem = Some(format!("{:?}: {why}", relayed.end));
        }
    }

    /// Records a tunnel that ran: what it moved each way, and why it ended
    /// if not because both sides closed. Never anything of its content.
    pub fn tunnelled(&mut self, moved: &crate::tunnel::Moved) {
        self.status = Some(200);
        self.bytes = moved.down;
        self.up = Some(moved.up);
        self.problem = moved.error.as_ref().map(|e| format!("tunnel ended: {e}"));
    }

    /// Writes the log line (nothing to format when info is off).
    pub fn log(&self) {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let client = self.client.map_or_else(|| "-".into(), |a| a.to_string());
        let status = self.status.map_or_else(|| "-".into(), |s| s.to_string());
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        if let Some(up) = self.up {
            // A tunnel: host:port (the "URI" of CONNECT), bytes each way.
            let problem = self.problem.as_deref().unwrap_or("closed");
            tracing::info!(
                "{client} CONNECT {} {status} up {up} down {} bytes {ms:.1} ms ({problem})",
                self.uri,
                self.bytes
            );
            return;
        }
        match &self.problem {
            None => tracing::info!(
                "{client} {} {} {status} {} bytes {ms:.1} ms cache={}",
                self.method,
                self.uri,
                self.bytes,
                self.cache.as_str()
            ),
            Some(problem) => tracing::info!(
                "{client} {} {} {status} {} bytes {ms:.1} ms cache={} ({problem})",
                self.method,
                self.uri,
                self.bytes,
                self.cache.as_str()
            ),
        }
    }
}
