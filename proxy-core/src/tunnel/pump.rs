//! The blocking tunnel relay: both directions on one thread, with
//! `poll(2)`. `proxy-seq` runs it on its only thread (so a tunnel freezes
//! every other client — the lesson), `proxy-thread` on the connection's
//! own thread: one thread per tunnel, not two, because `poll` waits for
//! either socket at once and a second thread would only add a stack and a
//! way for the two halves to disagree about when the tunnel is over.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::{Moved, TUNNEL_BUF};
use crate::relay::Progress;

/// One direction of a tunnel: what was read from `from` and not yet
/// written to `to`.
struct Half<'a> {
    from: &'a TcpStream,
    to: &'a TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `from` sent its last byte.
    eof: bool,
    /// ...and all of it went to `to`, whose write side is shut down.
    shut: bool,
    /// Bytes written to `to`.
    moved: u64,
}

impl<'a> Half<'a> {
    fn new(from: &'a TcpStream, to: &'a TcpStream) -> Half<'a> {
        Half {
            from,
            to,
            buf: vec![0; TUNNEL_BUF],
            start: 0,
            end: 0,
            eof: false,
            shut: false,
            moved: 0,
        }
    }

    /// Moves what can move without waiting. A half-close is passed on:
    /// once `from` is done and its bytes are written, `to`'s write side is
    /// shut down and the other direction goes on.
    fn step(&mut self, progress: &mut Progress) -> io::Result<()> {
        loop {
            if self.start == self.end && !self.eof {
                match (&*self.from).read(&mut self.buf) {
                    Ok(0) => self.eof = true,
                    Ok(n) => {
                        (self.start, self.end) = (0, n);
                        progress.tick();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if self.start < self.end {
                match (&*self.to).write(&self.buf[self.start..self.end]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.start += n;
                        self.moved += n as u64;
                        progress.tick();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            if self.eof && !self.shut {
                let _ = self.to.shutdown(Shutdown::Write);
                self.shut = true;
            }
            return Ok(());
        }
    }

    /// What to wait for: readable `from` when the buffer is empty,
    /// writable `to` when it is not.
    fn wants(&self) -> (PollFlags, PollFlags) {
        if self.start < self.end {
            (PollFlags::empty(), PollFlags::OUT)
        } else if !self.eof {
            (PollFlags::IN, PollFlags::empty())
        } else {
            (PollFlags::empty(), PollFlags::empty())
        }
    }
}

/// Relays `client` ⇄ `origin` until both directions are done or nothing
/// moves either way for `idle`. Both sockets are switched to non-blocking
/// mode for the relay.
pub(crate) fn both_ways(client: &TcpStream, origin: &TcpStream, idle: Duration) -> Moved {
    let mut up = Half::new(client, origin);
    let mut down = Half::new(origin, client);
    let error = client
        .set_nonblocking(true)
        .and_then(|()| origin.set_nonblocking(true))
        .and_then(|()| pump(&mut up, &mut down, idle))
        .err();
    Moved {
        up: up.moved,
        down: down.moved,
        error,
    }
}

fn pump(up: &mut Half<'_>, down: &mut Half<'_>, idle: Duration) -> io::Result<()> {
    let mut progress = Progress::new(idle);
    loop {
        up.step(&mut progress)?;
        down.step(&mut progress)?;
        if up.shut && down.shut {
            return Ok(());
        }
        let left = progress.left();
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let (client_in, origin_out) = up.wants();
        let (origin_in, client_out) = down.wants();
        let mut fds = [
            PollFd::new(up.from, client_in | client_out),
            PollFd::new(down.from, origin_in | origin_out),
        ];
        let timeout = Timespec::try_from(left).map_err(|_| io::ErrorKind::InvalidInput)?;
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(e) if e == rustix::io::Errno::INTR => {}
            Err(e) => return Err(e.into()),
        }
    }
}
