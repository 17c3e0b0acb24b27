//! `harness load`: the bounded load test against one variant.

use std::process::ExitCode;

use anyhow::{Result, bail};
use harness::load::{LoadOptions, run_load};
use harness::{Variant, start_origin, start_variant};

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
    let report = run_load(origin.addr, proxy.addr, proxy.pid(), &options);
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
    Ok(if report.passed(RSS_SLACK_KIB) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
