//! Limits that hold under pressure (issue #14 items 9-11, SPEC §6): the
//! open-file limit, kernel memory per stalled connection, and one meaning
//! of `--idle-timeout` for every variant.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed};
use harness::clients::http::{proxy_request, url};
use harness::lab::on_each_variant;
use harness::safety::{StalledDownloads, settle, start_variant_with_nofile};
use harness::{CONCURRENT, Lab, VARIANTS, start_origin, start_variant};

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    if !std::path::Path::new("/proc/self/limits").exists() {
        println!("skipped: no /proc on this system");
        return;
    }
    let checks = on_each_variant(&VARIANTS, |variant| {
        let proxy = start_variant_with_nofile(variant, 256, 2048, &[])?;
        let limits = harness::process::procfs::open_file_limits(proxy.pid());
        Ok(vec![if limits == Some(("2048".into(), "2048".into())) {
            Check::pass(
                Section::Limits,
                "soft RLIMIT_NOFILE raised from 256 to the hard 2048",
            )
        } else {
            Check::fail(
                Section::Limits,
                "soft RLIMIT_NOFILE raised from 256 to the hard 2048",
                format!("{limits:?}"),
                None,
            )
        }])
    });
    assert_all_passed(&checks);
}

#[test]
fn more_clients_than_descriptors_get_503_not_a_stall() {
    if !std::path::Path::new("/proc/self/limits").exists() {
        println!("skipped: no /proc on this system");
        return;
    }
    // 256 descriptors allow (256 - 64) / 4 = 48 connections; 300 idle
    // clients would exhaust them long before --max-conns 4096.
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant_with_nofile(variant, 256, 256, &["--header-timeout", "60"])?;
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT)?);
        }
        std::thread::sleep(Duration::from_millis(500));
        // Every client beyond the limit is answered 503 at once.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut refused = 0;
        let mut stuck = 0;
        for stream in &mut idle {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = [0u8; 12];
            match stream.read(&mut buf) {
                Ok(n) if buf[..n].starts_with(b"HTTP/1.0 503") => refused += 1,
                _ => stuck += 1,
            }
            if Instant::now() > deadline {
                break;
            }
        }
        let log_lines = proxy
            .output_text()
            .lines()
            .filter(|l| l.contains("accept failed"))
            .count();
        drop(idle);
        std::thread::sleep(Duration::from_millis(500));
        let served = harness::checks::same_as_direct(
            harness::Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            },
            "/home.html",
        );
        Ok(vec![
            if refused >= 240 && stuck <= 60 {
                Check::pass(
                    Section::Limits,
                    "clients beyond the descriptor limit get 503 at once",
                )
            } else {
                Check::fail(
                    Section::Limits,
                    "clients beyond the descriptor limit get 503 at once",
                    format!("{refused} of 300 idle clients got 503, {stuck} got nothing"),
                    Some("cap --max-conns by RLIMIT_NOFILE"),
                )
            },
            if log_lines <= 2 {
                Check::pass(Section::Limits, "no flood of 'accept failed' lines")
            } else {
                Check::fail(
                    Section::Limits,
                    "no flood of 'accept failed' lines",
                    format!("{log_lines} lines"),
                    None,
                )
            },
            Check::from_result(
                Section::Limits,
                "serves again once the idle clients left",
                served,
            ),
        ])
    });
    assert_all_passed(&checks);
}

/// Queued bytes in the proxy's sockets per stalled download. Before the
/// fix each held 4-8 MiB (autotuned buffers); now at most the fixed
/// buffers, well under 1 MiB.
const MAX_QUEUED_PER_CONN: u64 = 1 << 20;

#[test]
fn a_stalled_download_holds_bounded_kernel_memory() {
    if !std::path::Path::new("/proc/net/tcp").exists() {
        println!("skipped: no /proc/net/tcp on this system");
        return;
    }
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        // proxy-seq serves one connection at a time.
        let count = if variant.is_concurrent() { 8 } else { 1 };
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        let stalled = StalledDownloads::open(lab, count)?;
        let queued = settle(Duration::from_secs(10), || {
            harness::process::procfs::proxy_queued_bytes(proxy.addr.port(), origin.addr.port())
        });
        let per_conn = queued / stalled.len() as u64;
        println!(
            "{variant}: {count} stalled downloads, {queued} bytes queued in the proxy's sockets, {per_conn} per connection"
        );
        Ok(vec![if per_conn > 0 && per_conn <= MAX_QUEUED_PER_CONN {
            Check::pass(
                Section::Limits,
                format!("a stalled download queues at most 1 MiB ({per_conn} bytes)"),
            )
        } else {
            Check::fail(
                Section::Limits,
                "a stalled download queues at most 1 MiB",
                format!("{per_conn} bytes per connection ({queued} for {count})"),
                None,
            )
        }])
    });
    assert_all_passed(&checks);
}

/// The proxy's log line for the request to `path`, if it was written.
fn logged(proxy: &harness::Running, path: &str) -> Option<String> {
    proxy
        .output_text()
        .lines()
        .find(|l| l.contains(path) && l.contains(" GET "))
        .map(str::to_string)
}

#[test]
fn a_client_that_stops_reading_is_cut_after_the_idle_timeout_not_several() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache", "--idle-timeout", "2"])?;
        let path = "/bytes/500000000?never-reads";
        let mut stream = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT)?;
        stream.write_all(&proxy_request(&url(origin.addr, path), &[]))?;
        let start = Instant::now();
        // 2 s of no progress, plus generous slack for a loaded machine;
        // several timeouts (8 s) is what the old relay took.
        let deadline = start + Duration::from_millis(5500);
        let mut line = None;
        while line.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            line = logged(&proxy, path);
        }
        drop(stream);
        Ok(vec![match line {
            Some(l) if l.contains("timed out") => Check::pass(
                Section::Timeouts,
                "a client that never reads is cut after the idle timeout",
            ),
            Some(l) => Check::fail(
                Section::Timeouts,
                "a client that never reads is cut after the idle timeout",
                l,
                None,
            ),
            None => Check::fail(
                Section::Timeouts,
                "a client that never reads is cut after the idle timeout",
                format!(
                    "still relaying after {:.1} s with --idle-timeout 2",
                    start.elapsed().as_secs_f64()
                ),
                None,
            ),
        }])
    });
    assert_all_passed(&checks);
}

#[test]
fn a_client_that_reads_slowly_but_steadily_is_not_cut() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache", "--idle-timeout", "2"])?;
        let path = "/bytes/500000000?slow-reader";
        let mut stream = TcpStream::connect_timeout(&proxy.addr, CHECK_TIMEOUT)?;
        stream.write_all(&proxy_request(&url(origin.addr, path), &[]))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        // 16 KiB every 250 ms: progress every quarter of a second, for
        // four idle timeouts.
        let until = Instant::now() + Duration::from_secs(8);
        let mut got = 0usize;
        let mut buf = vec![0u8; 16 * 1024];
        let mut ended = None;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => {
                    ended = Some("EOF".to_string());
                    break;
                }
                Ok(n) => got += n,
                Err(e) => {
                    ended = Some(e.to_string());
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let cut = logged(&proxy, path);
        drop(stream);
        Ok(vec![match (cut, ended) {
            (None, None) => Check::pass(
                Section::Timeouts,
                format!("a steady slow reader is not cut ({got} bytes in 8 s)"),
            ),
            (cut, ended) => Check::fail(
                Section::Timeouts,
                "a steady slow reader is not cut",
                format!("after {got} bytes: log {cut:?}, read ended {ended:?}"),
                None,
            ),
        }])
    });
    assert_all_passed(&checks);
}

#[test]
fn harness_load_reports_memory_with_slow_readers() {
    if harness::process::procfs::tcp_mem_bytes().is_none() {
        println!("skipped: no /proc/net/sockstat on this system");
        return;
    }
    for variant in CONCURRENT {
        let origin = start_origin(&[]).expect("origin");
        let proxy = start_variant(variant, &["--no-cache"]).expect("proxy");
        let lab = Lab {
            origin: origin.addr,
            proxy: proxy.addr,
        };
        let report =
            harness::load::slow_readers(lab, proxy.pid(), 20, 2_000_000).expect("slow readers");
        println!(
            "{variant}: {}",
            serde_json::to_string(&report).unwrap_or_default()
        );
        assert_eq!(report.readers, 20);
        assert!(
            report.rss_with_kib.is_some() && report.tcp_mem_with.is_some(),
            "{report:?}"
        );
        assert!(
            report.proxy_queued_per_reader() > 0 && report.proxy_queued_per_reader() <= 1 << 20,
            "{variant}: {report:?}"
        );
    }
}
