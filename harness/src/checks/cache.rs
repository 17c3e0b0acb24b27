//! The cache (SPEC §5, the lab's part III): objects fetched once are served
//! again, byte for byte, after the origin is gone; objects over the size
//! limit are not kept; the least recently used object is evicted first; a
//! hit never waits for a miss that hangs.

use std::net::SocketAddr;
use std::time::Duration;

use super::{CHECK_TIMEOUT, Check, Failure, Section};
use crate::clients::http::{Response, first_difference, get_via_proxy};
use crate::lab::{Lab, Origin};

const SECTION: Section = Section::CacheRules;

/// Objects under the lab's 100 KiB object limit, fetched and then asked for
/// again once the origin is stopped.
pub const CACHEABLE: [&str; 4] = [
    "/home.html",
    "/notes.txt",
    "/images/logo.gif",
    "/bytes/50000",
];

/// An object over the 100 KiB limit.
pub const TOO_BIG: &str = "/big.bin";

fn fetch(lab: Lab, path: &str) -> Result<Response, Failure> {
    Ok(get_via_proxy(lab.proxy, &lab.url(path), CHECK_TIMEOUT)?)
}

fn same_bytes(first: &Response, again: &Response, path: &str) -> Result<(), Failure> {
    match first_difference(&first.raw, &again.raw) {
        None => Ok(()),
        Some(offset) => Err(Failure::new(
            format!(
                "{path}: the second answer differs at byte {offset} ({} bytes then, {} now; now {:?})",
                first.raw.len(),
                again.raw.len(),
                again.status_line()
            ),
            Some(
                "serve the cached object when the origin is gone: store the whole response (head and body) keyed by the URI",
            ),
        )),
    }
}

/// The course driver's cache check and more: fetch [`CACHEABLE`] and
/// [`TOO_BIG`], stop the origin, fetch again. The small ones must come
/// back byte-identical; the big one must not be served. Stops `origin`.
pub fn served_after_origin_stops(origin: &mut Origin, proxy: SocketAddr) -> Vec<Check> {
    let lab = Lab {
        origin: origin.addr,
        proxy,
    };
    let mut first = Vec::new();
    for path in CACHEABLE.iter().chain([&TOO_BIG]) {
        match fetch(lab, path) {
            Ok(response) if response.status == Some(200) => first.push(response),
            Ok(response) => {
                return vec![Check::fail(
                    SECTION,
                    format!("first fetch of {path}"),
                    format!("got {:?}", response.status_line()),
                    None,
                )];
            }
            Err(f) => {
                return vec![Check::from_result(
                    SECTION,
                    format!("first fetch of {path}"),
                    Err(f),
                )];
            }
        }
    }
    origin.stop();
    let mut checks: Vec<Check> = CACHEABLE
        .iter()
        .zip(&first)
        .map(|(path, first)| {
            Check::from_result(
                SECTION,
                format!("{path} served from the cache after the origin stopped"),
                fetch(lab, path).and_then(|again| same_bytes(first, &again, path)),
            )
        })
        .collect();
    let big = fetch(lab, TOO_BIG);
    checks.push(Check::from_result(
        SECTION,
        format!("{TOO_BIG} (over the object limit) not served once the origin is gone"),
        match big {
            Ok(r) if r.status == Some(200) && r.body().len() >= 300_000 => Err(Failure::new(
                "the whole 300,000-byte object came back with the origin stopped",
                Some("objects larger than MAX_OBJECT_SIZE must not be cached"),
            )),
            _ => Ok(()),
        },
    ));
    checks
}

/// LRU eviction with the default limits (1,049,000 bytes in all, 102,400
/// per object): fetch ten objects of about 100 KB, use the first one
/// again, fetch an eleventh (which needs room), stop the origin. The first
/// (recently used) must still be served; the second (least recently used)
/// must be gone. Stops `origin`.
pub fn evicts_least_recently_used(origin: &mut Origin, proxy: SocketAddr) -> Vec<Check> {
    let lab = Lab {
        origin: origin.addr,
        proxy,
    };
    let path = |i: usize| format!("/bytes/{}", 100_000 + i);
    let mut first = Vec::new();
    for i in 0..10 {
        match fetch(lab, &path(i)) {
            Ok(r) => first.push(r),
            Err(f) => {
                return vec![Check::from_result(
                    SECTION,
                    format!("fetch {}", path(i)),
                    Err(f),
                )];
            }
        }
    }
    let refreshed = fetch(lab, &path(0));
    if let Err(f) = fetch(lab, &path(10)) {
        return vec![Check::from_result(
            SECTION,
            format!("fetch {}", path(10)),
            Err(f),
        )];
    }
    origin.stop();
    std::thread::sleep(Duration::from_millis(100));
    let recent = Check::from_result(
        SECTION,
        "recently used object kept after eviction",
        refreshed
            .and_then(|_| fetch(lab, &path(0)))
            .and_then(|again| same_bytes(&first[0], &again, &path(0))),
    );
    let evicted = Check::from_result(
        SECTION,
        "least recently used object evicted",
        match fetch(lab, &path(1)) {
            Ok(r) if r.status == Some(200) && r.body().len() == 100_001 => Err(Failure::new(
                format!(
                    "{} still served with the origin gone: the cache holds more than 1,049,000 bytes or evicted another object",
                    path(1)
                ),
                Some(
                    "evict the least recently used objects until the new one fits in MAX_CACHE_SIZE",
                ),
            )),
            _ => Ok(()),
        },
    );
    vec![recent, evicted]
}

/// A cache hit completes while another client's miss hangs on `/stall`.
pub fn hit_beside_hanging_miss(lab: Lab) -> Check {
    let result = (|| -> Result<(), Failure> {
        let first = fetch(lab, "/notes.txt")?;
        let _hanging = super::concurrency::stalled_origin_client(lab)?;
        std::thread::sleep(Duration::from_millis(200));
        let hit = get_via_proxy(
            lab.proxy,
            &lab.url("/notes.txt"),
            super::concurrency::CONCURRENT_LIMIT,
        )
        .map_err(|e| {
            Failure::new(
                format!("the hit did not complete: {e:#}"),
                Some("never hold the cache lock while talking to the network"),
            )
        })?;
        same_bytes(&first, &hit, "/notes.txt")
    })();
    Check::from_result(
        SECTION,
        "a hit completes while another client's miss hangs",
        result,
    )
}
