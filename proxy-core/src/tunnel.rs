//! `CONNECT` tunnels: HTTPS through the proxy (SPEC §4.7, issue #17), the
//! lab's missing part IV. The C lab has no counterpart: its proxy answers
//! `CONNECT` with `clienterror(..., "501", ...)`.
//!
//! # Why HTTPS needs `CONNECT`
//!
//! For an `http://` page a browser hands the proxy the whole request and
//! the proxy fetches it. For an `https://` page it cannot: the request is
//! meant to be encrypted end to end, and only the origin holds the key.
//! So the browser asks for a pipe instead — `CONNECT host:443 HTTP/1.1` —
//! and the proxy connects to `host:443`, answers
//! `HTTP/1.1 200 Connection established`, and from then on copies bytes
//! both ways without understanding them: the TLS handshake and the
//! encrypted HTTP go straight between browser and origin. The proxy sees
//! the host and port, how many bytes went each way and for how long —
//! which is all the log line says — and never a URL path, a header, a
//! cookie or a byte of content. It cannot cache what it cannot read.
//!
//! # The same rules as GET
//!
//! The target is resolved and checked by address against the deny list
//! and the loop guard by the same code as a GET ([`crate::connect`],
//! [`Proxy::check_resolved`]); a tunnel is a connection like any other
//! for `--max-conns` and graceful shutdown; failures before the tunnel
//! opens get the usual pages (`403`, `502`, `504`, `508`). Only ports in
//! `--connect-ports` are tunnelled to (default `443`, tinyproxy's and
//! squid's default): a proxy that tunnels anywhere relays spam to port 25.
//! Other ports get `403`; an empty list turns `CONNECT` off (`501`).
//! `--idle-timeout` means no byte either way for that long.
//!
//! # Three relays
//!
//! A tunnel must move bytes in both directions at once — the client may
//! speak while the origin is still sending. That is the lesson of the
//! three variants in one screen:
//!
//! | variant | both directions | while a tunnel is open |
//! |---|---|---|
//! | `proxy-seq` | [`pump`]`::both_ways`: `poll(2)` on its only thread | every other client waits |
//! | `proxy-thread` | the same, on the connection's own thread (one thread per tunnel, not two) | others have threads of their own |
//! | `proxy-async` | [`pump_async`]`::both_ways_async`: tokio's `copy_bidirectional` in the connection's task | others have tasks of their own |

pub mod pump;
pub mod pump_async;

use std::io;
use std::net::TcpStream;

use crate::connect::{connect, connect_async};
use crate::doit::Answered;
use crate::error::ProxyError;
use crate::lazy::LazyStream;
use crate::outcome::Outcome;
use crate::proxy::Proxy;
use crate::relay::{send_all, send_all_async};
use crate::request::{Target, parse_connect};

/// The answer that opens a tunnel.
pub const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// Bytes a tunnel buffers in each direction.
pub(crate) const TUNNEL_BUF: usize = 16 * 1024;

/// What a tunnel moved, for the log line.
#[derive(Debug)]
pub struct Moved {
    /// Bytes from the client delivered to the origin.
    pub up: u64,
    /// Bytes from the origin delivered to the client.
    pub down: u64,
    /// Why it ended, when not because both sides closed (a reset, or the
    /// idle timeout: `TimedOut`).
    pub error: Option<io::Error>,
}

/// `true` when `head` is a `CONNECT` request (method names are
/// case-sensitive: `connect` is another, unknown, method).
pub fn is_connect(head: &[u8]) -> bool {
    head.starts_with(b"CONNECT ")
}

/// Everything decided before connecting, from the head alone: `501` when
/// tunnelling is off, the `host:port` target (`400` when it is not one),
/// `403` for a port not in `--connect-ports` or a denied name. The
/// addresses it resolves to are checked when connecting, as for a GET.
pub fn prepare(proxy: &Proxy, head: &[u8]) -> Result<Target, ProxyError> {
    let ports = &proxy.config.connect_ports;
    if ports.is_empty() {
        return Err(ProxyError::NotImplemented(
            "CONNECT (tunnels are off: --connect-ports is empty)".into(),
        ));
    }
    let target = parse_connect(head)?;
    if !ports.contains(target.port) {
        return Err(ProxyError::Forbidden(format!(
            "a tunnel to port {} (--connect-ports {ports})",
            target.port
        )));
    }
    proxy.deny.check(&target.host)?;
    Ok(target)
}

/// Opens and relays a tunnel with blocking I/O (`proxy-seq`,
/// `proxy-thread`). `early` is what the client sent after its head
/// without waiting for the answer; it goes to the origin first.
pub(crate) fn tunnel(
    client: &mut TcpStream,
    head: &[u8],
    early: &[u8],
    proxy: &Proxy,
    outcome: &mut Outcome,
) -> Result<Answered, ProxyError> {
    let target = prepare(proxy, head)?;
    // What the client sent early goes out as soon as the origin answers.
    let origin = connect(proxy, &target, early)?;
    let idle = proxy.config.idle_timeout();
    send_all(client, ESTABLISHED, idle).map_err(gone)?;
    let moved = pump::both_ways(client, &origin, idle);
    outcome.tunnelled(&moved);
    Ok(Answered::ClientGone)
}

/// The async twin of [`tunnel`] (`proxy-async`).
pub(crate) async fn tunnel_async(
    client: &mut LazyStream,
    head: &[u8],
    early: &[u8],
    proxy: &Proxy,
    outcome: &mut Outcome,
) -> Result<Answered, ProxyError> {
    let target = prepare(proxy, head)?;
    let mut origin = connect_async(proxy, &target, early).await?;
    let idle = proxy.config.idle_timeout();
    send_all_async(client, ESTABLISHED, idle)
        .await
        .map_err(gone)?;
    // Both ends now wait on the event loop for as long as the tunnel lives.
    let (client, origin) = match (client.registered_mut(), origin.registered_mut()) {
        (Ok(client), Ok(origin)) => (client, origin),
        (Err(e), _) | (_, Err(e)) => return Err(gone(e)),
    };
    let moved = pump_async::both_ways_async(client, origin, idle).await;
    outcome.tunnelled(&moved);
    Ok(Answered::ClientGone)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "takes the error by value to be passed as `.map_err(gone)`"
)]
fn gone(error: io::Error) -> ProxyError {
    ProxyError::ClientGone(error.to_string())
}

#[cfg(test)]
mod tests;
