//! Driving load with wrk and reading what it measured, plus the proxy's
//! memory while it runs.
//!
//! wrk sends origin-form paths; a Lua script sets `wrk.path` to the
//! absolute URI so the same run works against a forward proxy (and against
//! nginx directly, which accepts absolute-form targets too), adds
//! `Connection: close` for one request per connection as in the lab, and
//! prints its totals and latency percentiles as one JSON line in `done`.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The marker before the JSON line the script's `done` prints.
const MARK: &str = "BENCH-JSON ";

/// The Lua script for wrk: absolute URI, `Connection: close`, JSON summary.
pub fn script(url: &str) -> String {
    format!(
        r#"-- written by `harness bench`
wrk.method = "GET"
wrk.path = "{url}"
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
        .arg(format!("http://{}/", load.connect_to))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .process_group(0);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", load.wrk.display()))?;
    let mut guard = KillOnDrop(child);
    let stdout = guard.0.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let stderr = guard.0.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let out = read_all(stdout);
    let err = read_all(stderr);
    let deadline = Instant::now() + Duration::from_secs(secs + 30);
    let status = loop {
        if let Some(status) = guard.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("wrk did not finish within {secs} s + 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        bail!("wrk failed ({status}): {err}{out}");
    }
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .ok_or_else(|| anyhow!("wrk printed no summary: {err}{out}"))?;
    serde_json::from_str(line).with_context(|| format!("wrk's summary {line:?}"))
}

fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Kills a child's process group when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on the process group this child leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The resident set size of a process, KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_field(pid, "VmRSS:")
}

/// The number of threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    proc_status_field(pid, "Threads:")
}

fn proc_status_field(pid: u32, field: &str) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples a process's RSS every 50 ms until dropped or
/// [`RssSampler::peak_kib`] is called; keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak.max(rss_kib(pid).unwrap_or(0))
        });
        RssSampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling and returns the peak RSS seen, KiB.
    pub fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok()).unwrap_or(0)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
