//! The tokio tunnel relay: `copy_bidirectional`, which already runs both
//! directions at once in one task and passes a half-close on, with the
//! idle timeout around it — every read and write of either socket moves
//! one shared clock, and the copy ends once the clock has not moved for
//! `--idle-timeout`.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Moved, TUNNEL_BUF};

/// When a tunnel last moved a byte, either way.
#[derive(Debug)]
struct Clock {
    start: Instant,
    /// Nanoseconds from `start` to the last byte moved.
    last: AtomicU64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn tick(&self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.fetch_max(nanos, Ordering::Relaxed);
    }

    fn deadline(&self, idle: Duration) -> Instant {
        let last = self.start + Duration::from_nanos(self.last.load(Ordering::Relaxed));
        last.checked_add(idle)
            .unwrap_or_else(|| last + Duration::from_hours(8760))
    }
}

/// A socket whose reads and writes tick the tunnel's clock and count the
/// bytes written to it.
struct Watched<'a> {
    stream: &'a mut TcpStream,
    clock: Arc<Clock>,
    written: u64,
}

impl AsyncRead for Watched<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.tick();
        }
        polled
    }
}

impl AsyncWrite for Watched<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut *self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.written += n as u64;
            self.clock.tick();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.stream).poll_shutdown(cx)
    }
}

/// Relays `client` ⇄ `origin` until both directions are done or nothing
/// moves either way for `idle`.
pub(crate) async fn both_ways_async(
    client: &mut TcpStream,
    origin: &mut TcpStream,
    idle: Duration,
) -> Moved {
    let clock = Arc::new(Clock::new());
    let mut client = Watched {
        stream: client,
        clock: Arc::clone(&clock),
        written: 0,
    };
    let mut origin = Watched {
        stream: origin,
        clock: Arc::clone(&clock),
        written: 0,
    };
    let error = {
        let mut copy = pin!(tokio::io::copy_bidirectional_with_sizes(
            &mut client,
            &mut origin,
            TUNNEL_BUF,
            TUNNEL_BUF
        ));
        loop {
            let deadline = tokio::time::Instant::from_std(clock.deadline(idle));
            match tokio::time::timeout_at(deadline, copy.as_mut()).await {
                Ok(Ok(_)) => break None,
                Ok(Err(e)) => break Some(e),
                // Something moved since this wait began: wait again.
                Err(_) if clock.deadline(idle) > Instant::now() => {}
                Err(_) => break Some(io::ErrorKind::TimedOut.into()),
            }
        }
    };
    Moved {
        up: origin.written,
        down: client.written,
        error,
    }
}
