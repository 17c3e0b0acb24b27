//! `harness grade`: the course driver's score for any proxy, and the
//! extras that explain what it does not check.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use harness::class::{ClassOptions, SECTION_PREFIX, grade_directory};
use harness::grading::gradescope::{self, BuildSummary};
use harness::grading::{GradeOptions, Report, grade_reporting};
use harness::process::Jobs;
use harness::sandbox::{DEFAULT_UID_BASE, Isolation, Jail, Monitor, Whose};
use harness::{ProxySpec, Variant};
use tiny_origin::TinyVersion;

use super::sandbox::SandboxArgs;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a person: the score table, the extras, every failure with its hint.
    Text,
    /// The report as JSON (`scores`, `total`, `scored_checks`, `extra_checks`…).
    Json,
    /// Gradescope's autograder `results.json`.
    Gradescope,
}

/// Flags of `harness grade`.
#[derive(Debug, clap::Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line switch that clap fills in"
)]
pub struct Args {
    /// A command that starts the proxy, with `{port}` where the port goes,
    /// e.g. `--proxy './proxy {port}'`.
    #[arg(long, value_name = "'CMD {port}'", conflicts_with_all = ["proxy_bin", "variant", "submission"])]
    pub proxy: Option<String>,
    /// A proxy binary, started as `PATH PORT` like the course's driver.sh.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["variant", "submission"])]
    pub proxy_bin: Option<PathBuf>,
    /// One of this workspace's variants: seq, thread or async.
    #[arg(long, value_name = "NAME", conflicts_with = "submission")]
    pub variant: Option<String>,
    /// A submission's directory (proxy.c and a Makefile, or a prebuilt
    /// proxy): built with make and graded in the sandbox, as `harness
    /// class` grades each submission (what Gradescope's `run_autograder` uses).
    #[arg(long, value_name = "DIR")]
    pub submission: Option<PathBuf>,
    /// With --submission: the handout's files (Makefile, csapp.c,
    /// csapp.h), each one the submission lacks copied in before the build.
    #[arg(
        long,
        value_name = "DIR",
        requires = "submission",
        conflicts_with_all = ["proxy", "proxy_bin", "variant"]
    )]
    pub handout: Option<PathBuf>,
    /// Only the 70 points: skip the extras (and the SPEC group).
    #[arg(long)]
    pub score_only: bool,
    /// Which tiny.c the 70 points are graded against: 3e (the book's,
    /// with Connection: close) or 2019 (the Proxy Lab handout's).
    #[arg(long, value_name = "VERSION", default_value = "3e")]
    pub tiny: TinyVersion,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print the report as JSON (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also write the report as JSON to FILE (whatever --format prints).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Run the proxy as untrusted code: resource limits, an unprivileged
    /// user when run as root, and private namespaces where the kernel
    /// allows (always on with --submission).
    #[arg(long)]
    pub sandbox: bool,
    /// The sandbox.
    #[command(flatten)]
    pub limits: SandboxArgs,
    /// Print each scored section as JSON on stderr as soon as it is done
    /// (for `harness class`, which keeps them if the grade runs out of time).
    #[arg(long, hide = true)]
    pub stream_sections: bool,
    /// The longest the build and the grade of --submission may take, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

impl Args {
    /// The namespaces `main` must enter before anything else runs: the
    /// proxy is graded in this process, sandboxed.
    pub fn isolation_to_enter(&self) -> Option<Isolation> {
        (self.sandbox && self.submission.is_none()).then(|| self.limits.isolation_or_probe())
    }

    fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

/// Grades and prints. Exit status: 0 on 70/70, 1 below, 3 when the
/// harness itself failed (the grade may be incomplete).
pub fn run(args: &Args, entered: Option<Isolation>) -> Result<ExitCode> {
    let (report, build) = match &args.submission {
        Some(dir) => {
            let result = grade_submission(args, dir)?;
            let build = result.build_summary();
            (result.report, Some(build))
        }
        None => (grade_proxy(args, entered)?, None),
    };
    print(args, &report, build.as_ref())?;
    Ok(if !report.harness_errors.is_empty() {
        ExitCode::from(3)
    } else if report.full_score() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print(args: &Args, report: &Report, build: Option<&BuildSummary>) -> Result<()> {
    match args.format() {
        Format::Text => {
            if let Some(build) = build.filter(|b| !b.ok) {
                println!(
                    "The build failed. The end of make's output:\n{}\n",
                    build.output
                );
            }
            print!("{}", report.render());
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Format::Gradescope => println!(
            "{}",
            serde_json::to_string_pretty(&gradescope::results(report, build))?
        ),
    }
    if let Some(path) = &args.save {
        std::fs::write(path, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--submission DIR`: built and graded as one submission of a class.
fn grade_submission(
    args: &Args,
    dir: &std::path::Path,
) -> Result<harness::class::SubmissionResult> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let options = ClassOptions {
        harness: std::env::current_exe().context("finding the harness executable")?,
        out: std::env::temp_dir(),
        work: None,
        jobs: 1,
        timeout: Duration::from_secs(args.timeout.max(1)),
        build_timeout: Duration::from_mins(2),
        limits: args.limits.limits(),
        isolation: args.limits.isolation_or_probe(),
        uid_base: DEFAULT_UID_BASE,
        regrade: true,
        tiny: args.tiny,
        extras: !args.score_only,
        handout: super::class::handout(args.handout.as_deref())?,
    };
    harness::process::become_subreaper()?;
    grade_directory(dir, &options, &Jobs::new())
}

/// `--proxy-bin`, `--proxy` or `--variant`, sandboxed or not.
fn grade_proxy(args: &Args, entered: Option<Isolation>) -> Result<Report> {
    let mut spec = match (&args.proxy, &args.proxy_bin, &args.variant) {
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
            "say which proxy to grade: --proxy-bin ./proxy, --proxy './proxy {{port}}', --variant async or --submission DIR"
        ),
    };
    let mut options = GradeOptions::for_proxy(&spec);
    options.tiny = args.tiny;
    if args.score_only {
        options.extras = false;
        options.spec = false;
    }
    let mut monitor = None;
    if args.sandbox {
        let ProxySpec::Binary(path) = &spec else {
            bail!("--sandbox grades a binary: use --proxy-bin PATH");
        };
        let limits = args.limits.limits();
        let run_as = match args.limits.run_as()? {
            Some(user) => Some(user),
            // A uid of its own, unique on this host while this grade runs.
            None => harness::sandbox::uid_for_slot(
                DEFAULT_UID_BASE,
                100_000 + harness::sandbox::original_pid() as usize,
            )?,
        };
        let whose = match (run_as, entered) {
            (Some(user), _) => Whose::Uid(user.uid),
            (None, Some(Isolation::Full)) => Whose::AllButMe,
            _ => Whose::Descendants,
        };
        monitor = Some(Monitor::start(whose, limits));
        spec = ProxySpec::Jailed(path.clone(), Jail::new(limits, run_as));
    }
    let stream = args.stream_sections;
    let mut report = grade_reporting(&spec, options, &mut |section| {
        // For `harness class`: the points already earned survive a time limit.
        if stream && let Ok(json) = serde_json::to_string(section) {
            eprintln!("{SECTION_PREFIX}{json}");
        }
    });
    if let Some(monitor) = monitor {
        let (_, notes) = monitor.finish();
        report.notes.extend(notes);
    }
    Ok(report)
}
