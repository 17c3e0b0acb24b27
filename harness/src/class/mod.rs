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

pub mod html;
pub mod outputs;

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

pub use outputs::write_outputs;

/// The prefix of a scored section's JSON on a sandboxed grade's stderr.
pub const SECTION_PREFIX: &str = "harness-section: ";

/// The files a submission may have at most, and their bytes in all
/// (copied into the work directory; more is refused, with a note).
const MAX_FILES: usize = 2000;
const MAX_BYTES: u64 = 64 << 20;

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
        let size = (12_000 / of.max(1)).clamp(50, 400) as u16;
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
    let work_root = match &options.work {
        Some(work) => {
            std::fs::create_dir_all(work)?;
            WorkRoot::Kept(work.clone())
        }
        None => WorkRoot::Temporary(
            tempfile::Builder::new()
                .prefix("harness-class-")
                .tempdir()
                .context("creating a work directory")?,
        ),
    };
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
                results.push(done)
            }
            _ => queue.push_back((name.clone(), path.clone(), fingerprint)),
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
                let (queue, graded, work) = (&queue, &graded, &work);
                scope.spawn(move || -> Result<()> {
                    let worker = Worker::new(slot, workers, options)?;
                    loop {
                        if jobs.is_cancelled() {
                            return Ok(());
                        }
                        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some((name, path, fingerprint)) = next else {
                            return Ok(());
                        };
                        progress(Progress::Started(&name));
                        let result = grade_one(
                            &name,
                            &path,
                            &work.join(&name),
                            fingerprint,
                            options,
                            &worker,
                            jobs,
                        );
                        // Whatever the submission left behind dies now.
                        jobs.reap_strays();
                        let result = match result {
                            Ok(result) => result,
                            Err(e) => return Err(e.context(format!("grading {name}"))),
                        };
                        if let Err(e) = outputs::write_submission(&options.out.join(&name), &result)
                        {
                            return Err(e.context(format!("writing {name}'s grade")));
                        }
                        progress(Progress::Graded(&result));
                        if let Ok(mut graded) = graded.lock() {
                            graded.push(result);
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    jobs.cancel();
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    jobs.cancel();
                    failure.get_or_insert(anyhow::anyhow!("a worker panicked"));
                }
            }
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

/// The work directory: given (kept) or temporary (removed).
enum WorkRoot {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkRoot {
    fn path(&self) -> &Path {
        match self {
            WorkRoot::Kept(p) => p,
            WorkRoot::Temporary(t) => t.path(),
        }
    }
}

/// The settings that change a grade, for the fingerprint.
fn settings_of(options: &ClassOptions) -> String {
    format!(
        "tiny={:?} extras={} limits={:?} isolation={:?} timeout={}",
        options.tiny,
        options.extras,
        options.limits,
        options.isolation,
        options.timeout.as_secs()
    )
}

/// A submission's earlier result, if it has one that reads.
fn previous(out: &Path) -> Option<SubmissionResult> {
    let text = std::fs::read_to_string(out.join(outputs::RESULT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// FNV-1a over the settings and every file's path, size and modification
/// time: stable across runs and Rust versions.
fn fingerprint(dir: &Path, settings: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(settings.as_bytes());
    let mut files = Vec::new();
    list_files(dir, dir, &mut files);
    files.sort();
    for (path, size, mtime) in files {
        feed(path.as_bytes());
        feed(&size.to_le_bytes());
        feed(&mtime.to_le_bytes());
    }
    format!("{hash:016x}")
}

fn list_files(root: &Path, dir: &Path, into: &mut Vec<(String, u64, i128)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if meta.is_dir() {
            list_files(root, &entry.path(), into);
        } else if meta.is_file() {
            let relative = entry
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            into.push((relative, meta.len(), mtime));
        }
    }
}

/// Copies the regular files and directories of `from` into `to` (fresh),
/// skipping hidden ones, symlinks and anything else; refuses a submission over
/// [`MAX_FILES`] files or [`MAX_BYTES`] bytes. Returns what was skipped.
fn copy_submission(from: &Path, to: &Path) -> Result<Vec<String>> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    std::fs::create_dir_all(to)?;
    let mut skipped = Vec::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        for entry in std::fs::read_dir(&src)? {
            let entry = entry?;
            // .git and editors' files are no part of a submission (and a
            // repository's history can be large).
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let meta = entry.path().symlink_metadata()?;
            let target = dst.join(entry.file_name());
            if meta.is_dir() {
                std::fs::create_dir_all(&target)?;
                stack.push((entry.path(), target));
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
                if files > MAX_FILES || bytes > MAX_BYTES {
                    bail!(
                        "the submission is too big to grade: more than {MAX_FILES} files or {} MiB",
                        MAX_BYTES >> 20
                    );
                }
                std::fs::copy(entry.path(), &target)?;
                let mode = meta.permissions().mode() & 0o755 | 0o644;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
            } else {
                skipped.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    Ok(skipped)
}

/// Gives `dir` and everything in it to `user`, and makes it theirs to
/// write (the build writes there) and nobody else's to read (another
/// submission's user must not read this one's code).
fn give_to(dir: &Path, user: RunAs) -> Result<()> {
    let uid = Some(nix::unistd::Uid::from_raw(user.uid));
    let gid = Some(nix::unistd::Gid::from_raw(user.gid));
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        nix::unistd::chown(&path, uid, gid).with_context(|| format!("chown {}", path.display()))?;
        if path.symlink_metadata()?.is_dir() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// The `Makefile` of a work directory, if it has one (the names GNU make
/// looks for).
fn has_makefile(dir: &Path) -> bool {
    ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .any(|name| dir.join(name).is_file())
}

/// Flags that hand the sandbox's settings to a child harness.
fn sandbox_flags(isolation: Isolation, run_as: Option<RunAs>, limits: &Limits) -> Vec<String> {
    let mut flags = vec![
        "--isolation".to_string(),
        match isolation {
            Isolation::Full => "full",
            Isolation::Network => "network",
            Isolation::None => "none",
        }
        .to_string(),
        format!("--cpu-secs={}", limits.cpu_secs),
        format!("--memory-mib={}", limits.memory_mib),
        format!("--max-procs={}", limits.processes),
        format!("--max-files={}", limits.open_files),
        format!("--max-file-mib={}", limits.file_size_mib),
    ];
    if let Some(user) = run_as {
        flags.push(format!("--run-as={}:{}", user.uid, user.gid));
    }
    flags
}

/// How a build went.
struct Built {
    /// `./proxy`, when there is one to grade.
    proxy: Option<PathBuf>,
    /// The whole output (for `build.log`).
    log: String,
    /// Why there is no proxy, in a note's words.
    note: Option<String>,
}

/// Builds the work directory `work` (a copy of the submission).
fn build(work: &Path, options: &ClassOptions, worker: &Worker, jobs: &Jobs) -> Result<Built> {
    let proxy = work.join("proxy");
    if !has_makefile(work) {
        if proxy.is_file() {
            std::fs::set_permissions(&proxy, std::fs::Permissions::from_mode(0o755))?;
            return Ok(Built {
                proxy: Some(proxy),
                log: "no Makefile: grading the prebuilt ./proxy\n".into(),
                note: None,
            });
        }
        return Ok(Built {
            proxy: None,
            log: "no Makefile and no ./proxy: nothing to build or grade\n".into(),
            note: Some("no Makefile and no ./proxy: nothing to build or grade".into()),
        });
    }
    // Built from source, never from what was handed in: make would think
    // a prebuilt ./proxy newer than proxy.c is up to date.
    for entry in std::fs::read_dir(work)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "proxy" || name.ends_with(".o") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let mut cmd = Command::new(&options.harness);
    cmd.arg("sandbox-exec")
        .args(sandbox_flags(
            options.isolation,
            worker.run_as,
            &Limits::BUILD,
        ))
        .arg("--")
        .arg("make")
        .current_dir(work);
    die_with_parent(&mut cmd);
    let done = run_bounded_in(cmd, options.build_timeout, jobs)?;
    let mut log = String::from_utf8_lossy(&done.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&done.stderr);
    if !stderr.trim().is_empty() {
        log.push_str(&stderr);
    }
    let note = if done.interrupted {
        Some("interrupted while building".to_string())
    } else if done.timed_out {
        Some(format!(
            "did not build: make did not finish within {} s",
            options.build_timeout.as_secs()
        ))
    } else if !done.status.success() {
        Some(format!(
            "did not build: make failed ({}){}",
            crate::process::describe_exit(done.status),
            first_error(&log)
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))
    } else if !proxy.is_file() {
        Some("did not build: make succeeded but made no ./proxy".to_string())
    } else {
        None
    };
    log.push_str(&format!(
        "\n[make: {} in {:.1} s]\n",
        if done.timed_out {
            "time limit".to_string()
        } else {
            crate::process::describe_exit(done.status)
        },
        done.elapsed.as_secs_f64()
    ));
    Ok(Built {
        proxy: note.is_none().then_some(proxy),
        log,
        note,
    })
}

/// The compiler's first error line in a build log.
fn first_error(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("error"))
        .map(|l| l.trim().chars().take(200).collect())
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Builds and grades one submission (copied to `work`).
pub fn grade_one(
    name: &str,
    dir: &Path,
    work: &Path,
    fingerprint: String,
    options: &ClassOptions,
    worker: &Worker,
    jobs: &Jobs,
) -> Result<SubmissionResult> {
    let start = Instant::now();
    let mut notes = Vec::new();
    let built = match copy_submission(dir, work) {
        Err(e) => Built {
            proxy: None,
            log: format!("{e:#}\n"),
            note: Some(format!("{e:#}")),
        },
        Ok(skipped) => {
            if !skipped.is_empty() {
                notes.push(format!(
                    "not copied (symlinks and special files are not graded): {}",
                    skipped.join(", ")
                ));
            }
            if let Some(user) = worker.run_as {
                give_to(work, user)?;
            }
            build(work, options, worker, jobs)?
        }
    };
    let build_output = tail(&built.log, LOG_TAIL);
    let (report, complete) = match (&built.proxy, &built.note) {
        (Some(proxy), _) => grade_built(proxy, name, options, worker, jobs)?,
        (None, note) => {
            let why = note.clone().unwrap_or_else(|| "did not build".to_string());
            let report = Report::unfinished(
                name.to_string(),
                Vec::new(),
                &why,
                "fix the build: run `make` in your directory and read the first error (build.log has the whole output)",
                start.elapsed(),
            );
            (report, !why.starts_with("interrupted"))
        }
    };
    notes.extend(report.notes.iter().cloned());
    let failed_extras = report
        .failed_extras()
        .iter()
        .map(|s| s.title().to_string())
        .collect();
    let mut report = report;
    report.proxy = name.to_string();
    Ok(SubmissionResult {
        submission: name.to_string(),
        built: built.proxy.is_some(),
        basic: report.points(crate::checks::Section::Basic),
        concurrency: report.points(crate::checks::Section::Concurrency),
        cache: report.points(crate::checks::Section::Cache),
        total: report.total,
        failed_extras,
        seconds: start.elapsed().as_secs_f64(),
        notes,
        complete,
        fingerprint,
        build_output,
        build_log: built.log,
        report,
    })
}

/// Grades a built proxy in a sandboxed child harness; returns the report
/// and whether it is final.
fn grade_built(
    proxy: &Path,
    name: &str,
    options: &ClassOptions,
    worker: &Worker,
    jobs: &Jobs,
) -> Result<(Report, bool)> {
    let start = Instant::now();
    let mut cmd = Command::new(&options.harness);
    cmd.arg("grade")
        .arg("--proxy-bin")
        .arg(proxy)
        .arg("--format=json")
        .arg("--sandbox")
        .arg("--stream-sections")
        .args(sandbox_flags(
            options.isolation,
            worker.run_as,
            &options.limits,
        ))
        .arg(format!("--tiny={}", tiny_name(options.tiny)));
    if !options.extras {
        cmd.arg("--score-only");
    }
    if let Some((first, last)) = worker.ports {
        cmd.env(PORTS_ENV, format!("{first}-{last}"));
    }
    die_with_parent(&mut cmd);
    let done = run_bounded_in(cmd, options.timeout, jobs)?;
    Ok(read_grade(&done, name, options.timeout, start.elapsed()))
}

fn tiny_name(tiny: TinyVersion) -> &'static str {
    match tiny {
        TinyVersion::Book3e => "3e",
        TinyVersion::Handout2019 => "2019",
    }
}

/// What a child grade left: its report, or the sections it scored and its
/// notes when it was stopped.
fn read_grade(done: &Finished, name: &str, timeout: Duration, took: Duration) -> (Report, bool) {
    let stderr = String::from_utf8_lossy(&done.stderr);
    let mut notes: Vec<String> = Vec::new();
    let mut sections: Vec<SectionResult> = Vec::new();
    for line in stderr.lines() {
        if let Some(note) = line.strip_prefix(NOTE_PREFIX) {
            if !notes.iter().any(|n| n == note) {
                notes.push(note.to_string());
            }
        } else if let Some(json) = line.strip_prefix(SECTION_PREFIX)
            && let Ok(section) = serde_json::from_str::<SectionResult>(json)
        {
            sections.push(section);
        }
    }
    let parsed = serde_json::from_slice::<Report>(&done.stdout);
    // A grade that ended wrote its notes into its report; one that was
    // stopped said them on stderr as they came.
    let ended = parsed.is_ok() && !done.timed_out && !done.interrupted;
    let (mut report, complete) = match parsed {
        _ if done.interrupted => (
            Report::unfinished(
                name.to_string(),
                sections,
                "interrupted before the grade finished",
                "the grade was stopped by the instructor; it is graded again on the next run",
                took,
            ),
            false,
        ),
        _ if done.timed_out => (
            Report::unfinished(
                name.to_string(),
                sections,
                &format!(
                    "the grade did not finish within its time limit of {} s: the proxy hangs or never answers; the sections not finished by then score 0",
                    timeout.as_secs()
                ),
                "a request must be answered (or refused) within seconds: bound every read and write, and never wait forever on one client or server",
                took,
            ),
            true,
        ),
        Ok(report) => {
            let complete = report.harness_errors.is_empty();
            (report, complete)
        }
        Err(e) => {
            let mut report = Report::unfinished(
                name.to_string(),
                sections,
                "the harness failed to grade this submission",
                "not your proxy's fault: ask the staff to grade it again",
                took,
            );
            report.harness_errors.push(format!(
                "the grade ended ({}) without a report ({e}): {}",
                crate::process::describe_exit(done.status),
                tail(&stderr, 10)
            ));
            (report, false)
        }
    };
    if ended {
        return (report, complete);
    }
    for note in notes {
        if !report.notes.contains(&note) {
            report.notes.push(note);
        }
    }
    (report, complete)
}

/// The one submission in `dir` (the Gradescope layout: `dir` itself holds
/// `proxy.c` and the `Makefile`), built and graded as `harness class`
/// does.
pub fn grade_directory(
    dir: &Path,
    options: &ClassOptions,
    jobs: &Jobs,
) -> Result<SubmissionResult> {
    let work = match &options.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            WorkRoot::Kept(w.clone())
        }
        None => WorkRoot::Temporary(
            tempfile::Builder::new()
                .prefix("harness-grade-")
                .tempdir()
                .context("creating a work directory")?,
        ),
    };
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))?;
    // A user of its own even beside another grade on the same machine.
    let slot = 100_000 + std::process::id() as usize;
    let worker = Worker::new(slot, 1, options)?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "submission".to_string());
    let result = grade_one(
        &name,
        dir,
        &work.path().join("submission"),
        String::new(),
        options,
        &worker,
        jobs,
    );
    jobs.reap_strays();
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::checks::{Check, Section};

    fn section(section: Section, points: u32, max: u32) -> String {
        let result = SectionResult {
            section,
            points,
            max,
            checks: vec![Check::pass(section, "x")],
        };
        format!(
            "{SECTION_PREFIX}{}",
            serde_json::to_string(&result).expect("json")
        )
    }

    #[test]
    fn a_grade_stopped_by_its_time_limit_keeps_the_sections_it_finished() {
        let stderr = format!(
            "{}\n{}\n{NOTE_PREFIX}ran 600 processes\n",
            section(Section::Basic, 24, 40),
            section(Section::Concurrency, 15, 15)
        );
        let done = Finished {
            status: std::process::ExitStatus::from_raw(9),
            timed_out: true,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
            elapsed: Duration::from_secs(30),
            interrupted: false,
        };
        let (report, complete) = read_grade(&done, "s", Duration::from_secs(30), done.elapsed);
        assert!(complete, "a time limit is a final grade");
        assert_eq!(report.points(Section::Basic), 24);
        assert_eq!(report.points(Section::Concurrency), 15);
        assert_eq!(report.points(Section::Cache), 0);
        assert_eq!(report.total, 39);
        assert!(
            report.notes.iter().any(|n| n.contains("time limit")),
            "{:?}",
            report.notes
        );
        assert!(
            report.notes.iter().any(|n| n.contains("600 processes")),
            "{:?}",
            report.notes
        );
        let cache: Vec<&Check> = report
            .scored_checks
            .iter()
            .filter(|c| c.section == Section::Cache)
            .collect();
        assert_eq!(cache.len(), 1);
        assert!(!cache[0].passed);
    }

    #[test]
    fn an_interrupted_grade_is_not_final() {
        let done = Finished {
            status: std::process::ExitStatus::from_raw(9),
            timed_out: false,
            stdout: Vec::new(),
            stderr: section(Section::Basic, 40, 40).into_bytes(),
            elapsed: Duration::from_secs(3),
            interrupted: true,
        };
        let (report, complete) = read_grade(&done, "s", Duration::from_secs(30), done.elapsed);
        assert!(!complete);
        assert_eq!(report.total, 40);
    }
}
