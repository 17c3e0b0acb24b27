//! The bounded load test of the hardening issue: 20,000 requests from 64
//! clients, some aborting, some slow, against proxy-thread and proxy-async.
//! Zero wrong bodies, zero errors, and fds, threads and memory back near
//! idle afterwards. Ignored by default (it takes a while in debug builds):
//! `cargo test --release -p harness --test load -- --ignored --nocapture`,
//! or `cargo run --release -p harness -- load --variant thread`.
//! A short version runs always.

use harness::load::{LoadOptions, run_load};
use harness::{CONCURRENT, Lab, start_origin, start_variant};

/// Memory a run may leave behind (allocator arenas, thread caches), KiB.
const RSS_SLACK_KIB: u64 = 16 * 1024;

fn run(options: &LoadOptions) {
    for variant in CONCURRENT {
        let origin = start_origin(&[]).expect("origin");
        let proxy = start_variant(variant, &["--no-cache"]).expect("proxy");
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        let report = run_load(lab, proxy.pid(), options);
        println!(
            "{variant}: {}",
            serde_json::to_string(&report).unwrap_or_default()
        );
        assert!(report.passed(RSS_SLACK_KIB), "{variant}: {report:#?}");
        assert_eq!(
            report.ok + report.aborted,
            report.requests,
            "{variant}: {report:#?}"
        );
    }
}

#[test]
fn short_load_with_aborts_and_slow_readers() {
    run(&LoadOptions {
        requests: 1_500,
        clients: 32,
        ..LoadOptions::default()
    });
}

#[test]
#[ignore = "long: 20,000 requests per variant; run with --ignored"]
fn load_20000_requests_64_clients() {
    run(&LoadOptions::default());
}
