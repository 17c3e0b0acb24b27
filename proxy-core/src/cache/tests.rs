use super::*;
use std::thread;

/// A response of `len` bytes, all equal to `byte`.
fn resp(byte: u8, len: usize) -> Arc<[u8]> {
    vec![byte; len].into()
}

/// Deterministic PRNG (`SplitMix64`), so tests need no `rand` crate.
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
    assert!(cache.insert_for("fresh", resp(2, 10), Some(Duration::from_hours(1))));
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
                    let k = u8::try_from(rng.below(KEYS)).expect("KEYS is 40");
                    let key = format!("http://host{k}:80/");
                    if rng.below(2) == 0 {
                        // Sizes 0..1200: some are over max_object.
                        let len = usize::try_from(rng.below(1200)).expect("below 1200");
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
