//! Headers: the origin sees exactly the request of SPEC §4.4, and the
//! handout's rules hold, through every variant (tiny-origin's `/echo`
//! returns the head it received).

use harness::checks::assert_all_passed;
use harness::checks::headers::{handout_rules, request_exact};
use harness::{VARIANTS, on_each_variant_with};

#[test]
fn origin_sees_the_lab_request() {
    let checks = on_each_variant_with(&VARIANTS, &[], &["--no-cache"], |setup| {
        let mut checks = request_exact(setup.lab());
        checks.extend(handout_rules(setup.lab()));
        Ok(checks)
    });
    assert_all_passed(&checks);
}
