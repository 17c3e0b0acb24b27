//! Serving one client connection with blocking I/O: the lab's `doit`, used
//! by `proxy-seq` and `proxy-thread`.
//!
//! Read the head (`read_requesthdrs`), check and rewrite it
//! ([`Proxy::prepare`]), answer from the cache or connect to the origin
//! (`open_clientfd`), send the rewritten request, relay the answer, and on
//! any error send a `clienterror` page. The async twin is
//! [`crate::doit_async`]; the two differ only in their I/O calls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::Collector;
use crate::connect::connect;
use crate::error::ProxyError;
use crate::head::HeadBuf;
use crate::outcome::{CacheUse, Outcome};
use crate::proxy::{Prepared, Proxy};
use crate::relay::{RelayEnd, Relayed, relay};

/// How long an error page's connection waits for the client to finish
/// sending before it is closed (see `lingering_close`).
pub const LINGER: Duration = Duration::from_secs(1);

/// Serves one client connection from start to close and logs it
/// (`peer` is the client's address as `accept` returned it).
pub fn serve(mut client: TcpStream, peer: SocketAddr, proxy: &Proxy) {
    let mut outcome = Outcome::new(Some(peer));
    if let Err(error) = doit(&mut client, proxy, &mut outcome) {
        let page = error.page();
        if let Some(page) = &page {
            let _ = client.write_all(page);
            lingering_close(&mut client);
        }
        outcome.error(&error, page.as_ref().map(Vec::len));
    }
    outcome.log();
}

fn doit(client: &mut TcpStream, proxy: &Proxy, outcome: &mut Outcome) -> Result<(), ProxyError> {
    let config = &proxy.config;
    let _ = client.set_nodelay(true);
    let head = read_head(client, config.header_timeout())?;
    outcome.request_line(&head);
    let prepared = proxy.prepare(&head)?;
    client
        .set_write_timeout(Some(config.idle_timeout()))
        .map_err(gone)?;

    if let Some(cache) = proxy.cache() {
        if let Some(hit) = cache.get(&prepared.cache_key) {
            outcome.cache = CacheUse::Hit;
            outcome.status = crate::relay::status_of(&hit);
            client.write_all(&hit).map_err(gone)?;
            outcome.bytes = hit.len() as u64;
            return Ok(());
        }
        outcome.cache = CacheUse::Miss;
    }

    let target = &prepared.request.target;
    let mut origin = connect(proxy, target)?;
    origin
        .set_read_timeout(Some(config.idle_timeout()))
        .and_then(|()| origin.set_write_timeout(Some(config.idle_timeout())))
        .and_then(|()| origin.write_all(&prepared.origin_request))
        .map_err(|e| origin_error(proxy, target, &e))?;

    let mut collector = proxy.cache().map(|c| Collector::new(c.max_object()));
    let relayed = relay(&mut origin, client, &mut collector, like_c(proxy));
    // Returning drops both sockets: close(2) sends the client its FIN.
    finish_relay(proxy, &prepared, relayed, collector, outcome)
}

/// `true` with `--sigpipe default`: relay with C's `write(2)` so the
/// lab's crash can happen (see [`crate::sigpipe`]).
pub fn like_c(proxy: &Proxy) -> bool {
    proxy.config.sigpipe == crate::config::SigpipeMode::Default
}

/// What both `doit`s do once the relay ended: an origin that failed or
/// closed before sending a byte is still answered with an error page
/// (`504`/`502`); otherwise the relay is logged and a complete response
/// the collector kept (it gives up on one that outgrows `--max-object`)
/// is stored in the cache.
pub fn finish_relay(
    proxy: &Proxy,
    prepared: &Prepared,
    relayed: Relayed,
    collector: Option<Collector>,
    outcome: &mut Outcome,
) -> Result<(), ProxyError> {
    let target = &prepared.request.target;
    if relayed.bytes == 0 {
        return Err(match (relayed.end, relayed.error) {
            (RelayEnd::OriginFailed, error) => {
                let error = error.unwrap_or_else(|| io::ErrorKind::TimedOut.into());
                origin_error(proxy, target, &error)
            }
            _ => ProxyError::BadGateway {
                host: target.host.clone(),
                port: target.port,
                reason: "the origin closed without answering".into(),
            },
        });
    }
    outcome.relayed(&relayed);
    if relayed.end == RelayEnd::Complete
        && let (Some(cache), Some(bytes)) = (proxy.cache(), collector.and_then(Collector::finish))
    {
        cache.insert(&prepared.cache_key, Arc::from(bytes));
    }
    Ok(())
}

/// Reads the request head within the header timeout (an overall deadline,
/// so a client dripping one byte at a time is cut off too).
fn read_head(client: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, ProxyError> {
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
                    return Ok(head.bytes()[..end].to_vec());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {
                return Err(ProxyError::ClientGone("header timeout".into()));
            }
            Err(e) => return Err(gone(e)),
        }
    }
}

/// After an error page, stop sending and read what the client still sends
/// (briefly, bounded) before closing: closing a socket with unread input
/// makes the kernel send a reset that can destroy the page in flight.
fn lingering_close(client: &mut TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let _ = client.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while Instant::now() < deadline && drained < 1 << 20 {
        match client.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// `true` for the error kinds a read or write timeout produces.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn gone(error: io::Error) -> ProxyError {
    ProxyError::ClientGone(error.to_string())
}

/// Maps a failure talking to the origin after connecting: silence is `504`,
/// anything else `502`.
pub fn origin_error(
    proxy: &Proxy,
    target: &crate::request::Target,
    error: &io::Error,
) -> ProxyError {
    if is_timeout(error) {
        ProxyError::GatewayTimeout {
            host: target.host.clone(),
            port: target.port,
            secs: proxy.config.idle_timeout,
        }
    } else {
        ProxyError::BadGateway {
            host: target.host.clone(),
            port: target.port,
            reason: error.to_string(),
        }
    }
}
