//! `harness demo`: tiny-origin and the three variants on loopback, ready
//! for curl or a browser, until Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use harness::clients::http::{get_via_proxy, url};
use harness::lab::{start_origin, start_variant};
use harness::{Running, VARIANTS};

/// Flags of `harness demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fetch a page through each proxy, print the result and exit instead of
    /// waiting for Ctrl-C (what CI and the README's check run).
    #[arg(long)]
    pub once: bool,
    /// Stop by itself after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub seconds: u64,
}

/// Runs the demo.
pub fn run(args: &Args) -> Result<ExitCode> {
    let origin = start_origin(&[])?;
    let mut proxies: Vec<Running> = Vec::new();
    for variant in VARIANTS {
        proxies.push(start_variant(variant, &[])?);
    }
    let home = url(origin.addr, "/home.html");
    println!("tiny-origin   http://{}/home.html", origin.addr);
    for (variant, proxy) in VARIANTS.iter().zip(&proxies) {
        println!(
            "{:<13} curl -x http://{} {home}",
            variant.package(),
            proxy.addr
        );
    }
    println!();
    println!(
        "Browser: set the HTTP proxy to 127.0.0.1 and one of the ports above \
         (Chromium: --proxy-server=http://{} --proxy-bypass-list=\"<-loopback>\").",
        proxies[0].addr
    );
    let mut all_ok = true;
    for (variant, proxy) in VARIANTS.iter().zip(&proxies) {
        match get_via_proxy(proxy.addr, &home, Duration::from_secs(10)) {
            Ok(response) => println!(
                "{:<13} GET {home} -> {} ({} bytes of body)",
                variant.package(),
                response.status_line(),
                response.body().len()
            ),
            Err(e) => {
                all_ok = false;
                println!("{:<13} GET {home} failed: {e:#}", variant.package());
            }
        }
    }
    if args.once {
        return Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    println!("\nRunning. Ctrl-C stops everything.");
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let deadline = (args.seconds > 0).then(|| Instant::now() + Duration::from_secs(args.seconds));
    while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopping tiny-origin and the proxies");
    drop(proxies);
    drop(origin);
    Ok(ExitCode::SUCCESS)
}
