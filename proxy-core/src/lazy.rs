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

use crate::sigpipe::ClientWrites;

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

    /// The socket as tokio's, mutable (for tokio's own copy loops, such as a
    /// tunnel's `copy_bidirectional`), registering it now if it was not.
    pub fn registered_mut(&mut self) -> io::Result<&mut TcpStream> {
        self.registered()?;
        match &mut self.state {
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
    /// after `EAGAIN` cannot spin on a stale "writable").
    /// [`ClientWrites::LikeC`] writes with plain `write(2)` (see
    /// [`crate::sigpipe`]).
    pub fn try_write(&self, bytes: &[u8], writes: ClientWrites) -> io::Result<usize> {
        let write = |fd: BorrowedFd<'_>| {
            if writes == ClientWrites::LikeC {
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

    /// `true` once the socket has been registered with the event loop.
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// (peer, lazy) connected on loopback; the lazy side non-blocking.
    fn pair() -> (StdStream, LazyStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = StdStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (near, _) = listener.accept().expect("accept");
        near.set_nonblocking(true).expect("nonblocking");
        (peer, LazyStream::new(near))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_socket_with_data_waiting_is_never_registered() {
        runtime().block_on(async {
            let (mut peer, mut lazy) = pair();
            peer.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut buf = [0u8; 64];
            assert_eq!(lazy.read(&mut buf).await.expect("read"), 18);
            assert_eq!(
                lazy.try_write(b"answer", ClientWrites::NoSignal)
                    .expect("write"),
                6
            );
            assert!(!lazy.is_registered());
            drop(lazy);
            let mut got = Vec::new();
            peer.read_to_end(&mut got).expect("eof");
            assert_eq!(got, b"answer");
        });
    }

    #[test]
    fn a_read_that_must_wait_registers_and_waits() {
        runtime().block_on(async {
            let (mut peer, mut lazy) = pair();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                peer.write_all(b"late").expect("send");
                peer
            });
            let mut buf = [0u8; 16];
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), lazy.read(&mut buf))
                .await
                .expect("in time")
                .expect("read");
            assert_eq!(&buf[..n], b"late");
            assert!(lazy.is_registered());
            let _peer = writer.join().expect("writer");
        });
    }
}
