//! Headers: the origin sees exactly the request of SPEC §4.4, through
//! every variant (tiny-origin's `/echo` returns the head it received).

use harness::checks::{assert_all_passed, headers};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn origin_sees_the_lab_request() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        Ok(headers(origin.addr, proxy.addr))
    });
    assert_all_passed(&checks);
}
