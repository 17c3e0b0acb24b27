//! `harness bench`: measure the proxies side by side and print the
//! Markdown report (see [`crate::bench`]).

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use harness::lab::VARIANTS;
use harness::process::procfs::raise_nofile_limit;

use crate::bench::nginx;
use crate::bench::peers::{self, Tools};
use crate::bench::plan::{Options, Plan, Subject};
use crate::bench::report::{self, RunInfo};
use crate::bench::run::{self, Ctx};
use crate::bench::tls::{self, TlsPlan};

/// Flags of `harness bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The subjects the targets need (direct, nginx fwd, proxy-thread,
    /// proxy-async), 3 rounds of 2 s: about 2–3 minutes.
    #[arg(long)]
    pub quick: bool,
    /// Install missing tools first (runs scripts/install-bench-tools.sh,
    /// which uses apt-get).
    #[arg(long)]
    pub install: bool,
    /// Seconds of load per measurement (default 3, or 2 with --quick).
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<u64>,
    /// Rounds per cell (default 5, or 3 with --quick).
    #[arg(long, value_name = "N")]
    pub reps: Option<usize>,
    /// Measure only these subjects besides the direct fetch and nginx fwd
    /// (comma separated: nginx-1, tinyproxy, squid, seq, thread, async).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Also measure a proxy started by this shell command, with `{port}`
    /// where the port goes (repeatable), e.g. `--with './proxy {port}'`.
    /// `{nocache}` becomes `--no-cache` except in the cache cell, for
    /// another build of ours: `--with '/tmp/proxy-async {port} {nocache}'`.
    #[arg(long, value_name = "'CMD {port}'")]
    pub with: Vec<String>,
    /// Idle connections to open for the idle measure.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub idle: usize,
    /// Leave out the TLS cell (10 MiB over HTTPS through our variants'
    /// CONNECT tunnels).
    #[arg(long)]
    pub no_tls: bool,
}

/// Runs the benchmark and prints the report on stdout (progress on stderr).
pub fn run(args: &Args) -> Result<ExitCode> {
    if args.install {
        install()?;
    }
    let tools = Tools::find();
    let (Some(nginx_path), Some(_)) = (&tools.nginx, &tools.wrk) else {
        bail!(
            "missing {}: run `harness bench --install` or scripts/install-bench-tools.sh",
            tools.missing().join(", ")
        );
    };
    for name in tools.missing() {
        eprintln!("bench: {name} is not installed; its rows are left out (--install adds it)");
    }
    raise_nofile_limit();
    let started = Instant::now();
    let load_before = load_average();
    eprintln!("bench: building the proxies (load average {load_before})");
    for variant in VARIANTS {
        harness::bins::binary(variant.package())?;
    }
    let temp = tempfile::Builder::new().prefix("harness-bench").tempdir()?;
    let dir = temp.path().to_path_buf();
    peers::open_up(&dir, false)?;
    let root = dir.join("www");
    peers::write_site(&root)?;
    let origin = nginx::start_origin(nginx_path, &dir.join("nginx-origin"), &root)?;
    let options = Options {
        quick: args.quick,
        only: args.only.iter().map(|s| s.trim().to_lowercase()).collect(),
        reps: args.reps,
        seconds: args.seconds,
        // The plan's subjects are `Copy` and live for the whole run.
        with: args
            .with
            .iter()
            .map(|c| &*Box::leak(c.clone().into_boxed_str()))
            .collect(),
    };
    let plan = Plan::new(&options, |s| match s {
        Subject::Tinyproxy => tools.tinyproxy.is_some(),
        Subject::Squid => tools.squid.is_some(),
        Subject::Direct | Subject::Nginx(_) | Subject::Ours(_) | Subject::Command(_) => true,
    });
    let ctx = Ctx {
        tools: tools.clone(),
        dir,
        origin,
        idle_count: args.idle,
    };
    let results = run::execute(&ctx, &plan);
    let tls_plan = TlsPlan {
        reps: plan.reps,
        connections: 4,
        seconds: plan.duration.as_secs(),
    };
    let tls = (!args.no_tls).then(|| tls::measure(&tls_plan));
    let info = RunInfo {
        date: jiff::Timestamp::now().strftime("%Y-%m-%d").to_string(),
        machine: format!(
            "{} CPUs, {}",
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            cpu_model()
        ),
        load_before,
        load_after: load_average(),
        versions: versions(&tools),
        elapsed: started.elapsed(),
    };
    print!("{}", report::markdown(&results, &info));
    match tls {
        Some(Ok(rows)) => print!("{}", tls::markdown(&rows, &tls_plan)),
        Some(Err(e)) => println!("\nThe TLS cell could not run: {e:#}"),
        None => {}
    }
    drop(ctx);
    drop(temp);
    Ok(ExitCode::SUCCESS)
}

/// Runs scripts/install-bench-tools.sh.
fn install() -> Result<()> {
    let script = harness::bins::workspace_root().join("scripts/install-bench-tools.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

/// The programs' versions, for the notes.
fn versions(tools: &Tools) -> Vec<String> {
    let version = |p: &Option<std::path::PathBuf>, flag: &str| {
        p.as_deref()
            .map_or("not installed".into(), |p| peers::version(p, flag))
    };
    vec![
        version(&tools.wrk, "--version"),
        version(&tools.nginx, "-v"),
        version(&tools.tinyproxy, "-v"),
        version(&tools.squid, "-v"),
        format!("our proxies from commit {}", git_head()),
    ]
}

/// The commit the proxies were built from (`git describe`), for the notes.
fn git_head() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(harness::bins::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("?".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
}

/// /proc/loadavg's 1, 5 and 15 minute averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or("?".into(), |s| {
        s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
}

/// The CPU model from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
