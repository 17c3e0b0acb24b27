//! Every object through every variant equals a direct fetch, byte for
//! byte (raw sockets), and a real client (reqwest) gets the same.

use harness::checks::{assert_all_passed, basic_all};
use harness::{VARIANTS, on_each_variant_with};

#[test]
fn every_object_through_every_variant_equals_direct() {
    let checks = on_each_variant_with(&VARIANTS, &[], &["--no-cache"], |setup| {
        Ok(basic_all(setup.lab()))
    });
    assert_all_passed(&checks);
}

#[test]
fn every_object_with_the_cache_on_equals_direct_twice() {
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        let mut checks = basic_all(setup.lab());
        checks.extend(basic_all(setup.lab()));
        Ok(checks)
    });
    assert_all_passed(&checks);
}
