//! Relaying the origin's response to the client: the lab's
//! `while ((n = Rio_readnb(...)) > 0) Rio_writen(connfd, buf, n)` loop.
//!
//! Bytes are copied as they arrive, never buffering a whole response; on
//! the way they are handed to a cache [`Collector`] that keeps at most
//! `--max-object` bytes. A client that hangs up (`EPIPE`, `ECONNRESET`)
//! only ends this relay; with SIGPIPE at its C default the relay writes
//! again after a failed write, like a C loop that ignores `rio_writen`'s
//! error, and that write kills the process — the lab's crash.
//!
//! # One idle timeout for every variant (SPEC §6, issue #14 item 11)
//!
//! `--idle-timeout` means "no progress in either direction for that long":
//! a `Progress` deadline moves forward with every byte read from the
//! origin or taken by the client. Every wait — for the origin to send, for
//! the client to take more — is bounded by what is left until that
//! deadline, and every system call that moves bytes is non-blocking, so no
//! call can wait past it. A client that reads slowly but steadily is never
//! cut; one that stops reading is cut after the timeout, not after several
//! (a blocking `send` or `splice` with `SO_SNDTIMEO` waits once per page,
//! and a tokio timeout around a whole `write_all` cuts a slow reader).
//! The blocking variants keep their sockets non-blocking from `accept` to
//! `close` and wait with `poll(2)`; the async one uses tokio's readiness,
//! on sockets registered with the event loop only once they had to wait
//! (see [`crate::lazy`]).
//!
//! # Why the relay looks the way it does (measured with `harness bench`)
//!
//! - **No zeroed 64 KiB buffer per request.** Profiles of 1 KiB responses
//!   showed a sixth of the proxy's time in `memset` and the page faults it
//!   caused on a freshly allocated `vec![0; 64 KiB]`. The blocking relay
//!   first reads into a small stack buffer and allocates the big one only
//!   for a response that outgrows it; the async relay reads into a
//!   `Vec`'s spare capacity (`read_buf`), which needs no zeroing, so only
//!   the pages a response actually uses are touched.
//! - **`splice(2)` for big bodies on Linux** (the private `kernel`
//!   module). Once a response is past `FIRST_READ` bytes and no cache
//!   [`Collector`] is still collecting it (cache off, or the response
//!   outgrew `--max-object`),
//!   the rest moves origin → pipe → client inside the kernel, without
//!   being copied into the process and out again. Small responses keep the
//!   plain loop: the pipe's own system calls would cost more than they
//!   save. Other systems, the cache-collecting part of a response and
//!   `--sigpipe default` (which must write with `write(2)` like C) use the
//!   plain copy loop, which stays the portable reference.

mod kernel;
mod progress;

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use crate::cache::Collector;
use crate::lazy::LazyStream;
use crate::sigpipe::ClientWrites;

pub(crate) use progress::{Progress, send_all, send_all_async, wait_until};
use progress::{is_retry, read_origin_blocking, writable, write_all_progress};

/// Bytes moved per read. 64 KiB cuts system calls several-fold against the
/// usual 8 KiB for large bodies.
pub(crate) const RELAY_BUF: usize = 64 * 1024;

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

/// A response is "big" once this many bytes have been relayed: the blocking
/// relay moves to its 64 KiB buffer, and on Linux both relays switch to
/// `splice(2)` when nothing is collecting the response for the cache.
pub(crate) const FIRST_READ: usize = 16 * 1024;

/// `true` while a collector still wants the bytes (the splice path would
/// hide them from it).
fn collecting(collector: Option<&Collector>) -> bool {
    collector.is_some_and(|c| !c.overflowed())
}

/// Copies the origin's response to the client until the origin closes, or
/// until no byte has moved in either direction for `idle`. Both sockets
/// are non-blocking (see `send_all`); waits are `poll(2)`.
///
/// `writes` says how to write to the client: [`ClientWrites::LikeC`]
/// (plain `write(2)`, see [`crate::sigpipe`]) for `--sigpipe default`.
pub fn relay(
    origin: &mut TcpStream,
    client: &mut TcpStream,
    collector: &mut Option<Collector>,
    idle: Duration,
    writes: ClientWrites,
) -> Relayed {
    let mut done = Relayed::new();
    let mut progress = Progress::new(idle);
    // Most responses fit here: served without allocating the big buffer.
    let mut small = [0u8; FIRST_READ];
    let mut big = Vec::new();
    // `--sigpipe default` must write with write(2), like C.
    let mut try_splice = writes == ClientWrites::NoSignal;
    loop {
        let is_big = done.bytes >= FIRST_READ as u64;
        if try_splice && is_big && !collecting(collector.as_ref()) {
            #[cfg(target_os = "linux")]
            if kernel::relay_rest(origin, client, &mut done, &mut progress) {
                return done;
            }
            try_splice = false;
        }
        let buf: &mut [u8] = if is_big {
            if big.is_empty() {
                big = vec![0u8; RELAY_BUF];
            }
            &mut big
        } else {
            &mut small
        };
        let (n, last) = match read_origin_blocking(origin, buf, &mut progress) {
            Ok((0, _)) => return done,
            Ok(read) => read,
            Err(e) => {
                done.fail(RelayEnd::OriginFailed, e);
                return done;
            }
        };
        progress.tick();
        if let Err(e) = write_all_progress(client, &buf[..n], &mut progress, writes) {
            done.fail(RelayEnd::ClientGone, e);
            return done;
        }
        done.record(&buf[..n], collector);
        if last {
            return done;
        }
    }
}

/// The async twin of [`relay`]: the same loop with tokio's reads and
/// writes, each wait bounded by the progress deadline. The client is
/// written at once while its socket has room (see [`LazyStream`]); the
/// origin is read when epoll reports it readable, and when epoll also
/// reported the origin's FIN (`EPOLLRDHUP`, as nginx uses it), a read that
/// did not fill the buffer has taken the last bytes: the `read` that would
/// only return 0 is skipped.
pub async fn relay_async(
    origin: &mut LazyStream,
    client: &mut LazyStream,
    collector: &mut Option<Collector>,
    idle: Duration,
    writes: ClientWrites,
) -> Relayed {
    // Capacity, not length: `try_read_buf` fills spare capacity without
    // the buffer ever being zeroed. It starts small (most responses fit,
    // and big ones move to splice past FIRST_READ) and grows only for a big
    // response that is copied: the cache collecting it, or not Linux.
    let mut buf = Vec::with_capacity(FIRST_READ);
    let mut done = Relayed::new();
    let mut progress = Progress::new(idle);
    let mut try_splice = writes == ClientWrites::NoSignal;
    loop {
        if try_splice && done.bytes >= FIRST_READ as u64 && !collecting(collector.as_ref()) {
            #[cfg(target_os = "linux")]
            if let (Ok(from), Ok(to)) = (origin.registered(), client.registered())
                && kernel::relay_rest_async(from, to, &mut done, &mut progress).await
            {
                return done;
            }
            try_splice = false;
        }
        buf.clear();
        if done.bytes >= FIRST_READ as u64 && buf.capacity() < RELAY_BUF {
            buf.reserve_exact(RELAY_BUF);
        }
        let last = match read_origin(origin, &mut buf, &progress).await {
            Ok((0, _)) => return done,
            Ok((_, fin)) => {
                progress.tick();
                fin && buf.len() < buf.capacity()
            }
            Err(e) => {
                done.fail(RelayEnd::OriginFailed, e);
                return done;
            }
        };
        let mut rest = &buf[..];
        while !rest.is_empty() {
            let waited = match client.try_write(rest, writes) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    rest = &rest[n..];
                    progress.tick();
                    Ok(())
                }
                Err(e) if is_retry(&e) => match client.registered() {
                    Ok(stream) => writable(stream, &mut progress).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = waited {
                done.fail(RelayEnd::ClientGone, e);
                return done;
            }
        }
        done.record(&buf, collector);
        if last {
            return done;
        }
    }
}

/// One read from the origin into `buf`'s spare capacity, waiting (until
/// the progress deadline) for epoll to report it readable. Also says
/// whether epoll had reported the origin's FIN (`EPOLLRDHUP`) with that
/// readiness: everything the origin sent is then in the socket's receive
/// queue, so a read that left room in the buffer has emptied it.
async fn read_origin(
    origin: &mut LazyStream,
    buf: &mut Vec<u8>,
    progress: &Progress,
) -> io::Result<(usize, bool)> {
    let stream = origin.registered()?;
    let read = async {
        loop {
            let ready = stream.ready(tokio::io::Interest::READABLE).await?;
            match stream.try_read_buf(buf) {
                Ok(n) => return Ok((n, ready.is_read_closed())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    };
    match tokio::time::timeout_at(progress.deadline(), read).await {
        Ok(result) => result,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};

    /// A response of `len` bytes: a status line, then a counting pattern.
    fn response(len: usize) -> Vec<u8> {
        let mut bytes = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        bytes.extend((0..251u8).cycle().take(len));
        bytes
    }

    use crate::test_support::{on_tokio, pair};

    /// Relays `body` bytes with and without a collector, blocking and
    /// async, and checks the client got every byte in order (the copy
    /// loop, the switch past `FIRST_READ` and splice all take part).
    #[test]
    fn relays_every_byte_on_every_path() {
        for len in [10, FIRST_READ - 19, FIRST_READ + 1, 300_000, 3 << 20] {
            for limit in [None, Some(100_000)] {
                let expected = response(len);
                for asynchronous in [false, true] {
                    let (mut server, mut origin) = pair();
                    let (mut client, mut reader) = pair();
                    let sent = expected.clone();
                    let writer = std::thread::spawn(move || {
                        let _ = server.write_all(&sent);
                    });
                    let receiver = std::thread::spawn(move || {
                        let mut got = Vec::new();
                        let _ = reader.read_to_end(&mut got);
                        got
                    });
                    let mut collector = limit.map(Collector::new);
                    let relayed = if asynchronous {
                        on_tokio(origin, client, async |o, c| {
                            let idle = std::time::Duration::from_secs(10);
                            let writer_done = tokio::task::spawn_blocking(move || writer.join());
                            let relayed =
                                relay_async(o, c, &mut collector, idle, ClientWrites::NoSignal)
                                    .await;
                            let _ = writer_done.await;
                            relayed
                        })
                    } else {
                        let idle = std::time::Duration::from_secs(10);
                        origin.set_nonblocking(true).expect("nonblocking");
                        client.set_nonblocking(true).expect("nonblocking");
                        let relayed = relay(
                            &mut origin,
                            &mut client,
                            &mut collector,
                            idle,
                            ClientWrites::NoSignal,
                        );
                        let _ = writer.join();
                        drop(client);
                        relayed
                    };
                    let got = receiver.join().expect("receiver");
                    assert_eq!(relayed.end, RelayEnd::Complete, "len {len}");
                    assert_eq!(relayed.bytes, expected.len() as u64, "len {len}");
                    assert_eq!(relayed.status, Some(200));
                    assert!(
                        got == expected,
                        "len {len} async {asynchronous}: bytes differ"
                    );
                    let kept = collector.and_then(Collector::finish);
                    match limit {
                        Some(max) if expected.len() <= max => {
                            assert_eq!(kept.as_deref(), Some(&expected[..]));
                        }
                        _ => assert!(kept.is_none()),
                    }
                }
            }
        }
    }

    #[test]
    fn reads_the_status_code() {
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(status_of(b"HTTP/1.1 40"), None);
        assert_eq!(status_of(b"garbage"), None);
    }
}
