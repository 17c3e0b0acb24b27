//! Micro-benchmarks of the request-head work every request pays before it
//! touches the origin: finding the end of the head, parsing it (httparse
//! and the URI split), and building the request for the origin.
//!
//! Run with `cargo bench -p proxy-core`. For whole-proxy figures see
//! `harness bench` (README, "Performance").

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proxy_core::head::{HeadBuf, find_head_end};
use proxy_core::request::parse_request;
use proxy_core::rewrite::origin_request;

/// What wrk sends in `harness bench`.
const MINIMAL: &[u8] = b"GET http://127.0.0.1:8080/1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
Connection: close\r\n\r\n";

/// What a browser sends through a proxy.
const BROWSER: &[u8] =
    b"GET http://www.example.test:8080/path/to/page.html?q=proxy&lang=en HTTP/1.1\r\n\
Host: www.example.test:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate\r\n\
Proxy-Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; tz=Europe%2FParis\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Referer: http://www.example.test:8080/path/to/index.html\r\n\
\r\n";

fn bench_heads(c: &mut Criterion) {
    for (name, head) in [("minimal", MINIMAL), ("browser", BROWSER)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function("find_head_end", |b| {
            b.iter(|| find_head_end(black_box(head)));
        });
        group.bench_function("headbuf_push", |b| {
            b.iter(|| {
                let mut buf = HeadBuf::new();
                buf.push(black_box(head)).ok().flatten()
            });
        });
        group.bench_function("parse_request", |b| {
            b.iter(|| parse_request(black_box(head)).ok());
        });
        let request = match parse_request(head) {
            Ok(request) => request,
            Err(e) => panic!("the {name} head must parse: {e}"),
        };
        group.bench_function("origin_request", |b| {
            b.iter(|| origin_request(black_box(&request)));
        });
        group.bench_function("parse_and_rewrite", |b| {
            b.iter(|| {
                parse_request(black_box(head))
                    .map(|r| (origin_request(&r), r.target.cache_key()))
                    .ok()
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench_heads);
criterion_main!(benches);
