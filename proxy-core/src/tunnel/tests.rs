use super::*;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use clap::Parser;

use crate::config::Config;
use crate::test_support::{on_tokio, pair};

fn proxy(args: &[&str]) -> Proxy {
    Proxy::new(
        Config::parse_from(std::iter::once(&"proxy").chain(args)),
        "127.0.0.1:3128".parse().expect("addr"),
    )
    .expect("proxy")
}

fn status(proxy: &Proxy, head: &str) -> Option<u16> {
    prepare(proxy, head.as_bytes())
        .err()
        .and_then(|e| e.status())
}

#[test]
fn ports_deny_list_and_off_switch_decide_before_connecting() {
    let default = proxy(&["--deny", "blocked.test"]);
    assert_eq!(
        status(&default, "CONNECT ok.test:443 HTTP/1.1\r\n\r\n"),
        None
    );
    assert_eq!(
        status(&default, "CONNECT ok.test:25 HTTP/1.1\r\n\r\n"),
        Some(403)
    );
    assert_eq!(
        status(&default, "CONNECT www.Blocked.test:443 HTTP/1.1\r\n\r\n"),
        Some(403)
    );
    assert_eq!(
        status(&default, "CONNECT ok.test HTTP/1.1\r\n\r\n"),
        Some(400)
    );
    let off = proxy(&["--connect-ports", ""]);
    assert_eq!(
        status(&off, "CONNECT ok.test:443 HTTP/1.1\r\n\r\n"),
        Some(501)
    );
    let more = proxy(&["--connect-ports", "443,8443"]);
    assert_eq!(status(&more, "CONNECT ok.test:8443 HTTP/1.1\r\n\r\n"), None);
    assert!(is_connect(b"CONNECT a:443 HTTP/1.1\r\n\r\n"));
    assert!(!is_connect(b"connect a:443 HTTP/1.1\r\n\r\n"));
    assert!(!is_connect(b"GET http://a/ HTTP/1.0\r\n\r\n"));
}

/// Relays between the two near ends, with the blocking or the tokio pump.
fn relay_both(asynchronous: bool, client: TcpStream, origin: TcpStream, idle: Duration) -> Moved {
    if asynchronous {
        on_tokio(client, origin, async |c, o| {
            let (c, o) = (
                c.registered_mut().expect("register"),
                o.registered_mut().expect("register"),
            );
            pump_async::both_ways_async(c, o, idle).await
        })
    } else {
        pump::both_ways(&client, &origin, idle)
    }
}

/// The far ends of a tunnel: the client sends `up` bytes and half-closes,
/// the origin reads them all, then sends `down` bytes and closes. Returns
/// what each side received.
fn ends(
    mut client: TcpStream,
    mut origin: TcpStream,
    up: usize,
    down: usize,
) -> (
    std::thread::JoinHandle<Vec<u8>>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let client = std::thread::spawn(move || {
        let sent: Vec<u8> = (0..253u8).cycle().take(up).collect();
        let _ = client.write_all(&sent);
        let _ = client.shutdown(Shutdown::Write);
        let mut got = Vec::new();
        let _ = client.read_to_end(&mut got);
        got
    });
    let origin = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = origin.read_to_end(&mut got);
        let reply: Vec<u8> = (0..241u8).cycle().take(down).collect();
        let _ = origin.write_all(&reply);
        got
    });
    (client, origin)
}

/// A half-close by the client reaches the origin, whose answer still
/// comes back whole (blocking and tokio relays).
#[test]
fn both_ways_passes_a_half_close_on_and_counts_the_bytes() {
    for asynchronous in [false, true] {
        let (client_far, client_near) = pair();
        let (origin_near, origin_far) = pair();
        let (up, down) = (300_000, 2_000_000);
        let (client, origin) = ends(client_far, origin_far, up, down);
        let idle = Duration::from_secs(30);
        let moved = relay_both(asynchronous, client_near, origin_near, idle);
        let (to_client, to_origin) = (
            client.join().expect("client"),
            origin.join().expect("origin"),
        );
        assert!(
            moved.error.is_none(),
            "async {asynchronous}: {:?}",
            moved.error
        );
        assert_eq!((moved.up, moved.down), (up as u64, down as u64));
        assert_eq!(to_origin.len(), up, "async {asynchronous}");
        assert_eq!(to_client.len(), down, "async {asynchronous}");
        assert!(to_client.iter().copied().eq((0..241u8).cycle().take(down)));
    }
}

/// Nothing moving either way ends the tunnel with `TimedOut`.
#[test]
fn an_idle_tunnel_times_out() {
    for asynchronous in [false, true] {
        let (_client_far, client_near) = pair();
        let (origin_near, _origin_far) = pair();
        let idle = Duration::from_millis(300);
        let moved = relay_both(asynchronous, client_near, origin_near, idle);
        let kind = moved.error.map(|e| e.kind());
        assert_eq!(kind, Some(io::ErrorKind::TimedOut), "async {asynchronous}");
    }
}
