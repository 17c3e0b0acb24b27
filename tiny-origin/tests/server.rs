//! End-to-end tests of the in-process server over raw TCP.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::thread;
use std::time::{Duration, Instant};

use common::{IO_TIMEOUT, connect, exchange, get, read_one, start, start_default};
use tiny_origin::{Config, STATIC_PATHS, adder_body, pattern_bytes, site};

#[test]
fn every_static_file_matches_site() {
    let addr = start_default();
    let files = site();
    assert_eq!(files.len(), STATIC_PATHS.len());
    for f in files {
        let r = get(addr, f.path);
        assert_eq!(r.status, 200, "{}", f.path);
        assert!(
            r.status_line.starts_with("HTTP/1.0 200"),
            "{}",
            r.status_line
        );
        assert_eq!(r.header("Content-Type"), Some(f.content_type), "{}", f.path);
        assert_eq!(
            r.header("Content-Length"),
            Some(f.body.len().to_string().as_str()),
            "{}",
            f.path
        );
        assert_eq!(r.header("Transfer-Encoding"), None);
        assert!(r.body == f.body, "body of {} differs", f.path);
    }
}

#[test]
fn big_file_over_http11_is_not_chunked() {
    let addr = start_default();
    let r = exchange(
        addr,
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.status_line.starts_with("HTTP/1.1 200"));
    assert_eq!(r.header("Transfer-Encoding"), None);
    assert_eq!(r.header("Content-Length"), Some("300000"));
    assert_eq!(r.body, tiny_origin::big_bin());
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let addr = start_default();
    let mut s = connect(addr);
    s.write_all(
        b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/40000 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .expect("send");
    let a = read_one(&mut s);
    let b = read_one(&mut s);
    assert_eq!(a.body, tiny_origin::NOTES_TXT.as_bytes());
    assert_eq!(b.body, pattern_bytes(40_000));
}

#[test]
fn adder_adds_and_rejects_garbage() {
    let addr = start_default();
    let r = get(addr, "/cgi-bin/adder?15213&18213");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.text(), adder_body(15213, 18213));
    assert!(r.text().contains("15213 + 18213 = 33426"));
    assert_eq!(get(addr, "/cgi-bin/adder?-5&2").text(), adder_body(-5, 2));
    assert_eq!(get(addr, "/cgi-bin/adder?a&2").status, 400);
    assert_eq!(get(addr, "/cgi-bin/adder?1").status, 400);
    assert_eq!(get(addr, "/cgi-bin/adder").status, 400);
}

#[test]
fn echo_returns_the_request_head() {
    let addr = start_default();
    let req = "GET /echo?a=1&b HTTP/1.0\r\n\
               Host: origin.test\r\n\
               X-Custom: Hello World\r\n\
               x-dup: one\r\n\
               X-Dup: two\r\n\
               User-Agent: tiny-origin-test\r\n\
               \r\n";
    let r = exchange(addr, req.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.text(), req);
}

#[test]
fn echo_accepts_other_methods_and_normalises_value_whitespace() {
    let addr = start_default();
    let r = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Space:   v  \r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Space: v\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn bytes_endpoint_streams_the_pattern() {
    let addr = start_default();
    for n in [0usize, 1, 1000, 123_457, 2_000_000] {
        let r = get(addr, &format!("/bytes/{n}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(r.header("Content-Length"), Some(n.to_string().as_str()));
        assert!(r.body == pattern_bytes(n), "/bytes/{n} body differs");
    }
    assert_eq!(get(addr, "/bytes/1073741825").status, 400);
    assert_eq!(get(addr, "/bytes/-1").status, 400);
    assert_eq!(get(addr, "/bytes/abc").status, 400);
}

#[test]
fn huge_bytes_response_announces_its_length() {
    let addr = start_default();
    let mut s = connect(addr);
    s.write_all(b"GET /bytes/1073741824 HTTP/1.0\r\n\r\n")
        .expect("send");
    let mut head = vec![0u8; 4096];
    let mut got = 0;
    while !head[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut head[got..]).expect("read");
        assert!(n > 0);
        got += n;
    }
    let text = String::from_utf8_lossy(&head[..got]);
    assert!(text.contains("Content-Length: 1073741824\r\n"), "{text}");
    // Dropping the connection early must not upset the server.
    drop(s);
    assert_eq!(get(addr, "/status/200").status, 200);
}

#[test]
fn status_endpoint() {
    let addr = start_default();
    let r = get(addr, "/status/404");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "status 404\n");
    let r = get(addr, "/status/503");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "status 503\n");
    let r = get(addr, "/status/204");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(get(addr, "/status/199").status, 400);
    assert_eq!(get(addr, "/status/600").status, 400);
    assert_eq!(get(addr, "/status/x").status, 400);
}

#[test]
fn unknown_path_is_404_clienterror() {
    let addr = start_default();
    let r = get(addr, "/no/such<file>");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let body = r.text();
    assert!(body.contains("404: Not found"), "{body}");
    assert!(body.contains("/no/such&lt;file&gt;"), "{body}");
}

#[test]
fn unsupported_method_is_501() {
    let addr = start_default();
    let r = exchange(
        addr,
        b"POST /notes.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 501);
}

#[test]
fn head_has_length_but_no_body() {
    let addr = start_default();
    let r = exchange(addr, b"HEAD /big.bin HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("300000"));
    assert!(r.body.is_empty());
    let r = exchange(addr, b"HEAD /slow/5000 HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("Content-Length"), Some("5000"));
    assert!(r.body.is_empty());
}

#[test]
fn hold_returns_after_release() {
    let addr = start(Config {
        hold_secs: 20,
        ..Config::default()
    });
    let holder = thread::spawn(move || {
        let t = Instant::now();
        (get(addr, "/hold/k1"), t.elapsed())
    });
    thread::sleep(Duration::from_millis(300));
    let rel = get(addr, "/release/k1");
    assert_eq!(rel.status, 200);
    // The holder has almost certainly arrived; if not, the sticky release
    // still lets it through.
    let text = rel.text();
    assert!(
        text == "release k1: 1 waiting\n" || text == "release k1: 0 waiting\n",
        "{text}"
    );
    let (held, elapsed) = holder.join().expect("holder");
    assert_eq!(held.status, 200);
    assert_eq!(held.text(), "released k1\n");
    assert!(elapsed < Duration::from_secs(10));
}

#[test]
fn many_holders_are_woken_together() {
    let addr = start_default();
    let holders: Vec<_> = (0..16)
        .map(|_| thread::spawn(move || get(addr, "/hold/crowd")))
        .collect();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(get(addr, "/release/crowd").status, 200);
    for h in holders {
        assert_eq!(h.join().expect("holder").text(), "released crowd\n");
    }
}

#[test]
fn release_before_hold_is_sticky() {
    let addr = start_default();
    assert_eq!(
        get(addr, "/release/early").text(),
        "release early: 0 waiting\n"
    );
    let t = Instant::now();
    let r = get(addr, "/hold/early");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "released early\n");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn hold_times_out_with_504() {
    let addr = start(Config {
        hold_secs: 1,
        ..Config::default()
    });
    let t = Instant::now();
    let r = get(addr, "/hold/never");
    assert_eq!(r.status, 504);
    assert_eq!(r.text(), "hold timed out never\n");
    assert!(t.elapsed() >= Duration::from_secs(1));
}

#[test]
fn stall_does_not_block_other_requests_and_closes_silently() {
    let addr = start(Config {
        stall_secs: 2,
        ..Config::default()
    });
    let mut stalled = connect(addr);
    stalled
        .write_all(b"GET /stall HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("send");
    thread::sleep(Duration::from_millis(100));

    let t = Instant::now();
    let r = get(addr, "/notes.txt");
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_secs(2));

    // Nothing arrives while stalled...
    stalled
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    match stalled.read(&mut buf) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
        Ok(n) => panic!("stall answered {n} bytes"),
    }
    // ...and then the connection is closed without a byte.
    stalled.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut rest = Vec::new();
    stalled.read_to_end(&mut rest).expect("EOF after stall");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn slow_drips_the_pattern() {
    let addr = start_default();
    let t = Instant::now();
    let r = get(addr, "/slow/5000?chunk=1000&ms=100");
    let elapsed = t.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("5000"));
    assert_eq!(r.body, pattern_bytes(5000));
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");

    let r = get(addr, "/slow/3000");
    assert_eq!(r.body, pattern_bytes(3000));
    assert_eq!(get(addr, "/slow/10?chunk=0").status, 400);
    assert_eq!(get(addr, "/slow/10?bogus=1").status, 400);
}

#[test]
fn slow_chunks_arrive_separately() {
    let addr = start_default();
    let mut s = connect(addr);
    s.write_all(b"GET /slow/300?chunk=100&ms=300 HTTP/1.0\r\n\r\n")
        .expect("send");
    // The head and the first chunk come at once; the rest 300 ms apart.
    let t = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    while got < 4 || !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        got += s.read(&mut buf[got..]).expect("read head");
    }
    assert!(t.elapsed() < Duration::from_millis(250));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("read rest");
    assert!(t.elapsed() >= Duration::from_millis(550));
}

#[test]
fn root_dir_takes_precedence_and_blocks_traversal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site_dir = dir.path().join("site");
    std::fs::create_dir(&site_dir).expect("mkdir");
    std::fs::write(site_dir.join("home.html"), "<p>mine</p>").expect("write");
    std::fs::write(site_dir.join("extra.txt"), "extra\n").expect("write");
    std::fs::write(dir.path().join("secret.txt"), "secret\n").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), site_dir.join("link.txt"))
        .expect("symlink");

    let addr = start(Config {
        root: Some(site_dir),
        ..Config::default()
    });
    let r = get(addr, "/");
    assert_eq!(r.text(), "<p>mine</p>");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = get(addr, "/extra.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "extra\n"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    // Built-in files still there when DIR lacks them.
    assert_eq!(get(addr, "/notes.txt").text(), tiny_origin::NOTES_TXT);
    assert_eq!(get(addr, "/../secret.txt").status, 403);
    assert_eq!(get(addr, "/a/../../secret.txt").status, 403);
    #[cfg(unix)]
    assert_eq!(get(addr, "/link.txt").status, 403);
    assert_eq!(get(addr, "/missing.txt").status, 404);
}

#[test]
fn ipv6_loopback_works() {
    let config = Config {
        bind: IpAddr::V6(Ipv6Addr::LOCALHOST),
        port: Some(0),
        ..Config::default()
    };
    let server = match tiny_origin::start(&config) {
        Ok(v) => v,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot bind [::1] on this CI machine: {e:#}"
            );
            println!("SKIPPED ipv6_loopback_works: cannot bind [::1]: {e:#}");
            return;
        }
    };
    let addr = server.addr();
    assert!(addr.is_ipv6());
    assert!(addr.to_string().starts_with("[::1]:"));
    let r = get(addr, "/notes.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), tiny_origin::NOTES_TXT);
}
