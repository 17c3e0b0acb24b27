//! `--sigpipe default` dies for any client that hangs up mid-response
//! (issue #14 item 13, SPEC §6): also one that simply resets, as the C
//! loop that ignores `rio_writen`'s error and writes again does. A first
//! write after a reset fails with ECONNRESET and no signal; the next one
//! raises SIGPIPE. With the default `--sigpipe ignore` the same clients
//! end only their own connection.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use harness::checks::{Check, Section, assert_all_passed, same_as_direct};
use harness::lab::on_each_variant;
use harness::safety::reset_download;
use harness::{Lab, VARIANTS, start_origin, start_variant};

#[test]
fn a_client_that_resets_kills_a_proxy_with_sigpipe_default() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let mut proxy = start_variant(variant, &["--no-cache", "--sigpipe", "default"])?;
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        let mut died = None;
        for _ in 0..10 {
            let _ = reset_download(lab);
            if let Some(status) = proxy.wait_exit(Duration::from_millis(500)) {
                died = Some(status);
                break;
            }
        }
        Ok(vec![match died {
            Some(status) if status.signal() == Some(13) => {
                Check::pass(Section::Sigpipe, "killed by SIGPIPE after a client reset")
            }
            Some(status) => Check::fail(
                Section::Sigpipe,
                "killed by SIGPIPE after a client reset",
                format!("exited: {status}"),
                None,
            ),
            None => Check::fail(
                Section::Sigpipe,
                "killed by SIGPIPE after a client reset",
                "survived 10 clients that reset mid-download",
                Some(
                    "a C proxy that ignores rio_writen's error writes again, and that write raises SIGPIPE",
                ),
            ),
        }])
    });
    assert_all_passed(&checks);
}

#[test]
fn with_sigpipe_ignored_resets_end_only_their_connection() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let mut proxy = start_variant(variant, &["--no-cache"])?;
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        for _ in 0..10 {
            let _ = reset_download(lab);
        }
        Ok(vec![
            if proxy.is_alive() {
                Check::pass(Section::Sigpipe, "alive after 10 resets")
            } else {
                Check::fail(
                    Section::Sigpipe,
                    "alive after 10 resets",
                    proxy.output_text(),
                    None,
                )
            },
            Check::from_result(
                Section::Sigpipe,
                "still serves",
                same_as_direct(lab, "/home.html"),
            ),
        ])
    });
    assert_all_passed(&checks);
}
