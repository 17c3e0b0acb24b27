//! `harness bench`: throughput and latency side by side (not written yet).

use std::process::ExitCode;

/// Flags of `harness bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs the benchmark.
pub fn run(_args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("harness bench is not implemented yet")
}
