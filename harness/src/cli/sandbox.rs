//! The sandbox's flags, shared by `harness class` and `harness grade
//! --sandbox`, and the two hidden subcommands a sandboxed harness starts:
//! `sandbox-exec` (a student's `make`, jailed in namespaces of its own)
//! and `sandbox-probe` (can this machine give namespaces at this level?).

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use harness::sandbox::{Isolation, Jail, Limits, RunAs};

/// How untrusted code is confined.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// How much of the host untrusted code is kept from: full (network,
    /// PID and mount namespaces), network, or none (limits only). Default:
    /// the strongest this machine allows.
    #[arg(long, value_enum)]
    pub isolation: Option<Isolation>,
    /// CPU seconds per process.
    #[arg(long, value_name = "SECS", default_value_t = Limits::PROXY.cpu_secs)]
    pub cpu_secs: u64,
    /// Memory per process, MiB (heap, mappings, thread stacks).
    #[arg(long, value_name = "MIB", default_value_t = Limits::PROXY.memory_mib)]
    pub memory_mib: u64,
    /// Processes and threads of one submission at once.
    #[arg(long, value_name = "N", default_value_t = Limits::PROXY.processes)]
    pub max_procs: u64,
    /// Open files per process.
    #[arg(long, value_name = "N", default_value_t = Limits::PROXY.open_files)]
    pub max_files: u64,
    /// Largest file a process may write, MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::PROXY.file_size_mib)]
    pub max_file_mib: u64,
    /// Run untrusted code as UID:GID (a root harness only; `harness class`
    /// gives each worker its own).
    #[arg(long, value_name = "UID:GID", hide = true)]
    pub run_as: Option<String>,
}

impl SandboxArgs {
    /// The limits the flags ask for.
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_secs: self.cpu_secs.max(1),
            memory_mib: self.memory_mib.max(16),
            processes: self.max_procs.max(1),
            open_files: self.max_files.max(16),
            file_size_mib: self.max_file_mib.max(1),
        }
    }

    /// `--run-as`, parsed.
    pub fn run_as(&self) -> Result<Option<RunAs>> {
        let Some(text) = &self.run_as else {
            return Ok(None);
        };
        let parsed = text
            .split_once(':')
            .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
        match parsed {
            Some((uid, gid)) if uid != 0 => Ok(Some(RunAs { uid, gid })),
            _ => bail!("--run-as wants UID:GID of a user other than root, not {text:?}"),
        }
    }

    /// The isolation to use: the one asked for, or the strongest this
    /// machine allows (saying once, on stderr, when that is none).
    pub fn isolation_or_probe(&self) -> Isolation {
        if let Some(level) = self.isolation {
            return level;
        }
        let Ok(me) = std::env::current_exe() else {
            return Isolation::None;
        };
        let (level, why) = harness::sandbox::probe(&me);
        if level == Isolation::None {
            eprintln!(
                "harness: namespaces are not available here ({}); untrusted code runs with resource limits, free ports and process groups only: it can reach this machine's loopback and the network",
                why.as_deref().unwrap_or("unknown reason").trim()
            );
        }
        level
    }
}

/// Flags of `harness sandbox-exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// Runs the program jailed, in the current directory, with its stderr
/// merged into its stdout (a build log reads in order); exits with its
/// status. The namespaces were entered by `main`.
pub fn exec(args: &ExecArgs) -> Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!("sandbox-exec needs a program to run");
    };
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .current_dir(std::env::current_dir()?)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit());
    let merged = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdout")?;
    cmd.stderr(Stdio::from(merged));
    Jail::new(args.sandbox.limits(), args.sandbox.run_as()?).apply(&mut cmd)?;
    let status = cmd
        .status()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    if let Some(signal) = status.signal() {
        println!(
            "[{} was {}]",
            program.to_string_lossy(),
            harness::process::describe_exit(status)
        );
        let signal = u8::try_from(signal).unwrap_or(u8::MAX);
        return Ok(ExitCode::from(128u8.saturating_add(signal)));
    }
    let code = status.code().unwrap_or(1).clamp(0, 255);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)))
}

/// Flags of `harness sandbox-probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The level to try.
    #[arg(long, value_enum)]
    pub isolation: Isolation,
}

/// Checks that the loopback works inside the namespaces `main` entered.
pub fn probe(_: &ProbeArgs) -> Result<ExitCode> {
    harness::sandbox::probe_inside()?;
    Ok(ExitCode::SUCCESS)
}
