//! The load behind `harness bench`'s TLS cell (issue #17): big downloads
//! through `CONNECT` tunnels, as MiB/s and errors.
//!
//! [`tunnel_load`] runs `connections` clients at once, each fetching
//! `object` bytes over TLS through its own tunnel (or straight from the
//! origin, for the baseline), again and again for `duration`, and checks
//! every byte of every answer against the origin's pattern. The proxy is
//! any running proxy that may tunnel to `origin` (a tiny-origin `--tls`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tiny_origin::{TlsCertificate, byte_at};

use crate::clients::tls::{Ending, get_direct_tls, get_via_tunnel};
use crate::lab::Lab;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelLoadPlan {
    /// Clients at once, each with its own tunnel per fetch.
    pub connections: usize,
    /// Bytes of each download (`/bytes/N`); 10 MiB in the bench.
    pub object: u64,
    /// How long new downloads are started; one in progress then finishes.
    pub duration: Duration,
    /// The longest one download may take before it counts as an error.
    pub fetch_timeout: Duration,
}

impl Default for TunnelLoadPlan {
    /// The bench's cell: 10 MiB, 4 connections, 10 s.
    fn default() -> TunnelLoadPlan {
        TunnelLoadPlan {
            connections: 4,
            object: 10 << 20,
            duration: Duration::from_secs(10),
            fetch_timeout: Duration::from_mins(1),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunnelLoad {
    /// Downloads that arrived whole and right.
    pub fetches: u64,
    /// Their bytes (bodies only).
    pub bytes: u64,
    /// Downloads that failed, were cut short or came back wrong.
    pub errors: u64,
    /// From the first start to the last end.
    pub elapsed: Duration,
}

impl TunnelLoad {
    /// Body bytes delivered per second, in MiB.
    #[must_use]
    pub fn mib_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / f64::from(1 << 20) / secs
        } else {
            0.0
        }
    }
}

/// Runs `plan` through `proxy` (`None`: straight to the origin) against
/// `origin`, trusting `cert`.
pub fn tunnel_load(
    proxy: Option<SocketAddr>,
    origin: SocketAddr,
    cert: &TlsCertificate,
    plan: &TunnelLoadPlan,
) -> TunnelLoad {
    let path = format!("/bytes/{}", plan.object);
    let (fetches, bytes, errors) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    let stop = started + plan.duration;
    std::thread::scope(|scope| {
        for _ in 0..plan.connections.max(1) {
            scope.spawn(|| {
                while Instant::now() < stop {
                    let answer = match proxy {
                        Some(proxy) => get_via_tunnel(
                            Lab { origin, proxy },
                            cert,
                            &path,
                            Ending::Plain,
                            plan.fetch_timeout,
                        ),
                        None => get_direct_tls(origin, cert, &path, plan.fetch_timeout),
                    };
                    match answer.ok().and_then(|a| body_if_right(&a, plan.object)) {
                        Some(len) => {
                            fetches.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(len, Ordering::Relaxed);
                        }
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    TunnelLoad {
        fetches: fetches.into_inner(),
        bytes: bytes.into_inner(),
        errors: errors.into_inner(),
        elapsed: started.elapsed(),
    }
}

/// The body's length when `answer` is a `200` whose body is the first
/// `len` bytes of the origin's pattern.
fn body_if_right(answer: &[u8], len: u64) -> Option<u64> {
    if !answer.starts_with(b"HTTP/1.0 200 ") && !answer.starts_with(b"HTTP/1.1 200 ") {
        return None;
    }
    let start = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = &answer[start..];
    let right = body.len() as u64 == len
        && body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == byte_at(i as u64));
    right.then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_right_body_counts() {
        let body: Vec<u8> = (0..1000).map(byte_at).collect();
        let mut answer = b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
        answer.extend_from_slice(&body);
        assert_eq!(body_if_right(&answer, 1000), Some(1000));
        assert_eq!(body_if_right(&answer[..answer.len() - 1], 1000), None);
        let mut wrong = answer.clone();
        if let Some(last) = wrong.last_mut() {
            *last ^= 1;
        }
        assert_eq!(body_if_right(&wrong, 1000), None);
        assert_eq!(body_if_right(b"HTTP/1.0 502 Bad Gateway\r\n\r\n", 0), None);
    }
}
