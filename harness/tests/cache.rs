//! The cache (SPEC §5) on every variant: served after the origin stops,
//! byte for byte; big objects not kept; LRU eviction; a hit beside a
//! hanging miss; hit/miss in the log.

use harness::checks::cache::{
    evicts_least_recently_used, hit_beside_hanging_miss, served_after_origin_stops,
};
use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed};
use harness::clients::http::get_via_proxy;
use harness::{CONCURRENT, Setup, VARIANTS, Variant, on_each_variant_with};

#[test]
fn objects_come_back_from_the_cache_after_the_origin_stops() {
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        Ok(served_after_origin_stops(
            &mut setup.origin,
            setup.proxy.addr,
        ))
    });
    assert_all_passed(&checks);
}

#[test]
fn least_recently_used_object_is_evicted() {
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        Ok(evicts_least_recently_used(
            &mut setup.origin,
            setup.proxy.addr,
        ))
    });
    assert_all_passed(&checks);
}

#[test]
fn a_hit_does_not_wait_for_a_hanging_miss() {
    let checks = on_each_variant_with(&CONCURRENT, &[], &[], |setup| {
        Ok(vec![hit_beside_hanging_miss(setup.lab())])
    });
    assert_all_passed(&checks);
}

#[test]
fn no_cache_flag_turns_it_off() {
    // The cache check must be able to fail: with --no-cache it does.
    let mut setup = Setup::start(Variant::Thread, &[], &["--no-cache"]).expect("setup");
    let checks = served_after_origin_stops(&mut setup.origin, setup.proxy.addr);
    assert!(
        checks.iter().any(|c: &Check| !c.passed),
        "--no-cache still served from a cache"
    );
}

#[test]
fn log_says_hit_or_miss() {
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        let lab = setup.lab();
        let target = lab.url("/notes.txt");
        get_via_proxy(lab.proxy, &target, CHECK_TIMEOUT)?;
        get_via_proxy(lab.proxy, &target, CHECK_TIMEOUT)?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        let log = setup.proxy.output_text();
        let line = |kind: &str| {
            log.lines()
                .any(|l| l.contains("/notes.txt") && l.contains(kind))
        };
        Ok(vec![Check::expect(
            Section::CacheRules,
            "log shows a miss, then a hit",
            line("cache=miss") && line("cache=hit"),
            || log.clone(),
            None,
        )])
    });
    assert_all_passed(&checks);
}
