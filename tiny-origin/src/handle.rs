//! A server running inside this process, and how to stop it.
//!
//! The harness links tiny-origin and runs its origins in-process (no
//! binary to build, no process to wait for); the cache checks need to stop
//! an origin the way the course's driver kills `tiny`, so that a proxy
//! which did not cache gets "connection refused".

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`ServerHandle::stop`] waits for the port to refuse connections.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A running server: its address, and how to stop it. Dropping the handle
/// stops the server; [`ServerHandle::detach`] leaves it running for the
/// life of the process.
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    addr: SocketAddr,
    stopper: Option<Box<dyn FnOnce() + Send>>,
    serving: Option<JoinHandle<anyhow::Result<()>>>,
    certificate: Option<crate::tls::TlsCertificate>,
    /// The plain server behind a TLS front (`--tls`), stopped after it.
    behind: Option<Box<ServerHandle>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("running", &self.stopper.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// A handle for a server listening on `addr`, stopped by `stopper`,
    /// served by the thread `serving`.
    pub(crate) fn new(
        addr: SocketAddr,
        stopper: impl FnOnce() + Send + 'static,
        serving: JoinHandle<anyhow::Result<()>>,
    ) -> ServerHandle {
        ServerHandle {
            addr,
            stopper: Some(Box::new(stopper)),
            serving: Some(serving),
            certificate: None,
            behind: None,
        }
    }

    /// The same handle, for a TLS front that presents `certificate` and
    /// passes the decrypted connections to `behind` (`--tls`).
    pub(crate) fn tls_front(
        mut self,
        certificate: crate::tls::TlsCertificate,
        behind: ServerHandle,
    ) -> ServerHandle {
        self.certificate = Some(certificate);
        self.behind = Some(Box::new(behind));
        self
    }

    /// The certificate an HTTPS (`--tls`) server presents, `None` for
    /// plain HTTP.
    #[must_use]
    pub fn certificate(&self) -> Option<&crate::tls::TlsCertificate> {
        self.certificate.as_ref()
    }

    /// The address it listens on (the real port when 0 was asked for).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes the listening socket: a new connection
    /// is refused, as after `kill tiny`. Requests being answered are cut
    /// short. Stopping twice does nothing.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stopper.take() {
            stop();
        }
        if let Some(serving) = self.serving.take() {
            let _ = serving.join();
            // tiny_http closes its listener on its own thread, just after:
            // wait (bounded) until the port refuses, so a caller that goes
            // on to fetch sees the origin gone.
            let deadline = Instant::now() + CLOSE_WAIT;
            while Instant::now() < deadline
                && TcpStream::connect_timeout(&reachable(self.addr), Duration::from_millis(100))
                    .is_ok()
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Some(behind) = self.behind.as_mut() {
            behind.stop();
        }
    }

    /// Waits for the serving thread to end (it ends only when accepting
    /// fails): what the binary does after printing `listening on`.
    ///
    /// # Errors
    ///
    /// Accepting failed, or the serving thread panicked.
    pub fn wait(mut self) -> anyhow::Result<()> {
        self.stopper = None;
        match self.serving.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(anyhow::anyhow!("the serving thread panicked")),
            None => Ok(()),
        }
    }

    /// Leaves the server running for the rest of the process and returns
    /// its address.
    #[must_use]
    pub fn detach(mut self) -> SocketAddr {
        self.stopper = None;
        self.serving = None;
        if let Some(behind) = self.behind.take() {
            let _ = behind.detach();
        }
        self.addr
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a server bound to `addr` (a wildcard address
/// is reached through loopback).
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    let mut to = addr;
    if addr.ip().is_unspecified() {
        to.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    to
}
