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
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// Waits (at most until the progress deadline) until `fd` is ready for
/// `flags`: `Err(TimedOut)` when the deadline passes first. While waiting
/// to write, the peer taking bytes out of the socket's send queue counts
/// as progress too (see [`Progress::slice`]).
pub(super) fn wait(fd: &impl AsFd, flags: PollFlags, progress: &mut Progress) -> io::Result<()> {
    let mut queued = unsent(fd);
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

/// Reads once from a non-blocking socket, waiting (bounded by `progress`)
/// until it has something: the blocking `read` that cannot outlive the
/// idle deadline.
pub(super) fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    progress: &mut Progress,
) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(stream, PollFlags::IN, progress)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
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

/// Writes all of `bytes` to a blocking socket (a cache hit, the request to
/// the origin), failing when no byte moves for `idle` — the same meaning
/// of the idle timeout as in [`super::relay`].
pub(crate) fn send_all(stream: &mut TcpStream, bytes: &[u8], idle: Duration) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let mut progress = Progress::new(idle);
    let result = write_all_progress(stream, bytes, &mut progress, ClientWrites::NoSignal);
    let restored = stream.set_nonblocking(false);
    result.and(restored)
}

/// The async twin of [`send_all`].
pub(crate) async fn send_all_async(
    stream: &mut tokio::net::TcpStream,
    mut bytes: &[u8],
    idle: Duration,
) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    while !bytes.is_empty() {
        writable(stream, &mut progress).await?;
        match write_now(stream, bytes, ClientWrites::NoSignal) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                progress.tick();
            }
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One non-blocking write to a tokio socket: `try_write`, or like C.
pub(super) fn write_now(
    stream: &tokio::net::TcpStream,
    bytes: &[u8],
    writes: ClientWrites,
) -> io::Result<usize> {
    if writes == ClientWrites::LikeC {
        stream.try_io(tokio::io::Interest::WRITABLE, || {
            crate::sigpipe::write_like_c(stream, bytes)
        })
    } else {
        stream.try_write(bytes)
    }
}

/// `WouldBlock` or `Interrupted`: try again after the next wait.
pub(super) fn is_retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
