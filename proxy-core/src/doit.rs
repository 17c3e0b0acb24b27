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
//! like nginx's `lingering_close always`: shut down the write side (the
//! client gets its FIN after the last byte), read and discard what the
//! client still sends — at most `LINGER_BYTES` for at most `LINGER` — and
//! only then close.
//!
//! It lingers for every client, not only one that has sent more by the
//! time the answer is out (nginx's default heuristic, which costs fewer
//! system calls): a stray CRLF that arrives later, while the tail of a big
//! answer is still in flight, reaches a socket already closed, and the
//! kernel resets the connection and drops the tail (measured: 100–120 KB
//! of 4 MB lost; `harness/tests/safety_close.rs`). A client that read its
//! answer and closed ends the wait at once; the price is a `shutdown`, a
//! wait and a `recv` per request.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;

use crate::cache::Collector;
use crate::cache_policy::{Storable, response_storable};
use crate::connect::connect;
use crate::error::ProxyError;
use crate::head::HeadBuf;
use crate::outcome::Outcome;
use crate::proxy::{Lookup, Prepared, Proxy};
use crate::relay::{RelayEnd, Relayed, relay, send_all, wait_until};
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
    // TCP_NODELAY and the bounded send buffer come from the listening
    // socket (see `server/socket.rs`).
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
    let mut origin = connect(proxy, target, &prepared.origin_request)?;

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
/// head and what arrived after it in the same reads. The client socket is
/// non-blocking: the head has nearly always arrived when the client is
/// accepted, and `poll(2)` waits only when it has not.
fn read_head(client: &mut TcpStream, timeout: Duration) -> Result<(Vec<u8>, Vec<u8>), ProxyError> {
    let deadline = Instant::now() + timeout;
    let mut head = HeadBuf::new();
    let mut chunk = [0u8; crate::head::READ_CHUNK];
    loop {
        let limit = head.read_limit();
        match client.read(&mut chunk[..limit]) {
            Ok(0) => return Err(head.eof_error()),
            Ok(n) => {
                if let Some(end) = head.push(&chunk[..n])? {
                    return Ok(head.split(end));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match wait_until(client, PollFlags::IN, deadline) {
                    Ok(()) => {}
                    Err(e) if crate::error::is_timeout(&e) => {
                        return Err(ProxyError::ClientGone("header timeout".into()));
                    }
                    Err(e) => return Err(gone(e)),
                }
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
        match client.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if wait_until(client, PollFlags::IN, deadline).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "takes the error by value to be passed as `.map_err(gone)`"
)]
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;
    use std::net::TcpListener;

    /// A connected (client side, proxy side) pair on loopback.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (proxy, _) = listener.accept().expect("accept");
        (client, proxy)
    }

    /// Waits (bounded) until `proxy` has `n` unread bytes.
    fn until_queued(proxy: &TcpStream, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = vec![0u8; n];
        while proxy.peek(&mut buf).unwrap_or(0) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_lingering_close_reads_what_the_client_sent_and_returns() {
        let (mut client, mut proxy) = pair();
        proxy.set_nonblocking(true).expect("nonblocking");
        client
            .write_all(b"GET /second HTTP/1.0\r\n\r\n")
            .expect("send");
        until_queued(&proxy, 4);
        let started = Instant::now();
        let drainer = std::thread::spawn(move || {
            lingering_close(&mut proxy);
            proxy
        });
        // The proxy shut down its side: the client sees EOF, then closes.
        let mut rest = Vec::new();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert_eq!(client.read_to_end(&mut rest).expect("eof"), 0);
        drop(client);
        let proxy = drainer.join().expect("drainer");
        assert!(started.elapsed() < LINGER, "{:?}", started.elapsed());
        // Everything the client sent was read: closing cannot reset.
        let mut rest = [0u8; 1];
        assert_eq!(proxy.peek(&mut rest).unwrap_or(0), 0);
    }
}
