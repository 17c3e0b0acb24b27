//! Helpers for the "safe in front of real clients" checks (issue #14,
//! `harness/tests/safety_*.rs`): telling a cached answer from an origin
//! answer, the spellings of `127.0.0.1` a deny list and a loop guard must
//! see through, clients that reset or never read, and starting a proxy
//! under a given open-file limit. (The spellings as bad-input cases are in
//! [`crate::checks::corpus::spelling_corpus`]; the kernel's view of a
//! connection in [`crate::process::procfs`].)

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use socket2::SockRef;

use crate::checks::CHECK_TIMEOUT;
use crate::checks::robustness::start_download;
use crate::clients::http::{Response, exchange, proxy_request};
use crate::lab::{Lab, Variant};
use crate::process::{Running, run_bounded};

/// Fetches `url` through `proxy` with extra request headers.
pub fn fetch(proxy: SocketAddr, url: &str, extra: &[(&str, &str)]) -> Result<Response> {
    exchange(proxy, &proxy_request(url, extra), CHECK_TIMEOUT)
}

/// The number K of tiny-origin's `respond #K` body: which origin answer
/// this is. `None` for any other body.
pub fn respond_number(response: &Response) -> Option<u64> {
    let body = String::from_utf8_lossy(response.body());
    body.trim().strip_prefix("respond #")?.parse().ok()
}

/// Fetches `lab.origin`'s `/respond?{query}` twice through `lab.proxy`
/// (first with `first_headers`, then with `second_headers`) and says
/// whether the second answer was the first one again — served from the
/// proxy's cache.
pub fn second_fetch_was_cached(
    lab: Lab,
    query: &str,
    first_headers: &[(&str, &str)],
    second_headers: &[(&str, &str)],
) -> Result<bool> {
    let target = lab.url(&format!("/respond?{query}"));
    let first = fetch(lab.proxy, &target, first_headers)?;
    let second = fetch(lab.proxy, &target, second_headers)?;
    match (respond_number(&first), respond_number(&second)) {
        (Some(a), Some(b)) => Ok(a == b),
        _ => bail!(
            "no `respond #K` body: {:?} then {:?}",
            first.status_line(),
            second.status_line()
        ),
    }
}

/// A client that asks for a large download, reads a little, then simply
/// resets the connection (`SO_LINGER` 0, no half-close first): a browser
/// tab closed mid-download. The proxy's next write gets `ECONNRESET`.
pub fn reset_download(lab: Lab) -> Result<()> {
    let stream = start_download(lab, CHECK_TIMEOUT)?;
    SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

/// Address spellings of `127.0.0.1` a deny list or loop guard that compares
/// text would miss (each usable as a URI host).
pub const LOOPBACK_SPELLINGS: [&str; 10] = [
    "2130706433",
    "0x7f.1",
    "0x7F000001",
    "127.1",
    "0177.0.0.1",
    "127.000.000.001",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "0.0.0.0",
    "0",
];

/// Names `/etc/hosts` gives to `127.0.0.1` besides `localhost` (never a
/// name under `.invalid`): "any other name that resolves there".
pub fn loopback_aliases() -> Vec<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("127.0.0.1"))
                .then(|| words.map(str::to_string).collect::<Vec<_>>())
        })
        .flatten()
        .filter(|name| name != "localhost" && !name.ends_with(".invalid"))
        .collect()
}

/// Runs `program args` to its end (bounded by `limit`, killed after) and
/// returns its exit status (`None` if it had to be killed) and stderr.
pub fn run_to_exit(
    program: &Path,
    args: &[&str],
    limit: Duration,
) -> Result<(Option<i32>, String)> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let done = run_bounded(cmd, limit)?;
    let code = (!done.timed_out).then(|| done.status.code()).flatten();
    Ok((code, String::from_utf8_lossy(&done.stderr).into_owned()))
}

/// Starts one of our variants with its open-file limit set to `soft`
/// (and `hard`) first, the way `ulimit -n` in a shell would.
pub fn start_variant_with_nofile(
    variant: Variant,
    soft: u64,
    hard: u64,
    extra: &[&str],
) -> Result<Running> {
    let binary = crate::bins::binary(variant.package())?;
    let mut args = vec![
        "-c".to_string(),
        format!("ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""),
        binary.display().to_string(),
        "0".to_string(),
    ];
    args.extend(extra.iter().map(std::string::ToString::to_string));
    Ok(Running::start_listening(
        variant.package(),
        Path::new("/bin/sh"),
        &args,
    )?)
}

/// Clients that ask for a large download and then read nothing, held open
/// until dropped: what a stalled browser tab or a slow-loris reader does
/// to a proxy's buffers.
#[derive(Debug)]
pub struct StalledDownloads {
    /// The open connections; holding them is the point.
    held: Vec<TcpStream>,
}

impl StalledDownloads {
    /// Opens `count` of them through `lab.proxy` to `lab.origin`'s
    /// `/bytes/500000000`.
    pub fn open(lab: Lab, count: usize) -> Result<StalledDownloads> {
        StalledDownloads::open_sized(lab, count, 500_000_000)
    }

    /// Opens `count` of them, each asking for `size` bytes.
    pub fn open_sized(lab: Lab, count: usize, size: usize) -> Result<StalledDownloads> {
        let request = proxy_request(&lab.url(&format!("/bytes/{size}")), &[]);
        let mut held = Vec::with_capacity(count);
        for _ in 0..count {
            let mut stream = TcpStream::connect_timeout(&lab.proxy, CHECK_TIMEOUT)?;
            stream.write_all(&request)?;
            held.push(stream);
        }
        Ok(StalledDownloads { held })
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// `true` when none are.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Waits (at most `limit`) until `measure` stops growing: the buffers are
/// full. Returns the last value.
pub fn settle(limit: Duration, mut measure: impl FnMut() -> u64) -> u64 {
    let deadline = Instant::now() + limit;
    let mut last = measure();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = measure();
        if now <= last || Instant::now() > deadline {
            return now.max(last);
        }
        last = now;
    }
}
