//! Basic: every object through every variant equals a direct fetch, byte
//! for byte (raw sockets), and a real client (reqwest) gets the same.

use harness::checks::{assert_all_passed, basic_all};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn every_object_through_every_variant_equals_direct() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        Ok(basic_all(origin.addr, proxy.addr))
    });
    assert_all_passed(&checks);
}

#[test]
fn every_object_with_the_cache_on_equals_direct_twice() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let mut checks = basic_all(origin.addr, proxy.addr);
        checks.extend(basic_all(origin.addr, proxy.addr));
        Ok(checks)
    });
    assert_all_passed(&checks);
}
