//! `harness class DIR`: every submission of a class built and graded in
//! isolation, several at once, with the files instructors use.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use harness::class::{ClassOptions, Progress, grade_class, outputs, write_outputs};
use harness::process::{Jobs, become_subreaper};
use harness::sandbox::{DEFAULT_UID_BASE, Isolation};
use indicatif::{ProgressBar, ProgressStyle};
use tiny_origin::TinyVersion;

use super::sandbox::SandboxArgs;

/// Flags of `harness class`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The class: each subdirectory is one submission (proxy.c and a
    /// Makefile, or a prebuilt proxy).
    pub dir: PathBuf,
    /// Where grades.csv, grades.json, report.html and one directory per
    /// submission (build.log, feedback.txt, result.json) go.
    #[arg(long, value_name = "DIR", default_value = "grades")]
    pub out: PathBuf,
    /// Where submissions are copied and built (kept; by default a
    /// temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Submissions graded at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// The longest one submission's grade may take, seconds (the sections
    /// scored by then keep their points).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// The longest one build may take, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub build_timeout: u64,
    /// Grade again the submissions graded before (by default they are
    /// skipped while their files and the settings are unchanged).
    #[arg(long)]
    pub regrade: bool,
    /// Which tiny.c the 70 points are graded against: 3e or 2019.
    #[arg(long, value_name = "VERSION", default_value = "3e")]
    pub tiny: TinyVersion,
    /// Only the 70 points: skip the extras.
    #[arg(long)]
    pub score_only: bool,
    /// The handout's files (Makefile, csapp.c, csapp.h): each one a
    /// submission with C sources lacks is copied in before its build.
    #[arg(long, value_name = "DIR")]
    pub handout: Option<PathBuf>,
    /// The first of the uids submissions run as when run as root (one per
    /// worker; no account may use them).
    #[arg(long, value_name = "UID", default_value_t = DEFAULT_UID_BASE)]
    pub uid_base: u32,
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Grades the class and writes its files. Exit status: 0 when every
/// submission was graded, 3 when the harness failed on some, 130 when
/// interrupted.
pub fn run(args: &Args) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!("{} is not a directory", args.dir.display());
    }
    if which::which("make").is_err() {
        bail!(
            "`make` is not installed: the submissions are built with it (apt-get install make gcc)"
        );
    }
    // Whatever a submission's processes leave behind becomes ours, and we
    // kill it.
    become_subreaper()?;
    let jobs = Arc::new(Jobs::new());
    cancel_on_interrupt(&jobs)?;
    let options = class_options(args)?;
    eprintln!(
        "grading {} with {} at once; isolation: {}",
        args.dir.display(),
        options.jobs,
        options.isolation.describe()
    );
    if options.isolation == Isolation::None && options.jobs > 1 && !nix::unistd::geteuid().is_root()
    {
        eprintln!(
            "harness: without root or namespaces every submission runs as your user and shares its process limit: a fork bomb would keep the submissions graded beside it from starting threads; -j 1 grades one at a time"
        );
    }
    let total = harness::class::submissions(&args.dir, &[&args.out])?.len();
    let printer = Printer::new(total);
    let progress = |event: Progress<'_>| printer.show(event);
    let class = grade_class(&args.dir, &options, &jobs, &progress);
    printer.bar.finish_and_clear();
    let class = class?;
    write_outputs(&args.out, &class)?;
    println!(
        "{} submissions: {} graded now, {} graded before (skipped; --regrade grades them again){}",
        class.submissions.len(),
        class.graded,
        class.skipped,
        if class.interrupted {
            "; INTERRUPTED: run again to grade the rest"
        } else {
            ""
        }
    );
    println!(
        "wrote {}, {}, {} and one directory per submission in {}",
        outputs::CSV_FILE,
        outputs::JSON_FILE,
        outputs::HTML_FILE,
        args.out.display()
    );
    Ok(if class.interrupted {
        ExitCode::from(130)
    } else if class.submissions.iter().any(|s| !s.complete) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// On SIGINT or SIGTERM, cancels every build and grade of `jobs`.
fn cancel_on_interrupt(jobs: &Arc<Jobs>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let jobs = Arc::clone(jobs);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("interrupted: stopping every build and grade");
        jobs.cancel();
    });
    Ok(())
}

/// The class's options from the flags.
fn class_options(args: &Args) -> Result<ClassOptions> {
    Ok(ClassOptions {
        harness: std::env::current_exe().context("finding the harness executable")?,
        out: args.out.clone(),
        work: args.work.clone(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        timeout: Duration::from_secs(args.timeout.max(1)),
        build_timeout: Duration::from_secs(args.build_timeout.max(1)),
        limits: args.sandbox.limits(),
        isolation: args.sandbox.isolation_or_probe(),
        uid_base: args.uid_base,
        regrade: args.regrade,
        tiny: args.tiny,
        extras: !args.score_only,
        handout: handout(args.handout.as_deref())?,
    })
}

/// `--handout DIR`, checked and made absolute (the builds run elsewhere).
pub(super) fn handout(dir: Option<&std::path::Path>) -> Result<Option<PathBuf>> {
    dir.map(|d| {
        if !d.is_dir() {
            bail!("--handout {}: not a directory", d.display());
        }
        d.canonicalize()
            .with_context(|| format!("--handout {}", d.display()))
    })
    .transpose()
}

/// The progress bar, and a line per submission as it is graded.
struct Printer {
    bar: ProgressBar,
    /// The submissions being built or graded right now.
    running: std::sync::Mutex<Vec<String>>,
}

impl Printer {
    fn new(total: usize) -> Printer {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Printer {
            bar,
            running: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn show(&self, event: Progress<'_>) {
        let mut names = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (result, when) = match event {
            Progress::Started(name) => {
                names.push(name.to_string());
                self.bar.set_message(names.join(" "));
                return;
            }
            Progress::Skipped(result) => (result, "graded before"),
            Progress::Graded(result) => {
                names.retain(|n| *n != result.submission);
                (result, "")
            }
        };
        self.bar.inc(1);
        self.bar.set_message(names.join(" "));
        let line = format!(
            "{:<30} {:>2}/70  {:>5.1} s  {}",
            result.submission,
            result.total,
            result.seconds,
            if when.is_empty() {
                result.note()
            } else {
                format!("({when}) {}", result.note())
            }
        );
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}
