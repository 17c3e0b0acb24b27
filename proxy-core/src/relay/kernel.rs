//! What the relay asks of the kernel beyond `read` and `write`: the
//! length of a socket's send queue (`SIOCOUTQ`, how a wait to write sees a
//! slow reader's progress) and, on Linux, the `splice(2)` fast path. All
//! of the relay's `unsafe` is here.
//!
//! # The splice path
//!
//! The Linux fast path for the rest of a big response: origin → pipe →
//! client with `splice(2)`, so the bytes stay in the kernel instead of
//! being copied into the process and out again. Used only when nothing
//! needs to see the bytes (see the [`crate::relay`] docs); each function returns
//! `false`, having moved nothing, when splicing is not possible (no pipe,
//! or a socket that does not support it), and the caller goes on with its
//! copy loop. Every splice is non-blocking and every wait bounded by the
//! relay's [`Progress`] deadline.

use std::io;
use std::os::fd::AsFd;
#[cfg(target_os = "linux")]
use std::{net::TcpStream, os::fd::OwnedFd};

#[cfg(target_os = "linux")]
use rustix::event::PollFlags;
#[cfg(target_os = "linux")]
use rustix::pipe::{PipeFlags, SpliceFlags};
#[cfg(target_os = "linux")]
use tokio::io::Interest;

#[cfg(target_os = "linux")]
use super::progress::{Progress, wait, writable};
#[cfg(target_os = "linux")]
use super::{RelayEnd, Relayed};
#[cfg(target_os = "linux")]
use crate::limits::SPLICE_PIPE;

#[cfg(target_os = "linux")]
/// A pipe between the two sockets; both ends close when dropped.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

#[cfg(target_os = "linux")]
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

#[cfg(target_os = "linux")]
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

#[cfg(target_os = "linux")]
/// The errors that mean "these descriptors cannot be spliced".
fn unsupported(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

#[cfg(target_os = "linux")]
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

#[cfg(target_os = "linux")]
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

#[cfg(target_os = "linux")]
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

/// Bytes in a socket's send queue that the peer has not acknowledged yet
/// (`SIOCOUTQ`), `None` where it cannot be read.
#[allow(
    clippy::cast_possible_truncation,
    reason = "libc types ioctl numbers as c_ulong, rustix as u32; TIOCOUTQ is 0x5411, \
              and a const generic argument cannot use `try_from`"
)]
pub(super) fn unsent(fd: &impl AsFd) -> Option<i32> {
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
