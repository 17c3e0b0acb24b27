//! The rendezvous behind `/hold/KEY` and `/release/KEY`.
//!
//! A `/hold/KEY` request waits until `/release/KEY` has been requested (or a
//! time limit passes). Releases are sticky: once KEY is released, every later
//! hold of KEY returns at once, so a test never races a release against the
//! arrival of the hold.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// State of one key.
#[derive(Debug, Default)]
struct KeyState {
    /// Set (for good) by the first release.
    released: bool,
    /// Holders currently waiting.
    waiting: usize,
}

/// Shared table of hold keys, a [`Mutex`] plus a [`Condvar`].
#[derive(Debug, Default)]
pub struct HoldRegistry {
    keys: Mutex<HashMap<String, KeyState>>,
    wake: Condvar,
}

impl HoldRegistry {
    /// An empty registry (no key released).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, KeyState>> {
        // The table stays consistent even if a holder panicked.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `key` is released or `timeout` passes; returns `true` if
    /// it was released (including before this call).
    pub fn hold(&self, key: &str, timeout: Duration) -> bool {
        let mut keys = self.lock();
        let state = keys.entry(key.to_owned()).or_default();
        if state.released {
            return true;
        }
        state.waiting += 1;
        let (mut keys, _) = self
            .wake
            .wait_timeout_while(keys, timeout, |keys| {
                !keys.get(key).is_some_and(|s| s.released)
            })
            .unwrap_or_else(PoisonError::into_inner);
        let state = keys.entry(key.to_owned()).or_default();
        state.waiting = state.waiting.saturating_sub(1);
        state.released
    }

    /// Releases `key` for good, wakes its current holders, and returns how
    /// many were waiting.
    pub fn release(&self, key: &str) -> usize {
        let mut keys = self.lock();
        let state = keys.entry(key.to_owned()).or_default();
        state.released = true;
        let waiting = state.waiting;
        drop(keys);
        self.wake.notify_all();
        waiting
    }

    /// Whether `key` has been released.
    #[must_use]
    pub fn is_released(&self, key: &str) -> bool {
        self.lock().get(key).is_some_and(|s| s.released)
    }

    /// Number of requests currently holding on `key`.
    #[must_use]
    pub fn waiting(&self, key: &str) -> usize {
        self.lock().get(key).map_or(0, |s| s.waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;

    #[test]
    fn release_before_hold_is_sticky() {
        let r = HoldRegistry::new();
        assert_eq!(r.release("a"), 0);
        assert!(r.hold("a", Duration::from_secs(5)));
    }

    #[test]
    fn hold_times_out() {
        let r = HoldRegistry::new();
        let t = Instant::now();
        assert!(!r.hold("b", Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(r.waiting("b"), 0);
    }

    #[test]
    fn release_wakes_holders() {
        let r = Arc::new(HoldRegistry::new());
        let holders: Vec<_> = (0..3)
            .map(|_| {
                let r = Arc::clone(&r);
                thread::spawn(move || r.hold("c", Duration::from_secs(10)))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.waiting("c") < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(r.release("c"), 3);
        for h in holders {
            assert!(h.join().expect("holder thread"));
        }
        assert!(r.is_released("c"));
    }
}
