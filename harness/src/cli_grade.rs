//! `harness grade`: the course driver's score for any proxy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use harness::grade::grade;
use harness::{ProxySpec, Variant};

/// Flags of `harness grade`.
#[derive(Debug, clap::Args)]
pub struct GradeArgs {
    /// A command that starts the proxy, with `{port}` where the port goes,
    /// e.g. `--proxy './proxy {port}'`.
    #[arg(long, value_name = "'CMD {port}'", conflicts_with_all = ["proxy_bin", "variant"])]
    pub proxy: Option<String>,
    /// A proxy binary, started as `PATH PORT` like the course's driver.sh.
    #[arg(long, value_name = "PATH", conflicts_with = "variant")]
    pub proxy_bin: Option<PathBuf>,
    /// One of this workspace's variants: seq, thread or async.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Print the report as JSON (for autograders).
    #[arg(long)]
    pub json: bool,
}

/// Grades and prints; exit status 0 only on a full 70/70.
pub fn run(args: &GradeArgs) -> Result<ExitCode> {
    let spec = match (&args.proxy, &args.proxy_bin, &args.variant) {
        (Some(cmd), _, _) => ProxySpec::Command(cmd.clone()),
        (_, Some(path), _) => {
            if !path.exists() {
                bail!("{} does not exist", path.display());
            }
            ProxySpec::Binary(path.canonicalize()?)
        }
        (_, _, Some(name)) => match Variant::from_name(name) {
            Some(v) => ProxySpec::Variant(v),
            None => bail!("unknown variant {name:?}: use seq, thread or async"),
        },
        _ => bail!(
            "say which proxy to grade: --proxy-bin ./proxy, --proxy './proxy {{port}}' or --variant async"
        ),
    };
    let report = grade(&spec)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.full_score() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
