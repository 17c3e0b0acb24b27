//! The idle-connections measure: open many TCP connections to a proxy that
//! send nothing (clients that connected and went quiet), then read the
//! proxy's RSS and check it still serves a fetch.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Result;
use harness::clients::http::exchange;

use harness::process::procfs::{rss_kib, threads};

/// What one idle-connections run found.
#[derive(Debug, Clone)]
pub struct IdleResult {
    /// Connections opened (fewer than asked if connecting failed).
    pub opened: usize,
    /// RSS before opening them, KiB.
    pub rss_before_kib: u64,
    /// RSS with them all open, KiB.
    pub rss_kib: u64,
    /// Threads of the proxy with them all open.
    pub threads: u64,
    /// `Ok(ms)`: a fetch through the proxy answered with the full body in
    /// that many ms while the idle connections were open; `Err(why)`
    /// otherwise.
    pub fetch: Result<f64, String>,
}

/// How long the check fetch may take.
const FETCH_LIMIT: Duration = Duration::from_secs(5);

/// Opens `count` idle connections to `proxy`, measures, fetches `url`
/// (expecting a body of `body` bytes), and closes them.
pub fn measure(proxy: SocketAddr, pid: u32, count: usize, url: &str, body: usize) -> IdleResult {
    let rss_before_kib = rss_kib(pid).unwrap_or(0);
    let mut held = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(20);
    while held.len() < count && Instant::now() < deadline {
        match TcpStream::connect_timeout(&proxy, Duration::from_secs(2)) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    // Let the proxy accept them all (the kernel completes the handshake
    // before the proxy's accept); bounded.
    let settle = Instant::now() + Duration::from_secs(3);
    let mut last = 0;
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(300));
        let now = rss_kib(pid).unwrap_or(0);
        if now == last {
            break;
        }
        last = now;
    }
    let rss = rss_kib(pid).unwrap_or(0);
    let threads = threads(pid).unwrap_or(0);
    let request =
        format!("GET {url} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").into_bytes();
    let fetch = match exchange(proxy, &request, FETCH_LIMIT) {
        Ok(r) if r.status == Some(200) && r.body().len() == body => {
            Ok(r.elapsed.as_secs_f64() * 1000.0)
        }
        Ok(r) => Err(format!(
            "{} with {} body bytes",
            r.status_line(),
            r.body().len()
        )),
        Err(e) => Err(format!("{e:#}")),
    };
    let opened = held.len();
    drop(held);
    IdleResult {
        opened,
        rss_before_kib,
        rss_kib: rss,
        threads,
        fetch,
    }
}
