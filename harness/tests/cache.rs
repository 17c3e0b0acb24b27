//! The cache (SPEC §5) on every variant: served after the origin stops,
//! byte for byte; big objects not kept; LRU eviction; a hit beside a
//! hanging miss; hit/miss in the log.

use harness::checks::cache::{
    evicts_least_recently_used, hit_beside_hanging_miss, served_after_origin_stops,
};
use harness::checks::{Check, assert_all_passed};
use harness::http::{get_via_proxy, url};
use harness::lab::on_each_variant;
use harness::{CONCURRENT, VARIANTS, start_origin, start_variant};

#[test]
fn objects_come_back_from_the_cache_after_the_origin_stops() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let mut origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        Ok(served_after_origin_stops(&mut origin, proxy.addr))
    });
    assert_all_passed(&checks);
}

#[test]
fn least_recently_used_object_is_evicted() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let mut origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        Ok(evicts_least_recently_used(&mut origin, proxy.addr))
    });
    assert_all_passed(&checks);
}

#[test]
fn a_hit_does_not_wait_for_a_hanging_miss() {
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        Ok(vec![hit_beside_hanging_miss(origin.addr, proxy.addr)])
    });
    assert_all_passed(&checks);
}

#[test]
fn no_cache_flag_turns_it_off() {
    // The cache check must be able to fail: with --no-cache it does.
    let mut origin = start_origin(&[]).expect("origin");
    let proxy = start_variant(harness::Variant::Thread, &["--no-cache"]).expect("proxy");
    let checks = served_after_origin_stops(&mut origin, proxy.addr);
    assert!(
        checks.iter().any(|c: &Check| !c.passed),
        "--no-cache still served from a cache"
    );
}

#[test]
fn log_says_hit_or_miss() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let target = url(origin.addr, "/notes.txt");
        get_via_proxy(proxy.addr, &target, harness::checks::CHECK_TIMEOUT)?;
        get_via_proxy(proxy.addr, &target, harness::checks::CHECK_TIMEOUT)?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        let log = proxy.output_text();
        let line = |kind: &str| {
            log.lines()
                .any(|l| l.contains("/notes.txt") && l.contains(kind))
        };
        Ok(vec![if line("cache=miss") && line("cache=hit") {
            Check::pass("cache", "log shows a miss, then a hit")
        } else {
            Check::fail("cache", "log shows a miss, then a hit", log, None)
        }])
    });
    assert_all_passed(&checks);
}
