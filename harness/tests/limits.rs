//! Limits (SPEC §6, issue "Hardening"): `--max-conns N` answers 503 beyond
//! N connections at once, and a flood never makes proxy-thread spawn more
//! threads than that.

use std::net::TcpStream;
use std::time::Duration;

use harness::checks::{CHECK_TIMEOUT, same_as_direct};
use harness::clients::http::read_to_end_by;
use harness::process::procfs::usage;
use harness::{CONCURRENT, Setup, Variant, start_variant};

#[test]
fn beyond_max_conns_a_client_gets_503_then_service_resumes() {
    for variant in CONCURRENT {
        let setup = Setup::start(
            variant,
            &[],
            &["--max-conns", "5", "--header-timeout", "30"],
        )
        .expect("setup");
        let proxy = &setup.proxy;
        let held: Vec<TcpStream> = (0..5)
            .map(|_| TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).expect("connect"))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut sixth = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).expect("connect");
        let answer = read_to_end_by(&mut sixth, std::time::Instant::now() + CHECK_TIMEOUT)
            .unwrap_or_else(|(partial, _)| partial);
        assert!(
            answer.starts_with(b"HTTP/1.0 503"),
            "{variant}: the sixth connection got {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        );
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        same_as_direct(setup.lab(), "/home.html").unwrap_or_else(|f| {
            panic!(
                "{variant}: no service after the idle clients left: {}",
                f.detail
            )
        });
    }
}

#[test]
fn a_flood_of_connections_never_spawns_more_threads_than_max_conns() {
    let proxy = start_variant(
        Variant::Thread,
        &["--max-conns", "40", "--header-timeout", "30"],
    )
    .expect("proxy");
    std::thread::sleep(Duration::from_millis(200));
    let idle = usage(proxy.pid()).expect("usage");
    let flood: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let busy = usage(proxy.pid()).expect("usage");
    assert!(
        flood.len() >= 250,
        "only {} connections opened",
        flood.len()
    );
    assert!(
        busy.threads <= idle.threads + 40,
        "proxy-thread runs {} threads with --max-conns 40 (idle: {})",
        busy.threads,
        idle.threads
    );
    assert!(
        busy.threads >= idle.threads + 30,
        "the flood did not reach the proxy: {busy:?}"
    );
}
