//! Connecting to the origin: the lab's `open_clientfd`.
//!
//! Resolve the name (a literal IP needs no DNS), refuse the target when any
//! of its addresses is denied (`403`) or is this proxy itself (`508`) —
//! see [`Proxy::check_resolved`] — then try each address in turn within one
//! overall connect timeout. Refused or unresolvable is `502`, no answer in
//! time is `504`. The origin socket's receive buffer is fixed before
//! connecting ([`crate::limits::ORIGIN_RCVBUF`]) so a stalled download
//! holds a bounded amount of kernel memory. The blocking and async versions
//! differ only in the I/O calls.

use std::io;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use rustix::event::PollFlags;

use crate::lazy::LazyStream;
use crate::limits::ORIGIN_RCVBUF;
use crate::relay::{send_all_async, wait_until};

use crate::error::ProxyError;
use crate::proxy::Proxy;
use crate::request::Target;

/// Opens a connection to the target's origin and sends it `request`, for
/// the blocking variants. Like [`connect_async`], it does not wait for the
/// handshake before sending (the first `send` says whether the connection
/// worked), and connecting and sending stay within the connect timeout;
/// the socket is non-blocking, as the relay wants it, and only a send that
/// would block waits, with `poll(2)`.
pub fn connect(proxy: &Proxy, target: &Target, request: &[u8]) -> Result<TcpStream, ProxyError> {
    never_resolves(target)?;
    let timeout = proxy.config.connect_timeout();
    let deadline = Instant::now() + timeout;
    let addrs = looked_up(
        proxy,
        target,
        (target.host.as_str(), target.port).to_socket_addrs(),
    )?;
    let mut last = None;
    for addr in addrs {
        match connect_one(addr, request, deadline) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                last = Some(e);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    Err(connect_error(proxy, target, last))
}

/// One attempt: a non-blocking `connect` with a fixed receive buffer, then
/// `request` sent before `deadline`. With nothing to send (a tunnel whose
/// client waits for its `200`), it waits for the handshake itself and
/// reads its outcome: no send would say whether the connection worked.
fn connect_one(addr: SocketAddr, mut request: &[u8], deadline: Instant) -> io::Result<TcpStream> {
    let socket = start_socket(addr)?;
    let mut stream: TcpStream = socket.into();
    if request.is_empty() {
        wait_until(&stream, PollFlags::OUT, deadline)?;
        return match stream.take_error()? {
            Some(error) => Err(error),
            None => Ok(stream),
        };
    }
    while !request.is_empty() {
        match stream.write(request) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => request = &request[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_until(&stream, PollFlags::OUT, deadline)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(stream)
}

/// A non-blocking socket with a fixed receive buffer, its `connect` under
/// way (on loopback, already done).
fn start_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM.nonblocking(),
        Some(socket2::Protocol::TCP),
    )?;
    // Before connecting, so the window the origin is offered matches it.
    socket.set_recv_buffer_size(ORIGIN_RCVBUF)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) => Err(e),
    }
}

/// Opens a non-blocking connection to the target's origin and sends it
/// `request`, for the async variant. The handshake is not waited for: on
/// loopback it is over when `connect` returns, and the first `send` says
/// whether it worked (a refused connection fails it); only a send that
/// would block waits for the socket (see [`LazyStream`]). Connecting and
/// sending together stay within the connect timeout, and each address is
/// tried in turn, as `open_clientfd` does.
pub async fn connect_async(
    proxy: &Proxy,
    target: &Target,
    request: &[u8],
) -> Result<LazyStream, ProxyError> {
    never_resolves(target)?;
    let timeout = proxy.config.connect_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let found = tokio::net::lookup_host((target.host.as_str(), target.port)).await;
    let addrs = looked_up(proxy, target, found)?;
    let mut last = None;
    for addr in addrs {
        let mut stream = match start_connect(addr) {
            Ok(stream) => stream,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let sent = async {
            if request.is_empty() {
                established(&mut stream).await
            } else {
                send_all_async(&mut stream, request, timeout).await
            }
        };
        match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(())) => return Ok(stream),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(io::ErrorKind::TimedOut.into());
                break;
            }
        }
    }
    Err(connect_error(proxy, target, last))
}

/// Waits for the handshake of a connection with nothing to send yet, and
/// reads its outcome (see [`connect_one`]).
async fn established(stream: &mut LazyStream) -> io::Result<()> {
    let stream = stream.registered()?;
    stream.writable().await?;
    match stream.take_error()? {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// [`start_socket`] for the async variant.
fn start_connect(addr: SocketAddr) -> io::Result<LazyStream> {
    Ok(LazyStream::new(start_socket(addr)?.into()))
}

/// Names under `.invalid` never resolve (RFC 6761): answer `502` without
/// sending a DNS query for them.
fn never_resolves(target: &Target) -> Result<(), ProxyError> {
    let host = target.host.trim_end_matches('.').to_ascii_lowercase();
    if host == "invalid" || host.ends_with(".invalid") {
        Err(resolve_error(target, &io::ErrorKind::NotFound.into()))
    } else {
        Ok(())
    }
}

/// What the name lookup found, checked: no address is an error, as is
/// one the deny rules refuse (`Open_clientfd`'s `getaddrinfo` step).
fn looked_up(
    proxy: &Proxy,
    target: &Target,
    found: io::Result<impl Iterator<Item = SocketAddr>>,
) -> Result<Vec<SocketAddr>, ProxyError> {
    let addrs: Vec<SocketAddr> = found.map_err(|e| resolve_error(target, &e))?.collect();
    if addrs.is_empty() {
        return Err(resolve_error(target, &io::ErrorKind::NotFound.into()));
    }
    proxy.check_resolved(target, &addrs)?;
    Ok(addrs)
}

fn resolve_error(target: &Target, error: &io::Error) -> ProxyError {
    ProxyError::bad_gateway(target, format_args!("cannot resolve the host ({error})"))
}

/// Maps the last connect error to `502` or `504` (no attempt at all: the
/// deadline passed, `504`).
fn connect_error(proxy: &Proxy, target: &Target, last: Option<io::Error>) -> ProxyError {
    let secs = proxy.config.connect_timeout;
    match last {
        Some(e) => ProxyError::from_origin_io(target, &e, secs),
        None => ProxyError::gateway_timeout(target, secs),
    }
}
