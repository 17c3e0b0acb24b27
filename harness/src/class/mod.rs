//! Grading a whole class: every subdirectory of a directory is one
//! submission in the handout's layout (`proxy.c` and a `Makefile`, or a
//! prebuilt `proxy`), built and graded in isolation, several at once.
//!
//! For each submission, a worker
//!
//! 1. copies it into a work directory (regular files only: a symlink could
//!    point at the instructor's files), owned by the submission's user;
//! 2. builds it with `make` under a time limit and [`Limits::BUILD`], in
//!    the sandbox (`harness sandbox-exec`), keeping the output;
//! 3. grades `./proxy` exactly as `harness grade` does, in a child
//!    process that enters the namespaces itself (`harness grade
//!    --sandbox`): the in-process origins and the proxy share that
//!    namespace's loopback. The child reports each scored section as soon
//!    as it is done, so a grade stopped by the per-submission time limit
//!    keeps the points already earned;
//! 4. writes `build.log`, `feedback.txt` and `result.json` in the
//!    submission's output directory.
//!
//! Then [`write_outputs`] writes `grades.csv`, `grades.json` and
//! `report.html`. A submission already graded (same files, same
//! settings) is skipped unless told to regrade. The workers share one
//! [`Jobs`]: cancelling it (Ctrl-C) kills every build and grade, and the
//! supervisor, a child subreaper, kills whatever escaped.

mod build;
mod grade;
pub mod html;
pub mod outputs;
mod workdir;

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tiny_origin::TinyVersion;

use crate::grading::Report;
use crate::grading::driver::SectionResult;
use crate::grading::gradescope::BuildSummary;
use crate::process::{Finished, Jobs, PORTS_ENV, die_with_parent, run_bounded_in};
use crate::sandbox::{Isolation, Limits, NOTE_PREFIX, RunAs};

pub use grade::{grade_directory, grade_one};
pub use outputs::write_outputs;

use build::{Built, build, sandbox_flags, tail};
use workdir::{
    WorkRoot, copy_submission, fill_in_handout, fingerprint, give_to, previous, settings_of,
};

/// The prefix of a scored section's JSON on a sandboxed grade's stderr.
pub const SECTION_PREFIX: &str = "harness-section: ";

/// The lines of build output a note or a Gradescope test shows.
const LOG_TAIL: usize = 30;

/// How a class is graded.
#[derive(Debug, Clone)]
pub struct ClassOptions {
    /// The `harness` executable each build and grade runs in (the running
    /// one, for the command; tests name the built binary).
    pub harness: PathBuf,
    /// Where the grades go.
    pub out: PathBuf,
    /// Where submissions are copied and built. `None`: a temporary
    /// directory, removed at the end.
    pub work: Option<PathBuf>,
    /// Submissions graded at once.
    pub jobs: usize,
    /// The longest one submission's grade may take.
    pub timeout: Duration,
    /// The longest one build may take.
    pub build_timeout: Duration,
    /// The limits on each proxy process.
    pub limits: Limits,
    /// The isolation every build and grade gets.
    pub isolation: Isolation,
    /// The first uid submissions run as when the harness is root.
    pub uid_base: u32,
    /// Grade again what was graded already.
    pub regrade: bool,
    /// The `tiny.c` the 70 points are graded against.
    pub tiny: TinyVersion,
    /// Run the extras (they explain; they never score).
    pub extras: bool,
    /// The handout's files a student need not hand in (`Makefile`,
    /// `csapp.c`, `csapp.h`): each one a submission with C sources lacks
    /// is copied into its work directory before the build.
    pub handout: Option<PathBuf>,
}

/// One submission's outcome: a row of `grades.csv`, and everything
/// behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmissionResult {
    /// The submission's directory name.
    pub submission: String,
    /// `true` when there was a `./proxy` to grade.
    pub built: bool,
    /// Basic, out of 40.
    pub basic: u32,
    /// Concurrency, out of 15.
    pub concurrency: u32,
    /// Cache, out of 15.
    pub cache: u32,
    /// The three together, out of 70.
    pub total: u32,
    /// The extras that failed (titles).
    pub failed_extras: Vec<String>,
    /// Seconds the build and the grade took.
    pub seconds: f64,
    /// Why points were lost outside the checks, and what the sandbox saw.
    pub notes: Vec<String>,
    /// `false` when the grade is not final (interrupted, or the harness
    /// itself failed): a re-run grades it again.
    pub complete: bool,
    /// The submission's files and the settings it was graded with, to
    /// tell whether a re-run must grade it again.
    pub fingerprint: String,
    /// The end of the build's output.
    pub build_output: String,
    /// The whole build output (written to `build.log`, not to the JSON).
    #[serde(skip)]
    pub build_log: String,
    /// The whole grade.
    pub report: Report,
}

impl SubmissionResult {
    /// The notes as one cell of `grades.csv`.
    pub fn note(&self) -> String {
        self.notes.join("; ")
    }

    /// How the build went, for Gradescope.
    pub fn build_summary(&self) -> BuildSummary {
        BuildSummary {
            ok: self.built,
            output: self.build_output.clone(),
        }
    }
}

/// A whole class's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassResult {
    /// How every submission was isolated.
    pub isolation: Isolation,
    /// The limits on each proxy process.
    pub limits: Limits,
    /// Every submission, by name.
    pub submissions: Vec<SubmissionResult>,
    /// How many were graded in this run.
    pub graded: usize,
    /// How many were skipped (graded before).
    pub skipped: usize,
    /// `true` when the run was interrupted.
    pub interrupted: bool,
}

/// The submissions in `dir`: its subdirectories, by name (hidden ones
/// and `skip` excluded).
pub fn submissions(dir: &Path, skip: &[&Path]) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if skip
            .iter()
            .any(|s| s.canonicalize().ok().as_ref() == Some(&canonical))
        {
            continue;
        }
        found.push((name, path));
    }
    found.sort();
    Ok(found)
}

/// What one worker needs to grade a submission.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Its number (0, 1, …).
    pub slot: usize,
    /// The user its submissions run as (root only).
    pub run_as: Option<RunAs>,
    /// The ports its grades take, without a network namespace.
    pub ports: Option<(u16, u16)>,
}

impl Worker {
    /// Worker `slot` of `of`, under `options`.
    pub fn new(slot: usize, of: usize, options: &ClassOptions) -> Result<Worker> {
        let run_as = crate::sandbox::uid_for_slot(options.uid_base, slot)?;
        // Below the kernel's ephemeral ports (32768 and up by default).
        let size = u16::try_from(12_000 / of.max(1))
            .unwrap_or(u16::MAX)
            .clamp(50, 400);
        let first = u16::try_from(20_000 + slot * usize::from(size)).ok();
        let ports = match (options.isolation, first) {
            (Isolation::None, Some(first)) => Some((first, first.saturating_add(size - 1))),
            _ => None,
        };
        Ok(Worker {
            slot,
            run_as,
            ports,
        })
    }
}

/// What [`grade_class`] tells its caller as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A submission graded before, with the same files and settings.
    Skipped(&'a SubmissionResult),
    /// A submission's build and grade started.
    Started(&'a str),
    /// A submission was graded.
    Graded(&'a SubmissionResult),
}

/// A submission waiting for a worker.
struct Queued {
    name: String,
    path: PathBuf,
    fingerprint: String,
}

/// What the workers of one class share.
struct Shared<'a> {
    queue: &'a Mutex<VecDeque<Queued>>,
    graded: &'a Mutex<Vec<SubmissionResult>>,
    work: &'a Path,
    options: &'a ClassOptions,
    jobs: &'a Jobs,
    progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

/// One worker: takes submissions off the queue until it is empty or the
/// class is cancelled, grading each and writing its files.
fn work_through(slot: usize, workers: usize, shared: &Shared<'_>) -> Result<()> {
    let worker = Worker::new(slot, workers, shared.options)?;
    while !shared.jobs.is_cancelled() {
        let next = shared.queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some(Queued {
            name,
            path,
            fingerprint,
        }) = next
        else {
            break;
        };
        (shared.progress)(Progress::Started(&name));
        let result = grade_one(
            &name,
            &path,
            &shared.work.join(&name),
            fingerprint,
            shared.options,
            &worker,
            shared.jobs,
        );
        // Whatever the submission left behind dies now.
        shared.jobs.reap_strays();
        let result = result.with_context(|| format!("grading {name}"))?;
        outputs::write_submission(&shared.options.out.join(&name), &result)
            .with_context(|| format!("writing {name}'s grade"))?;
        (shared.progress)(Progress::Graded(&result));
        if let Ok(mut graded) = shared.graded.lock() {
            graded.push(result);
        }
    }
    Ok(())
}

/// Grades every submission of `dir` with `options`, `options.jobs` at
/// once, telling `progress` what happens; stops early when `jobs` is
/// cancelled. Writes each submission's files as it goes, but not the
/// class's (see [`write_outputs`]).
pub fn grade_class(
    dir: &Path,
    options: &ClassOptions,
    jobs: &Jobs,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<ClassResult> {
    let work_root = WorkRoot::new(options.work.as_deref())?;
    let work = work_root.path().to_path_buf();
    // The submissions' users must reach their directories.
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755))?;
    std::fs::create_dir_all(&options.out)?;
    let all = submissions(dir, &[&options.out, &work])?;
    let settings = settings_of(options);
    let mut results: Vec<SubmissionResult> = Vec::new();
    let mut queue = VecDeque::new();
    for (name, path) in &all {
        let fingerprint = fingerprint(path, &settings);
        match previous(&options.out.join(name)) {
            Some(done) if !options.regrade && done.complete && done.fingerprint == fingerprint => {
                progress(Progress::Skipped(&done));
                results.push(done);
            }
            _ => queue.push_back(Queued {
                name: name.clone(),
                path: path.clone(),
                fingerprint,
            }),
        }
    }
    let skipped = results.len();
    let queue = Mutex::new(queue);
    let graded = Mutex::new(Vec::new());
    let workers = options.jobs.max(1).min(all.len().max(1));
    let mut failure = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|slot| {
                let shared = Shared {
                    queue: &queue,
                    graded: &graded,
                    work: &work,
                    options,
                    jobs,
                    progress,
                };
                scope.spawn(move || work_through(slot, workers, &shared))
            })
            .collect();
        for handle in handles {
            let error = match handle.join() {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => anyhow::anyhow!("a worker panicked"),
            };
            jobs.cancel();
            failure.get_or_insert(error);
        }
    });
    jobs.reap_strays();
    if let Some(e) = failure {
        return Err(e);
    }
    let graded = graded.into_inner().unwrap_or_default();
    let count = graded.len();
    results.extend(graded);
    results.sort_by(|a, b| a.submission.cmp(&b.submission));
    Ok(ClassResult {
        isolation: options.isolation,
        limits: options.limits,
        submissions: results,
        graded: count,
        skipped,
        interrupted: jobs.is_cancelled(),
    })
}
