//! What reaches the origin (issue #14 items 7 and 8, SPEC §4.4), on every
//! variant: a `Host` that is not `uri-host[:port]` gets `400` instead of
//! being forwarded and keyed; hop-by-hop request headers — those the
//! client's `Connection` names, `Proxy-Authorization`, `TE`, `Trailer`,
//! `Upgrade`, `Keep-Alive` — never reach the origin.

use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed, echo};
use harness::clients::http::{exchange, url};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn a_malformed_host_is_400() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &[])?;
        let target = url(origin.addr, "/echo?host");
        let o = origin.addr;
        let mut checks = Vec::new();
        let mut cases: Vec<(String, Vec<u8>, u16)> = vec![
            (
                "a comma list".into(),
                format!("{o}, evil.invalid").into_bytes(),
                400,
            ),
            (
                "user info".into(),
                format!("user:secret@{o}").into_bytes(),
                400,
            ),
            ("a path".into(), format!("{o}/admin").into_bytes(), 400),
            (
                "a backslash".into(),
                format!("{o}\\evil.invalid").into_bytes(),
                400,
            ),
            (
                "non-ASCII bytes".into(),
                [b"caf".to_vec(), vec![0xc3, 0xa9], b".invalid".to_vec()].concat(),
                400,
            ),
            (
                "host:+PORT".into(),
                format!("127.0.0.1:+{}", o.port()).into_bytes(),
                400,
            ),
            ("an empty value".into(), Vec::new(), 400),
            ("64 KiB".into(), "a".repeat(60_000).into_bytes(), 400),
            // The controls: a valid Host is forwarded.
            (
                "the origin's own authority".into(),
                o.to_string().into_bytes(),
                200,
            ),
            (
                "another valid name".into(),
                b"other.invalid:8080".to_vec(),
                200,
            ),
        ];
        for (name, value, want) in cases.drain(..) {
            let request = [
                format!("GET {target} HTTP/1.0\r\nHost: ").into_bytes(),
                value,
                b"\r\n\r\n".to_vec(),
            ]
            .concat();
            let name = format!("Host with {name}: {want}");
            checks.push(match exchange(proxy.addr, &request, CHECK_TIMEOUT) {
                Ok(r) if r.status == Some(want) => Check::pass(Section::RequestExact, name),
                Ok(r) => Check::fail(
                    Section::RequestExact,
                    name,
                    format!("got {:?}", r.status_line()),
                    None,
                ),
                Err(e) => Check::fail(Section::RequestExact, name, format!("{e:#}"), None),
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

#[test]
fn hop_by_hop_headers_stay_with_the_proxy() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        let o = origin.addr;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {o}\r\nConnection: keep-alive, X-Hop-Secret\r\n\
             Proxy-Connection: X-Other-Hop\r\nX-Hop-Secret: s3cret\r\nX-Other-Hop: o\r\n\
             Proxy-Authorization: Basic dXNlcjpodW50ZXIy\r\nTE: trailers\r\nTrailer: X-Sum\r\n\
             Upgrade: websocket\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\nCookie: c=1\r\n\r\n",
            url(o, "/echo?hop")
        );
        let seen = match echo(proxy.addr, request.as_bytes()) {
            Ok(seen) => seen,
            Err(f) => {
                return Ok(vec![Check::fail(
                    Section::RequestExact,
                    "echo",
                    f.detail,
                    None,
                )]);
            }
        };
        let lower = seen.raw.to_ascii_lowercase();
        let mut checks = Vec::new();
        for name in [
            "x-hop-secret",
            "x-other-hop",
            "proxy-authorization",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
        ] {
            let sent = lower.lines().any(|l| l.starts_with(&format!("{name}:")));
            checks.push(if sent {
                Check::fail(
                    Section::RequestExact,
                    format!("{name} is not forwarded"),
                    seen.raw.clone(),
                    None,
                )
            } else {
                Check::pass(Section::RequestExact, format!("{name} is not forwarded"))
            });
        }
        let kept =
            lower.contains("\r\nx-end-to-end: kept\r\n") && lower.contains("\r\ncookie: c=1\r\n");
        checks.push(if kept {
            Check::pass(Section::RequestExact, "end-to-end headers are forwarded")
        } else {
            Check::fail(
                Section::RequestExact,
                "end-to-end headers are forwarded",
                seen.raw.clone(),
                None,
            )
        });
        Ok(checks)
    });
    assert_all_passed(&checks);
}
