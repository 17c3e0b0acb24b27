//! Starting a connection's thread for `proxy-thread`, reusing threads that
//! finished a connection a moment ago.
//!
//! Each connection still gets an OS thread of its own for as long as it is
//! served — the lesson of the lab's second step. What changes is what
//! happens when the connection ends: instead of exiting at once, the
//! thread waits up to [`KEEP_IDLE`] for the next connection and serves it.
//!
//! Why: creating a Rust thread is far dearer than a C `pthread_create`.
//! Rust's runtime gives every new thread its own signal stack for stack
//! overflow reports, an `mmap` + `mprotect` when it starts and a `munmap`
//! when it ends, and on a multi-core machine each of those flushes the
//! other cores' TLBs and takes the process-wide memory-map lock. Profiled
//! under `harness bench` at 1 KiB responses (`perf record -g`), starting
//! and ending threads was about half of the proxy's CPU time. Reusing a
//! thread for the next connection pays that once per burst instead of once
//! per request.
//!
//! Threads never outlive their usefulness: a thread that waits
//! [`KEEP_IDLE`] without a connection exits, and at most [`MAX_IDLE`] wait
//! at once, so after a burst the thread count falls back to the idle level
//! within seconds (the harness's leak check allows ten).

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a finished thread waits for another connection before exiting.
pub const KEEP_IDLE: Duration = Duration::from_secs(2);

/// The most threads that wait for work at once; more exit at once.
pub const MAX_IDLE: usize = 256;

/// Stack size of a connection thread (reserved address space; only the
/// pages touched count as memory). A sixteenth of the 8 MiB default, so a
/// thousand idle connections cost little, with room for debug builds'
/// larger frames around the relay's 16 KiB stack buffer.
pub const STACK_SIZE: usize = 512 * 1024;

/// The work a thread is handed: serving one connection.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// One waiting thread: its id (to find itself) and where to send it work.
struct Waiting {
    id: u64,
    hand: SyncSender<Job>,
}

/// Threads waiting for a connection, most recent last.
static WAITING: Mutex<Vec<Waiting>> = Mutex::new(Vec::new());

/// The list, even if a thread panicked while holding it (every update is
/// a single push, pop or remove, so it is never left half-done).
fn waiting() -> MutexGuard<'static, Vec<Waiting>> {
    WAITING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `job` on a thread of its own: a waiting one if there is one, else
/// a new one. Fails only when a new thread cannot be created.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let mut job: Job = Box::new(job);
    loop {
        let Some(thread) = waiting().pop() else {
            break;
        };
        match thread.hand.send(job) {
            Ok(()) => return Ok(()),
            // That thread is gone (cannot happen while it is listed, but
            // losing a connection to a race would be worse than a retry).
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    std::thread::Builder::new()
        .name("conn".into())
        .stack_size(STACK_SIZE)
        .spawn(move || serve_then_wait(job))
        .map(drop)
}

/// A connection thread's life: serve, then wait for the next job.
fn serve_then_wait(first: Job) {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut job = first;
    loop {
        job();
        match wait_for_job(id) {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// Lists this thread as waiting and waits (bounded) for a job.
fn wait_for_job(id: u64) -> Option<Job> {
    let (hand, rx): (SyncSender<Job>, Receiver<Job>) = mpsc::sync_channel(1);
    {
        let mut list = waiting();
        if list.len() >= MAX_IDLE {
            return None;
        }
        list.push(Waiting { id, hand });
    }
    match rx.recv_timeout(KEEP_IDLE) {
        Ok(job) => Some(job),
        Err(RecvTimeoutError::Disconnected) => None,
        Err(RecvTimeoutError::Timeout) => {
            // Leave the list. If a spawner took us off it first, its job
            // is on the way: take it rather than lose a connection.
            let mut list = waiting();
            if let Some(at) = list.iter().position(|w| w.id == id) {
                list.remove(at);
                None
            } else {
                drop(list);
                rx.recv().ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};

    #[test]
    fn every_job_runs_and_threads_are_reused() {
        let ran = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..50 {
            let ran = Arc::clone(&ran);
            let done = done_tx.clone();
            spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                let _ = done.send(std::thread::current().id());
            })
            .expect("spawn");
            ids.extend(done_rx.recv_timeout(Duration::from_secs(5)).ok());
            // Let the thread list itself as waiting (bounded).
            for _ in 0..500 {
                if !waiting().is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        assert_eq!(ran.load(Ordering::SeqCst), 50);
        assert!(ids.len() < 50, "no thread was reused");
    }
}
