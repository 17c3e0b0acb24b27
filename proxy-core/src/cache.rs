//! The web object cache: part III of the CS:APP Proxy Lab.
//!
//! A proxy keeps recently fetched responses in memory so that a second
//! request for the same URI can be answered without contacting the origin
//! server. This module holds that cache ([`Cache`]) and a small helper
//! ([`Collector`]) that gathers a response while it is being relayed to the
//! client, so that it can be stored afterwards.
//!
//! # What is stored
//!
//! * The key is the absolute URI of the request, normalised by the caller
//!   (lower-case host, explicit port), e.g. `http://localhost:8080/home.html`.
//!   A key longer than [`MAX_KEY_LEN`] is never stored.
//! * The value is the complete response exactly as the origin sent it:
//!   status line, headers and body. A hit is written back byte for byte.
//! * Only responses of at most `max_object` bytes are stored
//!   (`MAX_OBJECT_SIZE` in the C handout). A larger response is still relayed
//!   to the client in full; it is simply not cached.
//! * The sum of the lengths of all stored keys *and* responses never
//!   exceeds `max_total` (`MAX_CACHE_SIZE`), so a flood of requests with
//!   long keys cannot grow the proxy past `--cache-size` (issue #14 item 3).
//!   When room is needed, the least recently used entries are evicted.
//! * An entry may carry an expiry (from the response's `max-age` or
//!   `s-maxage`); an expired entry is a miss and is dropped.
//!
//! *Which* responses may be stored at all — only complete `200`s that are
//! not private — is decided before [`Cache::insert`] by
//! [`crate::cache_policy`].
//!
//! # Locking: why a `Mutex` and not a readers–writers lock
//!
//! The C version of this lab asks for a cache protected by a readers–writers
//! lock, so that many threads can *read* the cache at once and only writers
//! need exclusive access.
//!
//! With true LRU eviction that split does not exist: every lookup that hits
//! must move the entry to the front of the recency list, so a read *writes*
//! the list too. Under a `RwLock` every `get` would need the write lock
//! anyway. So we use one [`Mutex`] around an [`lru::LruCache`], and keep the
//! critical sections tiny instead:
//!
//! * Inside the lock we only do O(1) pointer work: a hash lookup, relinking a
//!   list node, and cloning an [`Arc`] (one atomic increment). No I/O, no
//!   copying of response bodies, no allocation proportional to a body.
//!   Many readers therefore pass through one after another in nanoseconds.
//! * Response bodies are shared as `Arc<[u8]>`. A hit clones the `Arc` out,
//!   releases the lock, and only *then* writes the bytes to its client. A
//!   slow client never holds the lock, and an entry evicted while a client is
//!   still being served stays alive until that client is done with it.
//! * A miss holds no lock at all while it talks to the origin server. It
//!   collects the response with a [`Collector`] and takes the lock once, at
//!   the end, for [`Cache::insert`].
//!
//! So a hit never waits for a slow miss elsewhere, nor for a slow client.
//!
//! An alternative is a `RwLock` with *approximate* LRU: each entry carries an
//! atomic "last used" timestamp that readers bump under the shared read lock,
//! and a writer scans for the oldest timestamp when it must evict. That lets
//! readers truly run in parallel, but eviction becomes an O(n) scan (or needs
//! a second structure), the order is only approximately LRU, and the code is
//! harder to get right. With critical sections this short, the simple mutex
//! is not a bottleneck, so we prefer the clearer design.
//!
//! Lock poisoning: the critical sections contain no code that can panic
//! part-way through an update (the only arithmetic is on byte counts that
//! are kept consistent step by step), so if some thread ever panicked while
//! holding the lock the data is still consistent, and we simply keep using
//! it (`lock().unwrap_or_else(|e| e.into_inner())`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Default limit on the total bytes stored in a cache (`MAX_CACHE_SIZE` in
/// the lab handout).
pub const DEFAULT_CACHE_SIZE: usize = 1_049_000;

/// Default limit on the size of one cached response (`MAX_OBJECT_SIZE` in
/// the lab handout).
pub const DEFAULT_MAX_OBJECT: usize = 102_400;

/// The longest key stored: the URI (at most 8 KiB by SPEC §4.1) plus the
/// client's `Host`. A request with a longer key is served but not cached.
pub const MAX_KEY_LEN: usize = 4096;

/// One stored response.
struct Entry {
    /// The response, shared with the clients being served from it.
    bytes: Arc<[u8]>,
    /// When it stops being fresh, if the response said.
    expires: Option<Instant>,
}

/// The state protected by the cache's mutex.
struct Inner {
    /// Key → complete response, ordered from most to least recently used.
    entries: LruCache<String, Entry>,
    /// Sum of the lengths of all keys and values in `entries`.
    used: usize,
}

/// The bytes an entry counts against the total: its key and its value.
fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len()
}

/// An in-memory LRU cache of complete HTTP responses, keyed by URI.
///
/// One `Cache` is shared by all connections of a proxy: wrap it in an
/// [`Arc`] and give every connection handler a clone. All methods take
/// `&self` and are safe to call from many threads at once; see the module
/// documentation for how the locking works.
pub struct Cache {
    /// Largest total number of response bytes kept.
    max_total: usize,
    /// Largest single response kept (never more than `max_total`).
    max_object: usize,
    /// The entries and their byte count, behind one short-lived lock.
    inner: Mutex<Inner>,
}

impl Cache {
    /// Creates an empty cache holding at most `max_total` bytes in total and
    /// at most `max_object` bytes per response.
    ///
    /// If `max_object` is larger than `max_total` it is lowered to
    /// `max_total`, since no larger object could ever be stored.
    #[must_use]
    pub fn new(max_total: usize, max_object: usize) -> Cache {
        Cache {
            max_total,
            max_object: max_object.min(max_total),
            // Unbounded by entry count: we bound by bytes ourselves.
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                used: 0,
            }),
        }
    }

    /// The largest response, in bytes, that this cache will store.
    ///
    /// Use this as the limit of the [`Collector`] that gathers a response.
    pub fn max_object(&self) -> usize {
        self.max_object
    }

    /// The largest total number of bytes (keys and responses) this cache
    /// will hold.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// Takes the lock. A poisoned lock is recovered: see the module docs.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks up `key` and, on a hit, marks it as the most recently used entry.
    ///
    /// The returned `Arc` shares the stored bytes (no copy is made). Write it
    /// to the client after this call returns: the lock is already released,
    /// and the bytes stay valid even if the entry is evicted meanwhile.
    /// An entry past its expiry is removed and is a miss.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        let mut inner = self.lock();
        // `LruCache::get` moves the entry to the front; cloning the Arc is
        // one atomic increment.
        let entry = inner.entries.get(key)?;
        if entry.expires.is_some_and(|at| Instant::now() >= at) {
            if let Some((key, old)) = inner.entries.pop_entry(key) {
                inner.used -= cost(&key, &old.bytes);
            }
            return None;
        }
        Some(Arc::clone(&entry.bytes))
    }

    /// Stores a complete response under `key`, with no expiry.
    ///
    /// Returns `false`, and changes nothing, if the response is larger than
    /// [`max_object`](Cache::max_object), the key is longer than
    /// [`MAX_KEY_LEN`], or key and response together are larger than
    /// [`max_total`](Cache::max_total). Otherwise returns `true`: any
    /// previous response for `key` is replaced (and its bytes no longer
    /// counted), least recently used entries are evicted until the new one
    /// fits, and the new entry becomes the most recently used.
    pub fn insert(&self, key: &str, response: Arc<[u8]>) -> bool {
        self.insert_for(key, response, None)
    }

    /// [`Cache::insert`] for a response that is fresh for `ttl` (from its
    /// `max-age`/`s-maxage`), or forever when `None`.
    pub fn insert_for(&self, key: &str, response: Arc<[u8]>, ttl: Option<Duration>) -> bool {
        let size = cost(key, &response);
        if response.len() > self.max_object || key.len() > MAX_KEY_LEN || size > self.max_total {
            return false;
        }
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));

        let mut inner = self.lock();

        // Replacing a key: forget the old value and its bytes first.
        if let Some(old) = inner.entries.pop(key) {
            inner.used -= cost(key, &old.bytes);
        }

        // Evict from the least recently used end until the new entry fits.
        // This terminates: size <= max_total, and an empty cache uses 0.
        while inner.used + size > self.max_total {
            match inner.entries.pop_lru() {
                Some((key, evicted)) => inner.used -= cost(&key, &evicted.bytes),
                None => break, // unreachable while `used` is accurate
            }
        }

        // The key is absent now, so `put` adds a new entry and returns None.
        inner.entries.put(
            key.to_owned(),
            Entry {
                bytes: response,
                expires,
            },
        );
        inner.used += size;
        true
    }

    /// Returns whether `key` is cached, *without* changing its recency.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().entries.contains(key)
    }

    /// The total number of bytes currently stored, keys and responses.
    pub fn used_bytes(&self) -> usize {
        self.lock().used
    }

    /// The number of cached responses.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Returns whether the cache holds no responses.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Checks the cache's internal invariants, for tests.
    ///
    /// # Errors
    ///
    /// Returns a description of the first broken invariant, if any:
    /// the byte count must equal the sum of the stored key and value
    /// lengths, must not exceed `max_total`, no value may exceed
    /// `max_object` and no key [`MAX_KEY_LEN`].
    pub fn check_invariants(&self) -> Result<(), String> {
        let inner = self.lock();
        let mut sum = 0;
        for (key, entry) in &inner.entries {
            if entry.bytes.len() > self.max_object {
                return Err(format!(
                    "entry {key:?} has {} bytes, more than max_object {}",
                    entry.bytes.len(),
                    self.max_object
                ));
            }
            if key.len() > MAX_KEY_LEN {
                return Err(format!("a key of {} bytes is stored", key.len()));
            }
            sum += cost(key, &entry.bytes);
        }
        if sum != inner.used {
            return Err(format!(
                "used_bytes is {} but the entries hold {sum} bytes",
                inner.used
            ));
        }
        if inner.used > self.max_total {
            return Err(format!(
                "used_bytes {} exceeds max_total {}",
                inner.used, self.max_total
            ));
        }
        Ok(())
    }
}

impl Default for Cache {
    /// A cache with the lab's default limits, [`DEFAULT_CACHE_SIZE`] and
    /// [`DEFAULT_MAX_OBJECT`].
    fn default() -> Cache {
        Cache::new(DEFAULT_CACHE_SIZE, DEFAULT_MAX_OBJECT)
    }
}

impl fmt::Debug for Cache {
    /// Shows the limits and current usage, not the cached bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Cache")
            .field("max_total", &self.max_total)
            .field("max_object", &self.max_object)
            .field("used_bytes", &inner.used)
            .field("len", &inner.entries.len())
            .finish_non_exhaustive()
    }
}

/// Accumulates a response while it is relayed to the client.
///
/// Push every chunk read from the origin server, as it is forwarded. If the
/// response grows past the limit, the collector gives up: it frees its
/// buffer and ignores further chunks, so relaying a huge response costs no
/// extra memory. At the end, [`finish`](Collector::finish) yields the whole
/// response if it stayed within the limit.
///
/// ```
/// use std::sync::Arc;
/// use proxy_core::cache::{Cache, Collector};
///
/// let cache = Arc::new(Cache::default());
/// let key = "http://localhost:8080/home.html";
/// let mut collector = Collector::new(cache.max_object());
/// // For each chunk read from the server: write it to the client, then
/// for chunk in [&b"HTTP/1.0 200 OK\r\n\r\n"[..], b"<html></html>"] {
///     collector.push(chunk);
/// }
/// // Once the server has closed the connection (the response is complete):
/// if let Some(bytes) = collector.finish() {
///     cache.insert(key, bytes.into());
/// }
/// assert!(cache.contains(key));
/// ```
#[derive(Debug)]
pub struct Collector {
    /// The bytes pushed so far (empty after an overflow).
    buf: Vec<u8>,
    /// The largest number of bytes to collect.
    limit: usize,
    /// Set once more than `limit` bytes have been pushed.
    overflowed: bool,
}

impl Collector {
    /// Creates an empty collector that keeps at most `limit` bytes.
    #[must_use]
    pub fn new(limit: usize) -> Collector {
        Collector {
            buf: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    /// Appends `chunk`. If the total would exceed the limit, frees the
    /// buffer and marks the collector as overflowed. After an overflow this
    /// does nothing.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.overflowed {
            return;
        }
        // `buf.len() <= limit` always holds here, so this cannot underflow.
        if chunk.len() > self.limit - self.buf.len() {
            self.overflowed = true;
            self.buf = Vec::new(); // drop the old allocation now
        } else {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Returns whether the response has grown past the limit.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Returns the collected bytes, or `None` if the limit was exceeded.
    #[must_use]
    pub fn finish(self) -> Option<Vec<u8>> {
        if self.overflowed {
            None
        } else {
            Some(self.buf)
        }
    }
}

#[cfg(test)]
mod tests;
