//! Helpers for the "safe in front of real clients" checks (issue #14,
//! `harness/tests/safety_*.rs`): telling a cached answer from an origin
//! answer, the spellings of addresses and `Host` values a deny list and a
//! loop guard must see through, clients that reset or read slowly, the
//! kernel memory a connection holds (`/proc/net/tcp`, `/proc/net/sockstat`)
//! and starting a proxy under a given open-file limit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use socket2::SockRef;

use crate::checks::{BadCase, CHECK_TIMEOUT, Expect};
use crate::http::{Response, exchange, proxy_request, url};
use crate::lab::Variant;
use crate::process::Running;

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

/// Fetches `/respond?{query}` twice through `proxy` (first with
/// `first_headers`, then with `second_headers`) and says whether the second
/// answer was the first one again — served from the proxy's cache.
pub fn second_fetch_was_cached(
    proxy: SocketAddr,
    origin: SocketAddr,
    query: &str,
    first_headers: &[(&str, &str)],
    second_headers: &[(&str, &str)],
) -> Result<bool> {
    let target = url(origin, &format!("/respond?{query}"));
    let first = fetch(proxy, &target, first_headers)?;
    let second = fetch(proxy, &target, second_headers)?;
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
pub fn reset_download(proxy: SocketAddr, origin: SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect_timeout(&proxy, CHECK_TIMEOUT)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(&proxy_request(
        &url(origin, crate::checks::robustness::LARGE_DOWNLOAD),
        &[],
    ))?;
    let mut buf = [0u8; 16 * 1024];
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
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

/// The bad-input cases for controls that must hold whatever the spelling
/// (issue #14 items 5-7), added to the hostile-request corpus.
///
/// Start the proxy with [`SPELLING_DENY_FLAGS`]. `origin` must be a live
/// tiny-origin on 127.0.0.1 (it is not denied: the denied addresses are
/// `127.0.0.2`, `10.0.0.0/8` and `::1`), `proxy` the proxy's own address
/// (the loop spellings aim at it).
pub fn spelling_corpus(origin: SocketAddr, proxy: SocketAddr) -> Vec<BadCase> {
    let mut cases = Vec::new();
    let mut add = |name: String, request: Vec<u8>, expect: Expect| {
        cases.push(BadCase {
            name,
            request,
            expect,
        });
    };
    let port = origin.port();
    for host in [
        "127.0.0.2",
        "2130706434",
        "0x7f.2",
        "127.2",
        "0177.0.0.2",
        "127.000.000.002",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "167772161",
        "0x0a000001",
        "10.1",
        "012.0.0.1",
        "[::ffff:10.0.0.1]",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[0000::0001]",
    ] {
        add(
            format!("denied address spelled {host}"),
            format!("GET http://{host}:{port}/home.html HTTP/1.0\r\n\r\n").into_bytes(),
            Expect::Status(403),
        );
    }
    let home = url(origin, "/home.html");
    for host in [
        "0x7f.2",
        "2130706434",
        "[::ffff:127.0.0.2]",
        "10.1:80",
        "[::1]",
    ] {
        add(
            format!("Host header naming a denied address as {host}"),
            format!("GET {home} HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(),
            Expect::Status(403),
        );
    }
    let own = proxy.port();
    for host in [
        "0",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
    ] {
        add(
            format!("the proxy itself spelled {host}"),
            format!("GET http://{host}:{own}/ HTTP/1.0\r\n\r\n").into_bytes(),
            Expect::Status(508),
        );
    }
    for (name, value) in [
        ("a comma list", format!("{origin}, evil.invalid")),
        ("user info", format!("user:pw@{origin}")),
        ("a path", format!("{origin}/x")),
        ("a backslash", format!("{origin}\\x")),
        ("a plus before the port", format!("127.0.0.1:+{port}")),
        ("a port too big", "127.0.0.1:65536".to_string()),
        ("port 0", "127.0.0.1:0".to_string()),
        ("two ports", format!("{origin}:{port}")),
        ("an empty value", String::new()),
        ("an unclosed IPv6 bracket", "[::1".to_string()),
        ("a name of 300 bytes", "a".repeat(300)),
        ("a space inside", "a b".to_string()),
    ] {
        add(
            format!("Host with {name}"),
            format!("GET {home} HTTP/1.0\r\nHost: {value}\r\n\r\n").into_bytes(),
            Expect::Status(400),
        );
    }
    add(
        "Host with non-ASCII bytes".to_string(),
        [
            format!("GET {home} HTTP/1.0\r\nHost: caf").into_bytes(),
            vec![0xc3, 0xa9],
            b".test\r\n\r\n".to_vec(),
        ]
        .concat(),
        Expect::Status(400),
    );
    add(
        "Host naming the origin another way is fine".to_string(),
        format!("GET {home} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes(),
        Expect::Status(200),
    );
    cases
}

/// The flags [`spelling_corpus`] expects on the proxy.
pub const SPELLING_DENY_FLAGS: [&str; 6] = [
    "--deny",
    "127.0.0.2",
    "--deny",
    "10.0.0.0/8",
    "--deny",
    "::1/128",
];

/// Runs `program args` to its end (bounded by `limit`, killed after) and
/// returns its exit status (`None` if it had to be killed) and stderr.
pub fn run_to_exit(
    program: &Path,
    args: &[&str],
    limit: Duration,
) -> Result<(Option<i32>, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            crate::process::kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Ok((status.and_then(|s| s.code()), stderr))
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
    args.extend(extra.iter().map(|s| s.to_string()));
    Running::start_listening(variant.package(), Path::new("/bin/sh"), &args)
}

/// The soft and hard "Max open files" of a process (`/proc/PID/limits`).
pub fn open_file_limits(pid: u32) -> Option<(String, String)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line["Max open files".len()..].split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

/// One TCP socket of this machine as `/proc/net/tcp{,6}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSocket {
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// Bytes sent but not yet acknowledged by the peer.
    pub tx_queue: u64,
    /// Bytes received but not yet read by the application.
    pub rx_queue: u64,
}

/// Every TCP socket of this machine (`/proc/net/tcp` and `tcp6`).
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let mut all = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(queues)) =
                (fields.get(1), fields.get(2), fields.get(4))
            else {
                continue;
            };
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let Some((tx, rx)) = queues.split_once(':') else {
                continue;
            };
            let (Some(local_port), Some(remote_port), Ok(tx_queue), Ok(rx_queue)) = (
                port(local),
                port(remote),
                u64::from_str_radix(tx, 16),
                u64::from_str_radix(rx, 16),
            ) else {
                continue;
            };
            all.push(TcpSocket {
                local_port,
                remote_port,
                tx_queue,
                rx_queue,
            });
        }
    }
    all
}

/// Bytes queued in the proxy's own sockets: what it has not yet delivered
/// to its clients (the send queues of the sockets on `proxy_port`) plus
/// what it has not yet read from the origin (the receive queues of its
/// sockets to `origin_port`).
pub fn proxy_queued_bytes(proxy_port: u16, origin_port: u16) -> u64 {
    tcp_sockets()
        .iter()
        .filter(|s| s.local_port == proxy_port || s.remote_port == origin_port)
        .map(|s| s.tx_queue + s.rx_queue)
        .sum()
}

/// The kernel's TCP memory in use on this machine, in bytes
/// (`/proc/net/sockstat`, `TCP: ... mem PAGES`).
pub fn sockstat_tcp_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            return words.next()?.parse::<u64>().ok().map(|pages| pages * 4096);
        }
    }
    None
}

/// Clients that ask for a large download and then read nothing, held open
/// until dropped: what a stalled browser tab or a slow-loris reader does
/// to a proxy's buffers.
#[derive(Debug)]
pub struct StalledDownloads {
    _held: Vec<TcpStream>,
}

impl StalledDownloads {
    /// Opens `count` of them through `proxy` to `origin`'s
    /// `/bytes/500000000`.
    pub fn open(proxy: SocketAddr, origin: SocketAddr, count: usize) -> Result<StalledDownloads> {
        StalledDownloads::open_sized(proxy, origin, count, 500_000_000)
    }

    /// Opens `count` of them, each asking for `size` bytes.
    pub fn open_sized(
        proxy: SocketAddr,
        origin: SocketAddr,
        count: usize,
        size: usize,
    ) -> Result<StalledDownloads> {
        let request = proxy_request(&url(origin, &format!("/bytes/{size}")), &[]);
        let mut held = Vec::with_capacity(count);
        for _ in 0..count {
            let mut stream = TcpStream::connect_timeout(&proxy, CHECK_TIMEOUT)?;
            stream.write_all(&request)?;
            held.push(stream);
        }
        Ok(StalledDownloads { _held: held })
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self._held.len()
    }

    /// `true` when none are.
    pub fn is_empty(&self) -> bool {
        self._held.is_empty()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_corpus_names_are_unique() {
        let origin: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        let proxy: SocketAddr = "127.0.0.1:3128".parse().expect("addr");
        let cases = spelling_corpus(origin, proxy);
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "duplicate case names");
        assert_eq!(cases.len(), 41);
        let corpus = crate::corpus::corpus(origin, 1).len();
        assert_eq!(corpus, 86);
    }

    #[test]
    fn reads_proc_net_tcp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if Path::new("/proc/net/tcp").exists() {
            assert!(tcp_sockets().iter().any(|s| s.local_port == port));
        }
    }
}
