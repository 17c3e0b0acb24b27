//! `harness compare`: the three variants side by side for a lecture.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use harness::compare::{CompareOptions, compare, render_html, render_text};

/// Flags of `harness compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also write a self-contained HTML page with the table and a timeline
    /// chart per variant.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Clients fetching beside the stalled one.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 2)]
    pub seconds: u64,
    /// Longest seconds the busy CONNECT tunnel stays open (scenario e).
    #[arg(long, default_value_t = 2)]
    pub tunnel_seconds: u64,
}

/// Runs the scenarios and prints the table.
pub fn run(args: &Args) -> Result<ExitCode> {
    let options = CompareOptions {
        clients: args.clients.max(1),
        throughput_for: Duration::from_secs(args.seconds.max(1)),
        tunnel_for: Duration::from_secs(args.tunnel_seconds.max(1)),
    };
    eprintln!("running the lecture's scenarios on proxy-seq, proxy-thread and proxy-async...");
    let results = compare(&options)?;
    print!("{}", render_text(&results, &options));
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(&results, &options))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
