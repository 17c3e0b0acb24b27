//! Timeouts (SPEC §3/§6) on every variant: header timeout for a silent
//! client, connect timeout (504) for an origin that never accepts, idle
//! timeout for an origin that stops sending mid-body.

use std::time::Duration;

use harness::checks::assert_all_passed;
use harness::checks::robustness::{
    BlackHole, connect_timeout_gives_504, header_timeout_cuts_silent_client,
    idle_timeout_drops_silent_origin,
};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn each_timeout_works_on_every_variant() {
    let hole = BlackHole::new().expect("black hole");
    assert!(
        hole.swallows(Duration::from_millis(500)),
        "this machine answers connections to a full backlog; the connect-timeout test needs another trick"
    );
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let flags = [
            "--no-cache",
            "--header-timeout",
            "1",
            "--connect-timeout",
            "1",
            "--idle-timeout",
            "1",
        ];
        let proxy = start_variant(variant, &flags)?;
        let limit = Duration::from_secs(5);
        Ok(vec![
            header_timeout_cuts_silent_client(proxy.addr, limit),
            connect_timeout_gives_504(proxy.addr, &hole, limit),
            idle_timeout_drops_silent_origin(origin.addr, proxy.addr, limit),
        ])
    });
    assert_all_passed(&checks);
}
