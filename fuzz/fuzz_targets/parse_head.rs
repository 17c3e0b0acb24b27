//! Fuzzes what a client's bytes meet first: the head reader (`HeadBuf`),
//! then `Proxy::prepare` (parse, deny list, rewrite, cache key).
//!
//! The first input byte picks the chunk sizes, so the fuzzer explores how
//! a head split across reads behaves; the rest is what the client sends.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use proxy_core::head::{HeadBuf, MAX_HEAD, read_in_chunks};
use proxy_core::{Config, Proxy};

fn proxy() -> &'static Proxy {
    static PROXY: OnceLock<Proxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        let config = Config::parse_from(["proxy", "--deny", "denied.test"]);
        let addr: SocketAddr = "127.0.0.1:3128".parse().expect("a socket address");
        Proxy::new(config, addr).expect("a proxy")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    // Chunk sizes cycle through 1 + a few bits of the first byte; 0 means
    // "as much as read_limit allows", like a fast client.
    let sizes = [
        usize::from(first & 0x0f),
        usize::from(first >> 4),
        usize::from(first & 0x03) + 1,
    ];

    let mut whole = HeadBuf::new();
    let whole_result = whole.push(input).map_err(|e| e.status());
    let (head, result) = read_in_chunks(input, |step, _| sizes[step % sizes.len()]);
    let result = result.map_err(|e| e.status());
    assert!(
        head.bytes().len() <= MAX_HEAD + 1,
        "HeadBuf held more than MAX_HEAD + 1"
    );
    assert_eq!(result, whole_result, "chunked and whole reads disagree");

    let Ok(Some(end)) = result else {
        return;
    };
    let request = &head.bytes()[..end];
    let Ok(prepared) = proxy().prepare(request) else {
        return;
    };
    // What goes to the origin must parse as a complete HTTP/1.0 GET.
    let out = &prepared.origin_request;
    let mut slots = vec![httparse::EMPTY_HEADER; prepared.request.headers.len() + 8];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "bytes after the rewrite"),
        other => panic!("the rewrite does not parse: {other:?}"),
    }
    assert_eq!(parsed.method, Some("GET"));
    assert_eq!(parsed.version, Some(0));
    assert_eq!(parsed.path, Some(prepared.request.target.path.as_str()));
    let count = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("Host"), 1);
    assert_eq!(count("User-Agent"), 1);
    assert_eq!(count("Connection"), 1);
    assert_eq!(count("Proxy-Connection"), 1);
    assert_eq!(count("Keep-Alive"), 0);
    assert_eq!(count("Transfer-Encoding"), 0);
});
