//! `harness grade`: the course driver's score for any proxy, and the
//! extras that explain what it does not check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use harness::grading::{GradeOptions, grade_with};
use harness::{ProxySpec, Variant};
use tiny_origin::TinyVersion;

/// Flags of `harness grade`.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    /// Only the 70 points: skip the extras (and the SPEC group).
    #[arg(long)]
    pub score_only: bool,
    /// Which tiny.c the 70 points are graded against: 3e (the book's,
    /// with Connection: close) or 2019 (the Proxy Lab handout's).
    #[arg(long, value_name = "VERSION", default_value = "3e")]
    pub tiny: TinyVersion,
    /// Print the report as JSON (for autograders).
    #[arg(long)]
    pub json: bool,
}

/// Grades and prints. Exit status: 0 on 70/70, 1 below, 3 when the
/// harness itself failed (the grade may be incomplete).
pub fn run(args: &Args) -> Result<ExitCode> {
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
    let mut options = GradeOptions::for_proxy(&spec);
    options.tiny = args.tiny;
    if args.score_only {
        options.extras = false;
        options.spec = false;
    }
    let report = grade_with(&spec, options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if !report.harness_errors.is_empty() {
        ExitCode::from(3)
    } else if report.full_score() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
