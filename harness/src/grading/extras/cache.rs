//! The cache extra: hits byte-identical to their misses (the lab's cache
//! must keep status line, headers and body exactly, binaries included) and
//! an object over `MAX_OBJECT_SIZE` relayed but never cached.

use super::{FETCH, alive, origin, origin_and_lab};
use crate::checks::{Check, Section};
use crate::clients::http::{self, first_difference};
use crate::grading::sections::Started;
use crate::lab::Lab;
use crate::process::Running;

/// The whole answer to a request for `path`, bytes as they came, read to
/// the close (or the deadline).
fn raw_answer(lab: Lab, path: &str) -> Vec<u8> {
    let request = http::proxy_request(&lab.url(path), &[]);
    match http::exchange(lab.proxy, &request, FETCH) {
        Ok(response) => response.raw,
        Err(e) => e
            .downcast_ref::<http::Incomplete>()
            .map(|i| i.partial.clone())
            .unwrap_or_default(),
    }
}

pub(super) fn cache_hits(proxy: &mut Running, _: &Started) -> Vec<Check> {
    let section = Section::CacheHits;
    let (mut tiny, lab) = match origin_and_lab(section, true, proxy) {
        Ok(started) => started,
        Err(checks) => return checks,
    };
    let objects = ["/home.html", "/images/photo.jpg", "/bin/echoserver"];
    let misses: Vec<Vec<u8>> = objects.iter().map(|p| raw_answer(lab, p)).collect();
    tiny.stop();
    let mut checks: Vec<Check> = objects
        .iter()
        .zip(&misses)
        .map(|(path, miss)| {
            let hit = raw_answer(lab, path);
            Check::expect(
                section,
                format!("{path}: the hit is byte-identical to the miss"),
                !miss.is_empty() && hit == *miss,
                || {
                    format!(
                        "the miss was {} bytes, the hit {} bytes, first difference at byte {}",
                        miss.len(),
                        hit.len(),
                        first_difference(miss, &hit).unwrap_or(0)
                    )
                },
                Some(
                    "store exactly the bytes you relayed (status line, headers and body) and send back exactly those — no terminating NUL, nothing from strlen on binary data",
                ),
            )
        })
        .collect();
    checks.push(alive(section, proxy, "cache hits"));
    checks.push(object_limit(proxy));
    checks
}

/// An object over the lab's `MAX_OBJECT_SIZE` is relayed but not cached.
fn object_limit(proxy: &mut Running) -> Check {
    let section = Section::CacheHits;
    let name = "an object over 100 KiB is not cached";
    let mut tiny = match origin(section, true) {
        Ok(o) => o,
        Err(mut checks) => return checks.remove(0),
    };
    let lab = Lab {
        origin: tiny.addr,
        proxy: proxy.addr,
    };
    let died = |proxy: &mut Running, when: &str, hint: &str| {
        proxy.exit_status().map(|status| {
            Check::fail(
                section,
                name,
                format!(
                    "the proxy exited ({}) {when}",
                    crate::process::describe_exit(status)
                ),
                Some(hint),
            )
        })
    };
    let _ = raw_answer(lab, "/big.bin");
    if let Some(check) = died(
        proxy,
        "while relaying a 300,000-byte object",
        "see the large binary object extra",
    ) {
        return check;
    }
    tiny.stop();
    let again = raw_answer(lab, "/big.bin");
    if let Some(check) = died(
        proxy,
        "when asked for it again with the origin stopped",
        "see the origin down extra",
    ) {
        return check;
    }
    Check::expect(
        section,
        name,
        again.len() < 300_000,
        || "the 300,000-byte object came back with the origin stopped".into(),
        Some("objects larger than MAX_OBJECT_SIZE (102400 bytes) must not be cached"),
    )
}
