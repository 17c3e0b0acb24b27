//! Relaying the origin's response to the client: the lab's
//! `while ((n = Rio_readnb(...)) > 0) Rio_writen(connfd, buf, n)` loop.
//!
//! Bytes are copied as they arrive, never buffering a whole response; on
//! the way they are handed to a cache [`Collector`] that keeps at most
//! `--max-object` bytes. A silent origin or client is dropped after the
//! idle timeout. A client that hangs up (`EPIPE`, `ECONNRESET`) only ends
//! this relay; with SIGPIPE at its C default the first such write kills the
//! process instead, which is the lab's crash.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cache::Collector;

/// Bytes moved per read. 64 KiB cuts system calls several-fold against the
/// usual 8 KiB for large bodies.
pub const RELAY_BUF: usize = 64 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// The origin closed the connection: the response is complete.
    Complete,
    /// The origin failed or stayed silent past the idle timeout.
    OriginFailed,
    /// The client hung up or stopped reading.
    ClientGone,
}

/// What the relay did, for the log and the cache.
#[derive(Debug)]
pub struct Relayed {
    /// Bytes written to the client.
    pub bytes: u64,
    /// The status code from the response's first line, if it had one.
    pub status: Option<u16>,
    /// How it ended.
    pub end: RelayEnd,
    /// The first error seen, for the log.
    pub error: Option<io::Error>,
}

impl Relayed {
    fn new() -> Relayed {
        Relayed {
            bytes: 0,
            status: None,
            end: RelayEnd::Complete,
            error: None,
        }
    }

    fn record(&mut self, chunk: &[u8], collector: &mut Option<Collector>) {
        if self.bytes == 0 {
            self.status = status_of(chunk);
        }
        self.bytes += chunk.len() as u64;
        if let Some(c) = collector.as_mut() {
            c.push(chunk);
        }
    }

    fn fail(&mut self, end: RelayEnd, error: io::Error) {
        self.end = end;
        self.error = Some(error);
    }
}

/// The status code in a response's first bytes (`HTTP/1.x NNN`).
pub fn status_of(start: &[u8]) -> Option<u16> {
    let rest = start.strip_prefix(b"HTTP/")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let code = rest.get(space + 1..space + 4)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Copies the origin's response to the client until the origin closes.
/// The caller has set read and write timeouts on both sockets.
///
/// `like_c` writes to the client with plain `write(2)` (see
/// [`crate::sigpipe`]), for `--sigpipe default`.
pub fn relay(
    origin: &mut TcpStream,
    client: &mut TcpStream,
    collector: &mut Option<Collector>,
    like_c: bool,
) -> Relayed {
    let mut buf = vec![0u8; RELAY_BUF];
    let mut done = Relayed::new();
    loop {
        let n = match origin.read(&mut buf) {
            Ok(0) => return done,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                done.fail(RelayEnd::OriginFailed, e);
                return done;
            }
        };
        let written = if like_c {
            crate::sigpipe::write_all_like_c(client, &buf[..n])
        } else {
            client.write_all(&buf[..n])
        };
        if let Err(e) = written {
            done.fail(RelayEnd::ClientGone, e);
            return done;
        }
        done.record(&buf[..n], collector);
    }
}

/// The async twin of [`relay`]: the same loop with tokio's reads and
/// writes, each bounded by the idle timeout.
pub async fn relay_async(
    origin: &mut tokio::net::TcpStream,
    client: &mut tokio::net::TcpStream,
    collector: &mut Option<Collector>,
    idle: std::time::Duration,
    like_c: bool,
) -> Relayed {
    let mut buf = vec![0u8; RELAY_BUF];
    let mut done = Relayed::new();
    loop {
        let n = match tokio::time::timeout(idle, origin.read(&mut buf)).await {
            Ok(Ok(0)) => return done,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                done.fail(RelayEnd::OriginFailed, e);
                return done;
            }
            Err(_) => {
                done.fail(RelayEnd::OriginFailed, io::ErrorKind::TimedOut.into());
                return done;
            }
        };
        let chunk = &buf[..n];
        let write = async {
            if like_c {
                crate::sigpipe::write_all_like_c_async(client, chunk).await
            } else {
                client.write_all(chunk).await
            }
        };
        match tokio::time::timeout(idle, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                done.fail(RelayEnd::ClientGone, e);
                return done;
            }
            Err(_) => {
                done.fail(RelayEnd::ClientGone, io::ErrorKind::TimedOut.into());
                return done;
            }
        }
        done.record(&buf[..n], collector);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_code() {
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(status_of(b"HTTP/1.1 40"), None);
        assert_eq!(status_of(b"garbage"), None);
    }
}
