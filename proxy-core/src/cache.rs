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
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
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
mod tests {
    use super::*;
    use std::thread;

    /// A response of `len` bytes, all equal to `byte`.
    fn resp(byte: u8, len: usize) -> Arc<[u8]> {
        vec![byte; len].into()
    }

    /// Deterministic PRNG (SplitMix64), so tests need no `rand` crate.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A number in `0..n` (slightly biased; fine for tests).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn hit_is_byte_identical_and_not_copied() {
        let cache = Cache::new(1000, 100);
        let data: Arc<[u8]> = Arc::from(&b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
        assert!(cache.insert("http://a:80/", data.clone()));
        let hit = cache.get("http://a:80/").expect("hit");
        assert_eq!(&*hit, &*data);
        assert!(Arc::ptr_eq(&hit, &data), "a hit shares the stored bytes");
        assert_eq!(cache.get("http://b:80/"), None);
    }

    // Keys count: each one-letter key adds one byte to its entry's cost.

    #[test]
    fn evicts_least_recently_used_and_get_refreshes() {
        let cache = Cache::new(33, 10);
        assert!(cache.insert("a", resp(b'a', 10)));
        assert!(cache.insert("b", resp(b'b', 10)));
        assert!(cache.insert("c", resp(b'c', 10)));
        // Touch "a": now "b" is the least recently used.
        assert!(cache.get("a").is_some());
        assert!(cache.insert("d", resp(b'd', 10)));
        assert!(!cache.contains("b"), "b was least recently used");
        assert!(cache.contains("a") && cache.contains("c") && cache.contains("d"));
        // Next in line is "c", then "a".
        assert!(cache.insert("e", resp(b'e', 10)));
        assert!(!cache.contains("c"));
        assert!(cache.insert("f", resp(b'f', 10)));
        assert!(!cache.contains("a"));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.used_bytes(), 33);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn contains_does_not_change_recency() {
        let cache = Cache::new(33, 10);
        assert!(cache.insert("a", resp(b'a', 10)));
        assert!(cache.insert("b", resp(b'b', 10)));
        assert!(cache.insert("c", resp(b'c', 10)));
        assert!(cache.contains("a"));
        assert!(cache.insert("d", resp(b'd', 10)));
        assert!(!cache.contains("a"), "contains must not refresh a");
        assert!(cache.contains("b"));
    }

    #[test]
    fn replacing_a_key_updates_accounting() {
        let cache = Cache::new(100, 50);
        assert!(cache.insert("a", resp(1, 10)));
        assert_eq!(cache.used_bytes(), 11);
        // Bigger replacement.
        assert!(cache.insert("a", resp(2, 25)));
        assert_eq!(cache.used_bytes(), 26);
        assert_eq!(cache.len(), 1);
        assert_eq!(&*cache.get("a").unwrap(), &[2u8; 25][..]);
        // Smaller replacement.
        assert!(cache.insert("a", resp(3, 5)));
        assert_eq!(cache.used_bytes(), 6);
        assert_eq!(cache.len(), 1);
        assert_eq!(&*cache.get("a").unwrap(), &[3u8; 5][..]);
        assert!(cache.insert("b", resp(4, 7)));
        assert_eq!(cache.used_bytes(), 14);
        assert_eq!(cache.len(), 2);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn replacing_with_bigger_value_evicts_only_what_is_needed() {
        let cache = Cache::new(33, 30);
        assert!(cache.insert("a", resp(1, 10)));
        assert!(cache.insert("b", resp(2, 10)));
        assert!(cache.insert("c", resp(3, 10)));
        // Old "a" (11) is dropped first; 22 + 21 > 33, so "b" (LRU) goes;
        // 11 + 21 fits, so "c" stays.
        assert!(cache.insert("a", resp(4, 20)));
        assert!(!cache.contains("b"));
        assert!(cache.contains("c"));
        assert_eq!(cache.used_bytes(), 32);
        assert_eq!(cache.len(), 2);
        // The replaced key is now the most recently used: "c" goes next.
        assert!(cache.insert("d", resp(5, 10)));
        assert!(!cache.contains("c"));
        assert!(cache.contains("a"));
        cache.check_invariants().unwrap();
    }

    #[test]
    fn object_limit_is_inclusive() {
        let cache = Cache::new(1000, 100);
        assert!(cache.insert("exact", resp(1, 100)));
        assert!(cache.contains("exact"));
        assert!(!cache.insert("over", resp(2, 101)));
        assert!(!cache.contains("over"));
        assert_eq!(cache.used_bytes(), 105);
        assert_eq!(cache.len(), 1);
        // A rejected replacement leaves the old entry alone.
        assert!(!cache.insert("exact", resp(3, 101)));
        assert_eq!(&*cache.get("exact").unwrap(), &[1u8; 100][..]);
        // Empty responses are fine too (their key still counts).
        assert!(cache.insert("empty", resp(0, 0)));
        assert_eq!(cache.used_bytes(), 110);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn object_limit_is_capped_by_total_limit() {
        let cache = Cache::new(50, 100);
        assert_eq!(cache.max_object(), 50);
        assert_eq!(cache.max_total(), 50);
        assert!(!cache.insert("big", resp(1, 51)));
        // 50 bytes fit max_object, but not with their key in 50 bytes.
        assert!(!cache.insert("fits", resp(1, 50)));
        assert!(cache.insert("f", resp(1, 49)));
        assert_eq!(cache.used_bytes(), 50);
    }

    #[test]
    fn keys_count_against_the_total_and_are_bounded() {
        // Issue #14 item 3: ten entries of 10-byte values under 1000-byte
        // keys cost 10,100 bytes, not 100.
        let cache = Cache::new(5_000, 100);
        for i in 0..10 {
            let key = format!("{i}{}", "k".repeat(999));
            assert!(cache.insert(&key, resp(1, 10)));
            assert!(cache.used_bytes() <= 5_000, "{}", cache.used_bytes());
        }
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.used_bytes(), 4 * 1010);
        assert!(!cache.insert(&"k".repeat(MAX_KEY_LEN + 1), resp(1, 1)));
        assert!(Cache::new(10_000, 100).insert(&"k".repeat(MAX_KEY_LEN), resp(1, 1)));
        cache.check_invariants().unwrap();
    }

    #[test]
    fn expired_entries_are_misses_and_leave() {
        let cache = Cache::new(1000, 100);
        assert!(cache.insert_for("gone", resp(1, 10), Some(Duration::ZERO)));
        assert!(cache.insert_for("fresh", resp(2, 10), Some(Duration::from_secs(3600))));
        assert!(cache.insert_for("forever", resp(3, 10), None));
        assert_eq!(cache.get("gone"), None);
        assert!(!cache.contains("gone"));
        assert!(cache.get("fresh").is_some() && cache.get("forever").is_some());
        assert_eq!(cache.used_bytes(), 5 + 10 + 7 + 10);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn defaults_match_the_lab() {
        let cache = Cache::default();
        assert_eq!(cache.max_total(), 1_049_000);
        assert_eq!(cache.max_object(), 102_400);
        assert!(cache.is_empty());
    }

    #[test]
    fn total_limit_evicts_several_small_entries_for_a_large_one() {
        let cache = Cache::new(100, 100);
        for i in 0..10u8 {
            // 2-byte key + 8-byte value = 10 bytes each.
            assert!(cache.insert(&format!("k{i}"), resp(i, 8)));
            assert!(cache.used_bytes() <= 100);
        }
        assert_eq!(cache.used_bytes(), 100);
        assert_eq!(cache.len(), 10);
        // 5 + 30 bytes need four 10-byte entries to go: the four oldest.
        assert!(cache.insert("large", resp(99, 30)));
        for i in 0..4 {
            assert!(!cache.contains(&format!("k{i}")), "k{i} should be evicted");
        }
        for i in 4..10 {
            assert!(cache.contains(&format!("k{i}")), "k{i} should remain");
        }
        assert_eq!(cache.len(), 7);
        assert_eq!(cache.used_bytes(), 95);
        // An entry of max_total bytes empties the cache.
        assert!(cache.insert("huge", resp(7, 96)));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.used_bytes(), 100);
        cache.check_invariants().unwrap();
        assert!(!cache.is_empty());
    }

    #[test]
    fn reader_keeps_its_bytes_while_entry_is_evicted() {
        let cache = Cache::new(21, 20);
        assert!(cache.insert("p", resp(b'p', 20)));
        let held = cache.get("p").expect("hit");
        // Another connection fills the cache: "p" is evicted.
        assert!(cache.insert("o", resp(b'o', 20)));
        assert!(!cache.contains("p"));
        assert_eq!(cache.used_bytes(), 21);
        // The slow client being served still has the complete response.
        assert_eq!(&*held, &[b'p'; 20][..]);
        // And it is the only owner now: the cache let go of it.
        assert_eq!(Arc::strong_count(&held), 1);
    }

    #[test]
    fn collector_under_limit() {
        let mut c = Collector::new(10);
        c.push(b"abc");
        c.push(b"");
        c.push(b"de");
        assert!(!c.overflowed());
        assert_eq!(c.finish().as_deref(), Some(&b"abcde"[..]));
    }

    #[test]
    fn collector_exactly_at_limit() {
        let mut c = Collector::new(10);
        c.push(b"01234");
        c.push(b"56789");
        assert!(!c.overflowed());
        assert_eq!(c.finish().as_deref(), Some(&b"0123456789"[..]));

        let mut zero = Collector::new(0);
        zero.push(b"");
        assert_eq!(zero.finish(), Some(Vec::new()));
    }

    #[test]
    fn collector_overflow_frees_buffer_and_ignores_later_pushes() {
        let mut c = Collector::new(10);
        c.push(b"0123456");
        c.push(b"7890"); // 11 bytes in total: over the limit
        assert!(c.overflowed());
        assert_eq!(c.buf.capacity(), 0, "buffer must be freed");
        // Later (even tiny) pushes are ignored and do not allocate.
        c.push(b"x");
        c.push(b"");
        assert!(c.overflowed());
        assert_eq!(c.buf.capacity(), 0);
        assert_eq!(c.finish(), None);

        // A single chunk larger than the limit overflows at once.
        let mut c = Collector::new(3);
        c.push(b"abcd");
        assert!(c.overflowed());
        assert_eq!(c.finish(), None);
    }

    #[test]
    fn concurrent_random_operations_keep_invariants() {
        const THREADS: u64 = 8;
        const OPS: usize = 10_000;
        const KEYS: u64 = 40;
        let cache = Arc::new(Cache::new(4096, 1024));

        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let cache = Arc::clone(&cache);
                thread::spawn(move || {
                    let mut rng = SplitMix64(0x5EED ^ t);
                    for _ in 0..OPS {
                        let k = rng.below(KEYS) as u8;
                        let key = format!("http://host{k}:80/");
                        if rng.below(2) == 0 {
                            // Sizes 0..1200: some are over max_object.
                            let len = rng.below(1200) as usize;
                            let stored = cache.insert(&key, resp(k, len));
                            assert_eq!(stored, len <= 1024);
                        } else if let Some(hit) = cache.get(&key) {
                            // Every value for a key is filled with that key's byte.
                            assert!(hit.len() <= 1024);
                            assert!(hit.iter().all(|&b| b == k), "wrong bytes for {key}");
                        }
                        assert!(cache.used_bytes() <= 4096);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker panicked");
        }

        cache.check_invariants().unwrap();
        let mut sum = 0;
        for k in 0..KEYS {
            let key = format!("http://host{k}:80/");
            if let Some(v) = cache.get(&key) {
                sum += key.len() + v.len();
            }
        }
        assert_eq!(cache.used_bytes(), sum);
        assert!(sum <= cache.max_total());
    }
}
