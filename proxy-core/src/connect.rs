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
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use crate::limits::ORIGIN_RCVBUF;

use crate::error::ProxyError;
use crate::proxy::Proxy;
use crate::request::Target;

/// Opens a blocking connection to the target's origin.
pub fn connect(proxy: &Proxy, target: &Target) -> Result<TcpStream, ProxyError> {
    never_resolves(target)?;
    let timeout = proxy.config.connect_timeout();
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| resolve_error(target, &e))?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error(target, &io::ErrorKind::NotFound.into()));
    }
    proxy.check_resolved(target, &addrs)?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match connect_one(addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(connect_error(proxy, target, last))
}

/// One blocking connection attempt with a fixed receive buffer.
fn connect_one(addr: SocketAddr, timeout: std::time::Duration) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Before connecting, so the window the origin is offered matches it.
    socket.set_recv_buffer_size(ORIGIN_RCVBUF)?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// Opens a tokio connection to the target's origin.
pub async fn connect_async(
    proxy: &Proxy,
    target: &Target,
) -> Result<tokio::net::TcpStream, ProxyError> {
    never_resolves(target)?;
    let timeout = proxy.config.connect_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| resolve_error(target, &e))?
        .collect();
    if addrs.is_empty() {
        return Err(resolve_error(target, &io::ErrorKind::NotFound.into()));
    }
    proxy.check_resolved(target, &addrs)?;
    let mut last = None;
    for addr in addrs {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let socket = match socket.and_then(|s| {
            s.set_recv_buffer_size(u32::try_from(ORIGIN_RCVBUF).unwrap_or(u32::MAX))?;
            Ok(s)
        }) {
            Ok(socket) => socket,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        match tokio::time::timeout_at(deadline, socket.connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(io::ErrorKind::TimedOut.into());
                break;
            }
        }
    }
    Err(connect_error(proxy, target, last))
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
