//! Relaying the origin's response to the client: the lab's
//! `while ((n = Rio_readnb(...)) > 0) Rio_writen(connfd, buf, n)` loop.
//!
//! Bytes are copied as they arrive, never buffering a whole response; on
//! the way they are handed to a cache [`Collector`] that keeps at most
//! `--max-object` bytes. A silent origin or client is dropped after the
//! idle timeout. A client that hangs up (`EPIPE`, `ECONNRESET`) only ends
//! this relay; with SIGPIPE at its C default the first such write kills the
//! process instead, which is the lab's crash.
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
//! - **`splice(2)` for big bodies on Linux** (the private `splice`
//!   module). Once a response is past [`FIRST_READ`] bytes and no cache
//!   [`Collector`] is still collecting it (cache off, or the response
//!   outgrew `--max-object`),
//!   the rest moves origin → pipe → client inside the kernel, without
//!   being copied into the process and out again. Small responses keep the
//!   plain loop: the pipe's own system calls would cost more than they
//!   save. Other systems, the cache-collecting part of a response and
//!   `--sigpipe default` (which must write with `write(2)` like C) use the
//!   plain copy loop, which stays the portable reference.

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

/// A response is "big" once this many bytes have been relayed: the blocking
/// relay moves to its 64 KiB buffer, and on Linux both relays switch to
/// `splice(2)` when nothing is collecting the response for the cache.
pub const FIRST_READ: usize = 16 * 1024;

/// `true` while a collector still wants the bytes (the splice path would
/// hide them from it).
fn collecting(collector: &Option<Collector>) -> bool {
    collector.as_ref().is_some_and(|c| !c.overflowed())
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
    let mut done = Relayed::new();
    // Most responses fit here: served without allocating the big buffer.
    let mut small = [0u8; FIRST_READ];
    let mut big = Vec::new();
    // `--sigpipe default` must write with write(2), like C.
    let mut try_splice = !like_c;
    loop {
        let is_big = done.bytes >= FIRST_READ as u64;
        if try_splice && is_big && !collecting(collector) {
            #[cfg(target_os = "linux")]
            if splice::relay_rest(origin, client, &mut done) {
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
        let n = match origin.read(buf) {
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
    // Capacity, not length: `read_buf` fills spare capacity without the
    // buffer ever being zeroed. It starts small (most responses fit, and
    // big ones move to splice past FIRST_READ) and grows only for a big
    // response that is copied: the cache collecting it, or not Linux.
    let mut buf = Vec::with_capacity(FIRST_READ);
    let mut done = Relayed::new();
    let mut try_splice = !like_c;
    loop {
        if try_splice && done.bytes >= FIRST_READ as u64 && !collecting(collector) {
            #[cfg(target_os = "linux")]
            if splice::relay_rest_async(origin, client, &mut done, idle).await {
                return done;
            }
            try_splice = false;
        }
        buf.clear();
        if done.bytes >= FIRST_READ as u64 && buf.capacity() < RELAY_BUF {
            buf.reserve_exact(RELAY_BUF);
        }
        match tokio::time::timeout(idle, origin.read_buf(&mut buf)).await {
            Ok(Ok(0)) => return done,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                done.fail(RelayEnd::OriginFailed, e);
                return done;
            }
            Err(_) => {
                done.fail(RelayEnd::OriginFailed, io::ErrorKind::TimedOut.into());
                return done;
            }
        };
        let chunk = &buf[..];
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
        done.record(chunk, collector);
    }
}

/// The Linux fast path for the rest of a big response: origin → pipe →
/// client with `splice(2)`, so the bytes stay in the kernel instead of
/// being copied into the process and out again. Used only when nothing
/// needs to see the bytes (see the module docs); each function returns
/// `false`, having moved nothing, when splicing is not possible (no pipe,
/// or a socket that does not support it), and the caller goes on with its
/// copy loop.
#[cfg(target_os = "linux")]
mod splice {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use tokio::io::Interest;

    use super::{RelayEnd, Relayed};

    /// The pipe size asked for, and the most one splice moves.
    const SPLICE_PIPE: usize = 1 << 20;

    /// A pipe between the two sockets; both ends close when dropped.
    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Pipe {
        fn new(nonblocking: bool) -> Option<Pipe> {
            let mut fds: [RawFd; 2] = [-1, -1];
            let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
            // SAFETY: pipe2 writes two new descriptors into the array.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
                return None;
            }
            // SAFETY: both descriptors were just created and nothing else owns them.
            let (read, write) =
                unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // A bigger pipe moves more per splice; if the system refuses
            // (pipe-max-size), the default 64 KiB still works.
            // SAFETY: fcntl on a descriptor we own; no memory is passed.
            unsafe {
                libc::fcntl(
                    write.as_raw_fd(),
                    libc::F_SETPIPE_SZ,
                    SPLICE_PIPE as libc::c_int,
                );
            }
            Some(Pipe { read, write })
        }
    }

    /// One `splice(2)` of at most `len` bytes from `from` to `to`.
    fn splice(from: RawFd, to: RawFd, len: usize, nonblocking: bool) -> io::Result<usize> {
        let flags = libc::SPLICE_F_MOVE
            | if nonblocking {
                libc::SPLICE_F_NONBLOCK
            } else {
                0
            };
        // SAFETY: no memory is passed (null offsets: both are a socket or a
        // pipe); the descriptors are open for the duration of the call.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                flags,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// The errors that mean "these descriptors cannot be spliced".
    fn unsupported(error: &io::Error) -> bool {
        matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
    }

    /// Blocking sockets: relays until the origin closes. The sockets'
    /// read and write timeouts apply to `splice` as to `read`/`write`.
    pub(super) fn relay_rest(origin: &TcpStream, client: &TcpStream, done: &mut Relayed) -> bool {
        let Some(pipe) = Pipe::new(false) else {
            return false;
        };
        let (from, to) = (origin.as_raw_fd(), client.as_raw_fd());
        let mut first = true;
        loop {
            let n = match splice(from, pipe.write.as_raw_fd(), SPLICE_PIPE, false) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if first && unsupported(&e) => return false,
                Err(e) => {
                    done.fail(RelayEnd::OriginFailed, e);
                    return true;
                }
            };
            first = false;
            let mut left = n;
            while left > 0 {
                match splice(pipe.read.as_raw_fd(), to, left, false) {
                    Ok(0) => {
                        done.fail(RelayEnd::ClientGone, io::ErrorKind::WriteZero.into());
                        return true;
                    }
                    Ok(m) => {
                        left -= m;
                        done.bytes += m as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        done.fail(RelayEnd::ClientGone, e);
                        return true;
                    }
                }
            }
        }
    }

    /// Waits (at most `idle`) until tokio reports `stream` ready.
    async fn ready(
        stream: &tokio::net::TcpStream,
        interest: Interest,
        idle: Duration,
    ) -> io::Result<()> {
        match tokio::time::timeout(idle, stream.ready(interest)).await {
            Ok(ready) => ready.map(drop),
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Tokio sockets: the same loop, waiting for readiness between
    /// non-blocking splices, each wait bounded by the idle timeout.
    pub(super) async fn relay_rest_async(
        origin: &tokio::net::TcpStream,
        client: &tokio::net::TcpStream,
        done: &mut Relayed,
        idle: Duration,
    ) -> bool {
        let Some(pipe) = Pipe::new(true) else {
            return false;
        };
        let (from, to) = (origin.as_raw_fd(), client.as_raw_fd());
        let (pipe_in, pipe_out) = (pipe.write.as_raw_fd(), pipe.read.as_raw_fd());
        let mut first = true;
        loop {
            if let Err(e) = ready(origin, Interest::READABLE, idle).await {
                done.fail(RelayEnd::OriginFailed, e);
                return true;
            }
            let n = match origin.try_io(Interest::READABLE, || {
                splice(from, pipe_in, SPLICE_PIPE, true)
            }) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) if first && unsupported(&e) => return false,
                Err(e) => {
                    done.fail(RelayEnd::OriginFailed, e);
                    return true;
                }
            };
            first = false;
            let mut left = n;
            while left > 0 {
                if let Err(e) = ready(client, Interest::WRITABLE, idle).await {
                    done.fail(RelayEnd::ClientGone, e);
                    return true;
                }
                match client.try_io(Interest::WRITABLE, || splice(pipe_out, to, left, true)) {
                    Ok(0) => {
                        done.fail(RelayEnd::ClientGone, io::ErrorKind::WriteZero.into());
                        return true;
                    }
                    Ok(m) => {
                        left -= m;
                        done.bytes += m as u64;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        done.fail(RelayEnd::ClientGone, e);
                        return true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::TcpListener;

    /// A response of `len` bytes: a status line, then a counting pattern.
    fn response(len: usize) -> Vec<u8> {
        let mut bytes = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        bytes.extend((0..len).map(|i| (i % 251) as u8));
        bytes
    }

    /// Connected (origin-side, client-side) socket pairs on loopback: the
    /// relay reads from `origin.1` and writes to `client.0`.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let near = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (far, _) = listener.accept().expect("accept");
        (near, far)
    }

    /// Relays `body` bytes with and without a collector, blocking and
    /// async, and checks the client got every byte in order (the copy
    /// loop, the switch past FIRST_READ and splice all take part).
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
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime");
                        runtime.block_on(async {
                            origin.set_nonblocking(true).expect("nonblocking");
                            client.set_nonblocking(true).expect("nonblocking");
                            let mut o = tokio::net::TcpStream::from_std(origin).expect("o");
                            let mut c = tokio::net::TcpStream::from_std(client).expect("c");
                            let idle = std::time::Duration::from_secs(10);
                            let writer_done = tokio::task::spawn_blocking(move || writer.join());
                            let relayed =
                                relay_async(&mut o, &mut c, &mut collector, idle, false).await;
                            let _ = writer_done.await;
                            relayed
                        })
                    } else {
                        let relayed = relay(&mut origin, &mut client, &mut collector, false);
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
