//! Serving one client connection with tokio: the async twin of
//! [`crate::doit`], used by `proxy-async`.
//!
//! The steps and every decision are the same ([`Proxy::prepare`], the
//! cache, [`crate::relay`]); only the reads, writes and timeouts are tokio's,
//! so a task never blocks the thread it runs on.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::cache::Collector;
use crate::connect::connect_async;
use crate::doit::{Answered, LINGER, LINGER_BYTES, finish_relay};
use crate::error::ProxyError;
use crate::head::HeadBuf;
use crate::lazy::LazyStream;
use crate::outcome::Outcome;
use crate::proxy::{Lookup, Proxy};
use crate::relay::{relay_async, send_all_async};

/// Serves one client connection from start to close and logs it.
pub async fn serve(mut client: LazyStream, peer: std::net::SocketAddr, proxy: Arc<Proxy>) {
    let mut outcome = Outcome::new(Some(peer));
    match doit(&mut client, &proxy, &mut outcome).await {
        Ok(Answered::Yes) => lingering_close(&mut client).await,
        Ok(Answered::ClientGone) => {}
        Err(error) => {
            let page = error.page();
            if let Some(page) = &page {
                let _ = send_all_async(&mut client, page, LINGER).await;
                lingering_close(&mut client).await;
            }
            outcome.error(&error, page.as_ref().map(Vec::len));
        }
    }
    outcome.log();
}

async fn doit(
    client: &mut LazyStream,
    proxy: &Proxy,
    outcome: &mut Outcome,
) -> Result<Answered, ProxyError> {
    let config = &proxy.config;
    let idle = config.idle_timeout();
    // TCP_NODELAY and the bounded send buffer come from the listening
    // socket (see `server/socket.rs`).
    let (head, early) = read_head(client, config.header_timeout()).await?;
    outcome.request_line(&head);
    if crate::tunnel::is_connect(&head) {
        return crate::tunnel::tunnel_async(client, &head, &early, proxy, outcome).await;
    }
    let prepared = proxy.prepare(&head)?;

    let cache = match proxy.look_up(&prepared, outcome) {
        Lookup::Hit(hit) => {
            send_all_async(client, &hit, idle).await.map_err(gone)?;
            return Ok(Answered::Yes);
        }
        Lookup::Miss(cache) => cache,
    };

    let target = &prepared.request.target;
    let mut origin = connect_async(proxy, target, &prepared.origin_request).await?;

    let mut collector = cache.map(|c| Collector::new(c.max_object()));
    let relayed = relay_async(
        &mut origin,
        client,
        &mut collector,
        idle,
        crate::sigpipe::ClientWrites::of(&proxy.config),
    )
    .await;
    finish_relay(proxy, &prepared, relayed, collector, outcome)
}

/// Reads the request head before the header deadline; returns the head
/// and what arrived after it.
async fn read_head(
    client: &mut LazyStream,
    limit: Duration,
) -> Result<(Vec<u8>, Vec<u8>), ProxyError> {
    let deadline = Instant::now() + limit;
    let mut head = HeadBuf::new();
    let mut chunk = [0u8; crate::head::READ_CHUNK];
    loop {
        let read_limit = head.read_limit();
        match timeout_at(deadline, client.read(&mut chunk[..read_limit])).await {
            Err(_) => return Err(ProxyError::ClientGone("header timeout".into())),
            Ok(Ok(0)) => return Err(head.eof_error()),
            Ok(Ok(n)) => {
                if let Some(end) = head.push(&chunk[..n])? {
                    return Ok(head.split(end));
                }
            }
            Ok(Err(e)) => return Err(gone(e)),
        }
    }
}

/// See [`crate::doit::lingering_close`]: read what the client still
/// sends, bounded, so closing does not reset the answer away.
pub(crate) async fn lingering_close(client: &mut LazyStream) {
    let _ = client.shutdown_write();
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < LINGER_BYTES {
        match timeout_at(deadline, client.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
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
