//! Timeouts (SPEC §3/§6) on every variant: header timeout for a silent
//! client, connect timeout (504) for an origin that never accepts, idle
//! timeout for an origin that stops sending mid-body.

use std::time::Duration;

use harness::checks::assert_all_passed;
use harness::checks::robustness::{
    BlackHole, connect_timeout_gives_504, header_timeout_cuts_silent_client,
    idle_timeout_drops_silent_origin,
};
use harness::{VARIANTS, on_each_variant_with};

#[test]
fn each_timeout_works_on_every_variant() {
    let hole = BlackHole::new().expect("black hole");
    assert!(
        hole.swallows(Duration::from_millis(500)),
        "this machine answers connections to a full backlog; the connect-timeout test needs another trick"
    );
    let flags = [
        "--no-cache",
        "--header-timeout",
        "1",
        "--connect-timeout",
        "1",
        "--idle-timeout",
        "1",
    ];
    let checks = on_each_variant_with(&VARIANTS, &[], &flags, |setup| {
        let lab = setup.lab();
        let limit = Duration::from_secs(5);
        Ok(vec![
            header_timeout_cuts_silent_client(lab.proxy, limit),
            connect_timeout_gives_504(lab.proxy, &hole, limit),
            idle_timeout_drops_silent_origin(lab, limit),
        ])
    });
    assert_all_passed(&checks);
}
