//! What Linux's `/proc` says about a process under test — open file
//! descriptors, threads, resident memory — and about the host's TCP
//! memory, for the leak checks, `harness load` and `harness bench`.
//! Every reader returns `None` where `/proc` does not have the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Open file descriptors and threads of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Entries in `/proc/PID/fd`.
    pub fds: usize,
    /// Entries in `/proc/PID/task`.
    pub threads: usize,
}

/// Reads [`Usage`].
pub fn usage(pid: u32) -> Option<Usage> {
    let count = |dir: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{dir}"))
            .ok()
            .map(Iterator::count)
    };
    Some(Usage {
        fds: count("fd")?,
        threads: count("task")?,
    })
}

/// Waits (bounded) until usage is back to `idle` or below; returns the
/// last reading.
pub fn wait_for_idle(pid: u32, idle: Usage, limit: Duration) -> Option<Usage> {
    let deadline = Instant::now() + limit;
    loop {
        let now = usage(pid)?;
        if (now.fds <= idle.fds && now.threads <= idle.threads) || Instant::now() > deadline {
            return Some(now);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `kB` field of `/proc/PID/status`, e.g. `VmRSS`, or a count such as
/// `Threads`.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS")
}

/// The number of threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads")
}

/// The host's TCP memory from `/proc/net/sockstat`: the `mem` field of the
/// `TCP:` line, in bytes (the kernel counts it in pages of 4 KiB). It is
/// kernel memory — socket buffers — that no process's RSS shows.
pub fn tcp_mem_bytes() -> Option<u64> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            let pages: u64 = words.next()?.parse().ok()?;
            return Some(pages * 4096);
        }
    }
    None
}

/// One TCP socket of this machine as `/proc/net/tcp{,6}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSocket {
    /// Local port.
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// The kernel's state number (`0x0A` is LISTEN).
    pub state: u8,
    /// From `/proc/net/tcp6` (an IPv6 socket, `[::]` included).
    pub ipv6: bool,
    /// Bytes sent but not yet acknowledged by the peer.
    pub tx_queue: u64,
    /// Bytes received but not yet read by the application.
    pub rx_queue: u64,
}

/// The kernel's state number of a listening socket.
const LISTEN: u8 = 0x0A;

/// Every TCP socket of this machine (`/proc/net/tcp` and `tcp6`: `sl
/// local_address rem_address st tx_queue:rx_queue …`, addresses as
/// `HEXADDR:HEXPORT`).
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let mut all = Vec::new();
    for (file, ipv6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        all.extend(text.lines().skip(1).filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| {
                let (_, hex) = addr.rsplit_once(':')?;
                u16::from_str_radix(hex, 16).ok()
            };
            let (tx, rx) = fields.get(4)?.split_once(':')?;
            Some(TcpSocket {
                local_port: port(fields.get(1)?)?,
                remote_port: port(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                ipv6,
                tx_queue: u64::from_str_radix(tx, 16).ok()?,
                rx_queue: u64::from_str_radix(rx, 16).ok()?,
            })
        }));
    }
    all
}

/// Which address families have a TCP socket listening on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Listening {
    /// An IPv4 socket listens there: what driver.sh's `netstat
    /// --protocol=tcpip` sees.
    pub ipv4: bool,
    /// An IPv6 socket listens there (`[::]` accepts IPv4 too, but
    /// driver.sh does not see it).
    pub ipv6: bool,
}

impl Listening {
    /// Anything listens there.
    pub fn any(self) -> bool {
        self.ipv4 || self.ipv6
    }
}

/// Who listens on local TCP port `port` — read from `/proc`, not probed:
/// connecting to find out would hand the program a connection it did not
/// expect (a student's proxy may die writing an error page to a client
/// that already left).
pub fn listening(port: u16) -> Listening {
    tcp_sockets()
        .iter()
        .filter(|s| s.local_port == port && s.state == LISTEN)
        .fold(Listening::default(), |found, s| Listening {
            ipv4: found.ipv4 || !s.ipv6,
            ipv6: found.ipv6 || s.ipv6,
        })
}

/// Bytes queued in a proxy's own sockets: what it has not yet delivered
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

/// The soft and hard "Max open files" of a process (`/proc/PID/limits`).
pub fn open_file_limits(pid: u32) -> Option<(String, String)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line["Max open files".len()..].split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

/// Samples a process's RSS every 50 ms until [`RssSampler::peak_kib`] is
/// called or it is dropped; keeps the peak.
#[derive(Debug)]
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

/// Raises this process's soft open-file limit to its hard limit (a test
/// that holds a thousand sockets needs it; children inherit the limit).
pub fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_visible() {
        let pid = std::process::id();
        let usage = usage(pid).expect("/proc");
        assert!(usage.fds >= 3 && usage.threads >= 1, "{usage:?}");
        assert!(rss_kib(pid).expect("VmRSS") > 0);
        assert!(threads(pid).expect("Threads") >= 1);
        assert!(tcp_mem_bytes().is_some());
    }

    #[test]
    fn listeners_are_seen_by_family() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = v4.local_addr().expect("addr").port();
        assert_eq!(
            listening(port),
            Listening {
                ipv4: true,
                ipv6: false
            }
        );
        drop(v4);
        assert!(!listening(port).any());
        if let Ok(v6) = std::net::TcpListener::bind("[::1]:0") {
            let port = v6.local_addr().expect("addr").port();
            assert_eq!(
                listening(port),
                Listening {
                    ipv4: false,
                    ipv6: true
                }
            );
        }
    }
}
