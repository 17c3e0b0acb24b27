//! Concurrency: stalled clients never block the thread and async variants;
//! the sequential variant shows the lesson (it waits, then serves).

use std::time::Duration;

use harness::checks::concurrency::{
    fetch_beside_stalled_clients, fetch_beside_stalled_origin, many_idle_connections,
    sequential_waits_then_succeeds,
};
use harness::checks::{Check, assert_all_passed};
use harness::lab::on_each_variant;
use harness::{CONCURRENT, Variant, start_origin, start_variant};

#[test]
fn stalled_clients_do_not_block_concurrent_variants() {
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        Ok(vec![
            fetch_beside_stalled_clients(origin.addr, proxy.addr),
            fetch_beside_stalled_origin(origin.addr, proxy.addr),
        ])
    });
    assert_all_passed(&checks);
}

#[test]
fn sequential_variant_waits_for_the_header_timeout_then_serves() {
    let origin = start_origin(&[]).expect("origin");
    let header_timeout = Duration::from_secs(2);
    let proxy =
        start_variant(Variant::Seq, &["--no-cache", "--header-timeout", "2"]).expect("proxy");
    let waited = sequential_waits_then_succeeds(origin.addr, proxy.addr, header_timeout)
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
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        Ok(vec![many_idle_connections(origin.addr, proxy.addr, 200)])
    });
    assert_all_passed(&checks);
}

#[test]
fn sequential_variant_fails_the_concurrency_check() {
    // The check must be able to fail: on proxy-seq it does.
    let origin = start_origin(&[]).expect("origin");
    let proxy =
        start_variant(Variant::Seq, &["--no-cache", "--idle-timeout", "30"]).expect("proxy");
    let check: Check = fetch_beside_stalled_origin(origin.addr, proxy.addr);
    assert!(
        !check.passed,
        "proxy-seq passed a concurrency check: {check}"
    );
}
