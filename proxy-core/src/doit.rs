//! Serving one client connection with blocking I/O: the lab's `doit`, used
//! by `proxy-seq` and `proxy-thread`.
//!
//! Read the head (`read_requesthdrs`), check and rewrite it
//! ([`Proxy::prepare`]), answer from the cache or connect to the origin
//! (`open_clientfd`), send the rewritten request, relay the answer, and on
//! any error send a `clienterror` page. Then close the client gracefully
//! (`lingering_close`). The async twin is [`crate::doit_async`]; the two
//! differ only in their I/O calls.
//!
//! # Closing without losing the response (SPEC §4.6, issue #14 item 4)
//!
//! The C proxy ends with `Close(connfd)`. If the client has sent anything
//! the proxy never read — a stray CRLF after its head, a pipelined second
//! request — closing makes the kernel answer with a reset, and a reset
//! throws away whatever of the response is still queued for the client: a
//! 4 MB download arrives cut short. So every answer, page or relay, ends
//! like nginx's `lingering_close`: shut down the write side (the client
//! gets its FIN after the last byte), read and discard what the client
//! still sends — at most `LINGER_BYTES` for at most `LINGER` — and only
//! then close.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::Collector;
use crate::cache_policy::{Storable, response_storable};
use crate::connect::connect;
use crate::error::ProxyError;
use crate::head::HeadBuf;
use crate::limits::CLIENT_SNDBUF;
use crate::outcome::Outcome;
use crate::proxy::{Lookup, Prepared, Proxy};
use crate::relay::{RelayEnd, Relayed, relay, send_all};
use crate::sigpipe::ClientWrites;

/// The longest a connection lingers after its answer, reading what the
/// client still sends (see `lingering_close`).
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// The most bytes read and discarded while lingering.
pub(crate) const LINGER_BYTES: usize = 1 << 20;

/// Serves one client connection from start to close and logs it
/// (`peer` is the client's address as `accept` returned it).
pub fn serve(mut client: TcpStream, peer: SocketAddr, proxy: &Proxy) {
    let mut outcome = Outcome::new(Some(peer));
    match doit(&mut client, proxy, &mut outcome) {
        Ok(Answered::Yes) => lingering_close(&mut client),
        Ok(Answered::ClientGone) => {}
        Err(error) => {
            let page = error.page();
            if let Some(page) = &page {
                let _ = send_all(&mut client, page, LINGER);
                lingering_close(&mut client);
            }
            outcome.error(&error, page.as_ref().map(Vec::len));
        }
    }
    outcome.log();
}

/// How a served request ended, for the close that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answered {
    /// The answer went out (whole, or as much as the origin gave): close
    /// gracefully.
    Yes,
    /// The client hung up or stopped reading: just close.
    ClientGone,
}

fn doit(
    client: &mut TcpStream,
    proxy: &Proxy,
    outcome: &mut Outcome,
) -> Result<Answered, ProxyError> {
    let config = &proxy.config;
    let _ = client.set_nodelay(true);
    // Bounds the kernel memory a client that stops reading can pin.
    let _ = socket2::SockRef::from(&*client).set_send_buffer_size(CLIENT_SNDBUF);
    let (head, early) = read_head(client, config.header_timeout())?;
    outcome.request_line(&head);
    if crate::tunnel::is_connect(&head) {
        return crate::tunnel::tunnel(client, &head, &early, proxy, outcome);
    }
    let prepared = proxy.prepare(&head)?;

    let cache = match proxy.look_up(&prepared, outcome) {
        Lookup::Hit(hit) => {
            send_all(client, &hit, config.idle_timeout()).map_err(gone)?;
            return Ok(Answered::Yes);
        }
        Lookup::Miss(cache) => cache,
    };

    let target = &prepared.request.target;
    let mut origin = connect(proxy, target)?;
    send_all(&mut origin, &prepared.origin_request, config.idle_timeout())
        .map_err(|e| origin_error(proxy, target, &e))?;

    let mut collector = cache.map(|c| Collector::new(c.max_object()));
    let relayed = relay(
        &mut origin,
        client,
        &mut collector,
        config.idle_timeout(),
        ClientWrites::of(&proxy.config),
    );
    finish_relay(proxy, &prepared, relayed, collector, outcome)
}

/// What both `doit`s do once the relay ended: an origin that failed or
/// closed before sending a byte is still answered with an error page
/// (`504`/`502`); otherwise the relay is logged and a complete response
/// the collector kept (it gives up on one that outgrows `--max-object`)
/// is stored in the cache if [`response_storable`] allows it.
pub(crate) fn finish_relay(
    proxy: &Proxy,
    prepared: &Prepared,
    relayed: Relayed,
    collector: Option<Collector>,
    outcome: &mut Outcome,
) -> Result<Answered, ProxyError> {
    let target = &prepared.request.target;
    if relayed.bytes == 0 {
        return Err(match (relayed.end, relayed.error) {
            (RelayEnd::OriginFailed, error) => {
                let error = error.unwrap_or_else(|| io::ErrorKind::TimedOut.into());
                origin_error(proxy, target, &error)
            }
            _ => ProxyError::bad_gateway(target, "the origin closed without answering"),
        });
    }
    outcome.relayed(&relayed);
    if relayed.end == RelayEnd::Complete
        && prepared.bypass.is_none()
        && let (Some(cache), Some(bytes)) = (proxy.cache(), collector.and_then(Collector::finish))
    {
        match response_storable(&bytes) {
            Storable::Yes(ttl) => {
                cache.insert_for(&prepared.cache_key, Arc::from(bytes), ttl);
            }
            Storable::No(why) => tracing::debug!("not cached: {why}"),
        }
    }
    Ok(if relayed.end == RelayEnd::ClientGone {
        Answered::ClientGone
    } else {
        Answered::Yes
    })
}

/// Reads the request head within the header timeout (an overall deadline,
/// so a client dripping one byte at a time is cut off too). Returns the
/// head and what arrived after it in the same reads.
fn read_head(client: &mut TcpStream, timeout: Duration) -> Result<(Vec<u8>, Vec<u8>), ProxyError> {
    let deadline = Instant::now() + timeout;
    let mut head = HeadBuf::new();
    let mut chunk = [0u8; crate::head::READ_CHUNK];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyError::ClientGone("header timeout".into()));
        }
        client.set_read_timeout(Some(left)).map_err(gone)?;
        let limit = head.read_limit();
        match client.read(&mut chunk[..limit]) {
            Ok(0) => return Err(head.eof_error()),
            Ok(n) => {
                if let Some(end) = head.push(&chunk[..n])? {
                    return Ok(head.split(end));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if crate::error::is_timeout(&e) => {
                return Err(ProxyError::ClientGone("header timeout".into()));
            }
            Err(e) => return Err(gone(e)),
        }
    }
}

/// After the answer, stop sending and read what the client still sends
/// (at most `LINGER_BYTES` for at most `LINGER`) before closing:
/// closing a socket with unread input makes the kernel send a reset that
/// destroys the answer still in flight. A client that read the answer and
/// closed ends the wait at once.
pub(crate) fn lingering_close(client: &mut TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match client.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn gone(error: io::Error) -> ProxyError {
    ProxyError::ClientGone(error.to_string())
}

/// A failure talking to the origin after connecting: silence for the idle
/// timeout is `504`, anything else `502`.
pub(crate) fn origin_error(
    proxy: &Proxy,
    target: &crate::request::Target,
    error: &io::Error,
) -> ProxyError {
    ProxyError::from_origin_io(target, error, proxy.config.idle_timeout)
}
