//! Controls that hold whatever the spelling (issue #14 items 5 and 6, SPEC
//! §4): the deny list and the loop guard decide on the addresses a target
//! resolves to, not on how its host is written — `2130706433`, `0x7f.1`,
//! `127.1`, `[::ffff:127.0.0.1]`, `0`, an `/etc/hosts` alias — on every
//! variant.

use harness::checks::{Check, Section, assert_all_passed};
use harness::lab::on_each_variant;
use harness::safety::{LOOPBACK_SPELLINGS, fetch, loopback_aliases};
use harness::{VARIANTS, start_origin, start_variant};

fn status_check(name: String, got: anyhow::Result<Option<u16>>, want: u16) -> Check {
    match got {
        Ok(Some(status)) if status == want => Check::pass(Section::Security, name),
        Ok(status) => Check::fail(
            Section::Security,
            name,
            format!("expected {want}, got {status:?}"),
            None,
        ),
        Err(e) => Check::fail(
            Section::Security,
            name,
            format!("expected {want}: {e:#}"),
            None,
        ),
    }
}

/// Every way to write this host's loopback address, plus the names that
/// resolve to it.
fn spellings() -> Vec<String> {
    let mut all: Vec<String> = LOOPBACK_SPELLINGS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    all.extend(
        [
            "127.0.0.1",
            "localhost",
            "LocalHost.",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
        ]
        .map(String::from),
    );
    all.extend(loopback_aliases());
    all
}

#[test]
fn a_denied_host_is_refused_in_every_spelling() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let port = origin.addr.port();
        let open = start_variant(variant, &["--no-cache"])?;
        let denied = start_variant(
            variant,
            &[
                "--no-cache",
                "--deny",
                "127.0.0.1",
                "--deny",
                "localhost",
                "--deny",
                "::1",
            ],
        )?;
        let mut checks = Vec::new();
        // The control: without a deny list these spellings reach the origin.
        for host in ["2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "0"] {
            let target = format!("http://{host}:{port}/home.html");
            checks.push(status_check(
                format!("without --deny, {target} reaches the origin"),
                fetch(open.addr, &target, &[]).map(|r| r.status),
                200,
            ));
        }
        for host in spellings() {
            let target = format!("http://{host}:{port}/home.html");
            checks.push(status_check(
                format!("{target} is denied"),
                fetch(denied.addr, &target, &[]).map(|r| r.status),
                403,
            ));
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn networks_can_be_denied() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let port = origin.addr.port();
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("deny.txt");
        std::fs::write(
            &file,
            "# all of loopback\n127.0.0.0/8\n::1/128 # and IPv6's\n",
        )?;
        let file_arg = file.display().to_string();
        let loopback = start_variant(variant, &["--no-cache", "--deny-file", &file_arg])?;
        let elsewhere = start_variant(variant, &["--no-cache", "--deny", "10.0.0.0/8"])?;
        let target = format!("http://127.0.0.1:{port}/home.html");
        Ok(vec![
            status_check(
                "--deny-file 127.0.0.0/8: 127.0.0.1 is denied".into(),
                fetch(loopback.addr, &target, &[]).map(|r| r.status),
                403,
            ),
            status_check(
                "--deny-file 127.0.0.0/8: 0x7f.0.0.9 is denied".into(),
                fetch(loopback.addr, &format!("http://0x7f.0.0.9:{port}/"), &[]).map(|r| r.status),
                403,
            ),
            status_check(
                "--deny 10.0.0.0/8: 167772161 (10.0.0.1) is denied, nothing is sent".into(),
                fetch(elsewhere.addr, "http://167772161/", &[]).map(|r| r.status),
                403,
            ),
            status_check(
                "--deny 10.0.0.0/8: 127.0.0.1 is not".into(),
                fetch(elsewhere.addr, &target, &[]).map(|r| r.status),
                200,
            ),
        ])
    });
    assert_all_passed(&checks);
}

/// The status of a GET of `target` whose `Host` header is `host`.
fn with_host(proxy: std::net::SocketAddr, target: &str, host: &str) -> anyhow::Result<Option<u16>> {
    let request = format!("GET {target} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    harness::clients::http::exchange(proxy, request.as_bytes(), harness::checks::CHECK_TIMEOUT)
        .map(|r| r.status)
}

#[test]
fn the_host_header_is_denied_by_address_too() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache", "--deny", "127.0.0.2"])?;
        let target = format!("http://{}/home.html", origin.addr);
        let mut checks = Vec::new();
        for host in ["127.0.0.2", "0x7f.2", "2130706434", "[::ffff:127.0.0.2]:80"] {
            checks.push(status_check(
                format!("Host: {host} is denied"),
                with_host(proxy.addr, &target, host),
                403,
            ));
        }
        checks.push(status_check(
            "Host: 127.0.0.3 is not".into(),
            with_host(proxy.addr, &target, "127.0.0.3"),
            200,
        ));
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn the_proxy_itself_is_refused_in_every_spelling() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let proxy = start_variant(variant, &[])?;
        let own = proxy.addr.port();
        let mut checks = Vec::new();
        // Not the IPv6 ones (the proxy listens on IPv4) nor `LocalHost.`,
        // which the system resolver would send to DNS.
        for host in spellings()
            .into_iter()
            .filter(|h| !h.contains("::1") && !h.contains(":0:") && !h.ends_with('.'))
        {
            let target = format!("http://{host}:{own}/");
            checks.push(match fetch(proxy.addr, &target, &[]) {
                Ok(r) if r.status == Some(508) => {
                    Check::pass(Section::Security, format!("{target}: 508"))
                }
                Ok(r) => Check::fail(
                    Section::Security,
                    format!("{target}: 508"),
                    format!("got {:?}", r.status_line()),
                    None,
                ),
                Err(e) => Check::fail(
                    Section::Security,
                    format!("{target}: 508"),
                    format!("{e:#}"),
                    Some("the proxy forwarded the request to itself"),
                ),
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}
