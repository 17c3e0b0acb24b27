//! Scenario (e): a busy `CONNECT` tunnel beside ordinary clients (issue
//! #17). One client opens a tunnel to a TLS origin and talks both ways in
//! it — a request for `/echo` and its answer, again and again, on one TLS
//! session — while other clients ask for a page through the same proxy.
//! The tunnel stays open until they all have their page, or at most
//! `tunnel_for`. `proxy-seq` is inside the tunnel's relay the whole time,
//! so nobody else gets a byte until the tunnel closes: the freeze, now for
//! HTTPS.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Bar, ms_since, timed_request};
use crate::checks::CHECK_TIMEOUT;
use crate::clients::http::{proxy_request, url};
use crate::clients::tls::{EchoSession, tunnel};
use crate::lab::{Lab, Variant, start_origin, start_variant};

/// What scenario (e) saw.
#[derive(Debug, Clone, Serialize)]
pub struct TunnelScenario {
    /// Echo rounds (a request and its answer) completed in the tunnel.
    pub rounds: usize,
    /// When the tunnel opened and closed, ms from the scenario start.
    pub tunnel: Bar,
    /// The other clients' requests.
    pub others: Vec<Bar>,
}

/// Runs scenario (e) on `variant` with `clients` other clients; the tunnel
/// stays open at most `tunnel_for`.
pub fn beside_a_busy_tunnel(
    variant: Variant,
    clients: usize,
    tunnel_for: Duration,
) -> Result<TunnelScenario> {
    let tls = start_origin(&["--tls"])?;
    let plain = start_origin(&[])?;
    let cert = tls.certificate.clone().context("no certificate")?;
    let port = tls.addr.port().to_string();
    let proxy = start_variant(variant, &["--connect-ports", &port])?;
    let scenario = Instant::now();
    let others_done = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);
    let request = proxy_request(&url(plain.addr, "/home.html"), &[]);
    let limit = tunnel_for + CHECK_TIMEOUT;
    std::thread::scope(|scope| {
        let talker = scope.spawn(|| {
            talk(
                Lab {
                    origin: tls.addr,
                    proxy: proxy.addr,
                },
                &cert,
                scenario,
                tunnel_for,
                &others_done,
                &rounds,
            )
        });
        // Let the tunnel open and start talking first.
        let opened = Instant::now() + Duration::from_secs(2);
        while rounds.load(Ordering::SeqCst) == 0 && Instant::now() < opened {
            std::thread::sleep(Duration::from_millis(10));
        }
        let others: Vec<Bar> = std::thread::scope(|inner| {
            let handles: Vec<_> = (0..clients)
                .map(|_| inner.spawn(|| timed_request(proxy.addr, &request, scenario, limit)))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        others_done.store(true, Ordering::SeqCst);
        let tunnel = talker
            .join()
            .map_err(|_| anyhow::anyhow!("the tunnel client panicked"))??;
        Ok(TunnelScenario {
            rounds: rounds.load(Ordering::SeqCst),
            tunnel,
            others,
        })
    })
}

/// The tunnel's client: opens it, then echo rounds until the others are
/// done or `tunnel_for` has passed; returns the tunnel's bar.
fn talk(
    lab: Lab,
    cert: &tiny_origin::TlsCertificate,
    scenario: Instant,
    tunnel_for: Duration,
    others_done: &AtomicBool,
    rounds: &AtomicUsize,
) -> Result<Bar> {
    let start_ms = ms_since(scenario);
    let stop = Instant::now() + tunnel_for;
    let mut session =
        EchoSession::open(tunnel(lab, CHECK_TIMEOUT)?, cert, lab.origin, CHECK_TIMEOUT)?;
    let mut first_byte_ms = None;
    let mut ok = true;
    while !others_done.load(Ordering::SeqCst) && Instant::now() < stop {
        let n = rounds.load(Ordering::SeqCst);
        if session.round(&n.to_string()).is_ok() {
            first_byte_ms.get_or_insert_with(|| ms_since(scenario));
            rounds.fetch_add(1, Ordering::SeqCst);
        } else {
            ok = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(session);
    Ok(Bar {
        start_ms,
        first_byte_ms,
        end_ms: ms_since(scenario),
        ok,
    })
}
