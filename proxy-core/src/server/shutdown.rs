//! Graceful shutdown (SPEC §6) and the count it waits on: the connections
//! in flight. The lab's C proxy dies on Ctrl-C with whatever it was
//! sending; this one stops accepting, lets in-flight connections finish
//! for `--shutdown-grace` seconds, and exits 0.
//!
//! - [`Conns`] counts the connections being served (each holds a
//!   [`Slot`], also the `--max-conns` limit) and wakes whoever waits for
//!   the count to reach zero: a `Condvar` for the blocking server, a tokio
//!   `Notify` for the async one. Nothing polls.
//! - The first SIGINT/SIGTERM ([`watch_signals`]) marks the server as
//!   stopping and shuts the listening socket down: on Linux that wakes a
//!   blocked `accept` (and tokio's readiness) with an error, the loop sees
//!   it is stopping and ends, and new clients are refused at once.
//! - The variant's `main` then waits for the count to reach zero and
//!   returns 0 on its own. If the grace period ends first (or a second
//!   signal comes), the signal thread exits the process with status 0 —
//!   the one forced exit, in [`forced_exit`]: `proxy-seq` may be in the
//!   middle of serving a slow client and would otherwise wait for it.

use std::io;
use std::net::{Shutdown, TcpListener};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The connections being served, the limit on them, and whether the
/// server is stopping.
#[derive(Debug)]
pub(crate) struct Conns {
    /// Set by the first SIGINT/SIGTERM: accept no more.
    stopping: AtomicBool,
    /// Set by a second signal: stop waiting for anyone.
    hurry: AtomicBool,
    /// Connections being served right now.
    active: Mutex<usize>,
    /// Signalled when `active` reaches zero or on `hurry`.
    idle: Condvar,
    /// The same, for tokio tasks.
    idle_async: tokio::sync::Notify,
    /// The connection limit in force: `--max-conns`, lowered to what the
    /// open-file limit allows.
    pub(crate) max: usize,
}

impl Conns {
    /// No connection yet, at most `max` at once.
    pub(crate) fn new(max: usize) -> Conns {
        Conns {
            stopping: AtomicBool::new(false),
            hurry: AtomicBool::new(false),
            active: Mutex::new(0),
            idle: Condvar::new(),
            idle_async: tokio::sync::Notify::new(),
            max,
        }
    }

    /// `true` once shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// How many connections are being served.
    pub(crate) fn active(&self) -> usize {
        *self.count()
    }

    /// The count, even if a thread panicked while holding it (every update
    /// is one addition or subtraction, never left half-done).
    fn count(&self) -> MutexGuard<'_, usize> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until no connection is in flight (`true`), or until
    /// `deadline` passes or a second signal comes (`false`).
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let mut active = self.count();
        while *active > 0 {
            if self.hurry.load(Ordering::SeqCst) {
                return false;
            }
            active = match deadline {
                None => self
                    .idle
                    .wait(active)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.idle
                        .wait_timeout(active, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
        true
    }

    /// Waits until no connection is in flight, in a tokio task.
    pub(crate) async fn wait_idle_async(&self) {
        loop {
            // Registered before looking, so a wake-up in between is kept.
            let mut notified = pin!(self.idle_async.notified());
            notified.as_mut().enable();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// A second signal: whoever waits stops waiting.
    fn hurry(&self) {
        // Under the lock, so a waiter between its check and its wait
        // cannot miss it.
        let active = self.count();
        self.hurry.store(true, Ordering::SeqCst);
        drop(active);
        self.wake_waiters();
    }

    fn wake_waiters(&self) {
        self.idle.notify_all();
        self.idle_async.notify_waiters();
    }
}

/// A place among the `--max-conns` connections served at once; the
/// connection counts as in flight until its slot is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    conns: Arc<Conns>,
}

impl Slot {
    /// A slot, or `None` at the limit.
    pub(crate) fn take(conns: &Arc<Conns>) -> Option<Slot> {
        let mut active = conns.count();
        if *active >= conns.max {
            return None;
        }
        *active += 1;
        Some(Slot {
            conns: Arc::clone(conns),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut active = self.conns.count();
        *active = active.saturating_sub(1);
        if *active == 0 {
            drop(active);
            self.conns.wake_waiters();
        }
    }
}

/// Starts the thread that waits for SIGINT/SIGTERM. On the first signal it
/// stops the accept loop (see the module docs) through `listener`, a
/// handle on the listening socket, then gives in-flight connections
/// `grace`; if they are not done by then, or a second signal comes, it
/// calls [`forced_exit`].
pub(crate) fn watch_signals(
    conns: Arc<Conns>,
    listener: TcpListener,
    grace: Duration,
) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("shutdown".into())
        .spawn(move || {
            if signals.forever().next().is_none() {
                return;
            }
            tracing::info!(
                "shutting down: no new connections, {} in flight",
                conns.active()
            );
            conns.stopping.store(true, Ordering::SeqCst);
            // Wakes `accept` with an error (EINVAL) and refuses newcomers.
            if let Err(e) = socket2::SockRef::from(&listener).shutdown(Shutdown::Both) {
                tracing::warn!("cannot shut the listening socket down: {e}");
            }
            let second = Arc::clone(&conns);
            let _ = std::thread::Builder::new()
                .name("shutdown-2".into())
                .spawn(move || {
                    if signals.forever().next().is_some() {
                        second.hurry();
                    }
                });
            if !conns.wait_idle(Some(Instant::now() + grace)) {
                forced_exit(conns.active());
            }
        })?;
    Ok(())
}

/// The one forced exit: the grace period is over (or a second signal
/// came) and `active` connections are still being served. Exit 0 without
/// them, as SPEC §6 says; the kernel closes their sockets.
fn forced_exit(active: usize) -> ! {
    tracing::info!("shutdown grace over: exiting with {active} connections still open");
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_up_to_the_limit_and_wake_the_waiter_at_zero() {
        let conns = Arc::new(Conns::new(2));
        let a = Slot::take(&conns).expect("first");
        let b = Slot::take(&conns).expect("second");
        assert!(Slot::take(&conns).is_none(), "a third slot past the limit");
        assert_eq!(conns.active(), 2);
        let waiter = {
            let conns = Arc::clone(&conns);
            std::thread::spawn(move || {
                conns.wait_idle(Some(Instant::now() + Duration::from_secs(30)))
            })
        };
        drop(a);
        assert!(!conns.wait_idle(Some(Instant::now())), "idle with one left");
        drop(b);
        assert_eq!(waiter.join().ok(), Some(true));
        assert_eq!(conns.active(), 0);
    }

    #[test]
    fn the_async_waiter_wakes_at_zero() {
        let conns = Arc::new(Conns::new(4));
        let slot = Slot::take(&conns).expect("slot");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let waited = runtime.block_on(async {
            let waiter = tokio::spawn({
                let conns = Arc::clone(&conns);
                async move { conns.wait_idle_async().await }
            });
            tokio::task::yield_now().await;
            drop(slot);
            tokio::time::timeout(Duration::from_secs(30), waiter).await
        });
        assert!(matches!(waited, Ok(Ok(()))), "{waited:?}");
    }
}
