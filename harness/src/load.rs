//! A bounded load test (issue "Hardening"): many clients at once, some
//! hanging up mid-download, some reading slowly; every body is checked
//! byte for byte, and afterwards the proxy's file descriptors, threads and
//! memory must be back near their idle level.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checks::robustness::abort_download;
use crate::clients::http::proxy_request;
use crate::lab::Lab;
use crate::process::procfs::{Usage, rss_kib, usage, wait_for_idle};
use crate::process::procfs::{proxy_queued_bytes, tcp_mem_bytes};
use crate::safety::{StalledDownloads, settle};

/// How a load run is shaped.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Requests in all.
    pub requests: usize,
    /// Clients at once.
    pub clients: usize,
    /// One request in this many hangs up mid-download.
    pub abort_every: usize,
    /// One request in this many reads its answer slowly.
    pub slow_every: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            requests: 20_000,
            clients: 64,
            abort_every: 25,
            slow_every: 50,
        }
    }
}

/// What a load run saw.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: usize,
    /// Answers that were complete and byte-identical to what the origin serves.
    pub ok: usize,
    /// Answers with a wrong status or body.
    pub wrong: usize,
    /// Requests that failed (connect, timeout, reset).
    pub errors: usize,
    /// Requests that hung up on purpose.
    pub aborted: usize,
    /// Requests read slowly on purpose.
    pub slow: usize,
    /// Wall time.
    pub seconds: f64,
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// fds and threads before the run.
    pub idle: Option<(usize, usize)>,
    /// fds and threads after the run settled.
    pub after: Option<(usize, usize)>,
    /// Resident memory before, KiB.
    pub idle_rss_kib: Option<u64>,
    /// Highest resident memory seen during the run, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Resident memory after the run settled, KiB.
    pub after_rss_kib: Option<u64>,
}

impl LoadReport {
    /// Zero wrong bodies, zero errors, fds and threads back to idle, and
    /// memory back within `rss_slack_kib` of idle.
    pub fn passed(&self, rss_slack_kib: u64) -> bool {
        let back = match (self.idle, self.after) {
            (Some(i), Some(a)) => a.0 <= i.0 && a.1 <= i.1,
            _ => true,
        };
        let memory = match (self.idle_rss_kib, self.after_rss_kib) {
            (Some(i), Some(a)) => a <= i + rss_slack_kib,
            _ => true,
        };
        self.wrong == 0 && self.errors == 0 && back && memory
    }
}

/// The body size of request `i`: a spread from 1 KB to about 200 KB.
fn size_of(i: usize) -> usize {
    [1_000, 4_096, 20_000, 65_536, 100_000, 200_000][i % 6] + i % 7
}

fn one_request(lab: Lab, i: usize, slow: bool) -> Result<bool, ()> {
    let size = size_of(i);
    let mut stream =
        TcpStream::connect_timeout(&lab.proxy, Duration::from_secs(10)).map_err(|_| ())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|_| ())?;
    stream
        .write_all(&proxy_request(&lab.url(&format!("/bytes/{size}")), &[]))
        .map_err(|_| ())?;
    let mut raw = Vec::with_capacity(size + 256);
    let mut buf = vec![0u8; if slow { 2048 } else { 64 * 1024 }];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => return Err(()),
        }
        if slow {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(false);
    };
    let body = &raw[head_end + 4..];
    Ok(raw.starts_with(b"HTTP/1.0 200")
        && body.len() == size
        && body
            .iter()
            .enumerate()
            .all(|(k, &b)| b == tiny_origin::byte_at(k as u64)))
}

/// Runs the load against `lab.proxy` (process `pid`) and `lab.origin`.
pub fn run_load(lab: Lab, pid: u32, options: &LoadOptions) -> LoadReport {
    let _ = one_request(lab, 0, false);
    std::thread::sleep(Duration::from_millis(200));
    let idle: Option<Usage> = usage(pid);
    let idle_rss = rss_kib(pid);
    let peak = AtomicU64::new(idle_rss.unwrap_or(0));
    let next = AtomicUsize::new(0);
    let (ok, wrong, errors, aborted, slow) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let start = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while next.load(Ordering::Relaxed) < options.requests {
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for _ in 0..options.clients {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= options.requests {
                        break;
                    }
                    if i % options.abort_every == options.abort_every - 1 {
                        let _ = abort_download(lab);
                        aborted.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let is_slow = i % options.slow_every == options.slow_every / 2;
                    if is_slow {
                        slow.fetch_add(1, Ordering::Relaxed);
                    }
                    match one_request(lab, i, is_slow) {
                        Ok(true) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => wrong.fetch_add(1, Ordering::Relaxed),
                        Err(()) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let after = idle.and_then(|i| wait_for_idle(pid, i, Duration::from_secs(15)));
    std::thread::sleep(Duration::from_millis(500));
    let ok = ok.into_inner();
    LoadReport {
        requests: options.requests,
        ok,
        wrong: wrong.into_inner(),
        errors: errors.into_inner(),
        aborted: aborted.into_inner(),
        slow: slow.into_inner(),
        seconds,
        requests_per_sec: ok as f64 / seconds,
        idle: idle.map(|u| (u.fds, u.threads)),
        after: after.map(|u| (u.fds, u.threads)),
        idle_rss_kib: idle_rss,
        peak_rss_kib: Some(peak.into_inner()).filter(|&p| p > 0),
        after_rss_kib: rss_kib(pid),
    }
}

/// What slow readers cost a proxy (issue #14 item 10): clients that ask
/// for a download and then read nothing while it is measured, so every
/// buffer between the origin and them fills up. Kernel socket memory does
/// not show in RSS, so both are reported.
#[derive(Debug, Clone, Serialize)]
pub struct SlowReadersReport {
    /// Slow readers held open at once.
    pub readers: usize,
    /// Bytes each asked for.
    pub size: usize,
    /// Proxy RSS before they connected, KiB.
    pub rss_before_kib: Option<u64>,
    /// Proxy RSS with all of them stalled, KiB.
    pub rss_with_kib: Option<u64>,
    /// The machine's TCP memory (`/proc/net/sockstat`) before, bytes.
    pub tcp_mem_before: Option<u64>,
    /// The machine's TCP memory with all of them stalled, bytes: the
    /// proxy's sockets, the origin's and the readers' own.
    pub tcp_mem_with: Option<u64>,
    /// Bytes queued in the proxy's own sockets (`/proc/net/tcp`): what it
    /// holds for the readers and has not read from the origin.
    pub proxy_queued: u64,
}

impl SlowReadersReport {
    /// Bytes queued in the proxy's sockets per reader.
    pub fn proxy_queued_per_reader(&self) -> u64 {
        self.proxy_queued / self.readers.max(1) as u64
    }

    /// Growth of the machine's TCP memory per reader, bytes.
    pub fn tcp_mem_per_reader(&self) -> Option<u64> {
        let (before, with) = (self.tcp_mem_before?, self.tcp_mem_with?);
        Some(with.saturating_sub(before) / self.readers.max(1) as u64)
    }
}

/// Opens `readers` slow readers of `size` bytes each through `lab.proxy`
/// (process `pid`) to `lab.origin`, waits until the buffers are full,
/// measures, and lets them go.
pub fn slow_readers(
    lab: Lab,
    pid: u32,
    readers: usize,
    size: usize,
) -> anyhow::Result<SlowReadersReport> {
    let rss_before_kib = rss_kib(pid);
    let tcp_mem_before = tcp_mem_bytes();
    let held = StalledDownloads::open_sized(lab, readers, size)?;
    let proxy_queued = settle(Duration::from_secs(30), || {
        proxy_queued_bytes(lab.proxy.port(), lab.origin.port())
    });
    let report = SlowReadersReport {
        readers: held.len(),
        size,
        rss_before_kib,
        rss_with_kib: rss_kib(pid),
        tcp_mem_before,
        tcp_mem_with: tcp_mem_bytes(),
        proxy_queued,
    };
    drop(held);
    Ok(report)
}
