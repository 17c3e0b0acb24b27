//! Robustness: clients that hang up mid-response (SIGPIPE), leaks of file
//! descriptors and threads, and the three timeouts of SPEC §3/§6.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::{CHECK_TIMEOUT, Check, Failure, Section, same_as_direct};
use crate::clients::http::{exchange, proxy_request};
use crate::lab::Lab;
use crate::process::procfs::{usage, wait_for_idle};
use crate::process::{Running, describe_exit};

/// A download big enough to be in flight when the client hangs up.
pub const LARGE_DOWNLOAD: &str = "/bytes/64000000";

/// How long an aborting client waits for the first bytes.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// The first half of a client that hangs up mid-download: connects to
/// `lab.proxy` (waiting at most `connect_timeout`), asks it for
/// [`LARGE_DOWNLOAD`] from `lab.origin`, and reads up to 16 KiB of the
/// answer (each read waiting at most [`ABORT_WAIT`], an end or an error
/// ending the reading early). Returns the still open connection, for the
/// caller to end its own way.
pub(crate) fn start_download(lab: Lab, connect_timeout: Duration) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&lab.proxy, connect_timeout)?;
    stream.set_read_timeout(Some(ABORT_WAIT))?;
    stream.write_all(&proxy_request(&lab.url(LARGE_DOWNLOAD), &[]))?;
    let mut buf = [0u8; 16 * 1024];
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    Ok(stream)
}

/// A client that asks for a large download, reads a little, half-closes
/// and then resets the connection (`SO_LINGER` 0), the way an impatient
/// browser or a killed curl leaves. The proxy's next write to it fails;
/// with SIGPIPE at its C default, that write kills the process.
pub fn abort_download(lab: Lab) -> anyhow::Result<()> {
    let stream = start_download(lab, ABORT_WAIT)?;
    // Half-close first (the proxy's socket goes to CLOSE_WAIT), then reset:
    // the kernel then reports EPIPE, not ECONNRESET, on the next write.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    Ok(())
}

/// Aborts `count` downloads one after another, then `parallel` at once.
pub fn abort_many(lab: Lab, count: usize, parallel: usize) {
    for _ in 0..count {
        let _ = abort_download(lab);
    }
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                let _ = abort_download(lab);
            });
        }
    });
}

/// The SIGPIPE section: 50 aborted downloads in a row and 20 at once,
/// then the proxy must be alive and serving.
pub fn sigpipe(origin: SocketAddr, proxy: &mut Running) -> Vec<Check> {
    let lab = Lab {
        origin,
        proxy: proxy.addr,
    };
    abort_many(lab, 50, 20);
    std::thread::sleep(Duration::from_millis(300));
    let alive = match proxy.exit_status() {
        None => Check::pass(
            Section::Sigpipe,
            "process alive after 70 clients hung up mid-download",
        ),
        Some(status) => Check::fail(
            Section::Sigpipe,
            "process alive after 70 clients hung up mid-download",
            format!("the proxy exited: {}", describe_exit(status)),
            Some(if status.signal() == Some(13) {
                "your proxy died of SIGPIPE: call Signal(SIGPIPE, SIG_IGN) and treat EPIPE/ECONNRESET as 'this client is gone'"
            } else if status.signal().is_some() {
                "your proxy crashed while relaying a large answer (64 MB): see the large binary object extra"
            } else {
                "your proxy exited: Rio_writen (csapp) exits on EPIPE/ECONNRESET; use rio_writen and end only that connection"
            }),
        ),
    };
    let serves = Check::from_result(
        Section::Sigpipe,
        "still serves after clients hung up",
        same_as_direct(lab, "/home.html"),
    );
    vec![alive, serves]
}

/// With `--sigpipe default`, one aborted download must kill the process
/// with signal 13: the lab's crash, shown. Returns how it ended.
pub fn dies_of_sigpipe(origin: SocketAddr, proxy: &mut Running) -> Result<String, Failure> {
    let lab = Lab {
        origin,
        proxy: proxy.addr,
    };
    for _ in 0..20 {
        let _ = abort_download(lab);
        if let Some(status) = proxy.wait_exit(Duration::from_millis(300)) {
            return Ok(describe_exit(status));
        }
    }
    Err(Failure::new(
        "the proxy survived 20 aborted downloads",
        None,
    ))
}

// --------------------------------------------------------------- leaks

/// The leaks section: `requests` fetches from 8 clients at once, one in
/// ten aborted mid-download, then file descriptors and threads must
/// return to their idle level. `None` when `/proc` is missing (not Linux).
pub fn leaks(origin: SocketAddr, proxy: &Running, requests: usize) -> Option<Vec<Check>> {
    let lab = Lab {
        origin,
        proxy: proxy.addr,
    };
    let _ = same_as_direct(lab, "/home.html");
    std::thread::sleep(Duration::from_millis(200));
    let idle = usage(proxy.pid())?;
    // A proxy that hangs would make this take requests × timeout: stop
    // sending after a fixed time and count what was not sent as failed.
    let stop_at = Instant::now() + Duration::from_secs(10);
    let errors = std::sync::atomic::AtomicUsize::new(0);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= requests {
                        break;
                    }
                    if Instant::now() > stop_at {
                        errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        continue;
                    }
                    if i % 10 == 9 {
                        let _ = abort_download(lab);
                    } else if exchange(
                        lab.proxy,
                        &proxy_request(&lab.url("/notes.txt"), &[]),
                        CHECK_TIMEOUT,
                    )
                    .map_or(true, |r| r.status != Some(200))
                    {
                        errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let after = wait_for_idle(proxy.pid(), idle, Duration::from_secs(10))?;
    let errors = errors.into_inner();
    let served = if errors == 0 {
        Check::pass(
            Section::Leaks,
            format!("{requests} requests (one in ten aborted) all answered"),
        )
    } else {
        Check::fail(
            Section::Leaks,
            format!("{requests} requests (one in ten aborted) all answered"),
            format!("{errors} failed"),
            None,
        )
    };
    let fds = if after.fds <= idle.fds {
        Check::pass(Section::Leaks, "file descriptors back to idle")
    } else {
        Check::fail(
            Section::Leaks,
            "file descriptors back to idle",
            format!("idle {} open fds, after the load {}", idle.fds, after.fds),
            Some("close both the client and the server socket on every path, errors included"),
        )
    };
    let threads = if after.threads <= idle.threads {
        Check::pass(Section::Leaks, "threads back to idle")
    } else {
        Check::fail(
            Section::Leaks,
            "threads back to idle",
            format!(
                "idle {} threads, after the load {}",
                idle.threads, after.threads
            ),
            Some("threads that never end: detach them and make every wait bounded"),
        )
    };
    Some(vec![served, fds, threads])
}

// ------------------------------------------------------------- timeouts

/// A silent client is cut off after the header timeout (the connection
/// closes, with or without a page), well before `limit`.
pub fn header_timeout_cuts_silent_client(proxy: SocketAddr, limit: Duration) -> Check {
    let result = (|| -> Result<(), Failure> {
        let start = Instant::now();
        let mut stream =
            TcpStream::connect_timeout(&proxy, CHECK_TIMEOUT).map_err(anyhow::Error::from)?;
        stream
            .set_read_timeout(Some(limit))
            .map_err(anyhow::Error::from)?;
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
                Err(_) => {
                    return Err(Failure::new(
                        format!("still open after {:.1} s", start.elapsed().as_secs_f64()),
                        Some("a client that sends nothing must be cut off after a timeout"),
                    ));
                }
            }
        }
    })();
    Check::from_result(
        Section::Timeouts,
        "silent client cut off after the header timeout",
        result,
    )
}

/// A listening socket that never accepts and whose queue is full, so a
/// new connection attempt gets no answer (SYNs are dropped): an origin
/// that never accepts. Keep the value alive while it is used.
#[derive(Debug)]
pub struct BlackHole {
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
    /// Its address.
    pub addr: SocketAddr,
}

impl BlackHole {
    /// Binds with a backlog of 0 and fills the queue.
    pub fn new() -> anyhow::Result<BlackHole> {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| anyhow::anyhow!("no address"))?;
        let mut fillers = Vec::new();
        for _ in 0..8 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            let _ = s.connect(&addr.into());
            fillers.push(s);
        }
        std::thread::sleep(Duration::from_millis(100));
        Ok(BlackHole {
            _listener: listener,
            _fillers: fillers,
            addr,
        })
    }

    /// `true` when a new connection really gets no answer within `wait`.
    pub fn swallows(&self, wait: Duration) -> bool {
        TcpStream::connect_timeout(&self.addr, wait).is_err()
    }
}

/// An origin that never accepts gets `504` after the connect timeout.
pub fn connect_timeout_gives_504(proxy: SocketAddr, hole: &BlackHole, limit: Duration) -> Check {
    let result = (|| -> Result<(), Failure> {
        let response = exchange(
            proxy,
            &proxy_request(&format!("http://{}/", hole.addr), &[]),
            limit,
        )?;
        if response.status == Some(504) {
            Ok(())
        } else {
            Err(Failure::new(
                format!("expected 504, got {:?}", response.status_line()),
                None,
            ))
        }
    })();
    Check::from_result(
        Section::Timeouts,
        "origin that never accepts: 504 after the connect timeout",
        result,
    )
}

/// An origin that stops sending mid-body: the proxy drops the connection
/// after the idle timeout, having relayed what came (the client sees a
/// short body and a close, well before `limit`).
pub fn idle_timeout_drops_silent_origin(lab: Lab, limit: Duration) -> Check {
    let result = (|| -> Result<(), Failure> {
        let path = "/slow/100000?chunk=1000&ms=60000";
        let response = exchange(lab.proxy, &proxy_request(&lab.url(path), &[]), limit)?;
        let body = response.body().len();
        if response.status == Some(200) && body > 0 && body < 100_000 {
            Ok(())
        } else {
            Err(Failure::new(
                format!(
                    "expected 200 with part of the body then a close; got {:?} with {body} bytes",
                    response.status_line()
                ),
                None,
            ))
        }
    })();
    Check::from_result(
        Section::Timeouts,
        "origin silent mid-body: dropped after the idle timeout",
        result,
    )
}
