//! The `harness` command: the library's checks and lab setups as
//! subcommands for students, instructors and CI.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod cli;

/// Proxy Lab harness: run the demo, grade any proxy, compare the variants.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start tiny-origin and the three proxies, print curl lines, run until Ctrl-C.
    Demo(cli::demo::Args),
    /// Grade any proxy like the course's driver: Basic 40, Concurrency 15, Cache 15, plus extra sections.
    Grade(cli::grade::Args),
    /// Run the lecture's scenarios on the three variants side by side.
    Compare(cli::compare::Args),
    /// A bounded load test against one variant (20,000 requests, 64 clients by default),
    /// then 500 slow readers: RSS and kernel TCP memory.
    Load(cli::load::Args),
    /// Measure direct, nginx as a forward proxy, tinyproxy, squid and our three variants side by side.
    Bench(cli::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cli::demo::run(&args),
        Command::Grade(args) => cli::grade::run(&args),
        Command::Compare(args) => cli::compare::run(&args),
        Command::Load(args) => cli::load::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
