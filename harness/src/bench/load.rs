//! Driving load with wrk and reading what it measured.
//!
//! wrk sends origin-form paths; a Lua script sets `wrk.path` to the
//! absolute URI so the same run works against a forward proxy (and against
//! nginx directly, which accepts absolute-form targets too), sends the
//! origin's `Host` as a browser or curl does through a proxy (wrk's own
//! would name the proxy), adds `Connection: close` for one request per
//! connection as in the lab, and prints its totals and latency percentiles
//! as one JSON line in `done`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use harness::process::run_bounded;

/// The marker before the JSON line the script's `done` prints.
const MARK: &str = "BENCH-JSON ";

/// The Lua script for wrk: absolute URI, the origin's `Host`,
/// `Connection: close`, JSON summary.
pub fn script(url: &str) -> String {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    format!(
        r#"-- written by `harness bench`
wrk.method = "GET"
wrk.path = "{url}"
wrk.headers["Host"] = "{host}"
wrk.headers["Connection"] = "close"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{MARK}{{"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"#
    )
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct WrkResult {
    /// Complete responses.
    pub requests: u64,
    /// Bytes read, heads included.
    pub bytes: u64,
    /// Length of the run in microseconds.
    pub duration_us: u64,
    /// Connections that failed to open.
    pub connect: u64,
    /// Read errors (wrk also counts a reset after a complete response).
    pub read: u64,
    /// Write errors.
    pub write: u64,
    /// Responses with a status other than 2xx/3xx.
    pub status: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
}

impl WrkResult {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs()
    }

    /// MiB per second read by the client.
    pub fn mib_s(&self) -> f64 {
        self.bytes as f64 / self.secs() / (1024.0 * 1024.0)
    }

    fn secs(&self) -> f64 {
        (self.duration_us.max(1)) as f64 / 1e6
    }

    /// Errors that mean a request failed: connect, write, bad status,
    /// timeout, plus responses shorter than the body on average.
    pub fn errors(&self, body: u64) -> u64 {
        let short = if self.requests > 0 && self.bytes < self.requests * body {
            // Some responses were cut short: count how many bodies are missing.
            (self.requests * body - self.bytes).div_ceil(body.max(1))
        } else {
            0
        };
        self.connect + self.write + self.status + self.timeout + short
    }
}

/// How to run one cell.
#[derive(Debug, Clone)]
pub struct Load {
    /// The wrk executable.
    pub wrk: PathBuf,
    /// The script file (see [`script`]).
    pub script: PathBuf,
    /// Where wrk connects: the proxy, or the origin for a direct run.
    pub connect_to: SocketAddr,
    /// Open connections.
    pub conns: u32,
    /// Length of the run.
    pub duration: Duration,
}

/// Runs wrk once (bounded: killed if it overstays its duration by 30 s).
pub fn run_wrk(load: &Load) -> Result<WrkResult> {
    let threads = load.conns.clamp(1, 2);
    let secs = load.duration.as_secs().max(1);
    let mut cmd = Command::new(&load.wrk);
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{}", load.conns))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&load.script)
        .arg(format!("http://{}/", load.connect_to));
    let done = run_bounded(cmd, Duration::from_secs(secs + 30))
        .with_context(|| format!("starting {}", load.wrk.display()))?;
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    let err = String::from_utf8_lossy(&done.stderr).into_owned();
    done.success().context("wrk")?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .ok_or_else(|| anyhow!("wrk printed no summary: {err}{out}"))?;
    serde_json::from_str(line).with_context(|| format!("wrk's summary {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_asks_a_proxy_for_the_origin() {
        let s = script("http://127.0.0.1:8080/1k.bin");
        for line in [
            r#"wrk.path = "http://127.0.0.1:8080/1k.bin""#,
            r#"wrk.headers["Host"] = "127.0.0.1:8080""#,
            r#"wrk.headers["Connection"] = "close""#,
            "BENCH-JSON ",
        ] {
            assert!(s.contains(line), "missing {line:?} in\n{s}");
        }
    }

    #[test]
    fn errors_count_short_bodies() {
        let whole = WrkResult {
            requests: 10,
            bytes: 10 * 1100,
            duration_us: 2_000_000,
            ..WrkResult::default()
        };
        assert_eq!(whole.errors(1024), 0);
        assert!((whole.rps() - 5.0).abs() < 1e-9, "{}", whole.rps());
        let short = WrkResult {
            bytes: 8 * 1024,
            write: 1,
            ..whole.clone()
        };
        assert_eq!(short.errors(1024), 2 + 1);
    }
}
