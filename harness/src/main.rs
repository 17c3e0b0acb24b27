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
    /// Build and grade every submission of a class in isolation, several at once.
    Class(cli::class::Args),
    /// Run the lecture's scenarios on the three variants side by side.
    Compare(cli::compare::Args),
    /// A bounded load test against one variant (20,000 requests, 64 clients by default),
    /// then 500 slow readers: RSS and kernel TCP memory.
    Load(cli::load::Args),
    /// Measure direct, nginx as a forward proxy, tinyproxy, squid and our three variants side by side.
    Bench(cli::bench::Args),
    /// Run a program (a student's make) jailed in namespaces of its own (used by `class`).
    #[command(hide = true)]
    SandboxExec(cli::sandbox::ExecArgs),
    /// Check that namespaces work at a level (used by `class`).
    #[command(hide = true)]
    SandboxProbe(cli::sandbox::ProbeArgs),
}

impl Command {
    /// The namespaces this command runs in, entered by `main` while the
    /// process still has one thread.
    fn isolation_to_enter(&self) -> Option<harness::sandbox::Isolation> {
        match self {
            Command::Grade(args) => args.isolation_to_enter(),
            Command::SandboxExec(args) => Some(args.sandbox.isolation_or_probe()),
            Command::SandboxProbe(args) => Some(args.isolation),
            _ => None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let entered = cli.command.isolation_to_enter();
    if let Some(level) = entered
        && let Err(e) = harness::sandbox::enter(level)
    {
        eprintln!("error: cannot isolate ({level:?}): {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Demo(args) => cli::demo::run(&args),
        Command::Grade(args) => cli::grade::run(&args, entered),
        Command::Class(args) => cli::class::run(&args),
        Command::SandboxExec(args) => cli::sandbox::exec(&args),
        Command::SandboxProbe(args) => cli::sandbox::probe(&args),
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn handout_goes_with_submission_only() {
        assert!(
            Cli::try_parse_from(["harness", "grade", "--submission", "s", "--handout", "h"])
                .is_ok()
        );
        for other in [["--proxy-bin", "./proxy"], ["--variant", "async"]] {
            let parsed =
                Cli::try_parse_from(["harness", "grade", other[0], other[1], "--handout", "h"]);
            assert!(parsed.is_err(), "--handout with {}", other[0]);
        }
    }
}
