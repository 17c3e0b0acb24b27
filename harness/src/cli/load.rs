//! `harness load`: the bounded load test against one variant.

use std::process::ExitCode;

use anyhow::{Result, bail};
use harness::load::{LoadOptions, run_load, slow_readers};
use harness::{Lab, Variant, start_origin, start_variant};

/// Memory a run may leave behind (allocator arenas, thread caches), KiB.
pub const RSS_SLACK_KIB: u64 = 16 * 1024;

/// Flags of `harness load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Variant: seq, thread or async.
    #[arg(long, default_value = "async")]
    pub variant: String,
    /// Requests in all.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Clients at once.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Then hold this many slow readers (clients that read nothing while
    /// measured) and report the proxy's RSS and the kernel's TCP memory
    /// (/proc/net/sockstat); 0 skips it.
    #[arg(long, default_value_t = 500)]
    pub slow_readers: usize,
    /// Bytes each slow reader asks for.
    #[arg(long, default_value_t = 2_000_000)]
    pub slow_size: usize,
}

/// Runs the load test; exit 0 only when it passed.
pub fn run(args: &Args) -> Result<ExitCode> {
    let Some(variant) = Variant::from_name(&args.variant) else {
        bail!(
            "unknown variant {:?}: use seq, thread or async",
            args.variant
        );
    };
    let origin = start_origin(&[])?;
    let proxy = start_variant(variant, &["--no-cache"])?;
    let options = LoadOptions {
        requests: args.requests.max(1),
        clients: args.clients.max(1),
        ..LoadOptions::default()
    };
    eprintln!(
        "{} requests from {} clients through {variant}...",
        options.requests, options.clients
    );
    let lab = Lab {
        origin: origin.addr,
        proxy: proxy.addr,
    };
    let report = run_load(lab, proxy.pid(), &options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{variant}: {} requests ({} ok, {} wrong bodies, {} errors, {} aborted on purpose, {} slow) in {:.1} s = {:.0} req/s\n\
             fds/threads idle {:?} -> after {:?}; RSS idle {:?} KiB, peak {:?} KiB, after {:?} KiB",
            report.requests,
            report.ok,
            report.wrong,
            report.errors,
            report.aborted,
            report.slow,
            report.seconds,
            report.requests_per_sec,
            report.idle,
            report.after,
            report.idle_rss_kib,
            report.peak_rss_kib,
            report.after_rss_kib
        );
    }
    let slow = if args.slow_readers > 0 {
        let slow = slow_readers(lab, proxy.pid(), args.slow_readers, args.slow_size)?;
        let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / 1_048_576.0));
        if args.json {
            println!("{}", serde_json::to_string_pretty(&slow)?);
        } else {
            println!(
                "{variant}: {} slow readers of {} bytes: RSS {:?} -> {:?} KiB; \
                 kernel TCP memory (sockstat, whole machine) {:?} -> {:?} ({:?} per reader); \
                 queued in the proxy's own sockets {:.1} MiB ({} KiB per reader)",
                slow.readers,
                slow.size,
                slow.rss_before_kib,
                slow.rss_with_kib,
                mib(slow.tcp_mem_before),
                mib(slow.tcp_mem_with),
                slow.tcp_mem_per_reader()
                    .map(|b| format!("{} KiB", b / 1024)),
                slow.proxy_queued as f64 / 1_048_576.0,
                slow.proxy_queued_per_reader() / 1024
            );
        }
        Some(slow)
    } else {
        None
    };
    // Within the fixed buffers: 1 MiB per reader is the check's bound.
    let slow_ok = slow.is_none_or(|s| s.proxy_queued_per_reader() <= 1 << 20);
    Ok(if report.passed(RSS_SLACK_KIB) && slow_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
