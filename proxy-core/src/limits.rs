//! Limits that hold under pressure (SPEC §6, issue #14 items 9 and 10):
//! open files, kernel memory per connection, and what the accept loop does
//! when it runs out of descriptors. The lab's `main` calls `Accept` in a
//! loop and never thinks about any of this; a proxy in front of real
//! clients must.
//!
//! - **Open files.** Each connection needs [`FDS_PER_CONN`] descriptors
//!   (client socket, origin socket, the two ends of a splice pipe). At
//!   start the soft `RLIMIT_NOFILE` is raised toward the hard limit
//!   ([`raise_nofile`]) and `--max-conns` is lowered to what the limit
//!   allows ([`effective_max_conns`]): a connection beyond it gets `503`
//!   at once instead of `accept` failing with `EMFILE` while clients wait.
//! - **`accept` failing** with `EMFILE`/`ENFILE` (or out of memory) still
//!   can happen (another process's limit, the system's): the loop backs off
//!   (10 ms doubling to 1 s) instead of spinning, and logs once per
//!   [`LOG_EVERY`] with the number of failures in between
//!   ([`AcceptBackoff`]).
//! - **Kernel memory.** A stalled download fills every buffer between the
//!   origin and the client, and none of it shows in the proxy's RSS. The
//!   client socket's send buffer ([`CLIENT_SNDBUF`]), the origin socket's
//!   receive buffer ([`ORIGIN_RCVBUF`]) and the splice pipe
//!   ([`SPLICE_PIPE`]) are fixed, so one connection holds at most
//!   [`KERNEL_BYTES_PER_CONN`] of socket and pipe memory (the kernel
//!   doubles a requested socket buffer size for its bookkeeping), instead
//!   of the ~8 MiB that autotuned buffers and a 1 MiB pipe reached.

use std::io;
use std::time::{Duration, Instant};

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Requested `SO_SNDBUF` of a client socket (the kernel doubles it).
pub const CLIENT_SNDBUF: usize = 128 * 1024;

/// Requested `SO_RCVBUF` of an origin socket (the kernel doubles it).
pub const ORIGIN_RCVBUF: usize = 128 * 1024;

/// Size of the pipe a big response is spliced through, and the most one
/// splice moves.
pub const SPLICE_PIPE: usize = 64 * 1024;

/// The most kernel memory one relaying connection holds in its buffers:
/// both socket buffers as the kernel accounts them (twice the requested
/// size), plus the pipe. 576 KiB.
pub const KERNEL_BYTES_PER_CONN: usize = 2 * CLIENT_SNDBUF + 2 * ORIGIN_RCVBUF + SPLICE_PIPE;

/// Descriptors one connection may hold at once: the client socket, the
/// origin socket and a splice pipe's two ends.
pub const FDS_PER_CONN: u64 = 4;

/// Descriptors kept for everything else: stdio, the listener, tokio's
/// epoll and wake-up descriptors, the signal thread, DNS look-ups, a
/// `--deny-file` being read, the connection refused with `503`.
pub const RESERVED_FDS: u64 = 64;

/// The highest soft open-file limit asked for, even when the hard limit is
/// higher (or unlimited): more connections than this is not a lab proxy.
pub const MAX_NOFILE: u64 = 1 << 20;

/// How often a failing `accept` is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// The open-file limit before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit found at start (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit, the most the soft one can be raised to.
    pub hard: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` toward the hard limit (at most
/// [`MAX_NOFILE`]); leaves it alone when it is already there or the raise
/// is refused.
pub fn raise_nofile() -> FdLimit {
    let limit = getrlimit(Resource::Nofile);
    let target = match limit.maximum {
        Some(hard) => hard.min(MAX_NOFILE),
        None => MAX_NOFILE,
    };
    let before = limit.current;
    if before.is_some_and(|soft| soft < target) {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the open-file limit to {target}: {e}");
        }
    }
    FdLimit {
        before,
        soft: getrlimit(Resource::Nofile).current,
        hard: limit.maximum,
    }
}

/// The connection limit that the open-file limit `soft` allows, at most
/// `asked` (`--max-conns`) and at least 1.
pub fn effective_max_conns(asked: usize, soft: Option<u64>) -> usize {
    let Some(soft) = soft else {
        return asked;
    };
    let fit = soft.saturating_sub(RESERVED_FDS) / FDS_PER_CONN;
    usize::try_from(fit)
        .unwrap_or(usize::MAX)
        .clamp(1, asked.max(1))
}

/// `true` for the `accept` errors that mean "out of a resource": waiting
/// helps, retrying at once only spins.
pub fn is_resource_error(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// What the accept loop does after `accept` fails: how long to pause, and
/// whether to log (at most once per [`LOG_EVERY`], with the count of the
/// failures not logged).
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    /// The first pause after running out of descriptors.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);

    /// A new backoff, not backing off.
    pub fn new() -> AcceptBackoff {
        AcceptBackoff::default()
    }

    /// Records a failed `accept` at `now`. Returns how long to pause (zero
    /// for an error of one connection, like a client that reset before
    /// being accepted) and the log line to write, if it is time for one.
    pub fn failed(&mut self, error: &io::Error, now: Instant) -> (Duration, Option<String>) {
        let pause = if is_resource_error(error) {
            self.delay = (self.delay * 2).clamp(Self::FIRST, Self::MAX);
            self.delay
        } else {
            Duration::ZERO
        };
        let due = self
            .last_log
            .is_none_or(|last| now.saturating_duration_since(last) >= LOG_EVERY);
        if !due {
            self.unlogged += 1;
            return (pause, None);
        }
        let line = if self.unlogged > 0 {
            format!(
                "accept failed: {error} ({} more failures since the last message); pausing {pause:?}",
                self.unlogged
            )
        } else {
            format!("accept failed: {error}; pausing {pause:?}")
        };
        self.last_log = Some(now);
        self.unlogged = 0;
        (pause, Some(line))
    }

    /// A connection was accepted: the next failure starts from the first
    /// pause again.
    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_conns_fits_the_open_file_limit() {
        assert_eq!(effective_max_conns(4096, None), 4096);
        assert_eq!(effective_max_conns(4096, Some(1 << 20)), 4096);
        assert_eq!(effective_max_conns(4096, Some(1024)), (1024 - 64) / 4);
        assert_eq!(effective_max_conns(10, Some(1024)), 10);
        assert_eq!(effective_max_conns(4096, Some(10)), 1);
        assert!(effective_max_conns(4096, Some(1024)) * 4 + 64 <= 1024);
    }

    #[test]
    fn out_of_descriptors_backs_off_and_logs_once_per_interval() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let mut backoff = AcceptBackoff::new();
        let start = Instant::now();
        let mut pauses = Vec::new();
        let mut lines = Vec::new();
        // 100 failures a second for 12 s: the old loop's log rate.
        for i in 0..1200u32 {
            let (pause, line) = backoff.failed(&emfile, start + Duration::from_millis(10) * i);
            pauses.push(pause);
            lines.extend(line);
        }
        assert_eq!(pauses[0], AcceptBackoff::FIRST);
        assert!(pauses[1] > pauses[0]);
        assert_eq!(*pauses.last().expect("pause"), AcceptBackoff::MAX);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].contains("499 more failures"), "{}", lines[1]);
        backoff.succeeded();
        let (pause, _) = backoff.failed(&emfile, start + Duration::from_mins(1));
        assert_eq!(pause, AcceptBackoff::FIRST);
    }

    #[test]
    fn a_connection_error_does_not_pause() {
        let reset = io::Error::from_raw_os_error(libc::ECONNABORTED);
        let (pause, line) = AcceptBackoff::new().failed(&reset, Instant::now());
        assert_eq!(pause, Duration::ZERO);
        assert!(line.is_some());
    }

    #[test]
    fn the_soft_limit_is_raised_toward_the_hard_one() {
        let limit = raise_nofile();
        let target = limit.hard.map_or(MAX_NOFILE, |h| h.min(MAX_NOFILE));
        match limit.before {
            Some(before) if before < target => assert_eq!(limit.soft, Some(target)),
            _ => assert_eq!(limit.soft, limit.before),
        }
    }
}
