//! Security defaults (issue "Hardening"): a request for the proxy itself is
//! refused instead of looping; the deny list covers subdomains, any case,
//! and the client's own Host header; IPv6 loopback works end to end.

use std::net::{SocketAddr, TcpListener};

use harness::checks::{CHECK_TIMEOUT, same_as_direct};
use harness::clients::http::{exchange, get_via_proxy, proxy_request};
use harness::{Lab, Origin, VARIANTS, start_origin, start_variant};

#[test]
fn a_request_for_the_proxy_itself_is_refused_not_looped() {
    for variant in VARIANTS {
        let proxy = start_variant(variant, &[]).expect("proxy");
        for target in [
            format!("http://{}/", proxy.addr),
            format!("http://localhost:{}/home.html", proxy.addr.port()),
        ] {
            let response = get_via_proxy(proxy.addr, &target, CHECK_TIMEOUT).expect("an answer");
            assert_eq!(
                response.status,
                Some(508),
                "{variant}: {target} -> {}",
                response.status_line()
            );
        }
    }
}

#[test]
fn deny_list_matches_subdomains_any_case_and_the_host_header() {
    for variant in VARIANTS {
        let origin = start_origin(&[]).expect("origin");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("deny.txt");
        std::fs::write(&file, "# blocked\nads.invalid\n").expect("write");
        let file_arg = file.display().to_string();
        let proxy = start_variant(
            variant,
            &["--deny", "blocked.invalid", "--deny-file", &file_arg],
        )
        .expect("proxy");
        let status = |request: Vec<u8>| {
            exchange(proxy.addr, &request, CHECK_TIMEOUT).map_or(None, |r| r.status)
        };
        for url in [
            "http://blocked.invalid/",
            "http://WWW.Blocked.INVALID/x",
            "http://a.b.ads.invalid/",
            "http://ADS.invalid./",
        ] {
            assert_eq!(
                status(proxy_request(url, &[])),
                Some(403),
                "{variant}: {url}"
            );
        }
        // Allowed by URI, but the client's Host names a denied host.
        let sneaky = proxy_request(&format!("http://{}/home.html", origin.addr), &[]);
        let sneaky = String::from_utf8_lossy(&sneaky).replacen(
            &format!("Host: {}", origin.addr),
            "Host: www.blocked.invalid",
            1,
        );
        assert_eq!(
            status(sneaky.into_bytes()),
            Some(403),
            "{variant}: denied Host header"
        );
        // Not a subdomain: a look-alike name is not denied (and, being
        // under .invalid, never resolved: 502 without a DNS query).
        assert_eq!(
            status(proxy_request("http://notblocked.invalid/", &[])),
            Some(502),
            "{variant}"
        );
        same_as_direct(
            Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            },
            "/home.html",
        )
        .unwrap_or_else(|f| panic!("{variant}: {}", f.detail));
    }
}

fn ipv6_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn ipv6_proxy_reaches_ipv6_origin() {
    if !ipv6_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "::1 is not available on this CI machine"
        );
        println!("SKIPPED: ::1 is not available on this machine");
        return;
    }
    for variant in VARIANTS {
        let origin: Origin = start_origin(&["--bind", "::1"]).expect("origin on ::1");
        assert!(origin.addr.is_ipv6());
        let proxy = start_variant(variant, &["--bind", "::1", "--no-cache"]).expect("proxy on ::1");
        let proxy_addr: SocketAddr = proxy.addr;
        assert!(proxy_addr.is_ipv6(), "{variant} listens on {proxy_addr}");
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy_addr,
        };
        for path in ["/home.html", "/big.bin"] {
            same_as_direct(lab, path)
                .unwrap_or_else(|f| panic!("{variant} over IPv6, {path}: {}", f.detail));
        }
        let seen = harness::checks::echo(
            proxy_addr,
            &proxy_request(&format!("http://{}/echo?v6", origin.addr), &[]),
        )
        .unwrap_or_else(|f| panic!("{variant}: {}", f.detail));
        assert!(
            seen.raw.contains(&format!("Host: {}", origin.addr)),
            "{variant}: {}",
            seen.raw
        );
    }
}
