//! `harness compare`: the lecture's scenarios against the three variants
//! at once, as one side-by-side table (and an HTML page with a timeline per
//! variant, where the sequential proxy's queue is visible at a glance).
//!
//! This module runs the scenarios; [`render`] draws the table and the page.

pub mod render;
pub mod tunnel;

pub use render::{render_html, render_text, table_rows};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::checks::CHECK_TIMEOUT;
use crate::checks::concurrency::silent_client;
use crate::checks::robustness::{abort_many, dies_of_sigpipe};
use crate::clients::http::{get_via_proxy, proxy_request, url};
use crate::lab::{Lab, VARIANTS, Variant, start_origin, start_variant};
use crate::process::Running;

/// Header timeout the variants run with here, so the sequential proxy's
/// freeze lasts a few seconds, not the default ten.
pub const COMPARE_HEADER_TIMEOUT: u64 = 3;

/// Knobs of a comparison run.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Clients fetching beside the stalled one (scenario a).
    pub clients: usize,
    /// Length of the throughput run (scenario d).
    pub throughput_for: Duration,
    /// The longest the busy tunnel stays open (scenario e).
    pub tunnel_for: Duration,
}

impl Default for CompareOptions {
    fn default() -> CompareOptions {
        CompareOptions {
            clients: 8,
            throughput_for: Duration::from_secs(2),
            tunnel_for: Duration::from_secs(2),
        }
    }
}

/// One request on the timeline, in milliseconds from the scenario start.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// When the client connected.
    pub start_ms: f64,
    /// When the first byte of the answer arrived (if it did).
    pub first_byte_ms: Option<f64>,
    /// When the answer was complete (or the client gave up).
    pub end_ms: f64,
    /// Whether a 200 came back.
    pub ok: bool,
}

/// What one variant did in every scenario.
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    /// The variant's package name.
    pub variant: String,
    /// (a) each client's request beside the stalled one.
    pub stalled_timeline: Vec<Bar>,
    /// (a) median time to first byte, ms.
    pub median_ttfb_ms: Option<f64>,
    /// (b) alive and serving after clients hung up mid-download.
    pub survives_hangups: bool,
    /// (b) how the `--sigpipe default` instance ended.
    pub sigpipe_default: String,
    /// (c) a cache miss, ms.
    pub miss_ms: Option<f64>,
    /// (c) the same object again, a hit, ms.
    pub hit_ms: Option<f64>,
    /// (d) requests per second.
    pub requests_per_sec: f64,
    /// (e) a busy `CONNECT` tunnel beside other clients.
    pub tunnel: Option<tunnel::TunnelScenario>,
}

/// Runs every scenario on every variant (the variants side by side, each
/// against its own origin so they do not disturb each other's numbers).
pub fn compare(options: &CompareOptions) -> Result<Vec<VariantResult>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = VARIANTS
            .iter()
            .map(|&v| scope.spawn(move || compare_one(v, options)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scenario panicked")))
            })
            .collect::<Result<Vec<_>>>()
    })
    .and_then(|mut results| {
        // Throughput one variant at a time: side by side they would share
        // the CPU and the numbers would say nothing.
        for (result, variant) in results.iter_mut().zip(VARIANTS) {
            let origin = start_origin(&[])?;
            let proxy = start_variant(variant, &["--no-cache"])?;
            let lab = Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            };
            result.requests_per_sec = throughput(lab, options.throughput_for);
        }
        Ok(results)
    })
}

fn compare_one(variant: Variant, options: &CompareOptions) -> Result<VariantResult> {
    let origin = start_origin(&[])?;
    let header_timeout = COMPARE_HEADER_TIMEOUT.to_string();
    let proxy = start_variant(variant, &["--header-timeout", &header_timeout])?;
    let lab = Lab {
        origin: origin.addr,
        proxy: proxy.addr,
    };
    let stalled_timeline = beside_a_stalled_client(lab, options.clients);
    let mut ttfb: Vec<f64> = stalled_timeline
        .iter()
        .filter_map(|b| b.first_byte_ms.map(|t| t - b.start_ms))
        .collect();
    ttfb.sort_by(f64::total_cmp);
    let median_ttfb_ms = ttfb.get(ttfb.len() / 2).copied();

    let mut survivor = start_variant(variant, &["--no-cache"])?;
    abort_many(
        Lab {
            origin: origin.addr,
            proxy: survivor.addr,
        },
        10,
        5,
    );
    let survives_hangups = survivor.is_alive()
        && get_via_proxy(
            survivor.addr,
            &url(origin.addr, "/home.html"),
            CHECK_TIMEOUT,
        )
        .is_ok_and(|r| r.status == Some(200));
    drop(survivor);

    let mut fragile: Running = start_variant(variant, &["--no-cache", "--sigpipe", "default"])?;
    let sigpipe_default = match dies_of_sigpipe(origin.addr, &mut fragile) {
        Ok(how) if how.contains("SIGPIPE") => "died of SIGPIPE".to_string(),
        Ok(how) => format!("died: {how}"),
        Err(_) => "survived".to_string(),
    };
    drop(fragile);

    let object = url(origin.addr, "/bytes/90000");
    let timed = |addr: SocketAddr| {
        let start = Instant::now();
        get_via_proxy(addr, &object, CHECK_TIMEOUT)
            .ok()
            .filter(|r| r.status == Some(200))
            .map(|_| start.elapsed().as_secs_f64() * 1000.0)
    };
    let miss_ms = timed(proxy.addr);
    let hit_ms = timed(proxy.addr);
    let tunnel = tunnel::beside_a_busy_tunnel(variant, options.clients, options.tunnel_for).ok();

    Ok(VariantResult {
        variant: variant.package().to_string(),
        stalled_timeline,
        median_ttfb_ms,
        survives_hangups,
        sigpipe_default,
        miss_ms,
        hit_ms,
        requests_per_sec: 0.0,
        tunnel,
    })
}

/// Scenario (a): one client connects and sends nothing; then `clients`
/// clients fetch a page at once. Returns their timeline.
fn beside_a_stalled_client(lab: Lab, clients: usize) -> Vec<Bar> {
    let scenario = Instant::now();
    let _staller = silent_client(lab.proxy);
    std::thread::sleep(Duration::from_millis(100));
    let request = proxy_request(&lab.url("/home.html"), &[]);
    let limit = Duration::from_secs(COMPARE_HEADER_TIMEOUT * 2) + CHECK_TIMEOUT;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| scope.spawn(|| timed_request(lab.proxy, &request, scenario, limit)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

fn ms_since(origin: Instant) -> f64 {
    origin.elapsed().as_secs_f64() * 1000.0
}

fn timed_request(proxy: SocketAddr, request: &[u8], scenario: Instant, limit: Duration) -> Bar {
    use std::io::{Read, Write};
    let start_ms = ms_since(scenario);
    let deadline = Instant::now() + limit;
    let mut bar = Bar {
        start_ms,
        first_byte_ms: None,
        end_ms: start_ms,
        ok: false,
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&proxy, limit) else {
        bar.end_ms = ms_since(scenario);
        return bar;
    };
    if stream.write_all(request).is_err() {
        bar.end_ms = ms_since(scenario);
        return bar;
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if bar.first_byte_ms.is_none() {
                    bar.first_byte_ms = Some(ms_since(scenario));
                }
                raw.extend_from_slice(&buf[..n]);
            }
        }
    }
    bar.end_ms = ms_since(scenario);
    bar.ok = crate::clients::http::status_of(&raw) == Some(200);
    bar
}

/// Scenario (d): 8 clients fetch a small page in a loop for `length`.
fn throughput(lab: Lab, length: Duration) -> f64 {
    let request = proxy_request(&lab.url("/notes.txt"), &[]);
    let stop = Instant::now() + length;
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                while Instant::now() < stop {
                    if crate::clients::http::exchange(lab.proxy, &request, CHECK_TIMEOUT)
                        .is_ok_and(|r| r.status == Some(200))
                    {
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    done.into_inner() as f64 / length.as_secs_f64()
}
