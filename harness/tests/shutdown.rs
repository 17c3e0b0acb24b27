//! Graceful shutdown (SPEC §6): on SIGTERM or SIGINT a proxy stops
//! accepting, lets the transfer in flight finish, and exits 0.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::checks::CHECK_TIMEOUT;
use harness::clients::http::{proxy_request, read_to_end_by, url};
use harness::process::Signal;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn a_transfer_in_flight_finishes_and_the_process_exits_0() {
    for (variant, signal) in
        VARIANTS
            .into_iter()
            .zip([Signal::SIGTERM, Signal::SIGINT, Signal::SIGTERM])
    {
        let origin = start_origin(&[]).expect("origin");
        let mut proxy =
            start_variant(variant, &["--no-cache", "--shutdown-grace", "10"]).expect("proxy");
        // About 1.5 s of body: 100 chunks of 1,000 bytes, 15 ms apart.
        let path = "/slow/100000?chunk=1000&ms=15";
        let mut client = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).expect("connect");
        client
            .write_all(&proxy_request(&url(origin.addr, path), &[]))
            .expect("send");
        std::thread::sleep(Duration::from_millis(300));
        proxy.signal(signal);
        let started = Instant::now();
        let body = read_to_end_by(&mut client, Instant::now() + CHECK_TIMEOUT).unwrap_or_else(
            |(partial, e)| panic!("{variant}: transfer cut after {} bytes: {e}", partial.len()),
        );
        let head_end = body
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        assert_eq!(
            body.len() - head_end,
            100_000,
            "{variant}: the transfer in flight was cut short"
        );
        let status = proxy
            .wait_exit(Duration::from_secs(10))
            .expect("the proxy did not exit");
        assert_eq!(status.code(), Some(0), "{variant}: exit status {status:?}");
        // After the signal, no new connection is served.
        let refused = TcpStream::connect_timeout(&proxy.addr, Duration::from_secs(1)).is_err();
        assert!(refused, "{variant}: still accepting after it exited");
        println!(
            "{variant}: signal {signal}, transfer finished, exit 0 after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn new_connections_are_not_served_once_shutdown_begins() {
    let origin = start_origin(&[]).expect("origin");
    let mut proxy = start_variant(
        harness::Variant::Async,
        &["--no-cache", "--shutdown-grace", "10"],
    )
    .expect("proxy");
    let mut client = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).expect("connect");
    client
        .write_all(&proxy_request(
            &url(origin.addr, "/slow/50000?chunk=1000&ms=20"),
            &[],
        ))
        .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    proxy.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    // The listener is closed or no longer accepting: a new request gets no answer.
    let late = harness::clients::http::get_via_proxy(
        proxy.addr,
        &url(origin.addr, "/home.html"),
        Duration::from_secs(2),
    );
    assert!(
        late.as_ref().map_or(true, |r| r.status != Some(200)),
        "a request after SIGTERM was served"
    );
    let body =
        read_to_end_by(&mut client, Instant::now() + CHECK_TIMEOUT).expect("in-flight transfer");
    assert!(body.len() > 50_000);
    assert_eq!(
        proxy
            .wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
}

/// The grace period is a bound: a client that holds its connection past it
/// (here one that never sends its head, with a header timeout far longer
/// than the grace) does not keep the proxy alive; it exits 0 once the
/// grace is over — the one forced exit.
#[test]
fn a_connection_past_the_grace_period_does_not_keep_the_proxy_alive() {
    for variant in VARIANTS {
        let mut proxy = start_variant(
            variant,
            &["--shutdown-grace", "1", "--header-timeout", "600"],
        )
        .expect("proxy");
        let _silent = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).expect("connect");
        std::thread::sleep(Duration::from_millis(200));
        proxy.signal(Signal::SIGTERM);
        let status = proxy
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{variant}: still running 30 s after SIGTERM"));
        assert_eq!(status.code(), Some(0), "{variant}: exit status {status:?}");
    }
}
