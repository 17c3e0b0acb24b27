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
//! a [`Progress`] deadline moves forward with every byte read from the
//! origin or taken by the client. Every wait — for the origin to send, for
//! the client to take more — is bounded by what is left until that
//! deadline, and every system call that moves bytes is non-blocking, so no
//! call can wait past it. A client that reads slowly but steadily is never
//! cut; one that stops reading is cut after the timeout, not after several
//! (a blocking `send` or `splice` with `SO_SNDTIMEO` waits once per page,
//! and a tokio timeout around a whole `write_all` cuts a slow reader).
//! The blocking relay switches both sockets to non-blocking mode and waits
//! with `poll(2)`; the async one uses tokio's readiness.
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
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use crate::cache::Collector;
use crate::lazy::LazyStream;

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

/// The idle deadline of a relay: `idle` after the last byte that moved in
/// either direction.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    idle: Duration,
    deadline: Instant,
}

impl Progress {
    /// Starts the clock now.
    pub fn new(idle: Duration) -> Progress {
        Progress {
            idle,
            deadline: deadline_after(idle),
        }
    }

    /// Bytes moved: the deadline starts over.
    pub fn tick(&mut self) {
        self.deadline = deadline_after(self.idle);
    }

    /// How long a wait may still last, zero once the deadline has passed.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The deadline as a tokio instant.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.deadline)
    }

    /// How often a wait to write looks at the socket's send queue: a
    /// client that reads slowly frees room in the proxy's send buffer long
    /// before the kernel reports the socket writable again (it waits for a
    /// third of the buffer), so the queue shrinking is the client's
    /// progress.
    pub fn slice(&self) -> Duration {
        (self.idle / 4).max(Duration::from_millis(10))
    }

    /// Compares the send queue `now` with what it was: shrinking is
    /// progress.
    fn saw_queue(&mut self, queued: &mut Option<i32>, now: Option<i32>) {
        if let (Some(before), Some(now)) = (*queued, now)
            && now < before
        {
            self.tick();
        }
        *queued = now;
    }
}

/// `now + idle`, saturating far in the future instead of overflowing.
fn deadline_after(idle: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(idle)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// Waits (at most until the progress deadline) until `fd` is ready for
/// `flags`: `Err(TimedOut)` when the deadline passes first. While waiting
/// to write, the peer taking bytes out of the socket's send queue counts
/// as progress too (see [`Progress::slice`]).
fn wait(fd: &impl AsFd, flags: PollFlags, progress: &mut Progress) -> io::Result<PollFlags> {
    // The send queue matters only to a wait to write.
    let mut queued = if flags.contains(PollFlags::OUT) {
        unsent(fd)
    } else {
        None
    };
    loop {
        let left = progress.left();
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let slice = left.min(progress.slice());
        let timeout = Timespec::try_from(slice).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {
                if flags.contains(PollFlags::OUT) {
                    progress.saw_queue(&mut queued, unsent(fd));
                }
            }
            Ok(_) => return Ok(fds[0].revents()),
            Err(e) if e == rustix::io::Errno::INTR => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until `fd` is ready for `flags`, at most until `deadline`:
/// `Err(TimedOut)` when the deadline passes first. For the waits that have
/// a fixed deadline rather than an idle one (the request head, connecting).
pub fn wait_until(fd: &impl AsFd, flags: PollFlags, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let timeout = Timespec::try_from(left).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {}
            Ok(_) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INTR => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits (at most until the progress deadline) until a tokio socket is
/// writable, counting the peer's reading as progress like [`wait`].
async fn writable(stream: &tokio::net::TcpStream, progress: &mut Progress) -> io::Result<()> {
    let mut queued = unsent(stream);
    loop {
        let left = progress.left();
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let until = tokio::time::Instant::now() + left.min(progress.slice());
        match tokio::time::timeout_at(until, stream.writable()).await {
            Ok(ready) => return ready,
            Err(_) => progress.saw_queue(&mut queued, unsent(stream)),
        }
    }
}

/// Bytes in a socket's send queue that the peer has not acknowledged yet
/// (`SIOCOUTQ`), `None` where it cannot be read.
fn unsent(fd: &impl AsFd) -> Option<i32> {
    use rustix::ioctl::{Getter, Opcode, ioctl};
    // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) on a socket writes
    // one int, which is what this getter provides room for.
    unsafe {
        ioctl(
            fd,
            Getter::<{ libc::TIOCOUTQ as Opcode }, libc::c_int>::new(),
        )
    }
    .ok()
}

/// Reads once from the origin: waits first (bounded by `progress`), since
/// right after the request, or after the last chunk, the next bytes are
/// rarely there yet and a `read` would only say `EAGAIN`. Also says
/// whether `poll` reported the origin's FIN (`POLLRDHUP`, Linux) with
/// that readiness: everything the origin sent is then in the receive
/// queue, so a read that left room in `buf` emptied it and the `read` that
/// would return 0 can be skipped (the async relay does the same).
fn read_origin_blocking(
    origin: &mut TcpStream,
    buf: &mut [u8],
    progress: &mut Progress,
) -> io::Result<(usize, bool)> {
    #[cfg(target_os = "linux")]
    let flags = PollFlags::IN | PollFlags::RDHUP;
    #[cfg(not(target_os = "linux"))]
    let flags = PollFlags::IN;
    loop {
        let revents = wait(origin, flags, progress)?;
        match origin.read(buf) {
            Ok(n) => return Ok((n, n < buf.len() && fin_seen(revents))),
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// `true` when `poll` reported the peer's FIN.
fn fin_seen(revents: PollFlags) -> bool {
    #[cfg(target_os = "linux")]
    return revents.intersects(PollFlags::RDHUP | PollFlags::HUP);
    #[cfg(not(target_os = "linux"))]
    return revents.contains(PollFlags::HUP);
}

/// Writes all of `buf` to a non-blocking socket, waiting (bounded by
/// `progress`) while it is full; every partial write is progress.
/// `like_c` writes with plain `write(2)` and, after a failed write, writes
/// once more as a C loop that ignores the error would (see
/// [`crate::sigpipe`]).
fn write_all_progress(
    stream: &mut TcpStream,
    mut buf: &[u8],
    progress: &mut Progress,
    like_c: bool,
) -> io::Result<()> {
    while !buf.is_empty() {
        let written = if like_c {
            crate::sigpipe::write_like_c(stream, buf)
        } else {
            stream.write(buf)
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                progress.tick();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(stream, PollFlags::OUT, progress)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `bytes` to a non-blocking socket (a cache hit, an error
/// page), failing when no byte moves for `idle` — the same meaning of the
/// idle timeout as in [`relay`]. The blocking variants keep their sockets
/// non-blocking from `accept` (or `connect`) to `close` and wait with
/// `poll(2)` only when a call would block: no switching modes per call.
pub fn send_all(stream: &mut TcpStream, bytes: &[u8], idle: Duration) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    write_all_progress(stream, bytes, &mut progress, false)
}

/// The async twin of [`send_all`], on a [`LazyStream`]: written at once
/// where the socket has room, registered with the event loop and waited
/// for (bounded like [`send_all`]) only when it is full.
pub async fn send_all_async(
    stream: &mut LazyStream,
    mut bytes: &[u8],
    idle: Duration,
) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    while !bytes.is_empty() {
        match stream.try_write(bytes, false) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                progress.tick();
            }
            Err(e) if is_retry(&e) => writable(stream.registered()?, &mut progress).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `WouldBlock` or `Interrupted`: try again after the next wait.
fn is_retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Copies the origin's response to the client until the origin closes, or
/// until no byte has moved in either direction for `idle`. Both sockets
/// are non-blocking (see [`send_all`]); waits are `poll(2)`.
///
/// `like_c` writes to the client with plain `write(2)` (see
/// [`crate::sigpipe`]), for `--sigpipe default`.
pub fn relay(
    origin: &mut TcpStream,
    client: &mut TcpStream,
    collector: &mut Option<Collector>,
    idle: Duration,
    like_c: bool,
) -> Relayed {
    let mut done = Relayed::new();
    let mut progress = Progress::new(idle);
    // Most responses fit here: served without allocating the big buffer.
    let mut small = [0u8; FIRST_READ];
    let mut big = Vec::new();
    // `--sigpipe default` must write with write(2), like C.
    let mut try_splice = !like_c;
    loop {
        let is_big = done.bytes >= FIRST_READ as u64;
        if try_splice && is_big && !collecting(collector) {
            #[cfg(target_os = "linux")]
            if splice::relay_rest(origin, client, &mut done, &mut progress) {
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
        if let Err(e) = write_all_progress(client, &buf[..n], &mut progress, like_c) {
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
    like_c: bool,
) -> Relayed {
    // Capacity, not length: `try_read_buf` fills spare capacity without
    // the buffer ever being zeroed. It starts small (most responses fit,
    // and big ones move to splice past FIRST_READ) and grows only for a big
    // response that is copied: the cache collecting it, or not Linux.
    let mut buf = Vec::with_capacity(FIRST_READ);
    let mut done = Relayed::new();
    let mut progress = Progress::new(idle);
    let mut try_splice = !like_c;
    loop {
        if try_splice && done.bytes >= FIRST_READ as u64 && !collecting(collector) {
            #[cfg(target_os = "linux")]
            if let (Ok(from), Ok(to)) = (origin.registered(), client.registered())
                && splice::relay_rest_async(from, to, &mut done, &mut progress).await
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
            let waited = match client.try_write(rest, like_c) {
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

/// The Linux fast path for the rest of a big response: origin → pipe →
/// client with `splice(2)`, so the bytes stay in the kernel instead of
/// being copied into the process and out again. Used only when nothing
/// needs to see the bytes (see the module docs); each function returns
/// `false`, having moved nothing, when splicing is not possible (no pipe,
/// or a socket that does not support it), and the caller goes on with its
/// copy loop. Every splice is non-blocking and every wait bounded by the
/// relay's [`Progress`] deadline.
#[cfg(target_os = "linux")]
mod splice {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::{AsFd, OwnedFd};

    use rustix::event::PollFlags;
    use rustix::pipe::{PipeFlags, SpliceFlags};
    use tokio::io::Interest;

    use super::{Progress, RelayEnd, Relayed, wait, writable};
    use crate::limits::SPLICE_PIPE;

    /// A pipe between the two sockets; both ends close when dropped.
    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Pipe {
        fn new() -> Option<Pipe> {
            let (read, write) =
                rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).ok()?;
            // Pipe pages are kernel memory no RSS shows: ask for exactly
            // SPLICE_PIPE (the Linux default is the same 64 KiB, but a
            // system may change it); if refused, the default still works.
            let _ = rustix::pipe::fcntl_setpipe_size(&write, SPLICE_PIPE);
            Some(Pipe { read, write })
        }
    }

    /// One non-blocking `splice(2)` of at most `len` bytes.
    fn splice(from: impl AsFd, to: impl AsFd, len: usize) -> io::Result<usize> {
        rustix::pipe::splice(
            from,
            None,
            to,
            None,
            len,
            SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
        )
        .map_err(io::Error::from)
    }

    /// The errors that mean "these descriptors cannot be spliced".
    fn unsupported(error: &io::Error) -> bool {
        matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
    }

    /// Non-blocking sockets (see [`super::relay`]): relays until the
    /// origin closes or nothing moves for the idle timeout.
    pub(super) fn relay_rest(
        origin: &TcpStream,
        client: &TcpStream,
        done: &mut Relayed,
        progress: &mut Progress,
    ) -> bool {
        let Some(pipe) = Pipe::new() else {
            return false;
        };
        let mut first = true;
        loop {
            let n = match splice(origin, &pipe.write, SPLICE_PIPE) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = wait(origin, PollFlags::IN, progress) {
                        done.fail(RelayEnd::OriginFailed, e);
                        return true;
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if first && unsupported(&e) => return false,
                Err(e) => {
                    done.fail(RelayEnd::OriginFailed, e);
                    return true;
                }
            };
            first = false;
            progress.tick();
            let mut left = n;
            while left > 0 {
                match splice(&pipe.read, client, left) {
                    Ok(0) => {
                        done.fail(RelayEnd::ClientGone, io::ErrorKind::WriteZero.into());
                        return true;
                    }
                    Ok(m) => {
                        left -= m;
                        done.bytes += m as u64;
                        progress.tick();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = wait(client, PollFlags::OUT, progress) {
                            done.fail(RelayEnd::ClientGone, e);
                            return true;
                        }
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

    /// Waits (at most until the progress deadline) until tokio reports
    /// `stream` ready.
    async fn ready(
        stream: &tokio::net::TcpStream,
        interest: Interest,
        progress: &Progress,
    ) -> io::Result<()> {
        match tokio::time::timeout_at(progress.deadline(), stream.ready(interest)).await {
            Ok(ready) => ready.map(drop),
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Tokio sockets: the same loop, waiting for readiness between
    /// non-blocking splices.
    pub(super) async fn relay_rest_async(
        origin: &tokio::net::TcpStream,
        client: &tokio::net::TcpStream,
        done: &mut Relayed,
        progress: &mut Progress,
    ) -> bool {
        let Some(pipe) = Pipe::new() else {
            return false;
        };
        let mut first = true;
        loop {
            if let Err(e) = ready(origin, Interest::READABLE, progress).await {
                done.fail(RelayEnd::OriginFailed, e);
                return true;
            }
            let n = match origin.try_io(Interest::READABLE, || {
                splice(origin, &pipe.write, SPLICE_PIPE)
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
            progress.tick();
            let mut left = n;
            while left > 0 {
                if let Err(e) = writable(client, progress).await {
                    done.fail(RelayEnd::ClientGone, e);
                    return true;
                }
                match client.try_io(Interest::WRITABLE, || splice(&pipe.read, client, left)) {
                    Ok(0) => {
                        done.fail(RelayEnd::ClientGone, io::ErrorKind::WriteZero.into());
                        return true;
                    }
                    Ok(m) => {
                        left -= m;
                        done.bytes += m as u64;
                        progress.tick();
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
                            let mut o = LazyStream::new(origin);
                            let mut c = LazyStream::new(client);
                            let idle = std::time::Duration::from_secs(10);
                            let writer_done = tokio::task::spawn_blocking(move || writer.join());
                            let relayed =
                                relay_async(&mut o, &mut c, &mut collector, idle, false).await;
                            let _ = writer_done.await;
                            relayed
                        })
                    } else {
                        let idle = std::time::Duration::from_secs(10);
                        origin.set_nonblocking(true).expect("nonblocking");
                        client.set_nonblocking(true).expect("nonblocking");
                        let relayed = relay(&mut origin, &mut client, &mut collector, idle, false);
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
