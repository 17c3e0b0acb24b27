//! Nothing leaks: after 1,000 requests, some aborted, each variant's open
//! file descriptors and threads return to their idle level (Linux /proc).

use harness::checks::assert_all_passed;
use harness::checks::robustness::leaks;
use harness::{VARIANTS, on_each_variant_with};

#[test]
fn fds_and_threads_return_to_idle_after_1000_requests() {
    let checks = on_each_variant_with(&VARIANTS, &[], &["--no-cache"], |setup| {
        leaks(setup.origin.addr, &setup.proxy, 1000)
            .ok_or_else(|| anyhow::anyhow!("/proc not readable"))
    });
    assert_all_passed(&checks);
}
