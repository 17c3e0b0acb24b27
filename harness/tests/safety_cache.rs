//! A shared cache keeps private things private and stays within its
//! memory (issue #14 items 1-3, SPEC §5), on every variant. tiny-origin's
//! `/respond` numbers its answers (`respond #K`), so a second fetch that
//! gets the first K came from the proxy's cache.

use std::time::Duration;

use harness::checks::{Check, Section, assert_all_passed};
use harness::clients::http::url;
use harness::lab::on_each_variant;
use harness::safety::{fetch, respond_number, second_fetch_was_cached};
use harness::{Lab, VARIANTS, start_origin, start_variant};

/// `Ok` when `cached` is what was expected, else a failed check.
fn expect(name: &str, cached: anyhow::Result<bool>, want: bool) -> Check {
    match cached {
        Ok(got) if got == want => Check::pass(Section::CacheRules, name),
        Ok(got) => Check::fail(
            Section::CacheRules,
            name,
            format!(
                "the second fetch was {}",
                if got {
                    "served from the cache"
                } else {
                    "fetched again"
                }
            ),
            None,
        ),
        Err(e) => Check::fail(Section::CacheRules, name, format!("{e:#}"), None),
    }
}

#[test]
fn private_and_uncacheable_responses_are_not_shared() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        let mut checks = vec![
            // The control: a plain response is stored, so this check can fail.
            expect(
                "plain 200 is cached",
                second_fetch_was_cached(lab, "id=plain", &[], &[]),
                true,
            ),
            expect(
                "public max-age is cached",
                second_fetch_was_cached(
                    lab,
                    "id=public&header=Cache-Control:%20public,%20max-age=600",
                    &[],
                    &[],
                ),
                true,
            ),
        ];
        for (name, query) in [
            ("Set-Cookie", "header=Set-Cookie:%20session=secret"),
            ("Cache-Control: private", "header=Cache-Control:%20private"),
            (
                "Cache-Control: no-store",
                "header=Cache-Control:%20no-store",
            ),
            (
                "Cache-Control: no-cache",
                "header=Cache-Control:%20no-cache",
            ),
            (
                "Cache-Control: max-age=0",
                "header=Cache-Control:%20max-age=0",
            ),
            (
                "s-maxage=0 beats max-age",
                "header=Cache-Control:%20max-age=600,%20s-maxage=0",
            ),
            ("Vary", "header=Vary:%20Accept-Encoding"),
            ("404", "status=404"),
            ("500", "status=500"),
            ("503", "status=503"),
            ("302", "status=302&header=Location:%20/elsewhere"),
            ("a body shorter than Content-Length", "short=100"),
        ] {
            let query = format!("id={}&{query}", name.len());
            checks.push(expect(
                &format!("{name}: not stored"),
                second_fetch_was_cached(lab, &query, &[], &[]),
                false,
            ));
        }
        for (name, header) in [
            ("Authorization", ("Authorization", "Basic dXNlcjpwYXNz")),
            ("Cookie", ("Cookie", "session=secret")),
        ] {
            checks.push(expect(
                &format!("the answer to a request with {name} is not stored"),
                second_fetch_was_cached(lab, &format!("id=req-{name}"), &[header], &[]),
                false,
            ));
            checks.push(expect(
                &format!("a request with {name} is not answered from the cache"),
                second_fetch_was_cached(lab, &format!("id=cached-{name}"), &[], &[header]),
                false,
            ));
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn partial_and_not_modified_answers_are_not_served_to_others() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let mut checks = Vec::new();
        for (name, header, first_status) in [
            ("If-None-Match", ("If-None-Match", "\"v1\""), 304),
            (
                "If-Modified-Since",
                ("If-Modified-Since", "Sat, 29 Oct 1994 19:43:31 GMT"),
                304,
            ),
            ("Range", ("Range", "bytes=0-3"), 206),
        ] {
            let target = url(origin.addr, &format!("/respond?id={name}"));
            let first = fetch(proxy.addr, &target, &[header])?;
            let second = fetch(proxy.addr, &target, &[])?;
            let ok = first.status == Some(first_status)
                && second.status == Some(200)
                && respond_number(&second).is_some();
            checks.push(if ok {
                Check::pass(
                    Section::CacheRules,
                    format!("{name}: the next plain request gets the whole 200"),
                )
            } else {
                Check::fail(
                    Section::CacheRules,
                    format!("{name}: the next plain request gets the whole 200"),
                    format!(
                        "first {:?}, then {:?} with body {:?}",
                        first.status_line(),
                        second.status_line(),
                        String::from_utf8_lossy(second.body())
                    ),
                    None,
                )
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn max_age_expires() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let target = url(
            origin.addr,
            "/respond?id=ttl&header=Cache-Control:%20max-age=1",
        );
        let first = fetch(proxy.addr, &target, &[])?;
        let second = fetch(proxy.addr, &target, &[])?;
        // Sleeping longer than max-age can only make the entry older.
        std::thread::sleep(Duration::from_millis(2500));
        let third = fetch(proxy.addr, &target, &[])?;
        let (a, b, c) = (
            respond_number(&first),
            respond_number(&second),
            respond_number(&third),
        );
        Ok(vec![
            if a.is_some() && a == b {
                Check::pass(Section::CacheRules, "fresh within max-age")
            } else {
                Check::fail(
                    Section::CacheRules,
                    "fresh within max-age",
                    format!("{a:?} then {b:?}"),
                    None,
                )
            },
            if c.is_some() && c != a {
                Check::pass(Section::CacheRules, "fetched again after max-age")
            } else {
                Check::fail(
                    Section::CacheRules,
                    "fetched again after max-age",
                    format!("{a:?} then {c:?}"),
                    None,
                )
            },
        ])
    });
    assert_all_passed(&checks);
}

#[test]
fn keys_count_against_the_cache_size_and_are_bounded() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        // Four entries of a ~3,000-byte key and a ~150-byte answer: three
        // fit in 12,000 bytes only if the keys are counted.
        let proxy = start_variant(variant, &["--cache-size", "12000", "--max-object", "2000"])?;
        let pad = "k".repeat(3000);
        let target = |i: usize| url(origin.addr, &format!("/respond?id={i}&pad={pad}"));
        let number = |i: usize| -> anyhow::Result<Option<u64>> {
            Ok(respond_number(&fetch(proxy.addr, &target(i), &[])?))
        };
        let n0 = number(0)?;
        let first = n0.is_some() && number(0)? == n0;
        for i in 1..4 {
            number(i)?;
        }
        // The fourth entry pushed the least recently used one, the first,
        // out: fetching it reaches the origin again.
        let evicted = number(0)? != n0;
        let long = format!("id=long&pad={}", "k".repeat(5000));
        let long_cached = second_fetch_was_cached(
            Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            },
            &long,
            &[],
            &[],
        );
        Ok(vec![
            if first {
                Check::pass(Section::CacheRules, "a long-keyed object is cached")
            } else {
                Check::fail(
                    Section::CacheRules,
                    "a long-keyed object is cached",
                    "it was not",
                    None,
                )
            },
            expect(
                "keys count: the fourth long-keyed entry evicts the first",
                Ok(!evicted),
                false,
            ),
            expect("a key over 4 KiB is never stored", long_cached, false),
        ])
    });
    assert_all_passed(&checks);
}
