//! `--tls`: tiny-origin over HTTPS, for the proxies' `CONNECT` tunnels
//! (issue #17).
//!
//! At start a self-signed certificate for `localhost`, `127.0.0.1` and
//! `::1` is generated with rcgen; nothing is read from or written to disk
//! unless `--tls-cert FILE` asks for the certificate (so `curl --cacert
//! FILE` can check it). The site itself is the same `tiny_http` server as
//! without `--tls`, listening on a private loopback port; in front of it a
//! small TLS terminator (rustls, with the `ring` provider) accepts the
//! clients, one thread per connection, and pumps the decrypted bytes both
//! ways. So every endpoint answers byte for byte as over plain HTTP, and a
//! direct `https://` fetch is the reference a tunnelled one is compared
//! with.
//!
//! Why not `tiny_http`'s own `ssl-rustls` feature: it pins rustls 0.20 (and
//! ring 0.16), a second, older TLS stack beside the rustls the harness
//! needs for its own client; the terminator is the one place TLS lives.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustls::ServerConnection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tracing::{debug, warn};

use crate::handle::ServerHandle;

/// A connection with no byte moving either way for this long is closed.
const TLS_IDLE: Duration = Duration::from_mins(1);

/// The certificate a `--tls` origin presents: self-signed, generated at
/// start, valid for `localhost`, `127.0.0.1` and `::1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCertificate {
    /// PEM text (`-----BEGIN CERTIFICATE-----`), for `curl --cacert`.
    pub pem: String,
    /// The same certificate in DER, for a rustls root store.
    pub der: Vec<u8>,
}

/// A fresh self-signed certificate and the rustls configuration serving it.
fn generate() -> anyhow::Result<(TlsCertificate, Arc<rustls::ServerConfig>)> {
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let certified =
        rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    let der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(der.clone())], key)
        .context("the generated certificate")?;
    let certificate = TlsCertificate {
        pem: certified.cert.pem(),
        der,
    };
    Ok((certificate, Arc::new(config)))
}

/// Serves HTTPS on `addr`: a TLS terminator in front of `plain`, the
/// already started plain server (stopped with it). Writes the certificate
/// to `cert_file` when given.
pub(crate) fn start(
    addr: SocketAddr,
    plain: ServerHandle,
    cert_file: Option<&std::path::Path>,
) -> anyhow::Result<ServerHandle> {
    let (certificate, config) = generate()?;
    if let Some(path) = cert_file {
        std::fs::write(path, &certificate.pem)
            .with_context(|| format!("writing the certificate to {}", path.display()))?;
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let waker = listener.try_clone().context("cloning the listener")?;
    let stopping = Arc::new(AtomicBool::new(false));
    let inner = crate::handle::reachable(plain.addr());
    let serving = {
        let stopping = Arc::clone(&stopping);
        thread::Builder::new()
            .name("tiny-origin-tls".to_owned())
            .spawn(move || accept_loop(&listener, &config, inner, &stopping))
            .context("spawning the TLS thread")?
    };
    let stopper = move || {
        stopping.store(true, Ordering::SeqCst);
        // Wakes the blocked `accept` (Linux) and refuses newcomers.
        let _ = socket2::SockRef::from(&waker).shutdown(Shutdown::Both);
    };
    Ok(ServerHandle::new(local, stopper, serving).tls_front(certificate, plain))
}

fn accept_loop(
    listener: &TcpListener,
    config: &Arc<rustls::ServerConfig>,
    inner: SocketAddr,
    stopping: &AtomicBool,
) -> anyhow::Result<()> {
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (client, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc_emfile()) => {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(anyhow!("accepting TLS connections: {e}")),
        };
        let config = Arc::clone(config);
        let spawned = thread::Builder::new()
            .name("tiny-origin-tls-conn".to_owned())
            .spawn(move || {
                if let Err(e) = terminate(&client, config, inner) {
                    debug!("TLS connection from {peer}: {e}");
                }
            });
        if let Err(e) = spawned {
            warn!("cannot spawn a TLS connection thread: {e}");
        }
    }
}

/// `EMFILE`: out of descriptors for a moment.
fn libc_emfile() -> i32 {
    rustix::io::Errno::MFILE.raw_os_error()
}

/// One TLS connection: decrypts what the client sends into a connection
/// to the plain server, and encrypts its answers back, until both sides
/// are done (half-closes are passed on) or nothing moves for
/// [`TLS_IDLE`].
fn terminate(
    client: &TcpStream,
    config: Arc<rustls::ServerConfig>,
    inner: SocketAddr,
) -> io::Result<()> {
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let plain = TcpStream::connect(inner)?;
    client.set_nonblocking(true)?;
    plain.set_nonblocking(true)?;
    let mut pump = Pump {
        client,
        plain: &plain,
        to_plain: Vec::new(),
        client_done: false,
        plain_done: false,
        plain_shut: false,
    };
    loop {
        let moved = pump.step(&mut tls)?;
        if pump.plain_done && !tls.wants_write() {
            let _ = client.shutdown(Shutdown::Write);
            return Ok(());
        }
        if moved {
            continue;
        }
        pump.wait(&tls)?;
    }
}

/// The state of one terminated connection.
struct Pump<'a> {
    client: &'a TcpStream,
    plain: &'a TcpStream,
    /// Decrypted bytes not yet taken by the plain server.
    to_plain: Vec<u8>,
    /// The client sent its last byte (or `close_notify`).
    client_done: bool,
    /// The plain server closed its side.
    plain_done: bool,
    /// The plain server was told the client is done.
    plain_shut: bool,
}

impl Pump<'_> {
    /// Moves what can move without waiting; `true` if anything did.
    fn step(&mut self, tls: &mut ServerConnection) -> io::Result<bool> {
        let mut moved = false;
        let mut buf = [0u8; 16 * 1024];
        if !self.client_done && tls.wants_read() {
            match tls.read_tls(&mut self.client) {
                Ok(0) => self.client_done = true,
                Ok(_) => moved = true,
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(e),
            }
            tls.process_new_packets().map_err(io::Error::other)?;
        }
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => {
                    self.client_done = true;
                    break;
                }
                Ok(n) => {
                    self.to_plain.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if would_block(&e) => break,
                // A TCP close without close_notify: still a client that is done.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.client_done = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        while !self.to_plain.is_empty() {
            match self.plain.write(&self.to_plain) {
                Ok(n) => {
                    self.to_plain.drain(..n);
                    moved = true;
                }
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if self.client_done && self.to_plain.is_empty() && !self.plain_shut {
            let _ = self.plain.shutdown(Shutdown::Write);
            self.plain_shut = true;
        }
        if !self.plain_done && !tls.wants_write() {
            match self.plain.read(&mut buf) {
                Ok(0) => {
                    self.plain_done = true;
                    tls.send_close_notify();
                }
                Ok(n) => {
                    tls.writer().write_all(&buf[..n])?;
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(e),
            }
        }
        while tls.wants_write() {
            match tls.write_tls(&mut self.client) {
                Ok(_) => moved = true,
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(moved)
    }

    /// Waits until one of the sockets can move what is pending; an error
    /// after [`TLS_IDLE`] without any.
    fn wait(&self, tls: &ServerConnection) -> io::Result<()> {
        let mut client_flags = PollFlags::empty();
        if !self.client_done {
            client_flags |= PollFlags::IN;
        }
        if tls.wants_write() {
            client_flags |= PollFlags::OUT;
        }
        let mut plain_flags = PollFlags::empty();
        if !self.plain_done && !tls.wants_write() {
            plain_flags |= PollFlags::IN;
        }
        if !self.to_plain.is_empty() {
            plain_flags |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::new(self.client, client_flags),
            PollFd::new(self.plain, plain_flags),
        ];
        let timeout = Timespec::try_from(TLS_IDLE).map_err(|_| io::ErrorKind::InvalidInput)?;
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => Ok(()),
            Err(e) if e == rustix::io::Errno::INTR => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn would_block(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
