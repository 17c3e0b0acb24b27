use super::*;

fn target(uri: &str) -> Target {
    parse_target(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

fn status(uri: &str) -> Option<u16> {
    parse_target(uri).err().and_then(|e| e.status())
}

#[test]
fn splits_host_port_and_path() {
    let t = target("http://www.cmu.edu:8080/hub/index.html?x=1");
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("www.cmu.edu", 8080, "/hub/index.html?x=1")
    );
}

#[test]
fn defaults_port_80_and_path_slash() {
    let t = target("http://example.test");
    assert_eq!((t.port, t.path.as_str()), (80, "/"));
    assert_eq!(target("http://example.test:").port, 80);
    assert_eq!(target("http://a?q").path, "/?q");
    assert_eq!(target("HTTP://a/").host, "a");
}

#[test]
fn ipv6_literals() {
    let t = target("http://[::1]:8000/x");
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("::1", 8000, "/x")
    );
    assert_eq!(t.host_header(), "[::1]:8000");
    assert_eq!(target("http://[::1]/").port, 80);
    assert_eq!(status("http://::1/"), Some(400));
    assert_eq!(status("http://[::1/"), Some(400));
    assert_eq!(status("http://[nothex]/"), Some(400));
    assert_eq!(status("http://[::1]x/"), Some(400));
}

#[test]
fn drops_fragment_and_keeps_percent_encoding() {
    assert_eq!(target("http://a/b%20c#frag").path, "/b%20c");
}

#[test]
fn refuses_what_is_not_absolute_http() {
    assert_eq!(status("/home.html"), Some(400));
    assert_eq!(status("*"), Some(400));
    assert_eq!(status("ftp://a/"), Some(400));
    assert_eq!(status("https://a/"), Some(501));
    assert_eq!(status("http:///x"), Some(400));
    assert_eq!(status("http://user@a/"), Some(400));
    assert_eq!(status("http://a:99999/"), Some(400));
    assert_eq!(status("http://a:0/"), Some(400));
    assert_eq!(status("http://a:-1/"), Some(400));
    assert_eq!(status("http://a%41/"), Some(400));
}

#[test]
fn cache_key_is_normalised() {
    assert_eq!(
        target("http://WWW.A.test/x").cache_key(),
        "http://www.a.test:80/x"
    );
    assert_eq!(
        target("http://a.test:80/x").cache_key(),
        target("http://A.TEST/x").cache_key()
    );
}

#[test]
fn parses_a_request_with_crlf_or_bare_lf() {
    for head in [
        &b"GET http://a:81/p HTTP/1.1\r\nHost: a:81\r\nX-A: 1\r\n\r\n"[..],
        &b"GET http://a:81/p HTTP/1.1\nHost: a:81\nX-A: 1\n\n"[..],
    ] {
        let req = parse_request(head).expect("valid");
        assert_eq!(req.target.port, 81);
        assert_eq!(req.headers.len(), 2);
        assert_eq!(req.headers[1].value, b"1");
    }
}

#[test]
fn host_header_must_be_one_plain_authority() {
    let ok = |v: &str| parse_host_header(v.as_bytes());
    assert_eq!(ok("Example.test"), Some(("example.test".into(), 80)));
    assert_eq!(ok("a.test:8080"), Some(("a.test".into(), 8080)));
    assert_eq!(ok("[::1]:81"), Some(("::1".into(), 81)));
    assert_eq!(ok("127.0.0.1"), Some(("127.0.0.1".into(), 80)));
    for bad in [
        "",
        "a.test,b.test",
        "user@a.test",
        "a.test/path",
        "a.test\\x",
        "a.test:+80",
        "a.test:-1",
        "a.test:0",
        "a.test:65536",
        "a.test:80:81",
        "a b",
        "[::1",
        "[not-v6]",
        "caf\u{e9}.test",
    ] {
        assert_eq!(ok(bad), None, "{bad:?}");
    }
    assert_eq!(parse_host_header(b"a\xff.test"), None);
    assert_eq!(ok(&"a".repeat(MAX_HOST_LEN)).map(|h| h.1), Some(80));
    assert_eq!(ok(&"a".repeat(MAX_HOST_LEN + 1)), None);
    let status = |head: &[u8]| parse_request(head).err().and_then(|e| e.status());
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nHost: a,b\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nHost: \xc3\xa9\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nHost: a:81\r\n\r\n"),
        None
    );
}

#[test]
fn connect_targets_are_host_and_port() {
    let target = |head: &str| parse_connect(head.as_bytes());
    let t = target("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
        .expect("valid");
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("example.test", 443, "")
    );
    let v6 = target("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n").expect("v6");
    assert_eq!((v6.host.as_str(), v6.port), ("::1", 8443));
    for bad in [
        "CONNECT example.test HTTP/1.1\r\n\r\n",
        "CONNECT example.test: HTTP/1.1\r\n\r\n",
        "CONNECT [::1] HTTP/1.1\r\n\r\n",
        "CONNECT example.test:0 HTTP/1.1\r\n\r\n",
        "CONNECT example.test:99999 HTTP/1.1\r\n\r\n",
        "CONNECT http://example.test:443/ HTTP/1.1\r\n\r\n",
        "CONNECT user@example.test:443 HTTP/1.1\r\n\r\n",
        "CONNECT a.test:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "CONNECT a.test:443\r\n\r\n",
    ] {
        assert_eq!(
            target(bad).err().and_then(|e| e.status()),
            Some(400),
            "{bad:?}"
        );
    }
}

#[test]
fn request_errors_map_to_statuses() {
    let status = |head: &[u8]| parse_request(head).err().and_then(|e| e.status());
    assert_eq!(status(b"POST http://a/ HTTP/1.0\r\n\r\n"), Some(501));
    assert_eq!(status(b"CONNECT a:443 HTTP/1.1\r\n\r\n"), Some(501));
    assert_eq!(status(b"GET https://a/ HTTP/1.1\r\n\r\n"), Some(501));
    assert_eq!(status(b"GET /p HTTP/1.0\r\n\r\n"), Some(400));
    assert_eq!(status(b"GET http://a/\r\n\r\n"), Some(400));
    assert_eq!(status(b"GARBAGE\r\n\r\n"), Some(400));
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nNoColon\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nHost : a\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nContent-Length: 5\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nX: a\r\n b\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nX: a\0b\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"GET http://a/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
        None
    );
}
