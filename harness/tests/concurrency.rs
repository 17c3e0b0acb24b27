//! Concurrency: stalled clients never block the thread and async variants;
//! the sequential variant shows the lesson (it waits, then serves).

use std::time::Duration;

use harness::checks::concurrency::{
    fetch_beside_stalled_clients, fetch_beside_stalled_origin, many_idle_connections,
    sequential_waits_then_succeeds,
};
use harness::checks::{Check, assert_all_passed};
use harness::{CONCURRENT, Setup, Variant, on_each_variant_with};

#[test]
fn stalled_clients_do_not_block_concurrent_variants() {
    let checks = on_each_variant_with(&CONCURRENT, &[], &["--no-cache"], |setup| {
        Ok(vec![
            fetch_beside_stalled_clients(setup.lab()),
            fetch_beside_stalled_origin(setup.lab()),
        ])
    });
    assert_all_passed(&checks);
}

#[test]
fn sequential_variant_waits_for_the_header_timeout_then_serves() {
    let header_timeout = Duration::from_secs(2);
    let setup =
        Setup::start(Variant::Seq, &[], &["--no-cache", "--header-timeout", "2"]).expect("setup");
    let waited = sequential_waits_then_succeeds(setup.lab(), header_timeout)
        .unwrap_or_else(|f| panic!("the fetch did not succeed after the wait: {}", f.detail));
    // Two stalled clients ahead of it, each cut off after the header
    // timeout: the fetch waits for (most of) both.
    assert!(
        waited >= header_timeout + header_timeout / 2,
        "proxy-seq answered after {waited:?}: it should have waited for the stalled clients"
    );
    println!("proxy-seq waited {waited:?} behind two stalled clients, then served");
}

#[test]
fn two_hundred_idle_connections_do_not_stop_service() {
    let checks = on_each_variant_with(&CONCURRENT, &[], &["--no-cache"], |setup| {
        Ok(vec![many_idle_connections(setup.lab(), 200)])
    });
    assert_all_passed(&checks);
}

#[test]
fn sequential_variant_fails_the_concurrency_check() {
    // The check must be able to fail: on proxy-seq it does.
    let setup =
        Setup::start(Variant::Seq, &[], &["--no-cache", "--idle-timeout", "30"]).expect("setup");
    let check: Check = fetch_beside_stalled_origin(setup.lab());
    assert!(
        !check.passed,
        "proxy-seq passed a concurrency check: {check}"
    );
}
