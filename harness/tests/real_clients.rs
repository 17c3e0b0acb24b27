//! Real clients through every variant: curl, and a headless Chromium that
//! loads the home page with its image — checked in the proxy's log, so a
//! browser that silently bypassed the proxy would fail the test.

use harness::checks::tunnels::TunnelLab;
use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed};
use harness::clients::http::get_direct;
use harness::clients::real::{browser_load, browser_load_https, curl_via, find_browser};
use harness::{VARIANTS, on_each_variant, on_each_variant_with};

#[test]
fn curl_through_every_variant_equals_direct() {
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        let lab = setup.lab();
        let mut checks = Vec::new();
        for path in [
            "/home.html",
            "/big.bin",
            "/images/logo.gif",
            "/cgi-bin/adder?15213&18213",
        ] {
            let direct = get_direct(lab.origin, path, CHECK_TIMEOUT)?;
            let name = format!("curl -x {path}");
            checks.push(match curl_via(lab.proxy, &lab.url(path)) {
                Ok(body) if body == direct.body() => Check::pass(Section::RealClients, name),
                Ok(body) => Check::fail(
                    Section::RealClients,
                    name,
                    format!("{} bytes, expected {}", body.len(), direct.body().len()),
                    None,
                ),
                Err(e) => Check::fail(Section::RealClients, name, format!("{e:#}"), None),
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

/// The browser, or `None` after saying why the test is skipped (outside
/// CI only: in CI a missing browser fails the test).
fn browser_or_skip() -> Option<std::path::PathBuf> {
    let browser = find_browser();
    if browser.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium, chromium-browser or google-chrome found; `bash scripts/ci-tools.sh` installs chromium"
        );
        println!(
            "SKIPPED: no Chromium on this machine (bash scripts/ci-tools.sh installs it); CI fails instead of skipping"
        );
    }
    browser
}

#[test]
fn chromium_loads_the_home_page_and_its_image_through_every_variant() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let checks = on_each_variant_with(&VARIANTS, &[], &[], |setup| {
        let lab = setup.lab();
        let dom = browser_load(&browser, lab.proxy, &lab.url("/home.html"))?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let log = setup.proxy.output_text();
        let through_proxy = |path: &str| {
            log.lines()
                .any(|l| l.contains(&format!("{}{path}", lab.origin)) && l.contains(" 200 "))
        };
        let mut checks = vec![if dom.contains("logo.gif") {
            Check::pass(Section::RealClients, "Chromium rendered the home page")
        } else {
            Check::fail(
                Section::RealClients,
                "Chromium rendered the home page",
                dom.chars().take(500).collect::<String>(),
                None,
            )
        }];
        for path in ["/home.html", "/images/logo.gif"] {
            let name = format!("Chromium fetched {path} through the proxy (proxy log)");
            checks.push(if through_proxy(path) {
                Check::pass(Section::RealClients, name)
            } else {
                Check::fail(
                    Section::RealClients,
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

/// An `https://` page from the local TLS origin, through a `CONNECT`
/// tunnel of each variant: Chromium renders it, and the proxy's log shows
/// the tunnel (so a browser that went around the proxy fails).
#[test]
fn chromium_loads_an_https_page_through_every_variant() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let checks = on_each_variant(&VARIANTS, |variant| {
        let lab = TunnelLab::start(variant, &[])?;
        let dom = browser_load_https(&browser, lab.proxy.addr, &lab.https_url("/home.html"))?;
        let tunnel_line = format!("CONNECT {} 200", lab.origin.addr);
        // The tunnel's line is written when Chromium closes it: wait
        // (bounded) for it.
        let deadline = std::time::Instant::now() + CHECK_TIMEOUT;
        let mut log = lab.proxy.output_text();
        while !log.contains(&tunnel_line) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            log = lab.proxy.output_text();
        }
        let rendered = "Chromium rendered the https:// home page";
        let tunnelled = "through a CONNECT tunnel (proxy log)";
        Ok(vec![
            if dom.contains("logo.gif") {
                Check::pass(Section::Tunnels, rendered)
            } else {
                Check::fail(
                    Section::Tunnels,
                    rendered,
                    dom.chars().take(500).collect::<String>(),
                    None,
                )
            },
            if log.contains(&tunnel_line) {
                Check::pass(Section::Tunnels, tunnelled)
            } else {
                Check::fail(
                    Section::Tunnels,
                    tunnelled,
                    log,
                    Some("did the browser bypass the proxy for loopback?"),
                )
            },
        ])
    });
    assert_all_passed(&checks);
}
