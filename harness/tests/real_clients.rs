//! Real clients through every variant: curl, and a headless Chromium that
//! loads the home page with its image — checked in the proxy's log, so a
//! browser that silently bypassed the proxy would fail the test.

use harness::checks::{CHECK_TIMEOUT, Check, assert_all_passed};
use harness::clients::{browser_load, curl_via, find_browser};
use harness::http::{get_direct, url};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn curl_through_every_variant_equals_direct() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let mut checks = Vec::new();
        for path in [
            "/home.html",
            "/big.bin",
            "/images/logo.gif",
            "/cgi-bin/adder?15213&18213",
        ] {
            let direct = get_direct(origin.addr, path, CHECK_TIMEOUT)?;
            let name = format!("curl -x {path}");
            checks.push(match curl_via(proxy.addr, &url(origin.addr, path)) {
                Ok(body) if body == direct.body() => Check::pass("real_clients", name),
                Ok(body) => Check::fail(
                    "real_clients",
                    name,
                    format!("{} bytes, expected {}", body.len(), direct.body().len()),
                    None,
                ),
                Err(e) => Check::fail("real_clients", name, format!("{e:#}"), None),
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn chromium_loads_the_home_page_and_its_image_through_every_variant() {
    let Some(browser) = find_browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium, chromium-browser or google-chrome found; `bash scripts/ci-tools.sh` installs chromium"
        );
        println!(
            "SKIPPED: no Chromium on this machine (bash scripts/ci-tools.sh installs it); CI fails instead of skipping"
        );
        return;
    };
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let dom = browser_load(&browser, proxy.addr, &url(origin.addr, "/home.html"))?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let log = proxy.output_text();
        let through_proxy = |path: &str| {
            log.lines()
                .any(|l| l.contains(&format!("{}{path}", origin.addr)) && l.contains(" 200 "))
        };
        let mut checks = vec![if dom.contains("logo.gif") {
            Check::pass("real_clients", "Chromium rendered the home page")
        } else {
            Check::fail(
                "real_clients",
                "Chromium rendered the home page",
                dom.chars().take(500).collect::<String>(),
                None,
            )
        }];
        for path in ["/home.html", "/images/logo.gif"] {
            let name = format!("Chromium fetched {path} through the proxy (proxy log)");
            checks.push(if through_proxy(path) {
                Check::pass("real_clients", name)
            } else {
                Check::fail(
                    "real_clients",
                    name,
                    log.clone(),
                    Some("did the browser bypass the proxy for loopback?"),
                )
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}
