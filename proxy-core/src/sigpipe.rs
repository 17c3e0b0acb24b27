//! SIGPIPE, the lab's famous crash, and how Rust avoids it twice.
//!
//! When a client hangs up while the proxy is still writing, the kernel
//! answers the next `write(2)` with `EPIPE` *and* sends the process
//! SIGPIPE, whose default action kills it. The lab's fix is
//! `Signal(SIGPIPE, SIG_IGN)`. A Rust program is protected twice:
//!
//! 1. the runtime sets SIGPIPE to `SIG_IGN` before `main`, and
//! 2. `std` and tokio send on sockets with `send(..., MSG_NOSIGNAL)`, so a
//!    socket write never raises SIGPIPE even when it is not ignored.
//!
//! To show the crash, `--sigpipe default` undoes both: it restores
//! `SIG_DFL`, and the relay writes to the client with plain `write(2)`, as
//! the C proxy's `Rio_writen` does. And like a C loop that ignores
//! `rio_writen`'s error, it writes again after a failed write: a client
//! that simply resets makes the first write fail with `ECONNRESET` and no
//! signal, and only the next write raises SIGPIPE. Only the relay's writes
//! to the client change; everything else is the same code.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::config::{Config, SigpipeMode};

/// How the relay writes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWrites {
    /// std's and tokio's writes (`send` with `MSG_NOSIGNAL`): a client that
    /// hung up is an error for this connection, never a signal. Big
    /// responses may take the `splice(2)` path.
    NoSignal,
    /// [`write_like_c`]: plain `write(2)`, and once more after a failed
    /// write, so that `--sigpipe default` dies as the lab's C proxy does.
    LikeC,
}

impl ClientWrites {
    /// `LikeC` with `--sigpipe default`, `NoSignal` otherwise.
    pub fn of(config: &Config) -> ClientWrites {
        match config.sigpipe {
            SigpipeMode::Default => ClientWrites::LikeC,
            SigpipeMode::Ignore => ClientWrites::NoSignal,
        }
    }
}

/// Puts SIGPIPE back to the C default (terminate the process).
pub fn restore_default() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler
    // code; it runs at start-up, before any socket is written.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// One `write(2)`, without `MSG_NOSIGNAL`: what C's `write` does.
fn write_once(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid slice for `buf.len()` bytes and `fd` is an
    // open socket owned by the caller for the duration of the call.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

/// One write the way the lab's C proxy writes: plain `write(2)`, and after
/// a failed write one more, as a loop that ignores `rio_writen`'s error
/// and goes on to the next chunk does (issue #14 item 13). With SIGPIPE at
/// its default that second write kills the process even for a client that
/// simply reset (whose first failed write is `ECONNRESET`, without a
/// signal). Returns the first error when the process is still alive.
pub fn write_like_c(stream: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    match write_once(fd, buf) {
        Err(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            let _ = write_once(fd, buf);
            Err(e)
        }
        result => result,
    }
}
