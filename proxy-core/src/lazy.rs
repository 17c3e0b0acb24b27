//! A socket that joins the event loop only when it has to wait: the
//! async variant's way of doing the system call first and asking epoll
//! second.
//!
//! tokio registers every socket with epoll when it is created and
//! deregisters it when dropped (two `epoll_ctl` calls), and waits for
//! epoll to report a socket ready before it even tries a read or a write —
//! which, for a socket it has just registered, takes a trip through the
//! event loop. Yet a client's request has nearly always arrived by the time
//! the client is accepted, and a small answer fits in the socket's send
//! buffer: such a client is read and written with plain non-blocking calls
//! and never registered at all. An origin connection is sent its request
//! the same way, at once: on loopback the handshake is over when `connect`
//! returns. The first call that would block (`EAGAIN`) registers the socket
//! with tokio, which from then on waits as usual.
//!
//! Measured with `strace -c` and `harness bench` (see docs/performance.md):
//! a cache hit costs `accept4`, `recvfrom`, `sendto`, `recvfrom` (the
//! lingering-close look) and `close`, and no epoll call.

use std::io;
use std::net::{Shutdown, TcpStream as StdStream};
use std::os::fd::{AsFd, BorrowedFd};

use tokio::io::Interest;
use tokio::net::TcpStream;

/// A non-blocking TCP socket, registered with tokio only once it had to
/// wait.
#[derive(Debug)]
pub struct LazyStream {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not registered: a non-blocking std socket.
    Raw(StdStream),
    /// Registered with the event loop of the task that registered it.
    Registered(TcpStream),
    /// Registration failed; the socket is gone.
    Lost,
}

impl LazyStream {
    /// Wraps a socket that is already in non-blocking mode.
    pub fn new(stream: StdStream) -> LazyStream {
        LazyStream {
            state: State::Raw(stream),
        }
    }

    /// The socket as tokio's, registering it now if it was not.
    pub fn registered(&mut self) -> io::Result<&TcpStream> {
        if let State::Raw(_) = self.state
            && let State::Raw(raw) = std::mem::replace(&mut self.state, State::Lost)
        {
            self.state = State::Registered(TcpStream::from_std(raw)?);
        }
        match &self.state {
            State::Registered(stream) => Ok(stream),
            _ => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// One read into `buf`: at once if data is there, otherwise waiting
    /// (registered) until some is.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let State::Raw(raw) = &self.state {
            match rustix::net::recv(raw, &mut *buf, rustix::net::RecvFlags::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => {}
                Err(e) => return Err(e.into()),
            }
        }
        let stream = self.registered()?;
        loop {
            stream.readable().await?;
            match stream.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
    }

    /// One non-blocking write: straight to the socket while it is not
    /// registered, through tokio's readiness once it is (so that a wait
    /// after `EAGAIN` cannot spin on a stale "writable"). `like_c` writes
    /// with plain `write(2)` (see [`crate::sigpipe`]).
    pub fn try_write(&self, bytes: &[u8], like_c: bool) -> io::Result<usize> {
        let write = |fd: BorrowedFd<'_>| {
            if like_c {
                crate::sigpipe::write_like_c(&fd, bytes)
            } else {
                rustix::net::send(fd, bytes, rustix::net::SendFlags::NOSIGNAL)
                    .map_err(io::Error::from)
            }
        };
        match &self.state {
            State::Raw(raw) => write(raw.as_fd()),
            State::Registered(stream) => {
                stream.try_io(Interest::WRITABLE, || write(stream.as_fd()))
            }
            State::Lost => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// The socket's descriptor (`NotConnected` once a failed
    /// registration has dropped it).
    pub fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match &self.state {
            State::Raw(raw) => Ok(raw.as_fd()),
            State::Registered(stream) => Ok(stream.as_fd()),
            State::Lost => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Shuts down the write side (the peer gets its FIN).
    pub fn shutdown_write(&self) -> io::Result<()> {
        socket2::SockRef::from(&self.fd()?).shutdown(Shutdown::Write)
    }
}
