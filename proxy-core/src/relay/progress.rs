//! The relay's idle deadline and the bounded waits and writes built on
//! it: every read, write and wait of a relay, a cache hit or the request
//! to the origin gives up once no byte has moved in either direction for
//! `--idle-timeout` (SPEC §6; see the [`crate::relay`] docs).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::kernel::unsent;
use crate::lazy::LazyStream;
use crate::sigpipe::ClientWrites;

/// The idle deadline of a relay: `idle` after the last byte that moved in
/// either direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
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
        .unwrap_or_else(|| now + Duration::from_hours(8760))
}

/// Waits (at most until the progress deadline) until `fd` is ready for
/// `flags`: `Err(TimedOut)` when the deadline passes first. While waiting
/// to write, the peer taking bytes out of the socket's send queue counts
/// as progress too (see [`Progress::slice`]).
pub(super) fn wait(
    fd: &impl AsFd,
    flags: PollFlags,
    progress: &mut Progress,
) -> io::Result<PollFlags> {
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
pub(crate) fn wait_until(fd: &impl AsFd, flags: PollFlags, deadline: Instant) -> io::Result<()> {
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
pub(super) async fn writable(
    stream: &tokio::net::TcpStream,
    progress: &mut Progress,
) -> io::Result<()> {
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

/// Reads once from the origin: waits first (bounded by `progress`), since
/// right after the request, or after the last chunk, the next bytes are
/// rarely there yet and a `read` would only say `EAGAIN`. Also says
/// whether `poll` reported the origin's FIN (`POLLRDHUP`, Linux) with that
/// readiness: everything the origin sent is then in the receive queue, so
/// a read that left room in `buf` emptied it and the `read` that would
/// return 0 can be skipped (the async relay does the same).
pub(super) fn read_origin_blocking(
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
/// [`ClientWrites::LikeC`] writes with plain `write(2)` and, after a failed
/// write, writes once more as a C loop that ignores the error would (see
/// [`crate::sigpipe`]).
pub(super) fn write_all_progress(
    stream: &mut TcpStream,
    mut buf: &[u8],
    progress: &mut Progress,
    writes: ClientWrites,
) -> io::Result<()> {
    while !buf.is_empty() {
        let written = if writes == ClientWrites::LikeC {
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
/// page, the request to the origin), failing when no byte moves for
/// `idle` — the same meaning of the idle timeout as in [`super::relay`].
/// The blocking variants keep their sockets non-blocking from `accept` (or
/// `connect`) to `close` and wait with `poll(2)` only when a call would
/// block: no switching modes per call.
pub(crate) fn send_all(stream: &mut TcpStream, bytes: &[u8], idle: Duration) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    write_all_progress(stream, bytes, &mut progress, ClientWrites::NoSignal)
}

/// The async twin of [`send_all`], on a [`LazyStream`]: written at once
/// where the socket has room, registered with the event loop and waited
/// for (bounded like [`send_all`]) only when it is full.
pub(crate) async fn send_all_async(
    stream: &mut LazyStream,
    mut bytes: &[u8],
    idle: Duration,
) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    while !bytes.is_empty() {
        match stream.try_write(bytes, ClientWrites::NoSignal) {
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
pub(super) fn is_retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
