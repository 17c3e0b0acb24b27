//! SIGPIPE: clients that hang up mid-download end only their own
//! connection; with `--sigpipe default` the same scenario kills the
//! process with signal 13, the lab's crash.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use harness::checks::assert_all_passed;
use harness::checks::robustness::{dies_of_sigpipe, sigpipe};
use harness::{Setup, VARIANTS, on_each_variant_with};

#[test]
fn every_variant_survives_clients_hanging_up() {
    let checks = on_each_variant_with(&VARIANTS, &[], &["--no-cache"], |setup| {
        Ok(sigpipe(setup.origin.addr, &mut setup.proxy))
    });
    assert_all_passed(&checks);
}

#[test]
fn sigpipe_default_kills_every_variant() {
    for variant in VARIANTS {
        let Setup {
            origin, mut proxy, ..
        } = Setup::start(variant, &[], &["--no-cache", "--sigpipe", "default"]).expect("setup");
        let how = dies_of_sigpipe(origin.addr, &mut proxy)
            .unwrap_or_else(|f| panic!("{variant} with --sigpipe default: {}", f.detail));
        let status = proxy.wait_exit(Duration::from_secs(1)).expect("exited");
        assert_eq!(status.signal(), Some(13), "{variant}: {how}");
        println!("{variant} --sigpipe default: {how}");
    }
}
